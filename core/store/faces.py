"""Faces (in photos, in sampled video frames, or from reference photos outside the library), the tracks that join
one person's faces across consecutive video frames, and "not this person" answers (`rejections`)."""
from __future__ import annotations

import logging
import os
import sqlite3
import time
import urllib.parse
from pathlib import Path

import numpy as np
import sqlite_utils

from .records import INDEXED, FaceSighting, blob, inserted, stack, vec

log = logging.getLogger(__name__)

FACE_BOX = ("id", "timestamp", "x", "y", "w", "h")


class FaceRepository:
    def __init__(self, db: sqlite_utils.Database):
        self.db = db

    # -- writing what the detector found ----------------------------------------------------------------------------
    def add_track(self, media_id: int, start: float, end: float) -> int:
        return inserted(self.db, "tracks", {"media_id": media_id, "start": start, "end": end})

    def add(self, *, media_id: int | None, frame_id: int | None, track_id: int | None, timestamp: float | None,
            box, landmarks, score: float, size: float, sharpness: float, usable: bool, embedding, backend: str,
            person_id: int | None = None, confirmed: bool = False, source: str | None = None,
            voter: bool | None = None) -> int:
        x, y, w, h = (float(v) for v in box)
        return inserted(self.db, "faces", {
            "media_id": media_id, "frame_id": frame_id, "track_id": track_id, "timestamp": timestamp,
            "x": x, "y": y, "w": w, "h": h, "landmarks": blob(landmarks), "score": float(score), "size": float(size),
            "sharpness": float(sharpness), "usable": int(usable),
            "voter": int(usable if voter is None else voter), "embedding": blob(embedding), "backend": backend,
            "person_id": person_id, "confirmed": int(confirmed), "source": source, "created_at": time.time(),
        })

    def decided_in_media(self, media_id: int) -> tuple[list[dict], dict[int, list[int]]]:
        """The faces of a file that carry a user decision (confirmed with a person, or rejected by someone), and
        face id -> the people who rejected it."""
        rejected: dict[int, list[int]] = {}
        for face_id, person_id in self.db.execute(
                "SELECT r.face_id, r.person_id FROM rejections r JOIN faces f ON f.id = r.face_id "
                "WHERE f.media_id = ?", [media_id]):
            rejected.setdefault(face_id, []).append(person_id)
        rows = self.db.execute("SELECT id, timestamp, x, y, w, h, person_id, confirmed, named_from, named_as "
                               "FROM faces WHERE media_id = ?", [media_id]).fetchall()
        decided = [dict(zip((*FACE_BOX, "person_id", "confirmed", "named_from", "named_as"), r)) for r in rows
                   if (r[6] is not None and r[7]) or r[0] in rejected]
        return decided, rejected

    def remove_from_media(self, media_id: int) -> None:
        self.db.execute("DELETE FROM faces WHERE media_id = ?", [media_id])
        self.db.execute("DELETE FROM tracks WHERE media_id = ?", [media_id])

    def max_id(self) -> int:
        """The highest face id (0 with none): a catalog restored from a backup gives the ids above it again."""
        return self.db.execute("SELECT coalesce(max(id), 0) FROM faces").fetchone()[0]

    def boxes_in_media(self, media_id: int) -> list[dict]:
        return [dict(zip(FACE_BOX, r)) for r in self.db.execute(
            "SELECT id, timestamp, x, y, w, h FROM faces WHERE media_id = ?", [media_id])]

    def in_media(self, media_id: int) -> list[dict]:
        """Every face of a file with its box and its person's name (the viewer's face boxes)."""
        rows = self.db.execute("SELECT f.id, f.x, f.y, f.w, f.h, f.timestamp, p.name, f.person_id, f.named_from "
                               "FROM faces f LEFT JOIN people p ON p.id = f.person_id WHERE f.media_id = ?",
                               [media_id]).fetchall()
        return [dict(zip(("id", "x", "y", "w", "h", "timestamp", "name", "person_id", "named_from"), r))
                for r in rows]

    def counts(self) -> tuple[int, int]:
        """(faces, usable faces) in the library."""
        n, usable = self.db.execute("SELECT count(*), coalesce(sum(usable), 0) FROM faces").fetchone()
        return n, usable

    def main_face(self, media_id: int, usable_first: bool = True) -> dict | None:
        """The face that stands for a photo: the largest (usable ones first, unless told otherwise)."""
        order = "usable DESC, size DESC" if usable_first else "size DESC"
        row = self.db.execute(f"SELECT id, person_id, embedding FROM faces WHERE media_id = ? ORDER BY {order} "
                              "LIMIT 1", [media_id]).fetchone()
        return {"id": row[0], "person_id": row[1], "embedding": vec(row[2])} if row else None

    # -- what the one rule reads (core.faces.rule) and writes (core.faces.settle) ----------------------------------
    def rule_rows(self) -> list[tuple]:
        """Every face: (id, track, timestamp, embedding, size, score, sharpness, usable, voter, confirmed,
        person_id, fingerprint, x, y, picture) in content order (file, time, place), so the rule never sees the
        ids' order, which is the order files happened to be indexed in. `picture` names the photo or video frame
        the face is in (media id or reference photo, and time): two copies of one photo are two pictures."""
        return self.db.execute(
            "SELECT f.id, f.track_id, f.timestamp, f.embedding, f.size, f.score, f.sharpness, f.usable, f.voter, "
            "f.confirmed, f.person_id, coalesce(m.fingerprint, f.source, ''), f.x, f.y, "
            "coalesce(f.media_id, 'r' || f.id) || '@' || coalesce(round(f.timestamp, 3), '') FROM faces f "
            "LEFT JOIN media m ON m.id = f.media_id "
            "ORDER BY coalesce(m.fingerprint, f.source, ''), coalesce(f.timestamp, -1), f.x, f.y, f.id").fetchall()

    def quality_rows(self) -> list[tuple]:
        """(id, track, box, landmarks (5, 2), score, size, sharpness, usable, voter, media id) of every face."""
        return [(r[0], r[1], (r[2], r[3], r[4], r[5]), vec(r[6]).reshape(5, 2), r[7], r[8], r[9], r[10], r[11], r[12])
                for r in self.db.execute("SELECT id, track_id, x, y, w, h, landmarks, score, size, sharpness, usable, "
                                         "voter, media_id FROM faces")]

    def set_quality(self, changes: list[tuple[int, int, int]]) -> None:
        """(usable, voter, face id)."""
        self.db.conn.executemany("UPDATE faces SET usable = ?, voter = ? WHERE id = ?", changes)

    def unconfirmed_owners(self) -> dict[int, int | None]:
        """face id -> its person, for every face the user did not confirm."""
        return {int(r[0]): r[1] for r in self.db.execute("SELECT id, person_id FROM faces WHERE confirmed = 0")}

    def placed_with_named(self) -> set[int]:
        """Faces placed automatically with a named person."""
        return {int(r[0]) for r in self.db.execute(
            "SELECT f.id FROM faces f JOIN people p ON p.id = f.person_id WHERE f.confirmed = 0 AND p.name IS NOT NULL")}

    def grouping(self) -> dict[int, tuple[int, int]]:
        """face id -> (part, group) of the last grouping (core.faces.rule.Grouping)."""
        return {r[0]: (r[1], r[2]) for r in self.db.execute("SELECT face_id, part, grp FROM face_groups")}

    def set_grouping(self, before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]]) -> None:
        gone = [(f,) for f in before if f not in after]
        changed = [(f, p, g) for f, (p, g) in after.items() if before.get(f) != (p, g)]
        self.db.conn.executemany("DELETE FROM face_groups WHERE face_id = ?", gone)
        self.db.conn.executemany("INSERT OR REPLACE INTO face_groups(face_id, part, grp) VALUES (?, ?, ?)", changed)

    def set_people(self, changes: list[tuple[int | None, int]]) -> None:
        """(person id or None, face id) for faces the user did not confirm."""
        self.db.conn.executemany("UPDATE faces SET person_id = ? WHERE id = ? AND confirmed = 0", changes)

    def confirm(self, face_ids: list[int], person_id: int, named_from: str | None = None,
                named_as: str | None = None) -> None:
        """The user says these faces are this person (and only these: the rest of a track follows by the rule);
        `named_from`: they said so in another app, whose XMP this was read from (None: in Idlens), and `named_as`
        the name that app gave."""
        self.db.conn.executemany("UPDATE faces SET person_id = ?, confirmed = 1, named_from = ?, named_as = ? "
                                 "WHERE id = ?", [(person_id, named_from, named_as, int(f)) for f in face_ids])

    def unconfirm(self, face_ids: list[int]) -> None:
        self.db.conn.executemany("UPDATE faces SET person_id = NULL, confirmed = 0, named_from = NULL, named_as = NULL "
                                 "WHERE id = ?",
                            [(int(f),) for f in face_ids])

    def named_in_photos(self, include_automatic: bool = False) -> dict[int, list[dict]]:
        """media id -> the named faces of each photo (id, box, name, confirmed): the ones the user confirmed, and
        with `include_automatic` those the rule placed with a named person who is not hidden. Unnamed groups never."""
        automatic = "OR (f.confirmed = 0 AND p.hidden = 0)" if include_automatic else ""
        out: dict[int, list[dict]] = {}
        for r in self.db.execute(
                "SELECT f.media_id, f.id, f.x, f.y, f.w, f.h, p.name, f.confirmed FROM faces f "
                "JOIN people p ON p.id = f.person_id JOIN media m ON m.id = f.media_id "
                f"WHERE m.kind = 'image' AND f.timestamp IS NULL AND p.name IS NOT NULL AND (f.confirmed = 1 {automatic}) "
                "ORDER BY f.media_id, f.x"):
            out.setdefault(r[0], []).append(dict(zip(("id", "x", "y", "w", "h", "name", "confirmed"), r[1:])))
        return out

    def confirmed_in_media(self, media_id: int) -> dict[int, tuple[str | None, str | None]]:
        """face id -> (named_from, named_as) of the faces of a file that are confirmed (see `confirm`)."""
        return {r[0]: (r[1], r[2]) for r in self.db.execute(
            "SELECT id, named_from, named_as FROM faces WHERE media_id = ? AND confirmed = 1", [media_id])}

    def confirmed_ids(self, person_id: int) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT id FROM faces WHERE person_id = ? AND confirmed = 1 "
                                              "ORDER BY id", [person_id])]

    def group_faces(self, person_id: int) -> list[tuple[int, np.ndarray, float, float, float, bool]]:
        """(id, embedding, size, score, sharpness, in video) of a person's usable faces, for naming a group."""
        return [(r[0], vec(r[1]), r[2], r[3], r[4], r[5] is not None) for r in self.db.execute(
            "SELECT id, embedding, size, score, sharpness, timestamp FROM faces WHERE person_id = ? AND usable = 1 "
            "ORDER BY id", [person_id])]

    # -- embeddings -------------------------------------------------------------------------------------------------
    def unassigned_usable(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, embeddings) of usable faces that belong to nobody yet, in id order."""
        rows = self.db.execute("SELECT id, embedding FROM faces WHERE usable = 1 AND person_id IS NULL "
                               "ORDER BY id").fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64), stack(r[1] for r in rows)

    def count_unassigned_usable(self) -> int:
        return self.db.execute("SELECT count(*) FROM faces WHERE usable = 1 AND person_id IS NULL").fetchone()[0]

    def evidence(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(person ids, embeddings, confirmed, named) of every face that may vouch for its person: for a named
        person only the faces the user confirmed; for an unnamed group its usable faces."""
        rows = self.db.execute(
            "SELECT f.person_id, f.embedding, f.confirmed, p.name IS NOT NULL FROM faces f "
            "JOIN people p ON p.id = f.person_id WHERE (p.name IS NOT NULL AND f.confirmed = 1) "
            "OR (p.name IS NULL AND (f.usable = 1 OR f.confirmed = 1))").fetchall()
        return (np.array([r[0] for r in rows], dtype=np.int64), stack(r[1] for r in rows),
                np.array([bool(r[2]) for r in rows], dtype=bool), np.array([bool(r[3]) for r in rows], dtype=bool))

    def confirmed_embeddings(self, person_id: int) -> np.ndarray:
        """The faces the user confirmed as this person (reference photos included): the person's evidence."""
        return stack(r[0] for r in self.db.execute(
            "SELECT embedding FROM faces WHERE person_id = ? AND confirmed = 1 ORDER BY id", [person_id]))

    def usable_of(self, person_id: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.db.execute("SELECT id, embedding FROM faces WHERE person_id = ? AND usable = 1 ORDER BY id",
                               [person_id]).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64), stack(r[1] for r in rows)

    def identity_embeddings(self, person_id: int) -> np.ndarray:
        """Faces good enough to describe the person: confirmed or usable."""
        return stack(r[0] for r in self.db.execute(
            "SELECT embedding FROM faces WHERE person_id = ? AND (confirmed = 1 OR usable = 1) ORDER BY id",
            [person_id]))

    def reference_embeddings(self, person_id: int) -> np.ndarray:
        """Faces of this person from reference photos outside the library."""
        return stack(r[0] for r in self.db.execute(
            "SELECT embedding FROM faces WHERE media_id IS NULL AND person_id = ?", [person_id]))

    def reference_faces(self) -> list[tuple[int | None, np.ndarray]]:
        """Every face from a reference photo outside the library: (person id, descriptor)."""
        return [(r[0], vec(r[1])) for r in self.db.execute(
            "SELECT person_id, embedding FROM faces WHERE media_id IS NULL AND embedding IS NOT NULL")]

    # -- decisions --------------------------------------------------------------------------------------------------
    def rejections(self) -> dict[int, set[int]]:
        """face id -> the people it was said not to be."""
        out: dict[int, set[int]] = {}
        for face_id, person_id in self.db.execute("SELECT face_id, person_id FROM rejections"):
            out.setdefault(face_id, set()).add(person_id)
        return out

    def rejected_people(self, face_id: int) -> set[int]:
        return {r[0] for r in self.db.execute("SELECT person_id FROM rejections WHERE face_id = ?", [face_id])}

    def rejected_by(self, person_id: int) -> set[int]:
        return {r[0] for r in self.db.execute("SELECT face_id FROM rejections WHERE person_id = ?", [person_id])}

    def reject(self, face_id: int, person_id: int) -> None:
        self.db.execute("INSERT OR IGNORE INTO rejections(face_id, person_id) VALUES (?, ?)", [face_id, person_id])

    def forgive(self, face_id: int, person_id: int) -> None:
        """Lift a "not this person" (the user now says it is them)."""
        self.db.execute("DELETE FROM rejections WHERE face_id = ? AND person_id = ?", [face_id, person_id])

    def assign(self, face_ids: list[int], person_id: int | None, confirmed: bool) -> None:
        """Place faces with a person; the rest of each face's video track follows unless the user placed it."""
        for face_id in face_ids:
            track = self.db.execute("SELECT track_id FROM faces WHERE id = ?", [face_id]).fetchone()
            self.db.execute("UPDATE faces SET person_id = ?, confirmed = ?, named_from = NULL, named_as = NULL "
                            "WHERE id = ?",
                            [person_id, int(confirmed), face_id])
            if track and track[0] is not None:
                self.db.execute("UPDATE faces SET person_id = ? WHERE track_id = ? AND id != ? AND confirmed = 0",
                                [person_id, track[0], face_id])

    def release(self, face_id: int, person_id: int, with_track: bool = True) -> None:
        """The face (and, unless told otherwise, the automatically placed rest of its track) leaves this person."""
        self.db.execute("UPDATE faces SET person_id = NULL, confirmed = 0 WHERE id = ? AND person_id = ?",
                        [face_id, person_id])
        track = self.db.execute("SELECT track_id FROM faces WHERE id = ?", [face_id]).fetchone()
        if with_track and track and track[0] is not None:
            self.db.execute("UPDATE faces SET person_id = NULL, confirmed = 0 WHERE track_id = ? AND person_id = ? "
                            "AND confirmed = 0", [track[0], person_id])

    def unnamed_groups(self) -> dict[int, set[int]]:
        """unnamed person id -> the ids of its faces."""
        out: dict[int, set[int]] = {}
        for person_id, face_id in self.db.execute(
                "SELECT f.person_id, f.id FROM faces f JOIN people p ON p.id = f.person_id WHERE p.name IS NULL"):
            out.setdefault(person_id, set()).add(face_id)
        return out

    def release_unconfirmed(self) -> None:
        """Every face the user did not place belongs to nobody again (re-clustering from scratch)."""
        self.db.execute("UPDATE faces SET person_id = NULL WHERE confirmed = 0")

    def confirm_all_of(self, person_id: int) -> None:
        self.db.execute("UPDATE faces SET confirmed = 1 WHERE person_id = ?", [person_id])

    # -- looking up -------------------------------------------------------------------------------------------------
    def get(self, face_id: int) -> dict | None:
        row = self.db.execute("SELECT f.id, f.media_id, f.person_id, f.confirmed, m.path, f.timestamp FROM faces f "
                              "LEFT JOIN media m ON m.id = f.media_id WHERE f.id = ?", [int(face_id)]).fetchone()
        return dict(zip(("id", "media_id", "person_id", "confirmed", "path", "timestamp"), row)) if row else None

    def of_person(self, person_id: int) -> list[dict]:
        cur = self.db.execute(
            "SELECT f.id, m.path, f.timestamp, f.confirmed, f.x, f.y, f.w, f.h, f.named_from FROM faces f "
            "LEFT JOIN media m ON m.id = f.media_id WHERE f.person_id = ? ORDER BY f.confirmed DESC, f.id", [person_id])
        return [dict(zip(("id", "path", "timestamp", "confirmed", "x", "y", "w", "h", "named_from"), r)) for r in cur]

    def review_candidates(self, person_id: int) -> list[FaceSighting]:
        """Usable faces that may be this person and are not theirs: nobody's, an unnamed group's, another
        person's (confirmed ones too: the caller decides) — never ones rejected for them."""
        rows = self.db.execute(
            "SELECT f.id, f.media_id, f.timestamp, f.embedding, m.path, f.person_id, f.confirmed FROM faces f "
            "LEFT JOIN media m ON m.id = f.media_id "
            "WHERE f.usable = 1 AND f.person_id IS NOT ? AND f.media_id IS NOT NULL "
            "AND f.id NOT IN (SELECT face_id FROM rejections WHERE person_id = ?)", [person_id, person_id]).fetchall()
        return [FaceSighting(r[0], r[1], r[2], bool(r[6]), vec(r[3]), r[4], person_id=r[5]) for r in rows]

    def confirmed_of(self, person_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, embeddings) of the faces the user confirmed as this person."""
        rows = self.db.execute("SELECT id, embedding FROM faces WHERE person_id = ? AND confirmed = 1 ORDER BY id",
                               [person_id]).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64), stack(r[1] for r in rows)

    def sightings(self, person_id: int) -> list[FaceSighting]:
        """Every face of this person in a searchable library file."""
        rows = self.db.execute(
            "SELECT f.id, f.media_id, f.timestamp, f.confirmed, f.embedding, m.path, m.kind, m.duration, t.start, "
            "t.end FROM faces f JOIN media m ON m.id = f.media_id LEFT JOIN tracks t ON t.id = f.track_id "
            "WHERE f.person_id = ? AND m.status = ?", [person_id, INDEXED])
        return [FaceSighting(r[0], r[1], r[2], bool(r[3]), vec(r[4]), r[5], r[6], r[7], person_id, r[8], r[9])
                for r in rows]

    def in_video(self, media_id: int) -> list[dict]:
        """Every face seen in a video's frames: when, whose, and how clearly (for "nobody else in the frame")."""
        return [dict(zip(("timestamp", "person_id", "size", "score", "sharpness", "voter"), r)) for r in self.db.execute(
            "SELECT timestamp, person_id, size, score, sharpness, voter FROM faces WHERE media_id = ? AND timestamp IS "
            "NOT NULL", [media_id])]

    def others_in_media(self, media_id: int, people: set[int]) -> int:
        """Usable faces in a file that belong to none of these people."""
        q = ",".join("?" * len(people))
        return self.db.execute(f"SELECT count(*) FROM faces WHERE media_id = ? AND usable = 1 AND "
                               f"(person_id IS NULL OR person_id NOT IN ({q}))", [media_id, *people]).fetchone()[0]

    def named_photos(self) -> list[tuple[int, str, str]]:
        """(person id, name, path) once per named person and indexed photo they appear in."""
        return [tuple(r) for r in self.db.execute(
            "SELECT p.id, p.name, m.path FROM faces f JOIN people p ON p.id = f.person_id "
            "JOIN media m ON m.id = f.media_id WHERE p.name IS NOT NULL AND m.kind = 'image' AND m.status = ? "
            "GROUP BY p.id, m.id", [INDEXED])]

    # -- portability ------------------------------------------------------------------------------------------------
    _REF = ("f.id, m.fingerprint, m.path, f.timestamp, f.x, f.y, f.w, f.h, f.source, f.embedding, f.confirmed, "
            "f.named_from")

    def person_refs(self, person_id: int) -> list[dict]:
        """What identifies each face of a person outside this library (see faces.portability), confirmed or not."""
        return self._refs(self.db.execute(f"SELECT {self._REF} FROM faces f LEFT JOIN media m ON m.id = f.media_id "
                                          "WHERE f.person_id = ? ORDER BY f.confirmed DESC, f.id", [person_id]))

    def rejected_refs(self, person_id: int) -> list[dict]:
        return self._refs(self.db.execute(
            f"SELECT {self._REF} FROM rejections r JOIN faces f ON f.id = r.face_id "
            "LEFT JOIN media m ON m.id = f.media_id WHERE r.person_id = ? ORDER BY f.id", [person_id]))

    @staticmethod
    def _refs(rows) -> list[dict]:
        keys = ("id", "fingerprint", "path", "timestamp", "x", "y", "w", "h", "source", "embedding", "confirmed",
                "named_from")
        out = []
        for r in rows:
            d = dict(zip(keys, r))
            d["embedding"], d["confirmed"] = vec(d["embedding"]), bool(d["confirmed"])
            out.append(d)
        return out


