"""Every decision is on disk beside the backups before the user sees it done (core.store.decision_log): a catalog
destroyed after decisions that no backup holds yet — the app killed mid-session, then the catalog lost — comes
back whole from `idlens doctor --repair` (core.faces.recovery)."""
import json
import os
import signal
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time

from core.store.decision_log import DecisionLog
from tests.conftest import ROOT
from tests.test_cli import idlens
from tests.test_people import FACES


def test_the_log_appends_reads_prunes_and_survives_a_torn_line(tmp_path):
    log = DecisionLog(tmp_path)
    for at in (10.0, 20.0, 30.0):
        log.append({"at": at, "changes": []})
    with open(log.path, "ab") as f:
        f.write(b'{"at": 40.0, "chan')   # a crash in the middle of a line
    assert [e["at"] for e in log.entries()] == [10.0, 20.0, 30.0]
    assert [e["at"] for e in log.entries(since=20.0)] == [20.0, 30.0]
    assert log.prune(before=15.0) == 2   # the line at 10 and the torn one
    assert [e["at"] for e in log.entries()] == [20.0, 30.0]
    log.append({"at": 50.0})               # after a prune replaced the file: appended to the new one
    assert [e["at"] for e in log.entries()] == [20.0, 30.0, 50.0]


# The app, as far as the catalog is concerned: a long-lived Library that indexes, then makes decisions. Its daily
# backup is taken after the first change; later decisions, within the 15 minutes before it is renewed, are in no
# backup. Then it is killed (-9: no close, no backup).
APP = textwrap.dedent("""
    import json, sys
    from core.library import Library
    from core.indexer import IndexJob
    from tests.test_people import A, B, OTHERS, face_of, name_both
    from pathlib import Path
    folder, album = sys.argv[1], Path(sys.argv[2])
    lib = Library(folder, "tiny-test")
    for _ in IndexJob(lib, [str(album)]).run():
        pass
    assert lib.catalog.backups.list(), "the first change makes today's backup"
    anna = name_both(lib, album, A, "Anna")
    cara = name_both(lib, album, B, "Cara")
    lib.people.alias(anna.id, ["Ania", "Анна"])
    lib.people.reject(face_of(lib, album / OTHERS[0]), anna.id)
    lib.people.name(cara.id, "Cara Mía")
    lib.people.hide(cara.id)
    ben = lib.people.move(face_of(lib, album / OTHERS[1]), "Ben")
    lib.people.undo()          # Ben was a mistake
    print("ready", flush=True)
    sys.stdin.read()           # killed here
""")


def _decisions(library_dir: str) -> dict:
    """Names, aliases, hidden flags, confirmed faces (by file name and box) and rejections, read-only."""
    db = sqlite3.connect(f"file:{library_dir}/catalog.db?mode=ro", uri=True)
    try:
        people = {pid: (name, bool(hidden)) for pid, name, hidden in
                  db.execute("SELECT id, name, hidden FROM people WHERE name IS NOT NULL")}
        aliases = {(people[p][0], a) for p, a in db.execute("SELECT person_id, alias FROM aliases") if p in people}
        confirmed = {(people[p][0], os.path.basename(path), round(x), round(y)) for p, path, x, y in db.execute(
            "SELECT f.person_id, m.path, f.x, f.y FROM faces f JOIN media m ON m.id = f.media_id "
            "WHERE f.confirmed = 1 AND f.person_id IS NOT NULL") if p in people}
        rejected = {(people[p][0], os.path.basename(path)) for p, path in db.execute(
            "SELECT r.person_id, m.path FROM rejections r JOIN faces f ON f.id = r.face_id "
            "JOIN media m ON m.id = f.media_id") if p in people}
        return {"people": sorted(people.values()), "aliases": aliases, "confirmed": confirmed, "rejected": rejected}
    finally:
        db.close()


