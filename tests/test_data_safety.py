"""Never lose a name: damaged catalogs are refused and left as they were, backups are made, verified and rotated,
`idlens doctor --repair` brings the last backup back, an unplugged folder is offline (not gone), and every command
says how it ended with its exit status and, under --json, a JSON error. Driven through the real `idlens` process."""
import hashlib
import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from core.indexer import IndexJob
from core.library import Library
from core.store import Backups, CatalogDamaged
from core.store import backups as backups_module
from core.store.schema import MIGRATIONS, SCHEMA_VERSION
from tests import media_factory as mf
from tests.test_cli import idlens

FACES = Path(__file__).parent / "data" / "faces"


def index(lib, *paths, cancel_after=None):
    job = IndexJob(lib, [str(p) for p in paths])
    for p in job.run():
        if cancel_after is not None and p.stage == "embed" and p.done >= cancel_after:
            job.cancel.set()
    return job.report


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_error_line(proc) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.startswith("idlens: error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def json_error(proc) -> dict:
    data = json.loads(proc.stdout)
    assert data["schema"] == 1 and set(data) == {"schema", "error"}
    return data["error"]


@pytest.fixture
def indexed(tmp_path, photos):
    """A library with six photos indexed, closed (its WAL checkpointed into the file)."""
    folder = tmp_path / "lib"
    with Library(folder, "tiny-test") as lib:
        index(lib, photos)
    return folder


# -- damaged catalogs -----------------------------------------------------------------------------------------------
def _damage(path: Path, how: str) -> None:
    if how == "empty":
        path.write_bytes(b"")
    elif how == "half":
        with open(path, "r+b") as f:
            f.truncate(path.stat().st_size // 2)
    else:
        path.write_bytes(os.urandom(8192))


@pytest.mark.parametrize("how,said", [("empty", "empty file"), ("half", "truncated"),
                                      ("garbage", "not an SQLite database")])
def test_a_damaged_catalog_is_refused_everywhere_and_left_as_it_was(indexed, how, said):
    catalog = indexed / "catalog.db"
    assert not Path(f"{catalog}-wal").exists()  # closed cleanly: everything is in the file
    _damage(catalog, how)
    before = digest(catalog), catalog.stat().st_size
    for args in (["status"], ["list"], ["people", "list"], ["search", "a red car"], ["index"]):
        proc = idlens("--library", str(indexed), *args, check=False)
        assert proc.returncode == 1, (args, proc.stderr)
        line = one_error_line(proc)
        assert said in line and "doctor --repair" in line and "left as it is" in line
    proc = idlens("--library", str(indexed), "status", "--json", check=False)
    assert json_error(proc)["code"] == "catalog_damaged"
    assert (digest(catalog), catalog.stat().st_size) == before  # not a byte written, not re-created
    assert not Path(f"{catalog}-wal").exists()
    with pytest.raises(CatalogDamaged):
        Library(indexed, "tiny-test")
    doctor = idlens("--library", str(indexed), "doctor", "--json", check=False)
    assert doctor.returncode == 1
    report = json.loads(doctor.stdout)
    assert report["healthy"] is False and report["checks"][0]["status"] == "fail" and said in \
        report["checks"][0]["message"]
    assert (digest(catalog), catalog.stat().st_size) == before  # doctor only reads


def test_a_vanished_catalog_beside_a_library_is_not_a_new_library(indexed):
    (indexed / "catalog.db").unlink()
    proc = idlens("--library", str(indexed), "status", check=False)
    assert proc.returncode == 1 and "missing" in one_error_line(proc)
    assert not (indexed / "catalog.db").exists()


# -- backups --------------------------------------------------------------------------------------------------------
def test_backups_are_daily_after_changes_verified_and_rotated(tmp_path, photos, monkeypatch):
    folder = tmp_path / "lib"
    with Library(folder, "tiny-test") as lib:
        index(lib, photos)
    shelf = Backups(folder / "backups")
    first = shelf.list()
    assert [b.reason for b in first] == ["daily"]  # the first change of the day
    with sqlite3.connect(first[0].path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM media").fetchone()[0] == 6
    assert not list((folder / "backups").glob("*-wal")) and not list((folder / "backups").glob(".*part"))

    with Library(folder, "tiny-test") as lib:  # reading only: no backup
        lib.catalog.media.all()
    with Library(folder, "tiny-test") as lib:  # a change the same day: today's copy is renewed, still one
        lib.forget(str(photos / "photo0.jpg"))
    assert len(shelf.list()) == 1

    # A day later, the next change is backed up again.
    old = shelf.list()[0].path
    day_before = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() - 90000))
    os.replace(old, old.with_name(f"catalog-{day_before}-000-daily.db"))
    with Library(folder, "tiny-test") as lib:
        lib.forget(str(photos / "photo1.jpg"))
    assert [b.reason for b in shelf.list()] == ["daily", "daily"]

    # Rotation keeps the newest KEEP_DAILY daily and KEEP_BEFORE pre-operation copies.
    monkeypatch.setattr(backups_module, "KEEP_DAILY", 2)
    monkeypatch.setattr(backups_module, "KEEP_BEFORE", 3)
    with Library(folder, "tiny-test") as lib:
        for _ in range(5):
            lib.catalog.backup("before-recluster")
            time.sleep(0.002)
    reasons = [b.reason for b in shelf.list()]
    assert reasons.count("before-recluster") == 3 and reasons.count("daily") == 2


def test_risky_operations_back_up_first(tmp_path, photos):
    folder = tmp_path / "lib"
    with Library(folder, "tiny-test") as lib:
        index(lib, photos)
        lib.reembed()
        lib.people.recluster()
    reasons = {b.reason for b in Backups(folder / "backups").list()}
    assert {"before-reembed", "before-recluster"} <= reasons


def test_a_schema_migration_backs_up_the_old_catalog_first(tmp_path):
    folder = tmp_path / "lib"
    folder.mkdir()
    conn = sqlite3.connect(folder / "catalog.db")
    import sqlite_utils

    db = sqlite_utils.Database(conn)
    for version in range(1, SCHEMA_VERSION):
        MIGRATIONS[version](db)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION - 1}")
    conn.execute("INSERT INTO people(name, name_key, created_at) VALUES ('Łukasz', 'lukasz', 0)")
    conn.commit()
    conn.close()
    with Library(folder, "tiny-test") as lib:
        assert lib.catalog.schema_version == SCHEMA_VERSION
    (backup,) = [b for b in Backups(folder / "backups").list() if b.reason.startswith("before-schema")]
    with sqlite3.connect(backup.path) as old:
        assert old.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION - 1
        assert old.execute("SELECT name FROM people").fetchall() == [("Łukasz",)]


