"""Is this file a healthy Idlens catalog? Asked before SQLite is allowed to write to it.

SQLite happily turns a 0-byte file into a new, empty database, and a truncated one fails only when a query reaches
the missing pages — so a damaged catalog used to become an empty library, and every name in it was gone. These checks
read the file's header and its table list without writing a byte; `integrity()` is the full (slow) check that
`idlens doctor` and every backup run.
"""
from __future__ import annotations

import os
import sqlite3
import struct
from pathlib import Path

from .errors import CatalogError

SQLITE_HEADER = b"SQLite format 3\x00"
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
    Cheap: reads the 100-byte header and the table list, never the data pages."""
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
        with open(path, "rb") as f:
            header = f.read(100)
    except OSError as e:
        return f"cannot be read: {e.strerror or e}"
    if len(header) < 100 or not header.startswith(SQLITE_HEADER):
        return "not an SQLite database"
    page_size = struct.unpack(">H", header[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    change_counter, page_count = struct.unpack(">II", header[24:32])
    valid_for = struct.unpack(">I", header[92:96])[0]
    wal = Path(f"{path}-wal")
    pages_in_wal = wal.exists() and wal.stat().st_size > 0  # a checkpoint cut short (disk full): the WAL has them
    if page_count and valid_for == change_counter and size < page_count * page_size and not pages_in_wal:
        return f"truncated: {size} bytes on disk, {page_count * page_size} expected"
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        return f"unreadable: {e}"
    if version == 0:
        return "not an Idlens catalog" if tables else None
    missing = expected_tables(version) - tables
    if missing:
        return f"tables missing: {', '.join(sorted(missing))}"
    return None


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
