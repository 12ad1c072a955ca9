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
VERSION = 1  # bump when the variants or what is recorded per face change
DETAIL = 1024  # Settings.face_detail
# Labelled under two names: faces-more's angelina_jolie is faces-dev's person00 (same person by eye; SFace 0.63-0.76
# to each of person00's eight photos, where different people reach 0.46).
SAME_PERSON = {"more:angelina_jolie": "dev:person00"}
PHOTO_VARIANTS = ("clean", "size40", "size60", "size80", "size120", "jpeg30", "jpeg50", "jpeg70", "size60_jpeg40",
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


def analyse_source(src: Source, extra=None) -> tuple[list[Sample], dict]:
    """Every variant of one photo: its followed faces as Samples, and how many were lost per variant."""
    from core.faces.detection import pil_to_bgr
    from core.registry import face_backend

    backend = face_backend()
    detail = _decode_detail(src.path)
    bgr = pil_to_bgr(detail)
    clean = _clean_faces(src, backend.analyse(bgr))
    samples, lost = [], Counter()
    if not clean:
        lost["no face in the clean photo"] += 1
        return samples, dict(lost)
    size = float(np.median([f.size for f in clean]))
    for variant in (GROUP_VARIANTS if src.group else PHOTO_VARIANTS):
        made = variant_image(detail, variant, size)
        if made is None:
            continue
        img, m = made
        vbgr = pil_to_bgr(img)
        found = backend.analyse(vbgr)
        for c, f in zip(clean, _match(found, [_map_box(m, c.box) for c in clean])):
            if f is None:
                lost[variant] += 1
                continue
            s = _sample(src, variant, f, False, c.size, None if not src.group else f"stranger:{src.key}")
            if extra:
                s.extra = {name: fn(vbgr, f) for name, fn in extra.items()}
            samples.append(s)
    return samples, dict(lost)


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
    the GIF's frames (one person nobody labelled)."""
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
                                "stranger:gif")
                    if extra:
                        s.extra = {k: fn(vbgr, f) for k, fn in extra.items()}
                    out.append(s)
    return out


# -- the whole set, cached ----------------------------------------------------------------------------------------
def _cached(key: str, make, use_cache: bool):
    path = CACHE / f"{key}.pkl"
    if use_cache and path.is_file():
        try:
            with open(path, "rb") as fh:
                return pickle.load(fh)
        except Exception:  # a damaged cache entry is made again
            pass
    value = make()
    if use_cache:
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(value, fh)
        os.replace(tmp, path)
    return value


def build(more: Path, dev: Path, use_cache: bool = True, extra: dict | None = None, workers: int = 2) -> dict:
    """The calibration set: {"samples": [Sample], "lost": {variant: faces not found}, "sources": n}.
    `extra`: {name: fn(bgr, face) -> vector} second-opinion recognisers, run on the same pictures and faces."""
    srcs = sources(more, dev)
    tag = _model_tag() + (tuple(sorted(extra)) if extra else ())
    hashes = {s.key: _digest(s.path.read_bytes()) for s in srcs}
    samples: list[Sample] = []
    lost: Counter = Counter()

    def one(src):
        key = _digest("photo", tag, src.key, hashes[src.key], src.identity, src.group, PHOTO_VARIANTS,
                      GROUP_VARIANTS)
        return _cached(key, lambda: analyse_source(src, extra), use_cache)

    with ThreadPoolExecutor(workers) as pool:
        for s, l in pool.map(one, srcs):
            samples += s
            lost.update(l)
        all_hashes = [(s.key, hashes[s.key], s.identity, s.group) for s in srcs]

        def video(name):
            key = _digest("video", tag, name, VIDEOS[name], VIDEO_FPS, VIDEO_FRAMES, VIDEO_PICK, all_hashes)
            return _cached(key, lambda: analyse_video(name, srcs, extra), use_cache)

        for s, l in pool.map(video, list(VIDEOS)):
            samples += s
            lost.update(l)
    clip_key = _digest("clips", tag, [_digest(p.read_bytes()) for p in sorted((more / "videos").glob("*"))]
                       if (more / "videos").is_dir() else [])
    samples += _cached(clip_key, lambda: analyse_clips(more, extra), use_cache)
    # An identity with a single photo cannot be named from a photo of theirs: its faces are strangers' too.
    photos = defaultdict(set)
    for s in samples:
        photos[s.identity].add(s.source)
    return {"samples": samples, "lost": dict(lost), "sources": len(srcs),
            "photos_per_identity": {k: len(v) for k, v in photos.items() if k and not k.startswith("stranger:")}}
