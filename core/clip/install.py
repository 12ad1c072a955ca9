"""Installing a CLIP model, once: the ONNX towers downloaded ready-made where a published export exists
(core.clip.hub), else exported here from open_clip (needs the `research` extra); then each tower quantised to int8
and kept only if it stays within cosine FAITHFUL of fp32 on the calibration set. The verdicts go into the manifest,
so later runs just load the files.
"""
from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .export import EXPORT_STEPS
from .package import Manifest, ModelPackage, folder_for
from .spec import ModelSpec, ModelUnavailable

log = logging.getLogger(__name__)

FAITHFUL = 0.99
Progress = Callable[[str, int, int], None]   # (what, done, total): bytes while downloading, steps otherwise
QUANTISE_STEPS = ("making a faster copy of the image model", "making a faster copy of the text model")


def installed(spec: ModelSpec | str, models_dir: Path) -> ModelPackage | None:
    package = ModelPackage(folder_for(models_dir, str(spec)))
    return package if package.installed else None


def install(spec: ModelSpec, models_dir: Path, progress: Progress | None = None, threads: int = 0) -> ModelPackage:
    """The installed package for `spec`, installing it first if needed (minutes for a download or an export)."""
    from . import hub
    from .export import export, research_stack_available

    package = ModelPackage(folder_for(models_dir, str(spec)))
    if package.installed:
        return package
    progress = progress or (lambda what, done, total: None)
    work = package.folder.with_name(package.folder.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    source = hub.published(spec)
    # Steps after the bytes of a download, or all of a conversion: each is said as it starts ("step 2 of 6").
    steps = list(QUANTISE_STEPS) if source is not None else [*EXPORT_STEPS, *QUANTISE_STEPS]
    counter = iter(range(len(steps)))

    def step(what: str) -> None:
        progress(what, next(counter), len(steps))

    try:
        if source is not None:
            manifest = hub.download(source, spec, work, progress)
        elif research_stack_available():
            manifest, agreement = export(spec, models_dir, work, threads, step)
            log.info("%s exported; cosine to open_clip %.5f", spec, agreement)
            manifest.open_clip_cosine = round(agreement, 6)
        else:
            known = ", ".join(hub.PUBLISHED)
            raise ModelUnavailable(
                f"{spec} has no published ONNX export; converting it needs the research tools "
                f"(pip install 'idlens[research]'), or choose a published model: {known}")
        for tower, what in zip(("visual", "textual"), QUANTISE_STEPS):
            step(what)
            manifest.int8[tower] = quantise(work, tower, manifest)
        ModelPackage(work).write_manifest(manifest)
        if package.folder.exists():
            shutil.rmtree(package.folder)
        work.rename(package.folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    progress("done", len(steps), len(steps))
    return package


def quantise(folder: Path, tower: str, manifest: Manifest) -> dict:
    """Write `<tower>-int8.onnx` and judge it on the calibration set; an unfaithful copy is deleted."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from .calibration import images, queries
    from .runtime import normalise, open_session

    fp32, int8 = folder / f"{tower}.onnx", folder / f"{tower}-int8.onnx"
    started = time.perf_counter()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser's advice ("consider pre-processing") goes to the root logger
    try:
        quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    except Exception as e:  # an operator the quantiser does not know: fp32 it is
        log.info("no int8 %s tower: %s", tower, e)
        int8.unlink(missing_ok=True)
        return {"file": int8.name, "faithful": False, "min_cosine": None, "error": str(e)}
    finally:
        root.setLevel(level)
    a, b = open_session(fp32, 0), open_session(int8, 0)
    if tower == "visual":
        batch = np.stack([manifest.preprocess(im) for im in images()])
        feed_a, feed_b = {a.get_inputs()[0].name: batch}, {b.get_inputs()[0].name: batch}
    else:
        from .tokenizer import ClipTokenizer

        ids = ClipTokenizer(folder / "bpe.npz", manifest.context_length)(queries())
        if a.get_inputs()[0].type == "tensor(int32)":
            ids = ids.astype(np.int32)
        feed_a, feed_b = {a.get_inputs()[0].name: ids}, {b.get_inputs()[0].name: ids}
    cosine = float((normalise(a.run(None, feed_a)[0]) * normalise(b.run(None, feed_b)[0])).sum(1).min())
    faithful = cosine >= FAITHFUL
    if not faithful:
        int8.unlink()
    log.info("int8 %s tower: min cosine %.5f (%s) in %.1fs", tower, cosine, "kept" if faithful else "dropped",
             time.perf_counter() - started)
    return {"file": int8.name, "faithful": faithful, "min_cosine": round(cosine, 6)}
