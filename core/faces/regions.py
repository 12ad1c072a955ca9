"""Face regions other apps wrote into XMP: read from a photo and from the sidecars beside it.

digiKam, Lightroom Classic, Picasa and others name faces as MWG regions (`mwg-rs:Regions`: a centre, a size and
the dimensions they apply to, normalised); Windows Photo Gallery and Microsoft Photos as `MP:RegionInfo` (a
top-left corner and a size, normalised). They live in the photo's own XMP and in sidecars beside it:
`photo.jpg.xmp` (digiKam, darktable) and `photo.xmp` (Lightroom).

The XMP is read by ExifTool, as Immich and PhotoPrism read it, never by a parser of our own; one ExifTool process
stays open (`-stay_open`), so a file costs milliseconds, not a Perl start-up. ExifTool runs as a program beside
Idlens, not inside it (pyexiv2, the other well-kept reader, is GPLv3 and would be loaded into this MIT-licensed
process). Files are only read here.

Orientation (MWG guidelines 2.0, 5.9): "Region metadata is applied to the stored image"; when a viewer applies the
Exif orientation, it must turn the regions with it. Some writers stored them for the upright image instead; where
`AppliedToDimensions` says so (its aspect is the upright one and not the stored one, for a quarter turn), they are
taken as upright. Regions come back in pixels of the upright image, as Idlens's faces are.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from .clustering import centre, centred_on_each_other, holds, iou

log = logging.getLogger(__name__)

TAGS = ("-XMP:RegionInfo", "-XMP:RegionInfoMP")


class RegionsUnreadable(Exception):
    """A photo's or sidecar's XMP could not be read (damaged, not XMP, no ExifTool): in plain words; the photo is
    kept and searchable."""


@dataclass(frozen=True)
class Region:
    name: str                                 # as the other app wrote it (cleaned later as typed names are)
    box: tuple[float, float, float, float]    # x, y, w, h in pixels of the upright image
    source: str                               # where it was read: "embedded XMP", "digiKam sidecar", ...
    schema: str                               # "MWG" or "Microsoft"
    kind: str = "Face"                        # MWG's Type: Face, Pet, Focus, BarCode


class Folders:
    """The names in each folder, listed once for a whole index: every photo's sidecars are then looked up in its
    folder's listing instead of four stats a photo (`sidecars`), on each index, for every photo of the library.
    Thread-safe (the decode workers share one)."""

    def __init__(self):
        self._names: dict[Path, frozenset[str]] = {}
        self._lock = threading.Lock()

    def names(self, folder: Path) -> frozenset[str]:
        with self._lock:
            names = self._names.get(folder)
        if names is None:
            try:
                names = frozenset(os.listdir(folder))
            except OSError:
                names = frozenset()
            with self._lock:
                self._names[folder] = names
        return names


def sidecars(photo: str | Path, folders: Folders | None = None) -> list[tuple[Path, str]]:
    """The sidecars beside `photo` that exist, with who names them so: `photo.jpg.xmp` (digiKam, darktable), then
    `photo.xmp` (Lightroom). Either suffix case, as cameras and Windows tools write them. `folders`: looked up in
    its listings (an index), else asked of the disk."""
    p = Path(photo)
    listed = folders.names(p.parent) if folders is not None else None
    out = []
    for candidates, who in (([p.with_name(p.name + ".xmp"), p.with_name(p.name + ".XMP")], "digiKam sidecar"),
                            ([p.with_suffix(".xmp"), p.with_suffix(".XMP")], "Lightroom sidecar")):
        found = next((c for c in candidates if (c.name in listed if listed is not None else c.is_file())), None)
        if found is not None and found != p:
            out.append((found, who))
    return out


def signature(photo: str | Path, folders: Folders | None = None, size: int | None = None,
              mtime_ns: int | None = None) -> str:
    """What the regions of `photo` were read from, as it is now: the photo and its sidecars, each with its size and
    modification time (the photo's as given, when the caller knows them: the catalog's, just checked by the scan).
    A photo whose signature differs from the one kept when its names were imported is read again (a sidecar edited
    in digiKam, one added beside it)."""
    out = []
    if size is not None and mtime_ns is not None:
        out.append([str(Path(photo)), size, mtime_ns])
        paths = [p for p, _ in sidecars(photo, folders)]
    else:
        paths = [Path(photo), *(p for p, _ in sidecars(photo, folders))]
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            continue
        out.append([str(path), st.st_size, st.st_mtime_ns])
    return json.dumps(out, ensure_ascii=False)


def read_regions(photo: str | Path, stored_size: tuple[int, int], orientation: int = 1,
                 exiftool: ExifTool | None = None, folders: Folders | None = None) -> list[Region]:
    """The named face regions of `photo`, from its sidecars and its own XMP; a region of the same name in more than
    one place is kept once, from the first of: the digiKam sidecar, the Lightroom sidecar, the photo. In each,
    MWG regions are read, and Microsoft's only where there are no MWG ones (both say the same where an app writes
    both, as digiKam does). `stored_size` is (width, height) as stored, before `orientation` (Exif, 1-8)."""
    tool = exiftool or shared_exiftool()
    found: list[Region] = []
    for path, who in [*sidecars(photo, folders), (Path(photo), "embedded XMP")]:
        for r in regions_in(path, who, stored_size, orientation, tool):
            if not any(r.name == f.name for f in found):
                found.append(r)
    return found


def regions_in(path: Path, source: str, stored_size: tuple[int, int], orientation: int = 1,
               exiftool: ExifTool | None = None) -> list[Region]:
    """The named face regions of one file's XMP (a photo or a sidecar). RegionsUnreadable if it is damaged."""
    tags = (exiftool or shared_exiftool()).read(path, TAGS)
    regions = _mwg(tags.get("RegionInfo"), source, stored_size, orientation)
    return regions or _microsoft(tags.get("RegionInfoMP"), source, stored_size, orientation)


