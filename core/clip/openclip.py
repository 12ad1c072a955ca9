"""open_clip, for the research side and for installing models: loading a model with its weights (downloaded with a
progress bar on first use, cached in the models folder), or with fixed random weights for tests and benchmarks.
Imports torch and open_clip; the everyday paths never import this module (they run core.clip.runtime)."""
from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from .spec import MODEL_CONFIGS, RANDOM_WEIGHTS, TINY_TEST, TINY_TEST_SEED, ModelSpec, ModelUnavailable

log = logging.getLogger(__name__)


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


def weights_cached(spec: str | ModelSpec, models_dir: Path) -> bool:
    """Whether open_clip's weights for `spec` are on disk (asks no server)."""
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


def load_model(spec: ModelSpec, models_dir: Path, threads: int = 0):
    """(open_clip model in eval mode, its preprocess config, its tokenizer)."""
    import torch

    open_clip = _open_clip()
    if threads:
        torch.set_num_threads(threads)
    if spec.pretrained in (None, RANDOM_WEIGHTS):  # tiny-test, ARCH:random: fixed random weights
        if spec.architecture not in open_clip.list_models():
            raise ModelUnavailable(f"unknown model architecture {spec.architecture!r}")
        logging.disable(logging.WARNING)  # open_clip warns that no weights were loaded: that is the point
        try:
            with torch.random.fork_rng():
                torch.manual_seed(TINY_TEST_SEED)
                model = open_clip.create_model(spec.architecture)
        finally:
            logging.disable(logging.NOTSET)
    else:
        weights = resolve_weights(spec, models_dir)
        try:
            model = open_clip.create_model(spec.architecture, pretrained=weights, device="cpu")
        except Exception as e:
            raise ModelUnavailable(f"cannot load {spec} from {weights}: {e}") from e
    model.eval()
    return model, open_clip.get_model_preprocess_cfg(model), open_clip.get_tokenizer(spec.architecture)
