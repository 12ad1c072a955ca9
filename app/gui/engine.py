"""The Qt side of the engine: runs core work off the UI thread and answers on the UI thread.

One writer thread (indexing, people decisions, settings: SQLite gets one writer, as in Picard) and one reader thread
(searches, listings). Each thread opens its own Library (its own SQLite connection); the models come from
`core.registry`, one per process. Everything goes through `submit(pool, fn, on_done, on_error)`: `fn` runs on the
pool, and `on_done(result)` or `on_error(message)` always run on the UI thread (Picard's `run_task`). Every public
method is a typed use case; what the engine computes comes from `core.services`.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from dataclasses import dataclass
from typing import Protocol

import shiboken6
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from core import services
from core.clip.spec import ModelUnavailable
from core.faces.crops import FaceCrops
from core.faces.views import Person
from core.library import Library
from core.settings import Settings
from core.wording import plural

log = logging.getLogger(__name__)


class _Deliver(QObject):
    """Lives on the UI thread; a signal emitted from a worker is queued to it, so the callback runs there."""
    call = Signal(object, object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.call.connect(self._run, Qt.ConnectionType.QueuedConnection)

    @Slot(object, object)
    def _run(self, callback, value) -> None:
        owner = getattr(callback, "__self__", None)
        if isinstance(owner, QObject) and not shiboken6.isValid(owner):
            return  # the window or dialog that asked has been closed meanwhile
        callback(value)

    def tell(self, signal, *args) -> None:
        """Emit `signal(*args)` on the UI thread, where this lives: at once when called there, else queued.

        Why never from a worker: a signal a worker emits reaches each Python slot as a queued call of its own, and
        PySide delivers one queued before a disconnect even after it, to a slot whose object may be gone by then (a
        crash: pytest-qt's waitSignal, freed after its first call, was called again by a second peopleChanged).
        Emitted on the UI thread, every connected slot is called there and then, and a disconnected one never."""
        if QThread.currentThread() == self.thread():
            signal.emit(*args)
        else:
            self.call.emit(lambda _: signal.emit(*args), None)


class _Pool(Protocol):
    """Where `Engine.submit` runs a task: a ThreadPoolExecutor, or _Inline."""

    def submit(self, fn: Callable[[], object], /) -> object: ...


class _Inline:
    """An executor that runs the task at once on the calling thread (a decision on the index's thread)."""

    @staticmethod
    def submit(fn: Callable[[], object], /) -> None:
        fn()


class Engine(QObject):
    indexStarted = Signal(int)                      # job id
    indexProgress = Signal(dict)                    # stage, done, total, rate, eta, path, errors
    indexFinished = Signal(dict)                    # report
    mediaIndexed = Signal(list)                     # paths just finished (the grid fills while indexing)
    searchFinished = Signal(int, object)            # request id, SearchOutcome
    peopleChanged = Signal(list)                    # [Person]
    statusChanged = Signal(dict)                    # services.status + errors
    browseReady = Signal(list)                      # [Result-like dicts] of everything indexed
    failed = Signal(str, str)                       # what, message
    modelReady = Signal(str)                        # spec: weights present and loaded
    modelProgress = Signal(str, int, int)           # what, done, total (bytes while downloading)
    undoChanged = Signal(str, str)                  # what Undo / Redo would do ("" = nothing), from the journal
    decided = Signal(str)                           # one line on what a decision, an undo or a redo just did

    def __init__(self, library_dir: str, model: str | None = None, parent=None):
        super().__init__(parent)
        self.library_dir = str(library_dir)
        self.model = model
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="idlens-writer")
        self.reader = ThreadPoolExecutor(1, thread_name_prefix="idlens-reader")
        # Sidecars written for other apps: minutes for a big library, beside searches and an index (it only reads
        # the catalog).
        self.exporter = ThreadPoolExecutor(1, thread_name_prefix="idlens-export")
        self._local = threading.local()
        self._cancel = threading.Event()
        self._requests = itertools.count(1)
        self._deliver = _Deliver(self)
        self.indexing = False
        self.closed = False
        self._generation = 0
        # Decisions made while an index runs are run by the index's own thread between two files (it holds the
        # library's write lock; a decision queued behind the whole index would wait minutes). See `decide`.
        self._urgent: list[Callable[[], None]] = []
        self._urgent_lock = threading.Lock()
        self._index_running = False
        self._watching = False  # a check_outside is queued or running (never two at once)
        self._opened: list[Library] = []  # every thread's library, closed at shutdown (the day's backup follows)
        self._crops: FaceCrops | None = None  # the library's face crops, from the first Library a thread opened
        self.people: list = []  # the latest people list, kept on the UI thread (name completion reads it)
        self.peopleChanged.connect(self._remember_people)

    def _tell(self, signal, *args) -> None:
        """Emit one of this engine's signals, from any thread: its slots run on the UI thread (_Deliver.tell)."""
        self._deliver.tell(signal, *args)

    # -- running work -----------------------------------------------------------------------------------------------
    def library(self) -> Library:
        """This thread's Library (never call on the UI thread for anything slow); a new one after a model change."""
        lib = getattr(self._local, "library", None)
        if lib is not None and getattr(self._local, "generation", 0) != self._generation:
            lib.close()
            with self._urgent_lock:
                self._opened.remove(lib)
            lib = None
        if lib is None:
            lib = self._local.library = Library(Path(self.library_dir), self.model)
            self._crops = lib.face_crops  # where this library's face crops are: crop_path reads it on the UI thread
            self._local.generation = self._generation
            with self._urgent_lock:
                self._opened.append(lib)
        return lib

    def change_model(self, spec: str) -> None:
        """Switch the library to another CLIP model from the app: install it (with progress), drop the vectors
        (names and faces stay; the catalog is backed up first), then re-embed everything as an index run with
        progress, rate, time left and Cancel."""
        def op(lib: Library) -> None:
            switched = Library(Path(self.library_dir), spec)
            try:
                switched.embedder.load(progress=lambda what, done, total: self._tell(self.modelProgress, what, done, total))
                switched.reembed()
            finally:
                switched.close()
            self.model = spec
            self._generation += 1  # every thread opens the library again, with the new model
        self.write("changing the model", op, lambda _: self.index([]))

    def use_model(self, spec: str) -> None:
        """The model a library with no vectors yet will install and use (Settings on first run): nothing to
        re-embed; every thread opens the library again, and the window shows the new model's first-run text."""
        self.model = spec
        self._generation += 1
        self.refresh()

    def submit(self, pool: _Pool, what: str, fn: Callable, on_done: Callable | None = None,
               on_error: Callable[[str], None] | None = None):
        """Run `fn()` on `pool`; then `on_done(result)` on the UI thread, or on failure `on_error(message)` there
        (default: the `failed` signal, which the window shows). The UI never dies of an engine error."""
        if self.closed:
            return None

        def task():
            try:
                result = fn()
            except Exception as e:
                # An expected condition (no connection for the model) is one line in the log, not a traceback.
                log.warning("%s failed%s", what, f": {e}" if isinstance(e, ModelUnavailable) else "",
                            exc_info=not isinstance(e, ModelUnavailable))
                message = str(e) or type(e).__name__
                if on_error is not None:
                    self._deliver.call.emit(on_error, message)
                else:
                    self._tell(self.failed, what, message)
                return None
            if on_done is not None:
                self._deliver.call.emit(on_done, result)
            return result
        return pool.submit(task)

    def read(self, what: str, fn: Callable[[Library], object], on_done: Callable | None = None):
        """A read on the reader thread, given that thread's library."""
        return self.submit(self.reader, what, lambda: fn(self.library()), on_done)

    def write(self, what: str, fn: Callable[[Library], object], on_done: Callable | None = None):
        """A change on the writer thread; the people list, status and the reader's index are refreshed after it."""
        return self.submit(self.writer, what, self._change(fn), on_done)

    def _change(self, fn: Callable[[Library], object]) -> Callable[[], object]:
        """`fn` on the calling thread's library, then what every change refreshes (people, status, the index)."""
        def op():
            lib = self.library()
            try:
                return fn(lib)
            finally:
                self._after_write(lib)
        return op

    @Slot(list)
    def _remember_people(self, people: list) -> None:
        self.people = people

    def shutdown(self) -> None:
        self.closed = True  # a timer or a late click after the window closed asks for nothing more
        self._cancel.set()
        self.writer.shutdown(wait=True, cancel_futures=True)
        self.reader.shutdown(wait=True, cancel_futures=True)
        self.exporter.shutdown(wait=True, cancel_futures=True)
        # The threads have stopped, so their libraries can be closed here: closing renews today's backup when
        # this session changed anything (names made today are then in a backup, as the README promises).
        with self._urgent_lock:
            opened, self._opened = self._opened, []
        for lib in opened:
            try:
                lib.close()
            except Exception:
                log.warning("closing the library failed", exc_info=True)

    # -- indexing ---------------------------------------------------------------------------------------------------
    def index(self, paths: list[str] | None = None) -> None:
        self._cancel.clear()
        self.indexing = True
        self.submit(self.writer, "indexing", lambda: self._index(list(paths or [])))

    def cancel(self) -> None:
        self._cancel.set()

    def _index(self, paths: list[str]) -> None:
        from core.indexer import IndexJob

        lib = self.library()
        job = IndexJob(lib, paths, self._cancel)
        started = None
        batch: list[str] = []
        last_emit = 0.0
        with self._urgent_lock:
            self._index_running = True
        try:
            self._tell(self.indexStarted, 0)
            for p in job.run():
                self._run_urgent()
                now = time.perf_counter()
                if p.stage == "embed":
                    started = started or now
                    if p.path:
                        batch.append(p.path)
                    # Rate and time left in pictures (photos and video frames), so they stay true in a long video
                    work, work_total = (p.work_done, p.work_total) if p.work_total else (p.done, p.total)
                    rate = work / (now - started) if now > started else 0.0
                    eta = (work_total - work) / rate if rate > 0 else None
                    if now - last_emit > 0.15 or p.done == p.total:
                        self._tell(self.indexProgress, {"stage": "embed", "done": p.done, "total": p.total, "rate": rate,
                                                 "eta": eta, "path": p.path, "errors": p.errors,
                                                 "work": work, "work_total": work_total,
                                                 "video_seconds": p.video_seconds})
                        if batch:
                            self._tell(self.mediaIndexed, batch)
                            batch = []
                        last_emit = now
                else:
                    self._tell(self.indexProgress, {"stage": p.stage, "done": p.done, "total": p.total, "rate": 0.0,
                                             "eta": None, "path": None, "errors": p.errors})
                    if p.stage == "scan" and p.total:  # what was found shows at once (the sidebar, the page),
                        self._tell(self.statusChanged, self._status(lib))  # not only after a first-run download
                    if p.stage == "model" and not lib.embedder.installed:  # a first install: show its progress
                        try:
                            lib.embedder.load(progress=lambda what, done, total:
                                              self._tell(self.modelProgress, what, done, total))
                        except ModelUnavailable as e:
                            # As the Download button says it; the files found stay waiting for the next try.
                            self._tell(self.failed, "downloading the model", str(e))
                            self._cancel.set()
                        else:
                            self._tell(self.modelReady, lib.model_spec)
            if batch:
                self._tell(self.mediaIndexed, batch)
        finally:
            with self._urgent_lock:
                self._index_running = False
            self._run_urgent()  # asked for after the last file
            self.indexing = False
            self._tell(self.indexFinished, services.index_report(job.report))
            self._after_write(lib)

    def _after_write(self, lib: Library) -> None:
        self._tell(self.peopleChanged, lib.people.list())
        self._journal_changed(lib)
        self._tell(self.statusChanged, self._status(lib))
        # The reader's copy of the index is now stale: it reloads on its next search.
        self.reader.submit(self._drop_reader_index)

    def _drop_reader_index(self) -> None:
        lib = getattr(self._local, "library", None)
        if lib is not None:
            lib.forget_index()

    @staticmethod
    def _status(lib: Library) -> dict:
        return {**services.status(lib, model_files=True), "errors": services.errors(lib)}

    # -- reading ----------------------------------------------------------------------------------------------------
    def search(self, text: str | None, image: str | None = None, kind: str | None = None, only: bool = False) -> int:
        from core.search.ranking import search

        request = next(self._requests)
        self.read("search", lambda lib: search(lib, text, image, 500, kind, only),
                  lambda outcome: self._tell(self.searchFinished, request, outcome))
        return request

    def _journal_changed(self, lib: Library) -> None:
        undo, redo = lib.people.can_undo(), lib.people.can_redo()
        self._tell(self.undoChanged, undo.title if undo else "", redo.title if redo else "")

    def refresh(self) -> None:
        def op(lib: Library) -> None:
            self._tell(self.statusChanged, self._status(lib))
            self._tell(self.peopleChanged, lib.people.list())
            self._journal_changed(lib)  # decisions made from the command line meanwhile can be undone here too
            self._tell(self.browseReady, services.browse(lib))
        self.read("refresh", op)

    def check_outside(self) -> None:
        """Asked every few seconds: if anyone committed to the catalog since the last look (the command line beside
        the app, or this app's own writer), the people, Undo/Redo, the sidebar — and the grid, when files came or
        went — show the library as it is now, without waiting for the window to be activated."""
        if self._watching or self.closed:
            return
        self._watching = True

        def op(lib: Library) -> None:
            try:
                version, last = lib.catalog.data_version(), getattr(self._local, "version", None)
                self._local.version = version
                if last is None:  # the first look: what is there now is what the window was shown
                    self._local.media = lib.catalog.media.counts()
                if last is None or version == last:
                    return
                self._tell(self.peopleChanged, lib.people.list())
                self._journal_changed(lib)
                status = self._status(lib)
                self._tell(self.statusChanged, status)
                if status["media"] != getattr(self._local, "media", status["media"]):
                    self._tell(self.browseReady, services.browse(lib))
                self._local.media = status["media"]
            finally:
                self._watching = False
        self.read("watching the library", op)

    def refresh_people(self) -> None:
        """The people list and what Undo/Redo would do: cheap, asked when the window comes back to the front (the
        user may have named someone from a terminal meanwhile)."""
        def op(lib: Library) -> None:
            self._tell(self.peopleChanged, lib.people.list())
            self._journal_changed(lib)
        self.read("people", op)

    def faces_of(self, person_id: int, on_done: Callable[[list[dict]], None]) -> None:
        self.read("faces", lambda lib: lib.people.faces_of(person_id), on_done)

    def review(self, person_id: int, on_done: Callable) -> None:
        """The faces to ask about for a person (a core.faces.people.Review: the first 50 and the total)."""
        self.read("suggestions", lambda lib: lib.people.review(person_id, 50), on_done)

    def faces_in(self, media_id: int, on_done: Callable[[list[dict]], None]) -> None:
        self.read("faces", lambda lib: lib.people.faces_in(media_id), on_done)

    def download_model(self) -> None:
        """Install the library's model (download or conversion, with progress) and load it; errors: one message."""
        def op():
            lib = self.library()
            lib.embedder.load(progress=lambda what, done, total: self._tell(self.modelProgress, what, done, total))
            return lib.model_spec
        self.submit(self.writer, "downloading the model", op, self.modelReady.emit)

    # -- decisions (the journal: core.faces.people, many levels, the CLI's too) -------------------------------
    def decide(self, what: str, fn: Callable[[Library], object], on_done: Callable | None = None) -> None:
        """A decision about people. On the writer thread; while an index runs there, on the index's thread between
        two files, so it shows within about a file's time instead of after the whole index. Each ends with one line
        of feedback (`decided`): what it did, in the journal's words, and that it can be undone."""
        def with_words(lib: Library):
            before = lib.people.can_undo()
            result = fn(lib)
            self._tell(self.decided, feedback(what, result, before, lib.people.can_undo()))
            return result
        op = self._change(with_words)

        def run_now():
            self.submit(_Inline(), what, op, on_done)
        with self._urgent_lock:
            if self._index_running:
                self._urgent.append(run_now)
                return
        self.submit(self.writer, what, op, on_done)

    def _run_urgent(self) -> None:
        with self._urgent_lock:
            todo, self._urgent = self._urgent, []
        for fn in todo:
            fn()

    def undo(self) -> None:
        self.decide("undoing", lambda lib: lib.people.undo())

    def redo(self) -> None:
        self.decide("redoing", lambda lib: lib.people.redo())

    def name_person(self, person_id: int, name: str) -> None:
        def op(lib: Library) -> Named:
            seen = lib.people.find(person_id).faces  # the group as the user saw it when naming it
            person = lib.people.name(person_id, name)
            return Named(person, seen, lib.people.review(person.id, 1).total)
        self.decide("naming", op)

    def merge_people(self, target: int, source: int) -> None:
        self.decide("merging", lambda lib: lib.people.merge(target, source))

    def hide_person(self, person_id: int, hidden: bool) -> None:
        self.decide("hiding", lambda lib: lib.people.hide(person_id, hidden))

    def move_face(self, face_id: int, person: int | str, on_done: Callable | None = None) -> None:
        """This face is this person (an id, or a name; a new name creates the person)."""
        self.decide("moving a face", lambda lib: lib.people.move(face_id, person), on_done)

    def reject_face(self, face_id: int, person_id: int, on_done: Callable | None = None) -> None:
        self.decide("rejecting a face", lambda lib: lib.people.reject(face_id, person_id), on_done)

    # -- other changes (the writer thread) ---------------------------------------------------------------------
    def forget(self, paths: list[str]) -> None:
        def op(lib: Library) -> None:
            for p in paths:
                lib.forget(p)
            self._tell(self.browseReady, services.browse(lib))
            self._tell(self.statusChanged, self._status(lib))  # the counts and the errors panel
        self.write("forget", op)

    def write_names(self, style: str | None, include_automatic: bool, on_done: Callable[[list], None]) -> None:
        """The library's names into XMP sidecars (core.faces.sidecars), on a thread of its own; `on_done(report)`."""
        from core.faces.sidecars import write_names

        self.submit(self.exporter, "writing names to XMP",
                    lambda: write_names(self.library(), None, style, False, include_automatic), on_done)

    def retry(self, paths: list[str]) -> None:
        """Try files that could not be read again: queued, then an index run (which also retries face failures)."""
        def op(lib: Library) -> None:
            services.retry(lib, paths)
        self.write("queueing files again", op, lambda _: self.index([]))

    def save_settings(self, settings: Settings, on_done: Callable | None = None) -> None:
        self.write("saving the settings", lambda lib: services.save_settings(lib, settings), on_done)

    # -- files the UI reads directly ---------------------------------------------------------------------------------
    def crop_path(self, face_id: int) -> Path:
        """Where the face's crop is cached (the library's own folder: Library.face_crops). Cheap, for the UI thread;
        the file may be missing or stale: what is shown goes through `ensure_crop`, off the UI thread."""
        crops = self._crops
        if crops is None:  # no thread has opened the library yet: nothing of it can be shown
            from core.settings import cache_dir

            return cache_dir() / "faces" / "none" / f"{int(face_id)}.jpg"
        return crops.path(face_id)

    def ensure_crop(self, face_id: int) -> Path | None:
        """The face's crop, made again from its file when missing or another face's (FaceCrops.ensure); None when
        it cannot be. Reads the catalog and may decode a file: call it on a pool thread, never the UI thread."""
        crops = self._crops
        return crops.ensure(face_id) if crops is not None and not self.closed else None

    def thumbnail_path(self, fingerprint: str, timestamp: float | None = None) -> Path:
        from core.media.thumbnails import ThumbnailCache
        from core.settings import cache_dir

        return ThumbnailCache(cache_dir() / "thumbnails").path_for(fingerprint, timestamp)


def feedback(what: str, result, before, after) -> str:
    """The status line after a decision: "Moved a face to Ben · Ctrl+Z undoes it", "Undone: naming Anna"; `before`
    and `after` are the journal's last decision before and after it (core.store.journal.Decision or None)."""
    if what in ("undoing", "redoing"):
        if result is None:
            return "Nothing to undo" if what == "undoing" else "Nothing to redo"
        return f"{'Undone' if what == 'undoing' else 'Redone'}: {result.title}"
    if after is not None and (before is None or after.id != before.id):
        outcome = ""
        if isinstance(result, Named) and result.person.faces < result.seen:
            # Naming a group confirms its surest faces only (core.faces.people.name): say so, or the group seems
            # to have shrunk for no reason.
            outcome = f" — {plural(result.person.faces, 'face')} sure" + (
                f", {result.to_review} more in Review suggested faces" if result.to_review else "")
        return f"{after.done}{outcome} · Ctrl+Z undoes it"
    return "Nothing changed"


@dataclass(frozen=True)
class Named:
    """What naming did: the person now, how many faces the named group had, how many wait in review."""
    person: Person
    seen: int
    to_review: int