def test_doctor_repair_brings_back_every_name_and_rejection(tmp_path):
    album = tmp_path / "album"
    shutil.copytree(FACES, album, ignore=shutil.ignore_patterns("*.md"))
    folder = tmp_path / "lib"
    with Library(folder, "tiny-test") as lib:
        index(lib, album)
        people = lib.people
        groups = [p for p in people.list() if p.name is None]
        assert len(groups) >= 2
        people.name(groups[0].id, "Łukasz O'Brien")
        people.name(groups[1].id, "Аня")
        anya = people.find("Аня")
        face = lib.catalog.db.execute("SELECT id FROM faces WHERE person_id = ? LIMIT 1", [anya.id]).fetchone()[0]
        people.reject(face, anya.id)
        people.recluster()  # backs up first: the copy holds every decision above
        rejections = lib.catalog.db.execute("SELECT face_id, person_id FROM rejections").fetchall()
    assert rejections
    catalog = folder / "catalog.db"
    _damage(catalog, "garbage")
    damaged = digest(catalog)

    repair = idlens("--library", str(folder), "doctor", "--repair", "--json")
    report = json.loads(repair.stdout)
    assert report["healthy"] is True  # the copy made when the library closed (or the one before the recluster)
    assert report["restored_from"]["reason"] in ("daily", "before-recluster")
    (aside,) = report["moved_aside"]
    assert digest(Path(aside)) == damaged  # kept, never deleted
    names = {p["name"] for p in json.loads(idlens("--library", str(folder), "people", "list", "--json").stdout)
             ["people"] if p["name"]}
    assert names == {"Łukasz O'Brien", "Аня"}
    with Library(folder, "tiny-test") as lib:
        assert lib.catalog.db.execute("SELECT face_id, person_id FROM rejections").fetchall() == rejections
        assert len(lib.index) == len(lib.catalog.items.live_labels()) > 0
    found = json.loads(idlens("--library", str(folder), "search", "Аня", "--json").stdout)["results"]
    assert found
    assert idlens("--library", str(folder), "doctor").returncode == 0


