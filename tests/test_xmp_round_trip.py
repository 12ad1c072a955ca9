"""Names in other apps, through the real command line (issue 23, "Done when"): a folder whose photos carry face
regions (embedded, a digiKam and a Lightroom sidecar, a photo stored sideways, a face the detector misses, a sidecar
with other tags and a pet) indexes into people with those names, nothing else changed; `idlens metadata write` then
writes sidecars that ExifTool reads back with the same names and boxes and every other tag kept; no photo's bytes
change; a second write is "unchanged". Fixtures are written here from the MWG guidelines (tests/test_regions.py)."""
from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from core.faces.regions import read_regions
from core.media.images import stored_geometry
from tests.test_cli import idlens
from tests.test_regions import (FACES, OTHER_TAGS, PACKET, _group_photo_with_a_bystander, _iou,
                                _sidecar_naming_the_face, digest, embed, mwg, needs_exiftool)

W, H = 4000, 3000


def _sideways(photo: Path, name: str) -> None:
    """person_b_2 stored turned (Exif orientation 6), named in a digiKam sidecar as MWG says: for the stored image."""
    from core.faces.detection import pil_to_bgr
    from core.registry import face_backend

    upright = Image.open(FACES / "person_b_2.jpg").convert("RGB")
    uw, uh = upright.size
    face = max(face_backend().analyse(pil_to_bgr(upright)), key=lambda f: f.size)
    x, y, fw, fh = face.box
    u0, v0, u1, v1 = x / uw, y / uh, (x + fw) / uw, (y + fh) / uh
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(photo, quality=92, exif=exif)
    sx0, sy0, sx1, sy1 = v0, 1 - u1, v1, 1 - u0  # an upright point (u, v) is the stored point (v, 1 - u)
    body = mwg([(name, "Face", (sx0 + sx1) / 2, (sy0 + sy1) / 2, sx1 - sx0, sy1 - sy0)], applied=stored.size)
    Path(str(photo) + ".xmp").write_text(PACKET.format(body=body), encoding="utf-8")


def _faces(library: str) -> dict[str, list[tuple]]:
    """file name -> (person, box, where the name came from) of every named face, from the catalog itself."""
    db = sqlite3.connect(f"file:{library}/catalog.db?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT m.path, p.name, f.x, f.y, f.w, f.h, f.named_from FROM faces f "
                          "JOIN people p ON p.id = f.person_id JOIN media m ON m.id = f.media_id "
                          "WHERE f.confirmed = 1 ORDER BY m.path, p.name").fetchall()
    finally:
        db.close()
    out: dict[str, list[tuple]] = {}
    for path, name, x, y, w, h, named_from in rows:
        out.setdefault(Path(path).name, []).append((name, (x, y, w, h), named_from))
    return out


def _exiftool(path: Path) -> dict:
    out = subprocess.run(["exiftool", "-j", "-struct", "-n", "-XMP:all", str(path)], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)[0]


