"""The catalog: one SQLite database (WAL) that is the source of truth for a library.

Everything about the database lives in this module. The vector index is a cache rebuilt from the vectors stored
here, so a crash between the two never loses work. Schema changes are one migration function per version.
"""
from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sqlite_utils

SCHEMA_VERSION = 2

# Media status values.
PENDING = "pending"      # found, not embedded yet (or changed since)
INDEXED = "indexed"      # embedded with the library's model
ERROR = "error"          # could not be read; `error` says why
MISSING = "missing"      # gone from disk at the last scan; kept so a move or a re-attached drive restores it


class CatalogError(Exception):
    pass


# "Below this folder" as a range of the path index: every "dir/..." sorts between "dir/" and "dir0" ('0' follows
# '/'), byte by byte, whatever the bytes of the names are.
UNDER = "(path >= CAST(? AS TEXT) AND path < CAST(? AS TEXT))"


def under_bounds(folder: str) -> tuple:
    base = folder.rstrip("/")
    return db_path(base + "/"), db_path(base + "0")


def db_path(path: str) -> str | bytes:
    """A path as SQL binds it. File names need not be valid UTF-8 (Linux allows any bytes); Python carries such
    bytes as lone surrogates, which SQLite's UTF-8 text refuses. Those paths are bound as their raw bytes and
    CAST to TEXT in the SQL, and read back through `surrogateescape`, so every file keeps its exact name."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return os.fsencode(path)


def _migrate_1(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE roots (
            path TEXT PRIMARY KEY,
            added_at REAL NOT NULL
        );
        -- Files or folders the user removed from the library: scans pass them by until they are indexed again.
        CREATE TABLE excluded (
            path TEXT PRIMARY KEY,
            added_at REAL NOT NULL
        );
        CREATE TABLE media (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL CHECK (kind IN ('image', 'video')),
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            fingerprint TEXT NOT NULL,
            width INTEGER,
            height INTEGER,
            duration REAL,
            captured_at TEXT,
            status TEXT NOT NULL,
            error TEXT,
            added_at REAL NOT NULL,
            indexed_at REAL
        );
        CREATE INDEX media_fingerprint ON media(fingerprint);
        CREATE INDEX media_status ON media(status);
        CREATE TABLE frames (
            id INTEGER PRIMARY KEY,
            media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
            timestamp REAL NOT NULL,
            scene_change INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX frames_media ON frames(media_id);
        CREATE TABLE models (
            id INTEGER PRIMARY KEY,
            spec TEXT NOT NULL UNIQUE,
            dim INTEGER NOT NULL,
            created_at REAL NOT NULL
        );
        -- A searchable item: a photo, or one sampled frame of a video. `label` is its id in the vector index.
        CREATE TABLE items (
            label INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a label stays one item forever
            media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
            frame_id INTEGER REFERENCES frames(id) ON DELETE CASCADE,
            model_id INTEGER NOT NULL REFERENCES models(id),
            vector BLOB NOT NULL
        );
        CREATE INDEX items_media ON items(media_id);
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT
        );
        """
    )


