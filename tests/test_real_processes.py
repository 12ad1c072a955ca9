"""Issue 20's fixed cases, each through the real processes a user runs: the `idlens` command (`python -m app`, the
tiny-test model) and the desktop app (`app.cli.main([])`, offscreen), every one a process of its own, beside each
other. Each test says what the code before the fix (commit d16a9f2) did instead; each fails there.

1. The app's SQLite WAL is never deleted while it runs (the health check's plain open()/close() of catalog.db used to
   drop the process's POSIX locks, SQLite's included; the next CLI to close then deleted the live -wal and -shm).
2. The day's names are in the backup (the CLI and the app now close their libraries, which renews today's copy).
3. Read-only commands never create a library at a mistyped --library.
4. Deleting write.lock does not let a second writer in (the lock is an flock on the library folder).
5. SIGTERM during an index saves like Ctrl-C (exit 130, the vector index saved, the next run resumes).
6. A read-only library says so, never "free some disk space".
And `idlens doctor` prints the paths it names escaped, as every other command does.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from tests import media_factory as mf
from tests.conftest import ROOT
from tests.test_cli import idlens

FACES = ROOT / "tests" / "data" / "faces"


def _env(**extra) -> dict:
    return dict(os.environ, IDLENS_MODEL="tiny-test", PYTHONPATH=str(ROOT), **extra)


class Process:
    """A child process whose stdout lines are read on a thread, so a test can wait for one with a timeout."""

    def __init__(self, args: list[str], env: dict | None = None):
        self.proc = subprocess.Popen(args, env=env or _env(), cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr.append), daemon=True).start()

    @staticmethod
    def _read(stream, put) -> None:
        for line in stream:
            put(line)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_for(self, text: str, timeout: float) -> str:
        end = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                exited = self.proc.poll() is not None and self.lines.empty()
                if exited or time.monotonic() > end:
                    time.sleep(0.1)  # the rest of stderr
                    raise AssertionError(f"no {text!r} within {timeout}s (exit {self.proc.poll()}):\n"
                                         + "".join(self.stderr)[-3000:]) from None
                continue
            if text in line:
                return line

    def send(self, line: str = "") -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def finish(self, timeout: float = 60) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

    def output(self) -> str:
        time.sleep(0.05)  # the reader threads drain the pipes after the exit
        rest = []
        while not self.lines.empty():
            rest.append(self.lines.get())
        return "".join(rest)


def python(code: str, *args: str) -> Process:
    return Process([sys.executable, "-c", code, *map(str, args)])


def catalog_fds(pid: int, catalog: Path) -> list[str]:
    """What the process's descriptors of the catalog and its -wal/-shm point to ("… (deleted)" once unlinked)."""
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith(str(catalog)):
            found.append(target)
    return sorted(found)


def assert_wal_alive(pid: int, catalog: Path, after: str) -> None:
    fds = catalog_fds(pid, catalog)
    deleted = [t for t in fds if t.endswith("(deleted)")]
    assert not deleted, f"after `{after}` the process {pid} writes into deleted files: {deleted}"
    assert f"{catalog}-wal" in fds, f"after `{after}` the process {pid} has no WAL open: {fds}"
    assert Path(f"{catalog}-wal").exists() and Path(f"{catalog}-shm").exists(), after


@pytest.fixture(scope="module")
def big_photos(tmp_path_factory) -> Path:
    """60 photos large enough (960x720) that indexing them takes a second or more: 4 batches of 16, so a signal sent
    once the first batch is stored lands mid-run."""
    folder = tmp_path_factory.mktemp("big") / "photos"
    for i in range(60):
        mf.photo(folder / f"p{i:02d}.jpg", seed=1000 + i, size=(960, 720), quality=80)
    return folder


@pytest.fixture
def indexed(tmp_path, photos) -> Path:
    """A library of six photos, indexed by `idlens index`."""
    lib = tmp_path / "lib"
    idlens("--library", lib, "index", photos)
    return lib


