"""Whether a path is a folder or inside it: the one rule behind library folders, forgetting, exclusions, offline
drives and the app's folder filter. The catalog asks the same question in SQL as a range of the path index; that range
is built here too (`inside_range`, bound by core/store/paths.py), so both answer alike.

Paths are absolute, as the library keeps them (os.path.abspath: no "." or "..", no trailing slash). The rule goes by
whole names: "/photos2" is not inside "/photos". A trailing slash on the folder changes nothing, and "/" holds every
path. Names that are not valid UTF-8 arrive as surrogate-escaped text (see core/store/paths.py); "/" is never one of
those bytes, so the rule holds for them byte for byte. No wildcard or escape is involved anywhere: "%", "_" and "\\"
are ordinary characters of a name.
"""
from __future__ import annotations

from collections.abc import Iterable


def _base(folder: str) -> str:
    return folder.rstrip("/")   # "/" gives "": every absolute path starts with "" + "/"


def is_under(path: str, folder: str) -> bool:
    """Whether `path` is `folder` itself or inside it."""
    base = _base(folder)
    return path == base or path.startswith(base + "/")


def is_inside(path: str, folder: str) -> bool:
    """Whether `path` is inside `folder`, not the folder itself."""
    return is_under(path, folder) and _base(path) != _base(folder)


def is_under_any(path: str, folders: Iterable[str]) -> bool:
    return any(is_under(path, f) for f in folders)


def outermost(folders: Iterable[str]) -> list[str]:
    """The folders that are not inside another of them (nested library folders counted once), in sorted order."""
    out: list[str] = []
    for f in sorted(set(folders), key=lambda f: (len(_base(f)), f)):
        if not is_under_any(f, out):
            out.append(f)
    return sorted(out)


def inside_range(folder: str) -> tuple[str, str]:
    """[low, high): every path inside `folder` sorts there, and nothing else does: "dir/..." lies between "dir/"
    and "dir0", since "0" follows "/" (in code points, and in UTF-8 bytes as SQLite compares them)."""
    base = _base(folder)
    return base + "/", base + "0"
