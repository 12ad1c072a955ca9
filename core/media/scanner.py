"""Find media under the library's folders and bring the catalog up to date with the disk.

An unchanged file costs one stat. New and changed files are queued (status pending) for the indexer; a file that
vanished is marked missing (its vectors, and later its faces and names, are kept), and a new file whose content
fingerprint matches a file that is not at its path now (missing, offline, or gone from a folder this scan does not
walk) is recognised as that file moved or renamed, and takes its row back, whatever was run in between.

A library folder that cannot be reached (an unplugged drive, an unmounted share: gone, or an empty mount point where
the catalog knows files) is *offline*, not gone: its files keep everything and are marked offline until it is back,
or until they turn up elsewhere (the folder was moved): each file found elsewhere is moved, no longer offline, and
the folder's other files stay offline.

The library's folders are a boundary: a symbolic link is followed only into one of them (or anywhere with the
`follow_links` setting), /proc, /sys and /dev are never walked, and special files (FIFOs, sockets, devices) are told
by stat and never opened. What is left out for such a reason is in `ScanReport.skipped`, with why.
"""
from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Callable, Iterator, Set
from dataclasses import dataclass, field

from core.paths import is_inside, is_under_any, link_allowed, outermost, special_kind, system_folder
from core.store import ERROR, INDEXED, MISSING, OFFLINE, PENDING, Catalog

from .reasons import explain

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif"}
VIDEO_EXTENSIONS = {".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm"}
# Folders that hold the system's or another program's data, never the user's photos.
SYSTEM_FOLDERS = {"$RECYCLE.BIN", "System Volume Information", "lost+found", "@eaDir", "#recycle", "#snapshot",
                  "__MACOSX", "Thumbs", "node_modules"}
FINGERPRINT_CHUNK = 64 * 1024
BATCH = 500  # rows per transaction: an interrupted scan keeps what it wrote


def media_kind(path: str) -> str | None:
    ext = os.path.splitext(path)[1].lower()
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    return None


def fingerprint(path: str, size: int | None = None) -> str:
    """Size plus the first and last 64 KiB (digiKam's unique hash does the same): reads 128 KiB, not the file,
    and survives renames, moves and copies, which is what it is for."""
    with open(path, "rb") as f:
        if size is None:
            size = os.fstat(f.fileno()).st_size
        h = hashlib.blake2b(str(size).encode(), digest_size=16)
        h.update(f.read(FINGERPRINT_CHUNK))
        if size > 2 * FINGERPRINT_CHUNK:
            f.seek(-FINGERPRINT_CHUNK, os.SEEK_END)
            h.update(f.read(FINGERPRINT_CHUNK))
    return h.hexdigest()


@dataclass
class FoundFile:
    path: str
    kind: str
    size: int
    mtime_ns: int
    error: str | None = None   # a media file we cannot read: recorded with this reason
    error_detail: str | None = None  # the system's own words for it, if the reason does not say all
    key: tuple[int, int] | None = None  # (device, inode): one file reached by two paths is taken once
    via_link: bool = False     # reached through a symbolic link: the file's own path wins over it


def _special(path: str, kind: str, st: os.stat_result) -> FoundFile:
    """A special file with a media name, recorded with its reason; stat told what it is, and it is never opened."""
    return FoundFile(path, kind, 0, st.st_mtime_ns,
                     f"not a regular file ({special_kind(st.st_mode)}): skipped, never opened")


