"""The library's names written for other apps (issue 23): each photo's named faces as MWG face regions in an XMP
sidecar beside it, which digiKam, Lightroom and others read (`idlens metadata write`, File > Write names to XMP).

Never into a photo: Idlens does not modify user media. A sidecar is made by ExifTool (the same program that reads
them, core.faces.regions), from the one already there when there is one, so every other tag in it stays: keywords,
ratings, other apps' namespaces, and the regions Idlens has no say over (pets, focus areas, a name on a face Idlens
has not named). The new file is written beside the old and renamed over it: a sidecar is whole, old or new, at any
moment; one that changed while it was being written (digiKam saving it) is left as the other app wrote it.

Which regions are Idlens's: a face region of the sidecar in the place of a face Idlens names (core.faces.regions
.match) becomes that face, with Idlens's name; a face region with the name of someone Idlens puts elsewhere in the
photo is dropped (the user moved that name in Idlens). Everything else is kept as it was.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core import names

from . import regions as xmp

if TYPE_CHECKING:
    from core.library import Library

log = logging.getLogger(__name__)

# style -> (who names sidecars so, the sidecar of a photo)
STYLES = {
    "digikam": ("digiKam sidecar", lambda photo: photo.with_name(photo.name + ".xmp")),
    "lightroom": ("Lightroom sidecar", lambda photo: photo.with_suffix(".xmp")),
}

NEW_SIDECAR = "digikam"  # the style of a sidecar made for a photo that has none, when no style is asked for


class WriteRefused(Exception):
    """The request cannot be done at all (no ExifTool, a path not in the library), in plain words."""


@dataclass
class Written:
    """What happened to one photo's sidecar."""
    path: str                  # the photo
    result: str                # written (a new sidecar), updated, unchanged, skipped
    sidecar: str | None = None
    reason: str | None = None  # why it was skipped
    faces: int = 0             # named faces of the library written as regions
    kept: int = 0              # the sidecar's other regions, kept as they were

    def to_json(self) -> dict:
        return asdict(self)


def write_names(lib: Library, paths: list[str] | None = None, style: str | None = None, dry_run: bool = False,
                include_automatic: bool = False, exiftool: xmp.ExifTool | None = None) -> list[Written]:
    """Write the named faces of the library's photos (those at or below `paths`; all without) into sidecars:
    `style` "digikam" (photo.jpg.xmp) or "lightroom" (photo.xmp); None: the sidecar a photo has already (digiKam's
    first), else a digiKam one. Only faces the user confirmed, unless `include_automatic` (those the one rule put
    with a named, shown person too). `dry_run`: everything but the writing. One Written per photo with names."""
    if style is not None and style not in STYLES:
        raise WriteRefused(f"unknown sidecar style {style!r}: digikam or lightroom")
    tool = exiftool or xmp.shared_exiftool()
    if not tool.available:
        raise WriteRefused(f"{tool.missing}: it writes the sidecars (see the README, \"Names in other apps\")")
    wanted = [os.path.abspath(p) for p in paths or []]
    media = {m.id: m for m in lib.catalog.media.all()}
    for p in wanted:
        if not any(_at_or_under(m.path, p) for m in media.values()):
            from core.library import NotInLibrary

            raise NotInLibrary(f"not in the library: {p} (nothing was written; `idlens status` lists its folders)")
    named = lib.catalog.faces.named_in_photos(include_automatic)
    out = []
    stems: dict[Path, dict[str, list[str]]] = {}  # folder -> the names of its files by stem (Lightroom's sidecars)
    reads = lib.settings.read_face_regions and lib.settings.faces
    read_now: list[tuple[int, str]] = []  # (media id, its sources' signature once Idlens wrote them)
    for media_id, faces in named.items():
        m = media.get(media_id)
        if m is None or (wanted and not any(_at_or_under(m.path, p) for p in wanted)):
            continue
        before = xmp.signature(m.path, None, m.size, m.mtime_ns)
        if reads and m.regions_read is not None and m.regions_read != before:
            # Another app changed its sidecars since Idlens read them: its new names are read first, never
            # written over (a name corrected in digiKam).
            out.append(Written(m.path, "skipped", reason="its sidecar changed since Idlens last read it (edited in "
                               "another app?): run an index first, so that its names are read"))
            continue
        written = _write_one(m, faces, style, dry_run, tool, stems)
        out.append(written)
        if written.result in ("written", "updated") and not dry_run and m.regions_read == before:
            read_now.append((m.id, xmp.signature(m.path, None, m.size, m.mtime_ns)))
    if read_now:
        _remember(lib, read_now)
    for p in wanted:  # a video asked for by name: said, not silently passed over
        for m in media.values():
            if m.kind == "video" and m.path == p:
                out.append(Written(m.path, "skipped", reason="a video: face regions are written for photos"))
    return sorted(out, key=lambda w: w.path)


