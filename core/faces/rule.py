"""Who a face is: the one rule, as a pure function.

Every face the user has not confirmed is placed by `resolve`, from nothing but (the faces the user confirmed, the
"not this person" answers, the settings, each face's quality). No path leads anywhere else: indexing, a reference
photo, naming or merging a group, recluster, import, undo and redo all change only what the user decided, then
`core.faces.settle` applies this function. So the same decisions give the same people whichever order the files
were indexed in and whichever commands ran before, and `recluster` on an unchanged library changes nothing.

1. **Named people** (any person with a face the user confirmed) take a face on its own only on strong evidence
   from their confirmed faces, at the thresholds of the face's quality band (`quality.BAND_RULES`, measured by
   `python -m bench calibration`); a face of a band without thresholds never carries a name on its own. A face
   placed automatically never vouches for the next, so nothing chains.
2. **A video appearance** (a track) votes with its frames: it joins a person when at least two of its frames are
   strong evidence for them and none for anyone else. A face seen in a single frame never carries a name alone.
   Frames of a track that holds a face the user confirmed follow that face.
3. **Unnamed groups** are what is left: the usable faces that joined nobody, grouped by average linkage. Average
   linkage at threshold t never joins faces of two parts of the "similarity >= t" graph (every pair across is below
   t), so it is computed part by part, and the result is the same as one run over everything.
4. **Naming or merging a group** confirms its core only (`group_core`): the face most like the rest, then every
   face that is like the core as a face must be like a person's confirmed faces (`joins_core`). The rest go through rule 1 like any face,
   and what stays out is offered in review.
A face never goes to a person it was rejected from; a rejection of any frame of a track keeps the whole appearance
from that person.
5. **One picture, different people.** Two faces of one photo (or one video frame) are two people: an appearance (a
   photo's face, or a track) never goes to a person another appearance of one of its pictures is with, and an
   unnamed group never holds two appearances that share a picture. Where two appearances of a picture are strong
   evidence for the same person, the stronger one takes them (then content order) and the other stays free. What
   the user confirmed is never undone by this: only the automatic placements give way.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from . import clustering, quality

log = logging.getLogger(__name__)
MAX_PART = 6000  # average linkage holds an n x n matrix: a bigger connected part is grouped in slices (logged)


@dataclass(frozen=True)
class Thresholds:
    """The settings the rule reads (core.settings: face_*)."""
    margin: float
    cluster: float
    min_cluster: int

    @classmethod
    def of(cls, settings) -> "Thresholds":
        return cls(settings.face_name_margin, settings.face_cluster, settings.face_min_cluster)


@dataclass
class Faces:
    """Every face of the library, as the rule sees it (arrays in one order; `order` is the content order: by file
    fingerprint, time and place, so the result does not depend on ids, which depend on indexing order)."""
    ids: np.ndarray            # (n,) int64
    vectors: np.ndarray        # (n, d) float32, unit
    track: np.ndarray          # (n,) int64, -1 for none (photos, reference faces)
    in_video: np.ndarray       # (n,) bool
    usable: np.ndarray         # (n,) bool: may found a group (a track's best face only)
    voter: np.ndarray          # (n,) bool: good enough to vote (every frame of a track that is)
    bands: list[str]           # quality band of each face
    confirmed: np.ndarray      # (n,) int64: the person the user confirmed it as, -1 for none
    order: np.ndarray          # (n,) int64 positions: the content order
    rejected: dict[int, set[int]] = field(default_factory=dict)   # face id -> people it is not
    picture: np.ndarray | None = None  # (n,) int64: the photo or video frame each face is in (None: each its own)


@dataclass
class Grouping:
    """The grouping of the free faces as it was last worked out: face id -> (part, group within it or -1). Parts
    are the connected parts of the "similarity >= threshold" graph over the free faces. Only a cache: `resolve`
    gives the same result with an empty one (tests/test_decisions.py checks it), it just recomputes what changed
    instead of everything (at 10,000 faces a full grouping takes seconds; a decision touches a part or two)."""
    faces: dict[int, tuple[int, int]] = field(default_factory=dict)
    threshold: float | None = None
    min_cluster: int | None = None


@dataclass
class Outcome:
    person: dict[int, int]          # unconfirmed face id -> named/decided person it belongs to
    groups: list[list[int]]         # unnamed groups (face ids), in content order of their first face
    grouping: Grouping = field(default_factory=Grouping)


def strong(band: str, sims_sorted: np.ndarray, runner_up: float, margin: float) -> bool:
    """Whether a face of `band` is strong evidence for a person whose confirmed faces it resembles as
    `sims_sorted` (descending), `runner_up` being its best likeness to anyone else."""
    rule = quality.BAND_RULES[band]
    if not len(sims_sorted):
        return False
    best = float(sims_sorted[0])
    # Either bar is enough: more confirmed faces never make the evidence weaker (a person who looks different
    # at 10 and at 40 is still found by their face at 40 once the face at 10 is confirmed too).
    alone = rule.sole is not None and best >= rule.sole
    together = (len(sims_sorted) >= 2 and rule.auto is not None and best >= rule.auto
                and float(sims_sorted[1]) >= (rule.support or 0.0))
    if not (alone or together):
        return False
    return best - runner_up >= max(margin, rule.margin)


def _votes(f: Faces, t: Thresholds) -> tuple[list[int | None], np.ndarray]:
    """For each face, the decided person it is strong evidence for (None if nobody), and its likeness to that
    person's nearest confirmed face (which of two faces of one picture is the stronger)."""
    n = len(f.ids)
    out: list[int | None] = [None] * n
    likeness = np.full(n, -1.0)
    evidence = np.flatnonzero(f.confirmed >= 0)
    if not len(evidence):
        return out, likeness
    owners = f.confirmed[evidence]
    people = np.unique(owners)
    columns = [evidence[owners == p] for p in people]
    grouped = np.concatenate(columns)  # evidence, person by person
    candidates = np.flatnonzero((f.confirmed < 0) & f.voter)
    for start in range(0, len(candidates), 4096):
        rows = candidates[start:start + 4096]
        sims = f.vectors[rows] @ f.vectors[grouped].T
        # Each person's confirmed faces, best first (for `strong`), and each person's best (for the runner-up).
        per = []
        offset = 0
        for c in columns:
            per.append(np.sort(sims[:, offset:offset + len(c)], axis=1)[:, ::-1])
            offset += len(c)
        bests = np.stack([p[:, 0] for p in per], axis=1)
        for r, i in enumerate(rows):
            no = f.rejected.get(int(f.ids[i]), ())
            order = np.argsort(-bests[r], kind="stable")
            j = next((int(j) for j in order if int(people[j]) not in no), None)
            if j is None:
                continue
            others = np.delete(bests[r], j)
            runner_up = float(others.max()) if len(others) else -1.0
            if strong(f.bands[i], per[j][r], runner_up, t.margin):
                out[i] = int(people[j])
                likeness[i] = float(per[j][r][0])
    return out, likeness


