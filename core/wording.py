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
