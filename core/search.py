"""Searching a library by text or by example image. Results are media, best first; a video is one result that
carries its best moment (`timestamp`) and its other matching moments."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .images import decode_image
from .library import Library

MOMENTS_PER_VIDEO = 5


@dataclass
class Moment:
    timestamp: float
    score: float


@dataclass
class SearchResult:
    path: str
    kind: str                      # "image" or "video"
    score: float                   # cosine similarity of the best match, -1..1
    timestamp: float | None = None  # videos: the best moment, in seconds
    media_id: int = 0
    duration: float | None = None
    moments: list[Moment] = field(default_factory=list)  # videos: best moments, best first

    def to_json(self) -> dict:
        d = asdict(self)
        d["score"] = round(float(self.score), 4)
        d["moments"] = [{"timestamp": m.timestamp, "score": round(float(m.score), 4)} for m in self.moments]
        return d


def search_text(library: Library, query: str, k: int = 20) -> list[SearchResult]:
    query = query.strip()
    if not query:
        raise ValueError("empty query")
    library.check_model()  # before loading a model whose answer would be refused anyway
    vector = library.embedder.encode_texts([query])[0]
    return search_vector(library, vector, k)


def search_image(library: Library, path: str, k: int = 20) -> list[SearchResult]:
    """Photos and video moments that look like the photo at `path` (which need not be in the library)."""
    library.check_model()
    image = decode_image(path, library.settings.thumbnail_size).image
    embedder = library.embedder
    vector = embedder.encode_images([embedder.preprocess(image)])[0]
    return search_vector(library, vector, k)


def search_vector(library: Library, vector: np.ndarray, k: int) -> list[SearchResult]:
    index = library.index
    if len(index) == 0 or k <= 0:
        return []
    # Videos contribute many frames; fetch enough neighbours that k distinct media survive the grouping.
    fetch = min(len(index), max(k * 8, 64))
    labels, scores = index.search(vector, fetch)
    hits = library.catalog.resolve(labels)
    results: dict[int, SearchResult] = {}
    for label, score in zip(labels, scores):
        hit = hits.get(int(label))
        if hit is None:  # removed since the index was saved
            continue
        result = results.get(hit.media_id)
        if result is None:
            result = results[hit.media_id] = SearchResult(hit.path, hit.kind, float(score), hit.timestamp,
                                                          hit.media_id, hit.duration)
        if hit.kind == "video" and len(result.moments) < MOMENTS_PER_VIDEO:
            result.moments.append(Moment(hit.timestamp, float(score)))
    ranked = sorted(results.values(), key=lambda r: -r.score)
    return ranked[:k]