def test_decisions_no_backup_holds_come_back_after_the_catalog_is_destroyed(tmp_path):
    album = tmp_path / "album"
    shutil.copytree(FACES, album, ignore=shutil.ignore_patterns("*.md"))
    library_dir = str(tmp_path / "lib")
    env = dict(os.environ, PYTHONPATH=str(ROOT), IDLENS_MODEL="tiny-test")
    app = subprocess.Popen([sys.executable, "-c", APP, library_dir, str(album)], cwd=ROOT, env=env, text=True,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = app.stdout.readline()
        assert line.strip() == "ready", app.stderr.read()
        before = _decisions(library_dir)
        before_history = [(d["kind"], d["summary"], d["undone"]) for d in json.loads(
            idlens("--library", library_dir, "people", "history", "--json").stdout)["decisions"]]
        os.kill(app.pid, signal.SIGKILL)
        app.wait(timeout=30)
    finally:
        if app.poll() is None:
            app.kill()
    assert ("Anna", False) in before["people"] and ("Cara Mía", True) in before["people"]
    assert ("Anna", "Анна") in before["aliases"] and before["rejected"] and not any(
        p == "Ben" for p, _ in before["people"])
    # The newest backup predates the names: without the log they would be gone.
    backups = sorted((tmp_path / "lib" / "backups").glob("catalog-*.db"))
    db = sqlite3.connect(f"file:{backups[-1]}?mode=ro", uri=True)
    assert db.execute("SELECT count(*) FROM people WHERE name IS NOT NULL").fetchone()[0] == 0
    db.close()

    for name in ("catalog.db", "catalog.db-wal", "catalog.db-shm"):
        (tmp_path / "lib" / name).unlink(missing_ok=True)
    time.sleep(0.01)
    out = json.loads(idlens("--library", library_dir, "doctor", "--repair", "--json").stdout)
    assert out["replayed"]["decisions"] >= 8 and out["replayed"]["faces_not_here"] == 0, out
    assert out["replayed"]["conflicts"] == 0, out
    assert _decisions(library_dir) == before
    listed = json.loads(idlens("--library", library_dir, "people", "list", "--all", "--json").stdout)
    assert {p["name"] for p in listed["people"] if p["name"]} == {"Anna", "Cara Mía"}
    # Repairing again changes nothing.
    idlens("--library", library_dir, "doctor", "--repair")
    assert _decisions(library_dir) == before
    # The history comes back too: undo takes back the last decision made in the app (hiding Cara), redo redoes it.
    history = json.loads(idlens("--library", library_dir, "people", "history", "--json").stdout)["decisions"]
    assert [(d["kind"], d["summary"], d["undone"]) for d in history] == before_history
    idlens("--library", library_dir, "people", "undo")
    assert ("Cara Mía", False) in _decisions(library_dir)["people"]
    idlens("--library", library_dir, "people", "redo")
    assert _decisions(library_dir) == before


def test_a_file_forgotten_after_the_backup_stays_forgotten_after_a_repair(tmp_path):
    album = tmp_path / "album"
    shutil.copytree(FACES, album, ignore=shutil.ignore_patterns("*.md"))
    library_dir = str(tmp_path / "lib")
    idlens("--library", library_dir, "index", str(album))
    gone = sorted(album.glob("*.jpg"))[0]
    # Forgotten in a process that ends without closing (killed): no backup after it, only the log holds it.
    forget = ("import os, sys\nfrom core.library import Library\n"
              "Library(sys.argv[1], 'tiny-test').forget(sys.argv[2])\nos._exit(0)\n")
    subprocess.run([sys.executable, "-c", forget, library_dir, str(gone)], check=True, cwd=ROOT,
                   env=dict(os.environ, PYTHONPATH=str(ROOT)))
    listed = lambda: {m["path"] for m in json.loads(idlens("--library", library_dir, "list", "--json").stdout)["media"]}
    assert str(gone) not in listed()
    for name in ("catalog.db", "catalog.db-wal", "catalog.db-shm"):
        (tmp_path / "lib" / name).unlink(missing_ok=True)
    out = json.loads(idlens("--library", library_dir, "doctor", "--repair", "--json").stdout)
    assert out["forget_again"] == [str(gone)], out
    assert str(gone) not in listed() and len(listed()) == len(list(album.glob("*.jpg"))) - 1
    idlens("--library", library_dir, "index")       # and the next index does not bring it back
    assert str(gone) not in listed()
