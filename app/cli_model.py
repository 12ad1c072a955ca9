"""`idlens model`: install the library's CLIP model ahead of time, and show what is installed. Also the progress
bar every command shows when it has to install the model first."""
from __future__ import annotations

import sys

import click

from app.cli_common import JSON_SCHEMA, emit_json
from core.clip.install import FAITHFUL


class InstallProgress:
    """Two tqdm bars at most: the whole download in bytes (all its files), then the steps that follow (a
    conversion, the int8 towers), the bar's label saying which step runs."""

    def __init__(self):
        self.bar = None
        self.kind: str | None = None

    def __call__(self, what: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if what == "done":
            self.close()
            return
        downloading = what.startswith("downloading")
        kind = "download" if downloading else "steps"
        if kind != self.kind:
            self.close()
            self.kind = kind
            self.bar = tqdm(total=total or None, desc="downloading the CLIP model" if downloading else what,
                            unit="B" if downloading else "step", unit_scale=downloading,
                            unit_divisor=1024 if downloading else 1000, file=sys.stderr, disable=None,
                            dynamic_ncols=True)
        elif not downloading and self.bar is not None:
            self.bar.set_description_str(what)
        if self.bar is not None:
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.kind = None


def ensure_installed(lib) -> None:
    """Install the library's model first (with progress) when a command is about to need it."""
    embedder = lib.embedder
    if embedder.installed:
        return
    click.echo(f"installing the CLIP model {lib.model_spec} (once)…", err=True)
    progress = InstallProgress()
    try:
        embedder.load(progress=progress)
    finally:
        progress.close()


@click.group()
def model():
    """The CLIP model: install it ahead of time, or see what is installed."""


@model.command(help="Download (or convert) the library's model now, with progress, and make its int8 towers (each "
                    f"kept only where it stays within cosine {FAITHFUL} of fp32 on the calibration set).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def install(obj, as_json):
    lib = obj.creating_library
    ensure_installed(lib)
    _show(lib, as_json)


@model.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def info(obj, as_json):
    """The library's model: installed or not, where from, its int8 verdicts and files."""
    _show(obj.library, as_json)


def _show(lib, as_json: bool) -> None:
    from core.clip.install import installed

    package = installed(lib.model_spec, lib.embedder.models_dir)
    data = {"schema": JSON_SCHEMA, "model": lib.model_spec, "installed": package is not None}
    if package is not None:
        m = package.manifest()
        data.update(folder=str(package.folder), source=m.source, dim=m.dim, image_size=list(m.preprocess.size),
                    int8=m.int8, open_clip_cosine=m.open_clip_cosine,
                    size_mb=round(sum(f["size"] for f in m.files.values()) / 1e6, 1))
    if as_json:
        emit_json(data)
        return
    if package is None:
        click.echo(f"{lib.model_spec}: not installed (`idlens model install`, or the first index does it)")
        return
    click.echo(f"{lib.model_spec}: installed in {data['folder']} ({data['size_mb']} MB), from {data['source']}")
    for tower in ("visual", "textual"):
        v = data["int8"].get(tower) or {}
        state = (f"int8, cosine to fp32 {v['min_cosine']:.4f}" if v.get("faithful")
                 else f"fp32 (int8 cosine {v.get('min_cosine')})")
        click.echo(f"  {tower:8} {state}")
