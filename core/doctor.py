"""`idlens doctor`: is this library healthy, and if not, bring back what can be brought back.

`check()` only reads: the catalog's full integrity, the vector index against the catalog, the backups, the library
folders, the settings and the model files. `repair()` never deletes anything: a damaged catalog is moved aside,
the newest backup that passes its integrity check takes its place, the vector index is rebuilt from it and the folders
are scanned again; the report says what a backup cannot know (decisions made after it was taken).
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from .clip.lance_index import LanceUnavailable
from .clip.stores import FOLDERS, store_class
from .clip.vector_index import IndexMismatch
from .library import BACKUP_FOLDER, CATALOG_FILE, SETTINGS_FILE, Library
from .lock import WriteLock
from .media.scanner import LEFT_EMPTY, folder_warning, left_empty, scan, unreachable
from .settings import Settings, models_dir
from .store import SCHEMA_VERSION, Backups, Catalog, CatalogDamaged, CatalogError
from .faces.recovery import replay
from .store.backups import backup_holds, restore
from .store.decision_log import DecisionLog
from .store.health import integrity, side_files
from .wording import plural

log = logging.getLogger(__name__)

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass
class Check:
    name: str        # catalog, index, backups, folders, settings, model
    status: str      # ok, warn (works, but look), fail (needs repair)
    message: str
    data: dict = field(default_factory=dict)


@dataclass
class Checkup:
    library: str
    checks: list[Check]

    @property
    def healthy(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    def to_json(self) -> dict:
        return {"library": self.library, "healthy": self.healthy, "checks": [asdict(c) for c in self.checks]}


def _when(t: float) -> str:
    return datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M")


def _age(seconds: float) -> str:
    if seconds < 90:
        return "just now"
    if seconds < 5400:
        return f"{seconds / 60:.0f} minutes ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} hours ago"
    return f"{seconds / 86400:.0f} days ago"


def backup_folder(library: str | Path) -> Path:
    return Path(library).expanduser() / BACKUP_FOLDER


def describe_backup(backup) -> str:
    return f"{_when(backup.taken_at)} ({_age(backup.age_s)})"


def catalog_problem(folder: str | Path) -> str | None:
    """The cheap test every start makes (None: opens fine, or there is no library here yet)."""
    folder = Path(folder).expanduser()
    path = folder / CATALOG_FILE
    if path.exists():
        try:
            Catalog(path, read_only=True).close()
        except CatalogDamaged as e:
            return e.problem
        return None
    if _holds_a_library(folder):
        return "the file is missing, but this folder holds a library"
    return None


def _holds_a_library(folder: Path) -> bool:
    """A folder with backups or a vector index but no catalog lost its catalog: it is not a new library."""
    return bool(Backups(folder / BACKUP_FOLDER).list()) or any((folder / f).exists() for f in FOLDERS.values())


# -- the checks -----------------------------------------------------------------------------------------------------
def check(folder: str | Path, model_files: bool = True, model: str | None = None) -> Checkup:
    folder = Path(folder).expanduser().absolute()
    checks = []
    catalog_check, catalog = _check_catalog(folder)
    checks.append(catalog_check)
    try:
        if catalog is not None:
            checks.append(_check_index(folder, catalog))
        checks.append(_check_backups(folder))
        if catalog is not None:
            checks.append(_check_folders(catalog))
        settings_check, settings = _check_settings(folder)
        checks.append(settings_check)
        if model_files:
            spec = model or (catalog.library_model if catalog is not None else None) or settings.model
            checks.append(_check_model(spec))
    finally:
        if catalog is not None:
            catalog.close()
    return Checkup(str(folder), checks)


def _check_catalog(folder: Path) -> tuple[Check, Catalog | None]:
    path = folder / CATALOG_FILE
    if not path.exists():
        if _holds_a_library(folder):
            return Check("catalog", FAIL, f"{path} is missing, but this folder holds a library",
                         {"path": str(path)}), None
        return Check("catalog", OK, "no catalog yet: a new library", {"path": str(path)}), None
    t = time.perf_counter()
    problems = integrity(path)
    data = {"path": str(path), "size": path.stat().st_size, "seconds": round(time.perf_counter() - t, 3)}
    if problems:
        return Check("catalog", FAIL, f"{path} is damaged: {problems[0]}", {**data, "problems": problems}), None
    try:
        catalog = Catalog(path, read_only=True)
    except CatalogError as e:
        return Check("catalog", FAIL, str(e), data), None
    version = catalog.schema_version
    files, named = catalog.media.count(), len(catalog.people.named())
    data.update(schema_version=version, media=files, people=named)
    if version > SCHEMA_VERSION:
        return Check("catalog", FAIL, f"written by a newer Idlens (schema {version}); update Idlens", data), catalog
    return Check("catalog", OK, f"healthy: {plural(files, 'file')}, {plural(named, 'named person', 'named people')}", data), catalog


def _check_index(folder: Path, catalog: Catalog) -> Check:
    """The store the library's settings name (`vector_store`) against the catalog; messages name it, since a
    library switched from one to the other keeps both folders and only one is in use."""
    name = Settings.read(folder / SETTINGS_FILE)[0].vector_store
    checked = _check_store(folder, catalog, name)
    checked.message = f"{name} store: {checked.message}"
    checked.data["store"] = name
    return checked


def _check_store(folder: Path, catalog: Catalog, name: str) -> Check:
    model = catalog.library_model
    if not model:
        return Check("index", OK, "no vectors yet")
    dim = catalog.items.model_dim(model)
    if dim is None:
        return Check("index", OK, "no vectors yet")
    live = catalog.items.live_labels()
    try:
        index = store_class(name).load(folder / FOLDERS[name], model, dim)
    except (IndexMismatch, LanceUnavailable) as e:
        return Check("index", FAIL, str(e))
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        return Check("index", FAIL, f"the vector index cannot be read ({e}); `idlens doctor --repair` rebuilds it")
    if index is None:
        if len(live) == 0:
            return Check("index", OK, "no vectors yet")
        return Check("index", WARN, f"no vector index yet for {plural(len(live), 'vector')}; the next search builds it")
    have = index.labels_array()
    absent = len(np.setdiff1d(live, have))
    extra = len(np.setdiff1d(have, live))
    data = {"vectors": int(len(live)), "in_index": int(len(have)), "absent": absent, "extra": extra}
    if not absent and not extra:
        return Check("index", OK, f"agrees with the catalog ({len(live)} vectors)", data)
    in_step = index.generation == catalog.meta.get("index_generation") and catalog.meta.get("index_dirty") != "1"
    message = f"{absent} vectors missing from the index, {extra} that should not be found"
    if in_step:  # the catalog says the index is current, yet they disagree: damage, not an unfinished run
        return Check("index", FAIL, message + "; `idlens doctor --repair` rebuilds it", data)
    return Check("index", WARN, message + " (an interrupted run; the next search brings it in line)", data)


def _check_backups(folder: Path) -> Check:
    backups = Backups(folder / BACKUP_FOLDER).list()
    data: dict = {"folder": str(folder / BACKUP_FOLDER), "backups": [b.to_json() for b in backups]}
    if not backups:
        return Check("backups", WARN, "no backup yet (one is made before each risky operation and daily after "
                     "changes)", data)
    newest = backups[0]
    size = sum(b.size for b in backups)
    holds = backup_holds(newest.path)
    since = len(DecisionLog(folder / BACKUP_FOLDER).entries(newest.taken_at))
    data.update(newest_holds=holds, logged_since=since)
    what = f"{plural(holds['named'], 'named person', 'named people')}, " \
           f"{plural(holds['confirmed'], 'confirmed face')}" if holds else "its content could not be read"
    logged = (f"; {plural(since, 'decision')} made since {'is' if since == 1 else 'are'} in the decision log beside "
              "it (replayed by --repair)") if since else ""
    return Check("backups", OK, f"{plural(len(backups), 'backup')} ({size / 1e6:.1f} MB); newest {_age(newest.age_s)} "
                 f"({_when(newest.taken_at)}, {newest.reason}: {what}){logged}", data)


def _check_folders(catalog: Catalog) -> Check:
    offline = {}
    roots = catalog.media.roots()
    for root in roots:
        why = unreachable(root, catalog.media.known_files(root))
        if why:
            offline[root] = LEFT_EMPTY if left_empty(catalog, root) else why
    data = {"folders": roots, "offline": offline}
    if not roots:
        return Check("folders", OK, "no folders yet", data)
    if offline:
        return Check("folders", WARN, "; ".join(folder_warning(r, why) for r, why in offline.items()), data)
    return Check("folders", OK, f"{plural(len(roots), 'folder')} reachable", data)


def _check_settings(folder: Path) -> tuple[Check, Settings]:
    settings, problems = Settings.read(folder / SETTINGS_FILE)
    if problems:
        return Check("settings", WARN, "; ".join(problems), {"problems": problems}), settings
    return Check("settings", OK, "valid" if (folder / SETTINGS_FILE).exists() else "defaults"), settings


def _check_model(spec: str) -> Check:
    from .clip.embedder import weights_available

    if weights_available(spec, models_dir()):
        return Check("model", OK, f"{spec}: files present", {"model": spec})
    return Check("model", WARN, f"{spec}: not downloaded yet (downloaded on first use; needs the internet once)",
                 {"model": spec})


# -- repair ---------------------------------------------------------------------------------------------------------
@dataclass
class RepairReport:
    library: str
    actions: list[str] = field(default_factory=list)
    moved_aside: list[str] = field(default_factory=list)
    restored_from: dict | None = None
    skipped_backups: list[dict] = field(default_factory=list)   # newer backups that failed their check
    replayed: dict | None = None      # the decision log put back after the backup (core.faces.recovery)
    forget_again: list[str] = field(default_factory=list)   # paths forgotten after the backup: forgotten again
    started_empty: bool = False
    scan: dict = field(default_factory=dict)
    people: int = 0
    healthy: bool = False

    def to_json(self) -> dict:
        return asdict(self)


def repair(folder: str | Path) -> RepairReport:
    folder = Path(folder).expanduser().absolute()
    with WriteLock(folder, "repairing the library"):
        return _repair(folder)


def _repair(folder: Path) -> RepairReport:
    report = RepairReport(str(folder))
    path = folder / CATALOG_FILE
    catalog_check, catalog = _check_catalog(folder)
    index_failed = False
    if catalog is not None:
        index_failed = _check_index(folder, catalog).status == FAIL
        catalog.close()
    if catalog_check.status == FAIL:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for f in side_files(path):
            aside = f.with_name(f.name.replace(CATALOG_FILE, f"catalog.damaged-{stamp}.db", 1))
            os.replace(f, aside)
            report.moved_aside.append(str(aside))
        report.actions.append(f"moved the damaged catalog aside: {report.moved_aside[0]}" if report.moved_aside
                              else "the catalog was missing")
        good, bad = Backups(folder / BACKUP_FOLDER).newest_good()
        report.skipped_backups = [{**b.to_json(), "problem": why} for b, why in bad]
        for b, why in bad:
            report.actions.append(f"skipped the backup of {_when(b.taken_at)}: {why}")
        if good is not None:
            restore(good.path, path)
            report.restored_from = good.to_json()
            report.actions.append(f"restored the backup of {describe_backup(good)}")
        else:
            Catalog(path).close()  # asked for by --repair: an empty catalog where nothing could be restored
            report.started_empty = True
            report.actions.append("no good backup: started an empty catalog (index your folders again)")
        # Lines made before the copy began are in it (a line is written once its decision committed): only later ones
        # are replayed, so a file forgotten after a decision, before the copy, stays forgotten.
        _replay_decisions(folder, good.taken_at if good is not None else None, report)
    if catalog_check.status == FAIL or index_failed:
        _rebuild_and_rescan(folder, report)
    if not report.actions:
        report.actions.append("nothing to repair")
    report.healthy = check(folder, model_files=False).healthy
    return report


def _replay_decisions(folder: Path, since: float | None, report: RepairReport) -> None:
    """The decisions logged beside the backups after the restored one (all of them onto an empty catalog), put
    back (core.faces.recovery), then the one rule."""
    log_ = DecisionLog(folder / BACKUP_FOLDER)
    entries = log_.entries(since)
    if not entries:
        if report.restored_from:
            report.actions.append("no decision was logged after that backup: every name, merge and \"not this "
                                  "person\" answer is in it")
        return
    settings, _ = Settings.read(folder / SETTINGS_FILE)
    catalog = Catalog(folder / CATALOG_FILE, Backups(folder / BACKUP_FOLDER))
    try:
        replayed = replay(catalog, entries, settings)
    finally:
        catalog.close()
    report.forget_again = [p for e in entries if e.get("kind") == "forget" for p in e.get("paths", [])]
    report.replayed = {"decisions": replayed.decisions, "rows": replayed.rows,
                       "faces_not_here": replayed.faces_not_here, "conflicts": replayed.conflicts}
    words = f"replayed {plural(replayed.decisions, 'decision')} logged after the backup"
    if replayed.summaries:
        shown = "; ".join(replayed.summaries[-5:])
        words += f" ({shown}{'; …' if len(replayed.summaries) > 5 else ''})"
    if replayed.faces_not_here:
        words += (f"; {plural(replayed.faces_not_here, 'face decision')} could not be put back: their files are "
                  "not in the restored catalog (added after the backup)")
    if replayed.conflicts:
        words += f"; {plural(replayed.conflicts, 'change')} left out where the restored catalog disagrees"
    report.actions.append(words)


def _rebuild_and_rescan(folder: Path, report: RepairReport) -> None:
    with Library(folder) as lib:
        with lib.write_lock("repairing the library"):
            if report.restored_from or report.started_empty:
                # the restored catalog's next faces take ids above its highest again: their cached crops are others'
                lib.face_crops.drop_above(lib.catalog.faces.max_id())
            n = lib.rebuild_index()
            report.actions.append(f"rebuilt the vector index ({lib.settings.vector_store} store) from the catalog "
                                  f"({plural(n, 'vector')})")
            known = [p for p in report.forget_again
                     if lib.catalog.media.known_files(p) or p in lib.catalog.media.roots()]
            forgotten = lib.forget(*known) if known else 0
            if report.forget_again:
                report.actions.append(f"forgot again what was forgotten after the backup ({plural(forgotten, 'file')}: "
                                      + ", ".join(report.forget_again) + ")")
            roots = lib.catalog.media.roots()
            s = scan(lib.catalog, roots, follow_links=lib.settings.follow_links)
            lib.refresh_index()
            lib.save_index()
        report.scan = {"found": s.found, "new": s.new, "changed": s.changed, "moved": s.moved, "missing": s.missing,
                       "offline": s.offline}
        report.people = len(lib.catalog.people.named())
        since = " since the backup" if report.restored_from or report.started_empty else ""
        report.actions.append(f"scanned {plural(len(roots), 'folder')} again: {plural(s.new, 'file')} new{since}, "
                              f"{s.changed} changed, {s.missing} gone"
                              + ("; run `idlens index` to index them" if s.new + s.changed else ""))
