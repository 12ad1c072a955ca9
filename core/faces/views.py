"""What the app, the CLI and search read about people: the people list, a person's faces, the faces to review
("Is this Anna?"), and where a person appears (search by name). Nothing here changes the library."""
from __future__ import annotations

import builtins  # inside PeopleViews, after its `list` method, `list[...]` would name the method
import logging
from dataclasses import dataclass, fields

from pathlib import Path

import numpy as np

from core.settings import Settings
from core.store import Catalog, FaceSighting, Person

from .crops import FaceCrops

log = logging.getLogger(__name__)


class PeopleError(Exception):
    """A people operation that cannot be done as asked; the message says why."""


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


def identity(sighting: FaceSighting, evidence: np.ndarray) -> float:
    """How surely a face of a person is them: 1.0 when the user confirmed it, else its similarity to the nearest
    face the user confirmed (0.0 without any). Search and the person's own listing both rank by this."""
    if sighting.confirmed:
        return 1.0
    return float((evidence @ sighting.embedding).max()) if len(evidence) else 0.0



@dataclass(eq=False)
class ListedPerson(Person):
    """A person as the people list shows them: their files counted by kind too ("3 photos · 1 video"). Equal to
    the Person it counts (the kinds are a breakdown of `media`, not another person)."""
    photos: int = 0
    videos: int = 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Person) and all(getattr(self, f.name) == getattr(other, f.name)
                                                 for f in fields(Person))


class PeopleViews:
    def __init__(self, catalog: Catalog, settings: Settings, crops: FaceCrops | None = None):
        self.catalog, self.settings, self.crops = catalog, settings, crops
        self.faces, self.rows = catalog.faces, catalog.people

    def crop_path(self, face_id: int) -> Path | None:
        """The face's crop, made again from its file when it is missing or another face's (FaceCrops.ensure); None
        when this view keeps no crops or the file cannot give it (gone, offline, changed since it was indexed)."""
        return self.crops.ensure(face_id) if self.crops is not None else None

    # -- looking up -----------------------------------------------------------------------------------------------
    def list(self, include_hidden: bool = False, named_only: bool = False) -> list[Person]:
        kinds = self.rows.media_by_kind()
        return [ListedPerson(**vars(p), photos=kinds.get(p.id, {}).get("image", 0),
                             videos=kinds.get(p.id, {}).get("video", 0))
                for p in self.rows.summaries(include_hidden, named_only)]

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

    def faces_of(self, person_id: int) -> builtins.list[dict]:
        return self.faces.of_person(person_id)

    def faces_in(self, media_id: int) -> builtins.list[dict]:
        return self.faces.in_media(media_id)

    def names_lookup(self, text: str) -> int | None:
        return self.rows.id_by_name(text)

    def name_entries(self) -> builtins.list[tuple[int, str, str, str]]:
        """(person id, name, name or alias, "name" | "alias"): what a query or the completion may match."""
        return self.rows.name_entries()

    def suggest(self, person_ref, limit: int = 20) -> builtins.list[Suggestion]:
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
            # The user said it is someone else: ask again only if it is much more like this one.
            if c.confirmed and c.person_id is not None:
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
    def presence(self, person_id: int) -> dict[int, builtins.list[tuple[FaceSighting, float]]]:
        """media id -> the person's faces in that file, each with its identity score."""
        evidence = self.faces.confirmed_embeddings(person_id)
        out: dict[int, builtins.list[tuple[FaceSighting, float]]] = {}
        for s in self.faces.sightings(person_id):
            out.setdefault(s.media_id, []).append((s, identity(s, evidence)))
        return out

    def appearances(self, person_id: int) -> builtins.list[dict]:
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