def _remember(lib: Library, read_now: list[tuple[int, str]]) -> None:
    """What Idlens wrote is not a change another app made: the next index does not read it as one (which would
    bring back names undone since)."""
    from core.lock import LibraryBusy

    try:
        with lib.write_lock("noting the sidecars written"):
            with lib.catalog.transaction():
                for media_id, signature in read_now:
                    lib.catalog.media.update(media_id, regions_read=signature)
    except LibraryBusy:  # the app is indexing: the next index reads them again, and finds nothing new
        log.info("the library is busy: %d sidecars written will be read again at the next index", len(read_now))


def _at_or_under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _write_one(media, faces: list[dict], style: str | None, dry_run: bool, tool: xmp.ExifTool,
               stems: dict) -> Written:
    from core.media.images import MediaError, stored_geometry

    photo = Path(media.path)
    try:
        st = photo.stat()
    except OSError:
        return Written(media.path, "skipped", reason="not found (its drive is offline, or it was moved or deleted)")
    if (st.st_size, st.st_mtime_ns) != (media.size, media.mtime_ns):
        return Written(media.path, "skipped", reason="changed since it was indexed: index it again first")
    try:
        stored, orientation = stored_geometry(media.path)
    except (OSError, MediaError) as e:
        return Written(media.path, "skipped", reason=f"could not be opened ({e})")
    sidecar, who, refusal = _sidecar_for(photo, style, stems)
    if refusal:
        return Written(media.path, "skipped", sidecar=str(sidecar), reason=refusal)
    exists = sidecar.exists()
    before = None
    info: dict = {}
    if exists:
        try:
            before = sidecar.stat()
            info = tool.read(sidecar, ("-XMP:RegionInfo",)).get("RegionInfo") or {}
        except (OSError, xmp.RegionsUnreadable) as e:
            return Written(media.path, "skipped", sidecar=str(sidecar),
                           reason=f"its sidecar could not be read, so it is left as it is ({e})")
    if not isinstance(info, dict):
        info = {}
    tags, kept = _region_info(info, faces, stored, orientation, who)
    written = Written(media.path, "updated" if exists else "written", str(sidecar), faces=len(faces), kept=kept)
    if exists and _canon(info) == _canon(tags):
        written.result = "unchanged"
        return written
    if dry_run:
        return written
    try:
        _replace(sidecar, {"RegionInfo": tags}, before, tool)
    except (OSError, xmp.RegionsUnreadable) as e:
        written.result, written.reason = "skipped", str(e)
    return written


def _sidecar_for(photo: Path, style: str | None, stems: dict) -> tuple[Path, str, str | None]:
    """(the sidecar to write, whose style it is, why it cannot be written or None)."""
    if style is None:  # the one the photo has, digiKam's first (as the reader reads them)
        found = xmp.sidecars(photo)
        if found:
            sidecar, who = found[0]
            return sidecar, who, _refusal(photo, sidecar, who, stems)
        style = NEW_SIDECAR
    who, where = STYLES[style]
    sidecar = where(photo)
    return sidecar, who, _refusal(photo, sidecar, who, stems)


