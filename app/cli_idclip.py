"""`idlens idclip …`: train and evaluate the Id-CLIP translator, and use it in search."""
from __future__ import annotations

import inspect
import json
import logging
import os
import sys
import threading
from pathlib import Path

import click

from app.cli_common import ctrl_c_stops
from core.idclip.adapt import adapt as adapt_job
from core.idclip.evaluate import evaluate as evaluate_job
from core.idclip.train import train as train_job

log = logging.getLogger(__name__)


def _default(job, name: str):
    """The default of `job`'s parameter `name`: the command's default is the core job's own, never a copy."""
    return inspect.signature(job).parameters[name].default


@click.group()
def idclip():
    """Identity-aware CLIP: a face descriptor in the place of a [TOK] word of the query."""


def _dataset(path, lib):
    from core.idclip.data import load_dataset

    if not os.path.isdir(path):
        raise click.ClickException(f"no such folder: {path}")
    return load_dataset(Path(path), lib.face_backend)


@idclip.command(name="train")
@click.argument("dataset")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Checkpoint file; an existing one is resumed.")
@click.option("--epochs", type=click.IntRange(1), default=_default(train_job, "epochs"), show_default=True,
              help="Passes over the train split.")
@click.option("--batch", "batch_size", type=click.IntRange(2), default=_default(train_job, "batch_size"),
              show_default=True, help="Captions per training step.")
@click.option("--lr", type=float, default=_default(train_job, "lr"), show_default=True, help="AdamW's learning rate.")
@click.option("--hidden", type=click.IntRange(1), default=None,
              help="Hidden width of the translator (default: the width of CLIP's text tower).")
@click.option("--vpt", "vpt_tokens", type=click.IntRange(0), default=0, show_default=True,
              help="Learnable visual prompt tokens (shallow VPT).")
