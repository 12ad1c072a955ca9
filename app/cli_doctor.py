"""`idlens doctor`: check a library, and repair it from its backups. Works on a library that no other command
can open (a damaged catalog), so it never builds the Library itself before the repair."""
from __future__ import annotations

import click

from app.cli_common import JSON_SCHEMA, emit_json, say

MARKS = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}


@click.command()
@click.option("--repair", is_flag=True,
              help="A damaged catalog is moved aside (never deleted), the newest backup that passes its check "
                   "restored (none: an empty catalog) and the decisions logged after it replayed; then, as for a "
                   "vector index that disagrees with a healthy catalog, the index is rebuilt and the folders scanned "
                   "again. A healthy library is left as it is.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def doctor(ctx, repair, as_json):
    """Check the library: catalog integrity, vector index, backups, folders, settings, model files. Read-only;
    exits 0 when healthy (warnings included), 1 when something needs --repair."""
    from core import doctor as checkup

    folder = ctx.obj.library_dir
    if repair:
        r = checkup.repair(folder)
        if as_json:
            emit_json({"schema": JSON_SCHEMA, **r.to_json()})
        else:
            for line in r.actions:  # they name files and folders: printed escaped (say), as every path is
                say(line)
            if r.restored_from or r.started_empty:
                click.echo(f"{r.people} named people in the library now; check them with `idlens people list`")
            click.echo("the library is healthy" if r.healthy else "still not healthy: see `idlens doctor`")
        ctx.exit(0 if r.healthy else 1)
    c = checkup.check(folder, model=ctx.obj.model)
    if as_json:
        emit_json({"schema": JSON_SCHEMA, **c.to_json()})
    else:
        say(f"library  {c.library}")
        for check in c.checks:  # a message can name a folder, a backup or a model file
            say(f"{MARKS[check.status]}  {check.name:9} {check.message}")
        if not c.healthy:
            catalog_failed = any(ch.name == "catalog" and ch.status == "fail" for ch in c.checks)
            click.echo("run `idlens doctor --repair` to repair it" + (
                " (nothing is deleted: the damaged catalog is moved aside and the newest good backup restored)"
                if catalog_failed else " (the vector index is rebuilt from the catalog)"))
    ctx.exit(0 if c.healthy else 1)
