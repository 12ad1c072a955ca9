"""CLIP's towers on ONNX Runtime: what indexing, search and the app run. No torch, no open_clip.

Each tower loads on first use (a search never loads the image tower, an index run loads the text tower only if it
is asked a query). Thread counts are explicit: the towers share the cores with the decode workers (Immich's lesson).
"""
from __future__ import annotations

import logging
import os
import threading

import numpy as np

from .package import Manifest, ModelPackage
from .tokenizer import ClipTokenizer

log = logging.getLogger(__name__)


def open_session(path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or (os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # warnings about unused initialisers are not the user's business
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class OnnxClip:
    def __init__(self, package: ModelPackage, threads: int = 0, int8: bool = True):
        self.package = package
        self.manifest: Manifest = package.manifest()
        self.threads = threads
        self.int8 = int8  # run the int8 towers the install found faithful (else fp32)
        self._lock = threading.Lock()
        self._visual = self._textual = self._tokenizer = None

    @property
    def dim(self) -> int:
        return self.manifest.dim

    @property
    def preprocess(self):
        return self.manifest.preprocess

    def tower_file(self, name: str):
        return self.package.tower(name, self.manifest) if self.int8 else self.package.folder / f"{name}.onnx"

    def _visual_session(self):
        with self._lock:
            if self._visual is None:
                self._visual = open_session(self.tower_file("visual"), self.threads)
            return self._visual

    def _text_session(self):
        with self._lock:
            if self._textual is None:
                self._textual = open_session(self.tower_file("textual"), self.threads)
                self._tokenizer = ClipTokenizer(self.package.folder / "bpe.npz", self.manifest.context_length)
            return self._textual, self._tokenizer

    def encode_images(self, batch: np.ndarray) -> np.ndarray:
        """(n, 3, h, w) float32 model inputs -> (n, dim) unit vectors."""
        session = self._visual_session()
        feed = session.get_inputs()[0]
        batch = np.ascontiguousarray(batch, dtype=np.float16 if feed.type == "tensor(float16)" else np.float32)
        return normalise(session.run(None, {feed.name: batch})[0])

    def tokenize(self, texts: list[str]) -> np.ndarray:
        return self._text_session()[1](texts)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        session, tokenizer = self._text_session()
        feed = session.get_inputs()[0]
        ids = tokenizer(texts)
        if feed.type == "tensor(int32)":  # Immich's exports take int32 ids
            ids = ids.astype(np.int32)
        return normalise(session.run(None, {feed.name: ids})[0])
