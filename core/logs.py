"""Where Idlens writes what it logs: a rotating file in the user's data folder (1 MB, three older files kept), the
one to attach to a bug report. The command line and the app both call `configure()` when they start.

- The file gets INFO and above from Idlens (`app.*`, `core.*`), DEBUG with `verbose`; warnings of other libraries.
- stderr gets warnings and above as bare messages, as Python printed them before any handler was configured (so
  the command line's output is unchanged); with `verbose`, also Idlens's DEBUG and INFO lines, with level and source.

Calling `configure()` again (the CLI run several times in one process, a test's CliRunner) replaces the handlers it
added before, never adds a second set. `IDLENS_LOG_DIR` names another folder for the file.
"""
from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "idlens"
FILE_NAME = "idlens.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
OURS = ("app", "core", "bench", "__main__")  # the loggers whose INFO and DEBUG lines are wanted
FILE_FORMAT = "%(asctime)s %(process)d %(threadName)s %(levelname)s %(name)s: %(message)s"
VERBOSE_FORMAT = "%(levelname)s %(name)s: %(message)s"

_MARK = "_idlens_handler"  # set on the handlers configure() adds, so it can find and replace them


def log_dir() -> Path:
    return Path(os.environ.get("IDLENS_LOG_DIR") or platformdirs.user_data_path(APP_NAME) / "logs")


def log_file() -> Path:
    return log_dir() / FILE_NAME


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time of each record (as Python's own last-resort handler does), so
    a redirected or captured stderr (click's CliRunner) gets the lines."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


class _OursAt(logging.Filter):
    """Records of Idlens's own loggers from `level` up; other libraries' only from WARNING up (PIL alone logs a
    line per image chunk at DEBUG)."""

    def __init__(self, level: int, file: bool):
        super().__init__()
        self.level, self.file = level, file

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.file and getattr(record, "file_only", False):
            return self.level < logging.INFO  # said already in other words (a traceback follows, an error line)
        if record.levelno >= logging.WARNING:
            return True
        return record.levelno >= self.level and record.name.split(".", 1)[0] in OURS


def configure(verbose: bool = False) -> Path | None:
    """Set up the log file and stderr; returns the file, or None when its folder cannot be written (then only
    stderr gets lines: a read-only home never stops a command)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(handler)
        handler.close()
    level = logging.DEBUG if verbose else logging.INFO
    for name in OURS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or getattr(logger, _MARK, False):
            logger.setLevel(logging.DEBUG if verbose else logging.INFO)
            setattr(logger, _MARK, True)
    if root.level > logging.WARNING:
        root.setLevel(logging.WARNING)

    stderr = _Stderr()
    stderr.setFormatter(logging.Formatter(VERBOSE_FORMAT if verbose else "%(message)s"))
    stderr.addFilter(_OursAt(logging.DEBUG if verbose else logging.WARNING, file=False))
    setattr(stderr, _MARK, True)
    root.addHandler(stderr)

    path = log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS,
                                                       encoding="utf-8", delay=True)
        if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise PermissionError(f"{path} is not writable")
    except OSError as e:
        logging.getLogger(__name__).debug("no log file: %s", e)
        return None
    handler.setFormatter(logging.Formatter(FILE_FORMAT))
    handler.addFilter(_OursAt(level, file=True))
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    return path


def tail(lines: int = 200) -> str:
    """The end of the current log file ("" when there is none yet)."""
    try:
        with open(log_file(), encoding="utf-8", errors="replace") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64_000))
            return "\n".join(f.read().splitlines()[-lines:])
    except OSError:
        return ""


def ensure() -> None:
    """configure() with the defaults, unless it ran already in this process."""
    if not any(getattr(h, _MARK, False) for h in logging.getLogger().handlers):
        configure()