@needs_exiftool
def test_names_from_other_apps_index_into_people_and_write_back_into_sidecars(tmp_path):
    folder = tmp_path / "Fotos – 写真"
    folder.mkdir()
    shutil.copy(FACES / "person_a_1.jpg", folder / "IMG_1.jpg")
    digikam = _sidecar_naming_the_face(folder / "IMG_1.jpg", "Zoë Kowalski")  # with keywords and a rating
    text = digikam.read_text(encoding="utf-8").replace(  # and a pet, which no face is
        "</rdf:Bag></mwg-rs:RegionList>", '<rdf:li rdf:parseType="Resource"><mwg-rs:Name>Rex</mwg-rs:Name>'
        '<mwg-rs:Type>Pet</mwg-rs:Type><mwg-rs:Area stArea:x="0.1" stArea:y="0.9" stArea:w="0.1" stArea:h="0.1" '
        'stArea:unit="normalized"/></rdf:li></rdf:Bag></mwg-rs:RegionList>')
    digikam.write_text(text, encoding="utf-8")
    shutil.copy(FACES / "person_b_1.jpg", folder / "IMG_2.jpg")
    _sidecar_naming_the_face(folder / "IMG_2.jpg", "Дмитрий Иванов", style="Lightroom")
    shutil.copy(FACES / "person_a_2.jpg", folder / "IMG_3.jpg")
    w3, h3 = Image.open(folder / "IMG_3.jpg").size
    embed(folder / "IMG_3.jpg", mwg([("Zoë Kowalski", "Face", 0.5, 0.42, 0.45, 0.5)], applied=(w3, h3)))
    _sideways(folder / "IMG_4.jpg", "Seán O’Brien")
    far, near, sky = _group_photo_with_a_bystander(folder / "IMG_5.jpg")
    regions = [(n, "Face", (x + w / 2) / W, (y + h / 2) / H, w / W, h / H)
               for n, (x, y, w, h) in (("Ciarán", far), ("Zoë Kowalski", near), ("Nobody There", sky))]
    Path(str(folder / "IMG_5.jpg") + ".xmp").write_text(PACKET.format(body=mwg(regions, applied=(W, H))),
                                                         encoding="utf-8")
    photos = sorted(folder.glob("*.jpg"))
    before = {p.name: digest(p) for p in folder.iterdir()}
    library = str(tmp_path / "lib")

    idlens("--library", library, "index", str(folder))
    assert {p.name: digest(p) for p in folder.iterdir()} == before  # indexing reads, never writes
    faces = _faces(library)
    assert {f: [(n, src) for n, _, src in v] for f, v in faces.items()} == {
        "IMG_1.jpg": [("Zoë Kowalski", "digiKam sidecar")],
        "IMG_2.jpg": [("Дмитрий Иванов", "Lightroom sidecar")],
        "IMG_3.jpg": [("Zoë Kowalski", "embedded XMP")],
        "IMG_4.jpg": [("Seán O’Brien", "digiKam sidecar")],
        "IMG_5.jpg": [("Ciarán", "digiKam sidecar"), ("Zoë Kowalski", "digiKam sidecar")],
    }
    history = idlens("--library", library, "people", "history", "--json").stdout
    assert [d["kind"] for d in json.loads(history)["decisions"]] == ["xmp"]  # one decision, nothing else

    # Write them back: each photo's sidecar, never the photo.
    dry = json.loads(idlens("--library", library, "metadata", "write", "--dry-run", "--json").stdout)
    assert {Path(f["path"]).name: f["result"] for f in dry["files"]} == {
        "IMG_1.jpg": "updated", "IMG_2.jpg": "updated", "IMG_3.jpg": "written", "IMG_4.jpg": "updated",
        "IMG_5.jpg": "updated"}
    assert {p.name: digest(p) for p in folder.iterdir()} == before  # a dry run writes nothing
    report = json.loads(idlens("--library", library, "metadata", "write", "--json").stdout)
    assert {Path(f["path"]).name: f["result"] for f in report["files"]} == {
        Path(f["path"]).name: f["result"] for f in dry["files"]}
    assert {p.name: digest(p) for p in photos} == {p.name: before[p.name] for p in photos}  # photos untouched
    assert sorted(p.name for p in folder.iterdir() if p.suffix == ".xmp") == [
        "IMG_1.jpg.xmp", "IMG_2.xmp", "IMG_3.jpg.xmp", "IMG_4.jpg.xmp", "IMG_5.jpg.xmp"]  # no temporary left

    # ExifTool reads back the same names in the same places (as the upright photo shows them).
    for photo in photos:
        stored, orientation = stored_geometry(str(photo))
        back = read_regions(photo, stored, orientation)
        for name, box, _ in faces[photo.name]:
            [region] = [r for r in back if r.name == name and _iou(r.box, box) >= 0.7]
            assert region.source != "embedded XMP"  # read from the sidecar Idlens wrote
    one = _exiftool(folder / "IMG_1.jpg.xmp")
    assert one["Subject"] == ["holiday"] and one["Rating"] == 4  # the other tags kept
    assert [(r["Name"], r["Type"]) for r in one["RegionInfo"]["RegionList"]] == [("Rex", "Pet"),  # kept first
                                                                                 ("Zoë Kowalski", "Face")]
    five = _exiftool(folder / "IMG_5.jpg.xmp")
    assert sorted(r["Name"] for r in five["RegionInfo"]["RegionList"]) == ["Ciarán", "Nobody There", "Zoë Kowalski"]
    sideways = _exiftool(folder / "IMG_4.jpg.xmp")["RegionInfo"]
    assert (sideways["AppliedToDimensions"]["W"], sideways["AppliedToDimensions"]["H"]) == stored_geometry(
        str(folder / "IMG_4.jpg"))[0]  # MWG: for the stored image

    # A second write finds nothing to change; an index reads the new sidecars and decides nothing new.
    again = json.loads(idlens("--library", library, "metadata", "write", "--json").stdout)
    assert {f["result"] for f in again["files"]} == {"unchanged"}
    idlens("--library", library, "index")
    assert _faces(library) == faces
    history = idlens("--library", library, "people", "history", "--json").stdout
    assert [d["kind"] for d in json.loads(history)["decisions"]] == ["xmp"]
    text = idlens("--library", library, "metadata", "write").stdout
    assert "5 files: unchanged 5" in text