def resolve(f: Faces, t: Thresholds, previous: Grouping | None = None) -> Outcome:
    n = len(f.ids)
    votes, likeness = _votes(f, t)
    person: dict[int, int] = {}
    by_track: dict[int, list[int]] = {}
    for i in range(n):
        if f.track[i] >= 0:
            by_track.setdefault(int(f.track[i]), []).append(i)
    decided = np.zeros(n, bool)
    # Photos: each face on its own.
    for i, vote in enumerate(votes):
        if f.track[i] < 0 and f.confirmed[i] < 0 and vote is not None and f.usable[i]:
            person[int(f.ids[i])] = vote
            decided[i] = True
    # Video appearances: the frames the user confirmed lead; otherwise two votes and no dissent.
    for members in by_track.values():
        no = set().union(*(f.rejected.get(int(f.ids[i]), set()) for i in members))
        sure = [i for i in members if f.confirmed[i] >= 0]
        free = [i for i in members if f.confirmed[i] < 0]
        if sure:
            for i in free:
                lead = max(sure, key=lambda s: float(f.vectors[s] @ f.vectors[i]))
                p = int(f.confirmed[lead])
                if p not in f.rejected.get(int(f.ids[i]), set()):
                    person[int(f.ids[i])] = p
                decided[i] = True
            continue
        ballot = {v for v in (votes[i] for i in free) if v is not None}
        if len(ballot) == 1:
            p = ballot.pop()
            if p not in no and sum(votes[i] == p for i in free) >= 2:
                for i in free:
                    person[int(f.ids[i])] = p
                    decided[i] = True
    scenes = Scenes.of(f, by_track)
    scenes.one_person_a_picture(f, person, decided, likeness)
    groups, grouping = _groups(f, t, decided, by_track, previous or Grouping(), scenes)
    return Outcome(person, groups, grouping)


