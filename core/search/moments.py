"""When people are on screen in a video: their appearances as time spans, and the spans where several of them are
seen together. Pure functions over (timestamp, track span) sightings; no database.

A person's appearance is a face track (consecutive sampled frames, one missed sample forgiven), so its span runs
from the first to the last sampled frame it covers; "Anna and Ben" in a video means the spans where both
appearances overlap — the same sampled frame, or overlapping tracks — never two people seen at different times.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class Span:
    start: float
    end: float
    times: set[float] = field(default_factory=set)   # sampled frames inside the span where someone was seen

    def to_json(self, best: float, score: float) -> dict:
        return {"start": self.start, "end": self.end, "best": best, "score": round(score, 4)}


def person_spans(sightings) -> list[Span]:
    """sightings: (timestamp, track start, track end) of one person's (or one name's) faces in one video.
    Overlapping or touching spans (two tracks of the same person, or alternatives of one name) become one."""
    raw = sorted((s if s is not None else t, e if e is not None else t, t) for t, s, e in sightings if t is not None)
    spans: list[Span] = []
    for start, end, t in raw:
        if spans and start <= spans[-1].end:
            spans[-1].end = max(spans[-1].end, end)
            spans[-1].times.add(t)
        else:
            spans.append(Span(start, end, {t}))
    return spans


def together(per_person: list[list[Span]]) -> list[Span]:
    """The spans where every person's appearances overlap (pairwise interval intersection, in time order)."""
    if not per_person:
        return []
    result = per_person[0]
    for other in per_person[1:]:
        joined = []
        for a in result:
            for b in other:
                start, end = max(a.start, b.start), min(a.end, b.end)
                if start <= end:
                    times = {t for t in a.times | b.times if start <= t <= end}
                    joined.append(Span(start, end, times or {start}))
        result = sorted(joined, key=lambda s: s.start)
    return result


def without(spans: list[Span], busy: set[float]) -> list[Span]:
    """The spans with the frames where someone else is also seen taken out ("only Anna and Ben"): a span is cut
    where such a frame falls, and what remains of it runs from its first to its last free frame."""
    out = []
    for span in spans:
        run: list[float] = []
        for t in sorted(span.times | {b for b in busy if span.start <= b <= span.end}):
            if t in busy:
                if run:
                    out.append(Span(run[0], run[-1], set(run)))
                run = []
            else:
                run.append(t)
        if run:
            out.append(Span(run[0], run[-1], set(run)))
    return out
