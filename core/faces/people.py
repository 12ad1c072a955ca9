"""People: storing the faces found in a file, grouping them into people, and every decision the user makes about
them (name, merge, move, reject, split, hide, reference photos, review).

The user's word is final: a face the user placed (`confirmed`) is never moved by clustering, and a face the user
said is "not this person" never returns to that person (a rejection row outlives re-scans and re-clustering).
Storage is the catalog's (`catalog.faces`, `catalog.people`); the grouping itself is `clustering`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from core import names
from core.settings import Settings
from core.store import Catalog, FaceSighting, Person

from . import clustering
from .crops import FaceCrops
from .detection import Face

log = logging.getLogger(__name__)
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
class Suggestion:
    face_id: int
    similarity: float
    path: str | None
    timestamp: float | None
    current_person: int | None
    reference_face: int | None = None   # the person's confirmed face closest to it: shown beside it to compare

    def to_json(self) -> dict:
        return {"face_id": self.face_id, "similarity": round(self.similarity, 4), "path": self.path,
                "timestamp": self.timestamp, "current_person": self.current_person,
                "reference_face": self.reference_face}


@dataclass
class Review:
    person: Person
    suggestions: list[Suggestion]   # the first `limit`, most likely first
    total: int                      # how many there are in all ("3 of 12")


@dataclass
class ClusterReport:
    assigned: int = 0
    new_people: int = 0
    kept_groups: int = 0            # groups formed again as they were before a recluster (their ids kept)
    clustered_faces: int = 0
    unassigned: int = 0
    merged_into_named: list[int] = field(default_factory=list)


def identity(sighting: FaceSighting, evidence: np.ndarray) -> float:
    """How surely a face of a person is them: 1.0 when the user confirmed it, else its similarity to the nearest
    face the user confirmed (0.0 without any). Search and the person's own listing both rank by this."""
    if sighting.confirmed:
        return 1.0
    return float((evidence @ sighting.embedding).max()) if len(evidence) else 0.0


def quality(face: Face) -> float:
    return face.size * face.score * min(face.sharpness, 500.0)


