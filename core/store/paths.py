"""File paths as SQL binds them.

File names need not be valid UTF-8 (Linux allows any bytes); Python carries such bytes as lone surrogates, which
SQLite's UTF-8 text refuses. Those paths are bound as their raw bytes and CAST to TEXT in the SQL, and read back
through `surrogateescape` (see Catalog), so every file keeps its exact name.
"""
from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

# "Below this folder" as a range of the path index: every "dir/..." sorts between "dir/" and "dir0" ('0' follows
# '/'), byte by byte, whatever the bytes of the names are.
UNDER = "(path >= CAST(? AS TEXT) AND path < CAST(? AS TEXT))"


def under_bounds(folder: str) -> tuple:
    base = folder.rstrip("/")
    return db_path(base + "/"), db_path(base + "0")


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
