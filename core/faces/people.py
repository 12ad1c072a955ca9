"""People: every decision the user makes about them (name, merge, move, reject, split, alias, hide, reference
photos, import), each one a journal entry that undo takes back exactly. Storing the faces found in a file is
core.faces.found's; what is read about people (lists, review, appearances) core.faces.views'.

A decision changes only what the user decided: names, aliases, hidden flags, "not this person" answers and the
faces the user confirmed. Where every other face goes is then the one rule's (core.faces.rule, applied by
core.faces.settle), so no path can place a face by a rule of its own. The user's word is final: a confirmed face is
never moved, and a face the user said is "not this person" never returns to that person.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from core import names
from core.settings import Settings
from core.store import Catalog, Person

from . import quality, rule
from .crops import FaceCrops
from .detection import Face
from .found import FoundFace  # noqa: F401 (re-exported: the indexer's word for a face it found)
from .settle import SettleReport, settle
from .views import PeopleError, PeopleViews, Review, Suggestion, identity  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)


@dataclass
class Made:
    """What a decision says of itself in the journal: its words and the people it was about."""
    summary: str = ""
    people: list = field(default_factory=list)


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


class People(PeopleViews):
    """Every decision about people (and, inherited, what is read about them: core.faces.views)."""

    def __init__(self, catalog: Catalog, settings: Settings, crops: FaceCrops | None = None, lock=None):
        super().__init__(catalog, settings, crops)
        self.lock = lock  # what -> context manager holding the library's write lock

    # -- the one rule ---------------------------------------------------------------------------------------------
    @writes("grouping faces")
    def settle(self) -> SettleReport:
        """Every face the user did not confirm, where the one rule puts it (core.faces.rule). After indexing."""
        with self.catalog.transaction():
            return settle(self.catalog, self.settings)

    @writes("regrouping faces")
    def recluster(self) -> SettleReport:
        """Work out every automatic placement again from the user's decisions alone. Since every path already
        places faces by the one rule, on a settled library this changes nothing (a safety net, and what a
        change of thresholds takes effect with)."""
        self.catalog.backup("before-recluster")
        return self.settle()

    # -- the journal ----------------------------------------------------------------------------------------------
    @contextmanager
    def deciding(self, kind: str, what: str):
        """One decision: under the write lock, in one transaction, recorded in the journal with every row it
        changed, the one rule applied before it commits (its effects are part of it, and of its undo)."""
        lock = self.lock(what) if self.lock is not None else _nothing()
        with lock:
            with self.catalog.transaction():
                journal = self.catalog.journal
                decision_id = journal.begin(kind)
                made = Made()
                try:
                    yield made
                    settle(self.catalog, self.settings)
                except BaseException:
                    journal.abandon()
                    raise
                kept = journal.end(decision_id, made.summary, made.people)
            if kept:  # committed: now also in the log beside the backups, still under the lock (order kept)
                self.catalog.log_decision(decision_id)

    def history(self, limit: int | None = 50):
        """The decisions made in this library, newest first (core.store.journal.Decision)."""
        return self.catalog.journal.history(limit)

    def can_undo(self):
        return self.catalog.journal.last_done()

    def can_redo(self):
        return self.catalog.journal.first_undone()

    @writes("undoing a decision")
    def undo(self):
        """Take back the last decision not yet taken back: every row it changed is as it was before it, then the
        one rule runs (for faces indexed since). Returns the decision, or None when there is nothing to undo."""
        return self._replay(self.catalog.journal.last_done, backwards=True)

    @writes("redoing a decision")
    def redo(self):
        """Make again the earliest decision that was undone (None when there is none)."""
        return self._replay(self.catalog.journal.first_undone, backwards=False)

    def _replay(self, which, backwards: bool):
        with self.catalog.transaction():
            decision = which()
            if decision is None:
                return None
            self.catalog.journal.apply(decision.id, backwards=backwards)
            self.catalog.journal.set_undone(decision.id, backwards)
            settle(self.catalog, self.settings)
        self.catalog.log_decision(decision.id, backwards)
        return decision

    def _derived(self, person_id: int) -> bool:
        """An unnamed group that only the rule made (no face of it confirmed)."""
        return self.rows.name_of(person_id) is None and not self.faces.confirmed_ids(person_id)

    def _confirm_core(self, group_id: int, as_person: int) -> int:
        """The user said a group is someone: the group's core (rule.group_core) is confirmed as `as_person`."""
        faces = self.faces.group_faces(group_id)
        if not faces:
            return 0
        vectors = np.stack([f[1] for f in faces])
        bands = [quality.band_of(f[2], f[3], f[4], f[5]) for f in faces]
        core = rule.group_core(vectors, bands)
        self.faces.confirm([faces[i][0] for i in core], as_person)
        return len(core)

    def _decided(self, person_id: int) -> None:
        """Before the user adds to or names a group the rule made, its core becomes theirs, so the group they saw
        stays what it was (and not only the one face they touched)."""
        if self._derived(person_id):
            self._confirm_core(person_id, person_id)

    # -- the user's decisions -------------------------------------------------------------------------------------
    def name_taken_by(self, ref, name: str) -> Person | None:
        """The other person this name (or alias) already belongs to, if any: naming `ref` so merges the two."""
        person = self.find(ref)
        other = self.rows.id_by_name(name, except_id=person.id)
        if other is None and self.rows.id_by_alias(name) not in (None, person.id):
            other = self.rows.id_by_alias(name)
        return self._person(other) if other is not None else None

    def name(self, ref, name: str) -> Person:
        """Name (or rename) a person. Naming a group the rule made confirms its core (the rest follow only if the
        rule says so, else they are offered in review). A name (or alias) that another person already has merges
        the two, as Apple Photos and Immich do, keeping that person's name as the library spells it. When both
        already have names, the front ends ask first (`name_taken_by`), as for `merge`."""
        name = _clean(name)
        person = self.find(ref)
        other = self.name_taken_by(person.id, name)
        kind = "merge" if other is not None else ("rename" if person.name else "name")
        with self.deciding(kind, "naming people") as made:
            if other is not None:
                self._merge(other.id, person.id)
                person_id = other.id
                made.summary = f"{person.label} is {other.label}"
            else:
                person_id = person.id
                self._decided(person_id)
                self.rows.rename(person_id, name)
                made.summary = f"renamed {person.name} to {name}" if person.name else f"named {_faces(person)} {name}"
            made.people = [_who(person), {"id": person_id, "name": self.rows.name_of(person_id)}]
        return self._person(person_id)

    def _merge(self, target: int, source: int) -> None:
        self._decided(target)
        if self._derived(source):
            self._confirm_core(source, target)
        self.rows.merge(target, source)

    def merge(self, target_ref, source_ref) -> Person:
        """`source` joins `target`: its confirmed faces (or, for a group the rule made, its core) and its "not this
        person" answers move over; `source` is gone; its name stays as an alias of `target`."""
        target, source = self.find(target_ref), self.find(source_ref)
        if target.id == source.id:
            raise PeopleError("cannot merge a person with themselves")
        with self.deciding("merge", "merging people") as made:
            self._merge(target.id, source.id)
            made.summary = f"merged {_label(source)} into {_label(target)}"
            made.people = [_who(target), _who(source)]
        return self._person(target.id)

    def move(self, face_id: int, person_ref) -> Person:
        """This face is this person (a name that nobody has yet creates the person). Also the "yes" of a review."""
        face = self.face(face_id)
        with self.deciding("move", "moving a face") as made:
            person_id = self._lookup(person_ref)
            if person_id is None:
                if str(person_ref).strip().isdigit():
                    raise PeopleError(f"no person {str(person_ref).strip()!r} (see `idlens people list`)")
                person_id = self.rows.create(_clean(str(person_ref)))
            self._decided(person_id)
            self.faces.forgive(face["id"], person_id)
            self.faces.confirm([face["id"]], person_id)
            label = self.rows.name_of(person_id) or f"Unnamed #{person_id}"
            made.summary = f"face {face_id} is {label}"
            made.people = [{"id": person_id, "name": self.rows.name_of(person_id)}]
        return self._person(person_id)

    def reject(self, face_id: int, person_ref) -> None:
        """"Not this person": remembered for good; the face (and the rest of its appearance) leaves the person."""
        face = self.face(face_id)
        person = self.find(person_ref)
        with self.deciding("reject", "rejecting a face") as made:
            self.faces.reject(face["id"], person.id)
            if face["person_id"] == person.id and face["confirmed"]:
                self.faces.unconfirm([face["id"]])
            made.summary = f"face {face_id} is not {person.label}"
            made.people = [_who(person)]

    def split(self, person_ref, face_ids: list[int], name: str | None = None) -> Person:
        """Take some faces out of a person into a new one (the user confirms them as the new person)."""
        person = self.find(person_ref)
        mine = {f["id"] for f in self.faces_of(person.id)}
        stray = [f for f in face_ids if f not in mine]
        if stray:
            raise PeopleError(f"faces {stray} are not {person.label}'s")
        if name is not None:
            name = _clean(name)
            if self._lookup(name) is not None:
                raise PeopleError(f"{name} is already someone in the library; use `people move` to give them faces")
        with self.deciding("split", "splitting a person") as made:
            self._decided(person.id)
            new = self.rows.create(name)
            self.faces.confirm(list(face_ids), new)
            made.summary = f"{len(face_ids)} {'face' if len(face_ids) == 1 else 'faces'} of {person.label} " \
                           f"split off{' as ' + name if name else ''}"
            made.people = [_who(person), {"id": new, "name": name}]
        return self._person(new)

    def alias(self, person_ref, aliases: list[str], remove: bool = False) -> Person:
        """Other names the person is found by ("Mum", "Sasha" for Aleksandra). An alias may not be anyone else's
        name or alias; removing one that is not there says so."""
        person = self.find(person_ref)
        if not person.name:
            raise PeopleError(f"name {person.label} first (`idlens people name {person.id} NAME`)")
        with self.deciding("alias", "changing aliases") as made:
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
            made.summary = f"{'removed' if remove else 'added'} {', '.join(aliases)} as " \
                           f"{'aliases' if len(aliases) > 1 else 'an alias'} of {person.label}"
            made.people = [_who(person)]
        return self._person(person.id)

    def hide(self, person_ref, hidden: bool = True) -> Person:
        person = self.find(person_ref)
        with self.deciding("hide", "hiding a person") as made:
            self.rows.set_hidden(person.id, hidden)
            made.summary = f"{'hid' if hidden else 'showed'} {person.label}"
            made.people = [_who(person)]
        return self._person(person.id)

    def add_reference(self, name: str, found: Face, source: str, backend: str) -> tuple[Person, int]:
        """A person from a reference photo: the face becomes a confirmed face of `name` (created if needed); the
        one rule then gives them the faces that are strong evidence for them."""
        name = _clean(name)
        with self.deciding("add", "adding a person") as made:
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
            made.summary = f"a reference photo of {self.rows.name_of(person_id)}"
            made.people = [{"id": person_id, "name": self.rows.name_of(person_id)}]
        return self._person(person_id), face_id

    def import_names(self, read: list[tuple[int, list, str]], look=None, backend: str | None = None) -> NamesImported:
        """Names other apps gave faces (core.faces.regions), as one decision: each region put on the face found in
        the same place (core.faces.regions.match) confirms it as the person of that name (a new person if nobody
        has it). Never a face the user confirmed in Idlens, nor a person the user said a face is not: their word
        in Idlens stands. A face named by the other app before follows it when its name there changed (a name
        corrected in digiKam), never when only its person was renamed in Idlens. `read`: (media id, regions, what they were read from); a file whose faces are not analysed
        yet waits for them (it is read again once they are). A region where no face was found at all is looked at
        again in its own crop by `look(media, regions)` (core.analysers.FaceNames.look: FoundFace or None for
        each); a face found there is added to the photo (recognised by `backend`) and named. Run after the faces
        are settled, so the decision holds only what the names changed."""
        from .clustering import centre, centred_on_each_other, holds, iou
        from .found import FoundFaces
        from .regions import MATCH_IOU, match

        report = NamesImported()
        todo: list[tuple[int | FoundFace, int, str, str]] = []  # (face id or a face to add, media id, name, source)
        done: list[tuple[int, str]] = []       # (media id, signature) once imported
        for media_id, found, signature in read:
            media = self.catalog.media.get(media_id)
            if media is None or media.faces_backend is None:
                report.waiting += 1
                continue
            done.append((media_id, signature))
            faces = [f for f in self.faces.boxes_in_media(media_id) if f["timestamp"] is None]
            boxes = [(f["x"], f["y"], f["w"], f["h"]) for f in faces]
            picks = match(found, boxes)
            confirmed = self.faces.confirmed_in_media(media_id)
            unseen = []  # regions with no face near them at all: looked for in their own crop
            for region, pick in zip(found, picks):
                try:
                    name = _clean(region.name)
                except PeopleError:
                    report.bad_names += 1
                    continue
                if pick is None:
                    near = any(iou(region.box, b) > 0 or holds(b, centre(region.box)) for b in boxes)
                    if near or look is None or backend is None:
                        report.unmatched += 1  # either of two faces, or no way to look: left alone
                    else:
                        unseen.append((region, name))
                    continue
                face_id = faces[pick]["id"]
                person_id = self._lookup(name)
                if face_id in confirmed:
                    named_from, named_as = confirmed[face_id]
                    if named_from is None or named_as is None:
                        report.kept += 1  # the user decided this face in Idlens
                    elif names.key(named_as) != names.key(name):
                        todo.append((face_id, media_id, name, region.source))  # renamed in the other app
                        report.renamed += 1
                    continue
                if person_id is not None and person_id in self.faces.rejected_people(face_id):
                    report.kept += 1  # the user said in Idlens that this face is not them
                    continue
                todo.append((face_id, media_id, name, region.source))
            if unseen:
                assert look is not None
                looked = list(zip(unseen, look(media, [r for r, _ in unseen])))
                for k, ((region, name), seen) in enumerate(looked):
                    # Nothing there a face detector can see (a pet, a turned head), a face Idlens has, or one
                    # that another region's crop found too (two names for one face: neither is put on it).
                    if seen is None or any(iou(seen.face.box, b) >= MATCH_IOU for b in boxes) or any(
                            other is not None and j != k and (iou(seen.face.box, other.face.box) >= MATCH_IOU
                                                              or centred_on_each_other(seen.face.box, other.face.box))
                            for j, (_, other) in enumerate(looked)):
                        report.unmatched += 1
                        continue
                    todo.append((seen, media_id, name, region.source))
        if not todo:
            with self.lock("reading names from other apps") if self.lock is not None else _nothing():
                with self.catalog.transaction():
                    for media_id, signature in done:
                        self.catalog.media.update(media_id, regions_read=signature)
            return report
        with self.deciding("xmp", "reading names from other apps") as made:
            named: dict[int, str | None] = {}
            adding = FoundFaces(self.catalog, self.settings, self.crops)
            for face, media_id, name, source in todo:
                person_id = self._lookup(name)
                if person_id is None:
                    person_id = self.rows.create(name)
                    report.new_people += 1
                if isinstance(face, FoundFace):  # found in the region's crop: a face of the photo from now on
                    assert backend is not None
                    [face] = adding.store(media_id, [face], backend, {})
                    report.found_in_region += 1
                self.faces.confirm([face], person_id, named_from=source, named_as=name)
                named[person_id] = self.rows.name_of(person_id)
                report.faces += 1
                report.files.add(media_id)
            for media_id, signature in done:
                self.catalog.media.update(media_id, regions_read=signature)
            sources = sorted({source for *_, source in todo})
            made.summary = (f"names from other apps ({', '.join(sources)}): {report.faces} "
                            f"{'face' if report.faces == 1 else 'faces'} in {len(report.files)} "
                            f"{'photo' if len(report.files) == 1 else 'photos'}")
            made.people = [{"id": pid, "name": n} for pid, n in named.items()]
        return report


