"""`idlens metadata`: the library's names for other apps, as face regions in XMP sidecars (core.faces.sidecars)."""
from __future__ import annotations

from pathlib import Path

import click

from app.cli_common import JSON_SCHEMA, Context, emit_json, say
from core.wording import plural

WORDS = {"written": "wrote", "updated": "updated", "unchanged": "unchanged", "skipped": "skipped"}
WOULD = {"written": "would write", "updated": "would update", "unchanged": "unchanged", "skipped": "would skip"}


@click.group()
def metadata():
    """Names in other apps: write the library's names into XMP sidecars (digiKam, Lightroom read them)."""


@metadata.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--sidecar", "style", type=click.Choice(["digikam", "lightroom"]), default=None,
              help="digikam: photo.jpg.xmp; lightroom: photo.xmp. Default: the sidecar a photo already has, else "
                   "a digiKam one.")
@click.option("--include-automatic", is_flag=True,
              help="Also the faces Idlens put with a named person on its own; without it, only the faces you "
                   "confirmed (named, moved or accepted).")
@click.option("--dry-run", is_flag=True, help="Say what would be written; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def write(obj: Context, paths, style, include_automatic, dry_run, as_json):
    """Write the named faces of the library's photos (those in PATH..., files or folders; all without) into XMP
    sidecars as MWG face regions. Photos are never modified; a sidecar keeps every other tag in it."""
    from core.faces.sidecars import write_names

    report = write_names(obj.library, [str(Path(p).expanduser()) for p in paths], style, dry_run,
                         include_automatic)
    if as_json:
        emit_json({"schema": JSON_SCHEMA, "dry_run": dry_run, "files": [w.to_json() for w in report]})
        return
    words = WOULD if dry_run else WORDS
    for w in report:
        line = f"{words[w.result]:<13} {w.path}"
        if w.result != "skipped":
            kept = f", {plural(w.kept, 'other region')} kept" if w.kept else ""
            line += f"  ({plural(w.faces, 'name')}{kept})"
        if w.reason:
            line += f": {w.reason}"
        say(line)
    counts = {r: sum(1 for w in report if w.result == r) for r in WORDS}
    if not report:
        click.echo("no photo has a named face to write" + (" there" if paths else ""))
        return
    summary = ", ".join(f"{words[r]} {n}" for r, n in counts.items() if n)
    click.echo(f"{plural(len(report), 'file')}: {summary}" + (" (dry run: nothing written)" if dry_run else ""))