class Scenes:
    """Which appearances share a picture (rule 5). An appearance is a track, or a face on its own (a photo's face,
    a frame's face outside any track); its pictures are those of its faces."""

    def __init__(self, appearance: np.ndarray, pictures: list[set[int]], members: list[list[int]]):
        self.appearance = appearance      # (n,) face position -> appearance
        self.pictures = pictures          # appearance -> the pictures it is in
        self.members = members            # appearance -> face positions, in content order

    @classmethod
    def of(cls, f: Faces, by_track: dict[int, list[int]]) -> "Scenes":
        n = len(f.ids)
        picture = f.picture if f.picture is not None else np.arange(n, dtype=np.int64)
        appearance = np.full(n, -1, np.int64)
        members: list[list[int]] = []
        for i in f.order.tolist():
            if appearance[i] >= 0:
                continue
            faces = by_track[int(f.track[i])] if f.track[i] >= 0 else [i]
            appearance[faces] = len(members)
            members.append(faces)
        return cls(appearance, [{int(picture[i]) for i in m} for m in members], members)

    def apart(self, positions: list[int]) -> list[tuple[int, int]]:
        """The pairs (indexes into `positions`) whose appearances share a picture: never one person."""
        seen: dict[int, list[int]] = {}
        for k, i in enumerate(positions):
            for pic in self.pictures[int(self.appearance[i])]:
                seen.setdefault(pic, []).append(k)
        pairs = {(a, b) for ks in seen.values() for x, a in enumerate(ks) for b in ks[x + 1:]
                 if self.appearance[positions[a]] != self.appearance[positions[b]]}
        return sorted(pairs)

    def one_person_a_picture(self, f: Faces, person: dict[int, int], decided: np.ndarray,
                             likeness: np.ndarray) -> None:
        """Rule 5 for the named: appearances holding a face the user confirmed keep what they have; then the
        others, strongest first, each only if no appearance of its pictures is already with that person. One
        that gives way is released (its faces go back to grouping and review)."""
        taken: dict[int, set[int]] = {}   # picture -> the people placed in it
        candidates = []
        for a, faces in enumerate(self.members):
            owners = {person.get(int(f.ids[i]), int(f.confirmed[i])) for i in faces}
            owners.discard(-1)
            if (f.confirmed[faces] >= 0).any():
                for pic in self.pictures[a]:
                    taken.setdefault(pic, set()).update(owners)
            elif owners:
                candidates.append((-float(likeness[faces].max()), a, owners.pop()))
        for _, a, p in sorted(candidates):  # appearances are numbered in content order: ties go by it
            if any(p in taken.get(pic, ()) for pic in self.pictures[a]):
                for i in self.members[a]:
                    person.pop(int(f.ids[i]), None)
                    decided[i] = False
                continue
            for pic in self.pictures[a]:
                taken.setdefault(pic, set()).add(p)


