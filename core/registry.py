"""Every model Idlens runs, by name: CLIP models, face backends and Id-CLIP translators (Immich's model registry is
the example). Each is loaded lazily, once per process, and shared by the threads and libraries that ask for it —
a CLIP model is hundreds of megabytes and seconds to load; a face backend keeps per-thread OpenCV objects.

Callers use the objects' public interfaces only: `ClipEmbedder` (encode, preprocess, tokenize, torch_model),
`FaceBackend` (name, dim, analyse), `IdClip` (encode_text, encode_images).
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from core.clip.embedder import ClipEmbedder, ModelSpec

log = logging.getLogger(__name__)

DEFAULT_FACE_BACKEND = "yunet-sface"


def _opencv_faces():
    from core.faces.detection import OpenCVFaces

    return OpenCVFaces()


# name -> factory. A stronger recogniser (an ArcFace ONNX file) joins here; each face row records its backend.
FACE_BACKENDS: dict[str, Callable[[], object]] = {DEFAULT_FACE_BACKEND: _opencv_faces}

_lock = threading.Lock()
_faces: dict[str, object] = {}
_clip: dict[tuple[str, str], ClipEmbedder] = {}


class UnknownModel(Exception):
    pass


def face_backend(name: str = DEFAULT_FACE_BACKEND):
    """The face backend of this name (detector + recogniser), one per process."""
    with _lock:
        if name not in _faces:
            if name not in FACE_BACKENDS:
                raise UnknownModel(f"no face backend {name!r}; known: {', '.join(FACE_BACKENDS)}")
            log.debug("loading face backend %s", name)
            _faces[name] = FACE_BACKENDS[name]()
        return _faces[name]


def clip_model(spec: str | ModelSpec, models_dir: Path, threads: int = 0) -> ClipEmbedder:
    """The CLIP model of this spec ("ViT-B-32:datacomp_xl_s13b_b90k", "tiny-test", ...), one per process and
    models folder. Its weights load on first use (ClipEmbedder.load), not here."""
    spec = spec if isinstance(spec, ModelSpec) else ModelSpec.parse(spec)
    key = (str(spec), str(Path(models_dir)))
    with _lock:
        if key not in _clip:
            _clip[key] = ClipEmbedder(spec, Path(models_dir), threads=threads)
        return _clip[key]


def idclip_translator(checkpoint: Path, embedder: ClipEmbedder, face_backend_name: str):
    """A trained Id-CLIP translator for this CLIP model and face recogniser (refused for any other)."""
    from core.idclip.model import IdClip

    return IdClip.load(Path(checkpoint), embedder, face_backend_name)