class ExifTool:
    """One ExifTool process kept open for many files (`-stay_open True -@ -`); thread-safe, one file at a time."""

    def __init__(self, program: str | None = None):
        given = program or os.environ.get("IDLENS_EXIFTOOL")
        # A path that leads nowhere is no ExifTool (said as "not installed", never as a sidecar it could not read)
        self.program = (shutil.which(given) if given else shutil.which("exiftool")) or None
        self.asked = given  # what IDLENS_EXIFTOOL or the caller named, for the message
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._n = 0

    @property
    def available(self) -> bool:
        return bool(self.program)

    @property
    def missing(self) -> str:
        """Why there is no ExifTool to run, in plain words."""
        return "ExifTool is not installed" + (f" ({self.asked}, named by IDLENS_EXIFTOOL, is not a program)"
                                              if self.asked and self.asked == os.environ.get("IDLENS_EXIFTOOL")
                                              else f" ({self.asked} is not a program)" if self.asked else "")

    def read(self, path: Path, tags: tuple[str, ...]) -> dict:
        """The tags of one file, as ExifTool's structured JSON (`-struct -n`), group names left out."""
        name = os.path.abspath(path)  # never read as an option ("-x.jpg"), whatever the caller gave
        if "\n" in name or "\r" in name:  # ExifTool takes one argument a line
            raise RegionsUnreadable("its name has a line break in it, which ExifTool cannot be given")
        out, err = self._run(["-j", "-struct", "-n", "-charset", "filename=utf8", *tags, name])
        if not out.strip():
            raise RegionsUnreadable(_said(err) or "ExifTool could not read it")
        try:
            [record] = json.loads(out)
        except ValueError as e:
            raise RegionsUnreadable(f"ExifTool's answer could not be read ({e})") from e
        if record.get("Error"):
            raise RegionsUnreadable(_said(record["Error"]))
        for line in [str(record.get("Warning") or ""), *err.splitlines()]:
            if "format error" in line or line.startswith("Error"):  # a sidecar cut short, a damaged XMP block
                raise RegionsUnreadable(_said(line.split(" - ")[0].removeprefix("Warning: ")))
        return record

    def write(self, target: Path, tags: dict, source: Path | None = None) -> None:
        """Make the XMP file `target` (new; its name ends in .xmp): `source`'s XMP with `tags` set (ExifTool's
        structured JSON: every other tag of `source` kept, other apps' namespaces too), or `tags` alone. The
        caller renames it into place. OSError in ExifTool's words when it could not."""
        names = [os.path.abspath(target), *([os.path.abspath(source)] if source is not None else [])]
        if any("\n" in n or "\r" in n for n in names):
            raise OSError("a name with a line break in it cannot be given to ExifTool")
        fd, spec = tempfile.mkstemp(suffix=".json", prefix="idlens-xmp-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump([{"SourceFile": "*", **tags}], f, ensure_ascii=False)
            _, err = self._run(["-charset", "filename=utf8", f"-j={spec}", "-o", names[0], *names[1:]])
        finally:
            os.unlink(spec)
        if not os.path.isfile(names[0]):
            raise OSError(" ".join(err.split()) or "ExifTool wrote nothing")

    def _run(self, args: list[str]) -> tuple[str, str]:
        if not self.program:
            raise RegionsUnreadable(f"{self.missing} (it reads the names other apps wrote)")
        with self._lock:
            proc = self._start()
            self._n += 1
            ready = f"{{ready{self._n}}}"
            assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
            proc.stdin.write("\n".join([*args, "-echo4", ready, f"-execute{self._n}"]) + "\n")
            proc.stdin.flush()
            lines = []
            for line in proc.stdout:
                if line.rstrip("\n") == ready:
                    break
                lines.append(line)
            else:
                self._stop()
                raise RegionsUnreadable("ExifTool stopped while reading it")
            err = []
            for line in proc.stderr:  # -echo4 writes the marker on stderr too, after the file's messages
                if line.rstrip("\n") == ready:
                    break
                err.append(line)
            return "".join(lines), "".join(err)

    def _start(self) -> subprocess.Popen:
        assert self.program
        if self._proc is None or self._proc.poll() is not None:
            command = [self.program, "-stay_open", "True", "-@", "-"]
            shell = shutil.which("sh") if os.name == "posix" else None
            if shell:
                # ExifTool goes on waiting for arguments after its stdin closes, even when this process is killed.
                # Through `cat`, the end of our pipe (an exit, a crash, kill -9) becomes its "stop" command.
                command = [shell, "-c", '{ cat; printf -- "-stay_open\\nFalse\\n"; } | "$0" "$@"', *command]
            self._proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace")
        return self._proc

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                assert proc.stdin is not None
                proc.stdin.write("-stay_open\nFalse\n")
                proc.stdin.flush()
                proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()


_shared: ExifTool | None = None
_shared_lock = threading.Lock()


def shared_exiftool() -> ExifTool:
    """The process's ExifTool, started at its first use and stopped when the process exits: ExifTool with
    `-stay_open` goes on waiting after its stdin closes, so without that every command that read a sidecar left a
    45 MB Perl process behind (300 of them after one test run)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ExifTool()
            atexit.register(_shared.close)
        return _shared


def _said(message: str) -> str:
    text = " ".join(str(message).split())
    return f"its XMP could not be read ({text})" if text else "its XMP could not be read"


def _number(value) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _mwg(info, source: str, stored_size, orientation: int) -> list[Region]:
    if not isinstance(info, dict):
        return []
    applied = applied_dimensions(info)
    regions = info.get("RegionList") or []
    out = []
    for item in regions if isinstance(regions, list) else [regions]:
        region = mwg_region(item, source, stored_size, orientation, applied)
        if region is not None and region.name and region.kind == "Face":  # pets, focus areas: not people
            out.append(region)
    return out


def applied_dimensions(info) -> tuple[float | None, float | None]:
    dims = (info.get("AppliedToDimensions") if isinstance(info, dict) else None) or {}
    return (_number(dims.get("W")), _number(dims.get("H"))) if isinstance(dims, dict) else (None, None)


def mwg_region(item, source: str, stored_size, orientation: int, applied) -> Region | None:
    """One item of an MWG RegionList (ExifTool's structure) as a Region in upright pixels, whatever its type and
    even unnamed; None when it has no normalised area."""
    if not isinstance(item, dict):
        return None
    area = item.get("Area") or {}
    if not isinstance(area, dict) or area.get("Unit", "normalized") != "normalized":
        return None
    x, y, w, h = (_number(area.get(k)) for k in "XYWH")
    if x is None or y is None or w is None or h is None or w <= 0 or h <= 0:
        return None
    box = _upright((x - w / 2, y - h / 2, x + w / 2, y + h / 2), stored_size, orientation, applied)
    if box is None:
        return None
    return Region(str(item.get("Name") or "").strip(), box, source, "MWG", str(item.get("Type") or "Face"))


def _microsoft(info, source: str, stored_size, orientation: int) -> list[Region]:
    if not isinstance(info, dict):
        return []
    regions = info.get("Regions") or []
    out = []
    for item in regions if isinstance(regions, list) else [regions]:
        if not isinstance(item, dict):
            continue
        name = str(item.get("PersonDisplayName") or "").strip()
        values = [_number(v.strip()) for v in str(item.get("Rectangle") or "").split(",")]
        if not name or len(values) != 4 or any(v is None for v in values):
            continue
        x, y, w, h = (float(v) for v in values if v is not None)
        if w <= 0 or h <= 0:
            continue
        box = _upright((x, y, x + w, y + h), stored_size, orientation, (None, None))
        if box:
            out.append(Region(name, box, source, "Microsoft"))
    return out


def effective_orientation(stored_size, orientation: int, applied) -> int:
    """The orientation regions of a file are to be turned by: the Exif one (MWG: regions are of the stored image),
    or none where `applied` (AppliedToDimensions, (w, h) or Nones) shows the writer measured the upright image."""
    sw, sh = stored_size
    aw, ah = applied
    if orientation in (5, 6, 7, 8) and aw and ah and sw != sh:
        if abs(aw / ah - sh / sw) < abs(aw / ah - sw / sh):  # its aspect is the upright one
            return 1
    return orientation


def _upright(corners, stored_size, orientation: int, applied) -> tuple[float, float, float, float] | None:
    """Normalised (x0, y0, x1, y1) of the stored image -> (x, y, w, h) in pixels of the upright one."""
    sw, sh = stored_size
    uw, uh = (sh, sw) if orientation in (5, 6, 7, 8) else (sw, sh)
    orientation = effective_orientation(stored_size, orientation, applied)
    x0, y0, x1, y1 = (min(1.0, max(0.0, v)) for v in corners)
    if x1 <= x0 or y1 <= y0:
        return None
    (a, b), (c, d) = _turn(x0, y0, orientation), _turn(x1, y1, orientation)
    left, right, top, bottom = min(a, c), max(a, c), min(b, d), max(b, d)
    return (left * uw, top * uh, (right - left) * uw, (bottom - top) * uh)


def mwg_area(box, stored_size, orientation: int, applied=(None, None)) -> dict:
    """(x, y, w, h) in pixels of the upright image -> an MWG area (normalised centre and size) of the stored image,
    as MWG 5.9 says, or of the upright one where the file's own `applied` dimensions say its writer measured that
    (`effective_orientation`): the inverse of what the reader does, so a written region reads back as its box."""
    sw, sh = stored_size
    uw, uh = (sh, sw) if orientation in (5, 6, 7, 8) else (sw, sh)
    effective = effective_orientation(stored_size, orientation, applied)
    turn = _UNTURN.get(effective, effective)
    x, y, w, h = box
    x0, y0 = min(1.0, max(0.0, x / uw)), min(1.0, max(0.0, y / uh))
    x1, y1 = min(1.0, max(0.0, (x + w) / uw)), min(1.0, max(0.0, (y + h) / uh))
    (a, b), (c, d) = _turn(x0, y0, turn), _turn(x1, y1, turn)
    left, right, top, bottom = min(a, c), max(a, c), min(b, d), max(b, d)
    return {"X": round((left + right) / 2, 6), "Y": round((top + bottom) / 2, 6), "W": round(right - left, 6),
            "H": round(bottom - top, 6), "Unit": "normalized"}


_UNTURN = {6: 8, 8: 6}  # the orientation that undoes each (the others undo themselves)


def _turn(x: float, y: float, orientation: int) -> tuple[float, float]:
    """A normalised point of the stored image where it lands once the Exif orientation is applied (as Pillow's
    ImageOps.exif_transpose turns the pixels)."""
    return {1: (x, y), 2: (1 - x, y), 3: (1 - x, 1 - y), 4: (x, 1 - y),
            5: (y, x), 6: (1 - y, x), 7: (1 - y, 1 - x), 8: (y, 1 - x)}.get(orientation, (x, y))


# A region and a detected face are the same face when they overlap this much (intersection over union), or when
# each one's centre lies inside the other: other apps draw their boxes tighter (Picasa) or looser (Lightroom's take
# in hair and chin) than YuNet does, and a box twice the area of the other still holds its centre, while a
# neighbour's centre in a group photo lies outside it (tests/test_regions.py measures both on real group photos).
MATCH_IOU = 0.3
AMBIGUOUS = 0.6  # a second face overlapping a region this much of the first's overlap: the region is either's


def match(regions: list[Region], boxes: list[tuple[float, float, float, float]]) -> list[int | None]:
    """For each region, the index of the detected face box (x, y, w, h, upright pixels) that is the same face, or
    None: one face per region and one region per face, the closest pairs first. A region that could be either of
    two faces (it holds the centres of both, or a second overlaps it nearly as much as the first: a loose box in
    a crowd) is None too, and so is a face that two regions of one file could both be with different names (one
    face tagged twice): a name put on the wrong face costs more than a name not imported. Between files, the one
    read first has it (`regions` come in read_regions's order: the digiKam sidecar, the Lightroom one, the photo)."""
    pairs = []
    for i, r in enumerate(regions):
        candidates = []
        for j, b in enumerate(boxes):
            overlap, mutual = iou(r.box, b), centred_on_each_other(r.box, b)
            if overlap >= MATCH_IOU or mutual:
                candidates.append((overlap, mutual, j))
        candidates.sort(reverse=True)
        held = sum(1 for b in boxes if holds(r.box, centre(b)))
        if held > 1 or (len(candidates) > 1 and (candidates[1][0] >= AMBIGUOUS * candidates[0][0]
                                                  or candidates[1][1])):
            continue
        pairs += [(overlap, mutual, i, j) for overlap, mutual, j in candidates]
    rank = {source: k for k, source in reversed(list(enumerate(r.source for r in regions)))}
    claims: dict[int, list[tuple[float, bool, int]]] = {}
    for overlap, mutual, i, j in pairs:
        claims.setdefault(j, []).append((overlap, mutual, i))
    either, outranked = set(), set()
    for j, claimants in claims.items():
        first = min(rank[regions[i].source] for *_, i in claimants)
        outranked |= {(i, j) for *_, i in claimants if rank[regions[i].source] != first}
        mine = sorted((c for c in claimants if rank[regions[c[2]].source] == first), reverse=True)
        if (len(mine) > 1 and len({regions[i].name.casefold() for *_, i in mine}) > 1
                and (mine[1][0] >= AMBIGUOUS * mine[0][0] or mine[1][1])):
            either.add(j)
    out: list[int | None] = [None] * len(regions)
    taken: set[int] = set()
    for _, _, i, j in sorted(pairs, reverse=True):
        if out[i] is None and j not in taken and j not in either and (i, j) not in outranked:
            out[i] = j
            taken.add(j)
    return out

