"""Faces and people: storing the faces found in a file, grouping them into people, and every decision the user
makes about them (name, merge, move, reject, split, hide, reference photos, review), all kept in the catalog.

The user's word is final: a face the user placed (`confirmed`) is never moved by clustering, and a face the user
said is "not this person" never returns to that person (a rejection row outlives re-scans and re-clustering).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from . import catalog as cat
from .faces import Face
from .settings import Settings

MAX_CLUSTER_BATCH = 4000  # average linkage is O(n^2) in memory; larger backlogs are clustered in slices


class PeopleError(Exception):
    """A people operation that cannot be done as asked; the message says why."""


@dataclass
class FoundFace:
    """A face as the indexer hands it over: where it was seen and what the backend said."""
    face: Face
    timestamp: float | None = None
    to_original: float = 1.0   # multiply detection-image pixels by this to get pixels of the original


@dataclass
class Person:
    id: int
    name: str | None
    hidden: bool
    faces: int
    media: int
    confirmed: int
    cover_face: int | None

    @property
    def label(self) -> str:
        return self.name or f"Unnamed #{self.id}"

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "hidden": self.hidden, "faces": self.faces, "media": self.media,
                "confirmed": self.confirmed, "cover_face": self.cover_face}


@dataclass
class Suggestion:
    face_id: int
    similarity: float
    path: str | None
    timestamp: float | None
    current_person: int | None

    def to_json(self) -> dict:
        return {"face_id": self.face_id, "similarity": round(self.similarity, 4), "path": self.path,
                "timestamp": self.timestamp, "current_person": self.current_person}


@dataclass
class ClusterReport:
    assigned: int = 0
    new_people: int = 0
    clustered_faces: int = 0
    unassigned: int = 0
    merged_into_named: list[int] = field(default_factory=list)


def _blob(v: np.ndarray) -> bytes:
    return np.asarray(v, dtype=np.float32).tobytes()


def _vec(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype=np.float32)


def _writes(what: str):
    """A decision about people changes the library: one writer at a time (see core.lock)."""
    def wrap(fn):
        def run(self, *args, **kwargs):
            if self.lock is None:
                return fn(self, *args, **kwargs)
            with self.lock(what):
                return fn(self, *args, **kwargs)
        run.__name__, run.__doc__ = fn.__name__, fn.__doc__
        return run
    return wrap


class People:
    def __init__(self, catalog: cat.Catalog, settings: Settings, thumbnails=None, lock=None):
        self.catalog, self.db, self.settings, self.thumbnails = catalog, catalog.db, settings, thumbnails
        self.lock = lock  # what -> context manager holding the library's write lock

    # -- storing faces ------------------------------------------------------------------------------------------
    def usable(self, face: Face) -> bool:
        s = self.settings
        return face.size >= s.face_min_size and face.score >= s.face_min_score and face.sharpness >= s.face_min_sharpness

    def store(self, media_id: int, found: list[FoundFace], backend: str, frame_ids: dict[float, int]) -> list[int]:
        """Write the faces of one file (inside the caller's transaction). Video faces seen in consecutive frames
        are linked into tracks; only the best face of a track may found or join a person, and the whole track
        follows it. Returns the new face ids."""
        now = time.time()
        tracks = self._tracks(found) if any(f.timestamp is not None for f in found) else [[i] for i in range(len(found))]
        ids: list[int] = [0] * len(found)
        for members in tracks:
            track_id = None
            if len(members) > 1 or found[members[0]].timestamp is not None:
                times = [found[i].timestamp for i in members]
                track_id = self.db.execute("INSERT INTO tracks(media_id, start, end) VALUES (?,?,?)",
                                           [media_id, min(times), max(times)]).lastrowid
            best = max(members, key=lambda i: _quality(found[i].face))
            for i in members:
                f = found[i]
                face, k = f.face, f.to_original
                x, y, w, h = (v * k for v in face.box)
                usable = int(self.usable(face) and i == best)
                face_id = self.db.execute(
                    "INSERT INTO faces(media_id, frame_id, track_id, timestamp, x, y, w, h, landmarks, score, size, "
                    "sharpness, usable, embedding, backend, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [media_id, frame_ids.get(f.timestamp) if f.timestamp is not None else None, track_id,
                     f.timestamp, x, y, w, h, _blob(face.landmarks * k), face.score, face.size, face.sharpness,
                     usable, _blob(face.embedding), backend, now]).lastrowid
                ids[i] = face_id
                self._save_crop(face_id, face)
        return ids

    def replace(self, media_id: int, found: list[FoundFace], backend: str, frame_ids: dict[float, int]) -> list[int]:
        """Store a file's faces in place of the ones found before (an edited photo, a new recogniser). Decisions
        about an old face (its person, confirmation, "not this person") pass to the new face in the same place."""
        old = self.db.execute("SELECT id, timestamp, x, y, w, h, person_id, confirmed FROM faces WHERE media_id = ?",
                              [media_id]).fetchall()
        rejected: dict[int, list[int]] = {}
        for face_id, person_id in self.db.execute(
                "SELECT r.face_id, r.person_id FROM rejections r JOIN faces f ON f.id = r.face_id "
                "WHERE f.media_id = ?", [media_id]):
            rejected.setdefault(face_id, []).append(person_id)
        self.db.execute("DELETE FROM faces WHERE media_id = ?", [media_id])
        self.db.execute("DELETE FROM tracks WHERE media_id = ?", [media_id])
        new_ids = self.store(media_id, found, backend, frame_ids)
        decided = [o for o in old if (o[6] is not None and o[7]) or o[0] in rejected]
        for fid, ts, x, y, w, h, person_id, confirmed in decided:
            best, best_iou = None, 0.5
            for new_id, f in zip(new_ids, found):
                if (f.timestamp is None) != (ts is None) or (ts is not None and abs(f.timestamp - ts) > 0.01):
                    continue
                iou = _iou((x, y, w, h), tuple(v * f.to_original for v in f.face.box))
                if iou >= best_iou:
                    best, best_iou = new_id, iou
            if best is None:
                continue
            if person_id is not None and confirmed:
                self._set_person([best], person_id, confirmed=True)
            for rejected_person in rejected.get(fid, []):
                self.db.execute("INSERT OR IGNORE INTO rejections(face_id, person_id) VALUES (?, ?)",
                                [best, rejected_person])
        self.db.execute("DELETE FROM frames WHERE media_id = ? AND id NOT IN (SELECT frame_id FROM items "
                        "WHERE frame_id IS NOT NULL) AND id NOT IN (SELECT frame_id FROM faces WHERE frame_id IS NOT "
                        "NULL)", [media_id])
        return new_ids

    def _tracks(self, found: list[FoundFace]) -> list[list[int]]:
        """Greedy linking in time order: a face continues the most similar open track from an earlier frame."""
        order = sorted(range(len(found)), key=lambda i: (found[i].timestamp or 0.0))
        tracks: list[list[int]] = []
        # One missed sample is forgiven (a turned head, a blink); a longer absence starts a new appearance.
        max_gap = max(2.5 * self.settings.video_interval, 3.0)
        for i in order:
            f = found[i]
            best, best_sim = None, self.settings.face_track_match
            for t in tracks:
                last = found[t[-1]]
                if last.timestamp == f.timestamp or f.timestamp - last.timestamp > max_gap:
                    continue
                sim = float(last.face.embedding @ f.face.embedding)
                if sim >= best_sim:
                    best, best_sim = t, sim
            if best is None:
                tracks.append([i])
            else:
                best.append(i)
        return tracks

    def _save_crop(self, face_id: int, face: Face) -> None:
        if self.thumbnails is None or face.crop is None:
            return
        from PIL import Image

        path = self.crop_path(face_id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(face.crop[:, :, ::-1]).save(path, "JPEG", quality=88)
        except OSError:  # a cache: a full disk costs the crop picture, never the face or a decision
            path.unlink(missing_ok=True) if path.exists() else None

    def crop_path(self, face_id: int):
        return self.thumbnails.root.parent / "faces" / f"{face_id // 1000:04}" / f"{face_id}.jpg"

    # -- clustering ---------------------------------------------------------------------------------------------
    @_writes("grouping faces")
    def cluster(self) -> ClusterReport:
        """Incremental: unassigned usable faces join the person whose nearest face is similar enough (never one
        that rejected them); the rest are grouped by average linkage, and groups big enough become new people."""
        report = ClusterReport()
        with self.catalog.transaction():
            pending = self._load("f.usable = 1 AND f.person_id IS NULL")
            if not len(pending[0]):
                return report
            report.assigned = self._assign(*pending)
            ids, vecs = self._load("f.usable = 1 AND f.person_id IS NULL")
            for start in range(0, len(ids), MAX_CLUSTER_BATCH):
                chunk_ids, chunk = ids[start:start + MAX_CLUSTER_BATCH], vecs[start:start + MAX_CLUSTER_BATCH]
                for group in average_linkage(chunk, self.settings.face_cluster):
                    if len(group) < self.settings.face_min_cluster:
                        continue
                    person = self._new_person()
                    self._set_person([int(chunk_ids[i]) for i in group], person, confirmed=False)
                    report.new_people += 1
                    report.clustered_faces += len(group)
            report.unassigned = self.db.execute(
                "SELECT count(*) FROM faces WHERE usable = 1 AND person_id IS NULL").fetchone()[0]
        return report

    @_writes("regrouping faces")
    def recluster(self) -> ClusterReport:
        """Start automatic grouping over: every face the user did not place is released, unnamed people that
        held only such faces disappear, and clustering runs on everything. Names and decisions stay."""
        with self.catalog.transaction():
            self.db.execute("UPDATE faces SET person_id = NULL WHERE confirmed = 0")
            self.db.execute("DELETE FROM people WHERE name IS NULL AND id NOT IN "
                            "(SELECT person_id FROM faces WHERE person_id IS NOT NULL)")
        return self.cluster()

    def _load(self, where: str, params=()) -> tuple[np.ndarray, np.ndarray]:
        rows = self.db.execute(f"SELECT f.id, f.embedding FROM faces f WHERE {where} ORDER BY f.id", list(params)).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        vecs = np.stack([_vec(r[1]) for r in rows]) if rows else np.empty((0, 128), np.float32)
        return ids, vecs

    def _assign(self, ids: np.ndarray, vecs: np.ndarray) -> int:
        rows = self.db.execute(
            "SELECT f.person_id, f.embedding FROM faces f JOIN people p ON p.id = f.person_id "
            "WHERE f.usable = 1 OR f.confirmed = 1").fetchall()
        if not rows:
            return 0
        owners = np.array([r[0] for r in rows], dtype=np.int64)
        protos = np.stack([_vec(r[1]) for r in rows])
        rejected: dict[int, set[int]] = {}
        for face_id, person_id in self.db.execute("SELECT face_id, person_id FROM rejections"):
            rejected.setdefault(face_id, set()).add(person_id)
        sims = vecs @ protos.T
        people = np.unique(owners)
        # Nearest face per person: people change (age, glasses, beard), a centroid would blur that away.
        best_per_person = np.stack([sims[:, owners == p].max(axis=1) for p in people], axis=1)
        assigned = 0
        for row, face_id in enumerate(ids):
            order = np.argsort(-best_per_person[row])
            for j in order:
                if best_per_person[row, j] < self.settings.face_match:
                    break
                if int(people[j]) in rejected.get(int(face_id), ()):
                    continue
                self._set_person([int(face_id)], int(people[j]), confirmed=False)
                assigned += 1
                break
        return assigned

    def _set_person(self, face_ids: list[int], person_id: int | None, confirmed: bool) -> None:
        """Place faces (and the rest of their video tracks) with a person."""
        for face_id in face_ids:
            track = self.db.execute("SELECT track_id FROM faces WHERE id = ?", [face_id]).fetchone()
            self.db.execute("UPDATE faces SET person_id = ?, confirmed = ? WHERE id = ?",
                            [person_id, int(confirmed), face_id])
            if track and track[0] is not None:
                self.db.execute("UPDATE faces SET person_id = ? WHERE track_id = ? AND id != ? AND confirmed = 0",
                                [person_id, track[0], face_id])

    def _new_person(self, name: str | None = None) -> int:
        return self.db.execute("INSERT INTO people(name, created_at) VALUES (?, ?)", [name, time.time()]).lastrowid

    # -- looking up -----------------------------------------------------------------------------------------------
    def list(self, include_hidden: bool = False, named_only: bool = False) -> list[Person]:
        where = [] if include_hidden else ["p.hidden = 0"]
        if named_only:
            where.append("p.name IS NOT NULL")
        sql = (
            "SELECT p.id, p.name, p.hidden, count(f.id), count(DISTINCT f.media_id), coalesce(sum(f.confirmed), 0), "
            "(SELECT id FROM faces WHERE person_id = p.id ORDER BY confirmed DESC, usable DESC, size * score DESC "
            " LIMIT 1) FROM people p LEFT JOIN faces f ON f.person_id = p.id "
            + (f"WHERE {' AND '.join(where)} " if where else "")
            + "GROUP BY p.id HAVING count(f.id) > 0 OR p.name IS NOT NULL "
            "ORDER BY p.name IS NULL, lower(p.name), count(DISTINCT f.media_id) DESC, p.id")
        return [Person(r[0], r[1], bool(r[2]), r[3], r[4], r[5], r[6]) for r in self.db.execute(sql)]

    def find(self, ref: str | int) -> Person:
        """A person by id or by name (case-insensitive)."""
        text = str(ref).strip()
        row = None
        if text.isdigit():
            row = self.db.execute("SELECT id FROM people WHERE id = ?", [int(text)]).fetchone()
        if row is None:
            row = self.db.execute("SELECT id FROM people WHERE name = ? COLLATE NOCASE", [text]).fetchone()
        if row is None:
            raise PeopleError(f"no person {text!r} (see `idlens people list`)")
        return self._person(row[0])

    def _person(self, person_id: int) -> Person:
        for p in self.list(include_hidden=True):
            if p.id == person_id:
                return p
        row = self.db.execute("SELECT id, name, hidden FROM people WHERE id = ?", [person_id]).fetchone()
        if row is None:
            raise PeopleError(f"no person {person_id}")
        return Person(row[0], row[1], bool(row[2]), 0, 0, 0, None)

    def face(self, face_id: int) -> dict:
        row = self.db.execute("SELECT f.id, f.media_id, f.person_id, f.confirmed, m.path, f.timestamp FROM faces f "
                              "LEFT JOIN media m ON m.id = f.media_id WHERE f.id = ?", [int(face_id)]).fetchone()
        if row is None:
            raise PeopleError(f"no face {face_id}")
        return dict(zip(("id", "media_id", "person_id", "confirmed", "path", "timestamp"), row))

    def faces_of(self, person_id: int) -> list[dict]:
        cur = self.db.execute(
            "SELECT f.id, m.path, f.timestamp, f.confirmed, f.x, f.y, f.w, f.h FROM faces f "
            "LEFT JOIN media m ON m.id = f.media_id WHERE f.person_id = ? ORDER BY f.confirmed DESC, f.id", [person_id])
        return [dict(zip(("id", "path", "timestamp", "confirmed", "x", "y", "w", "h"), r)) for r in cur]

    def names_lookup(self, text: str) -> int | None:
        row = self.db.execute("SELECT id FROM people WHERE name = ? COLLATE NOCASE", [" ".join(text.split())]).fetchone()
        return row[0] if row else None

    def names(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.db.execute("SELECT name, id FROM people WHERE name IS NOT NULL")}

    # -- the user's decisions -------------------------------------------------------------------------------------
    @_writes("naming people")
    def name(self, ref, name: str) -> Person:
        """Name (or rename) a person. The faces the user saw when naming are confirmed as that person. A name that
        another person already has merges the two, as Apple Photos and Immich do."""
        name = " ".join(name.split())
        if not name:
            raise PeopleError("a name cannot be empty")
        person = self.find(ref)
        with self.catalog.transaction():
            other = self.db.execute("SELECT id FROM people WHERE name = ? COLLATE NOCASE AND id != ?",
                                    [name, person.id]).fetchone()
            if other:
                self._merge(other[0], person.id)
                person_id = other[0]
            else:
                person_id = person.id
            self.db.execute("UPDATE people SET name = ? WHERE id = ?", [name, person_id])
            self.db.execute("UPDATE faces SET confirmed = 1 WHERE person_id = ?", [person_id])
        return self._person(person_id)

    @_writes("merging people")
    def merge(self, target_ref, source_ref) -> Person:
        """`source` joins `target`: its faces and its "not this person" answers move over; `source` is gone."""
        target, source = self.find(target_ref), self.find(source_ref)
        if target.id == source.id:
            raise PeopleError("cannot merge a person with themselves")
        with self.catalog.transaction():
            self._merge(target.id, source.id)
        return self._person(target.id)

    def _merge(self, target: int, source: int) -> None:
        name = self.db.execute("SELECT name FROM people WHERE id = ?", [target]).fetchone()[0]
        source_name = self.db.execute("SELECT name FROM people WHERE id = ?", [source]).fetchone()[0]
        # A face rejected by either stays rejected by the merged person, and leaves it if it was in `source`.
        self.db.execute("UPDATE OR IGNORE rejections SET person_id = ? WHERE person_id = ?", [target, source])
        self.db.execute("UPDATE faces SET person_id = ? WHERE person_id = ?", [target, source])
        self.db.execute("UPDATE faces SET person_id = NULL, confirmed = 0 WHERE person_id = ? AND id IN "
                        "(SELECT face_id FROM rejections WHERE person_id = ?)", [target, target])
        self.db.execute("DELETE FROM people WHERE id = ?", [source])
        if name is None and source_name:
            self.db.execute("UPDATE people SET name = ? WHERE id = ?", [source_name, target])

    @_writes("moving a face")
    def move(self, face_id: int, person_ref) -> Person:
        """This face is this person (a name that nobody has yet creates the person). Also the "yes" of a review."""
        face = self.face(face_id)
        with self.catalog.transaction():
            try:
                person_id = self.find(person_ref).id
            except PeopleError:
                if str(person_ref).strip().isdigit():
                    raise
                person_id = self._new_person(" ".join(str(person_ref).split()))
            self.db.execute("DELETE FROM rejections WHERE face_id = ? AND person_id = ?", [face["id"], person_id])
            self._set_person([face["id"]], person_id, confirmed=True)
        return self._person(person_id)

    @_writes("rejecting a face")
    def reject(self, face_id: int, person_ref) -> None:
        """"Not this person": remembered for good; the face leaves the person if it was there."""
        face = self.face(face_id)
        person = self.find(person_ref)
        with self.catalog.transaction():
            self.db.execute("INSERT OR IGNORE INTO rejections(face_id, person_id) VALUES (?, ?)", [face["id"], person.id])
            if face["person_id"] == person.id:
                self.db.execute("UPDATE faces SET person_id = NULL, confirmed = 0 WHERE id = ?", [face["id"]])
                track = self.db.execute("SELECT track_id FROM faces WHERE id = ?", [face["id"]]).fetchone()[0]
                if track is not None:  # the rest of the appearance goes with it
                    self.db.execute("UPDATE faces SET person_id = NULL, confirmed = 0 WHERE track_id = ? "
                                    "AND person_id = ? AND confirmed = 0", [track, person.id])

    @_writes("splitting a person")
    def split(self, person_ref, face_ids: list[int], name: str | None = None) -> Person:
        """Take some faces out of a person into a new one."""
        person = self.find(person_ref)
        mine = {f["id"] for f in self.faces_of(person.id)}
        stray = [f for f in face_ids if f not in mine]
        if stray:
            raise PeopleError(f"faces {stray} are not {person.label}'s")
        with self.catalog.transaction():
            new = self._new_person(name)
            self._set_person(list(face_ids), new, confirmed=True)
        return self._person(new)

    @_writes("hiding a person")
    def hide(self, person_ref, hidden: bool = True) -> Person:
        person = self.find(person_ref)
        with self.catalog.transaction():
            self.db.execute("UPDATE people SET hidden = ? WHERE id = ?", [int(hidden), person.id])
        return self._person(person.id)

    @_writes("adding a person")
    def add_reference(self, name: str, found: Face, source: str, backend: str) -> tuple[Person, int]:
        """A person from a reference photo: the face becomes a confirmed face of `name` (created if needed), then
        faces and unnamed groups that match it join them."""
        name = " ".join(name.split())
        if not name:
            raise PeopleError("a name cannot be empty")
        with self.catalog.transaction():
            row = self.db.execute("SELECT id FROM people WHERE name = ? COLLATE NOCASE", [name]).fetchone()
            person_id = row[0] if row else self._new_person(name)
            x, y, w, h = found.box
            face_id = self.db.execute(
                "INSERT INTO faces(media_id, x, y, w, h, landmarks, score, size, sharpness, usable, embedding, backend,"
                " person_id, confirmed, source, created_at) VALUES (NULL,?,?,?,?,?,?,?,?,1,?,?,?,1,?,?)",
                [x, y, w, h, _blob(found.landmarks), found.score, found.size, found.sharpness,
                 _blob(found.embedding), backend, person_id, source, time.time()]).lastrowid
            self._save_crop(face_id, found)
            self._absorb_matching_groups(person_id)
        self.cluster()
        return self._person(person_id), face_id

    def _absorb_matching_groups(self, person_id: int) -> list[int]:
        """Unnamed people whose faces, on average, match this person's confirmed faces join them."""
        _, mine = self._load("f.person_id = ? AND f.confirmed = 1", [person_id])
        merged = []
        for (other,) in self.db.execute("SELECT id FROM people WHERE name IS NULL AND id != ?", [person_id]).fetchall():
            face_ids, theirs = self._load("f.person_id = ? AND f.usable = 1", [other])
            if not len(theirs):
                continue
            rejected = {r[0] for r in self.db.execute("SELECT face_id FROM rejections WHERE person_id = ?",
                                                      [person_id])}
            if rejected & set(face_ids.tolist()):
                continue
            if float((theirs @ mine.T).max(axis=1).mean()) >= self.settings.face_match:
                self._merge(person_id, other)
                merged.append(other)
        return merged

    def suggest(self, person_ref, limit: int = 20) -> list[Suggestion]:
        """Faces that may be this person and that the user has not ruled on, most likely first: the person's own
        unconfirmed faces, unassigned faces and faces of unnamed people, never ones rejected for them."""
        person = self.find(person_ref)
        _, mine = self._load("f.person_id = ? AND f.confirmed = 1", [person.id])
        if not len(mine):
            _, mine = self._load("f.person_id = ?", [person.id])
        rows = self.db.execute(
            "SELECT f.id, f.embedding, m.path, f.timestamp, f.person_id FROM faces f "
            "LEFT JOIN media m ON m.id = f.media_id LEFT JOIN people p ON p.id = f.person_id "
            "WHERE f.confirmed = 0 AND f.usable = 1 AND (f.person_id = ? OR f.person_id IS NULL OR p.name IS NULL) "
            "AND f.id NOT IN (SELECT face_id FROM rejections WHERE person_id = ?)", [person.id, person.id]).fetchall()
        if not rows or not len(mine):
            return []
        sims = np.stack([_vec(r[1]) for r in rows]) @ mine.T
        best = sims.max(axis=1)
        out = [Suggestion(r[0], float(s), r[2], r[3], r[4]) for r, s in zip(rows, best)]
        out.sort(key=lambda s: -s.similarity)
        return out[:limit]

    # -- search by person ---------------------------------------------------------------------------------------
    def appearances(self, person_id: int) -> list[dict]:
        """Media where the person appears: per file the best face (confirmed first, then most similar to the
        confirmed faces) and, for videos, every moment a face of theirs was seen."""
        _, mine = self._load("f.person_id = ? AND f.confirmed = 1", [person_id])
        rows = self.db.execute(
            "SELECT f.media_id, m.path, m.kind, m.duration, f.timestamp, f.confirmed, f.embedding, f.id FROM faces f "
            "JOIN media m ON m.id = f.media_id WHERE f.person_id = ? AND m.status = ?",
            [person_id, cat.INDEXED]).fetchall()
        by_media: dict[int, dict] = {}
        for media_id, path, kind, duration, ts, confirmed, emb, face_id in rows:
            sim = float((_vec(emb) @ mine.T).max()) if len(mine) else 0.0
            score = 1.0 if confirmed else sim
            entry = by_media.setdefault(media_id, {"media_id": media_id, "path": path, "kind": kind,
                                                   "duration": duration, "score": -1.0, "face_id": None,
                                                   "timestamp": None, "moments": []})
            if kind == "video" and ts is not None:
                entry["moments"].append({"timestamp": ts, "score": round(score, 4)})
            if score > entry["score"]:
                entry.update(score=score, face_id=face_id, timestamp=ts if kind == "video" else None)
        for entry in by_media.values():
            entry["moments"].sort(key=lambda m: m["timestamp"])
        return sorted(by_media.values(), key=lambda e: (-e["score"], e["path"]))


def _quality(face: Face) -> float:
    return face.size * face.score * min(face.sharpness, 500.0)


def average_linkage(vectors: np.ndarray, threshold: float) -> list[list[int]]:
    """Agglomerative clustering, average linkage on cosine similarity: merge the two groups whose faces are,
    on average, most alike, until no pair reaches `threshold`. Average linkage does not chain two people through
    one ambiguous face the way single linkage does. Each row's best partner is cached, so a merge costs O(n)."""
    n = len(vectors)
    if n == 0:
        return []
    sims = (vectors @ vectors.T).astype(np.float64)
    np.fill_diagonal(sims, -np.inf)
    sizes = np.ones(n)
    groups = {i: [i] for i in range(n)}
    best = sims.max(axis=1)
    partner = sims.argmax(axis=1)
    while True:
        i = int(np.argmax(best))
        if best[i] < threshold:
            break
        j = int(partner[i])
        # Lance-Williams update: the average similarity of the merged group to every other group.
        row = (sims[i] * sizes[i] + sims[j] * sizes[j]) / (sizes[i] + sizes[j])
        row[i] = row[j] = -np.inf
        sims[i], sims[:, i] = row, row
        sims[j], sims[:, j] = -np.inf, -np.inf
        sizes[i] += sizes[j]
        groups[i] += groups.pop(j)
        best[j] = -np.inf
        stale = np.flatnonzero((partner == i) | (partner == j))
        for k in stale:
            if k != j:
                partner[k] = int(np.argmax(sims[k]))
                best[k] = sims[k, partner[k]]
        better = row > best
        best[better], partner[better] = row[better], i
        partner[i] = int(np.argmax(sims[i]))
        best[i] = sims[i, partner[i]]
    return list(groups.values())


# -- portability: names and decisions as JSON ----------------------------------------------------------------------
EXPORT_SCHEMA = 1


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def export_decisions(people: People) -> dict:
    """Named people with the faces the user confirmed and the faces they rejected. Faces are identified by the
    file's content fingerprint, the time in a video and the box, so the export survives moves, other disks and
    re-detection."""
    db = people.db

    def face_ref(row) -> dict:
        face_id, fp, path, ts, x, y, w, h, source, emb = row
        if fp is None:  # a reference photo outside the library: its descriptor is the only thing to carry
            return {"source": source, "embedding": [round(float(v), 6) for v in _vec(emb)], "box": [x, y, w, h]}
        return {"fingerprint": fp, "path": path, "timestamp": ts, "box": [round(v, 1) for v in (x, y, w, h)]}

    cols = "f.id, m.fingerprint, m.path, f.timestamp, f.x, f.y, f.w, f.h, f.source, f.embedding"
    out = []
    for pid, name, hidden in db.execute("SELECT id, name, hidden FROM people WHERE name IS NOT NULL ORDER BY name"):
        faces = db.execute(f"SELECT {cols} FROM faces f LEFT JOIN media m ON m.id = f.media_id "
                           "WHERE f.person_id = ? AND f.confirmed = 1 ORDER BY f.id", [pid]).fetchall()
        rejected = db.execute(f"SELECT {cols} FROM rejections r JOIN faces f ON f.id = r.face_id "
                              "LEFT JOIN media m ON m.id = f.media_id WHERE r.person_id = ? ORDER BY f.id",
                              [pid]).fetchall()
        out.append({"name": name, "hidden": bool(hidden), "faces": [face_ref(r) for r in faces],
                    "rejected": [face_ref(r) for r in rejected if r[1] is not None]})
    return {"schema": EXPORT_SCHEMA, "kind": "idlens-people", "people": out}


@_writes("importing names")
def import_decisions(people: People, data: dict) -> dict:
    """Apply an export to this library: names, confirmed faces, rejections. Faces not (yet) in this library are
    counted as unmatched and skipped; importing twice changes nothing."""
    if not isinstance(data, dict) or data.get("kind") != "idlens-people" or data.get("schema", 0) > EXPORT_SCHEMA:
        raise PeopleError("not an Idlens people export (or one from a newer Idlens)")
    db = people.db
    stats = {"people": 0, "faces": 0, "rejections": 0, "unmatched": 0}

    def match(ref) -> int | None:
        media = db.execute("SELECT id FROM media WHERE fingerprint = ? ORDER BY status = 'indexed' DESC LIMIT 1",
                           [ref.get("fingerprint")]).fetchone()
        if media is None and ref.get("path"):
            media = db.execute("SELECT id FROM media WHERE path = CAST(? AS TEXT)", [cat.db_path(ref["path"])]).fetchone()
        if media is None:
            return None
        best, best_iou = None, 0.5
        for fid, ts, x, y, w, h in db.execute("SELECT id, timestamp, x, y, w, h FROM faces WHERE media_id = ?",
                                              [media[0]]):
            if (ts is None) != (ref.get("timestamp") is None) or (ts is not None and abs(ts - ref["timestamp"]) > 0.01):
                continue
            iou = _iou((x, y, w, h), ref["box"])
            if iou >= best_iou:
                best, best_iou = fid, iou
        return best

    with people.catalog.transaction():
        for person in data.get("people", []):
            name = " ".join(str(person.get("name", "")).split())
            if not name:
                continue
            row = db.execute("SELECT id FROM people WHERE name = ? COLLATE NOCASE", [name]).fetchone()
            pid = row[0] if row else people._new_person(name)
            stats["people"] += 1
            db.execute("UPDATE people SET hidden = ? WHERE id = ?", [int(bool(person.get("hidden"))), pid])
            for ref in person.get("faces", []):
                if "embedding" in ref:
                    vec = np.asarray(ref["embedding"], dtype=np.float32)
                    known = [r[0] for r in db.execute(
                        "SELECT embedding FROM faces WHERE media_id IS NULL AND person_id = ?", [pid])]
                    if any(np.allclose(_vec(k), vec, atol=1e-5) for k in known):
                        continue
                    x, y, w, h = ref.get("box", (0, 0, 0, 0))
                    db.execute("INSERT INTO faces(media_id, x, y, w, h, landmarks, score, size, sharpness, usable, "
                               "embedding, backend, person_id, confirmed, source, created_at) "
                               "VALUES (NULL,?,?,?,?,?,1,?,100,1,?,?,?,1,?,?)",
                               [x, y, w, h, _blob(np.zeros(10)), min(w, h), _blob(vec), "import", pid,
                                ref.get("source"), time.time()])
                    stats["faces"] += 1
                    continue
                fid = match(ref)
                if fid is None:
                    stats["unmatched"] += 1
                    continue
                db.execute("DELETE FROM rejections WHERE face_id = ? AND person_id = ?", [fid, pid])
                people._set_person([fid], pid, confirmed=True)
                stats["faces"] += 1
            for ref in person.get("rejected", []):
                fid = match(ref)
                if fid is None:
                    stats["unmatched"] += 1
                    continue
                db.execute("INSERT OR IGNORE INTO rejections(face_id, person_id) VALUES (?, ?)", [fid, pid])
                db.execute("UPDATE faces SET person_id = NULL, confirmed = 0 WHERE id = ? AND person_id = ?", [fid, pid])
                stats["rejections"] += 1
    people.cluster()
    return stats
