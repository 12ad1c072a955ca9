"""Why a file cannot be used, in plain words: bad files made on the spot, indexed by the real `idlens`, and what
`idlens errors` then says; a search by a video; a face analysis that runs out of memory; the schema step that keeps
the decoders' own words."""
import errno
import json
import os

import pytest

from core.media.reasons import explain
from tests import media_factory as mf
from tests.test_cli import idlens


@pytest.fixture
def bad_folder(tmp_path):
    folder = tmp_path / "bad"
    good = mf.photo(folder / "good.jpg", 1, size=(640, 480))
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "garbage.jpg").write_bytes(bytes(range(7, 256)) * 20)
    data = good.read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (folder / "garbage.mp4").write_bytes(bytes(range(7, 256)) * 40)
    (folder / "notes.mp4").write_text("this is a shopping list, not a video\n" * 20)
    mf.audio_only(folder / "voice.mp4")
    os.symlink(folder / "nowhere.jpg", folder / "link.jpg")
    return folder


def test_bad_files_get_plain_reasons_and_keep_the_decoders_words(tmp_path, bad_folder):
    library = str(tmp_path / "lib")
    out = json.loads(idlens("--library", library, "index", str(bad_folder), "--json").stdout)
    assert out["indexed"] == 1
    errors = {os.path.basename(e["path"]): (e["error"], e["detail"])
              for e in json.loads(idlens("--library", library, "errors", "--json").stdout)["errors"]}
    assert errors.pop("empty.jpg") == ("empty file (0 bytes)", None)
    message, detail = errors.pop("garbage.jpg")
    assert message == "not a photo Idlens can read (damaged or in a format it does not know)"
    assert detail.startswith("cannot identify image file")
    message, detail = errors.pop("truncated.jpg")
    assert message == "damaged photo (the file ends early)" and "truncated" in detail
    message, detail = errors.pop("garbage.mp4")
    assert message == "not a video Idlens can read (damaged or in a format it does not know)"
    assert "Invalid data found when processing input" in detail
    message, detail = errors.pop("notes.mp4")
    assert message == "not a video Idlens can read (it is a text file)"
    assert "Invalid data found when processing input" in detail
    assert errors.pop("voice.mp4") == ("sound only: the file has no video stream", None)
    assert errors.pop("link.jpg") == (f"broken symbolic link (to {bad_folder / 'nowhere.jpg'})", None)
    assert not errors

    # The plain listing says the plain words, and `list --json` carries the detail too.
    text = idlens("--library", library, "errors").stdout
    assert f"{bad_folder / 'empty.jpg'}: empty file (0 bytes)\n" in text and "Errno" not in text
    listing = {os.path.basename(m["path"]): m for m in json.loads(idlens("--library", library, "list",
                                                                           "--json").stdout)["media"]}
    assert listing["good.jpg"]["detail"] is None and "truncated" in listing["truncated.jpg"]["detail"]

    # Fixed later: the next scan takes the reason and its detail away.
    mf.photo(bad_folder / "truncated.jpg", 5)
    idlens("--library", library, "index")
    left = json.loads(idlens("--library", library, "errors", "--json").stdout)["errors"]
    assert str(bad_folder / "truncated.jpg") not in {e["path"] for e in left}
    fixed = next(m for m in json.loads(idlens("--library", library, "list", "--json").stdout)["media"]
                 if m["path"] == str(bad_folder / "truncated.jpg"))
    assert fixed["status"] == "indexed" and fixed["error"] is None and fixed["detail"] is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads anything")
def test_an_unreadable_file_says_no_permission(tmp_path):
    photo = mf.photo(tmp_path / "photos" / "secret.jpg", 3)
    os.chmod(photo, 0)
    try:
        library = str(tmp_path / "lib")
        idlens("--library", library, "index", str(photo.parent))
        errors = json.loads(idlens("--library", library, "errors", "--json").stdout)["errors"]
        assert [(e["error"], e["detail"]) for e in errors] == [("no permission to read this file", None)]
    finally:
        os.chmod(photo, 0o644)