# -- 1. the app's WAL survives the command line beside it --------------------------------------------------------
# The app as `idlens` starts it. Once the grid holds every photo (the reader thread's catalog is open), it indexes
# the folder again as a dropped folder does (the writer thread opens a second catalog), opens People, says "ready",
# and waits for the test to create the stop file before closing its window.
APP = r"""
import os, sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

qt = QApplication(sys.argv[:1])
want, folder, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3]
start, state = time.monotonic(), {}

def poll():
    import app.gui as gui
    if time.monotonic() - start > 60:
        print("app: the library did not load", file=sys.stderr, flush=True)
        os._exit(3)
    w = gui._windows[0] if gui._windows else None
    if w is None or len(w.model.rows) < want:
        return QTimer.singleShot(50, poll)
    if not state:
        state["asked"] = True
        w.engine.indexFinished.connect(lambda report: state.setdefault("indexed", report))
        w.index_paths([folder])
        w.people_action.trigger()
    elif "indexed" in state and "ready" not in state and not w.engine.indexing:
        state["ready"] = True
        print("app: ready", flush=True)
    if "ready" in state and os.path.exists(stop):
        print("app: closing", flush=True)
        return QTimer.singleShot(0, w.close)
    QTimer.singleShot(50, poll)

QTimer.singleShot(100, poll)
from app.cli import main
main([])
"""