def face_for_crop(catalog_path: Path, face_id: int) -> tuple | None:
    """A face's landmarks, video time, media id, reference source, and its file's path, kind, size, mtime and status,
    read on a short connection of its own (any thread of the app may ask: core.faces.crops). None when there is no
    such face or no catalog; never creates one."""
    if not Path(catalog_path).is_file():
        return None
    # mode=rw: never creates a catalog; only read here (a read-only open of a WAL file can fail on its -shm).
    uri = "file:" + urllib.parse.quote(os.fsencode(Path(catalog_path).absolute())) + "?mode=rw"
    conn = sqlite3.connect(uri, uri=True, timeout=5)
    try:
        conn.text_factory = lambda b: b.decode("utf-8", "surrogateescape")  # as Catalog: exact file names
        return conn.execute(
            "SELECT f.landmarks, f.timestamp, f.media_id, f.source, m.path, m.kind, m.size, m.mtime_ns, m.status "
            "FROM faces f LEFT JOIN media m ON m.id = f.media_id WHERE f.id = ?", [int(face_id)]).fetchone()
    finally:
        conn.close()


def face_focus(db: sqlite_utils.Database) -> dict[int, dict[float | None, tuple[float, float]]]:
    """media id -> {timestamp (None for a photo): (x, y)}: the centre of the box enclosing the faces of each photo
    and video frame, as fractions of the upright picture (faces are stored in its pixels, as media.width and height
    are), for the grid to keep faces in its square crops. Usable faces only where a picture has any: a blurred face
    in the background does not move the crop. One query for the whole library."""
    out: dict[int, dict[float | None, tuple[float, float]]] = {}
    rows = db.execute(
        "SELECT f.media_id, f.timestamp, (min(f.x) + max(f.x + f.w)) / 2.0 / m.width, "
        "(min(f.y) + max(f.y + f.h)) / 2.0 / m.height FROM faces f JOIN media m ON m.id = f.media_id "
        "WHERE m.width > 0 AND m.height > 0 GROUP BY f.media_id, f.timestamp, f.usable ORDER BY f.usable")
    for media_id, timestamp, x, y in rows:  # usable last: where a picture has them, they win
        out.setdefault(media_id, {})[timestamp] = (min(1.0, max(0.0, x)), min(1.0, max(0.0, y)))
    return out
