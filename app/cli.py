"""The `idlens` command line. Thin: every command is a call into `core`, plus output for people or for scripts.

Listing commands take --json; their schemas are documented in README.md ("JSON output") and only grow.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import sys
import threading

import click

from app.cli_common import (JSON_SCHEMA, USER_ERRORS, Context, NotFound, ctrl_c_stops, emit_json, fail,
                            say, terminate_like_interrupt, warn_test_model)
from app.cli_doctor import doctor
from app.cli_model import ensure_installed, model
from app.cli_idclip import idclip
from app.cli_metadata import metadata
from app.cli_people import people
from core import logs, services
from core.media.scanner import folder_warning
from core.settings import DEFAULT_MODEL, default_library_dir
from core.wording import clock, plural

log = logging.getLogger(__name__)


def _library_default() -> str:
    """The folder the commands use when neither --library nor IDLENS_LIBRARY names one (core.settings)."""
    return str(default_library_dir())


def _home_as_tilde(path: str) -> str:
    home = os.path.expanduser("~")
    return "~" + path[len(home):] if home not in ("", "/") and (path + "/").startswith(home + "/") else path


class _LibraryOption(click.Option):
    """--library, whose help shows the folder `_library_default` gives for this user, worked out when the help is
    shown (it depends on the user's data folder), never a copy of it."""

    def get_help_record(self, ctx):
        default, self.default, self.show_default = self.default, _home_as_tilde(_library_default()), True
        try:
            return super().get_help_record(ctx)
        finally:
            self.default = default


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--library", "library_dir", cls=_LibraryOption, envvar="IDLENS_LIBRARY",
              type=click.Path(file_okay=False), default=_library_default,
              help="Library folder (env IDLENS_LIBRARY). Without a command, the app opens the library it had open "
                   "last, unless --library or IDLENS_LIBRARY names one.")
@click.option("--model", envvar="IDLENS_MODEL", default=None,
              help="CLIP model as NAME:PRETRAINED or NAME:/path/to/checkpoint (env IDLENS_MODEL); "
                   f"default: the library's model, else {DEFAULT_MODEL}.")
@click.option("-v", "--verbose", is_flag=True,
              help="Show debug lines on stderr and write them to the log file (see README, \"Logs\").")
@click.version_option(package_name="idlens")
@click.pass_context
def cli(ctx, library_dir, model, verbose):
    """Idlens: find the people you know in your photos and videos. Without a command, opens the app."""
    logs.configure(verbose)  # the log file in the user's data folder; again on each call, never a second handler
    log.info("idlens %s: %s", _version(), ctx.invoked_subcommand or "app")
    log.debug("library %s, model %s, Python %s on %s", library_dir, model or "(the library's)",
              sys.version.split()[0], sys.platform)
    ctx.obj = Context(library_dir, model)
    # Every command ends by closing its library, also when it fails: closing renews today's backup after changes.
    ctx.call_on_close(ctx.obj.close)
    if ctx.invoked_subcommand is not None:
        terminate_like_interrupt()
    else:
        from app.gui import run_gui

        # The app opens the library it had open last, unless one is named (--library or IDLENS_LIBRARY).
        named = ctx.get_parameter_source("library_dir") != click.core.ParameterSource.DEFAULT
        sys.exit(run_gui(library_dir if named else None, model))


@cli.command()
@click.argument("paths", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--ray", "ray_address", metavar="ADDRESS",
              help="Decode, look for faces and embed on a Ray cluster (ADDRESS as ray.init takes it: auto, HOST:PORT, "
                   "ray://HOST:10001); the library is written here. Every node needs idlens[archive] and the media "
                   "at the same paths. See the README, \"Archives and clusters\".")
