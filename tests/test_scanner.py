import os
import shutil

from core.media.scanner import fingerprint, media_kind, walk
from tests import media_factory as mf


def test_walk_finds_media_and_skips_hidden_system_and_other_files(tmp_path):
    mf.photo(tmp_path / "a.jpg", 1)
    mf.photo(tmp_path / "deep" / "er" / "b.PNG", 2)
    mf.photo(tmp_path / ".hidden" / "c.jpg", 3)
    mf.photo(tmp_path / "@eaDir" / "d.jpg", 4)
    mf.photo(tmp_path / "$RECYCLE.BIN" / "e.jpg", 5)
    mf.photo(tmp_path / "._f.jpg", 6)  # macOS AppleDouble companion
    (tmp_path / "notes.txt").write_text("not media")
    (tmp_path / "clip.MOV").write_bytes(b"x")
    found = {os.path.relpath(f.path, tmp_path): f.kind for f in walk(str(tmp_path))}
    assert found == {"a.jpg": "image", os.path.join("deep", "er", "b.PNG"): "image", "clip.MOV": "video"}


def test_walk_survives_symlink_loops_and_broken_links(tmp_path):
    mf.photo(tmp_path / "a" / "x.jpg", 1)
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    os.symlink(tmp_path / "nowhere.jpg", tmp_path / "a" / "broken.jpg")
    found = {os.path.basename(f.path): f.error for f in walk(str(tmp_path))}
    assert found == {"x.jpg": None, "broken.jpg": f"broken symbolic link (to {tmp_path / 'nowhere.jpg'})"}


def test_walk_accepts_a_single_file(tmp_path):
    p = mf.photo(tmp_path / "one.jpg", 1)
    assert [f.path for f in walk(str(p))] == [str(p)]


def test_fingerprint_follows_content_not_name(tmp_path):
    a = mf.photo(tmp_path / "a.jpg", 1)
    b = tmp_path / "copy" / "renamed.jpg"
    b.parent.mkdir()
    shutil.copy(a, b)
    c = mf.photo(tmp_path / "c.jpg", 2)
    assert fingerprint(str(a)) == fingerprint(str(b))
    assert fingerprint(str(a)) != fingerprint(str(c))


def test_media_kinds():
    assert media_kind("x.HEIC") == "image"
    assert media_kind("x.webm") == "video"
    assert media_kind("x.txt") is None
