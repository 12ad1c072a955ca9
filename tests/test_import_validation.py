"""`idlens people import` reads files from anywhere: each malformed file is refused whole, with where and why, and
changes nothing; a valid older export after renames and merges here finds the same people (by their faces) and
creates no empty ones."""
import copy
import json
import os
import shutil
import sqlite3

import pytest

from core.faces import export_format
from core.faces.export_format import read_export, validated
from core.faces.portability import export_decisions, import_decisions
from core.faces.views import PeopleError
from tests.test_cli import idlens
from tests.test_people import A, B, FACES, face_of, index, name_both, person_of

DESCRIPTOR = [0.1] * 128


def valid() -> dict:
    return {"schema": 1, "kind": "idlens-people", "people": [{
        "name": "Anna", "hidden": False, "aliases": ["Ania"],
        "faces": [{"fingerprint": "abc", "path": "/p/a.jpg", "timestamp": None, "box": [1, 2, 30, 40],
                   "embedding": DESCRIPTOR, "confirmed": True},
                  {"source": "/ref/anna.jpg", "embedding": DESCRIPTOR, "box": [0, 0, 50, 50]}],
        "rejected": [{"fingerprint": "def", "path": "/p/b.jpg", "timestamp": 2.5, "box": [1, 2, 3, 4],
                      "embedding": DESCRIPTOR}]}]}


def test_a_valid_export_reads_into_one_plain_shape():
    [anna] = validated(valid(), 128)
    assert anna.name == "Anna" and anna.aliases == ["Ania"] and len(anna.faces) == 2 and len(anna.rejected) == 1
    assert anna.faces[1].fingerprint is None and anna.faces[1].embedding.shape == (128,)
    assert anna.rejected[0].timestamp == 2.5 and anna.faces[0].box == (1, 2, 30, 40)


def broken(path: str, value):
    """valid() with the value at `path` (keys and indexes, "/"-separated) replaced."""
    data = copy.deepcopy(valid())
    *parents, last = [int(p) if p.isdigit() else p for p in path.split("/")]
    node = data
    for p in parents:
        node = node[p]
    node[last] = value
    return data


@pytest.mark.parametrize("path, value, where", [
    ("people", "Anna", "people: must be a list"),
    ("people/0", "Anna", "people[0]: must be an object"),
    ("people/0/faces", "x", "people[0].faces: must be a list"),
    ("people/0/faces/0", 7, "people[0].faces[0]: must be an object"),
    ("people/0/faces/0/box", [1, 2], "people[0].faces[0].box: must be 4 numbers"),
    ("people/0/faces/0/box", [1, 2, "3", 4], "people[0].faces[0].box[2]: must be a number"),
    ("people/0/faces/0/box", [1, 2, -3, 4], "width and height cannot be negative"),
    ("people/0/faces/0/box", [1, 2, 10 ** 400, 4], "people[0].faces[0].box[2]: must be a finite number"),
    ("people/0/faces/0/embedding", [0.1] * 5, "has 5 numbers; this library's face descriptors have 128"),
    ("people/0/faces/0/embedding", [float("nan")] + [0.1] * 127, "must be finite numbers"),
    ("people/0/faces/0/embedding", [float("inf")] + [0.1] * 127, "must be finite numbers"),
    ("people/0/faces/0/embedding", [0.0] * 128, "not all zero"),
    ("people/0/faces/0/embedding", [True] * 128, "must hold only numbers"),
    ("people/0/faces/1/embedding", None, "people[0].faces[1].embedding: must be a list of 128 numbers"),
    ("people/0/faces/0/timestamp", "noon", "people[0].faces[0].timestamp: must be a number"),
    ("people/0/faces/0/confirmed", "yes", "people[0].faces[0].confirmed: must be true or false"),
    ("people/0/faces/0/fingerprint", 12, "people[0].faces[0].fingerprint: must be a string"),
    ("people/0/rejected/0/fingerprint", None, "people[0].rejected[0].fingerprint: missing"),
    ("people/0/name", None, "people[0].name: must be a string, not null"),
    ("people/0/name", "  ", "people[0].name: '  ' has no letter"),
    ("people/0/name", "A" * 300, "people[0].name: a name can have at most 200 characters"),
    ("people/0/aliases", [1, None, {}], "people[0].aliases[0]: must be a string, not a number"),
    ("people/0/aliases", "Ania", "people[0].aliases: must be a list"),
    ("people/0/hidden", "no", "people[0].hidden: must be true or false"),
    ("schema", "1", "schema must be a number"),
    ("schema", 99, "newer Idlens"),
    ("kind", "something", "not an Idlens people export"),
])
def test_each_malformed_part_is_refused_with_where_and_why(path, value, where):
    with pytest.raises(PeopleError) as e:
        validated(broken(path, value), 128)
    assert where in str(e.value)


def test_limits_on_counts(monkeypatch):
    monkeypatch.setattr(export_format, "MAX_FACES", 2)
    with pytest.raises(PeopleError, match="more than 2 faces"):
        validated(valid(), 128)
    monkeypatch.setattr(export_format, "MAX_ALIASES", 0)
    with pytest.raises(PeopleError, match=r"aliases: has 1 entries \(at most 0\)"):
        validated(valid(), 128)