@click.pass_obj
def index(obj: Context, paths, as_json, ray_address):
    """Add folders or files to the library and index what is new. Without PATHS, re-scans the library's folders."""
    from tqdm import tqdm

    from core.indexer import IndexJob

    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise NotFound(f"no such file or folder: {missing[0]}")
    # /proc, /sys, /dev and FIFOs: refused, never opened
    from core.paths import not_indexable
    refused = next(filter(None, map(not_indexable, paths)), None)
    if refused:
        raise click.ClickException(refused)
    if ray_address:  # before a library is made for it: a wrong address leaves nothing behind
        from core.cluster.ray_index import reachable

        reachable(ray_address)
    lib = obj.creating_library
    if not paths and not lib.catalog.media.roots():
        raise click.UsageError("give a folder to index: idlens index PATH")
    cancel = threading.Event()
    if ray_address:
        from core.cluster.ray_index import RayIndexJob

        job: IndexJob = RayIndexJob(lib, ray_address, list(paths), cancel)
    else:
        job = IndexJob(lib, list(paths), cancel)
    bar = None
    with ctrl_c_stops(cancel):
        for p in job.run():
            if p.stage == "scan" and p.total == 0 and sys.stderr.isatty():
                click.echo("scanning…", err=True)
            elif p.stage == "model":
                if sys.stderr.isatty():
                    say(f"{p.total} files to index; loading {lib.model_spec}…", err=True)
                ensure_installed(lib)  # the job waits here: a first install shows its own progress
            elif p.stage == "embed":
                # Counted in pictures (a photo, a video frame), not files: a long video moves the bar, the rate
                # and the time left as its frames are sampled; the files done are said beside it.
                if bar is None:
                    warn_test_model(lib)
                    bar = tqdm(total=round(p.work_total) or p.total, unit="picture", desc="indexing",
                               file=sys.stderr, disable=None, dynamic_ncols=True)
                bar.update((round(p.work_done) if p.work_total else p.done) - bar.n)
                post = {"files": f"{p.done}/{p.total}"}
                if p.video_seconds:
                    post["video"] = clock(p.video_seconds)
                bar.set_postfix(post, errors=p.errors, refresh=False)
    if bar is not None:
        bar.close()
    r = job.report
    for path, why in list(r.scan.skipped.items())[:20]:  # links out of the library, system folders
        say(f"skipped {path}: {why}", err=True)
    if len(r.scan.skipped) > 20:
        click.echo(f"… and {len(r.scan.skipped) - 20} more skipped", err=True)
    for folder, why in r.scan.offline_folders.items():
        say(folder_warning(folder, why), err=True)
    if as_json:
        emit_json({"schema": JSON_SCHEMA, **services.index_report(r)})
    else:
        _print_index_report(r)
    if r.cancelled:
        click.get_current_context().exit(130)


def _print_index_report(r) -> None:
    s = r.scan
    parts = [f"{s.new} new", f"{s.changed} changed", f"{s.moved} moved", f"{s.unchanged} unchanged"]
    if s.unreadable:
        parts.append(f"{s.unreadable} unreadable")
    tail = [f"{s.missing} gone"] + ([f"{s.offline} offline"] if s.offline else []) \
        + ([f"{s.back} back online"] if s.back else [])
    click.echo(f"{plural(s.found, 'file')} found: {', '.join(parts)}; {', '.join(tail)}")
    rate = ""
    if r.embedded_files and r.pipeline_seconds:
        # In pictures (photos and video frames), as the bar counts: files/s says nothing of a folder of films
        rate = f"; {r.embedded_items / r.pipeline_seconds:.1f} pictures/s once the model was loaded"
    resumed = f" ({r.resumed} of them left from an earlier run)" if r.resumed else ""
    unreadable = r.errors + s.unreadable
    click.echo(f"indexed {plural(r.embedded_files, 'file')}{resumed} into {plural(r.embedded_items, 'vector')} in "
               f"{r.seconds:.1f}s{rate}"
               + (f"; {unreadable} could not be read (see `idlens errors`)" if unreadable else ""))
    if r.cluster:
        c = r.cluster
        lost = f", {plural(c.lost_batches, 'batch', 'batches')} given to another worker when theirs stopped" \
            if c.lost_batches else ""
        crashed = f"; {plural(c.crashed_files, 'file')} stopped its worker each time (see `idlens errors`)" \
            if c.crashed_files else ""
        click.echo(f"on the cluster at {c.address}: {plural(c.workers, 'worker')} on {plural(c.nodes, 'node')}, "
                   f"{plural(c.batches, 'batch', 'batches')}{lost}{crashed}")
    if r.face_errors:
        click.echo(f"faces could not be analysed in {plural(r.face_errors, 'file')}; the next `idlens index` tries "
                   "again", err=True)
    if r.cancelled:
        click.echo("stopped early; what was done is kept — run `idlens index` again to continue", err=True)