def test_an_area_written_reads_back_as_its_box_in_every_orientation():
    from core.faces.regions import _upright, mwg_area

    stored = (300, 200)
    for orientation in range(1, 9):
        upright = (200, 300) if orientation in (5, 6, 7, 8) else (300, 200)
        box = (0.1 * upright[0], 0.2 * upright[1], 0.3 * upright[0], 0.25 * upright[1])
        for applied in ((300, 200), (upright[0], upright[1])):  # MWG's stored image, or a writer's upright one
            a = mwg_area(box, stored, orientation, applied)
            back = _upright((a["X"] - a["W"] / 2, a["Y"] - a["H"] / 2, a["X"] + a["W"] / 2, a["Y"] + a["H"] / 2),
                            stored, orientation, applied)
            assert back is not None and _iou(back, box) > 0.999, (orientation, applied)


@needs_exiftool
def test_metadata_write_leaves_alone_what_it_cannot_write_safely(make_library, tmp_path, monkeypatch):
    from core.faces import sidecars
    from core.indexer import IndexJob
    from core.library import NotInLibrary
    from tests import media_factory as mf

    folder = tmp_path / "photos"
    folder.mkdir()
    for n, src in (("a.jpg", "person_a_1.jpg"), ("b.jpg", "person_b_1.jpg"), ("c.jpg", "person_a_2.jpg"),
                   ("d.jpg", "person_b_2.jpg")):
        shutil.copy(FACES / src, folder / n)
    shutil.copy(FACES / "impostor_1.jpg", folder / "b.cr2")  # a raw beside b.jpg: b.xmp would be both's
    mf.video_of_photos(folder / "clip.mp4", [FACES / "person_a_1.jpg"], seconds_each=1.0)
    (folder / "c.jpg.xmp").write_text("<x:xmpmeta>cut sh", encoding="utf-8")  # damaged: never overwritten
    damaged = (folder / "c.jpg.xmp").read_bytes()
    lib = make_library()
    for _ in IndexJob(lib, [str(folder)]).run():
        pass
    for n in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        [face] = [f for f in lib.catalog.faces.boxes_in_media(lib.catalog.media.by_path(str(folder / n)).id)]
        lib.people.move(face["id"], "Zoë Kowalski")
    (folder / "d.jpg").write_bytes((folder / "d.jpg").read_bytes() + b"\0")  # changed since it was indexed

    report = {Path(w.path).name: w for w in sidecars.write_names(lib, [str(folder)], style="lightroom")}
    assert report["a.jpg"].result == "written" and (folder / "a.xmp").is_file()
    assert report["b.jpg"].result == "skipped" and "shared with b.cr2" in report["b.jpg"].reason
    assert not (folder / "b.xmp").exists()
    report = {Path(w.path).name: w for w in sidecars.write_names(lib, [str(folder)])}
    assert report["c.jpg"].result == "skipped" and "could not be read" in report["c.jpg"].reason
    assert (folder / "c.jpg.xmp").read_bytes() == damaged
    assert report["d.jpg"].result == "skipped" and "index it again" in report["d.jpg"].reason
    assert report["a.jpg"].result == "unchanged"  # its Lightroom sidecar is the one it has now
    [video] = sidecars.write_names(lib, [str(folder / "clip.mp4")])
    assert video.result == "skipped" and "a video" in video.reason
    with pytest.raises(NotInLibrary):
        sidecars.write_names(lib, [str(tmp_path / "elsewhere")])

    # Another app saves the sidecar while Idlens writes it: the other app's file stays.
    (folder / "a.xmp").unlink()
    shutil.copy(folder / "a.jpg", folder / "e.jpg")
    real_write = sidecars.xmp.ExifTool.write

    def racing(self, target, tags, source=None):
        real_write(self, target, tags, source)
        if source is not None:
            Path(source).write_text(PACKET.format(body=OTHER_TAGS), encoding="utf-8")

    (folder / "b.jpg.xmp").write_text(PACKET.format(body=OTHER_TAGS), encoding="utf-8")
    for _ in IndexJob(lib, []).run():  # read: the sidecar is as Idlens last saw it
        pass
    monkeypatch.setattr(sidecars.xmp.ExifTool, "write", racing)
    [b] = sidecars.write_names(lib, [str(folder / "b.jpg")])
    assert b.result == "skipped" and "changed while it was being written" in b.reason
    assert (folder / "b.jpg.xmp").read_text(encoding="utf-8") == PACKET.format(body=OTHER_TAGS)
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []  # no temporary left


