"""Every decision since the newest backups, in a small file beside them: `backups/decisions.jsonl`.

A backup is renewed when a library closes after changes, and at most every 15 minutes while it stays open (the app):
a catalog destroyed in between would lose the names made since. So each decision (and each undo and redo), once
committed, is also appended here as one JSON line — the rows it left, with where each face is (the file's content
fingerprint, the time in a video, the box), since face ids mean nothing to a catalog re-detected since — and
fsynced before the user sees it done. `idlens doctor --repair` restores the newest good backup and replays the lines
made after its copy began (core.faces.recovery): a line is written after its decision committed, so one older than
the copy is in it.

Lines are dropped only when they are older than the two newest backups (one older backup can fail its check and
still have its lines). Writers
serialise on an flock of the file; a writer that finds the file replaced by a pruning (another inode at the path)
opens it again, so no line goes to a deleted file. A line cut short by a crash is skipped when read.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

FILE = "decisions.jsonl"
MARGIN = 60.0   # seconds: lines are kept this much longer than the backups they follow (a clock set back a little)


class DecisionLog:
    def __init__(self, folder: Path):
        self.path = Path(folder) / FILE

    def _open_locked(self) -> int:
        """A descriptor of the file as it is at its path now, holding its lock."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                    return fd
            except FileNotFoundError:
                pass
            os.close(fd)  # replaced (pruned) or removed while we waited: the lock was on the old file

    def append(self, entry: dict) -> None:
        """One line, on disk when this returns (fsync). Raises OSError when it cannot be written: the caller says
        so; the decision itself is in the catalog already."""
        line = (json.dumps(entry, ensure_ascii=True, separators=(",", ":")) + "\n").encode()
        fd = self._open_locked()
        try:
            if os.fstat(fd).st_size == 0:
                _fsync_folder(self.path.parent)  # the file's own name, on disk with it
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def entries(self, since: float | None = None) -> list[dict]:
        """The lines in order (those at or after `since`, a time in seconds since the epoch); a damaged line — a crash
        cut it short — is skipped."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        out = []
        for n, line in enumerate(raw.splitlines(), 1):
            try:
                entry = json.loads(line)
            except ValueError:
                log.warning("%s: line %d is damaged (cut short by a crash?): skipped", self.path, n)
                continue
            if isinstance(entry, dict) and (since is None or entry.get("at", 0) >= since):
                out.append(entry)
        return out

    def prune(self, before: float) -> int:
        """Drop the lines made before `before`; atomically (a new file renamed over the old). Returns how many."""
        if not self.path.exists():
            return 0
        fd = self._open_locked()
        try:
            with open(fd, "rb", closefd=False) as f:
                lines = f.read().splitlines(keepends=True)
            kept = []
            for line in lines:
                try:
                    at = json.loads(line).get("at", 0)
                except (ValueError, AttributeError):
                    continue
                if at >= before:
                    kept.append(line)
            if len(kept) == len(lines):
                return 0
            tmp = self.path.with_name(f".{FILE}.{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                f.writelines(kept)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            _fsync_folder(self.path.parent)
            return len(lines) - len(kept)
        finally:
            os.close(fd)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