@cli.command()
@click.argument("query", required=False)
@click.option("--image", "image_path", type=click.Path(dir_okay=False), help="Find photos and moments like this one.")
@click.option("-k", "--limit", "k", type=click.IntRange(1, 10000), default=20, show_default=True,
              help="Number of results, at most.")
@click.option("--kind", type=click.Choice(["image", "video"]), help="Only photos or only videos.")
@click.option("--only", is_flag=True, help="Only media where the named people are the only ones.")
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.pass_obj
def search(obj: Context, query, image_path, k, kind, only, as_json):
    """Search in words ("Anna playing guitar at the beach", "videos of Anna and Ben in 2019"), by example
    (--image), or both (the words then name people and filters, the image gives the look)."""
    from core.search.ranking import search as run_search

    if query is None and image_path is None:
        raise click.UsageError("give a QUERY, --image PATH, or both")
    if query is not None and not query.strip():
        raise click.UsageError("the query is empty")
    if image_path and not os.path.exists(image_path):
        raise NotFound(f"no such file: {image_path}")
    # a FIFO would block the search forever
    from core.paths import not_regular
    if image_path and (why := not_regular(image_path)):
        raise click.ClickException(why)
    lib = obj.library
    if lib.catalog.library_model:
        lib.check_model()
        ensure_installed(lib)
    outcome = run_search(lib, query, image_path, k, kind, only)
    q = outcome.query
    if as_json:
        emit_json({"schema": JSON_SCHEMA, "query": query, "image": image_path, "model": lib.model_spec,
                    "understood": q.to_json(), "cut_off": outcome.cut_off, "offline_files": outcome.offline_files,
                    "results": [r.to_json() for r in outcome.results]})
        return
    if not q.people or q.context or image_path:
        warn_test_model(lib)
    if q.unknown_names:
        say(f"not a person in your library: {', '.join(q.unknown_names)} (searched as words; name people "
            "with `idlens people name`)", err=True)
    for note in q.notes:
        say(note, err=True)
    offline = services.offline_note(outcome.offline_files)
    if offline:
        say(offline, err=True)
    if not outcome.results:
        click.echo("no results" + ("" if lib.catalog.items.count() else " (the library is empty: idlens index PATH)"))
    for r in outcome.results:
        where = ""
        if r.spans:  # a video found by its people: every span they are on screen
            where = " @ " + ", ".join(f"{_clock(s['start'])}–{_clock(s['end'])}" for s in r.spans)
        elif r.moments:
            where = " @ " + ", ".join(_clock(m["timestamp"]) for m in r.moments)
        elif r.timestamp is not None:
            where = f" @ {_clock(r.timestamp)}"
        who = ", ".join(f"{p['name']} {p['similarity']:.2f}" for p in r.why.get("people", []))
        say(f"{r.score:6.3f}  {r.path}{where}" + (f"  [{who}]" if who else ""))


def _clock(seconds: float) -> str:
    m, s = divmod(float(seconds), 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m}:{s:04.1f}"


@cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def list_media(obj: Context, as_json):
    """Every file in the library, with its kind and status."""
    media = obj.library.catalog.media.all()
    if as_json:
        emit_json({"schema": JSON_SCHEMA, "media": [services.media_json(m) for m in media]})
        return
    for m in media:
        say(f"{m.status:8} {m.kind:5} {m.path}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def status(obj: Context, as_json):
    """What the library holds: files by kind and status, vectors, model, folders."""
    data = {"schema": JSON_SCHEMA, **services.status(obj.library)}
    if as_json:
        emit_json(data)
        return
    say(f"library  {data['library']}")
    say(f"model    {data['model']}" + ("  (random weights: tests only)" if data["test_model"] else ""))
    for kind, by_status in sorted(data["media"].items()):
        parts = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items()))
        label = {"image": "photos", "video": "videos"}.get(kind, kind + "s")  # the app's words (JSON keeps "image")
        click.echo(f"{label:8} {sum(by_status.values())} ({parts})")
    click.echo(f"vectors  {data['vectors']}")
    click.echo(f"vector store: {services.store_line(data['vector_store'])}")
    for folder in data["folders"]:
        say(f"folder   {folder['path']}" + (f"  (offline: {folder['offline']})" if folder["offline"] else ""))
    for folder in data["folders"]:
        if folder["offline"]:
            say(folder_warning(folder["path"], folder["offline"]), err=True)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--retry", is_flag=True, help="Queue every file listed for the next index (a file that could not "
              "be read, or that stopped a cluster worker each time, is otherwise tried again only once it changes).")
@click.pass_obj
def errors(obj: Context, as_json, retry):
    """Files that could not be indexed, and files whose faces could not be analysed, each with its reason."""
    found = services.errors(obj.library)
    if retry:
        queued = services.retry(obj.library, [e["path"] for e in found])
        if as_json:
            emit_json({"schema": JSON_SCHEMA, "queued": queued})
        else:
            click.echo(f"{plural(queued, 'file')} queued for the next `idlens index`")
        return
    if as_json:
        emit_json({"schema": JSON_SCHEMA, "errors": found})
        return
    if not found:
        click.echo("no file has an error", err=True)
    for e in found:
        say(f"{e['path']}: {e['error']}")


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def forget(obj: Context, paths, as_json):
    """Remove files or folders from the library. The files on disk are not touched."""
    n = obj.library.forget(*paths)
    if as_json:
        emit_json({"schema": JSON_SCHEMA, "forgotten": n})
    else:
        click.echo(f"removed {plural(n, 'file')} from the library (the files on disk are untouched)")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def reembed(ctx, as_json):
    """Re-embed every file with the model named by --model or IDLENS_MODEL (without either, the library's own):
    how a library switches to another CLIP model. A backup is taken first; names and faces stay."""
    lib = ctx.obj.library
    n = lib.reembed()
    if not as_json:
        say(f"re-embedding {n} files with {lib.model_spec}")
    ctx.invoke(index, paths=(), as_json=as_json)


cli.add_command(people)
cli.add_command(idclip)
cli.add_command(doctor)
cli.add_command(model)
cli.add_command(metadata)


def main(argv: list[str] | None = None) -> None:
    """Entry point: usage problems and user errors end in one line and a non-zero status, never a traceback; under
    --json, also a JSON error object on stdout."""
    args = sys.argv[1:] if argv is None else list(argv)
    handled: tuple[type[BaseException], ...] = (click.ClickException, click.exceptions.Abort, KeyboardInterrupt,
                                                sqlite3.DatabaseError, OSError, *USER_ERRORS)
    try:
        status = cli.main(args=args, prog_name="idlens", standalone_mode=False)
        if isinstance(status, int) and status:  # ctx.exit(N) comes back as a return value here
            sys.exit(status)
    except click.exceptions.NoArgsIsHelpError as e:
        click.echo(e.ctx.get_help())
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except handled as e:
        _log_failure(args, e, traceback=isinstance(e, (sqlite3.DatabaseError, OSError)))
        sys.exit(fail(e, "--json" in args))
    except Exception as e:  # a bug: Python prints the traceback; the log file keeps it too
        _log_failure(args, e, traceback=True)
        raise


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("idlens")
    except PackageNotFoundError:
        return "(not installed)"


def _log_failure(args: list[str], e: BaseException, traceback: bool) -> None:
    """One line in the log file for a command that failed (on stderr only with --verbose: the error itself is
    printed already); with the traceback where it is not a plain usage error."""
    logs.ensure()  # a usage error can come before the group's callback configured the log
    command = next((a for a in args if a in cli.commands), "app")
    log.info("idlens %s failed: %s: %s", command, type(e).__name__, e, exc_info=traceback,
             extra={"file_only": True})


if __name__ == "__main__":
    main()
