"""Is this file a healthy Idlens catalog? Asked before SQLite is allowed to write to it.

SQLite happily turns a 0-byte file into a new, empty database, and a truncated one fails only when a query reaches
the missing pages — so a damaged catalog used to become an empty library, and every name in it was gone. These checks
read the file's header and its table list without writing a byte; `integrity()` is the full (slow) check that
`idlens doctor` and every backup run.
"""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from .errors import CatalogError

# The tables each schema version has; a catalog missing one of them lost part of its data.
TABLES = {
    1: {"roots", "excluded", "media", "frames", "models", "items", "meta"},
    2: {"people", "tracks", "faces", "rejections"},
    4: {"aliases"},
    6: {"decisions", "decision_changes", "face_groups"},
}


class CatalogDamaged(CatalogError):
    """The catalog cannot be opened as a healthy Idlens catalog; nothing was written to it."""

    def __init__(self, path: Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"the catalog {self.path} is damaged: {problem}. It was left as it is; "
                         "`idlens doctor --repair` restores the last backup (`idlens doctor` checks the library)")


def expected_tables(version: int) -> set[str]:
    return set().union(*(tables for v, tables in TABLES.items() if v <= version))


def problem(path: Path) -> str | None:
    """Why `path` cannot be opened as an Idlens catalog, or None when it can (or does not exist yet).
    Cheap: SQLite reads the header and the table list, never the data pages.

    The file is only ever opened through SQLite. Closing any descriptor of a file drops every POSIX lock this
    process holds on it, SQLite's included ("How To Corrupt An SQLite Database File", 2.2): a plain `open()` and
    `close()` here made the next process to close its connection believe it was the last, and delete the WAL that
    this process's other connections were still writing to. SQLite's own connections defer such closes."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"cannot be read: {e.strerror or e}"
    if size == 0:
        return "empty file (0 bytes)"
    try:
        version, tables = _header_and_tables(path)
    except sqlite3.DatabaseError as e:
        text = str(e).lower()
        if "not a database" in text:
            return "not an SQLite database"
        if "malformed" in text:
            return f"truncated or damaged ({size} bytes on disk; SQLite: {e})"
        return f"unreadable: {e}"
    if version == 0:
        return "not an Idlens catalog" if tables else None
    missing = expected_tables(version) - tables
    if missing:
        return f"tables missing: {', '.join(sorted(missing))}"
    return None


def _header_and_tables(path: Path) -> tuple[int, set[str]]:
    """The schema version and the table names, read without creating or changing any file. With a WAL beside the
    catalog, SQLite reads the two together (the newest tables may live in the WAL only). Without one the file holds
    everything, and it is opened `immutable` so that SQLite makes no -wal/-shm beside a file it may find damaged
    (and takes no lock); if that read fails because a WAL appeared meanwhile, it is read again with the WAL."""
    def read(mode: str) -> tuple[int, set[str]]:
        conn = sqlite3.connect(f"file:{path}?{mode}", uri=True)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            # Reading the table list makes SQLite compare the page count in the header with the file (and its WAL):
            # a truncated file fails here, before anything is written.
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            return version, tables
        finally:
            conn.close()

    def wal_exists() -> bool:  # any WAL, even empty: a connection of this process may be holding it open
        return Path(f"{path}-wal").exists()

    if wal_exists():
        return read("mode=ro")
    try:
        return read("immutable=1")
    except sqlite3.DatabaseError:
        if wal_exists():
            return read("mode=ro")
        raise


def integrity(path: Path) -> list[str]:
    """SQLite's full integrity check (every page, every index): [] when healthy, else what it found (at most 10)."""
    found = problem(path)
    if found:
        return [found]
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = [r[0] for r in conn.execute("PRAGMA integrity_check(10)")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        return [str(e)]
    return [] if rows == ["ok"] else rows


def is_damage(error: sqlite3.DatabaseError) -> bool:
    """SQLite's words for a damaged file (as opposed to a full disk or a busy database)."""
    text = str(error).lower()
    return any(w in text for w in ("malformed", "not a database", "corrupt"))


def side_files(path: Path) -> list[Path]:
    """The catalog with its WAL and shared-memory files: they travel together."""
    path = Path(path)
    return [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if os.path.lexists(p)]
