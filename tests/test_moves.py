"""A folder that moves keeps every decision about its people (issue 20): through the real `idlens` process, on real
faces (tests/data/faces), whatever was run in between. The invariant: a confirmation or a "not this person" of a file
that is still in the library, at any path, is never lost — not by a move, a rename, an unplugged drive, nor by
`idlens forget` of the place it used to be (or of the original of a copy)."""
import json
import shutil
import sqlite3
from pathlib import Path

from PIL import Image, ImageOps

from tests import media_factory as mf
from tests.conftest import ROOT
from tests.test_cli import idlens

FACES = ROOT / "tests" / "data" / "faces"
A = ["person_a_1.jpg", "person_a_2.jpg"]
B = ["person_b_1.jpg", "person_b_2.jpg"]


def run(lib: str, *args) -> dict:
    return json.loads(idlens("--library", lib, *args, "--json").stdout)


def _db(lib: str):
    return sqlite3.connect(Path(lib) / "catalog.db")


def face_ids(lib: str) -> dict[str, list[int]]:
    """File name -> its faces' ids, the largest first."""
    out: dict[str, list[int]] = {}
    with _db(lib) as db:
        for face_id, path in db.execute("SELECT f.id, m.path FROM faces f JOIN media m ON m.id = f.media_id "
                                        "ORDER BY f.size DESC, f.timestamp"):
            out.setdefault(Path(path).name, []).append(face_id)
    return out


def decisions(lib: str) -> tuple[dict, set, dict]:
    """(confirmed faces -> person, {(face, person) said "not this person"}, every face -> its person now), faces
    named by their file's content and place in it (not by path or id: what a move or a copy keeps)."""
    where = "m.fingerprint, f.timestamp, f.x, f.y"

    def key(fp, ts, x, y):
        return fp, None if ts is None else round(ts, 2), round(x), round(y)

    with _db(lib) as db:
        confirmed = {key(*r[:4]): r[4] for r in db.execute(
            f"SELECT {where}, p.name FROM faces f JOIN media m ON m.id = f.media_id JOIN people p ON p.id = "
            "f.person_id WHERE f.confirmed = 1")}
        rejected = {(key(*r[:4]), r[4]) for r in db.execute(
            f"SELECT {where}, p.name FROM rejections r JOIN faces f ON f.id = r.face_id JOIN media m ON "
            "m.id = f.media_id JOIN people p ON p.id = r.person_id")}
        now = {key(*r[:4]): r[4] for r in db.execute(
            f"SELECT {where}, p.name FROM faces f JOIN media m ON m.id = f.media_id LEFT JOIN people p ON p.id = "
            "f.person_id")}
    return confirmed, rejected, now


def assert_kept(lib: str, before, renamed: dict[str, str] | None = None) -> None:
    """Every confirmation and rejection of `before` is in the library now, and no rejected face is back with the
    person it was said not to be."""
    renamed = renamed or {}
    confirmed, rejected, _ = before
    now_confirmed, now_rejected, now = decisions(lib)
    assert now_confirmed == {k: renamed.get(v, v) for k, v in confirmed.items()}
    assert now_rejected == {(k, renamed.get(v, v)) for k, v in rejected}
    for face, person in now_rejected:
        assert now[face] != person


def person_of(lib: str, name: str, under: Path | None = None) -> str | None:
    """The person of the largest face of the file called `name` (under a folder, if given)."""
    with _db(lib) as db:
        for path, person in db.execute("SELECT m.path, p.name FROM faces f JOIN media m ON m.id = f.media_id "
                                       "LEFT JOIN people p ON p.id = f.person_id ORDER BY f.size DESC"):
            if Path(path).name == name and (under is None or Path(path).is_relative_to(under)):
                return person
    raise AssertionError(f"no face in {name}")


def names(lib: str) -> set[str]:
    return {p["name"] for p in run(lib, "people", "list", "--all")["people"] if p["name"]}


