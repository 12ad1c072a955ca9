"""Counts in words, for the messages core and the command line print ("1 file", "3 files"), and a person's files by
kind ("3 photos · 1 video"), which the desktop app's people panel shows too. The app's other counts use Qt's tr()
plural forms, so that their text can be translated."""
from __future__ import annotations


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {words or word + 's'}"


def media_counts(photos: int, videos: int) -> str:
    """A person's files by kind: "1 photo", "3 photos · 1 video", "2 videos"; "no photos" for none."""
    parts = ([plural(photos, "photo")] if photos else []) + ([plural(videos, "video")] if videos else [])
    return " · ".join(parts) or "no photos"


def clock(seconds: float | None) -> str:
    """A duration as a clock reads it: 0:09, 12:05, 1:02:03 ("" for None)."""
    if seconds is None:
        return ""
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