def test_files_that_are_not_exports(tmp_path, monkeypatch):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(PeopleError, match="nested too deeply"):
        read_export(str(deep))
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"name": "Jos\xe9"}')
    with pytest.raises(PeopleError, match="not UTF-8"):
        read_export(str(latin))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(PeopleError, match="is not JSON"):
        read_export(str(bad))
    big = tmp_path / "big.json"
    big.write_text(json.dumps(valid()))
    monkeypatch.setattr(export_format, "MAX_FILE_BYTES", 100)
    with pytest.raises(PeopleError, match="at most 0 MB|larger than"):
        read_export(str(big))
    fifo = tmp_path / "people.json"
    os.mkfifo(fifo)
    with pytest.raises(PeopleError, match="not a regular file"):  # and returns: never opened
        read_export(str(fifo))


def _catalog_state(library_dir: str):
    db = sqlite3.connect(f"file:{library_dir}/catalog.db?mode=ro", uri=True)
    try:
        return [db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
                for t in ("people", "aliases", "faces", "rejections", "decisions")]
    finally:
        db.close()


def test_through_the_cli_a_malformed_file_changes_nothing(tmp_path):
    album = tmp_path / "album"
    shutil.copytree(FACES, album, ignore=shutil.ignore_patterns("*.md"))
    library_dir = str(tmp_path / "lib")
    idlens("--library", library_dir, "index", str(album))
    idlens("--library", library_dir, "people", "add", "Anna", "--photo", str(album / A[0]))
    before = _catalog_state(library_dir)
    for i, data in enumerate([broken("people/0/faces/0/embedding", [float("nan")] * 128),
                              broken("people/0/name", None), broken("people/0/faces/0/box", [1, 2])]):
        path = tmp_path / f"bad{i}.json"
        path.write_text(json.dumps(data))  # Python writes NaN, as a hand-edited file may hold
        proc = idlens("--library", library_dir, "people", "import", str(path), "--json", check=False)
        assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
        assert json.loads(proc.stdout)["error"]["code"] == "people"
        assert "nothing imported" in proc.stderr and "people[0]" in proc.stderr
        assert _catalog_state(library_dir) == before


def test_an_older_export_after_a_rename_and_a_merge_finds_the_same_people(make_library, tmp_path):
    album = tmp_path / "album"
    shutil.copytree(FACES, album, ignore=shutil.ignore_patterns("*.md"))
    lib = make_library()
    index(lib, album)
    anna = name_both(lib, album, A, "Anna")
    cara = name_both(lib, album, B, "Cara")
    old = json.loads(json.dumps(export_decisions(lib.people)))
    lib.people.name(anna.id, "Anna Schmidt")          # renamed: "Anna" is no name or alias here any more
    lib.people.merge(anna.id, cara.id)                # Cara was Anna all along (here); "Cara" becomes an alias
    lib.people.alias(anna.id, ["Cara"], remove=True)  # ... and the user removed that alias too
    people_before = sorted((p.id, p.name) for p in lib.people.list(include_hidden=True) if p.name)
    placed_before = {f: person_of(lib, album / f) for f in A + B}

    stats = import_decisions(lib.people, old, 128)
    assert stats["people"] == 2 and stats["people_not_here"] == 0
    assert sorted((p.id, p.name) for p in lib.people.list(include_hidden=True) if p.name) == people_before
    assert {f: person_of(lib, album / f) for f in A + B} == placed_before  # nothing moved, no empty person
    assert lib.people.find("Anna Schmidt").media == 4


def test_a_person_with_none_of_their_faces_here_is_not_created(make_library, tmp_path):
    album = tmp_path / "album"
    shutil.copytree(FACES, album, ignore=shutil.ignore_patterns("*.md"))
    first = make_library("one")
    index(first, album)
    name_both(first, album, A, "Anna")
    data = json.loads(json.dumps(export_decisions(first.people)))
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(album / B[0], other / B[0])  # Anna's photos are not in the second library
    second = make_library("two")
    index(second, other)
    stats = import_decisions(second.people, data, 128)
    assert stats["people"] == 0 and stats["people_not_here"] == 1 and stats["unmatched"] == 2
    assert not [p for p in second.people.list(include_hidden=True) if p.name]
    assert face_of(second, other / B[0])  # the library's own face is untouched


def test_through_the_cli_an_older_export_after_a_rename_and_a_merge_breaks_nothing(tmp_path):
    """The issue's own steps: people added from reference photos, exported, renamed and merged here, the old export
    imported again: before, empty people "Anna" and "Cara" appeared and `search` for the person found nothing."""
    album = tmp_path / "album"
    shutil.copytree(FACES, album, ignore=shutil.ignore_patterns("*.md"))
    lib = ["--library", str(tmp_path / "lib")]
    idlens(*lib, "index", str(album))
    idlens(*lib, "people", "add", "Anna", "--photo", str(album / A[0]))
    idlens(*lib, "people", "add", "Cara", "--photo", str(album / B[0]))
    export = tmp_path / "people.json"
    idlens(*lib, "people", "export", str(export))
    idlens(*lib, "people", "name", "Anna", "Anna Schmidt", "--yes")
    idlens(*lib, "people", "merge", "Anna Schmidt", "Cara", "--yes")
    idlens(*lib, "people", "alias", "Anna Schmidt", "Cara", "--remove")

    def people():
        listed = json.loads(idlens(*lib, "people", "list", "--all", "--json").stdout)["people"]
        return sorted((p["name"], p["faces"]) for p in listed if p["name"])

    def found():
        out = json.loads(idlens(*lib, "search", "Anna Schmidt", "--json").stdout)
        return sorted(r["path"] for r in out["results"])

    people_before, found_before = people(), found()
    assert [name for name, _ in people_before] == ["Anna Schmidt"] and found_before
    stats = json.loads(idlens(*lib, "people", "import", str(export), "--json").stdout)
    assert stats["people"] == 2 and stats["people_not_here"] == 0, stats
    assert people() == people_before and found() == found_before
