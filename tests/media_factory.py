"""Generated test media: photos with distinct structure per seed, and videos made of distinct scenes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def picture(seed: int, size=(320, 240)) -> Image.Image:
    """A picture unlike those of other seeds: background colour, shapes and stripes all come from the seed."""
    rng = np.random.default_rng(seed)
    w, h = size
    img = Image.new("RGB", size, tuple(int(x) for x in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, w - 40)), int(rng.integers(0, h - 40))
        x1, y1 = x0 + int(rng.integers(20, w // 2)), y0 + int(rng.integers(20, h // 2))
        colour = tuple(int(x) for x in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        else:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
    step = int(rng.integers(8, 40))
    for x in range(0, w, step * 2):
        draw.line([x, 0, x, h], fill=tuple(int(v) for v in rng.integers(0, 256, 3)), width=2)
    return img


def photo(path: Path, seed: int, size=(320, 240), **save_args) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture(seed, size).save(path, **save_args)
    return path


def _encode(path: Path, frames, fps: int, size, gop: int | None = None, rotation: int = 0) -> Path:
    """Write RGB frames (numpy arrays or PIL images) as an H.264 MP4/MKV; the one encoder every test video uses."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if gop:
            stream.codec_context.gop_size = gop
        if rotation:  # how phones store portrait video: landscape pixels plus a display rotation
            stream.set_display_rotation(rotation)
        for frame in frames:
            vf = av.VideoFrame.from_image(frame) if isinstance(frame, Image.Image) else \
                av.VideoFrame.from_ndarray(frame, format="rgb24")
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def video(path: Path, scenes: list[int], scene_seconds: float = 3.0, fps: int = 10, size=(320, 240),
          gop: int | None = None, rotation: int = 0) -> Path:
    """An H.264 MP4 whose scene i shows picture(scenes[i]) (with a little motion) for `scene_seconds`."""
    def frames():
        for seed in scenes:
            base = np.asarray(picture(seed, size))
            for i in range(int(scene_seconds * fps)):
                yield np.roll(base, i, axis=1)  # slow pan: frames differ, the scene stays the same
    return _encode(path, frames(), fps, size, gop, rotation)


def audio_only(path: Path, seconds: float = 1.0) -> Path:
    """An MP4 holding only an AAC audio track: a 'video' file without a video stream."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = 44100
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate)
        samples = (np.sin(np.linspace(0, 440 * 2 * np.pi * seconds, int(rate * seconds))) * 0.3).astype(np.float32)
        for start in range(0, len(samples), 1024):
            chunk = samples[start:start + 1024].reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def video_of_photos(path: Path, photos: list, seconds_each: float = 2.0, fps: int = 10, size=(640, 360)) -> Path:
    """A slideshow video: each photo, letterboxed into the frame, shown for `seconds_each` seconds."""
    def frames():
        for photo in photos:
            img = photo.convert("RGB") if isinstance(photo, Image.Image) else Image.open(photo).convert("RGB")
            img.thumbnail(size)
            canvas = Image.new("RGB", size, (20, 20, 20))
            canvas.paste(img, ((size[0] - img.width) // 2, (size[1] - img.height) // 2))
            for _ in range(int(seconds_each * fps)):
                yield canvas
    return _encode(path, frames(), fps, size)

FACES = Path(__file__).parent / "data" / "faces"
SCENES = [("red", (200, 40, 40)), ("blue", (40, 60, 200)), ("green", (40, 160, 60)), ("yellow", (230, 210, 40)),
          ("purple", (130, 50, 160)), ("orange", (240, 140, 30))]


def idclip_dataset(root: Path, identities: dict[str, list[str]] | None = None, names: dict[str, str] | None = None,
                   face_size: int = 180) -> Path:
    """A small dataset in the COCO Person FaceSwap layout: each identity's face photo composited into scenes of
    every colour, captions with [TOK] where the person is, face photos per identity, and their names."""
    import json

    identities = identities or {"id_a": ["person_a_1.jpg", "person_a_2.jpg"], "id_b": ["person_b_1.jpg", "person_b_2.jpg"],
                                "id_c": ["impostor_1.jpg"], "id_d": ["impostor_2.jpg"]}
    names = names or {"id_a": "Emmanuel", "id_b": "Jacinda", "id_c": "Barack", "id_d": "Rishi"}
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for identity, photos in identities.items():
        (root / "identities" / identity).mkdir(parents=True, exist_ok=True)
        for k, photo in enumerate(photos):
            Image.open(FACES / photo).convert("RGB").save(root / "identities" / identity / f"{k}.jpg")
        for j, (colour, rgb) in enumerate(SCENES):
            canvas = Image.new("RGB", (480, 360), rgb)
            face = Image.open(FACES / photos[j % len(photos)]).convert("RGB")
            face.thumbnail((face_size, face_size + 40))
            canvas.paste(face, (60 + 40 * (j % 3), 60))
            name = f"{identity}_{colour}.jpg"
            canvas.save(root / "images" / name, quality=90)
            rows.append({"image": f"images/{name}", "caption": f"[TOK] standing in front of a {colour} wall",
                         "identity": identity, "split": "test" if j >= 4 else "train"})
    (root / "captions.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (root / "names.json").write_text(json.dumps(names))
    return root
