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

from core.clip.embedder import ClipEmbedder, ModelSpec, ModelUnavailable

log = logging.getLogger(__name__)

DEFAULT_FACE_BACKEND = "yunet-sface"


def _opencv_faces():
    from core.faces.detection import OpenCVFaces

    return OpenCVFaces()


# name -> factory. A stronger recogniser (an ArcFace ONNX file) joins here; each face row records its backend.
FACE_BACKENDS: dict[str, Callable[[], object]] = {DEFAULT_FACE_BACKEND: _opencv_faces}

_lock = threading.Lock()
_faces: dict[str, object] = {}
_clip: dict[tuple[str, str, bool], ClipEmbedder] = {}  # (spec, models folder, int8) -> its one embedder


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


def clip_model(spec: str | ModelSpec, models_dir: Path, threads: int = 0, int8: bool = True) -> ClipEmbedder:
    """The CLIP model of this spec ("ViT-B-32-256:datacomp_s34b_b86k", "tiny-test", ...), one per process and
    models folder. It is installed and loaded on first use (ClipEmbedder.load), not here. `int8`: run the int8
    towers where the install found them faithful."""
    spec = spec if isinstance(spec, ModelSpec) else ModelSpec.parse(spec)
    key = (str(spec), str(Path(models_dir)), int8)
    with _lock:
        if key not in _clip:
            _clip[key] = ClipEmbedder(spec, Path(models_dir), threads=threads, int8=int8)
        return _clip[key]


def idclip_translator(checkpoint: Path, embedder: ClipEmbedder, face_backend_name: str):
    """A trained Id-CLIP translator for this CLIP model and face recogniser (refused for any other). It runs the
    text tower in torch with the face token injected, so it needs the `research` extra."""
    try:
        from core.idclip.model import IdClip

        return IdClip.load(Path(checkpoint), embedder, face_backend_name)
    except ImportError as e:
        raise ModelUnavailable("an Id-CLIP translator needs torch: pip install 'idlens[research]'") from e