def test_the_apps_wal_is_never_deleted_by_commands_beside_it(indexed, photos, tmp_path):
    """Before: the app's writer thread opening its catalog ran the health check's open()/close() of catalog.db, which
    dropped every lock the app's process held on it; `idlens status` then believed it was the last and deleted
    catalog.db-wal and -shm, which the app kept writing into ("(deleted)" in /proc/PID/fd)."""
    catalog, stop = indexed / "catalog.db", tmp_path / "stop"
    env = _env(IDLENS_LIBRARY=str(indexed), QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"))
    app = Process([sys.executable, "-c", APP, "6", str(photos), str(stop)], env=env)
    try:
        app.wait_for("app: ready", timeout=60)
        assert_wal_alive(app.pid, catalog, "starting the app")
        mf.photo(photos / "new" / "late.jpg", seed=77)
        for args in (["status"], ["search", "foo"], ["people", "list"], ["index", photos], ["status", "--json"],
                     ["search", "a beach", "--json"]):
            idlens("--library", indexed, *args)
            assert_wal_alive(app.pid, catalog, f"idlens {' '.join(map(str, args))}")
        stop.touch()
        app.wait_for("app: closing", timeout=20)
        assert app.finish(60) == 0, "".join(app.stderr)[-3000:]
    finally:
        if app.proc.poll() is None:
            app.proc.kill()
            app.proc.wait()
    assert json.loads(idlens("--library", indexed, "status", "--json").stdout)["media"]["image"] == {"indexed": 7}
    assert idlens("--library", indexed, "doctor").returncode == 0


# The issue's own reproduction: two Library objects in one process, opened on two threads, and a reader beside.
TWO_LIBRARIES = r"""
import sys, threading
from core.library import Library

opened = []
def open_one():
    lib = Library(sys.argv[1], "tiny-test")
    list(lib.catalog.media.all())  # a read: from here on SQLite holds its shared lock on the catalog
    opened.append(lib)

for _ in range(2):
    t = threading.Thread(target=open_one)
    t.start()
    t.join()
print("opened", flush=True)
sys.stdin.readline()
print("files", *(len(list(lib.catalog.media.all())) for lib in opened), flush=True)
for lib in opened:
    lib.close()
"""


def test_two_libraries_in_one_process_keep_their_wal_beside_a_reader(indexed):
    """Before: the second Library's health check (open()/close() of catalog.db) dropped the first one's locks, and
    `idlens status` in another process deleted the WAL both were using."""
    catalog = indexed / "catalog.db"
    two = python(TWO_LIBRARIES, indexed)
    try:
        two.wait_for("opened", timeout=30)
        assert_wal_alive(two.pid, catalog, "opening two libraries")
        for _ in range(2):
            idlens("--library", indexed, "status")
            assert_wal_alive(two.pid, catalog, "idlens status")
        two.send()
        assert two.wait_for("files", timeout=30).split() == ["files", "6", "6"]
        assert two.finish(30) == 0, "".join(two.stderr)
    finally:
        if two.proc.poll() is None:
            two.proc.kill()
            two.proc.wait()


# -- 2. the day's names are in the backup ------------------------------------------------------------------------
def test_names_given_today_come_back_after_the_catalog_is_destroyed(tmp_path):
    """Before: no command closed its library, so today's backup stayed the one the first `index` made (renewed at
    most every 15 minutes); after `doctor --repair` the library had "0 named people"."""
    album, lib = tmp_path / "album", tmp_path / "lib"
    shutil.copytree(FACES, album, ignore=shutil.ignore_patterns("*.md", "impostor_2.jpg"))
    idlens("--library", lib, "index", album)
    groups = [p for p in json.loads(idlens("--library", lib, "people", "list", "--json").stdout)["people"]
              if p["name"] is None]
    assert len(groups) >= 2, groups
    idlens("--library", lib, "people", "name", str(groups[0]["id"]), "Łukasz O'Brien")
    idlens("--library", lib, "people", "name", str(groups[1]["id"]), "Аня")
    idlens("--library", lib, "people", "add", "Cara", "--photo", FACES / "impostor_1.jpg")
    named = {p["name"] for p in json.loads(idlens("--library", lib, "people", "list", "--json").stdout)["people"]}
    assert {"Łukasz O'Brien", "Аня", "Cara"} <= named
    # Today's backup itself holds them (renewed as each command closed its library), not only the decision log
    # that `doctor --repair` replays onto it.
    daily = sorted((lib / "backups").glob("catalog-*-daily.db"))[-1]
    with closing(sqlite3.connect(f"file:{daily}?mode=ro", uri=True)) as backup:
        in_backup = {row[0] for row in backup.execute("SELECT name FROM people WHERE name IS NOT NULL")}
    assert in_backup == {"Łukasz O'Brien", "Аня", "Cara"}, daily

    for suffix in ("", "-wal", "-shm"):
        Path(f"{lib / 'catalog.db'}{suffix}").unlink(missing_ok=True)
    repair = idlens("--library", lib, "doctor", "--repair")
    assert "the library is healthy" in repair.stdout, repair.stdout + repair.stderr
    people = json.loads(idlens("--library", lib, "people", "list", "--json").stdout)["people"]
    assert {"Łukasz O'Brien", "Аня", "Cara"} <= {p["name"] for p in people}, people
    assert idlens("--library", lib, "doctor").returncode == 0


# -- 3. read-only commands create no library ---------------------------------------------------------------------
READ_ONLY = [["status"], ["search", "foo"], ["people", "list"], ["list"], ["errors"], ["people", "history"]]


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_read_only_commands_never_create_a_library(tmp_path, photos):
    """Before: each of these made the folder and a catalog.db there, and answered as if the library were empty
    (exit 0); pointed at a photo folder, it left a catalog.db, settings.json and backups/ among the photos."""
    nowhere = tmp_path / "xyz" / "nothing"
    before = _tree(photos)
    for library in (nowhere, photos):
        for i, args in enumerate(READ_ONLY):
            extra = ["--json"] if i % 2 else []  # under --json the same line on stderr, and an error object
            proc = idlens("--library", library, *args, *extra, check=False)
            assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
            lines = [line for line in proc.stderr.splitlines() if line.startswith("idlens: error:")]
            assert len(lines) == 1 and f"no library at {library}" in lines[0], (args, proc.stderr)
            assert "Traceback" not in proc.stderr
            if extra:
                assert json.loads(proc.stdout)["error"]["code"] == "no_library", (args, proc.stdout)
        assert not (tmp_path / "xyz").exists()
        assert _tree(photos) == before  # no catalog.db, settings, backups or lock note among the photos


# -- 4. a deleted write.lock lets no second writer in ------------------------------------------------------------
# A real index run, held after its scan: the files wait as pending and its write lock is held.
HOLDER = r"""
import json, sys
from core.indexer import IndexJob
from core.library import Library

lib = Library(sys.argv[1], "tiny-test")
job = IndexJob(lib, [sys.argv[2]])
steps = job.run()
for p in steps:
    if p.stage == "scan" and p.total:
        break
print("scanned", p.total, flush=True)
sys.stdin.readline()
for p in steps:
    pass
print("report", json.dumps({"indexed": job.report.embedded_files, "resumed": job.report.resumed}), flush=True)
lib.close()
"""


def test_a_deleted_write_lock_lets_no_second_writer_in(tmp_path, photos):
    """Before: the lock was an flock on write.lock itself; deleted, the second `idlens index` made a new file, locked
    that, indexed the first one's files and called them "6 of them left from an earlier run"."""
    lib = tmp_path / "lib"
    holder = python(HOLDER, lib, photos)
    try:
        assert holder.wait_for("scanned", timeout=60).split() == ["scanned", "6"]
        note = lib / "write.lock"
        assert json.loads(note.read_text())["pid"] == holder.pid
        note.unlink()
        for extra in ([], ["--json"]):
            proc = idlens("--library", lib, "index", photos, *extra, check=False)
            assert proc.returncode == 1, proc.stdout + proc.stderr
            assert "earlier run" not in proc.stdout + proc.stderr
            assert "another Idlens is" in proc.stderr, proc.stderr
        assert json.loads(proc.stdout)["error"]["code"] == "busy"
        pending = json.loads(idlens("--library", lib, "status", "--json").stdout)["media"]["image"]
        assert pending == {"pending": 6}  # the second writer did none of the first one's work
        holder.send()
        report = json.loads(holder.wait_for("report", timeout=90).split(" ", 1)[1])
        assert report == {"indexed": 6, "resumed": 0}
        assert holder.finish(30) == 0, "".join(holder.stderr)
    finally:
        if holder.proc.poll() is None:
            holder.proc.kill()
            holder.proc.wait()


# -- 5. SIGTERM saves like Ctrl-C --------------------------------------------------------------------------------
def _indexed_rows(catalog: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return 0
    try:
        return conn.execute("SELECT count(*) FROM media WHERE status = 'indexed'").fetchone()[0]
    except sqlite3.Error:  # not made yet
        return 0
    finally:
        conn.close()


def test_sigterm_during_an_index_saves_what_was_done(tmp_path, big_photos):
    """Before: SIGTERM killed `idlens index` on the spot (exit 143, -15 here): the vector index was not saved, so
    `idlens doctor` found it disagreeing with the catalog."""
    lib = tmp_path / "lib"
    catalog = lib / "catalog.db"
    run = Process([sys.executable, "-m", "app", "--library", str(lib), "index", str(big_photos), "--json"])
    try:
        end = time.monotonic() + 60
        while not _indexed_rows(catalog):
            assert run.proc.poll() is None and time.monotonic() < end, "".join(run.stderr)
            time.sleep(0.02)
        run.proc.send_signal(signal.SIGTERM)
        code = run.finish(60)
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
    stderr = "".join(run.stderr)
    assert code == 130, f"exit {code}\n{stderr}"
    assert "stopping after the current batch" in stderr and "Traceback" not in stderr
    first = json.loads(run.output())
    assert first["cancelled"] is True and 0 < first["indexed"] < 60, first

    doctor = json.loads(idlens("--library", lib, "doctor", "--json").stdout)
    assert doctor["healthy"] is True, doctor
    checks = {c["name"]: c for c in doctor["checks"]}
    assert checks["catalog"]["status"] == "ok" and checks["index"]["status"] == "ok", doctor
    assert "agrees with the catalog" in checks["index"]["message"], doctor  # the index was saved, in line
    done = json.loads(idlens("--library", lib, "status", "--json").stdout)
    assert done["media"]["image"] == {"indexed": first["indexed"], "pending": 60 - first["indexed"]}
    again = json.loads(idlens("--library", lib, "index", "--json").stdout)
    assert again["new"] == 0 and again["indexed"] == 60 - first["indexed"], again  # nothing embedded twice
    assert again["resumed"] == 60 - first["indexed"], again  # truly left by the stopped run
    final = json.loads(idlens("--library", lib, "status", "--json").stdout)
    assert final["media"]["image"] == {"indexed": 60} and final["vectors"] == 60


# -- 6. a read-only library says so -----------------------------------------------------------------------------
NOBODY = 65534
# The owner's own reader, holding the library open (as the app does): a -wal and -shm lie beside the catalog.
READER = r"""
import sys
from core.library import Library

lib = Library(sys.argv[1], "tiny-test")
print("open", len(list(lib.catalog.media.all())), flush=True)
sys.stdin.readline()
"""


def _as_owner() -> list[str]:
    """How to run a command as the library's owner: as root (whom no permission stops), as uid 65534."""
    if os.geteuid() != 0:
        return []  # an ordinary user: chmod alone makes their library read-only to them
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: root writes through any permission")
    prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    probe = subprocess.run([*prefix, sys.executable, "-c", "import click, PIL, app.cli"], capture_output=True,
                           text=True, env=_env(), cwd=ROOT)
    if probe.returncode != 0:
        pytest.skip(f"Python cannot run as uid {NOBODY} here: {probe.stderr.strip()[-200:]}")
    return prefix


def test_a_read_only_library_says_so_never_free_some_disk_space():
    """The owner makes their library read-only (chmod 555 on the folder, 444 on the catalog). Before: with the owner's
    app holding it open, `idlens index` said "the catalog could not be written or read; … free some disk space (or
    fix the disk)"; with nothing holding it, every command called the catalog "damaged" and offered
    `doctor --repair` (the health check's read-only open could not make the -shm)."""
    prefix = _as_owner()
    base = Path(tempfile.mkdtemp(prefix="idlens-ro-"))  # pytest's tmp_path is closed to other users
    reader = None
    try:
        base.chmod(0o755)
        photos, lib, scratch = base / "photos", base / "lib", base / "scratch"
        for i in range(3):
            mf.photo(photos / f"photo{i}.jpg", seed=i)
        idlens("--library", lib, "index", photos)
        mf.photo(photos / "later.jpg", seed=9)  # something for the next index to write
        for folder in (scratch / "cache", scratch / "logs"):
            folder.mkdir(parents=True)
        for path in [scratch, *scratch.iterdir()]:
            path.chmod(0o777)
        if prefix:
            for path in [lib, *lib.rglob("*")]:
                os.chown(path, NOBODY, NOBODY)
        env = _env(IDLENS_CACHE=str(scratch / "cache"), IDLENS_LOG_DIR=str(scratch / "logs"), HOME=str(scratch))

        def run(*args: object) -> subprocess.CompletedProcess:
            return subprocess.run([*prefix, sys.executable, "-m", "app", "--library", str(lib), *map(str, args)],
                                  capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)

        def says_read_only(*args: object, json_too: bool = True) -> None:
            for extra in ([], ["--json"]) if json_too else ([],):
                proc = run(*args, *extra)
                said = proc.stderr + proc.stdout
                assert proc.returncode == 1, (args, said)
                assert "disk space" not in said and "damaged" not in said and "Traceback" not in said, (args, said)
                lines = [line for line in proc.stderr.splitlines() if line.startswith("idlens: error:")]
                assert len(lines) == 1, (args, proc.stderr)
                assert "read-only" in lines[0] or "permission" in lines[0], (args, lines[0])
                if extra:
                    assert json.loads(proc.stdout)["error"]["code"] in ("read_only", "permission"), said

        lib.joinpath("catalog.db").chmod(0o444)
        lib.chmod(0o555)
        says_read_only("index", photos)  # nothing holds it open: no -wal, no -shm
        says_read_only("people", "add", "Cara", "--photo", FACES / "impostor_1.jpg", json_too=False)
        for reading in (["status", "--json"], ["people", "list", "--json"], ["list", "--json"]):
            proc = run(*reading)  # a library on a read-only disk can still be read
            assert proc.returncode == 0, (reading, proc.stderr)
        assert json.loads(run("status", "--json").stdout)["media"]["image"] == {"indexed": 3}

        lib.chmod(0o755)
        lib.joinpath("catalog.db").chmod(0o644)
        reader = Process([*prefix, sys.executable, "-c", READER, str(lib)], env=env)
        assert reader.wait_for("open", timeout=30).split() == ["open", "3"]
        lib.joinpath("catalog.db").chmod(0o444)
        lib.chmod(0o555)
        says_read_only("index", photos)  # the owner's reader holds it open: a -wal and -shm exist
        says_read_only("forget", photos / "photo0.jpg", json_too=False)
        status = run("status", "--json")  # reading still works
        assert status.returncode == 0 and json.loads(status.stdout)["media"]["image"] == {"indexed": 3}, status
    finally:
        if reader is not None:
            reader.proc.kill()
            reader.proc.wait()
        for path in [base, *base.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


# -- doctor prints paths escaped ---------------------------------------------------------------------------------
def test_doctor_prints_paths_that_cannot_drive_the_terminal(tmp_path):
    """A library and a photo folder whose names hold a terminal escape and a right-to-left override: `idlens doctor`
    and `doctor --repair` print them escaped (before, raw: the escape recoloured the terminal)."""
    lib, photos = tmp_path / "lib\x1b[31mred", tmp_path / "photos\u202eevil"
    for i in range(2):
        mf.photo(photos / f"photo{i}.jpg", seed=i)
    idlens("--library", lib, "index", photos)
    for suffix in ("-wal", "-shm"):
        Path(f"{lib / 'catalog.db'}{suffix}").unlink(missing_ok=True)
    (lib / "catalog.db").write_bytes(b"garbage " * 512)  # something for --repair to do, with paths to say
    for args, code in ((["doctor"], 1), (["doctor", "--repair"], 0), (["doctor"], 0)):
        proc = idlens("--library", lib, *args, check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode == code, (args, out)
        assert "\x1b" not in out and "\u202e" not in out, (args, out)
        assert "lib\\x1b[31mred" in out, (args, out)