def _refusal(photo: Path, sidecar: Path, who: str, stems: dict) -> str | None:
    if sidecar.is_symlink() or (sidecar.exists() and not sidecar.is_file()):
        return f"{sidecar.name} is not a regular file"
    if who == "Lightroom sidecar":  # photo.xmp is also the sidecar of photo.cr2 beside photo.jpg
        if photo.parent not in stems:
            by_stem: dict[str, list[str]] = {}
            for p in photo.parent.iterdir():
                if p.suffix.lower() != ".xmp":
                    by_stem.setdefault(p.stem.casefold(), []).append(p.name)
            stems[photo.parent] = by_stem
        others = sorted(n for n in stems[photo.parent].get(photo.stem.casefold(), []) if n != photo.name)
        if others:
            return (f"{sidecar.name} would be shared with {', '.join(others)}: write a digiKam sidecar instead "
                    "(--sidecar digikam)")
    return None


def _region_info(info: dict, faces: list[dict], stored, orientation: int, source: str) -> tuple[dict, int]:
    """The sidecar's RegionInfo with the library's named faces in it, and how many of its own regions it keeps."""
    aw, ah = xmp.applied_dimensions(info)
    applied = (aw, ah) if aw and ah else (float(stored[0]), float(stored[1]))
    listed = info.get("RegionList") or []
    listed = listed if isinstance(listed, list) else [listed]
    boxes = [(f["x"], f["y"], f["w"], f["h"]) for f in faces]
    ours = {names.key(f["name"]) for f in faces}
    theirs = [xmp.mwg_region(item, source, stored, orientation, applied) for item in listed]
    faces_there = [(i, r) for i, r in enumerate(theirs) if r is not None and r.kind == "Face"]
    taken = {faces_there[k][0] for k, pick in enumerate(xmp.match([r for _, r in faces_there], boxes))
             if pick is not None}
    kept = [item for i, (item, r) in enumerate(zip(listed, theirs))
            if i not in taken and not (r is not None and r.kind == "Face" and r.name and names.key(r.name) in ours)]
    written = [{"Area": xmp.mwg_area(b, stored, orientation, applied), "Name": f["name"], "Type": "Face"}
               for f, b in zip(faces, boxes)]
    dims = {"W": round(applied[0]), "H": round(applied[1]), "Unit": "pixel"}
    return {**info, "AppliedToDimensions": dims, "RegionList": kept + written}, len(kept)


def _canon(value):
    """For comparing what a sidecar holds with what would be written: numbers to 6 places, keys in order."""
    def norm(v):
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x) for x in v]
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return round(float(v), 6)
        return v
    return json.dumps(norm(value), sort_keys=True, ensure_ascii=False)


def _replace(sidecar: Path, tags: dict, before: os.stat_result | None, tool: xmp.ExifTool) -> None:
    """The new sidecar written beside the old one, then renamed over it (atomic on one filesystem); not when the
    old one changed since it was read (another app saving it): that app's file stays."""
    part = sidecar.with_name(f".{sidecar.name}.idlens-{os.getpid()}.xmp")
    part.unlink(missing_ok=True)
    try:
        tool.write(part, tags, source=sidecar if before is not None else None)
        if before is not None:
            shutil.copymode(sidecar, part)
            now = sidecar.stat()
            if (now.st_size, now.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
                raise OSError("the sidecar changed while it was being written (another app saved it): left as it is")
        elif sidecar.exists():
            raise OSError("a sidecar appeared while it was being written: left as it is")
        with open(part, "rb") as f:
            os.fsync(f.fileno())
        os.replace(part, sidecar)
    finally:
        part.unlink(missing_ok=True)