@click.option("--device", default="auto", show_default=True,
              help="cpu, cuda, or auto (cuda when torch finds a GPU, else cpu).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def train_cmd(obj, dataset, out, epochs, batch_size, lr, hidden, vpt_tokens, device, as_json):
    """Train the translator on DATASET (COCO Person FaceSwap layout, see README)."""
    from tqdm import tqdm

    from core.idclip.model import IdClip
    from core.idclip.train import train

    lib = obj.creating_library  # trains or sets up the library's model: a first step may be this
    data = _dataset(dataset, lib)
    model = IdClip.create(lib.embedder, lib.face_backend.dim, lib.face_backend.name, hidden, vpt_tokens)
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    cancel = threading.Event()
    bar, last = None, None
    with ctrl_c_stops(cancel):
        for p in train(model, data, Path(out), epochs, batch_size, lr, cancel=cancel):
            if bar is None:
                bar = tqdm(total=p.steps_per_epoch * epochs, initial=p.step - 1, unit="step", desc="training",
                           file=sys.stderr, disable=None)
            bar.update(1)
            bar.set_postfix(epoch=p.epoch, loss=f"{p.loss:.4f}", refresh=False)
            last = p
    if bar:
        bar.close()
    report = {"checkpoint": out, "epoch": last.epoch if last else None, "step": last.step if last else None,
              "loss": last.loss if last else None, "cancelled": cancel.is_set(), "model": lib.model_spec}
    if as_json:
        click.echo(json.dumps({"schema": 1, **report}, indent=2))
    else:
        click.echo(f"checkpoint {out}: epoch {report['epoch']}, step {report['step']}, loss {report['loss']}")
    if report["cancelled"]:
        click.get_current_context().exit(130)  # Ctrl-C: saved, and said so by the exit status


@idclip.command(name="eval")
@click.argument("dataset")
@click.option("--checkpoint", type=click.Path(dir_okay=False, exists=True),
              help="A trained translator (without one: plain CLIP and CLIP with names only).")
@click.option("--split", default=_default(evaluate_job, "split"), show_default=True,
              help="Which captions to evaluate on (their split in captions.jsonl: train, val or test).")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.pass_obj
def eval_cmd(obj, dataset, checkpoint, split, as_json):
    """The paper's metrics: text->image R@1/5/10/50 and identity kmin-R@k / AP@10, for plain CLIP, CLIP with
    names, Id-CLIP and Id-CLIP fused with face matching."""
    from core.idclip.evaluate import evaluate
    from core.registry import idclip_translator

    lib = obj.creating_library  # trains or sets up the library's model: a first step may be this
    data = _dataset(dataset, lib)
    model = idclip_translator(Path(checkpoint), lib.embedder, lib.face_backend.name) if checkpoint else None
    result = evaluate(model, lib.embedder, data, split, lib.face_backend)
    result["model"] = lib.model_spec
    result["random_weights"] = lib.embedder.is_test_model
    if as_json:
        click.echo(json.dumps({"schema": 1, **result}, indent=2))
        return
    click.echo(print_metrics(result))


def print_metrics(result: dict) -> str:
    lines = [f"{result['samples']} test captions, {result['identities']} identities, model {result['model']}"
             + ("  (RANDOM WEIGHTS: these numbers say nothing about quality)" if result.get("random_weights") else "")]
    lines.append(f"{'text->image':14} {'R@1':>7} {'R@5':>7} {'R@10':>7} {'R@50':>7}")
    for name in ("clip", "clip_names", "idclip", "fusion"):
        if name in result:
            r = result[name]
            lines.append(f"{name:14} {r['R@1']:7.2f} {r['R@5']:7.2f} {r['R@10']:7.2f} {r['R@50']:7.2f}")
    lines.append(f"{'identity':14} {'kR@1':>7} {'kR@5':>7} {'kR@10':>7} {'AP@10':>7}")
    for name, r in result["identity"].items():
        lines.append(f"{name:14} {r['kmin-R@1']:7.2f} {r['kmin-R@5']:7.2f} {r['kmin-R@10']:7.2f} {r['AP@10']:7.2f}")
    return "\n".join(lines)


@idclip.command()
@click.argument("checkpoint", required=False, type=click.Path(dir_okay=False))
@click.option("--off", is_flag=True, help="Stop using Id-CLIP in search.")
@click.pass_obj
def use(obj, checkpoint, off):
    """Use a trained translator in search (queries that name people get an Id-CLIP score too)."""
    from core.registry import idclip_translator

    lib = obj.creating_library  # trains or sets up the library's model: a first step may be this
    if off:
        lib.settings.idclip_checkpoint = None
    else:
        if not checkpoint or not os.path.isfile(checkpoint):
            raise click.UsageError("give a checkpoint file, or --off")
        # Refuses one trained for another CLIP model or another face recogniser.
        idclip_translator(Path(checkpoint), lib.embedder, lib.face_backend.name)
        lib.settings.idclip_checkpoint = os.path.abspath(checkpoint)
    lib.save_settings()
    click.echo("Id-CLIP " + ("off" if off else f"on: {lib.settings.idclip_checkpoint}"))


@idclip.command()
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Checkpoint file.")
@click.option("--epochs", type=click.IntRange(1), default=_default(adapt_job, "epochs"), show_default=True,
              help="Passes over your people's training photos.")
@click.option("--lr", type=float, default=_default(adapt_job, "lr"), show_default=True, help="AdamW's learning rate.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def adapt(obj, out, epochs, lr, as_json):
    """Train Id-CLIP on your own named people and report, on a held-out part of their photos, whether it helped."""
    from tqdm import tqdm

    from core.idclip.adapt import adapt as run_adapt

    lib = obj.creating_library  # trains or sets up the library's model: a first step may be this
    cancel = threading.Event()
    report: dict = {}
    bar = None
    with ctrl_c_stops(cancel):
        for p in run_adapt(lib, Path(out), epochs, lr, cancel, report):
            if bar is None:
                bar = tqdm(total=p.steps_per_epoch * epochs, unit="step", desc="adapting", file=sys.stderr,
                           disable=None)
            bar.update(1)
    if bar:
        bar.close()
    if as_json:
        click.echo(json.dumps({"schema": 1, "random_weights": lib.embedder.is_test_model, **report}, indent=2))
    elif report.get("cancelled"):
        click.echo("stopped before the end: the checkpoint holds what was trained, but a half-trained translator "
                   "says nothing about whether adaptation helps (run it again to finish)", err=True)
    if report.get("cancelled"):
        click.get_current_context().exit(130)
    if as_json:
        return
    click.echo(f"{report['people']} people, {report['train']} photos to train on, {report['test']} held out")
    for key in ("clip", "before", "after"):
        r = report[key]
        click.echo(f"{key:7} kmin-R@1 {r['kmin-R@1']:6.2f}  kmin-R@5 {r['kmin-R@5']:6.2f}  AP@10 {r['AP@10']:6.2f}")
    click.echo("improved on held-out photos" if report["improved"] else "did not improve on held-out photos")
