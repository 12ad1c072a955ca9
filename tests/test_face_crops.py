"""Face crops are the library's own (the people panel and review show them, and the user confirms faces by them):
two libraries sharing the cache never show each other's face for a face id; a crop missing from the cache (an old
cache layout, a cache cleaned by the user) or left by another face is made again from the file; the app's crop
path is the library's; crops of ids a restored catalog will hand out again can be dropped."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.faces.crops import FaceCrops
from core.faces.detection import pil_to_bgr
from core.media.images import decode_image
from core.registry import face_backend
from core.settings import cache_dir
from tests import media_factory as mf
from tests.test_people import FACES, face_of, index

A, B = "person_a_1.jpg", "person_b_1.jpg"


def pixels(path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), np.float32)


def own_crop(photo: Path) -> np.ndarray:
    """The photo's largest face aligned by the backend itself (RGB), to compare a cached crop with."""
    faces = face_backend().analyse(pil_to_bgr(decode_image(str(photo), 256, 1024).detail))
    return max(faces, key=lambda f: f.size).crop[:, :, ::-1].astype(np.float32)


def diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def one_photo(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(FACES / name, folder / name)
    return folder / name


@pytest.fixture
def two(make_library, tmp_path):
    """Two libraries on the one cache, over different people: their first faces have the same id."""
    anna, ben = one_photo(tmp_path / "anna", A), one_photo(tmp_path / "ben", B)
    one, other = make_library("one"), make_library("two")
    index(one, anna.parent)
    index(other, ben.parent)
    assert face_of(one, anna) == face_of(other, ben)   # the collision the cache must survive
    return one, anna, other, ben


def test_each_library_shows_its_own_face_for_a_shared_face_id(two):
    one, anna, other, ben = two
    face = face_of(one, anna)
    mine, theirs = one.people.crop_path(face), other.people.crop_path(face)
    assert mine != theirs and mine.is_relative_to(cache_dir() / "faces")
    assert diff(pixels(mine), own_crop(anna)) < 4 and diff(pixels(theirs), own_crop(ben)) < 4
    assert diff(pixels(mine), own_crop(ben)) > 20     # really two faces apart
    # The namespace is the library's id, kept in its catalog: the same folder when the library is opened again.
    from core.library import Library

    with Library(one.folder) as again:
        assert again.face_crops.root == one.face_crops.root != other.face_crops.root
        assert again.people.crop_path(face) == mine


def test_missing_crops_are_made_again_from_photos_and_video_frames(make_library, tmp_path):
    album = tmp_path / "album"
    anna = one_photo(album, A)
    mf.video_of_photos(album / "clip.mp4", [mf.picture(3, (640, 360)), FACES / B, FACES / B])
    lib = make_library()
    index(lib, album)
    rows = lib.catalog.db.execute("SELECT f.id, m.kind FROM faces f JOIN media m ON m.id = f.media_id").fetchall()
    assert {kind for _, kind in rows} == {"image", "video"}
    saved = {face: pixels(lib.face_crops.path(face)) for face, _ in rows}
    shutil.rmtree(cache_dir() / "faces")          # the user cleaned the cache (or an older layout's is all there is)
    for face, kind in rows:
        made = lib.people.crop_path(face)
        assert made is not None and made.is_file(), kind
        assert diff(pixels(made), saved[face]) < 3, kind   # the same alignment, from the same pixels
        before = made.stat()
        assert lib.people.crop_path(face) == made       # made once: a crop that is this face's is only read
        assert (made.stat().st_ino, made.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # A file that is gone, or changed since it was indexed, gives no crop (the panel shows its placeholder).
    photo_face = face_of(lib, anna)
    shutil.rmtree(cache_dir() / "faces")
    os.utime(anna, ns=(1, 1))
    assert lib.people.crop_path(photo_face) is None
    anna.unlink()
    assert lib.people.crop_path(photo_face) is None


def test_a_crop_left_by_another_face_is_never_shown_for_this_one(two):
    one, anna, other, ben = two
    face = face_of(one, anna)
    mine = one.people.crop_path(face)
    # Another face's crop under this id (a catalog restored from a backup handing the id out again): made again.
    shutil.copy(other.people.crop_path(face_of(other, ben)), mine)
    assert diff(pixels(mine), own_crop(ben)) < 4
    assert diff(pixels(one.people.crop_path(face)), own_crop(anna)) < 4
    from core.faces.crops import signature

    with Image.open(mine) as img:
        landmarks = one.catalog.db.execute("SELECT landmarks FROM faces WHERE id = ?", [face]).fetchone()[0]
        assert img.info["comment"].decode() == signature(np.frombuffer(landmarks, np.float32))


def test_the_apps_crop_path_is_the_librarys_and_its_loader_makes_missing_crops(qtbot, two):
    from app.gui.engine import Engine
    from app.gui.naming import LoadCrops, crops_loaded

    one, anna, other, ben = two
    face = face_of(other, ben)
    engine = Engine(str(other.folder), "tiny-test")
    try:
        engine.library()                  # as the engine's threads open it, before the panel asks for crops
        assert engine.crop_path(face) == other.face_crops.path(face) != one.face_crops.path(face)
        shutil.rmtree(cache_dir() / "faces")
        got = []

        def loaded(token, images):
            got.extend(images)

        crops_loaded().done.connect(loaded)
        try:
            LoadCrops(-1, [(face, str(engine.crop_path(face)))], 72, engine.ensure_crop).run()  # a pool thread's work
        finally:
            crops_loaded().done.disconnect(loaded)
        assert [f for f, image in got if not image.isNull()] == [face]
        assert diff(pixels(engine.crop_path(face)), own_crop(ben)) < 4
    finally:
        engine.shutdown()


def test_drop_above_removes_only_the_crops_of_higher_ids(tmp_path, make_library):
    crops = FaceCrops(tmp_path / "crops")
    face = np.full((112, 112, 3), 128, np.uint8)
    ids = [1, 999, 1000, 1001, 1500, 2000, 12345]
    for i in ids:
        crops.save(i, face)
    assert crops.drop_above(1000) == 4
    assert [i for i in ids if crops.path(i).is_file()] == [1, 999, 1000]
    assert not (tmp_path / "crops" / "0002").exists() and crops.drop_above(1000) == 0
    assert crops.drop_above(0) == 3 and not any(crops.path(i).exists() for i in ids)
    # A library's own crops: its folder, as the doctor finds it from the catalog.
    from core.faces.crops import library_crops

    lib = make_library()
    mine = library_crops(lib.catalog)
    assert mine.root == lib.face_crops.root
    mine.save(7, face)
    mine.save(8, face)
    assert mine.drop_above(7) == 1 and lib.face_crops.path(7).is_file() and not lib.face_crops.path(8).exists()


def test_a_reference_photos_crop_is_made_again_from_the_photo(make_library, tmp_path):
    from core import services

    photo = one_photo(tmp_path / "refs", A)
    lib = make_library()
    _, face = services.add_person_from_photo(lib, "Anna", str(photo))
    saved = pixels(lib.people.crop_path(face))
    assert diff(saved, own_crop(photo)) < 4
    shutil.rmtree(cache_dir() / "faces")
    made = lib.people.crop_path(face)
    assert made is not None and diff(pixels(made), saved) < 3


def test_a_face_at_the_pictures_edge_is_shown_with_plain_grey_not_smeared_edges():
    """A photo cropped tight on a face (a profile picture): the aligned crop reaches past the picture. People see
    plain grey there (SHOWN_FILL), as a photo app's frame; the recogniser still gets what it was measured with."""
    from core.faces.detection import SHOWN_FILL

    backend = face_backend()
    whole = Image.open(FACES / "person_a_2.jpg").convert("RGB")
    face = max(backend.analyse(pil_to_bgr(whole)), key=lambda f: f.size)
    x, y, w, h = (int(v) for v in face.box)
    tight = whole.crop((x, y, x + w, y + h))  # nothing around the face
    found = max(backend.analyse(pil_to_bgr(tight)), key=lambda f: f.size)
    assert found.shown is not None and found.crop is not None
    corners = [found.shown[0, 0], found.shown[0, -1], found.shown[-1, 0], found.shown[-1, -1]]
    assert sum(tuple(int(v) for v in c) == SHOWN_FILL for c in corners) >= 2, corners
    assert not any(tuple(int(v) for v in c) == SHOWN_FILL for c in (found.crop[0, 0], found.crop[0, -1]))
    inside = found.shown[40:72, 40:72].astype(int) - found.crop[40:72, 40:72].astype(int)
    assert np.abs(inside).max() == 0  # the face itself is the same pixels
