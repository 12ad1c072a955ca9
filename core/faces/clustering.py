"""Grouping faces, as pure numpy on embeddings: no database, testable on its own.

- `link_tracks`: faces of one person in consecutive video frames become one appearance.
- `choose_people`: for each face, the person it joins on its own — by its nearest faces of each person (a centroid
  would blur away how people change: age, glasses, beard), strictly for named people (NamingRule).
- `average_linkage`: new people from faces that joined nobody.
"""
from __future__ import annotations

import logging

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)


def link_tracks(timestamps: Sequence[float], embeddings: np.ndarray, match: float, max_gap: float) -> list[list[int]]:
    """Greedy linking in time order: a face continues the most similar open track from an earlier frame, if it is
    at least `match` similar and no more than `max_gap` seconds later. Returns tracks as lists of positions."""
    order = sorted(range(len(timestamps)), key=lambda i: timestamps[i] or 0.0)
    tracks: list[list[int]] = []
    for i in order:
        best, best_sim = None, match
        for t in tracks:
            last = t[-1]
            if timestamps[last] == timestamps[i] or timestamps[i] - timestamps[last] > max_gap:
                continue
            sim = float(embeddings[last] @ embeddings[i])
            if sim >= best_sim:
                best, best_sim = t, sim
        if best is None:
            tracks.append([i])
        else:
            best.append(i)
    return tracks


@dataclass
class NamingRule:
    """When a face may join a person on its own (see Settings: face_name_*)."""
    auto: float        # named: nearest confirmed face at least this similar
    support: float     # named, several confirmed faces: the second nearest at least this similar
    sole: float        # named, a single confirmed face: it must be at least this similar
    margin: float      # named: ahead of anyone else by at least this much
    group: float       # unnamed groups: nearest face at least this similar (grouping may be looser than naming)

    def strong(self, best: float, second: float | None, runner_up: float) -> bool:
        """Strong evidence that a face is a named person: `best` and `second` are its similarities to their two
        nearest confirmed faces (`second` None when they have only one), `runner_up` to anyone else."""
        enough = best >= self.sole if second is None else (best >= self.auto and second >= self.support)
        return enough and best - runner_up >= self.margin


def choose_people(vectors: np.ndarray, owners: np.ndarray, evidence: np.ndarray, named: np.ndarray,
                  rule: NamingRule, rejected: list[set[int]]) -> list[int | None]:
    """For each face, the person it joins on its own, or None (it stays for grouping or for review).

    `owners`/`evidence`/`named`: the faces that vouch for people (for named people only confirmed faces, so a face
    placed automatically never vouches for the next). A named person needs strong evidence (NamingRule.strong); an
    unnamed group takes a face whose nearest member is at least `rule.group` similar. A face goes nowhere it was
    rejected from, and never to a named person when the best match is named but weak."""
    people = np.unique(owners)
    out: list[int | None] = [None] * len(vectors)
    if not len(people) or not len(vectors):
        return out
    sims = vectors @ evidence.T
    columns = [np.flatnonzero(owners == p) for p in people]
    is_named = np.array([bool(named[c[0]]) for c in columns])
    top2 = np.full((len(vectors), len(people), 2), -np.inf)
    for j, c in enumerate(columns):
        part = np.sort(sims[:, c], axis=1)[:, ::-1]
        top2[:, j, :min(2, len(c))] = part[:, :2]
    for i in range(len(vectors)):
        best = top2[i, :, 0].copy()
        for j, p in enumerate(people):
            if int(p) in rejected[i]:
                best[j] = -np.inf
        j = int(np.argmax(best))
        if best[j] == -np.inf:
            continue
        others = np.delete(top2[i, :, 0], j)
        runner_up = float(others.max()) if len(others) else -1.0
        if is_named[j]:
            second = None if len(columns[j]) < 2 else float(top2[i, j, 1])
            if rule.strong(float(best[j]), second, runner_up):
                out[i] = int(people[j])
        elif best[j] >= rule.group:
            out[i] = int(people[j])
    return out


