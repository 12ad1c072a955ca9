"""CLIP through open_clip: which model, where its weights come from, and turning images and text into vectors.

A model is named by a spec string:
  "ViT-B-32:datacomp_xl_s13b_b90k"   open_clip architecture + pretrained tag (downloaded once, cached)
  "ViT-B-32:/path/to/weights.pt"      architecture + a local checkpoint
  "tiny-test"                          a tiny CLIP with fixed random weights: real code paths, useless for search
  "ViT-B-32:random"                    a real architecture with fixed random weights: for benchmarks, useless too
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TINY_TEST = "tiny-test"
# open_clip configs of our own (the tiny test architecture), registered beside open_clip's.
MODEL_CONFIGS = Path(__file__).with_name("model_configs")
log = logging.getLogger(__name__)
TINY_TEST_SEED = 1234  # every process builds the same random weights, so its vectors agree across runs
RANDOM_WEIGHTS = "random"


class ModelUnavailable(Exception):
    """The model cannot be loaded; the message tells the user what to do."""


@dataclass(frozen=True)
class ModelSpec:
    architecture: str
    pretrained: str | None  # tag, local path, or None for tiny-test

    @classmethod
    def parse(cls, text: str) -> "ModelSpec":
        text = text.strip()
        if text == TINY_TEST:
            return cls(TINY_TEST, None)
        arch, _, pretrained = text.partition(":")
        if not arch:
            raise ModelUnavailable(f"model {text!r}: expected NAME:PRETRAINED, e.g. ViT-B-32:datacomp_xl_s13b_b90k")
        return cls(arch, pretrained or None)

    def __str__(self) -> str:
        return self.architecture if self.pretrained is None else f"{self.architecture}:{self.pretrained}"

    @property
    def is_test_model(self) -> bool:
        """Random weights: the code paths are real, the search results are not."""
        return self.architecture == TINY_TEST or self.pretrained == RANDOM_WEIGHTS

    @property
    def local_checkpoint(self) -> Path | None:
        if self.pretrained and (os.sep in self.pretrained or self.pretrained.endswith((".pt", ".bin", ".safetensors"))):
            return Path(self.pretrained).expanduser()
        return None


def _open_clip():
    import open_clip

    if TINY_TEST not in open_clip.list_models():
        open_clip.add_model_config(MODEL_CONFIGS)
    return open_clip


def resolve_weights(spec: ModelSpec, models_dir: Path) -> str:
    """Path of the weights file for `spec`, downloading it (with a progress bar) on first use."""
    open_clip = _open_clip()

    local = spec.local_checkpoint
    if local is not None:
        if not local.is_file():
            raise ModelUnavailable(f"checkpoint {local} does not exist")
        return str(local)
    if spec.architecture not in open_clip.list_models():
        raise ModelUnavailable(f"unknown model architecture {spec.architecture!r} (see open_clip.list_models())")
    tag = spec.pretrained or _default_tag(spec.architecture)
    cfg = open_clip.get_pretrained_cfg(spec.architecture, tag)
    if not cfg:
        tags = ", ".join(t for a, t in open_clip.list_pretrained() if a == spec.architecture)
        raise ModelUnavailable(f"{spec.architecture} has no pretrained weights {tag!r}; known: {tags}")
    cached = _cached_file(cfg, models_dir)
    if cached:
        return cached
    host = _download_host(cfg)
    if not _reachable(host):
        raise ModelUnavailable(
            f"The CLIP weights for {spec} are not downloaded yet and {host} cannot be reached (offline?). "
            f"Connect to the internet once so Idlens can download them into {models_dir}, or point to a local "
            f"file with --model {spec.architecture}:/path/to/checkpoint."
        )
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)
    try:
        return open_clip.download_pretrained(cfg, cache_dir=str(models_dir))
    except Exception as e:  # network errors come in many types from several libraries
        raise ModelUnavailable(f"downloading the CLIP weights for {spec} failed: {e}") from e


def weights_available(spec: str | ModelSpec, models_dir: Path) -> bool:
    """Whether the model can load without a download (asks no server)."""
    spec = spec if isinstance(spec, ModelSpec) else ModelSpec.parse(spec)
    if spec.is_test_model:
        return True
    if spec.local_checkpoint is not None:
        return spec.local_checkpoint.is_file()
    try:
        open_clip = _open_clip()
        cfg = open_clip.get_pretrained_cfg(spec.architecture, spec.pretrained or _default_tag(spec.architecture))
    except ModelUnavailable:
        return False
    return bool(cfg) and _cached_file(cfg, Path(models_dir)) is not None


def _default_tag(architecture: str) -> str:
    import open_clip

    tags = [t for a, t in open_clip.list_pretrained() if a == architecture]
    if not tags:
        raise ModelUnavailable(f"{architecture} has no published pretrained weights; give a checkpoint path")
    return tags[0]


def _cached_file(cfg: dict, models_dir: Path) -> str | None:
    """The weights, if an earlier run downloaded them; asks no server."""
    hub = cfg.get("hf_hub")
    if hub:
        from huggingface_hub import try_to_load_from_cache

        repo, filename = os.path.split(hub.rstrip("/")) if not hub.endswith("/") else (hub.rstrip("/"), "")
        names = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        for name in names:
            found = try_to_load_from_cache(repo, name, cache_dir=str(models_dir))
            if isinstance(found, str) and os.path.isfile(found):
                return found
        return None
    url = cfg.get("url")
    if url:
        path = models_dir / os.path.basename(url)
        return str(path) if path.is_file() else None
    return None


def _download_host(cfg: dict) -> str:
    if cfg.get("hf_hub"):
        return os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("//")[-1].split("/")[0]
    return cfg.get("url", "").split("//")[-1].split("/")[0]


def _reachable(host: str, timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


class ClipEmbedder:
    """Image and text towers of one CLIP model. Loaded lazily, each tower on first use, then kept warm."""

    def __init__(self, spec: str | ModelSpec, models_dir: Path, threads: int = 0):
        self.spec = spec if isinstance(spec, ModelSpec) else ModelSpec.parse(spec)
        self.models_dir = Path(models_dir)
        self.threads = threads
        self._model = None
        self._preprocess = None
        self._tokenizer = None
        self._lock = threading.Lock()
        self.fast_images = None  # an accelerate.OnnxImageEncoder once it proved faithful

    @property
    def name(self) -> str:
        return str(self.spec)

    @property
    def is_test_model(self) -> bool:
        return self.spec.is_test_model

    def load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            import torch

            open_clip = _open_clip()
            if self.threads:
                torch.set_num_threads(self.threads)
            if self.spec.pretrained in (None, RANDOM_WEIGHTS) and self.spec.is_test_model:
                if self.spec.architecture not in open_clip.list_models():
                    raise ModelUnavailable(f"unknown model architecture {self.spec.architecture!r}")
                logging.disable(logging.WARNING)  # open_clip warns that no weights were loaded: that is the point
                try:
                    with torch.random.fork_rng():
                        torch.manual_seed(TINY_TEST_SEED)
                        model, _, preprocess = open_clip.create_model_and_transforms(self.spec.architecture)
                finally:
                    logging.disable(logging.NOTSET)
            else:
                weights = resolve_weights(self.spec, self.models_dir)
                try:
                    model, _, preprocess = open_clip.create_model_and_transforms(
                        self.spec.architecture, pretrained=weights, device="cpu")
                except Exception as e:
                    raise ModelUnavailable(f"cannot load {self.spec} from {weights}: {e}") from e
            tokenizer = open_clip.get_tokenizer(self.spec.architecture)
            model.eval()
            self._model, self._preprocess, self._tokenizer = model, preprocess, tokenizer

    @property
    def dim(self) -> int:
        self.load()
        return int(self._model.text_projection.shape[1] if hasattr(self._model, "text_projection")
                   and self._model.text_projection is not None else self._model.visual.output_dim)

    @property
    def torch_model(self):
        """The open_clip module itself, for the research side (Id-CLIP hooks, ONNX export, training on a GPU)."""
        self.load()
        return self._model

    @property
    def image_size(self) -> tuple[int, int]:
        """The (height, width) the image tower takes."""
        size = self.torch_model.visual.image_size
        return tuple(size) if isinstance(size, (tuple, list)) else (size, size)

    def tokenize(self, texts: list[str]):
        """Token ids (a torch tensor, one row per text) as the text tower reads them."""
        self.load()
        return self._tokenizer(texts)

    def preprocess(self, image):
        """PIL image -> the model's input tensor. Thread-safe, so decode workers can run it."""
        self.load()
        return self._preprocess(image)

    def encode_images(self, tensors) -> np.ndarray:
        import torch

        self.load()
        batch = tensors if isinstance(tensors, torch.Tensor) else torch.stack(list(tensors))
        if self.fast_images is not None:
            return self.fast_images(batch.numpy())
        return self.encode_images_fp32(batch)

    def encode_images_fp32(self, batch) -> np.ndarray:
        import torch

        self.load()
        with torch.inference_mode():
            out = self._model.encode_image(batch.to(self.device), normalize=True)
        return out.float().cpu().numpy()

    def accelerate(self, cache: Path, sample_batch) -> float:
        """Switch the image tower to ONNX Runtime int8 if it is faithful on `sample_batch` (real inputs of this
        run); returns the smallest cosine to fp32. Below accelerate.FAITHFUL it stays on torch."""
        from . import accelerate

        encoder = accelerate.build(self, cache, self.threads)
        cosine = accelerate.faithfulness(self, encoder, sample_batch)
        self.fast_images = encoder if cosine >= accelerate.FAITHFUL else None
        return cosine

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        import torch

        self.load()
        with torch.inference_mode():
            out = self._model.encode_text(self.tokenize(texts).to(self.device), normalize=True)
        return out.float().cpu().numpy()

    @property
    def device(self):
        """Where the model's weights are (the CPU unless a trainer moved it to a GPU)."""
        self.load()
        return next(self._model.parameters()).device
