"""File paths as SQL binds them.

File names need not be valid UTF-8 (Linux allows any bytes); Python carries such bytes as lone surrogates, which
SQLite's UTF-8 text refuses. Those paths are bound as their raw bytes and CAST to TEXT in the SQL, and read back
through `surrogateescape` (see Catalog), so every file keeps its exact name.
"""
from __future__ import annotations

import logging
import os

from ..paths import inside_range

log = logging.getLogger(__name__)

# "Inside this folder" as a range of the path index (core.paths.inside_range: every "dir/..." sorts between "dir/"
# and "dir0", byte by byte, whatever the bytes of the names are). A range, not LIKE: no character of a name is a
# wildcard ("100%_holiday" holds nothing of "100x holiday"), and the path index serves it.
UNDER = "(path >= CAST(? AS TEXT) AND path < CAST(? AS TEXT))"
# The folder itself or inside it: core.paths.is_under, in SQL. Binds at_or_under(folder).
AT_OR_UNDER = f"(path = CAST(? AS TEXT) OR {UNDER})"


def under_bounds(folder: str) -> tuple:
    """The binds of UNDER."""
    return tuple(db_path(bound) for bound in inside_range(folder))


def at_or_under(folder: str) -> tuple:
    """The binds of AT_OR_UNDER."""
    return db_path(folder.rstrip("/") or "/"), *under_bounds(folder)


def db_path(path: str) -> str | bytes:
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return os.fsencode(path)


def chunks(seq: list, n: int = 500):
    """SQLite caps the number of parameters of one statement: long id lists go in slices."""
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def marks(n: int) -> str:
    return ",".join("?" * n)
