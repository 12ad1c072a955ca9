"""Aligned face crops (112 px JPEG) in the cache folder, for the people panel and review: a cache, rebuilt by a
re-index or on demand from the file, so a failed write costs the picture and never the face or a decision.

Face ids are a library's own (two libraries both have a face 12; a catalog restored from a backup hands out ids
again), so each library keeps its crops in a folder of its own, `cache_dir()/faces/<library id>/`, the id a uuid
kept in the catalog's meta table (`library_crops`, the one place that says where a library's crops are). A crop
also carries, in its JPEG comment, a fingerprint of the landmarks it was aligned on: `ensure` shows a crop only if
that is still this face's, and otherwise (or when the crop is missing: an old cache layout, a cache the user
cleaned) makes it again from the photo or the video frame, aligned exactly as the indexer aligned it."""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from core.settings import Settings

log = logging.getLogger(__name__)

LIBRARY_ID = "library_id"   # meta key: the library's own id, the name of its crops' folder


class FaceCrops:
    """The crops of one library under `root`. With a `source` (`library_crops` gives one), `ensure` checks a crop
    against the catalog and makes a missing or stale one again; `path` alone never reads the catalog (the app's
    UI thread asks it)."""

    def __init__(self, root: Path, source: CropSource | None = None):
        self.root = Path(root)
        self.source = source

    def path(self, face_id: int) -> Path:
        face_id = int(face_id)
        return self.root / f"{face_id // 1000:04}" / f"{face_id}.jpg"

    def save(self, face_id: int, bgr: np.ndarray | None, landmarks=None) -> None:
        """Keep `bgr` as the face's crop, signed with the `landmarks` it was aligned on (as stored in the catalog)
        when given. No crop (None): an older crop of this id is removed, never left to stand for this face."""
        path = self.path(face_id)
        if bgr is None:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
            return
        from PIL import Image

        tmp = path.with_name(f".{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            extra = {"comment": signature(landmarks)} if landmarks is not None else {}
            # Written aside and renamed: a loader on another thread never reads half a crop.
            Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1])).save(tmp, "JPEG", quality=88, **extra)
            os.replace(tmp, path)
        except OSError as e:  # a full disk or a read-only cache
            log.warning("face crop %s not written: %s", path, e)
            for p in (tmp, path):
                with contextlib.suppress(OSError):
                    p.unlink(missing_ok=True)

    def ensure(self, face_id: int) -> Path | None:
        """The face's crop, made again from its file when it is missing or is not this face's (its landmarks'
        fingerprint differs); None when there is no such face or its file cannot give it (gone, offline, changed
        since it was indexed). Reads the catalog and may decode a file: never on the app's UI thread."""
        path = self.path(face_id)
        if self.source is None:
            return path if path.is_file() else None
        face = self.source.face(face_id)
        if face is None:  # not a face of this library (any more): whatever is cached under its id is not it
            self.save(face_id, None)
            return None
        kept = _comment(path)
        if kept is not None and kept in (b"", signature(face.landmarks).encode()):  # b"": saved by a caller
            return path                                     # without the landmarks at hand (a reference photo)
        try:
            bgr = self.source.crop(face)
        except Exception as e:  # a cache: one file that cannot be read costs its picture, nothing else
            log.info("face %s: no crop made from %s: %s: %s", face_id, face.path, type(e).__name__, e)
            bgr = None
        self.save(face_id, bgr, face.landmarks)
        return path if bgr is not None and path.is_file() else None

    def drop_above(self, max_face_id: int) -> int:
        """Remove the cached crops of faces whose id is above `max_face_id` (after a catalog is restored from a
        backup, its next faces take those ids again). Returns how many crops were removed."""
        max_face_id = int(max_face_id)
        top = max_face_id // 1000 if max_face_id >= 0 else -1
        removed = 0
        try:
            folders = list(self.root.iterdir())
        except OSError:
            return 0
        for folder in folders:
            if not (folder.is_dir() and folder.name.isdigit()):
                continue
            block = int(folder.name)
            if block < top:
                continue
            for crop in list(folder.iterdir()):
                face_id = _face_id(crop.name)
                if block > top or (face_id is not None and face_id > max_face_id):  # not a crop being written
                    with contextlib.suppress(OSError):
                        crop.unlink()
                        removed += face_id is not None
            if block > top:
                with contextlib.suppress(OSError):
                    folder.rmdir()
        return removed


def signature(landmarks) -> str:
    """A fingerprint of a face's five landmarks as the catalog stores them (float32): what its crop was aligned on."""
    return hashlib.sha1(np.asarray(landmarks, dtype=np.float32).tobytes()).hexdigest()[:16]