def average_linkage(vectors: np.ndarray, threshold: float,
                    apart: Sequence[tuple[int, int]] = ()) -> list[list[int]]:
    """Agglomerative clustering, average linkage on cosine similarity: merge the two groups whose faces are,
    on average, most alike, until no pair reaches `threshold`. Average linkage does not chain two people through
    one ambiguous face the way single linkage does. Each row's best partner is cached, so a merge costs O(n).
    `apart`: pairs that are never in one group (two faces of one photo). Their similarity is -inf, and the
    average of a group pair holding one stays -inf, so no merge ever brings them together."""
    n = len(vectors)
    if n == 0:
        return []
    sims = (vectors @ vectors.T).astype(np.float64)
    np.fill_diagonal(sims, -np.inf)
    if len(apart):
        a, b = np.asarray(apart, np.int64).T
        sims[a, b] = sims[b, a] = -np.inf
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


def connected_parts(vectors: np.ndarray, threshold: float, block: int = 2048) -> list[list[int]]:
    """The connected parts of the graph joining every pair at least `threshold` similar (positions, each part in
    increasing order, parts by their first position). Average linkage at `threshold` never joins two parts, so it
    can run part by part. Blocks of rows keep the memory at block x n."""
    n = len(vectors)
    parent = np.arange(n)
    for start in range(0, n, block):
        sims = vectors[start:start + block] @ vectors.T
        rows, cols = np.nonzero(sims >= threshold)
        rows = rows + start
        keep = cols > rows
        union(parent, rows[keep], cols[keep])
    labels = roots(parent, np.arange(n))
    parts: dict[int, list[int]] = {}
    for i, label in enumerate(labels.tolist()):
        parts.setdefault(label, []).append(i)
    return sorted(parts.values(), key=lambda p: p[0])


def roots(parent: np.ndarray, i: np.ndarray) -> np.ndarray:
    """The root of each element of `i` in the forest `parent`."""
    while True:
        up = parent[i]
        if np.array_equal(up, i):
            return i
        i = up


def union(parent: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """Join the trees of a[k] and b[k] for every k (in place), vectorised: each round hangs the larger root under
    the smaller, until every pair shares a root. The smallest element of a tree is its root."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    while len(a):
        ra, rb = roots(parent, a), roots(parent, b)
        apart = ra != rb
        if not apart.any():
            return
        lo, hi = np.minimum(ra[apart], rb[apart]), np.maximum(ra[apart], rb[apart])
        np.minimum.at(parent, hi, lo)
        parent[:] = parent[parent]
        a, b = a[apart], b[apart]


def same_group(members: set[int], earlier: dict[int, set[int]], taken: set[int]) -> int | None:
    """The earlier group a new group continues: more than half of the new group's faces came from it, and they
    are more than half of its faces. None when no earlier group (not already continued) qualifies."""
    best, best_overlap = None, 0
    for group_id, faces in earlier.items():
        overlap = len(members & faces)
        if group_id not in taken and overlap * 2 > len(members) and overlap * 2 > len(faces) and overlap > best_overlap:
            best, best_overlap = group_id, overlap
    return best


def iou(a, b) -> float:
    """Overlap of two (x, y, w, h) boxes: the same face in an edited photo or another library's copy."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def holds(box, point) -> bool:
    """Whether the (x, y, w, h) box holds the point (x, y)."""
    x, y, w, h = box
    return x <= point[0] <= x + w and y <= point[1] <= y + h


def centre(box) -> tuple[float, float]:
    x, y, w, h = box
    return x + w / 2, y + h / 2


def centred_on_each_other(a, b) -> bool:
    """Each box holds the other's centre: the same face drawn tighter or looser (another app's region)."""
    return holds(a, centre(b)) and holds(b, centre(a))


def same_place(boxes: list[dict], box, timestamp: float | None, min_iou: float = 0.5):
    """The id of the box (dicts with id, timestamp, x, y, w, h) that is this face: same video time, overlapping
    most (at least `min_iou`); None if none."""
    best, best_iou = None, min_iou
    for b in boxes:
        if (b["timestamp"] is None) != (timestamp is None) or (
                timestamp is not None and abs(b["timestamp"] - timestamp) > 0.01):
            continue
        overlap = iou((b["x"], b["y"], b["w"], b["h"]), box)
        if overlap >= best_iou:
            best, best_iou = b["id"], overlap
    return best
