"""Identity-aware search: a query's people, filters and context, fused into one ranked list that explains itself.

- People named in the query must all appear (AND): candidates come from their faces, not from CLIP. The identity
  score of a file is, for each person, their best face in it (1.0 for a face the user confirmed, else its similarity
  to the person's confirmed faces), and the weakest person counts.
- The context ("a person playing guitar") is scored by CLIP on the candidates' own vectors (photos) or on the
  frames where the person is seen (videos).
- Without people, candidates come from the vector index. No fixed similarity cut-off: CLIP's scores shift from query
  to query (Immich #5996), so each query is measured against its own background — the similarity of the same text
  to a random sample of the library — and results must stand `MIN_Z` standard deviations above it.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import asdict, dataclass, field

import numpy as np

from core.clip.spec import ModelUnavailable
from core.library import Library
from core.media.dates import newest_first_key, taken_of
from core.media.reasons import MediaError
from core.media.reasons import explain
from core.media.scanner import media_kind, offline_files, offline_roots
from core.paths import is_under_any
from core.store import INDEXED, Media

from . import moments
from .query import NothingToSearch, ParsedQuery, parse

log = logging.getLogger(__name__)

MIN_Z = 2.0            # how far above the query's background a context-only result must stand
MIN_KEEP = 3           # the best few are always shown, so a query never silently returns nothing
BACKGROUND_SAMPLE = 2000
IDENTITY_WEIGHT = 0.1  # with people, presence is already required; identity only breaks near-ties of context
IDCLIP_WEIGHT = 0.5    # a trained Id-CLIP query ("[TOK] playing guitar") adds its own view of the context
MOMENTS = 5           # context-only results: the best few matching frames of a video


@dataclass
class Result:
    path: str
    kind: str
    score: float
    timestamp: float | None = None
    media_id: int = 0
    duration: float | None = None
    captured_at: str | None = None   # the capture date alone (None when the file has none)
    moments: list[dict] = field(default_factory=list)
    why: dict = field(default_factory=dict)
    fingerprint: str = ""   # content fingerprint: finds the thumbnail
    # Videos found by people: every span where they are on screen (together), in time order, no cap.
    spans: list[dict] = field(default_factory=list)
    date: str | None = None       # when it was taken (core.media.dates): the capture date, else the file date
    dated_by: str | None = None   # "capture" or "file" (None: no date)

    @classmethod
    def of(cls, m: Media, score: float, timestamp: float | None = None, **fields) -> Result:
        when = taken_of(m)
        return cls(m.path, m.kind, score, timestamp, m.id, m.duration, m.captured_at, fingerprint=m.fingerprint,
                   date=when.text if when else None, dated_by=when.by if when else None, **fields)

    def to_json(self) -> dict:
        d = asdict(self)
        d["score"] = round(float(self.score), 4)
        return d


@dataclass
class SearchOutcome:
    query: ParsedQuery
    results: list[Result]
    cut_off: float | None = None   # the adaptive context threshold used, if any
    offline_files: int = 0         # files left out because their folder cannot be reached now


def search(library: Library, text: str | None = None, image_path: str | None = None, k: int = 20,
           kind: str | None = None, only: bool = False, today: dt.date | None = None) -> SearchOutcome:
    library.check_model()
    people = library.people
    q = parse(text or "", people.name_entries(), today)
    q.kind = kind or q.kind
    q.only = only or q.only
    if q.empty and not image_path:
        raise NothingToSearch(f"nothing to search for in “{text or ''}”: no person, date, media type or words "
                              "(try words, a name, or --image)")
    vector = None
    if image_path:
        image = _query_image(library, image_path)
        vector = library.embedder.encode_images([library.embedder.preprocess(image)])[0]
    elif q.context:
        vector = library.embedder.encode_texts([q.context])[0]

    if q.people:
        results = _with_people(library, q, vector)
        cut = None
    elif vector is not None:
        results, cut = _context_only(library, q, vector, k)
    else:
        results, cut = _filters_only(library, q), None
    gone = offline_roots(library.catalog)
    if gone:  # an unplugged drive: its files are not shown, whether or not an index has noticed yet
        results = [r for r in results if not is_under_any(r.path, gone)]
    return SearchOutcome(q, results[:k], cut, offline_files(library.catalog, gone))


def _query_image(library: Library, path: str):
    """The photo a search is by, or a MediaError that says in plain words why it cannot be (a video, not a photo)."""
    try:
        from core.media.images import decode_image  # Pillow and libheif: only a search by photo needs them

        return decode_image(path, library.embedder.preprocessing.min_side, draft=False).source  # one resize, as open_clip
    except (MediaError, OSError) as e:
        message, detail = explain(e, path, media_kind(path) or "image", query=True)
        raise MediaError(f"{path}: {message}", detail) from e


# -- people first ---------------------------------------------------------------------------------------------------
def _with_people(library: Library, q: ParsedQuery, vector) -> list[Result]:
    people = library.people
    # mention -> media -> [(face_id, ts, identity, person_id, track start, track end)]; a partial name fitting
    # several people takes any of them.
    presence: list[dict[int, list[tuple]]] = []
    for mention in q.people:
        seen: dict[int, list[tuple]] = {}
        for person_id in mention.person_ids:
            for media_id, faces in people.presence(person_id).items():
                seen.setdefault(media_id, []).extend(
                    (s.face_id, s.timestamp, score, person_id, s.track_start, s.track_end) for s, score in faces)
        presence.append(seen)
    media_ids = set.intersection(*(set(p) for p in presence)) if presence else set()
    media = {m.id: m for m in library.catalog.media.indexed(media_ids) if _passes(m, q)}
    names = {pid: name for mention in q.people for pid, name in mention.candidates}
    wanted = {pid for mention in q.people for pid in mention.person_ids}
    # Videos: only the spans where everyone named is on screen together (and, with "only", nobody else).
    spans: dict[int, list[moments.Span]] = {}
    for media_id, m in list(media.items()):
        if m.kind == "video":
            seen_spans = [moments.person_spans((f[1], f[4], f[5]) for f in presence[n][media_id])
                          for n in range(len(q.people))]
            spans[media_id] = moments.together(seen_spans)
            if q.only:
                spans[media_id] = moments.without(spans[media_id], _others_seen(library, media_id, wanted))
            if not spans[media_id]:
                del media[media_id]
        elif q.only and library.catalog.faces.others_in_media(media_id, wanted):
            del media[media_id]
    context = _item_scores(library, list(media), vector) if vector is not None else {}
    idclip_scores = _idclip_scores(library, q, list(media)) if q.context else {}
    results = []
    for media_id, m in media.items():
        per_person = []
        for n, mention in enumerate(q.people):
            face_id, ts, identity, person_id, _, _ = max(presence[n][media_id], key=lambda f: f[2])
            per_person.append({"name": names.get(person_id, mention.name), "person_id": person_id,
                               "face_id": face_id, "similarity": round(identity, 4), "timestamp": ts})
        identity = min(p["similarity"] for p in per_person)
        why: dict[str, object] = {"people": per_person}
        found: list[dict] = []
        rows: list[dict] = []
        if m.kind == "video":
            # Each span where everyone is seen together leads with its best frame (by context when there is
            # one); every span is kept, in time order in `spans`, best first in `moments`.
            frames = context.get(media_id, {})
            rows = []
            for span in spans[media_id]:
                best = max(sorted(span.times), key=lambda t: frames.get(t, identity))
                rows.append(span.to_json(best, float(frames.get(best, identity))))
            found = sorted(({"timestamp": r["best"], "score": r["score"]} for r in rows), key=lambda x: -x["score"])
            ctx = found[0]["score"] if found and frames else None
            best_t = found[0]["timestamp"] if found else per_person[0]["timestamp"]
        else:
            ctx = context.get(media_id, {}).get(None)
            best_t = None
        if vector is not None and ctx is not None:
            why["context"] = {"text": q.context or "(image)", "score": round(float(ctx), 4)}
            score = float(ctx) + IDENTITY_WEIGHT * identity
        else:
            score = identity
        if media_id in idclip_scores:
            best = max(idclip_scores[media_id].values())
            why["idclip"] = round(best, 4)
            score += IDCLIP_WEIGHT * best
        results.append(Result.of(m, score, best_t, moments=found, why=why, spans=rows))
    results.sort(key=lambda r: (-r.score, r.path))
    return results


def _others_seen(library: Library, media_id: int, wanted: set[int]) -> set[float]:
    """Frames of a video where a clear face of someone not asked for is seen (`voter`: clear enough to tell who
    it is, decided once, when the face was stored: core.faces.found.FoundFaces.usable)."""
    return {f["timestamp"] for f in library.catalog.faces.in_video(media_id)
            if f["person_id"] not in wanted and f["voter"]}


def _idclip_scores(library: Library, q: ParsedQuery, media_ids: list[int]) -> dict[int, dict]:
    """With a trained translator: the query with [TOK] in place of the (first) person, their face descriptor in
    its slot, scored against the candidates' CLIP vectors."""
    try:
        idclip = library.idclip
    except ModelUnavailable as e:  # a translator is configured, but torch (the research extra) is not installed
        q.notes.append(f"Id-CLIP is not used: {e}")
        return {}
    if idclip is None or not media_ids:
        return {}
    from core.idclip.model import PLACEHOLDER

    person = q.people[0]
    text = q.text
    for mention in q.people:
        text = text.replace(mention.text, PLACEHOLDER if mention is person else "a person", 1)
    evidence = library.catalog.faces.confirmed_embeddings(person.person_id)
    if not len(evidence):
        return {}
    face = evidence.mean(axis=0)
    import torch

    with torch.no_grad():
        vector = idclip.encode_text([text], (face / np.linalg.norm(face))[None]).cpu().numpy()[0]
    return _item_scores(library, media_ids, vector)


