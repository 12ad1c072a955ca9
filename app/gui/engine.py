"""The Qt side of the engine: runs core jobs off the UI thread and reports back through signals.

One writer thread (indexing, people decisions: SQLite gets one writer, as in Picard) and one reader thread
(searches, listings). Each thread opens its own Library (its own SQLite connection); they share one CLIP model.
Results come back as Qt signals, which Qt delivers on the UI thread.
"""
from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from core.embedder import ClipEmbedder
from core.library import Library
from core.settings import models_dir


class Engine(QObject):
    indexStarted = Signal(int)                      # job id
    indexProgress = Signal(dict)                    # stage, done, total, rate, eta, path, errors
    indexFinished = Signal(dict)                    # report
    mediaIndexed = Signal(list)                     # paths just finished (the grid fills while indexing)
    searchFinished = Signal(int, object)            # request id, SearchOutcome
    peopleChanged = Signal(list)                    # [Person]
    statusChanged = Signal(dict)                    # counts, roots, model
    browseReady = Signal(list)                      # [Result-like dicts] of everything indexed
    failed = Signal(str, str)                       # what, message
    modelReady = Signal(str)                        # spec: weights present and loaded

    def __init__(self, library_dir: str, model: str | None = None, parent=None):
        super().__init__(parent)
        self.library_dir = str(library_dir)
        self.model = model
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="idlens-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="idlens-reader")
        self._local = threading.local()
        self._embedder: ClipEmbedder | None = None
        self._embedder_lock = threading.Lock()
        self._cancel = threading.Event()
        self._requests = itertools.count(1)
        self.indexing = False

    # -- per-thread libraries ------------------------------------------------------------------------------------
    def library(self) -> Library:
        """This thread's Library (never call on the UI thread for anything slow)."""
        lib = getattr(self._local, "library", None)
        if lib is None:
            lib = Library(self.library_dir, self.model)
            with self._embedder_lock:
                if self._embedder is None or self._embedder.name != lib.model_spec:
                    self._embedder = lib.embedder
            lib._embedder = self._embedder
            self._local.library = lib
        return lib

    def _run(self, pool, what: str, fn, *args):
        def task():
            try:
                return fn(*args)
            except Exception as e:  # shown to the user; the UI must never die of an engine error
                self.failed.emit(what, str(e) or type(e).__name__)
        return pool.submit(task)

    def shutdown(self) -> None:
        self._cancel.set()
        self._writer.shutdown(wait=True, cancel_futures=True)
        self._reader.shutdown(wait=True, cancel_futures=True)

    # -- indexing ---------------------------------------------------------------------------------------------------
    def index(self, paths: list[str] | None = None) -> None:
        self._cancel.clear()
        self.indexing = True
        self._run(self._writer, "indexing", self._index, list(paths or []))

    def cancel(self) -> None:
        self._cancel.set()

    def _index(self, paths: list[str]) -> None:
        from core.indexer import IndexJob

        lib = self.library()
        job = IndexJob(lib, paths, self._cancel)
        started = None
        batch: list[str] = []
        last_emit = 0.0
        try:
            self.indexStarted.emit(0)
            for p in job.run():
                now = time.perf_counter()
                if p.stage == "embed":
                    started = started or now
                    if p.path:
                        batch.append(p.path)
                    rate = p.done / (now - started) if now > started else 0.0
                    eta = (p.total - p.done) / rate if rate > 0 else None
                    if now - last_emit > 0.15 or p.done == p.total:
                        self.indexProgress.emit({"stage": "embed", "done": p.done, "total": p.total, "rate": rate,
                                                 "eta": eta, "path": p.path, "errors": p.errors})
                        if batch:
                            self.mediaIndexed.emit(batch)
                            batch = []
                        last_emit = now
                else:
                    self.indexProgress.emit({"stage": p.stage, "done": p.done, "total": p.total, "rate": 0.0,
                                             "eta": None, "path": None, "errors": p.errors})
            if batch:
                self.mediaIndexed.emit(batch)
        finally:
            self.indexing = False
            r = job.report
            self.indexFinished.emit({"found": r.scan.found, "new": r.scan.new, "indexed": r.embedded_files,
                                     "errors": r.errors, "cancelled": r.cancelled, "seconds": r.seconds})
            self._after_write(lib)

    def _after_write(self, lib: Library) -> None:
        self.peopleChanged.emit(lib.people.list())
        self.statusChanged.emit(self._status(lib))
        # The reader's copy of the index is now stale: it reloads on its next search.
        self._reader.submit(self._drop_reader_index)

    def _drop_reader_index(self) -> None:
        lib = getattr(self._local, "library", None)
        if lib is not None:
            lib._index = None

    # -- reading ----------------------------------------------------------------------------------------------------
    def search(self, text: str | None, image: str | None = None, kind: str | None = None, only: bool = False) -> int:
        request = next(self._requests)
        self._run(self._reader, "search", self._search, request, text, image, kind, only)
        return request

    def _search(self, request, text, image, kind, only):
        from core.ranking import search

        outcome = search(self.library(), text, image, 500, kind, only)
        self.searchFinished.emit(request, outcome)

    def refresh(self) -> None:
        self._run(self._reader, "refresh", self._refresh)

    def _refresh(self) -> None:
        lib = self.library()
        self.statusChanged.emit(self._status(lib))
        self.peopleChanged.emit(lib.people.list())
        self.browseReady.emit(self._browse(lib))

    def _browse(self, lib: Library) -> list[dict]:
        from core import catalog as cat

        rows = lib.catalog.db.execute(
            "SELECT id, path, kind, duration, fingerprint, captured_at FROM media WHERE status = ? "
            "ORDER BY coalesce(captured_at, '') DESC, id DESC", [cat.INDEXED]).fetchall()
        return [{"media_id": r[0], "path": r[1], "kind": r[2], "duration": r[3], "fingerprint": r[4],
                 "captured_at": r[5], "timestamp": None, "score": None, "why": {}} for r in rows]

    def _status(self, lib: Library) -> dict:
        c = lib.catalog
        roots = []
        from core.catalog import UNDER, db_path, under_bounds

        for root in c.roots():
            n = c.db.execute(f"SELECT count(*), sum(status = 'error') FROM media WHERE path = CAST(? AS TEXT) OR "
                             f"{UNDER}", [db_path(root), *under_bounds(root)]).fetchone()
            roots.append({"path": root, "files": n[0] or 0, "errors": n[1] or 0})
        errors = [{"path": m.path, "error": m.error} for m in c.iter_media("status = 'error'")]
        from core.embedder import weights_available

        return {"counts": c.counts(), "roots": roots, "errors": errors, "model": lib.model_spec,
                "test_model": lib.embedder.is_test_model, "vectors": c.item_count(),
                "weights_available": weights_available(lib.model_spec, models_dir()),
                "thumbnails": str(lib.thumbnails.root)}

    def download_model(self) -> None:
        """Load the library's model, downloading its weights first if needed (errors: one clear message)."""
        def op():
            lib = self.library()
            lib.embedder.load()
            self.modelReady.emit(lib.model_spec)
        self._run(self._writer, "downloading the model", op)

    # -- people (writes) --------------------------------------------------------------------------------------------
    def people_do(self, what: str, fn_name: str, *args) -> None:
        """Run a People operation on the writer thread, then publish the new people list."""
        def op():
            lib = self.library()
            getattr(lib.people, fn_name)(*args)
            self._after_write(lib)
        self._run(self._writer, what, op)

    def faces_of(self, person_id: int, callback) -> None:
        self._run(self._reader, "faces", lambda: callback(self.library().people.faces_of(person_id)))

    def suggestions(self, person_id: int, callback) -> None:
        self._run(self._reader, "suggestions", lambda: callback(self.library().people.suggest(person_id, 50)))

    def faces_in(self, media_id: int, callback) -> None:
        def read():
            db = self.library().catalog.db
            rows = db.execute("SELECT f.id, f.x, f.y, f.w, f.h, f.timestamp, p.name, f.person_id FROM faces f "
                              "LEFT JOIN people p ON p.id = f.person_id WHERE f.media_id = ?", [media_id]).fetchall()
            callback([dict(zip(("id", "x", "y", "w", "h", "timestamp", "name", "person_id"), r)) for r in rows])
        self._run(self._reader, "faces", read)

    def forget(self, paths: list[str]) -> None:
        def op():
            lib = self.library()
            for p in paths:
                lib.forget(p)
            self._after_write(lib)
            self.browseReady.emit(self._browse(lib))
        self._run(self._writer, "forget", op)

    def crop_path(self, face_id: int) -> Path:
        from core.settings import cache_dir

        return cache_dir() / "faces" / f"{face_id // 1000:04}" / f"{face_id}.jpg"

    def thumbnail_path(self, fingerprint: str, timestamp: float | None = None) -> Path:
        from core.settings import cache_dir
        from core.thumbnails import ThumbnailCache

        return ThumbnailCache(cache_dir() / "thumbnails").path_for(fingerprint, timestamp)