def _migrate_2(db: sqlite_utils.Database) -> None:
    """Faces and people. A face belongs to a photo or to a sampled video frame; faces of one person seen in
    consecutive frames form a track. `confirmed` marks the user's own decisions, which automatic clustering never
    undoes; `rejections` remembers "not this person" for good."""
    db.executescript(
        """
        ALTER TABLE media ADD COLUMN faces_backend TEXT;  -- the recogniser that analysed this file, if any
        CREATE TABLE people (
            id INTEGER PRIMARY KEY,
            name TEXT,
            hidden INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL
        );
        CREATE UNIQUE INDEX people_name ON people(name COLLATE NOCASE) WHERE name IS NOT NULL;
        CREATE TABLE tracks (
            id INTEGER PRIMARY KEY,
            media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
            start REAL NOT NULL,
            end REAL NOT NULL
        );
        CREATE TABLE faces (
            id INTEGER PRIMARY KEY,
            media_id INTEGER REFERENCES media(id) ON DELETE CASCADE,  -- NULL: a reference photo outside the library
            frame_id INTEGER REFERENCES frames(id) ON DELETE CASCADE,
            track_id INTEGER REFERENCES tracks(id) ON DELETE SET NULL,
            timestamp REAL,
            x REAL NOT NULL, y REAL NOT NULL, w REAL NOT NULL, h REAL NOT NULL,  -- pixels of the upright original
            landmarks BLOB NOT NULL,
            score REAL NOT NULL,
            size REAL NOT NULL,        -- short side of the box, in the pixels the recogniser saw
            sharpness REAL NOT NULL,
            usable INTEGER NOT NULL,   -- big, sharp and certain enough to found or join a person
            embedding BLOB NOT NULL,
            backend TEXT NOT NULL,
            person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
            confirmed INTEGER NOT NULL DEFAULT 0,
            source TEXT,               -- for reference faces: the photo they came from
            created_at REAL NOT NULL
        );
        CREATE INDEX faces_media ON faces(media_id);
        CREATE INDEX faces_person ON faces(person_id);
        CREATE INDEX faces_track ON faces(track_id);
        CREATE TABLE rejections (
            face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
            person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
            PRIMARY KEY (face_id, person_id)
        );
        """
    )


MIGRATIONS = {1: _migrate_1, 2: _migrate_2}


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


@dataclass
class Hit:
    """What a vector-index label points at."""
    label: int
    media_id: int
    path: str
    kind: str
    timestamp: float | None
    duration: float | None


