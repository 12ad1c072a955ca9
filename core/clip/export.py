"""Export an open_clip model to Idlens's ONNX package (needs the `research` extra: torch and open_clip).

Used for models no one publishes ready-made (custom checkpoints, new architectures, the random-weight models of
tests and benchmarks). The exported towers are checked against open_clip on the same inputs before they are kept.
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .package import Manifest
from .preprocess import Preprocess
from .spec import ModelSpec, ModelUnavailable
from .tokenizer import build_from_merges_file

log = logging.getLogger(__name__)
# What a conversion does, in order: each is said to the user as it starts (core.clip.install counts them as steps).
EXPORT_STEPS = ("loading the model's weights", "converting the image model", "converting the text model",
                "checking the converted model")


def research_stack_available() -> bool:
    try:
        import open_clip  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _text_tower(model):
    """open_clip's encode_text as a module of its own (ONNX exports modules, not methods)."""
    import torch

    class TextTower(torch.nn.Module):
        def __init__(self, clip):
            super().__init__()
            self.clip = clip

        def forward(self, text):
            return self.clip.encode_text(text)

    return TextTower(model)


def export(spec: ModelSpec, models_dir: Path, folder: Path, threads: int = 0,
           step: Callable[[str], None] | None = None) -> tuple[Manifest, float]:
    """Write visual.onnx, textual.onnx and bpe.npz into `folder`; returns the manifest and the smallest cosine
    of the exported towers to open_clip on a few inputs (they must agree: same weights, same graph). `step(what)`
    is told as each of EXPORT_STEPS starts."""
    import torch
    from open_clip.tokenizer import SimpleTokenizer, default_bpe

    from .openclip import load_model

    say = iter(EXPORT_STEPS)
    tell = step or (lambda what: None)
    tell(next(say))
    model, cfg, tokenizer = load_model(spec, models_dir, threads)
    if not isinstance(tokenizer, SimpleTokenizer):
        raise ModelUnavailable(f"{spec}: its tokenizer ({type(tokenizer).__name__}) is not CLIP's BPE; Idlens runs "
                               "CLIP-BPE models for now")
    preprocess = Preprocess.from_json(cfg)
    h, w = preprocess.size
    folder.mkdir(parents=True, exist_ok=True)
    context = int(getattr(model, "context_length", 77) or 77)
    # Traced with autograd on: without it torch takes its fused attention fast path, which ONNX cannot express.
    # The exporter's warnings (tracer notes, the argmax pooling's indexing) are about cases CLIP does not have.
    with torch.enable_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tell(next(say))
        torch.onnx.export(model.visual.eval(), (torch.zeros(2, 3, h, w),), str(folder / "visual.onnx"),
                          input_names=["image"], output_names=["embedding"],
                          dynamic_axes={"image": {0: "batch"}, "embedding": {0: "batch"}}, opset_version=17,
                          dynamo=False)
        tell(next(say))
        torch.onnx.export(_text_tower(model).eval(), (torch.zeros(2, context, dtype=torch.int64),),
                          str(folder / "textual.onnx"), input_names=["text"], output_names=["embedding"],
                          dynamic_axes={"text": {0: "batch"}, "embedding": {0: "batch"}}, opset_version=17,
                          dynamo=False)
    build_from_merges_file(Path(default_bpe()), folder / "bpe.npz")
    with torch.inference_mode():
        dim = int(model.encode_text(torch.zeros(1, context, dtype=torch.int64)).shape[1])
    manifest = Manifest(spec=str(spec), dim=dim, preprocess=preprocess, context_length=context, source="export")
    tell(next(say))
    agreement = _agreement(model, tokenizer, folder, manifest)
    return manifest, agreement


def _agreement(model, tokenizer, folder: Path, manifest: Manifest) -> float:
    """Smallest cosine between open_clip's embeddings and the exported fp32 towers' on calibration inputs."""
    import torch

    from .calibration import images, queries
    from .runtime import normalise, open_session

    batch = np.stack([manifest.preprocess(im) for im in images()[:4]])
    texts = queries()[:8]
    with torch.inference_mode():
        ref_img = model.encode_image(torch.from_numpy(batch), normalize=True).numpy()
        ref_txt = model.encode_text(tokenizer(texts), normalize=True).numpy()
    visual, textual = open_session(folder / "visual.onnx", 0), open_session(folder / "textual.onnx", 0)
    ours_img = normalise(visual.run(None, {"image": batch})[0])
    ours_txt = normalise(textual.run(None, {"text": tokenizer(texts).numpy()})[0])
    return float(min((ref_img * ours_img).sum(1).min(), (ref_txt * ours_txt).sum(1).min()))
