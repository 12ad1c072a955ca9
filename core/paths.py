"""Whether a path is a folder or inside it: the one rule behind library folders, forgetting, exclusions, offline
drives and the app's folder filter. The catalog asks the same question in SQL as a range of the path index; that range
is built here too (`inside_range`, bound by core/store/paths.py), so both answer alike.

Paths are absolute, as the library keeps them (os.path.abspath: no "." or "..", no trailing slash). The rule goes by
whole names: "/photos2" is not inside "/photos". A trailing slash on the folder changes nothing, and "/" holds every
path. Names that are not valid UTF-8 arrive as surrogate-escaped text (see core/store/paths.py); "/" is never one of
those bytes, so the rule holds for them byte for byte. No wildcard or escape is involved anywhere: "%", "_" and "\\"
are ordinary characters of a name.

The boundary rules of scanning live here too: the system folders nothing is ever indexed from (`system_folder`),
which links a scan follows (`link_allowed`), and what a special file is (`special_kind`, `not_regular`), told by
stat alone: a FIFO is never opened (opening one blocks until a writer comes).
"""
from __future__ import annotations

import os
import stat
from collections.abc import Iterable

# The kernel's views of processes, devices and itself: never photos, and endless or blocking to read.
SYSTEM_FOLDERS = ("/proc", "/sys", "/dev")


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


def system_folder(path: str, real: str | None = None) -> str | None:
    """The system folder (/proc, /sys, /dev) that `path` is in, as written or once its links are resolved (`real`,
    if the caller knows it already), or None."""
    for candidate in (os.path.abspath(path), real if real is not None else os.path.realpath(path)):
        for folder in SYSTEM_FOLDERS:
            if is_under(candidate, folder):
                return folder
    return None


def link_allowed(target: str, folders: Iterable[str], follow_links: bool = False) -> bool:
    """Whether a scan follows a symbolic link whose target resolves to `target` (os.path.realpath): only into one of
    `folders` (the library's folders, resolved too), or anywhere when the `follow_links` setting says so; never into
    a system folder."""
    if system_folder(target, target):
        return False
    return follow_links or is_under_any(target, folders)


_SPECIAL = ((stat.S_ISFIFO, "a FIFO/pipe"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
            (stat.S_ISBLK, "a block device"))


def special_kind(mode: int) -> str | None:
    """What a special file is ("a FIFO/pipe", "a socket", "a character device", "a block device") by its st_mode,
    or None for a regular file, a folder or a link."""
    return next((what for test, what in _SPECIAL if test(mode)), None)


def not_regular(path: str) -> str | None:
    """"PATH is not a regular file (a FIFO/pipe)" when `path` (its links followed) is a special file, found with
    stat, which never opens it; None for a regular file, a folder, or nothing there."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    what = special_kind(mode)
    return f"{path} is not a regular file ({what}); Idlens never opens it" if what else None


def not_indexable(path: str) -> str | None:
    """Why `path`, named to be indexed, is refused (inside /proc, /sys or /dev, or a special file), or None."""
    folder = system_folder(path)
    if folder:
        return f"{path} is inside {folder}, a system folder: Idlens never indexes /proc, /sys or /dev"
    return not_regular(path)
