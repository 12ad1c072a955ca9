"""What the CLI modules share: the library context, JSON output, the test-model warning and Ctrl-C handling.
The command modules import this, never each other."""
from __future__ import annotations

import errno
import json
import logging
import signal
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path

import click

from core.clip.embedder import ModelUnavailable
from core.clip.vector_index import IndexMismatch
from core.faces.sidecars import WriteRefused
from core.faces.views import PeopleError
from core.cluster.errors import ClusterError
from core.idclip.model import IdClipError
from core.library import Library, ModelMismatch, NoLibrary, NotInLibrary
from core.lock import LibraryBusy
from core.media.reasons import MediaError
from core.names import BadName, printable
from core.registry import UnknownModel
from core.search.query import NothingToSearch
from core.settings import SettingsError
from core.store import CatalogDamaged, CatalogError
from core.store.health import is_damage

log = logging.getLogger(__name__)

JSON_SCHEMA = 1
# The errors a user can meet, each with the code `--json` reports it under (scripts match on the code, people read
# the message). Ordered: a subclass before its base.
ERROR_CODES: list[tuple[type[Exception], str]] = [
    (CatalogDamaged, "catalog_damaged"), (CatalogError, "catalog"), (ModelUnavailable, "model_unavailable"),
    (ModelMismatch, "model_mismatch"), (IndexMismatch, "index_mismatch"), (MediaError, "unreadable_media"),
    (PeopleError, "people"), (IdClipError, "idclip"), (LibraryBusy, "busy"), (UnknownModel, "unknown_model"),
    (SettingsError, "settings"), (NothingToSearch, "nothing_to_search"), (NotInLibrary, "not_in_library"),
    (NoLibrary, "no_library"), (BadName, "people"), (WriteRefused, "metadata"), (ClusterError, "cluster"),
]
USER_ERRORS: tuple[type[Exception], ...] = tuple(cls for cls, _ in ERROR_CODES)


class NotFound(click.ClickException):
    """A file or folder named on the command line does not exist."""


def classify(e: BaseException) -> tuple[str, str, int, str | None]:
    """(code, message, exit status, detail) for an error that ends a command."""
    if isinstance(e, click.UsageError):
        hint = f" (see `{e.ctx.command_path} --help`)" if e.ctx else ""
        return "usage", e.format_message() + hint, 2, None
    if isinstance(e, NotFound):
        return "not_found", e.format_message(), 1, None
    if isinstance(e, click.ClickException):
        return "invalid", e.format_message(), e.exit_code, None
    if isinstance(e, (KeyboardInterrupt, click.exceptions.Abort)):
        return "interrupted", "interrupted; what was done is kept", 130, None
    for cls, code in ERROR_CODES:
        if isinstance(e, cls):
            return code, str(e), 1, getattr(e, "detail", None)
    if isinstance(e, sqlite3.DatabaseError):
        if is_damage(e):
            return ("catalog_damaged", f"the catalog is damaged ({e}); `idlens doctor --repair` restores the last "
                    "backup (`idlens doctor` checks the library)", 1, str(e))
        text = str(e).lower()
        if "readonly" in text or "read-only" in text:
            return ("read_only", "the library cannot be written: its catalog or folder is read-only (permissions, "
                    "or a read-only disk); nothing was changed", 1, str(e))
        if "unable to open" in text:
            return ("catalog_io", "the catalog cannot be opened: check that its folder exists and that you may "
                    "read and write it (permissions); nothing was changed", 1, str(e))
        if "disk is full" in text or "full" in text.split():
            return ("disk_full", "the disk is full; nothing done before this is lost — free some space and run "
                    "the command again", 1, str(e))
        if "locked" in text or "busy" in text:
            return ("busy", "the catalog is busy (another Idlens holds it for a long write); nothing done before "
                    "this is lost — run the command again", 1, str(e))
        return ("catalog_io", "the catalog could not be written or read; nothing done before this is lost — check "
                "the disk (space, errors) and run the command again", 1, str(e))
    if isinstance(e, OSError):
        if e.errno == errno.ENOSPC:
            return ("disk_full", f"the disk is full ({e.filename or 'writing the library'}); nothing done before "
                    "this is lost — free some space and run the command again", 1, str(e))
        if e.errno in (errno.EACCES, errno.EPERM):
            return ("permission", f"permission denied: {e.filename or e}; nothing was changed", 1, str(e))
        if e.errno == errno.EROFS:
            return ("read_only", f"read-only file system: {e.filename or e}; nothing was changed", 1, str(e))
        return "os_error", str(e), 1, None
    raise e


