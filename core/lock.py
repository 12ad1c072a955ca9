"""One writer per library: an advisory lock file that the GUI and the CLI both respect.

Readers (search, listings) never take it; SQLite's WAL lets them read while a writer works. A second writer is
refused at once with a message that says who holds the library, instead of waiting behind a long index run.
The lock is an flock on the library folder itself, so it disappears with the process that held it, even after
kill -9, and deleting a file cannot break it (it used to be on `write.lock`: a deleted lock file let a second writer
in, and the second then took the first one's live work for leftovers of an earlier run). `write.lock` now only
holds a note of who writes, for the message a second writer gets. The folder is never locked with fcntl/POSIX locks,
and no descriptor of the catalog is opened here: closing one would drop SQLite's own locks (see store.health).
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_FILE = "write.lock"


class LibraryBusy(Exception):
    """Another process is writing to this library."""


class WriteLock:
    """Re-entrant within a thread (indexing also clusters faces), exclusive across threads and processes: a second
    writer is refused at once, never queued behind a long index run."""

    _held: dict[str, dict] = {}   # path -> {"fd", "depth", "thread", "what"}
    _mutex = threading.Lock()      # guards _held only, never held while a writer works

    def __init__(self, folder: Path, what: str = "writing", after=None):
        self.folder = str(Path(folder))
        self.path = str(Path(folder) / LOCK_FILE)
        self.what = what
        self.after = after  # called once the outermost holder has let go (the daily backup)

    def __enter__(self):
        me = threading.get_ident()
        with self._mutex:
            held = self._held.get(self.path)
            if held is not None:
                if held["thread"] != me:
                    raise LibraryBusy(f"this Idlens is already {held['what']} in this library; searching works "
                                      "meanwhile — try again when it has finished")
                held["depth"] += 1
                return self
            fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                holder = _read_holder(self.path)
                raise LibraryBusy(
                    f"another Idlens is {holder.get('what', 'writing to this library')} (pid {holder.get('pid', '?')}, "
                    f"since {holder.get('since', '?')}); searching works meanwhile — try again when it has finished"
                ) from None
            _write_holder(self.path, self.what)
            self._held[self.path] = {"fd": fd, "depth": 1, "thread": me, "what": self.what}
            return self

    def __exit__(self, *exc):
        with self._mutex:
            held = self._held[self.path]
            held["depth"] -= 1
            released = held["depth"] == 0
            if released:
                del self._held[self.path]
                fcntl.flock(held["fd"], fcntl.LOCK_UN)
                os.close(held["fd"])
        if released and self.after is not None:
            self.after()
        return False


def _write_holder(path: str, what: str) -> None:
    note = json.dumps({"pid": os.getpid(), "what": what, "program": os.path.basename(sys.argv[0]),
                       "since": time.strftime("%H:%M:%S")})
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(note)
    except OSError as e:  # a full disk or a read-only note: the flock is what counts, the note is for the message
        log.debug("lock note not written: %s", e)


def _read_holder(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.loads(f.read(4096) or "{}")
    except (OSError, ValueError):
        return {}
