"""Apply the one rule (core.faces.rule) to the catalog: every face the user did not confirm is put where the rule
says, unnamed groups are formed, kept (their ids, when most of a group is the same faces) or dropped.

Runs inside the caller's transaction after every change of what the user decided, and after indexing. Idempotent:
on a settled library it writes nothing (so `recluster` of an unchanged library is a no-op by construction).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

import numpy as np

from core.store import Catalog
from core.store.records import vec

from . import clustering, quality, rule
from .found import FoundFaces

log = logging.getLogger(__name__)
FACES_CHECKED = "1"  # the version of the `usable`/`voter` decision that the stored faces follow
GROUPING_RULE = 2    # the version of the grouping the cache holds (2: two faces of one picture never one group)


@dataclass
class SettleReport:
    assigned: int = 0          # faces now with a person that had none
    moved: int = 0             # faces now with another person
    released: int = 0          # faces now with nobody that had someone
    new_groups: int = 0
    kept_groups: int = 0
    dropped_groups: int = 0
    grouped_faces: int = 0
    unassigned: int = 0        # usable faces with nobody
    rechecked: int = 0         # faces whose usable/voter flags were decided again (a library from before)
    seconds: float = 0.0

    @property
    def changed(self) -> int:
        return self.assigned + self.moved + self.released


def load(catalog: Catalog) -> rule.Faces:
    rows = catalog.faces.rule_rows()
    n = len(rows)
    dim = len(vec(rows[0][3])) if rows else 128
    vectors = np.empty((n, dim), np.float32)
    for i, r in enumerate(rows):
        vectors[i] = vec(r[3])
    in_video = np.array([r[2] is not None for r in rows], bool)
    pictures: dict[str, int] = {}
    picture = np.array([pictures.setdefault(r[14], len(pictures)) for r in rows], np.int64)
    return rule.Faces(
        ids=np.array([r[0] for r in rows], np.int64), vectors=vectors,
        track=np.array([-1 if r[1] is None else r[1] for r in rows], np.int64), in_video=in_video,
        usable=np.array([bool(r[7]) for r in rows], bool), voter=np.array([bool(r[8]) for r in rows], bool),
        bands=[quality.band_of(r[4], r[5], r[6], v) for r, v in zip(rows, in_video)],
        confirmed=np.array([r[10] if r[9] and r[10] is not None else -1 for r in rows], np.int64),
        order=np.arange(n, dtype=np.int64), rejected=catalog.faces.rejections(), picture=picture)


def settle(catalog: Catalog, settings) -> SettleReport:
    """Inside the caller's transaction."""
    start = time.perf_counter()
    report = SettleReport()
    if catalog.meta.get("faces_checked") != FACES_CHECKED:
        # A library from before: which faces may found a group or vote is decided again, once.
        report.rechecked = FoundFaces(catalog, settings).recheck()
        catalog.meta.set("faces_checked", FACES_CHECKED)
    faces = load(catalog)
    thresholds = rule.Thresholds.of(settings)
    cached = catalog.faces.grouping()
    kept_for = json.loads(catalog.meta.get("grouping") or "{}")
    # A grouping cached by an earlier version of the rule (GROUPING_RULE) is worked out again, once.
    same_rule = kept_for.get("rule") == GROUPING_RULE
    previous = rule.Grouping(cached, kept_for.get("threshold") if same_rule else None, kept_for.get("min_cluster"))
    outcome = rule.resolve(faces, thresholds, previous)
    catalog.faces.set_grouping(cached, outcome.grouping.faces)
    wanted_key = {"threshold": thresholds.cluster, "min_cluster": thresholds.min_cluster, "rule": GROUPING_RULE}
    if kept_for != wanted_key:
        catalog.meta.set("grouping", json.dumps(wanted_key))
    current = catalog.faces.unconfirmed_owners()
    derived = catalog.faces.unnamed_groups()  # unnamed person -> faces, of groups without a confirmed face
    decided_people = {int(p) for p in faces.confirmed[faces.confirmed >= 0]}
    earlier = {p: set(fs) for p, fs in derived.items() if p not in decided_people}
    # A face the user said is not a group stays in its lineage: without it the group would look like another one
    # next time (the grouping still puts it there), take a new id, and the "not this person" would be lost.
    for face_id, people in faces.rejected.items():
        if face_id in current and face_id not in outcome.person:
            for p in people & set(earlier):
                earlier[p].add(face_id)
    wanted: dict[int, int | None] = {f: None for f in current}
    wanted.update(outcome.person)
    taken: set[int] = set()
    for group in outcome.groups:
        members = set(group)
        near = ({owner for f in group if (owner := current.get(f)) is not None}
                | set().union(*(faces.rejected.get(f, set()) for f in group)))
        near &= set(earlier)  # only groups that share a face can continue it
        person_id = clustering.same_group(members, {p: earlier[p] for p in near}, taken)
        if person_id is None:
            person_id = catalog.people.create()
            report.new_groups += 1
        else:
            report.kept_groups += 1
        taken.add(person_id)
        # A face the user said is not this group stays out of it.
        for f in group:
            if person_id not in faces.rejected.get(f, ()):
                wanted[f] = person_id
        report.grouped_faces += len(group)
    changes = []
    for face_id, person_id in wanted.items():
        before = current.get(face_id)
        if before == person_id:
            continue
        changes.append((person_id, face_id))
        if before is None:
            report.assigned += 1
        elif person_id is None:
            report.released += 1
        else:
            report.moved += 1
    if changes:
        catalog.faces.set_people(changes)
    report.dropped_groups = len(set(earlier) - taken)
    catalog.people.drop_empty_unnamed()
    report.unassigned = catalog.faces.count_unassigned_usable()
    report.seconds = time.perf_counter() - start
    log.debug("settled: %s", report)
    return report