def writes(what: str):
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
    def __init__(self, catalog: Catalog, settings: Settings, crops: FaceCrops | None = None, lock=None):
        self.catalog, self.settings, self.crops = catalog, settings, crops
        self.faces, self.rows = catalog.faces, catalog.people
        self.lock = lock  # what -> context manager holding the library's write lock

    # -- storing faces ------------------------------------------------------------------------------------------
    def usable(self, face: Face) -> bool:
        s = self.settings
        return face.size >= s.face_min_size and face.score >= s.face_min_score and face.sharpness >= s.face_min_sharpness

    def store(self, media_id: int, found: list[FoundFace], backend: str, frame_ids: dict[float, int]) -> list[int]:
        """Write the faces of one file (inside the caller's transaction). Video faces seen in consecutive frames
        are linked into tracks; only the best face of a track may found or join a person, and the whole track
        follows it. Returns the new face ids."""
        if any(f.timestamp is not None for f in found):
            # One missed sample is forgiven (a turned head, a blink); a longer absence starts a new appearance.
            max_gap = max(2.5 * self.settings.video_interval, 3.0)
            tracks = clustering.link_tracks([f.timestamp for f in found],
                                            np.stack([f.face.embedding for f in found]),
                                            self.settings.face_track_match, max_gap)
        else:
            tracks = [[i] for i in range(len(found))]
        ids: list[int] = [0] * len(found)
        for members in tracks:
            track_id = None
            if len(members) > 1 or found[members[0]].timestamp is not None:
                times = [found[i].timestamp for i in members]
                track_id = self.faces.add_track(media_id, min(times), max(times))
            best = max(members, key=lambda i: quality(found[i].face))
            for i in members:
                f = found[i]
                face, k = f.face, f.to_original
                ids[i] = self.faces.add(
                    media_id=media_id, frame_id=frame_ids.get(f.timestamp) if f.timestamp is not None else None,
                    track_id=track_id, timestamp=f.timestamp, box=[v * k for v in face.box],
                    landmarks=face.landmarks * k, score=face.score, size=face.size, sharpness=face.sharpness,
                    usable=self.usable(face) and i == best, embedding=face.embedding, backend=backend)
                if self.crops:
                    self.crops.save(ids[i], face.crop)
        return ids

    def replace(self, media_id: int, found: list[FoundFace], backend: str, frame_ids: dict[float, int]) -> list[int]:
        """Store a file's faces in place of the ones found before (an edited photo, a new recogniser). Decisions
        about an old face (its person, confirmation, "not this person") pass to the new face in the same place."""
        decided, rejected = self.faces.decided_in_media(media_id)
        self.faces.remove_from_media(media_id)
        new_ids = self.store(media_id, found, backend, frame_ids)
        boxes = [{"id": new_id, "timestamp": f.timestamp, "x": f.face.box[0] * f.to_original,
                  "y": f.face.box[1] * f.to_original, "w": f.face.box[2] * f.to_original,
                  "h": f.face.box[3] * f.to_original} for new_id, f in zip(new_ids, found)]
        for old in decided:
            new = clustering.same_place(boxes, (old["x"], old["y"], old["w"], old["h"]), old["timestamp"])
            if new is None:
                continue
            if old["person_id"] is not None and old["confirmed"]:
                self.faces.assign([new], old["person_id"], confirmed=True)
            for rejected_person in rejected.get(old["id"], []):
                self.faces.reject(new, rejected_person)
        self.catalog.media.drop_unused_frames(media_id)
        return new_ids

    def crop_path(self, face_id: int):
        return self.crops.path(face_id)

    # -- clustering ---------------------------------------------------------------------------------------------
    @writes("grouping faces")
    def cluster(self, earlier: dict[int, set[int]] | None = None) -> ClusterReport:
        """Incremental: unassigned usable faces join the person whose nearest face is similar enough (never one
        that rejected them); the rest are grouped by average linkage, and groups big enough become new people.
        `earlier` (unnamed id -> its faces before a recluster): a group made mostly of the faces of one earlier
        group, holding most of them, takes that group's id again, so the ids the user saw stay meaningful."""
        report = ClusterReport()
        earlier, taken = earlier or {}, set()
        with self.catalog.transaction():
            ids, vecs = self.faces.unassigned_usable()
            if not len(ids):
                return report
            report.assigned = self._assign(ids, vecs)
            ids, vecs = self.faces.unassigned_usable()
            for start in range(0, len(ids), MAX_CLUSTER_BATCH):
                chunk_ids, chunk = ids[start:start + MAX_CLUSTER_BATCH], vecs[start:start + MAX_CLUSTER_BATCH]
                for group in clustering.average_linkage(chunk, self.settings.face_cluster):
                    if len(group) < self.settings.face_min_cluster:
                        continue
                    members = {int(chunk_ids[i]) for i in group}
                    person_id = clustering.same_group(members, earlier, taken)
                    if person_id is None or not self.rows.exists(person_id):
                        person_id = self.rows.create()
                        report.new_people += 1
                    else:
                        report.kept_groups += 1
                    taken.add(person_id)
                    self.faces.assign(sorted(members), person_id, confirmed=False)
                    report.clustered_faces += len(group)
            report.unassigned = self.faces.count_unassigned_usable()
        return report

    @writes("regrouping faces")
    def recluster(self) -> ClusterReport:
        """Start automatic grouping over: every face the user did not place is released, unnamed people that
        held only such faces disappear, and clustering runs on everything. Names and decisions stay."""
        self.catalog.backup("before-recluster")
        with self.catalog.transaction():
            earlier = self.faces.unnamed_groups()
            self.faces.release_unconfirmed()
        report = self.cluster(earlier)
        with self.catalog.transaction():
            self.rows.drop_empty_unnamed()
        return report

    @property
    def rule(self) -> clustering.NamingRule:
        s = self.settings
        return clustering.NamingRule(s.face_name_auto, s.face_name_support, s.face_name_sole, s.face_name_margin,
                                     s.face_match)

    def _assign(self, ids: np.ndarray, vecs: np.ndarray) -> int:
        """Unassigned faces join people: a named person only on strong evidence from the faces the user confirmed,
        an unnamed group more freely. The rest wait for grouping or for the user's review."""
        owners, evidence, _, named = self.faces.evidence()
        if not len(owners):
            return 0
        rejected = self.faces.rejections()
        chosen = clustering.choose_people(vecs, owners, evidence, named, self.rule,
                                          [rejected.get(int(f), set()) for f in ids])
        for face_id, person_id in zip(ids, chosen):
            if person_id is not None:
                self.faces.assign([int(face_id)], person_id, confirmed=False)
        return sum(p is not None for p in chosen)

    # -- looking up -----------------------------------------------------------------------------------------------
    def list(self, include_hidden: bool = False, named_only: bool = False) -> list[Person]:
        return self.rows.summaries(include_hidden, named_only)

    def find(self, ref: str | int) -> Person:
        """A person by id, by name or by alias (in core.names' normal form: any script, any case)."""
        person_id = self._lookup(ref)
        if person_id is None:
            raise PeopleError(f"no person {str(ref).strip()!r} (see `idlens people list`)")
        return self._person(person_id)

    def _lookup(self, ref: str | int) -> int | None:
        text = str(ref).strip()
        if text.isdigit() and self.rows.exists(int(text)):
            return int(text)
        person_id = self.rows.id_by_name(text)
        return person_id if person_id is not None else self.rows.id_by_alias(text)

    def _person(self, person_id: int) -> Person:
        person = self.rows.summary(person_id)
        if person is None:
            raise PeopleError(f"no person {person_id}")
        return person

    def face(self, face_id: int) -> dict:
        face = self.faces.get(face_id)
        if face is None:
            raise PeopleError(f"no face {face_id}")
        return face

    def faces_of(self, person_id: int) -> list[dict]:
        return self.faces.of_person(person_id)

    def faces_in(self, media_id: int) -> list[dict]:
        return self.faces.in_media(media_id)

    def names_lookup(self, text: str) -> int | None:
        return self.rows.id_by_name(text)

    def name_entries(self) -> list[tuple[int, str, str, str]]:
        """(person id, name, name or alias, "name" | "alias"): what a query or the completion may match."""
        return self.rows.name_entries()

    # -- the user's decisions -------------------------------------------------------------------------------------
    def name_taken_by(self, ref, name: str) -> Person | None:
        """The other person this name (or alias) already belongs to, if any: naming `ref` so merges the two."""
        person = self.find(ref)
        other = self.rows.id_by_name(name, except_id=person.id)
        if other is None and self.rows.id_by_alias(name) not in (None, person.id):
            other = self.rows.id_by_alias(name)
        return self._person(other) if other is not None else None

    @writes("naming people")
    def name(self, ref, name: str) -> Person:
        """Name (or rename) a person. The faces the user saw when naming are confirmed as that person. A name (or
        alias) that another person already has merges the two, as Apple Photos and Immich do, keeping that
        person's name as the library spells it. When both already have names, the front ends ask first
        (`name_taken_by`), as for `merge`."""
        name = _clean(name)
        person = self.find(ref)
        other = self.name_taken_by(person.id, name)
        with self.catalog.transaction():
            if other is not None:
                self.rows.merge(other.id, person.id)
                person_id = other.id
            else:
                person_id = person.id
                self.rows.rename(person_id, name)
            self.faces.confirm_all_of(person_id)
        return self._person(person_id)

    @writes("merging people")
    def merge(self, target_ref, source_ref) -> Person:
        """`source` joins `target`: its faces and its "not this person" answers move over; `source` is gone."""
        target, source = self.find(target_ref), self.find(source_ref)
        if target.id == source.id:
            raise PeopleError("cannot merge a person with themselves")
        with self.catalog.transaction():
            self.rows.merge(target.id, source.id)
        return self._person(target.id)

    @writes("moving a face")
    def move(self, face_id: int, person_ref) -> Person:
        """This face is this person (a name that nobody has yet creates the person). Also the "yes" of a review."""
        face = self.face(face_id)
        with self.catalog.transaction():
            person_id = self._lookup(person_ref)
            if person_id is None:
                if str(person_ref).strip().isdigit():
                    raise PeopleError(f"no person {str(person_ref).strip()!r} (see `idlens people list`)")
                person_id = self.rows.create(_clean(str(person_ref)))
            self.faces.forgive(face["id"], person_id)
            self.faces.assign([face["id"]], person_id, confirmed=True)
        return self._person(person_id)

    @writes("naming people")
    def restore_name(self, person_id: int, name: str | None) -> Person:
        """Put back the name a person had (an undo: no merging, `None` leaves them unnamed again)."""
        with self.catalog.transaction():
            self.rows.rename(person_id, _clean(name) if name else None)
        return self._person(person_id)

    @writes("rejecting a face")
    def reject(self, face_id: int, person_ref) -> None:
        """"Not this person": remembered for good; the face (and the rest of its appearance) leaves the person."""
        face = self.face(face_id)
        person = self.find(person_ref)
        with self.catalog.transaction():
            self.faces.reject(face["id"], person.id)
            if face["person_id"] == person.id:
                self.faces.release(face["id"], person.id)

    @writes("splitting a person")
    def split(self, person_ref, face_ids: list[int], name: str | None = None) -> Person:
        """Take some faces out of a person into a new one."""
        person = self.find(person_ref)
        mine = {f["id"] for f in self.faces_of(person.id)}
        stray = [f for f in face_ids if f not in mine]
        if stray:
            raise PeopleError(f"faces {stray} are not {person.label}'s")
        if name is not None:
            name = _clean(name)
            if self._lookup(name) is not None:
                raise PeopleError(f"{name} is already someone in the library; use `people move` to give them faces")
        with self.catalog.transaction():
            new = self.rows.create(name)
            self.faces.assign(list(face_ids), new, confirmed=True)
        return self._person(new)

    @writes("changing aliases")
    def alias(self, person_ref, aliases: list[str], remove: bool = False) -> Person:
        """Other names the person is found by ("Mum", "Sasha" for Aleksandra). An alias may not be anyone else's
        name or alias; removing one that is not there says so."""
        person = self.find(person_ref)
        if not person.name:
            raise PeopleError(f"name {person.label} first (`idlens people name {person.id} NAME`)")
        with self.catalog.transaction():
            for alias in aliases:
                alias = _clean(alias)
                if remove:
                    if not self.rows.remove_alias(person.id, alias):
                        raise PeopleError(f"{person.label} has no alias {alias!r}")
                    continue
                owner = self._lookup(alias)
                if owner == person.id and names.key(alias) == names.key(person.name):
                    raise PeopleError(f"{alias} is {person.label}'s name already")
                if owner not in (None, person.id):
                    holder = self._person(owner)
                    what = "the name" if names.key(alias) == names.key(holder.name or "") else "an alias"
                    raise PeopleError(f"{alias} is already {what} of {holder.label}; an alias belongs to one person")
                self.rows.add_alias(person.id, alias)
        return self._person(person.id)

    @writes("hiding a person")
    def hide(self, person_ref, hidden: bool = True) -> Person:
        person = self.find(person_ref)
        with self.catalog.transaction():
            self.rows.set_hidden(person.id, hidden)
        return self._person(person.id)

    @writes("adding a person")
    def add_reference(self, name: str, found: Face, source: str, backend: str) -> tuple[Person, int]:
        """A person from a reference photo: the face becomes a confirmed face of `name` (created if needed), then
        faces and unnamed groups that match it join them."""
        name = _clean(name)
        with self.catalog.transaction():
            person_id = self._lookup(name)  # a name always has a letter, so it is never read as an id
            if person_id is None:
                person_id = self.rows.create(name)
            face_id = self.faces.add(
                media_id=None, frame_id=None, track_id=None, timestamp=None, box=found.box,
                landmarks=found.landmarks, score=found.score, size=found.size, sharpness=found.sharpness,
                usable=True, embedding=found.embedding, backend=backend, person_id=person_id, confirmed=True,
                source=source)
            if self.crops:
                self.crops.save(face_id, found.crop)
            self.absorb_matching_groups(person_id)
        self.cluster()
        return self._person(person_id), face_id

    def absorb_matching_groups(self, person_id: int) -> list[int]:
        """Unnamed groups that are this person join them, on the naming rule: the group's faces as a whole are
        strong evidence (their mean passes `face_name_auto`, their best the rule for one face) and none of its
        faces is unlike the person (each at least `face_name_support`) — one stranger in a group keeps it apart."""
        mine = self.faces.confirmed_embeddings(person_id)
        rejected = self.faces.rejected_by(person_id)
        rule = self.rule
        merged = []
        for other in self.rows.unnamed_ids():
            if other == person_id:
                continue
            face_ids, theirs = self.faces.usable_of(other)
            if not len(theirs) or rejected & set(face_ids.tolist()) or not len(mine):
                continue
            sims = np.sort(theirs @ mine.T, axis=1)[:, ::-1]
            best = sims[:, 0]
            second = None if sims.shape[1] < 2 else float(sims[:, 1].max())
            if best.min() >= rule.support and best.mean() >= rule.auto and rule.strong(float(best.max()), second, 0.0):
                self.rows.merge(person_id, other)
                merged.append(other)
        return merged

    def suggest(self, person_ref, limit: int = 20) -> list[Suggestion]:
        return self.review(person_ref, limit).suggestions

    def review(self, person_ref, limit: int = 20) -> Review:
        """Faces worth asking "Is this Anna?" about, most likely first: plausible ones only (at least
        `face_suggest_floor` like one of the faces the user confirmed as them), never their own faces, never ones
        rejected for them, and a face the user confirmed as someone else only when it is much closer to this
        person (by `face_name_margin`). Each comes with the person's closest confirmed face, to compare."""
        person = self.find(person_ref)
        ref_ids, mine = self.faces.confirmed_of(person.id)
        if not len(mine):  # an unnamed group: its own faces are what it looks like
            ref_ids, mine = self.faces.usable_of(person.id)
        candidates = self.faces.review_candidates(person.id)
        if not candidates or not len(mine):
            return Review(person, [], 0)
        sims = np.stack([c.embedding for c in candidates]) @ mine.T
        theirs: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        out = []
        for c, row in zip(candidates, sims):
            best = float(row.max())
            if best < self.settings.face_suggest_floor:
                continue
            if c.confirmed:  # the user said it is someone else: ask again only if it is much more like this one
                if c.person_id not in theirs:
                    theirs[c.person_id] = self.faces.confirmed_of(c.person_id)
                ids, own = theirs[c.person_id]
                own = own[ids != c.face_id]  # its likeness to the *other* faces confirmed as that person
                if len(own) and best - float((own @ c.embedding).max()) < self.settings.face_name_margin:
                    continue
            out.append(Suggestion(c.face_id, best, c.path, c.timestamp, c.person_id, int(ref_ids[int(row.argmax())])))
        out.sort(key=lambda s: (-s.similarity, s.face_id))
        return Review(person, out[:limit], len(out))

    # -- search by person ---------------------------------------------------------------------------------------
    def presence(self, person_id: int) -> dict[int, list[tuple[FaceSighting, float]]]:
        """media id -> the person's faces in that file, each with its identity score."""
        evidence = self.faces.confirmed_embeddings(person_id)
        out: dict[int, list[tuple[FaceSighting, float]]] = {}
        for s in self.faces.sightings(person_id):
            out.setdefault(s.media_id, []).append((s, identity(s, evidence)))
        return out

    def appearances(self, person_id: int) -> list[dict]:
        """Media where the person appears: per file the best face (by identity) and, for videos, every moment a
        face of theirs was seen."""
        by_media = []
        for media_id, faces in self.presence(person_id).items():
            first = faces[0][0]
            best, score = max(faces, key=lambda f: f[1])
            moments = sorted(({"timestamp": s.timestamp, "score": round(i, 4)} for s, i in faces
                              if first.kind == "video" and s.timestamp is not None), key=lambda m: m["timestamp"])
            by_media.append({"media_id": media_id, "path": first.path, "kind": first.kind,
                             "duration": first.duration, "score": score, "face_id": best.face_id,
                             "timestamp": best.timestamp if first.kind == "video" else None, "moments": moments})
        return sorted(by_media, key=lambda e: (-e["score"], e["path"]))


def _clean(name: str) -> str:
    """A name as it is kept (core.names.clean); it needs at least one letter, so a year or a date is never a
    person ("2019", "12/05")."""
    name = names.clean(name)
    if not name:
        raise PeopleError("a name cannot be empty")
    if not names.has_letter(name):
        raise PeopleError(f"{name!r} is not a name: a name needs at least one letter")
    return name
