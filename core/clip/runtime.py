"""CLIP's towers on ONNX Runtime: what indexing, search and the app run. No torch, no open_clip.

Each tower loads on first use (a search never loads the image tower, an index run loads the text tower only if it
is asked a query). Thread counts are explicit: the towers share the cores with the decode workers (Immich's lesson).
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np

from .package import Manifest, ModelPackage
from .tokenizer import ClipTokenizer

log = logging.getLogger(__name__)


def open_session(path, threads: int, cache: bool = False, fp32: bool = False, spin: bool = True):
    """An ONNX Runtime session on the CPU. With `cache`, the graph optimisations ONNX Runtime makes at every load are
    made once and kept beside the model, per ONNX Runtime version (measured: the int8 image tower of ViT-B-32-256
    opens in 0.18 s instead of 0.27 s, the text tower in 0.07 s instead of 0.16 s — what a cold search waits for).
    The kept graph is for this machine's CPU, like the whole models folder."""
    import onnxruntime as ort

    path = Path(path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or (os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # warnings about unused initialisers are not the user's business
    if not spin:
        # The image tower runs beside the decoders and the face threads: its idle threads spinning for the next
        # batch took the cores they need (a 10-minute video: 33-36 CPU-s indexed with spinning, 29-33 without,
        # bench/video in 3 alternating rounds). The text tower answers one query at a time and keeps spinning.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if fp32:
        # ONNX Runtime's prepacked copy of the weights cost ViT-B-32-256's fp32 image tower 215 MB for no speed
        # (25.7 against 26.7 images/s without it, batches of 16, 2 cores); int8 ones keep it (60 against 50
        # images/s, for 5 MB). bench/peers: the fp32 index peaked at 1089 MB with it.
        options.add_session_config_entry("session.disable_prepacking", "1")
        # Its memory pattern (one block planned for every activation of a batch) held 36 MB more after batches
        # of 16 (501 against 465 MB, two runs each) at the same speed (26-27 images/s either way); the fp32 text
        # tower answered a query as fast without it (24.5-24.7 against 25.5-28.5 ms p50).
        options.enable_mem_pattern = False
    providers = ["CPUExecutionProvider"]
    if not cache:
        return ort.InferenceSession(str(path), options, providers=providers)
    optimised = path.with_name(f"{path.stem}.optimised-ort{ort.__version__}.onnx")
    if optimised.is_file():
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            return ort.InferenceSession(str(optimised), options, providers=providers)
        except Exception as e:  # damaged or from another build: make it again
            log.info("dropping %s: %s", optimised.name, e)
            optimised.unlink(missing_ok=True)
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if os.access(path.parent, os.W_OK):
        # EXTENDED, not ALL: the layout changes of ALL cannot be saved; the saved graph then runs as fast (measured).
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(optimised.with_name(optimised.name + ".tmp"))
        session = ort.InferenceSession(str(path), options, providers=providers)
        try:
            os.replace(options.optimized_model_filepath, optimised)
        except OSError as e:
            log.info("optimised graph not kept: %s", e)
        return session
    return ort.InferenceSession(str(path), options, providers=providers)


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
        self._visual = self._textual = None  # ONNX Runtime sessions, opened at first use
        self._tokenizer: ClipTokenizer | None = None

    @property
    def dim(self) -> int:
        return self.manifest.dim

    @property
    def preprocess(self):
        return self.manifest.preprocess

    def tower_file(self, name: str):
        return self.package.tower(name, self.manifest) if self.int8 else self.package.folder / f"{name}.onnx"

    def _is_fp32(self, name: str) -> bool:
        return self.tower_file(name) == self.package.folder / f"{name}.onnx"

    def _visual_session(self):
        with self._lock:
            if self._visual is None:
                self._visual = open_session(self.tower_file("visual"), self.threads, cache=True,
                                            fp32=self._is_fp32("visual"), spin=False)
            return self._visual

    def _text_session(self):
        with self._lock:
            if self._textual is None:
                self._textual = open_session(self.tower_file("textual"), self.threads, cache=True,
                                             fp32=self._is_fp32("textual"))
                self._tokenizer = ClipTokenizer(self.package.folder / "bpe.npz", self.manifest.context_length)
            return self._textual, self._tokenizer

    def open_image_tower(self) -> None:
        """Open the image tower now (it otherwise opens at the first batch); thread-safe."""
        self._visual_session()

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
