"""The catalog: one SQLite database (WAL) that is the source of truth for a library, and the only place in Idlens
that holds SQL. Every statement lives in this package, in the repository of the data it is about:

- `catalog.meta`    key/value facts of the library (its model, the vector index generation)
- `catalog.media`   folders, files and sampled video frames
- `catalog.items`   CLIP models and the searchable vectors (photos and video frames)
- `catalog.faces`   faces, video tracks and "not this person" answers
- `catalog.people`  people and their names
- `catalog.journal` the user's decisions about people, with the rows each changed (undo, redo, history)

The vector index is a cache rebuilt from the vectors stored here, so a crash between the two never loses work.
Schema changes are one migration per version (`schema.py`).
"""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path

import sqlite_utils

from . import health
from . import backups as backups_module
from .backups import Backup, Backups
from .decision_log import MARGIN, DecisionLog
from .errors import CatalogError
from .faces import FaceRepository
from .items import ItemRepository
from .journal import JournalRepository
from .media import MediaRepository
from .meta import MetaRepository
from .people import PeopleRepository
from .schema import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)


class Catalog:
    """Opens only a healthy catalog (or creates a new one where there is none): a damaged file raises
    `CatalogDamaged` before SQLite writes a byte to it. `read_only` (for `idlens doctor`) neither migrates nor writes."""

    def __init__(self, path: Path, backups: Backups | None = None, read_only: bool = False):
        self.path = Path(path)
        self.backups = backups
        self.decision_log = DecisionLog(backups.folder) if backups is not None else None
        if not read_only and not self.path.exists():
            self._create()
        problem = health.problem(self.path)
        if problem:
            raise health.CatalogDamaged(self.path, problem)
        if read_only:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False,
                                   isolation_level=None)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False, isolation_level=None)
        conn.text_factory = lambda b: b.decode("utf-8", "surrogateescape")  # see paths.db_path
        self.db = sqlite_utils.Database(conn)
        self.read_only = read_only
        if not read_only:
            try:
                self.db.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as e:
                if "readonly" not in str(e).replace("-", "").replace(" ", ""):
                    raise
                conn = self._open_read_only(conn)  # a library on a read-only disk or folder: it can still be read
            if not self.read_only:
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.execute("PRAGMA foreign_keys=ON")
                self._migrate()
        self._changes_backed_up = conn.total_changes
        self.closed = False
        self.meta = MetaRepository(self.db)
        self.media = MediaRepository(self.db)
        self.items = ItemRepository(self.db, self.meta)
        self.faces = FaceRepository(self.db)
        self.people = PeopleRepository(self.db)
        self.journal = JournalRepository(self.db)

    def _open_read_only(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        """The catalog cannot be written (its folder or file is read-only): opened for reading instead, so that
        search and listings work; a write then fails with SQLite's "readonly" error, which the front ends word as
        such. Without a -wal beside it nobody writes it (a writer would have made one), so it is read as immutable:
        SQLite needs neither a -shm nor a lock file then."""
        conn.close()
        wal = self.path.with_name(self.path.name + "-wal")
        flags = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
        conn = sqlite3.connect(f"file:{self.path}?{flags}", uri=True, check_same_thread=False, isolation_level=None)
        conn.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
        self.db = sqlite_utils.Database(conn)
        self.read_only = True
        if self.schema_version < SCHEMA_VERSION:
            conn.close()
            raise CatalogError(f"{self.path} was written by an older Idlens and must be upgraded, but it cannot be "
                               "written (a read-only disk or folder): make it writable and try again")
        log.info("%s cannot be written: opened read-only", self.path)
        return conn

    def _create(self) -> None:
        """A new catalog appears whole or not at all: SQLite makes an empty file at connect and writes its header
        later, and an empty catalog file is what a damaged one looks like (another thread or process opening the
        library meanwhile would refuse it). So it is built aside and linked into place, which fails if another
        opener was first (then theirs is used)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.new")
        conn = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            self.db = sqlite_utils.Database(conn)
            self.db.execute("PRAGMA journal_mode=WAL")
            backups, self.backups = self.backups, None
            self._migrate()
            self.backups = backups
        finally:
            conn.close()
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            pass
        except OSError:  # no hard links on this filesystem (FAT, exFAT, some shares): a rename, unless one appeared
            if not self.path.exists():
                os.replace(tmp, self.path)
        finally:
            tmp.unlink(missing_ok=True)

    def close(self) -> None:
        self.closed = True
        self.db.conn.close()

    def _migrate(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise CatalogError(
                f"{self.path} was written by a newer Idlens (schema {version}, this one knows {SCHEMA_VERSION}); "
                "update Idlens to open it."
            )
        if 0 < version < SCHEMA_VERSION:
            self.backup(f"before-schema-{SCHEMA_VERSION}")
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self.transaction():
                if self.schema_version >= target:
                    continue  # another connection (the app's other thread) migrated it meanwhile
                MIGRATIONS[target](self.db)
                self.db.execute(f"PRAGMA user_version={target}")

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def data_version(self) -> int:
        """A number that changes when another connection (another thread, the CLI beside the app) has committed
        since this connection last looked: cheap enough to ask every few seconds (SQLite's data_version)."""
        return self.db.execute("PRAGMA data_version").fetchone()[0]

    def backup(self, reason: str) -> Backup | None:
        """A verified copy of the catalog before a risky operation (`reason`: "before-<what>"). None for a library
        without a backups folder (tests of the store alone); raises CatalogError when the copy cannot be made, so the
        operation does not start without it."""
        if self.backups is None:
            return None
        taken = self.backups.take(self.db.conn, reason)
        self._changes_backed_up = self.db.conn.total_changes
        log.info("catalog backed up: %s", taken.path)
        self._prune_decision_log()
        return taken

    def log_decision(self, decision_id: int, backwards: bool = False) -> None:
        """After a decision (or its undo) committed: what it left, appended to the decision log beside the backups
        and on disk before this returns, so that a catalog destroyed before the next backup loses none of it
        (core.store.decision_log). A log that cannot be written is a warning: the decision is in the catalog."""
        if self.decision_log is None:
            return
        try:
            entry = self.journal.recovery_entry(decision_id, backwards)
            if entry is not None:
                self.decision_log.append(entry)
        except OSError as e:
            log.warning("could not write the decision log %s (%s): the decision is saved in the catalog, and in "
                        "the next backup", self.decision_log.path, e)

    def _prune_decision_log(self) -> None:
        """Lines older than the two newest backups: in both, never needed again."""
        if self.decision_log is None or self.backups is None:
            return
        newest = self.backups.list()[:2]
        if len(newest) == 2:
            try:
                self.decision_log.prune(newest[-1].taken_at - MARGIN)
            except OSError as e:
                log.warning("could not prune the decision log %s: %s", self.decision_log.path, e)

    def backup_if_due(self, closing: bool = False) -> Backup | None:
        """The daily backup: when this connection changed the catalog since its last copy and no copy of today is
        recent (Backups.daily_due). A failure is logged, never raised: the work it follows is already saved."""
        if self.backups is None or self.closed or self.db.conn.total_changes == self._changes_backed_up:
            return None
        if not self.backups.daily_due(backups_module.CLOSING if closing else backups_module.REFRESH):
            return None
        try:
            taken = self.backup("daily")
        except CatalogError as e:
            log.warning("%s", e)
            return None
        if taken is not None:
            self.backups.replace_todays(taken)
        return taken

    def transaction(self):
        """`with catalog.transaction():` — one atomic write (the connection is in autocommit mode otherwise)."""
        return _Transaction(self.db.conn)

    @property
    def library_model(self) -> str | None:
        """The model whose vectors this library holds (None until the first embedding)."""
        return self.meta.get("model")

    def set_library_model(self, spec: str | None) -> None:
        self.meta.set("model", spec)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT/ROLLBACK; immediate so a second writer waits at the start, not mid-way."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, exc_type, exc, tb):
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
        return False