def _item_scores(library: Library, media_ids: list[int], vector) -> dict[int, dict]:
    """Context similarity of every vector of these files: {media: {timestamp or None: score}}."""
    if not media_ids:
        return {}
    rows = library.catalog.items.of_media(library.model_spec, media_ids)
    out: dict[int, dict] = {}
    if not rows:
        return out
    scores = np.stack([v for _, _, v in rows]) @ vector
    for (media_id, ts, _), score in zip(rows, scores):
        out.setdefault(media_id, {})[ts] = float(score)
    return out


# -- no people: the vector index --------------------------------------------------------------------------------------
def _context_only(library: Library, q: ParsedQuery, vector, k: int) -> tuple[list[Result], float]:
    index = library.index
    if len(index) == 0:
        return [], 0.0
    mean, std = _background(library, vector)
    cut = mean + MIN_Z * std
    fetch = min(len(index), max(k * 8, 64))
    while True:
        labels, scores = index.search(vector, fetch)
        hits = library.catalog.items.resolve(labels)
        grouped: dict[int, Result] = {}
        media = {m.id: m for m in library.catalog.media.indexed({h.media_id for h in hits.values()})}
        for label, score in zip(labels, scores):
            hit = hits.get(int(label))
            if hit is None or hit.media_id not in media or not _passes(media[hit.media_id], q):
                continue
            r = grouped.get(hit.media_id)
            if r is None:
                m = media[hit.media_id]
                z = (float(score) - mean) / std if std > 0 else 0.0
                r = grouped[hit.media_id] = Result.of(
                    m, float(score), hit.timestamp,
                    why={"context": {"text": q.context or "(image)", "score": round(float(score), 4),
                                     "z": round(z, 2)}})
            if hit.kind == "video" and len(r.moments) < MOMENTS:
                r.moments.append({"timestamp": hit.timestamp, "score": round(float(score), 4)})
        ranked = sorted(grouped.values(), key=lambda r: -r.score)
        # Fetched deep enough when k results passed the filters, or the whole index was read.
        if len(ranked) >= k or fetch >= len(index):
            break
        fetch = min(len(index), fetch * 4)
    kept = [r for i, r in enumerate(ranked) if r.score >= cut or i < MIN_KEEP]
    return kept, cut


