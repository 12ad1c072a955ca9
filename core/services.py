"""The use cases both front ends call: what the CLI prints and what the GUI shows come from here, so neither builds
a summary, a report or a person of its own. Each takes the Library it works on; long jobs (index, training) stay
generators in their own modules (indexer, idclip.adapt), wrapped by the front ends.
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict
from pathlib import Path

from .clip import stores
from .clip.embedder import weights_available
from .faces.detection import pil_to_bgr
from .faces.views import PeopleError
from .library import SETTINGS_FILE, Library
from .media.dates import Taken, newest_first_key, taken_of
from .paths import not_regular
from .settings import Settings, models_dir
from .media.scanner import offline_roots
from .store import ERROR, Media, Person
from .store.faces import face_focus
from .wording import plural

log = logging.getLogger(__name__)


def status(lib: Library, model_files: bool = False) -> dict:
    """What the library holds: files by kind and status, vectors, model, folders with their counts. With
    `model_files`, also whether the model is installed and where the thumbnails are."""
    c = lib.catalog
    folders = []
    offline = offline_roots(c)  # looked at now, not only at the last index: an unplugged drive shows at once
    for root in c.media.roots():
        summary = c.media.folder_summary(root)
        folders.append({"path": root, **asdict(summary), "offline": offline.get(root)})
    out = {"library": str(lib.folder), "model": lib.model_spec, "library_model": c.library_model,
           "test_model": lib.embedder.is_test_model, "media": c.media.counts(), "vectors": c.items.count(),
           "roots": [f["path"] for f in folders], "folders": folders, "schema_version": c.schema_version,
           "vector_store": stores.saved(lib.settings.vector_store, lib.index_folder)}
    if model_files:
        out.update(weights_available=weights_available(lib.model_spec, models_dir()),
                   thumbnails=str(lib.thumbnails.root))
    return out


def store_line(store: dict) -> str:
    """`status`'s words for the vector store in `status()["vector_store"]`."""
    return stores.describe(store)


def offline_note(count: int) -> str | None:
    """One line for searches while files are offline (their folder unreachable): they are not searched."""
    if not count:
        return None
    return (f"{plural(count, 'file')} in folders that cannot be reached (an unplugged drive?) are not searched until "
            "they are back; `idlens status` names them")


def errors(lib: Library) -> list[dict]:
    """Files that could not be indexed, files whose faces could not be analysed, and photos whose names from other
    apps (XMP) could not be read, each with the reason in plain words (`error`) and the library's own words for it
    (`detail`, None when the reason says all)."""
    out: list[dict] = [{"path": m.path, "kind": m.kind, "error": m.error, "detail": m.error_detail}
                       for m in lib.catalog.media.with_status(ERROR)]
    out += [{"path": m.path, "kind": m.kind, "error": m.faces_error, "detail": m.faces_error_detail,
             "faces_only": True} for m in lib.catalog.media.face_failures()]
    out += [{"path": m.path, "kind": m.kind, "error": m.regions_error, "detail": m.regions_error_detail,
             "names_only": True} for m in lib.catalog.media.regions_failures()]
    return out


def retry(lib: Library, paths: list[str]) -> int:
    """Queue files that could not be read for the next index; returns how many (their face failures are retried by
    every index anyway)."""
    with lib.write_lock("queueing files again"):
        with lib.catalog.transaction():
            return lib.catalog.media.requeue(paths)


def dated(when: Taken | None) -> dict:
    """A file's date as listings send it (core.media.dates): `date`, and `dated_by` "capture" or "file"."""
    return {"date": when.text if when else None, "dated_by": when.by if when else None}


def media_json(m: Media) -> dict:
    """A catalog row as `list --json` prints it: `captured_at` is the capture date alone, `date` the one shown."""
    return {"path": m.path, "kind": m.kind, "status": m.status, "size": m.size, "width": m.width,
            "height": m.height, "duration": m.duration, "captured_at": m.captured_at, **dated(taken_of(m)),
            "error": m.error, "detail": m.error_detail}


def browse(lib: Library) -> list[dict]:
    """Everything searchable, newest first, as result rows (the grid before any search). A file without a capture
    date (no EXIF, a screenshot, most videos) is placed by its file date, marked as such (`dated_by`); here
    `captured_at` is that date too (`date`, as in search results). `focus` is where its faces are (x, y as fractions
    of the picture; None without faces), for the grid's square crop: a photo's faces, a video's earliest frame with
    faces (its tile shows the poster frame); `focus_at` gives a video's per frame, for its search results' moments."""
    focus = face_focus(lib.catalog.faces.db)  # one query for all media, never one per row
    rows = []
    for m in lib.catalog.media.browse():
        when = taken_of(m)
        frames = focus.get(m.id, {})
        first = frames[min(frames, key=lambda t: t or 0.0)] if frames else None  # a photo's own, or the earliest
        rows.append((when, {"media_id": m.id, "path": m.path, "kind": m.kind, "duration": m.duration,
                            "fingerprint": m.fingerprint, "captured_at": when.text if when else None, **dated(when),
                            "timestamp": None, "score": None, "why": {}, "focus": first,
                            **({"focus_at": frames} if m.kind == "video" and frames else {})}))
    rows.sort(key=lambda r: newest_first_key(r[0]), reverse=True)
    return [row for _, row in rows]


def index_report(report) -> dict:
    """An IndexReport as the CLI's --json prints it and the GUI shows it."""
    s = report.scan
    return {"found": s.found, "new": s.new, "changed": s.changed, "moved": s.moved, "missing": s.missing,
            "unchanged": s.unchanged, "unreadable": s.unreadable, "offline": s.offline, "back": s.back,
            "offline_folders": s.offline_folders, "skipped": s.skipped, "indexed": report.embedded_files, "resumed": report.resumed,
            "vectors": report.embedded_items, "errors": report.errors + s.unreadable,
            "face_errors": report.face_errors, "seconds": round(report.seconds, 3), "cancelled": report.cancelled,
            "pipeline_seconds": round(report.pipeline_seconds, 3),
            "stages": {k: round(v, 3) for k, v in report.stages.items()},
            **({"cluster": report.cluster.to_json()} if report.cluster else {})}


def largest_face(lib: Library, photo: str):
    """The largest face in a photo (a reference photo of someone), or PeopleError."""
    from .media.images import decode_image

    decoded = decode_image(photo, lib.settings.decode_min_side, lib.settings.face_detail)
    faces = lib.face_backend.analyse(pil_to_bgr(decoded.detail))
    if not faces:
        raise PeopleError(f"no face found in {photo}")
    return max(faces, key=lambda f: f.size)


def add_person_from_photo(lib: Library, name: str, photo: str) -> tuple[Person, int]:
    """A person from a reference photo's largest face; matching faces and unnamed groups join them."""
    if not os.path.exists(photo):
        raise PeopleError(f"no such file: {photo}")
    special = not_regular(photo)
    if special:
        raise PeopleError(special)
    face = largest_face(lib, photo)
    return lib.people.add_reference(name, face, os.path.abspath(photo), lib.face_backend.name)


def save_settings(lib: Library, settings: Settings) -> None:
    """Validate and write a library's settings, under the library's write lock (a running index reads them)."""
    settings.validate()
    lib.settings = settings
    lib.save_settings()


def load_settings(folder: str | Path) -> Settings:
    """The settings of the library in `folder` (defaults when it has none yet), without opening its catalog."""
    return Settings.load(Path(folder).expanduser() / SETTINGS_FILE)
