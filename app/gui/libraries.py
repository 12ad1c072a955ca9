"""Which library the app opens, and the ones it opened before: window state kept in QSettings (the preferences of a
library live in its own settings.json). `idlens` without --library opens the last library; recent searches are kept
per library, so one library's searches never show in another."""
from __future__ import annotations

import hashlib
import os

RECENT_LIBRARIES = 8


def last(qsettings) -> str | None:
    value = qsettings.value("library")
    return str(value) if value else None


def remember(qsettings, library: str) -> None:
    """This library was opened: it is the one to open next time, first among the recent ones."""
    library = os.path.abspath(os.path.expanduser(library))
    qsettings.setValue("library", library)
    others = [p for p in recent(qsettings) if p != library]
    qsettings.setValue("recentLibraries", [library] + others[:RECENT_LIBRARIES - 1])


def recent(qsettings) -> list[str]:
    value = qsettings.value("recentLibraries", []) or []
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _searches_key(library: str) -> str:
    return "recentSearches/" + hashlib.sha1(os.path.abspath(library).encode()).hexdigest()[:16]


def searches(qsettings, library: str) -> list[str]:
    value = qsettings.value(_searches_key(library), []) or []
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def save_searches(qsettings, library: str, texts: list[str]) -> None:
    qsettings.setValue(_searches_key(library), list(texts))