def test_search_by_a_video_or_a_non_photo_says_what_to_do(tmp_path, photos):
    library = str(tmp_path / "lib")
    idlens("--library", library, "index", str(photos))
    clip = mf.video(tmp_path / "clip.mp4", [7, 8], scene_seconds=1.0)
    proc = idlens("--library", library, "search", "--image", str(clip), check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == (f"idlens: error: {clip}: this is a video — search by a photo "
                                   "(or a still from it)")
    notes = tmp_path / "notes.jpg"
    notes.write_text("a shopping list\n")
    proc = idlens("--library", library, "search", "--image", str(notes), check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"idlens: error: {notes}: not a photo Idlens can read (it is a text file)"


class OutOfMemory:
    """A face backend that runs out of memory on every picture."""
    name = "yunet-sface"
    dim = 128

    def analyse(self, bgr):
        raise MemoryError("cannot allocate 2 GiB")


def test_a_face_analysis_that_runs_out_of_memory_says_so(make_library, photos, monkeypatch):
    from core import registry, services
    from core.indexer import IndexJob

    monkeypatch.setitem(registry.FACE_BACKENDS, "out-of-memory", OutOfMemory)
    lib = make_library()
    lib.settings.face_backend = "out-of-memory"
    for _ in IndexJob(lib, [str(photos)]).run():
        pass
    failed = [e for e in services.errors(lib) if e.get("faces_only")]
    assert len(failed) == 6
    assert {(e["error"], e["detail"]) for e in failed} == {
        ("face analysis ran out of memory (retried by the next index)", "MemoryError: cannot allocate 2 GiB")}


@pytest.mark.parametrize("exc, plain, detail", [
    (PermissionError(errno.EACCES, "Permission denied", "/x.jpg"), "no permission to read this file", None),
    (OSError(errno.EIO, "Input/output error", "/x.jpg"), "the disk could not read this file (input/output error)",
     "[Errno 5] Input/output error: '/x.jpg'"),
    (RuntimeError("boom"), "could not be read (an unexpected error)", "RuntimeError: boom"),
])
def test_system_errors_in_plain_words(exc, plain, detail):
    assert explain(exc, "/nonexistent/x.jpg", "image") == (plain, detail)


def test_a_decompression_bomb_says_how_large_it_is(tmp_path):
    from core.media.images import MediaError, decode_image
    from tests.corpus import _png_with_size

    _png_with_size(tmp_path / "bomb.png", 60000, 60000)
    with pytest.raises(MediaError) as caught:
        decode_image(str(tmp_path / "bomb.png"))
    assert str(caught.value) == ("photo too large to open safely (3,600 megapixels; Idlens opens up to 180 "
                                 "megapixels)")
    assert "3600000000 pixels" in caught.value.detail


def test_a_version_4_catalog_gets_the_detail_columns(tmp_path):
    import sqlite_utils

    from core.store import SCHEMA_VERSION, Catalog, schema

    path = tmp_path / "v4.db"
    db = sqlite_utils.Database(path)
    for version in range(1, 5):
        schema.MIGRATIONS[version](db)
    db.execute("PRAGMA user_version=4")
    db.execute("INSERT INTO media(path, kind, size, mtime_ns, fingerprint, status, error, added_at) "
               "VALUES ('/p/a.jpg', 'image', 0, 1, '', 'error', 'cannot decode image: x', 0)")
    db.conn.commit()
    db.conn.close()
    c = Catalog(path)
    assert c.schema_version == SCHEMA_VERSION >= 5
    old = c.media.by_path("/p/a.jpg")
    assert old.error == "cannot decode image: x" and old.error_detail is None and old.faces_error_detail is None
    with c.transaction():
        c.media.update(old.id, error="empty file (0 bytes)", error_detail="raw words")
    assert c.media.by_path("/p/a.jpg").error_detail == "raw words"
    c.close()