def _background(library: Library, vector) -> tuple[float, float]:
    """Mean and spread of this query's similarity to a random sample of the library (kept in memory)."""
    sample = library.index.sample(BACKGROUND_SAMPLE)
    if not len(sample):
        return 0.0, 0.0
    sims = sample @ (np.asarray(vector, dtype=np.float32) / max(float(np.linalg.norm(vector)), 1e-12))
    return float(sims.mean()), float(sims.std())


def _filters_only(library: Library, q: ParsedQuery) -> list[Result]:
    """'videos from 2019': no words to score; the newest first."""
    rows = [m for m in library.catalog.media.with_status(INDEXED) if _passes(m, q)]
    rows.sort(key=lambda m: newest_first_key(taken_of(m)), reverse=True)
    return [Result.of(m, 0.0, why={"filters": True}) for m in rows]


# -- filters ------------------------------------------------------------------------------------------------------------
def _when(m: Media) -> dt.datetime | None:
    """When it was taken (core.media.dates): the capture date, else the file date."""
    when = taken_of(m)
    return when.at if when else None


def _passes(m: Media, q: ParsedQuery) -> bool:
    if q.kind and m.kind != q.kind:
        return False
    if q.date_from or q.date_to or q.month:
        when = _when(m)
        if when is None or (q.date_from and when < q.date_from) or (q.date_to and when >= q.date_to):
            return False
        if q.month and when.month != q.month:
            return False
    return True