@dataclass
class NamesImported:
    """What `People.import_names` did: faces named, people it created, and the regions it left, by why."""
    faces: int = 0
    files: set = field(default_factory=set)
    new_people: int = 0
    kept: int = 0        # faces the user had decided in Idlens: left as they were
    unmatched: int = 0   # no face found there (or either of two): not imported
    found_in_region: int = 0  # faces the detector had missed, found in the region's own crop and named
    renamed: int = 0     # faces named by another app before, whose name there changed: they follow it
    bad_names: int = 0   # not a name (no letter, too long)
    waiting: int = 0     # files whose faces are not analysed yet: read again once they are


@contextmanager
def _nothing():
    yield


def _label(p: Person) -> str:
    return p.name or f"a group of {p.faces} {'face' if p.faces == 1 else 'faces'}"


def _faces(p: Person) -> str:
    return f"a group of {p.faces} {'face' if p.faces == 1 else 'faces'}" if p.name is None else p.label


def _who(p: Person) -> dict:
    return {"id": p.id, "name": p.name}


def _clean(name: str) -> str:
    """A name as it is kept (core.names.clean); it needs at least one letter, so a year or a date is never a
    person ("2019", "12/05")."""
    try:
        name = names.clean(name)
    except names.BadName as e:  # too long: the front ends show people errors the same way everywhere
        raise PeopleError(str(e)) from None
    if not name:
        raise PeopleError("a name cannot be empty")
    if not names.has_letter(name):
        raise PeopleError(f"{name!r} is not a name: a name needs at least one letter")
    return name