def walk(root: str, excluded: Set[str] = frozenset(), inside: list[str] | None = None, follow_links: bool = False,
         skipped: dict[str, str] | None = None) -> Iterator[FoundFile]:
    """Media files at or below `root`: recursive, hidden and system folders skipped, unreadable folders and
    `excluded` paths skipped. The walk stays inside the library: a symbolic link (to a folder or a file) is followed
    only when its target resolves inside one of `inside` (the library's folders; default: `root`), or anywhere with
    `follow_links`; never into /proc, /sys or /dev. Each folder is walked once (by device and inode: no loop), and a
    file reached both by its own path and through a link is taken once, by its own path. Special files (FIFOs,
    sockets, devices) are told by stat and never opened: one with a media name is yielded with its reason. What is
    left out for a reason the user should hear (a link not followed, a system folder) goes into `skipped`."""
    skipped = {} if skipped is None else skipped
    root = os.path.abspath(root)
    if root in excluded:
        return
    real_root = os.path.realpath(root)
    system = system_folder(root, real_root)
    if system:
        skipped[root] = f"inside {system}, a system folder: never indexed"
        log.warning("not indexing %s: inside %s, a system folder", root, system)
        return
    try:
        st = os.stat(root)
    except OSError as e:
        log.warning("cannot reach %s: %s", root, e)
        return
    if not stat.S_ISDIR(st.st_mode):
        kind = media_kind(root)
        if kind and stat.S_ISREG(st.st_mode):
            yield FoundFile(root, kind, st.st_size, st.st_mtime_ns, key=(st.st_dev, st.st_ino))
        elif kind and special_kind(st.st_mode):
            yield _special(root, kind, st)
        elif special_kind(st.st_mode):
            skipped[root] = f"not a regular file ({special_kind(st.st_mode)}): never opened"
        return
    inside = [os.path.realpath(f) for f in (inside if inside is not None else [root])] + [real_root]
    visited: set[tuple[int, int]] = set()
    taken: set[tuple[int, int]] = set()      # files yielded, by device and inode
    # Folders by their own paths first, then what links lead to, so that a file's own path wins.
    stack: list[tuple[str, str, bool]] = [(root, real_root, False)]   # (path, resolved path, reached via a link)
    linked: list[tuple[str, str, bool]] = []
    linked_files: list[FoundFile] = []
    while stack or linked:
        folder, real, via_link = stack.pop() if stack else linked.pop()
        try:
            st = os.stat(folder)
        except OSError as e:
            log.warning("cannot list %s: %s", folder, e)
            continue
        if (st.st_dev, st.st_ino) in visited:
            continue
        visited.add((st.st_dev, st.st_ino))
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as e:
            log.warning("cannot list %s: %s", folder, e)
            continue
        for entry in entries:
            name = entry.name
            if name.startswith(".") or name in SYSTEM_FOLDERS or entry.path in excluded:
                continue
            kind = None
            try:
                if entry.is_symlink():
                    kind = media_kind(name)
                    if not os.path.exists(entry.path):
                        if kind:
                            yield FoundFile(entry.path, kind, 0, 0,
                                            f"broken symbolic link (to {os.readlink(entry.path)})")
                        continue
                    st = os.stat(entry.path)  # the target's kind: stat never opens it
                    is_dir = stat.S_ISDIR(st.st_mode)
                    if not is_dir and kind is None:
                        continue
                    target = os.path.realpath(entry.path)
                    if not link_allowed(target, inside, follow_links) or is_under_any(target, excluded):
                        why = ("a link into a system folder" if system_folder(target, target) else
                               "a link into a forgotten folder" if is_under_any(target, excluded) else
                               "a link to a place outside the library's folders")
                        hint = "" if follow_links or "outside" not in why else \
                            " (the follow_links setting follows such links)"
                        skipped[entry.path] = f"{why} ({target}): not followed{hint}"
                        log.info("not following %s: %s (%s)", entry.path, why, target)
                        continue
                    if is_dir:
                        linked.append((entry.path, target, True))
                    elif kind is None:  # a link to a file that is not media (told above; for the type checker)
                        continue
                    elif stat.S_ISREG(st.st_mode):
                        linked_files.append(FoundFile(entry.path, kind, st.st_size, st.st_mtime_ns,
                                                      key=(st.st_dev, st.st_ino), via_link=True))
                    elif special_kind(st.st_mode):
                        yield _special(entry.path, kind, st)
                    continue
                if entry.is_dir(follow_symlinks=False):
                    child = os.path.join(real, name)
                    system = system_folder(child, child)
                    if system:  # a library folder of "/" still never walks into /proc, /sys or /dev
                        skipped[entry.path] = f"{system}, a system folder: never indexed"
                        continue
                    (linked if via_link else stack).append((entry.path, child, via_link))
                    continue
                kind = media_kind(name)
                if kind is None:
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError as e:  # vanished since the listing, or not ours to read
                if kind is not None and not isinstance(e, FileNotFoundError):
                    yield FoundFile(entry.path, kind, 0, 0, *explain(e, entry.path, kind))
                continue
            if stat.S_ISREG(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if via_link:
                    if key in taken:
                        continue
                    taken.add(key)
                    yield FoundFile(entry.path, kind, st.st_size, st.st_mtime_ns, key=key, via_link=True)
                else:  # a file's own path is always taken (hard links included, as before)
                    taken.add(key)
                    yield FoundFile(entry.path, kind, st.st_size, st.st_mtime_ns, key=key)
            elif special_kind(st.st_mode):
                yield _special(entry.path, kind, st)
    for f in linked_files:
        if f.key is not None and f.key not in taken:
            taken.add(f.key)
            yield f


EMPTY = "empty: its drive may not be connected"


def unreachable(root: str, known: dict) -> str | None:
    """Why a library folder cannot be reached, or None. `known`: the catalog's files under it (path -> row).
    An empty folder where the catalog knows files may be a mount point without its drive; `scan` decides that
    only when none of those files turn up elsewhere (a folder whose photos were moved away is not offline)."""
    try:
        st = os.stat(root)
    except FileNotFoundError:
        return "not there: an unplugged drive, or moved"
    except PermissionError:
        return "no permission to read it"
    except OSError as e:
        return (e.strerror or str(e)).lower()
    if stat.S_ISDIR(st.st_mode) and any(row[3] != MISSING for row in known.values()):
        try:
            with os.scandir(root) as entries:
                if next(entries, None) is None:
                    return EMPTY
        except OSError as e:
            return (e.strerror or str(e)).lower()
    return None


# A library folder that is not there and holds none of the library's files any more (they moved elsewhere, or were
# forgotten): nothing is kept offline for it, and `idlens forget FOLDER` removes it from the list.
LEFT_EMPTY = "not there, and no file of the library is left in it"


def left_empty(catalog: Catalog, root: str) -> bool:
    """Whether a library folder is not there and the catalog holds no file at or below it (LEFT_EMPTY)."""
    return not os.path.lexists(root) and not catalog.media.folder_summary(root).files


def folder_warning(folder: str, why: str) -> str:
    """The one sentence the front ends show for a library folder that cannot be reached (`why`)."""
    if why == LEFT_EMPTY:
        return f"note: {folder} is not there and holds no file of the library any more; `idlens forget {folder}` " \
               "removes it from the library's folders"
    return f"warning: {folder} cannot be reached ({why}); its files are kept as offline and not searched until it " \
           "is back"


def offline_roots(catalog: Catalog) -> dict[str, str]:
    """Library folders that cannot be reached right now — a stat each, plus an empty folder where the catalog knows
    files — whether or not an index has noticed yet (search and status ask, so an unplugged drive shows at once)."""
    out = {}
    for root in catalog.media.roots():
        why = unreachable(root, {})  # the stat alone
        if why is None and _empty_folder(root) and catalog.media.folder_summary(root).files:
            why = EMPTY
        elif why is not None and left_empty(catalog, root):
            why = LEFT_EMPTY
        if why is not None:
            out[root] = why
    return out


def offline_files(catalog: Catalog, roots: dict[str, str]) -> int:
    """Files kept but not searched now: marked offline by an index, or under `roots` (offline_roots) since."""
    marked = catalog.media.count_status(OFFLINE)
    live = sum(catalog.media.folder_summary(r).files for r in outermost(roots))  # not marked yet: no index since
    return max(marked, live)


def _empty_folder(path: str) -> bool:
    try:
        with os.scandir(path) as entries:
            return next(entries, None) is None
    except OSError:  # not a folder (a file added as a root), or unreadable: the stat said the rest
        return False


@dataclass
class ScanReport:
    found: int = 0        # media files on disk under the scanned folders (readable or not)
    new: int = 0
    changed: int = 0
    moved: int = 0        # found again under another name or folder (not counted as gone)
    missing: int = 0      # gone from disk in this scan, and not found elsewhere
    unchanged: int = 0
    unreadable: int = 0   # found but cannot be read (broken links, no permission): recorded as errors
    back: int = 0         # files of a folder that was offline, restored as they were
    offline: int = 0      # files kept under folders that cannot be reached now
    offline_folders: dict[str, str] = field(default_factory=dict)   # folder -> why it cannot be reached
    skipped: dict[str, str] = field(default_factory=dict)   # path -> why it was left out (a link that leads out of
                                                            # the library, a system folder, a special file)
    moved_paths: list[tuple[str, str]] = field(default_factory=list)


def scan(catalog: Catalog, roots: list[str], cancelled: Callable[[], bool] = lambda: False,
         progress: Callable[[int], None] | None = None, follow_links: bool = False) -> ScanReport:
    """Reconcile the catalog with what is on disk under `roots`. Writes in batches, so Ctrl-C keeps what was done.
    Links are followed only into the library's folders, unless `follow_links` (the setting of that name)."""
    report = ScanReport()
    excluded = catalog.media.excluded()
    library_folders = list(catalog.media.roots()) + [os.path.abspath(r) for r in roots]
    # Walk every root before deciding anything, so that a file moved from one root to another is seen as
    # vanished there before it is looked up as new here.
    known: dict[str, tuple[int, int, int, str]] = {}
    seen: dict[str, FoundFile] = {}
    offline: list[int] = []
    kept_offline: set[int] = set()  # counted once, though library folders may be nested
    emptied: dict[str, dict] = {}   # empty roots whose files may be on a drive that is not mounted
    for root in roots:
        root = os.path.abspath(root)
        system = system_folder(root)
        if system:  # never walked, whoever asked; what the catalog knows there is left as it is
            report.skipped[root] = f"inside {system}, a system folder: never indexed"
            log.warning("not indexing %s: inside %s, a system folder", root, system)
            continue
        under = catalog.media.known_files(root)
        why = unreachable(root, under)
        if why == EMPTY:
            emptied[root] = under
        elif why is not None:
            report.offline_folders[root] = why
            offline += [row[0] for row in under.values() if row[3] not in (MISSING, OFFLINE)]
            kept_offline.update(row[0] for row in under.values() if row[3] != MISSING)
            report.offline = len(kept_offline)
            log.info("library folder %s cannot be reached (%s): its files are kept as offline", root, why)
            continue
        known.update(_walked_by(root, under, excluded))
        for found in walk(root, excluded, library_folders, follow_links, report.skipped):
            seen[found.path] = found
            if progress and len(seen) % 1000 == 0:
                progress(len(seen))
            if cancelled():
                return report
    # A file reached through a link is taken once, and by its own path when a library folder holds that too.
    own = {f.key for f in seen.values() if f.key is not None and not f.via_link}
    taken: set = set()
    for path, f in list(seen.items()):
        if f.via_link and (f.key in own or f.key in taken):
            del seen[path]
        elif f.via_link:
            taken.add(f.key)
    report.found = len(seen)
    if offline:
        with catalog.transaction():
            catalog.media.set_offline(offline)

    vanished = [row[0] for path, row in known.items() if path not in seen and row[3] != MISSING]
    if vanished:
        with catalog.transaction():
            catalog.media.set_missing(vanished)

    todo: list[tuple[FoundFile, tuple[int, int, int, str] | None]] = []
    for path, f in seen.items():
        row = known.get(path)
        if row is None:
            todo.append((f, None))
        elif row[1] != f.size or row[2] != f.mtime_ns or row[3] in (MISSING, OFFLINE) \
                or (f.error is not None and row[3] != ERROR):  # queued again, but still unreadable (a FIFO)
            todo.append((f, row))
        else:
            report.unchanged += 1
    for start in range(0, len(todo), BATCH):
        if cancelled():
            return report
        with catalog.transaction():
            for f, row in todo[start:start + BATCH]:
                _reconcile(catalog, f, row, report)
    # An empty folder none of whose files turned up elsewhere: a mount point without its drive, most likely.
    for root, under in emptied.items():
        ids = [row[0] for row in under.values() if row[3] != MISSING]
        if ids and catalog.media.count_with_status(ids, MISSING) == len(ids):
            with catalog.transaction():
                catalog.media.set_offline(ids)
            report.offline_folders[root] = EMPTY
            kept_offline.update(ids)
            report.offline = len(kept_offline)
    # Gone means gone from disk and not found again under another name in this scan; offline, kept under a folder
    # that cannot be reached and not found elsewhere (a folder moved while its old place was unreachable is moved).
    report.missing = catalog.media.count_with_status(vanished, MISSING) if vanished else 0
    report.offline = catalog.media.count_with_status(list(kept_offline), OFFLINE) if kept_offline else 0
    for root in report.offline_folders:
        if left_empty(catalog, root):
            report.offline_folders[root] = LEFT_EMPTY  # its files were all found elsewhere
    return report


def _walked_by(root: str, known: dict, excluded: set[str]) -> dict:
    """The catalog's files under `root` that its walk judges. The walk skips forgotten paths inside it; a file there
    is in the catalog only because it was indexed again on its own (its own library folder then walks it), so it is
    not taken for gone while it is still on disk."""
    skipped = [e for e in excluded if is_inside(e, root)]
    if not skipped:
        return known
    return {p: row for p, row in known.items() if not (is_under_any(p, skipped) and os.path.lexists(p))}


def _reconcile(catalog: Catalog, f: FoundFile, row, report: ScanReport) -> None:
    if f.error is None:
        try:
            fp = fingerprint(f.path, f.size)
        except FileNotFoundError:
            return  # vanished since the walk; the next scan sees it again (or not)
        except OSError as e:
            f.error, f.error_detail = explain(e, f.path, f.kind)
    if f.error is not None:
        _record_unreadable(catalog, f, row, report)
        return
    if row is None:
        old = catalog.media.find_moved(fp, f.size)
        if old is not None:
            catalog.media.update(old.id, path=f.path, mtime_ns=f.mtime_ns, status=_restored_status(catalog, old.id))
            report.moved += 1
            report.moved_paths.append((old.path, f.path))
        else:
            catalog.media.add(f.path, f.kind, f.size, f.mtime_ns, fp)
            report.new += 1
        return
    media_id = row[0]
    media = catalog.media.get(media_id)
    if media is None:  # forgotten by another process since the walk
        return
    if media.fingerprint == fp and media.size == f.size:
        # Same content (touched, or back from a detached drive): keep everything.
        away = media.status in (MISSING, OFFLINE)
        catalog.media.update(media_id, mtime_ns=f.mtime_ns,
                             status=_restored_status(catalog, media_id) if away else media.status)
        if media.status == OFFLINE:
            report.back += 1
        report.unchanged += 1
    else:
        mark_changed(catalog, media_id, f.size, f.mtime_ns, fp)
        report.changed += 1


def _record_unreadable(catalog: Catalog, f: FoundFile, row, report: ScanReport) -> None:
    """One error row per file that is there but cannot be read; a later scan retries it when it changes."""
    if row is None:
        media_id = catalog.media.add(f.path, f.kind, f.size, f.mtime_ns, "")
    else:
        media_id = row[0]
    report.unreadable += 1
    catalog.media.update(media_id, size=f.size, mtime_ns=f.mtime_ns, status=ERROR, error=f.error,
                         error_detail=f.error_detail)


def _restored_status(catalog: Catalog, media_id: int) -> str:
    """A file that comes back keeps its vectors if it has them; otherwise it is queued again."""
    return INDEXED if catalog.items.labels_of(media_id) else PENDING


def mark_changed(catalog: Catalog, media_id: int, size: int, mtime_ns: int, fingerprint: str) -> list[int]:
    """The file's content changed: drop its vectors, queue it again. Returns the dropped labels."""
    labels = catalog.items.clear(media_id)
    # Faces stay until the new ones are found: the user's decisions then carry over to the same faces.
    catalog.media.update(media_id, size=size, mtime_ns=mtime_ns, fingerprint=fingerprint, status=PENDING,
                         error=None, error_detail=None, indexed_at=None, faces_backend=None, faces_error=None,
                         faces_error_detail=None)
    return labels