def _index(lib, *paths):
    from core.indexer import IndexJob

    job = IndexJob(lib, [str(p) for p in paths])
    for _ in job.run():
        pass
    return job.report


def _names(lib) -> dict[str, tuple[str, str | None]]:
    """file name -> (person, where the name came from) of each photo's confirmed face."""
    out = {}
    for media_id, faces in lib.catalog.faces.named_in_photos().items():
        path = lib.catalog.media.get(media_id).path
        for f in faces:
            named_from = lib.catalog.faces.confirmed_in_media(media_id)[f["id"]][0]
            out[Path(path).name] = (f["name"], named_from)
    return out


@needs_exiftool
def test_a_name_corrected_in_the_other_app_is_followed_and_never_written_over(make_library, tmp_path):
    """Found by a newcomer using the CLI: a name corrected in digiKam was ignored by the next index, and `metadata
    write` then put the old name back into digiKam's sidecar."""
    from core.faces import sidecars

    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(FACES / "person_a_1.jpg", folder / "IMG_1.jpg")
    shutil.copy(FACES / "person_b_1.jpg", folder / "IMG_2.jpg")
    one = _sidecar_naming_the_face(folder / "IMG_1.jpg", "Liam")
    two = _sidecar_naming_the_face(folder / "IMG_2.jpg", "Ben")
    lib = make_library()
    _index(lib, folder)
    assert _names(lib) == {"IMG_1.jpg": ("Liam", "digiKam sidecar"), "IMG_2.jpg": ("Ben", "digiKam sidecar")}

    # Corrected in digiKam; written from Idlens before the next index: left alone, the newer name is not lost.
    one.write_text(one.read_text(encoding="utf-8").replace(">Liam<", ">Liam O’Neil<"), encoding="utf-8")
    corrected = one.read_bytes()
    [w] = sidecars.write_names(lib, [str(folder / "IMG_1.jpg")])
    assert w.result == "skipped" and "run an index first" in w.reason and one.read_bytes() == corrected
    # The next index follows the other app's correction, as a decision of its own.
    assert _index(lib).names.renamed == 1
    assert _names(lib)["IMG_1.jpg"] == ("Liam O’Neil", "digiKam sidecar")
    assert [d.kind for d in lib.people.history()] == ["xmp", "xmp"]

    # Renamed in Idlens: a later change elsewhere in the sidecar (a keyword) does not take the name back.
    ben = lib.people.find("Ben")
    lib.people.name(ben.id, "Benjamin")
    assert lib.people.history(1)[0].summary == "renamed Ben to Benjamin"  # a newcomer read "renamed Ben Benjamin"
    two.write_text(two.read_text(encoding="utf-8").replace("holiday", "holiday 2019"), encoding="utf-8")
    assert _index(lib).names.renamed == 0
    assert _names(lib)["IMG_2.jpg"] == ("Benjamin", "digiKam sidecar")


@needs_exiftool
def test_an_import_undone_after_a_write_stays_undone(make_library, tmp_path):
    """Found by a newcomer: `metadata write`, then `people undo` of the import, then `index` brought the names
    back: Idlens's own write was read as another app's change."""
    from core.faces import sidecars

    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(FACES / "person_a_1.jpg", folder / "IMG_1.jpg")
    _sidecar_naming_the_face(folder / "IMG_1.jpg", "Zoë Kowalski")
    lib = make_library()
    _index(lib, folder)
    [w] = sidecars.write_names(lib)
    assert w.result == "updated"
    lib.people.undo()
    assert _names(lib) == {}
    assert _index(lib).names is None and _names(lib) == {}


@needs_exiftool
def test_a_damaged_sidecar_is_in_errors_and_a_wrong_exiftool_path_is_said(make_library, tmp_path, monkeypatch):
    from core.faces import regions
    from core.faces.sidecars import WriteRefused, write_names
    from core.services import errors

    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(FACES / "person_a_1.jpg", folder / "IMG_1.jpg")
    (folder / "IMG_1.jpg.xmp").write_text(PACKET.format(body="")[:200], encoding="utf-8")  # cut short
    lib = make_library()
    _index(lib, folder)
    [e] = errors(lib)
    assert e["names_only"] and e["path"] == str(folder / "IMG_1.jpg") and "could not be read" in e["error"]

    monkeypatch.setenv("IDLENS_EXIFTOOL", "/nowhere/exiftool")
    tool = regions.ExifTool()
    assert not tool.available and tool.missing == ("ExifTool is not installed (/nowhere/exiftool, named by "
                                                   "IDLENS_EXIFTOOL, is not a program)")
    with pytest.raises(WriteRefused, match="/nowhere/exiftool"):
        write_names(lib, exiftool=tool)
