"""Typed rows the catalog hands out. Plain dataclasses: no connection behind them, safe to pass between threads."""
from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import sqlite_utils

log = logging.getLogger(__name__)

# Media status values.
PENDING = "pending"      # found, not embedded yet (or changed since)
INDEXED = "indexed"      # embedded with the library's model
ERROR = "error"          # could not be read; `error` says why
MISSING = "missing"      # gone from disk at the last scan; kept so a move or a re-attached drive restores it
OFFLINE = "offline"      # under a library folder that could not be reached (an unplugged drive): kept whole, not
                         # searched until the folder is back, then restored without re-embedding


@dataclass
class Media:
    id: int
    path: str
    kind: str
    size: int
    mtime_ns: int
    fingerprint: str
    status: str
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    captured_at: str | None = None
    error: str | None = None
    added_at: float | None = None
    indexed_at: float | None = None
    faces_backend: str | None = None
    faces_error: str | None = None   # the face analysis failed (the file is searchable; faces are retried)
    error_detail: str | None = None        # the library's own words behind `error` (None: `error` says all)
    faces_error_detail: str | None = None  # the same for `faces_error`
    regions_read: str | None = None        # the XMP sources whose face names were imported (core.faces.regions)
    regions_error: str | None = None       # they could not be read (the file is searchable; read again next run)
    regions_error_detail: str | None = None


@dataclass
class Hit:
    """What a vector-index label points at."""
    label: int
    media_id: int
    path: str
    kind: str
    timestamp: float | None
    duration: float | None


@dataclass
class Person:
    id: int
    name: str | None
    hidden: bool
    faces: int
    media: int
    confirmed: int
    cover_face: int | None
    aliases: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name or f"Unnamed #{self.id}"

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "hidden": self.hidden, "faces": self.faces, "media": self.media,
                "confirmed": self.confirmed, "cover_face": self.cover_face, "aliases": self.aliases}


@dataclass
class FaceSighting:
    """A face of a person in a library file, as search and review need it."""
    face_id: int
    media_id: int
    timestamp: float | None
    confirmed: bool
    embedding: np.ndarray
    path: str = ""
    kind: str = "image"
    duration: float | None = None
    person_id: int | None = None
    track_start: float | None = None   # the appearance (video track) this face belongs to
    track_end: float | None = None


def inserted(db: sqlite_utils.Database, table: str, row: dict) -> int:
    """Insert `row` into `table`; its new id. (sqlite_utils types `last_pk` as Any | None: None only when nothing
    was inserted, which a plain insert never does.)"""
    return rowid(db.table(table).insert(row).last_pk)


def rowid(value: int | None) -> int:
    """The id an INSERT gave (`cursor.lastrowid`, `Table.last_pk`), typed: one is there after every insert."""
    if value is None:
        raise sqlite3.InterfaceError("the insert reported no row id")
    return int(value)


def blob(vector) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def vec(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.float32)


def stack(rows, dim: int = 128) -> np.ndarray:
    """Embedding blobs as one (n, dim) matrix (an empty one when there are none)."""
    rows = list(rows)
    return np.stack([vec(r) for r in rows]) if rows else np.empty((0, dim), np.float32)
