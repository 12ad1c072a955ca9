"""Automatic copies of the catalog in `<library>/backups/`: the names, merges and "not this person" answers in it are
the one thing no re-scan can bring back.

A copy is made with SQLite's online backup API (a consistent snapshot, even while another process reads), checked
with `PRAGMA integrity_check` before it takes its final name, and kept in rotation:
- before every risky operation (a schema migration, re-embed, recluster, import): the newest KEEP_BEFORE;
- one a day after the library changed, renewed during the day at most every REFRESH (names made today are in it):
  the newest KEEP_DAILY days.
"""
from __future__ import annotations

import builtins
import errno
import logging
import os
import re
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .errors import CatalogError
from .health import integrity

log = logging.getLogger(__name__)

FOLDER = "backups"
# Each copy is the catalog's size (434 MB for 100,000 photos with 512-d vectors, `python -m bench safety`): seven
# copies are about 0.5 % of such a library's photos on disk.
KEEP_DAILY = 4
KEEP_BEFORE = 3
REFRESH = 15 * 60  # while a library stays open, today's copy is renewed after changes at most this often
CLOSING = 0        # when it closes after changes, today's copy is renewed: the last decisions are always in one
_NAME = re.compile(r"^catalog-(\d{8}-\d{6}-\d{3})-([a-z0-9-]+)\.db$")


@dataclass
class Backup:
    path: Path
    taken_at: float      # seconds since the epoch
    reason: str          # "daily" or "before-<operation>"
    size: int

    @property
    def age_s(self) -> float:
        return max(0.0, time.time() - self.taken_at)

    def to_json(self) -> dict:
        return {"path": str(self.path), "taken_at": datetime.fromtimestamp(self.taken_at).isoformat(timespec="seconds"),
                "age_s": round(self.age_s), "reason": self.reason, "size": self.size}


class Backups:
    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def list(self) -> list[Backup]:
        """Every backup, newest first."""
        out = []
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return []
        for entry in entries:
            m = _NAME.match(entry.name)
            if not m or not entry.is_file():
                continue
            stamp = datetime.strptime(m.group(1)[:15], "%Y%m%d-%H%M%S").timestamp() + int(m.group(1)[16:]) / 1000
            out.append(Backup(Path(entry.path), stamp, m.group(2), entry.stat().st_size))
        return sorted(out, key=lambda b: b.taken_at, reverse=True)

    def take(self, conn: sqlite3.Connection, reason: str) -> Backup:
        """Copy the catalog behind `conn`, verify the copy, then rotate. Raises CatalogError when it cannot."""
        self.folder.mkdir(parents=True, exist_ok=True)
        now = time.time()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + f"-{int(now * 1000) % 1000:03d}"
        final = self.folder / f"catalog-{stamp}-{reason}.db"
        part = self.folder / f".{final.name}.part"
        try:
            dest = sqlite3.connect(str(part))
            try:
                conn.backup(dest)
                dest.execute("PRAGMA journal_mode=DELETE")  # a copy is one self-contained file, no -wal beside it
            finally:
                dest.close()
            problems = integrity(part)
            if problems:
                raise CatalogError(f"the backup of the catalog did not pass its check ({problems[0]})")
            with open(part, "rb") as f:
                os.fsync(f.fileno())
            os.replace(part, final)
        except (OSError, sqlite3.Error) as e:
            raise CatalogError(f"could not back up the catalog into {self.folder} ({e}); {_what_to_do(e)}") from e
        finally:
            if part.exists():
                part.unlink()
        self.rotate()
        return Backup(final, now, reason, final.stat().st_size)

    def daily_due(self, min_age: float = REFRESH) -> bool:
        """Whether the catalog, changed since its last copy, should be copied now: no daily copy from today yet, or
        today's is older than `min_age` (it is then replaced: one copy a day is kept, and the day's names get into it
        when the library closes, or within REFRESH while it stays open)."""
        newest = next((b for b in self.list() if b.reason == "daily"), None)
        if newest is None or time.localtime(newest.taken_at)[:3] != time.localtime()[:3]:
            return True
        return newest.age_s >= min_age

    def replace_todays(self, taken: Backup) -> None:
        """Keep one daily copy per day: the newest of today replaces the earlier ones of today."""
        today = time.localtime(taken.taken_at)[:3]
        for b in self.list():
            if b.reason == "daily" and b.path != taken.path and time.localtime(b.taken_at)[:3] == today:
                b.path.unlink(missing_ok=True)

    def rotate(self) -> builtins.list[Path]:
        """Delete all but the newest KEEP_DAILY daily and KEEP_BEFORE pre-operation backups. Returns what went."""
        daily = before = 0
        removed = []
        for b in self.list():
            if b.reason == "daily":
                daily += 1
                keep = daily <= KEEP_DAILY
            else:
                before += 1
                keep = before <= KEEP_BEFORE
            if not keep:
                b.path.unlink(missing_ok=True)
                removed.append(b.path)
        return removed

    def newest_good(self) -> tuple[Backup | None, builtins.list[tuple[Backup, str]]]:
        """The newest backup that passes the full integrity check, and the newer ones that did not (with why)."""
        bad: builtins.list[tuple[Backup, str]] = []
        for b in self.list():
            problems = integrity(b.path)
            if not problems:
                return b, bad
            bad.append((b, problems[0]))
        return None, bad


def _what_to_do(e: BaseException) -> str:
    """The advice that is true for why a copy failed: a full disk, a folder not ours to write, a read-only one."""
    code = getattr(e, "errno", None)
    text = str(e).lower()
    if code == errno.ENOSPC or "full" in text:
        return "free some disk space and try again"
    if code in (errno.EACCES, errno.EPERM) or "permission" in text:
        return "this user may not write there: check the folder's permissions"
    if code == errno.EROFS or "readonly" in text or "read-only" in text:
        return "the disk is read-only: make it writable, or copy the library to a writable disk"
    return "try again; `idlens doctor` checks the library"


def backup_holds(path: Path) -> dict | None:
    """What a backup holds of the user's decisions (named people, confirmed faces), read without changing it; None
    when it cannot be read."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            return {"named": db.execute("SELECT count(*) FROM people WHERE name IS NOT NULL").fetchone()[0],
                    "confirmed": db.execute("SELECT count(*) FROM faces WHERE confirmed = 1").fetchone()[0]}
        finally:
            db.close()
    except sqlite3.Error:
        return None


def restore(backup: Path, catalog_path: Path) -> None:
    """Write the backup's content as the catalog at `catalog_path` (which must not exist)."""
    part = Path(f"{catalog_path}.restoring")
    src = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        dest = sqlite3.connect(str(part))
        try:
            src.backup(dest)
        finally:
            dest.close()
    finally:
        src.close()
    os.replace(part, catalog_path)