def library_with_decisions(tmp_path: Path) -> tuple[str, Path, int, tuple]:
    """An album of real faces (photos and a video, some in a subfolder) with four named people, confirmed faces and
    one "not this person"; returns (library, album, files, decisions)."""
    album = tmp_path / "disk" / "album"
    shutil.copytree(FACES, album, ignore=shutil.ignore_patterns("*.md"))
    (album / "trip").mkdir()
    ImageOps.mirror(Image.open(FACES / B[0])).save(album / "trip" / "mirrored.jpg", quality=92)
    mf.video_of_photos(album / "trip" / "clip.mp4", [FACES / A[0]] * 2, seconds_each=2.0)
    mf.photo(album / "trip" / "scenery.jpg", seed=5)
    lib = str(tmp_path / "lib")
    files = sum(1 for p in album.rglob("*") if p.is_file())
    assert run(lib, "index", str(album))["new"] == files
    ids = face_ids(lib)
    for photo, person in [(A[0], "Emmanuel"), (A[1], "Emmanuel"), (B[0], "Jacinda"), (B[1], "Jacinda"),
                          ("impostor_1.jpg", "Stranger"), ("impostor_2.jpg", "Someone")]:
        idlens("--library", lib, "people", "move", str(ids[photo][0]), person)
    idlens("--library", lib, "people", "move", str(ids["clip.mp4"][0]), "Emmanuel")   # a moment of a video
    # The mirrored photo of her joins Jacinda on its own: the user says it is not her.
    assert person_of(lib, "mirrored.jpg") == "Jacinda"
    idlens("--library", lib, "people", "reject", str(ids["mirrored.jpg"][0]), "Jacinda")
    assert person_of(lib, "mirrored.jpg") is None
    before = decisions(lib)
    assert len(before[0]) >= 7 and len(before[1]) == 1
    assert names(lib) == {"Emmanuel", "Jacinda", "Stranger", "Someone"}
    return lib, album, files, before


def test_a_folder_moved_while_offline_is_moved_and_forgetting_its_old_place_loses_nothing(tmp_path):
    lib, album, files, before = library_with_decisions(tmp_path)
    new = tmp_path / "other-disk" / "album"
    new.parent.mkdir()
    shutil.move(str(album), str(new))
    offline = run(lib, "index")   # the old place cannot be reached: its files are kept as offline
    assert offline["offline"] == files and offline["missing"] == 0 and str(album) in offline["offline_folders"]

    moved = run(lib, "index", str(new))
    assert (moved["moved"], moved["new"], moved["indexed"], moved["offline"]) == (files, 0, 0, 0)
    assert_kept(lib, before)
    # The old place holds nothing now: it is no "offline folder whose files are kept", and says how to remove it.
    for words in (idlens("--library", lib, "status").stderr, idlens("--library", lib, "index").stderr,
                  idlens("--library", lib, "doctor").stdout):
        assert "holds no file of the library any more" in words and "kept as offline" not in words, words
    assert run(lib, "forget", str(album))["forgotten"] == 0
    assert_kept(lib, before)
    again = run(lib, "index")
    assert (again["new"], again["moved"], again["offline"], again["offline_folders"]) == (0, 0, 0, {})
    assert_kept(lib, before)
    listing = run(lib, "list")["media"]
    assert len(listing) == files and all(m["path"].startswith(str(new)) for m in listing)
    assert names(lib) == {"Emmanuel", "Jacinda", "Stranger", "Someone"}


def test_a_folder_moved_and_indexed_at_once_is_moved_and_its_old_place_can_be_forgotten(tmp_path):
    lib, album, files, before = library_with_decisions(tmp_path)
    new = tmp_path / "elsewhere"
    shutil.move(str(album), str(new))
    moved = run(lib, "index", str(new))
    assert (moved["moved"], moved["new"], moved["indexed"]) == (files, 0, 0)
    assert_kept(lib, before)
    # The old library folder is no more, and holds nothing: forgetting it is what the user is told to do.
    assert run(lib, "forget", str(album))["forgotten"] == 0
    assert str(album) not in run(lib, "status")["roots"]
    again = run(lib, "index")
    assert (again["new"], again["moved"], again["offline_folders"]) == (0, 0, {})
    assert_kept(lib, before)


def test_a_folder_moved_while_its_drive_is_offline_is_recognised_after_other_commands(tmp_path):
    lib, album, files, before = library_with_decisions(tmp_path)
    other = tmp_path / "phone"
    for i in range(2):
        mf.photo(other / f"p{i}.jpg", seed=30 + i)
    assert run(lib, "index", str(other))["new"] == 2
    unplugged = tmp_path / "unplugged"
    shutil.move(str(album), str(unplugged))
    assert run(lib, "index")["offline"] == files
    # Life goes on while the drive is away: something else is forgotten, a person renamed, the library indexed.
    assert run(lib, "forget", str(other / "p0.jpg"))["forgotten"] == 1
    idlens("--library", lib, "people", "name", "Jacinda", "Jacinda Ardern")
    assert run(lib, "index")["offline"] == files
    assert_kept(lib, before, {"Jacinda": "Jacinda Ardern"})
    # The album turns up on another disk, in another folder.
    new = tmp_path / "disk2" / "photos" / "album-2019"
    new.parent.mkdir(parents=True)
    shutil.move(str(unplugged), str(new))
    moved = run(lib, "index", str(new))
    assert (moved["moved"], moved["new"], moved["indexed"]) == (files, 0, 0)
    assert_kept(lib, before, {"Jacinda": "Jacinda Ardern"})
    assert run(lib, "forget", str(album))["forgotten"] == 0
    again = run(lib, "index")
    assert (again["new"], again["moved"], again["offline"], again["found"]) == (0, 0, 0, files + 1)
    assert_kept(lib, before, {"Jacinda": "Jacinda Ardern"})
    assert names(lib) == {"Emmanuel", "Jacinda Ardern", "Stranger", "Someone"}


