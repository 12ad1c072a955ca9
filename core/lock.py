"""One writer per library: an advisory lock file that the GUI and the CLI both respect.

Readers (search, listings) never take it; SQLite's WAL lets them read while a writer works. A second writer is
refused at once with a message that says who holds the library, instead of waiting behind a long index run.
The lock is an flock on `<library>/write.lock`, so it disappears with the process that held it, even after kill -9.
"""
from __future__ import annotations

import fcntl
import json
import os
import sys
import threading
import time
from pathlib import Path

LOCK_FILE = "write.lock"


class LibraryBusy(Exception):
    """Another process is writing to this library."""


class WriteLock:
    """Re-entrant within a process (indexing also clusters faces), exclusive across processes."""

    _held: dict[str, tuple[int, int]] = {}   # path -> (fd, depth)
    _mutex = threading.RLock()

    def __init__(self, folder: Path, what: str = "writing"):
        self.path = str(Path(folder) / LOCK_FILE)
        self.what = what

    def __enter__(self):
        self._mutex.acquire()
        try:
            held = self._held.get(self.path)
            if held:
                self._held[self.path] = (held[0], held[1] + 1)
                return self
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise LibraryBusy(
                    f"another Idlens is {holder.get('what', 'writing to this library')} (pid {holder.get('pid', '?')}, "
                    f"since {holder.get('since', '?')}); searching works meanwhile — try again when it has finished"
                ) from None
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps({"pid": os.getpid(), "what": self.what, "program": os.path.basename(sys.argv[0]),
                                     "since": time.strftime("%H:%M:%S")}).encode())
            self._held[self.path] = (fd, 1)
            return self
        except BaseException:
            self._mutex.release()
            raise

    def __exit__(self, *exc):
        try:
            fd, depth = self._held[self.path]
            if depth > 1:
                self._held[self.path] = (fd, depth - 1)
            else:
                del self._held[self.path]
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
        finally:
            self._mutex.release()
        return False


def _read_holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return json.loads(os.read(fd, 4096).decode() or "{}")
    except (OSError, ValueError):
        return {}
