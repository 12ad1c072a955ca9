"""Folders, files and sampled video frames."""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import sqlite_utils

from .paths import AT_OR_UNDER, at_or_under, chunks, db_path, marks
from .records import ERROR, INDEXED, MISSING, OFFLINE, PENDING, Media, rowid

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FolderSummary:
    files: int     # every file the catalog knows there, whatever its state
    errors: int    # could not be read
    indexed: int   # searchable, shown in the grid
    waiting: int   # found, not indexed yet (no model yet, or an index still to run)


class MediaRepository:
    def __init__(self, db: sqlite_utils.Database):
        self.db = db
        self._columns = [d[0] for d in db.execute("SELECT * FROM media LIMIT 0").description]

    # -- folders ----------------------------------------------------------------------------------------------------
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
        self.db.execute(f"DELETE FROM excluded WHERE {AT_OR_UNDER}", at_or_under(path))

    def excluded(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT path FROM excluded")}

    def folder_summary(self, folder: str) -> FolderSummary:
        """What the catalog knows at or below a folder: every file, and how many are indexed, waiting, unreadable."""
        n = self.db.execute(f"SELECT count(*), sum(status = ?), sum(status = ?), sum(status = ?) FROM media "
                            f"WHERE {AT_OR_UNDER}", [ERROR, INDEXED, PENDING, *at_or_under(folder)]).fetchone()
        return FolderSummary(n[0] or 0, n[1] or 0, n[2] or 0, n[3] or 0)

    # -- files ------------------------------------------------------------------------------------------------------
    def _row(self, row) -> Media:
        return Media(**dict(zip(self._columns, row)))

    def get(self, media_id: int) -> Media | None:
        row = self.db.execute("SELECT * FROM media WHERE id = ?", [media_id]).fetchone()
        return self._row(row) if row else None

    def by_path(self, path: str) -> Media | None:
        row = self.db.execute("SELECT * FROM media WHERE path = CAST(? AS TEXT)", [db_path(path)]).fetchone()
        return self._row(row) if row else None

    def by_fingerprint(self, fingerprint: str | None, path: str | None = None) -> int | None:
        """The library's copy of a file known elsewhere by its content (indexed first), else by its path."""
        row = self.db.execute("SELECT id FROM media WHERE fingerprint = ? ORDER BY status = ? DESC LIMIT 1",
                              [fingerprint, INDEXED]).fetchone()
        if row is None and path:
            row = self.db.execute("SELECT id FROM media WHERE path = CAST(? AS TEXT)", [db_path(path)]).fetchone()
        return row[0] if row else None

    def _select(self, where: str, params: Iterable = (), order: str = "path") -> Iterator[Media]:
        for row in self.db.execute(f"SELECT * FROM media WHERE {where} ORDER BY {order}", list(params)):
            yield self._row(row)

    def all(self) -> Iterator[Media]:
        return self._select("1")

    def with_status(self, status: str) -> list[Media]:
        return list(self._select("status = ?", [status]))

    def pending(self) -> list[Media]:
        return list(self._select("status = ?", [PENDING], order="id"))

    def needing_faces(self) -> list[Media]:
        """Indexed files whose faces were never analysed, or whose analysis failed: the next index retries them."""
        return list(self._select("status = ? AND faces_backend IS NULL", [INDEXED], order="id"))

    def face_failures(self) -> list[Media]:
        """Searchable files whose face analysis failed (the reason is in `faces_error`)."""
        return list(self._select("faces_error IS NOT NULL AND status != ?", [ERROR]))

    def regions_failures(self) -> list[Media]:
        """Searchable photos whose XMP names could not be read (the reason is in `regions_error`)."""
        return list(self._select("regions_error IS NOT NULL AND status != ?", [ERROR]))

    def indexed(self, ids: Iterable[int]) -> list[Media]:
        out: list[Media] = []
        for chunk in chunks(list(ids)):
            out += self._select(f"status = ? AND id IN ({marks(len(chunk))})", [INDEXED, *chunk])
        return out

    def browse(self) -> list[Media]:
        """Everything searchable, newest first (by capture date, then by when it was added)."""
        return list(self._select("status = ?", [INDEXED], order="coalesce(captured_at, '') DESC, id DESC"))

    def known_files(self, under: str) -> dict[str, tuple[int, int, int, str]]:
        """path -> (id, size, mtime_ns, status) for every media row at or below a folder: one query per scan."""
        cur = self.db.execute(
            f"SELECT path, id, size, mtime_ns, status FROM media WHERE {AT_OR_UNDER}", at_or_under(under),
        )
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in cur}

    def add(self, path: str, kind: str, size: int, mtime_ns: int, fingerprint: str) -> int:
        cur = self.db.execute(
            "INSERT INTO media(path, kind, size, mtime_ns, fingerprint, status, added_at) "
            "VALUES (CAST(? AS TEXT),?,?,?,?,?,?)",
            [db_path(path), kind, size, mtime_ns, fingerprint, PENDING, time.time()],
        )
        return rowid(cur.lastrowid)

    def add_many(self, rows: list[tuple[str, str, int, int, str, str]]) -> None:
        """(path, kind, size, mtime_ns, fingerprint, status) rows in one statement (benchmarks, imports)."""
        now = time.time()
        self.db.conn.executemany(
            "INSERT INTO media(path, kind, size, mtime_ns, fingerprint, status, added_at) "
            "VALUES (CAST(? AS TEXT),?,?,?,?,?,?)",
            [(db_path(p), k, size, mtime, fp, status, now) for p, k, size, mtime, fp, status in rows])

    def ids_by_path(self, paths: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk in chunks([db_path(p) for p in paths]):
            q = ",".join("CAST(? AS TEXT)" for _ in chunk)
            out.update({r[0]: r[1] for r in self.db.execute(f"SELECT path, id FROM media WHERE path IN ({q})", chunk)})
        return out

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM media").fetchone()[0]

    def find_moved(self, fingerprint: str, size: int) -> Media | None:
        """A row whose file is not at its path now and whose content matches: the same photo under a new name or
        folder. Its old folder may not be part of this scan (a whole album moved to another disk), so a row counts as
        vanished when it is marked missing, or when its path no longer exists — an offline one included: a folder
        moved while its old place could not be reached (the drive it was on is gone, or was renamed) looks offline
        to an index that ran in between. An offline row whose file is still at its path is another file (a copy)."""
        rows = self.db.execute(
            "SELECT * FROM media WHERE fingerprint = ? AND size = ? ORDER BY status != ?, status != ?, id",
            [fingerprint, size, MISSING, OFFLINE],
        ).fetchall()
        for row in rows:
            media = self._row(row)
            if media.status == MISSING or not os.path.lexists(media.path):
                return media
        return None

    def same_content(self, fingerprint: str, size: int) -> list[Media]:
        """Every row of this content (copies of one file, at any path and in any status), oldest first."""
        if not fingerprint:
            return []  # a file that could not be read has no fingerprint: it matches nothing
        return list(self._select("fingerprint = ? AND size = ?", [fingerprint, size], order="id"))

    def hand_over_faces(self, source: int, target: int) -> int:
        """The faces of file `source` become file `target`'s (its copy, whose faces were never analysed): with
        their ids, tracks and video times (frames of the same time in `target`, which its embedding then reuses),
        so every decision about them stays; `target`'s own analysis later passes them to its faces in the same
        place (core.faces.found). Inside the caller's transaction; returns the faces handed over."""
        for frame_id, timestamp, scene_change in self.db.execute(
                "SELECT DISTINCT fr.id, fr.timestamp, fr.scene_change FROM frames fr JOIN faces f ON "
                "f.frame_id = fr.id WHERE fr.media_id = ? AND f.media_id = ?", [source, source]).fetchall():
            new_frame = self.add_frame(target, timestamp, bool(scene_change))
            self.db.execute("UPDATE faces SET frame_id = ? WHERE frame_id = ? AND media_id = ?",
                            [new_frame, frame_id, source])
        self.db.execute("UPDATE tracks SET media_id = ? WHERE media_id = ?", [target, source])
        return self.db.execute("UPDATE faces SET media_id = ? WHERE media_id = ?", [target, source]).rowcount

    def update(self, media_id: int, **fields) -> None:
        unknown = set(fields) - set(self._columns)
        if unknown:
            raise ValueError(f"media has no columns {sorted(unknown)}")
        sets = ", ".join(f"{k} = CAST(? AS TEXT)" if k == "path" else f"{k} = ?" for k in fields)
        values = [db_path(v) if k == "path" else v for k, v in fields.items()]
        self.db.execute(f"UPDATE media SET {sets} WHERE id = ?", [*values, media_id])

    def set_missing(self, media_ids: list[int]) -> None:
        self.db.conn.executemany("UPDATE media SET status = ? WHERE id = ?", [(MISSING, i) for i in media_ids])

    def count_status(self, status: str) -> int:
        return self.db.execute("SELECT count(*) FROM media WHERE status = ?", [status]).fetchone()[0]

    def count_with_status(self, media_ids: list[int], status: str) -> int:
        n = 0
        for chunk in chunks(media_ids):
            n += self.db.execute(f"SELECT count(*) FROM media WHERE status = ? AND id IN ({marks(len(chunk))})",
                                 [status, *chunk]).fetchone()[0]
        return n

    def requeue(self, paths: list[str]) -> int:
        """Files that could not be read are tried again by the next index (the user fixed them, or asks anyway)."""
        n = 0
        for path in paths:
            n += self.db.execute("UPDATE media SET status = ?, error = NULL, error_detail = NULL "
                                 "WHERE path = CAST(? AS TEXT) AND status = ?", [PENDING, db_path(path), ERROR]).rowcount
        return n

    def set_offline(self, media_ids: list[int]) -> None:
        self.db.conn.executemany("UPDATE media SET status = ? WHERE id = ?", [(OFFLINE, i) for i in media_ids])

    def delete(self, media_ids: list[int]) -> None:
        self.db.conn.executemany("DELETE FROM media WHERE id = ?", [(i,) for i in media_ids])

    def queue_all_again(self) -> int:
        """Every file that was embedded (or failed) is pending again: a model change. Returns how many."""
        return self.db.execute("UPDATE media SET status = ?, indexed_at = NULL WHERE status IN (?, ?, ?)",
                               [PENDING, PENDING, INDEXED, ERROR]).rowcount

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for kind, status, n in self.db.execute("SELECT kind, status, count(*) FROM media GROUP BY kind, status"):
            out.setdefault(kind, {})[status] = n
        return out

    # -- video frames -----------------------------------------------------------------------------------------------
    def add_frame(self, media_id: int, timestamp: float, scene_change: bool) -> int:
        """The frame row at this time, reused if it exists (a re-embedding keeps the frames faces point at)."""
        row = self.db.execute("SELECT id FROM frames WHERE media_id = ? AND abs(timestamp - ?) < 0.0005",
                              [media_id, timestamp]).fetchone()
        if row:
            return row[0]
        cur = self.db.execute("INSERT INTO frames(media_id, timestamp, scene_change) VALUES (?,?,?)",
                              [media_id, timestamp, int(scene_change)])
        return rowid(cur.lastrowid)

    def frame_ids(self, media_id: int) -> dict[float, int]:
        """timestamp -> frame id of a video's frames."""
        return {t: fid for fid, t in self.db.execute("SELECT id, timestamp FROM frames WHERE media_id = ?",
                                                     [media_id])}

    def frame_timestamps(self, media_id: int) -> list[float]:
        return [r[0] for r in self.db.execute(
            "SELECT timestamp FROM frames WHERE media_id = ? ORDER BY timestamp", [media_id])]

    def drop_unused_frames(self, media_id: int) -> None:
        """Frames that neither a vector nor a face points at."""
        self.db.execute("DELETE FROM frames WHERE media_id = ? AND id NOT IN (SELECT frame_id FROM items "
                        "WHERE frame_id IS NOT NULL) AND id NOT IN (SELECT frame_id FROM faces WHERE frame_id IS NOT "
                        "NULL)", [media_id])