def test_repair_skips_a_damaged_backup_for_the_good_one_before_it(indexed):
    shelf = Backups(indexed / "backups")
    with Library(indexed, "tiny-test") as lib:
        time.sleep(0.002)
        newest = lib.catalog.backup("before-import")
    newest.path.write_bytes(b"\0" * 4096)
    _damage(indexed / "catalog.db", "empty")
    report = json.loads(idlens("--library", str(indexed), "doctor", "--repair", "--json").stdout)
    assert report["healthy"] and report["restored_from"]["reason"] == "daily"
    assert report["skipped_backups"][0]["path"] == str(newest.path)
    assert len(shelf.list()) >= 2


def test_doctor_reports_each_part_and_a_broken_index_is_rebuilt(indexed):
    data = json.loads(idlens("--library", str(indexed), "doctor", "--json").stdout)
    assert data["healthy"] and [c["name"] for c in data["checks"]] == \
        ["catalog", "index", "backups", "folders", "settings", "model"]
    assert all(c["status"] == "ok" for c in data["checks"])
    # The index loses vectors while the catalog says it is current: damage, which --repair rebuilds.
    with Library(indexed, "tiny-test") as lib:
        labels = list(lib.index.labels)[:2]
        lib.index.remove(labels)
        lib._index.save(indexed / "vectors")
        gen = lib._index.generation
        with lib.catalog.transaction():
            lib.catalog.meta.set("index_generation", gen)
    bad = idlens("--library", str(indexed), "doctor", check=False)
    assert bad.returncode == 1 and "2 vectors missing from the index" in bad.stdout
    fixed = json.loads(idlens("--library", str(indexed), "doctor", "--repair", "--json").stdout)
    assert fixed["healthy"] and any("rebuilt the vector index" in a for a in fixed["actions"])
    (indexed / "settings.json").write_text('{"batch_size": "many"}')
    warned = json.loads(idlens("--library", str(indexed), "doctor", "--json").stdout)
    assert warned["healthy"] and {c["name"]: c["status"] for c in warned["checks"]}["settings"] == "warn"


# -- offline folders ------------------------------------------------------------------------------------------------
def test_an_unplugged_folder_is_offline_and_comes_back_without_reembedding(tmp_path, photos):
    drive = tmp_path / "drive"
    for i in range(3):
        mf.photo(drive / "DCIM" / f"d{i}.jpg", seed=50 + i)
    lib_dir = str(tmp_path / "lib")
    idlens("--library", lib_dir, "index", str(photos), str(drive))
    shutil.move(str(drive), str(tmp_path / "unplugged"))

    proc = idlens("--library", lib_dir, "index", "--json")
    report = json.loads(proc.stdout)
    assert report["offline"] == 3 and report["missing"] == 0 and report["offline_folders"].keys() == {str(drive)}
    assert f"warning: {drive} cannot be reached" in proc.stderr
    status = idlens("--library", lib_dir, "status")
    assert "offline" in status.stdout and f"warning: {drive} cannot be reached" in status.stderr
    listing = json.loads(idlens("--library", lib_dir, "list", "--json").stdout)["media"]
    assert sorted(m["status"] for m in listing if m["path"].startswith(str(drive))) == ["offline"] * 3
    found = idlens("--library", lib_dir, "search", "--image", str(tmp_path / "unplugged" / "DCIM" / "d0.jpg"),
                   "-k", "20", "--json")
    assert not any(r["path"].startswith(str(drive)) for r in json.loads(found.stdout)["results"])
    assert json.loads(found.stdout)["offline_files"] == 3
    said = idlens("--library", lib_dir, "search", "--image", str(photos / "photo0.jpg"))
    assert "3 files in folders that cannot be reached" in said.stderr

    shutil.move(str(tmp_path / "unplugged"), str(drive))
    back = json.loads(idlens("--library", lib_dir, "index", "--json").stdout)
    assert back["back"] == 3 and back["indexed"] == 0 and back["offline"] == 0 and back["new"] == 0
    found = json.loads(idlens("--library", lib_dir, "search", "--image", str(drive / "DCIM" / "d0.jpg"), "-k", "1",
                              "--json").stdout)["results"]
    assert found[0]["path"] == str(drive / "DCIM" / "d0.jpg")