def fail(e: BaseException, as_json: bool) -> int:
    """Report an error that ends the command: its line on stderr (a message in two parts — what to do, then the
    system's details — in two lines), and under --json the same as a JSON object on stdout (a script reading stdout
    never gets nothing). Returns the exit status."""
    code, message, status, detail = classify(e)
    first, *rest = message.split("\n")
    click.echo(f"idlens: error: {printable(first)}", err=True)  # a name or a path in it never drives the terminal
    for line in rest:
        click.echo(f"  {printable(line)}", err=True)
    if as_json:
        error = {"code": code, "message": message}
        if detail:
            error["detail"] = detail
        emit_json({"schema": JSON_SCHEMA, "error": error})
    return status


class Context:
    def __init__(self, library_dir: str, model: str | None):
        self.library_dir = library_dir
        self.model = model
        self._library: Library | None = None

    @property
    def library(self) -> Library:
        """The library at --library; it must exist (NoLibrary): only the commands that add to a library create one,
        through `creating_library`."""
        if self._library is None:
            self._library = Library(Path(self.library_dir), self.model, create=False)
        return self._library

    @property
    def creating_library(self) -> Library:
        """The library at --library, made there if there is none yet (`index`, `people add`, `people import`,
        `model install`)."""
        if self._library is None:
            self._library = Library(Path(self.library_dir), self.model)
        return self._library

    def close(self) -> None:
        if self._library is not None:
            library, self._library = self._library, None
            library.close()


def dump_json(data) -> str:
    """JSON text that is valid UTF-8 even when a file name is not (its odd bytes become \\udcXX escapes)."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return json.dumps(data, indent=2, ensure_ascii=True, default=str)


def say(text: str, err: bool = False) -> None:
    """Print a line for people that holds names or file paths: every control character in it is shown escaped
    (core.names.printable), so a name or a file name can never recolour, move or reorder the terminal's text."""
    click.echo(printable(text), err=err)


def emit_json(data) -> None:
    click.echo(dump_json(data))


def warn_test_model(library) -> None:
    if library.embedder.is_test_model:
        click.echo(f"warning: model {library.model_spec} has random weights; its results mean nothing "
                   "(tests and benchmarks only)", err=True)


@contextmanager
def ctrl_c_stops(cancel: threading.Event):
    """First Ctrl-C (or SIGTERM: a logout, `kill`, a service manager): finish the current batch, save, and stop.
    Second: stop at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        what = "Ctrl-C again" if signum == signal.SIGINT else "a second signal"
        click.echo(f"\nstopping after the current batch; what is done is kept ({what} to quit now)", err=True)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def terminate_like_interrupt() -> None:
    """Outside a long job, SIGTERM ends a command as Ctrl-C does (KeyboardInterrupt): the current transaction rolls
    back, the library is closed (today's backup renewed) and the exit status is 130, instead of Python's default of
    dying on the spot."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def columns(text: str) -> int:
    """How many terminal columns `text` takes: a CJK character two, a combining mark none (str.ljust counts code
    points, so "李小龙" would push the next column three to the right)."""
    import unicodedata

    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def padded(text: str, width: int) -> str:
    return text + " " * max(0, width - columns(text))