def _groups(f: Faces, t: Thresholds, decided: np.ndarray, by_track: dict[int, list[int]],
            previous: Grouping, scenes: Scenes) -> tuple[list[list[int]], Grouping]:
    rank = np.empty(len(f.order), np.int64)
    rank[f.order] = np.arange(len(f.order))
    free = [int(i) for i in f.order if f.usable[i] and f.confirmed[i] < 0 and not decided[i]]
    free_ids = [int(f.ids[i]) for i in free]
    if previous.threshold != t.cluster or previous.min_cluster != t.min_cluster:
        previous = Grouping()
    old = previous.faces
    position = dict(zip(free_ids, free))
    kept = [fid for fid in free_ids if fid in old]
    added = [fid for fid in free_ids if fid not in old]
    gone_parts = {old[fid][0] for fid in old if fid not in position}
    # Units already known to be connected: a part that lost nobody stays whole; a part that lost faces is cut
    # up again among what is left of it; each new face is a unit of its own. Then new faces join units.
    units: list[list[int]] = []          # positions
    clean: dict[int, int] = {}           # unit index -> the old part it is, unchanged so far
    by_part: dict[int, list[int]] = {}
    for fid in kept:
        by_part.setdefault(old[fid][0], []).append(position[fid])
    for part, members in by_part.items():
        if part in gone_parts:
            for piece in clustering.connected_parts(f.vectors[members], t.cluster):
                units.append([members[k] for k in piece])
        else:
            clean[len(units)] = part
            units.append(members)
    for fid in added:
        units.append([position[fid]])
    unit_of = np.full(len(f.ids), -1, np.int64)
    for u, members in enumerate(units):
        unit_of[members] = u
    parent = np.arange(len(units))
    if added and free:
        new_pos = np.array([position[fid] for fid in added], np.int64)
        free_pos = np.array(free, np.int64)
        for start in range(0, len(new_pos), 2048):
            rows = new_pos[start:start + 2048]
            hit_r, hit_c = np.nonzero(f.vectors[rows] @ f.vectors[free_pos].T >= t.cluster)
            clustering.union(parent, unit_of[rows[hit_r]], unit_of[free_pos[hit_c]])
    unit_root = clustering.roots(parent, np.arange(len(units))).tolist()
    parts: dict[int, list[int]] = {}
    for u in range(len(units)):
        parts.setdefault(unit_root[u], []).append(u)
    out: list[list[int]] = []
    grouping = Grouping({}, t.cluster, t.min_cluster)
    next_label = max([p for p, _ in old.values()], default=-1) + 1
    for members_units in parts.values():
        members = sorted((i for u in members_units for i in units[u]), key=lambda i: rank[i])
        unchanged = len(members_units) == 1 and members_units[0] in clean
        if unchanged:
            label = clean[members_units[0]]
            raw: dict[int, list[int]] = {}
            for i in members:
                g = old[int(f.ids[i])][1]
                grouping.faces[int(f.ids[i])] = (label, g)
                if g >= 0:
                    raw.setdefault(g, []).append(i)
            found = list(raw.values())
        else:
            label, next_label = next_label, next_label + 1
            found = _link(f, t, members, rank, scenes)
            for g, group in enumerate(found):
                for i in group:
                    grouping.faces[int(f.ids[i])] = (label, g)
            for i in members:
                grouping.faces.setdefault(int(f.ids[i]), (label, -1))
        for faces in found:
            followers = []
            for i in faces:
                if f.track[i] >= 0:
                    followers += [j for j in by_track[int(f.track[i])]
                                  if j != i and f.confirmed[j] < 0 and not decided[j]]
            out.append(faces + followers)
    out.sort(key=lambda g: rank[g[0]])
    return [[int(f.ids[i]) for i in g] for g in out], grouping


def _link(f: Faces, t: Thresholds, members: list[int], rank: np.ndarray, scenes: Scenes) -> list[list[int]]:
    """Average linkage over one connected part (positions in content order), groups big enough, each in content
    order; two appearances of one picture never in one group (rule 5)."""
    if len(members) > MAX_PART:
        log.warning("a part of %d similar faces is grouped in slices of %d", len(members), MAX_PART)
    out = []
    for start in range(0, len(members), MAX_PART):
        chunk = members[start:start + MAX_PART]
        for group in clustering.average_linkage(f.vectors[chunk], t.cluster, scenes.apart(chunk)):
            if len(group) >= t.min_cluster:
                out.append(sorted((chunk[k] for k in group), key=lambda i: rank[i]))
    return out


def joins_core(band: str, sims_sorted: np.ndarray) -> bool:
    """Whether a face of a group the user names is part of its core: its nearest face in the core at least the
    band's `auto` (the bar of rule 1 for a person with several confirmed faces). The bar of a *single* confirmed face (`sole`) is not asked: there the one face is all
    the evidence and nobody looked, here the user vouched for the group they saw. A band without thresholds never
    joins (the face stays for review)."""
    r = quality.BAND_RULES[band]
    return r.auto is not None and len(sims_sorted) > 0 and float(sims_sorted[0]) >= r.auto


def group_core(vectors: np.ndarray, bands: list[str]) -> list[int]:
    """The faces of a group that naming it confirms (positions): the face most like the others (of those whose
    band may join at all), then, again and again, every face that `joins_core` beside the faces already taken.
    The result does not depend on the order of the faces (the test only grows with the core, so the fixed point
    is unique). Faces that never join stay unconfirmed: rule 1 and review decide them."""
    n = len(vectors)
    eligible = [i for i in range(n) if quality.BAND_RULES[bands[i]].auto is not None]
    if n == 0:
        return []
    if not eligible:  # nothing good enough to vouch for the rest: the user's group is its best face
        return [0] if n == 1 else [int(np.argmax([0 if b == "poor" else 1 for b in bands]))]
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, np.nan)
    means = [float(np.nanmean(sims[i, eligible])) if len(eligible) > 1 else 1.0 for i in eligible]
    core = [eligible[int(np.argmax(means))]]
    grew = True
    while grew:
        grew = False
        for i in eligible:
            if i not in core and joins_core(bands[i], np.sort(sims[i, core])[::-1]):
                core.append(i)
                grew = True
    return sorted(core)