def _comment(path: Path) -> bytes | None:
    """The JPEG comment of a cached crop (b"" without one); None when there is no readable crop."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return bytes(img.info.get("comment", b""))
    except (OSError, SyntaxError, ValueError):
        return None


def _face_id(name: str) -> int | None:
    stem, dot, ext = name.partition(".")
    return int(stem) if dot and ext == "jpg" and stem.isdigit() else None


# -- where a library's crops live ---------------------------------------------------------------------------------
def library_id(catalog) -> str | None:
    """The library's own id, made (a uuid) the first time a writable catalog is asked; None for a catalog that has
    none and cannot be written (read-only)."""
    known = catalog.meta.get(LIBRARY_ID)
    if known:
        return known
    try:
        return catalog.meta.setdefault(LIBRARY_ID, uuid.uuid4().hex)
    except sqlite3.Error as e:  # read-only, or a writer held the catalog past the busy timeout
        log.warning("the library's id could not be recorded in %s: %s", catalog.path, e)
        return None


def crops_root(catalog) -> Path | None:
    """The folder of this library's crops; None while the library has no id (no crop of it was ever kept)."""
    from core.settings import cache_dir

    lid = library_id(catalog)
    return cache_dir() / "faces" / lid if lid else None


def library_crops(catalog, settings: Callable[[], Settings] | None = None) -> FaceCrops:
    """The crops of the library whose catalog this is; `settings()` gives its current Settings (face detail and
    decode size), for crops made again from the files. A catalog without an id that cannot take one keeps its
    crops for this process only (a folder of its own, never another library's)."""
    from core.settings import Settings, cache_dir

    root = crops_root(catalog) or cache_dir() / "faces" / f"unrecorded-{uuid.uuid4().hex}"
    return FaceCrops(root, CropSource(Path(catalog.path), settings or Settings))


# -- making a crop again from the file ----------------------------------------------------------------------------
@dataclass
class StoredFace:
    id: int
    landmarks: np.ndarray    # (5, 2) as stored: pixels of the upright original (a reference photo: of its detail image)
    timestamp: float | None  # the video frame's
    path: str | None                 # the library's file, or the reference photo
    kind: str | None                 # "image" | "video"; None for a reference photo
    size: int | None = None
    mtime_ns: int | None = None
    status: str | None = None


class CropSource:
    """Faces read from the catalog file on a connection of its own (any thread may ask), and their crops made
    again from the files."""

    def __init__(self, catalog_path: Path, settings: Callable[[], Settings]):
        self.catalog_path = Path(catalog_path)
        self.settings = settings

    def face(self, face_id: int) -> StoredFace | None:
        from core.store.faces import face_for_crop

        row = face_for_crop(self.catalog_path, face_id)
        if row is None:
            return None
        landmarks = np.frombuffer(row[0], dtype=np.float32).reshape(5, 2)
        if row[2] is None:  # a reference photo outside the library
            return StoredFace(int(face_id), landmarks, None, row[3], None)
        return StoredFace(int(face_id), landmarks, row[1], row[4], row[5], row[6], row[7], row[8])

    def crop(self, face: StoredFace) -> np.ndarray | None:
        """The face aligned on its landmarks as the indexer aligned it, or None when its file cannot say: gone,
        offline, or changed since it was indexed (its landmarks may no longer be on the face)."""
        from core.store.records import INDEXED

        from .detection import SHOWN_FILL, align, pil_to_bgr

        if not face.path:
            return None
        settings = self.settings()
        if face.kind is None:  # reference photo: landmarks are in pixels of the detail image it was analysed on
            if not os.path.isfile(face.path):
                return None
            from core.media.images import decode_image

            detail = decode_image(face.path, settings.decode_min_side, settings.face_detail).detail
            return align(pil_to_bgr(detail), face.landmarks, fill=SHOWN_FILL)
        if face.status != INDEXED:  # missing, offline, waiting to be indexed again: its landmarks may be stale
            return None
        try:
            st = os.stat(face.path)
        except OSError:
            return None
        if st.st_size != face.size or st.st_mtime_ns != face.mtime_ns:
            return None
        if face.kind == "video":
            detail, width = _video_frame(face.path, face.timestamp or 0.0, settings.face_detail)
        else:
            from core.media.images import decode_image

            # JPEG draft mode, as the indexer's faces-only decode: a 13-MP photo's crop in 50 ms instead of 250 (two
            # slow cores), 1.2 grey levels (of 255, mean) from the crop of the full decode the indexer saved.
            img = decode_image(face.path, settings.decode_min_side, settings.face_detail, draft=True)
            detail, width = img.detail, img.width
        if detail is None:
            return None
        return align(pil_to_bgr(detail), face.landmarks * np.float32(detail.width / max(1, width)), fill=SHOWN_FILL)


def _video_frame(path: str, timestamp: float, detail_side: int):
    """The frame the sampler took at `timestamp` (upright, long side at most `detail_side`, resized as the
    sampler resizes it) and the upright frame's full width; (None, 0) when the video has no frame there."""
    import av
    from PIL import Image

    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if stream.time_base is None:
            return None, 0
        container.seek(int(max(0.0, timestamp - 0.001) / stream.time_base), stream=stream, backward=True)
        chosen = None
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            chosen = frame
            if round(max(0.0, float(frame.time)), 3) + 1e-3 >= timestamp:
                break
        if chosen is None:
            return None, 0
        full = chosen.to_image()
        rotation = int(getattr(chosen, "rotation", 0) or 0)
        if rotation:
            full = full.rotate(rotation, expand=True)
    detail = full
    if max(full.size) > detail_side:
        k = detail_side / max(full.size)
        detail = full.resize((max(1, round(full.width * k)), max(1, round(full.height * k))),
                             Image.Resampling.BICUBIC, reducing_gap=1.5)
    return detail, full.width