def test_an_empty_mount_point_is_offline_but_an_emptied_album_is_moved(tmp_path, make_library):
    mount, album, other = tmp_path / "mnt" / "photos", tmp_path / "album", tmp_path / "other"
    for i in range(2):
        mf.photo(mount / f"m{i}.jpg", seed=70 + i)
        mf.photo(album / f"a{i}.jpg", seed=80 + i)
    other.mkdir()
    lib = make_library()
    index(lib, mount, album, other)
    # The drive is unmounted: its mount point stays, empty. The album's photos move to another library folder.
    shutil.move(str(mount), str(tmp_path / "unmounted"))
    mount.mkdir()
    for f in album.iterdir():
        shutil.move(str(f), str(other / f.name))
    report = index(lib).scan
    assert report.offline == 2 and list(report.offline_folders) == [str(mount)]
    assert report.moved == 2 and report.missing == 0


def test_files_of_nested_library_folders_offline_are_counted_once(tmp_path, make_library):
    """drive/2019 indexed first, then the whole drive: two library folders, one inside the other. Unplugged, its
    three files are three offline files, not five."""
    from core.media.scanner import offline_files, offline_roots

    drive = tmp_path / "drive"
    mf.photo(drive / "2019" / "a.jpg", 90)
    mf.photo(drive / "2019" / "b.jpg", 91)
    mf.photo(drive / "c.jpg", 92)
    lib = make_library()
    index(lib, drive / "2019")
    index(lib, drive)
    assert lib.catalog.media.roots() == [str(drive), str(drive / "2019")]
    shutil.move(str(drive), str(tmp_path / "unplugged"))
    gone = offline_roots(lib.catalog)
    assert set(gone) == {str(drive), str(drive / "2019")} and offline_files(lib.catalog, gone) == 3  # before an index
    report = index(lib).scan
    assert report.offline == 3 and report.missing == 0 and set(report.offline_folders) == set(gone)
    assert offline_files(lib.catalog, offline_roots(lib.catalog)) == 3


# -- exits, counts and JSON errors ------------------------------------------------------------------------------------
def test_exit_codes_and_json_errors(tmp_path, indexed, photos):
    lib = str(indexed)
    forget = idlens("--library", lib, "forget", str(tmp_path / "nowhere"), "--json", check=False)
    assert forget.returncode == 1 and "not in the library" in one_error_line(forget)
    assert json_error(forget)["code"] == "not_in_library"
    both = idlens("--library", lib, "forget", str(photos / "photo0.jpg"), str(tmp_path / "nowhere"), check=False)
    assert both.returncode == 1
    assert len(json.loads(idlens("--library", lib, "list", "--json").stdout)["media"]) == 6  # nothing removed
    gone = idlens("--library", lib, "index", str(tmp_path / "nowhere"), "--json", check=False)
    assert gone.returncode == 1 and json_error(gone)["code"] == "not_found"
    usage = idlens("--library", lib, "search", "--json", check=False)
    assert usage.returncode == 2 and json_error(usage)["code"] == "usage"
    empty = idlens("--library", lib, "search", "in 2019", "--json", check=False)
    assert empty.returncode in (0, 1)
    ok = idlens("--library", lib, "forget", str(photos / "trip"))
    assert ok.stdout.strip() == "removed 1 file from the library (the files on disk are untouched)"