def test_forgetting_the_original_of_a_copy_carries_its_decisions_to_the_copy(tmp_path):
    lib, album, files, before = library_with_decisions(tmp_path)
    copy = tmp_path / "backup" / "album"
    shutil.copytree(album, copy)
    copied = run(lib, "index", str(copy))
    assert copied["new"] == files and copied["moved"] == 0   # both are there: a copy is another file
    assert person_of(lib, "mirrored.jpg", copy) == "Jacinda"  # nobody said so of the copy's face, yet
    assert run(lib, "forget", str(album))["forgotten"] == files
    assert_kept(lib, before)
    assert person_of(lib, "mirrored.jpg", copy) is None
    listing = run(lib, "list")["media"]
    assert len(listing) == files and all(m["path"].startswith(str(copy)) for m in listing)
    again = run(lib, "index")
    assert (again["new"], again["moved"]) == (0, 0)
    assert_kept(lib, before)
    assert names(lib) == {"Emmanuel", "Jacinda", "Stranger", "Someone"}


def test_forgetting_the_original_of_a_copy_whose_faces_were_never_analysed_hands_its_faces_over(tmp_path):
    """The copy was indexed with face recognition off: its faces are not known yet. Forgetting the original hands
    its faces, with every decision, to the copy; analysing the copy later keeps them, on its own faces."""
    lib, album, files, before = library_with_decisions(tmp_path)
    settings = Path(lib) / "settings.json"
    chosen = json.loads(settings.read_text()) if settings.exists() else {}
    settings.write_text(json.dumps({**chosen, "faces": False}))
    copy = tmp_path / "backup" / "album"
    shutil.copytree(album, copy)
    copied = run(lib, "index", str(copy))
    assert copied["new"] == files and copied["indexed"] == files
    assert run(lib, "forget", str(album))["forgotten"] == files
    assert_kept(lib, before)
    settings.write_text(json.dumps({**chosen, "faces": True}))
    analysed = run(lib, "index")
    assert analysed["new"] == 0 and analysed["face_errors"] == 0
    with _db(lib) as db:
        assert db.execute("SELECT count(*) FROM media WHERE faces_backend IS NULL").fetchone()[0] == 0
    assert_kept(lib, before)
    assert names(lib) == {"Emmanuel", "Jacinda", "Stranger", "Someone"}


def test_a_folder_moved_with_files_renamed_inside_is_moved(tmp_path):
    lib, album, files, before = library_with_decisions(tmp_path)
    new = tmp_path / "sorted" / "2019 holidays"
    new.parent.mkdir()
    shutil.move(str(album), str(new))
    (new / A[0]).rename(new / "emmanuel at the beach.jpg")
    (new / "trip" / "mirrored.jpg").rename(new / "not jacinda.jpg")   # and out of its subfolder
    (new / "trip" / "clip.mp4").rename(new / "trip" / "party.mp4")
    assert run(lib, "index")["offline"] == files
    moved = run(lib, "index", str(new))
    assert (moved["moved"], moved["new"], moved["indexed"]) == (files, 0, 0)
    assert_kept(lib, before)
    assert run(lib, "forget", str(album))["forgotten"] == 0
    assert_kept(lib, before)


def test_part_of_an_unplugged_drive_found_in_another_library_folder_is_moved_the_rest_stays_offline(tmp_path):
    """One `idlens index` of both library folders: the drive cannot be reached, and its album is found in the other
    folder. The album's files are moved (no longer offline); the drive's other files stay offline, and come back."""
    lib, album, files, before = library_with_decisions(tmp_path)   # album is tmp_path/disk/album
    drive = album.parent
    for i in range(3):
        mf.photo(drive / "more" / f"m{i}.jpg", seed=40 + i)
    home = tmp_path / "home"
    home.mkdir()
    run(lib, "index", str(drive), str(home))
    shutil.move(str(album), str(home / "album"))
    shutil.move(str(drive), str(tmp_path / "unplugged"))
    report = run(lib, "index")
    assert (report["moved"], report["new"], report["indexed"]) == (files, 0, 0)
    assert report["offline"] == 3 and str(drive) in report["offline_folders"]
    assert_kept(lib, before)
    statuses = {m["path"]: m["status"] for m in run(lib, "list")["media"]}
    assert sorted(s for p, s in statuses.items() if p.startswith(str(drive))) == ["offline"] * 3
    assert sum(1 for p, s in statuses.items() if p.startswith(str(home)) and s == "indexed") == files
    shutil.move(str(tmp_path / "unplugged"), str(drive))
    back = run(lib, "index")
    assert (back["back"], back["new"], back["moved"], back["offline"]) == (3, 0, 0, 0)
    assert_kept(lib, before)