class Catalog:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False, isolation_level=None)
        conn.text_factory = lambda b: b.decode("utf-8", "surrogateescape")  # see db_path
        self.db = sqlite_utils.Database(conn)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def close(self) -> None:
        self.db.conn.close()

    # -- schema ---------------------------------------------------------------------------------------------------
    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise CatalogError(
                f"{self.path} was written by a newer Idlens (schema {version}, this one knows {SCHEMA_VERSION}); "
                "update Idlens to open it."
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self.transaction():
                MIGRATIONS[target](self.db)
                self.db.execute(f"PRAGMA user_version={target}")

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def transaction(self):
        """`with catalog.transaction():` — one atomic write (the connection is in autocommit mode otherwise)."""
        return _Transaction(self.db.conn)

    # -- meta -----------------------------------------------------------------------------------------------------
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str | None) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", [key, value])

    # -- roots ----------------------------------------------------------------------------------------------------
    def add_root(self, path: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO roots(path, added_at) VALUES (CAST(? AS TEXT), ?)",
                        [db_path(path), time.time()])

    def remove_root(self, path: str) -> None:
        self.db.execute("DELETE FROM roots WHERE path = CAST(? AS TEXT)", [db_path(path)])

    def roots(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT path FROM roots ORDER BY path")]

    def exclude(self, path: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO excluded(path, added_at) VALUES (CAST(? AS TEXT), ?)",
                        [db_path(path), time.time()])

    def include(self, path: str) -> None:
        """Indexing a path again lifts the exclusions at or below it."""
        self.db.execute(f"DELETE FROM excluded WHERE path = CAST(? AS TEXT) OR {UNDER}",
                        [db_path(path), *under_bounds(path)])

    def excluded(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT path FROM excluded")}

    # -- models ---------------------------------------------------------------------------------------------------
    def model_id(self, spec: str, dim: int) -> int:
        row = self.db.execute("SELECT id, dim FROM models WHERE spec = ?", [spec]).fetchone()
        if row:
            if row[1] != dim:
                raise CatalogError(f"model {spec} was recorded with dimension {row[1]}, now {dim}")
            return row[0]
        cur = self.db.execute("INSERT INTO models(spec, dim, created_at) VALUES (?, ?, ?)", [spec, dim, time.time()])
        return cur.lastrowid

    def model_dim(self, spec: str) -> int | None:
        row = self.db.execute("SELECT dim FROM models WHERE spec = ?", [spec]).fetchone()
        return row[0] if row else None

    @property
    def library_model(self) -> str | None:
        """The model whose vectors this library holds (None until the first embedding)."""
        return self.get_meta("model")

    def set_library_model(self, spec: str | None) -> None:
        self.set_meta("model", spec)

    # -- media ----------------------------------------------------------------------------------------------------
    def media_by_path(self, path: str) -> Media | None:
        row = self.db.execute("SELECT * FROM media WHERE path = CAST(? AS TEXT)", [db_path(path)]).fetchone()
        return self._media(row) if row else None

    def media(self, media_id: int) -> Media | None:
        row = self.db.execute("SELECT * FROM media WHERE id = ?", [media_id]).fetchone()
        return self._media(row) if row else None

    def _media(self, row) -> Media:
        if not hasattr(self, "_media_columns"):
            self._media_columns = [d[0] for d in self.db.execute("SELECT * FROM media LIMIT 0").description]
        return Media(**dict(zip(self._media_columns, row)))

    def iter_media(self, where: str = "1", params: Iterable = (), order: str = "path") -> Iterator[Media]:
        cur = self.db.execute(f"SELECT * FROM media WHERE {where} ORDER BY {order}", list(params))
        cols = [d[0] for d in cur.description]
        for row in cur:
            yield Media(**dict(zip(cols, row)))

    def known_files(self, under: str) -> dict[str, tuple[int, int, int, str]]:
        """path -> (id, size, mtime_ns, status) for every media row at or below a folder: one query per scan."""
        cur = self.db.execute(
            f"SELECT path, id, size, mtime_ns, status FROM media WHERE path = CAST(? AS TEXT) OR {UNDER}",
            [db_path(under), *under_bounds(under)],
        )
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in cur}

    def add_media(self, path: str, kind: str, size: int, mtime_ns: int, fingerprint: str) -> int:
        cur = self.db.execute(
            "INSERT INTO media(path, kind, size, mtime_ns, fingerprint, status, added_at) "
            "VALUES (CAST(? AS TEXT),?,?,?,?,?,?)",
            [db_path(path), kind, size, mtime_ns, fingerprint, PENDING, time.time()],
        )
        return cur.lastrowid

    def find_moved(self, fingerprint: str, size: int) -> Media | None:
        """A row whose file vanished and whose content matches: the same photo under a new name or folder.
        Its old folder may not be part of this scan (a whole album moved to another disk), so a row counts as
        vanished when it is marked missing or when its path no longer exists."""
        rows = self.db.execute(
            "SELECT * FROM media WHERE fingerprint = ? AND size = ? ORDER BY status != ?, id",
            [fingerprint, size, MISSING],
        ).fetchall()
        for row in rows:
            media = self._media(row)
            if media.status == MISSING or not os.path.lexists(media.path):
                return media
        return None

    def update_media(self, media_id: int, **fields) -> None:
        sets = ", ".join(f"{k} = CAST(? AS TEXT)" if k == "path" else f"{k} = ?" for k in fields)
        values = [db_path(v) if k == "path" else v for k, v in fields.items()]
        self.db.execute(f"UPDATE media SET {sets} WHERE id = ?", [*values, media_id])

    def mark_changed(self, media_id: int, size: int, mtime_ns: int, fingerprint: str) -> list[int]:
        """The file's content changed: drop its vectors, queue it again. Returns the dropped labels."""
        labels = self.labels_of(media_id)
        self.clear_items(media_id)
        # Faces stay until the new ones are found: the user's decisions then carry over to the same faces.
        self.update_media(media_id, size=size, mtime_ns=mtime_ns, fingerprint=fingerprint, status=PENDING,
                          error=None, indexed_at=None, faces_backend=None)
        return labels

    def set_missing(self, media_ids: list[int]) -> None:
        self.db.conn.executemany("UPDATE media SET status = ? WHERE id = ?", [(MISSING, i) for i in media_ids])

    def delete_media(self, media_ids: list[int]) -> None:
        self.db.conn.executemany("DELETE FROM media WHERE id = ?", [(i,) for i in media_ids])

    def pending(self) -> list[Media]:
        return list(self.iter_media("status = ?", [PENDING], order="id"))

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for kind, status, n in self.db.execute("SELECT kind, status, count(*) FROM media GROUP BY kind, status"):
            out.setdefault(kind, {})[status] = n
        return out

    # -- items (searchable vectors) ---------------------------------------------------------------------------------
    def labels_of(self, media_id: int) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT label FROM items WHERE media_id = ?", [media_id])]

    def labels_of_many(self, media_ids: list[int]) -> list[int]:
        out: list[int] = []
        for chunk in _chunks(media_ids, 500):
            q = ",".join("?" * len(chunk))
            out += [r[0] for r in self.db.execute(f"SELECT label FROM items WHERE media_id IN ({q})", chunk)]
        return out

    def clear_items(self, media_id: int) -> list[int]:
        """Drop a file's vectors (and its frames that no face needs). Returns the dropped labels."""
        labels = self.labels_of(media_id)
        self.db.execute("DELETE FROM items WHERE media_id = ?", [media_id])
        self.db.execute("DELETE FROM frames WHERE media_id = ? AND id NOT IN "
                        "(SELECT frame_id FROM faces WHERE frame_id IS NOT NULL)", [media_id])
        return labels

    def add_frame(self, media_id: int, timestamp: float, scene_change: bool) -> int:
        """The frame row at this time, reused if it exists (a re-embedding keeps the frames faces point at)."""
        row = self.db.execute("SELECT id FROM frames WHERE media_id = ? AND abs(timestamp - ?) < 0.0005",
                              [media_id, timestamp]).fetchone()
        if row:
            return row[0]
        cur = self.db.execute("INSERT INTO frames(media_id, timestamp, scene_change) VALUES (?,?,?)",
                              [media_id, timestamp, int(scene_change)])
        return cur.lastrowid

    def add_item(self, media_id: int, frame_id: int | None, model_id: int, vector: np.ndarray) -> int:
        blob = np.asarray(vector, dtype=np.float32).tobytes()
        cur = self.db.execute("INSERT INTO items(media_id, frame_id, model_id, vector) VALUES (?,?,?,?)",
                              [media_id, frame_id, model_id, blob])
        return cur.lastrowid

    def live_labels(self) -> np.ndarray:
        """Labels that search may return: items of the library's model whose media are indexed and present."""
        cur = self.db.execute(
            "SELECT items.label FROM items JOIN media ON media.id = items.media_id "
            "JOIN models ON models.id = items.model_id WHERE media.status = ? AND models.spec = ?",
            [INDEXED, self.library_model or ""],
        )
        return np.fromiter((r[0] for r in cur), dtype=np.int64)

    def vectors(self, labels: np.ndarray, dim: int) -> np.ndarray:
        out = np.empty((len(labels), dim), dtype=np.float32)
        pos = {int(l): i for i, l in enumerate(labels)}
        for chunk in _chunks([int(x) for x in labels], 500):
            q = ",".join("?" * len(chunk))
            for label, blob in self.db.execute(f"SELECT label, vector FROM items WHERE label IN ({q})", chunk):
                out[pos[label]] = np.frombuffer(blob, dtype=np.float32)
        return out

    def resolve(self, labels: Iterable[int]) -> dict[int, Hit]:
        labels = [int(x) for x in labels]
        out: dict[int, Hit] = {}
        for chunk in _chunks(labels, 500):
            q = ",".join("?" * len(chunk))
            cur = self.db.execute(
                # CROSS JOIN keeps SQLite on the labels' primary key first; left to itself it may walk every
                # indexed media row (measured: 190 ms instead of 1 ms at 10k photos).
                "SELECT items.label, media.id, media.path, media.kind, frames.timestamp, media.duration "
                "FROM items CROSS JOIN media ON media.id = items.media_id "
                "LEFT JOIN frames ON frames.id = items.frame_id "
                f"WHERE items.label IN ({q}) AND media.status = ?",
                [*chunk, INDEXED],
            )
            for row in cur:
                out[row[0]] = Hit(*row)
        return out

    def item_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM items").fetchone()[0]

    def frame_timestamps(self, media_id: int) -> list[float]:
        return [r[0] for r in self.db.execute(
            "SELECT timestamp FROM frames WHERE media_id = ? ORDER BY timestamp", [media_id])]


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


def _chunks(seq: list, n: int) -> Iterator[list]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]
