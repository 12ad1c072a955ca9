"""One CLIP model as the rest of Idlens sees it: images and text in, unit vectors out.

The everyday paths (indexing, search, the app) run the model's ONNX towers on ONNX Runtime (core.clip.runtime) and
never import torch or open_clip. The model is installed once (core.clip.install: downloaded ready-made, or converted
from open_clip with the `research` extra). `torch_model` gives the open_clip module itself, for the research side
(Id-CLIP training, evaluation): only that imports torch.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .install import Progress, install, installed
from .preprocess import Preprocess
from .spec import RANDOM_WEIGHTS, TINY_TEST, ModelSpec, ModelUnavailable  # noqa: F401  (re-exported)

if TYPE_CHECKING:  # imported when the model is loaded: onnxruntime takes a while to import
    from .runtime import OnnxClip

log = logging.getLogger(__name__)


def weights_available(spec: str | ModelSpec, models_dir: Path) -> bool:
    """Whether the model is ready to run without a download (installed, or a random-weight test model that is
    converted locally)."""
    spec = spec if isinstance(spec, ModelSpec) else ModelSpec.parse(spec)
    return spec.is_test_model or installed(spec, models_dir) is not None


class ClipEmbedder:
    """Image and text towers of one CLIP model. Installed and loaded lazily, each tower on first use."""

    def __init__(self, spec: str | ModelSpec, models_dir: Path, threads: int = 0, int8: bool = True):
        self.spec = spec if isinstance(spec, ModelSpec) else ModelSpec.parse(spec)
        self.models_dir = Path(models_dir)
        self.threads = threads
        self.int8_allowed = int8
        self._runtime: OnnxClip | None = None
        self._torch = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return str(self.spec)

    @property
    def is_test_model(self) -> bool:
        return self.spec.is_test_model

    @property
    def installed(self) -> bool:
        return self._runtime is not None or installed(self.spec, self.models_dir) is not None

    def load(self, progress: Progress | None = None) -> None:
        """Install the model if it is not yet (download or conversion, with `progress`), then open it."""
        with self._lock:
            if self._runtime is not None:
                return
            from .runtime import OnnxClip

            package = install(self.spec, self.models_dir, progress, self.threads)
            self._runtime = OnnxClip(package, self.threads, int8=self.int8_allowed)

    @property
    def runtime(self):
        self.load()
        return self._runtime

    @property
    def dim(self) -> int:
        return self.runtime.dim

    @property
    def image_size(self) -> tuple[int, int]:
        """The (height, width) the image tower takes."""
        return self.runtime.preprocess.size

    @property
    def preprocessing(self) -> Preprocess:
        return self.runtime.preprocess

    @property
    def int8(self) -> dict:
        """The install's verdicts on the int8 towers: {"visual": {"faithful", "min_cosine"}, "textual": ...}."""
        return self.runtime.manifest.int8

    def preprocess(self, image) -> np.ndarray:
        """PIL image -> the image tower's input, float32 (3, h, w). Thread-safe: the decode workers run it."""
        return self.runtime.preprocess(image)

    def open_image_tower(self) -> None:
        """Open the image tower now, not at the first batch (an index opens it while its first photos decode)."""
        self.runtime.open_image_tower()

    def encode_images(self, inputs) -> np.ndarray:
        batch = inputs if isinstance(inputs, np.ndarray) else np.stack([np.asarray(x) for x in inputs])
        return self.runtime.encode_images(batch)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        return self.runtime.encode_texts(list(texts))

    def tokenize(self, texts: list[str]) -> np.ndarray:
        """Token ids as the text tower reads them (int64, one row of the context length per text)."""
        return self.runtime.tokenize(list(texts))

    # -- the research side -------------------------------------------------------------------------------------------
    @property
    def torch_model(self):
        """The open_clip module itself (Id-CLIP hooks and training, on a GPU too). Needs the `research` extra."""
        with self._lock:
            if self._torch is None:
                try:
                    from .openclip import load_model

                    self._torch = load_model(self.spec, self.models_dir, self.threads)[0]
                except ImportError as e:
                    raise ModelUnavailable("this needs torch and open_clip: pip install 'idlens[research]'") from e
            return self._torch

    @property
    def device(self):
        """Where the torch model's weights are (the CPU unless a trainer moved it to a GPU)."""
        return next(self.torch_model.parameters()).device
