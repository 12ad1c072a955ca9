"""What the CLI modules share: the library context, JSON output, the test-model warning and Ctrl-C handling.
The command modules import this, never each other."""
from __future__ import annotations

import json
import logging
import signal
import threading
from contextlib import contextmanager

import click

from core.clip.embedder import ModelUnavailable
from core.clip.vector_index import IndexMismatch
from core.faces.people import PeopleError
from core.idclip.model import IdClipError
from core.library import ModelMismatch
from core.lock import LibraryBusy
from core.media.images import MediaError
from core.registry import UnknownModel
from core.search.query import NothingToSearch
from core.settings import SettingsError
from core.store import CatalogError

log = logging.getLogger(__name__)

JSON_SCHEMA = 1
USER_ERRORS = (ModelUnavailable, ModelMismatch, CatalogError, IndexMismatch, MediaError, PeopleError, IdClipError,
               LibraryBusy, UnknownModel, SettingsError, NothingToSearch)


class Context:
    def __init__(self, library_dir: str, model: str | None):
        self.library_dir = library_dir
        self.model = model
        self._library = None

    @property
    def library(self):
        if self._library is None:
            from core.library import Library

            self._library = Library(self.library_dir, self.model)
        return self._library


def dump_json(data) -> str:
    """JSON text that is valid UTF-8 even when a file name is not (its odd bytes become \\udcXX escapes)."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return json.dumps(data, indent=2, ensure_ascii=True, default=str)


def emit_json(data) -> None:
    click.echo(dump_json(data))


def warn_test_model(library) -> None:
    if library.embedder.is_test_model:
        click.echo(f"warning: model {library.model_spec} has random weights; its results mean nothing "
                   "(tests and benchmarks only)", err=True)


@contextmanager
def ctrl_c_stops(cancel: threading.Event):
    """First Ctrl-C: finish the current batch, save, and stop. Second: stop at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        click.echo("\nstopping after the current batch; what is done is kept (Ctrl-C again to quit now)", err=True)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