def test_index_counts_add_up(tmp_path, make_library):
    root = tmp_path / "root"
    for i in range(7):
        mf.photo(root / "album" / f"p{i}.jpg", seed=90 + i)
    os.symlink(tmp_path / "nowhere.jpg", root / "broken.jpg")
    (root / "empty.jpg").write_bytes(b"")
    lib = make_library()
    lib.settings.batch_size = 2
    r = index(lib, root, cancel_after=2)
    s = r.scan
    assert s.found == 9 and s.new == 8 and s.unreadable == 1
    assert r.cancelled and r.embedded_files < 8
    left = len(lib.catalog.media.pending())
    assert left > 0
    r = index(lib)
    assert r.resumed == left and r.embedded_files == left
    errors = [m for m in lib.catalog.media.all() if m.status == "error"]
    assert len(errors) == 2  # the broken link (scan) and the empty file (decode); both counted once
    os.rename(root / "album", root / "renamed")
    s = index(lib).scan
    assert (s.moved, s.missing, s.new) == (7, 0, 0)


# -- the app --------------------------------------------------------------------------------------------------------
def test_the_app_offers_a_repair_and_opens_the_library_after_it(qapp, indexed):
    from app.gui.recovery import DamagedCatalogBox, ensure_healthy

    catalog = indexed / "catalog.db"
    _damage(catalog, "empty")
    shown = []

    def quit_(box):
        shown.append(box.text() + " " + box.informativeText())
        return box.quit_button

    assert ensure_healthy(str(indexed), ask=quit_) is False
    assert "empty file" in shown[0] and "restores the backup of" in shown[0]
    assert catalog.stat().st_size == 0  # Quit changes nothing

    def repair(box):
        shown.append(box.text() + " " + box.informativeText())
        return box.repair_button if isinstance(box, DamagedCatalogBox) else None

    assert ensure_healthy(str(indexed), ask=repair) is True
    assert "repaired" in shown[-1] and "restored the backup" in shown[-1].lower()
    with Library(indexed, "tiny-test") as lib:
        assert lib.catalog.media.count() == 6


def test_an_unplugged_folder_is_left_out_at_once_before_any_index(tmp_path, photos):
    drive = tmp_path / "drive"
    for i in range(2):
        mf.photo(drive / f"d{i}.jpg", seed=60 + i)
    lib_dir = str(tmp_path / "lib")
    idlens("--library", lib_dir, "index", str(photos), str(drive))
    shutil.move(str(drive), str(tmp_path / "away"))   # unplugged; no index since
    found = json.loads(idlens("--library", lib_dir, "search", "--image", str(tmp_path / "away" / "d0.jpg"),
                              "-k", "20", "--json").stdout)
    assert found["offline_files"] == 2 and not any(r["path"].startswith(str(drive)) for r in found["results"])
    status = json.loads(idlens("--library", lib_dir, "status", "--json").stdout)
    assert {f["path"]: f["offline"] for f in status["folders"]}[str(drive)]


def test_the_days_names_are_in_a_backup_when_the_library_closes(tmp_path, photos):
    folder = tmp_path / "lib"
    with Library(folder, "tiny-test") as lib:
        index(lib, photos)                       # the first change of the day: a copy
    first = Backups(folder / "backups").list()
    with Library(folder, "tiny-test") as lib:   # a minute later, a decision: today's copy is renewed on close
        lib.forget(str(photos / "photo0.jpg"))
    shelf = Backups(folder / "backups").list()
    assert len([b for b in shelf if b.reason == "daily"]) == 1 and shelf[0].path != first[0].path
    with sqlite3.connect(shelf[0].path) as conn:
        assert conn.execute("SELECT count(*) FROM media").fetchone()[0] == 5


def test_a_damaged_vector_index_is_rebuilt_from_the_catalog(indexed, photos):
    for graph in (indexed / "vectors").glob("index-*.hnsw"):
        graph.write_bytes(os.urandom(100))
    found = idlens("--library", str(indexed), "search", "--image", str(photos / "photo1.jpg"), "-k", "1", "--json")
    assert json.loads(found.stdout)["results"][0]["path"] == str(photos / "photo1.jpg")
    assert "Traceback" not in found.stderr
    assert idlens("--library", str(indexed), "doctor").returncode == 0  # the rebuilt index was saved
