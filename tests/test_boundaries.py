"""The library's folders are a boundary, and hostile inputs end in plain words (issue 20, cases 5, 6 and 7's FIFOs),
through the real `idlens` processes:

- a symbolic link that leads out of a library folder (to "/", to a folder or a photo elsewhere) is not followed, and
  the index says so; a link that stays inside is followed, each file taken once, by its own path, with no loop;
- /proc, /sys and /dev are never indexed, even when named (or reached through a link) on the command line;
- FIFOs are never opened: one in a folder is recorded with its reason and the index finishes; one named to `index`,
  `search --image` or `people add --photo` is refused in one line;
- settings out of range (1e-9 s sampling, NaN or 1.5 similarities, huge caps) fall back to their defaults with the
  field named (`idlens doctor` lists them), and saving them is refused with the field named.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from tests import media_factory as mf
from tests.conftest import ROOT


def idlens(*args, timeout=120):
    """The real command, in its own process. A command that would hang (opening a FIFO) fails the test on the
    timeout instead of blocking the run."""
    env = dict(os.environ, IDLENS_MODEL="tiny-test", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=timeout, check=False)


def listed(library_dir) -> set[str]:
    proc = idlens("--library", library_dir, "list", "--json")
    assert proc.returncode == 0, proc.stderr
    return {m["path"] for m in json.loads(proc.stdout)["media"]}


@pytest.fixture
def library_dir(tmp_path):
    return str(tmp_path / "lib")


@pytest.mark.timeout(240)
def test_links_out_of_the_library_are_not_followed(library_dir, photos, tmp_path):
    outside = tmp_path / "elsewhere"
    for i in range(3):
        mf.photo(outside / f"private{i}.jpg", seed=60 + i)
    os.symlink("/", photos / "whole-machine")
    os.symlink(outside, photos / "elsewhere")
    os.symlink(outside / "private0.jpg", photos / "linked.jpg")
    proc = idlens("--library", library_dir, "index", str(photos), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["new"] == 6   # the folder's own photos, nothing from / or elsewhere
    assert listed(library_dir) == {str(p) for p in photos.rglob("*") if p.is_file() and not p.is_symlink()}
    for link in ("whole-machine", "elsewhere", "linked.jpg"):   # each said, with why
        assert f"skipped {photos / link}: a link to a place outside the library's folders" in proc.stderr
    assert "not followed" in proc.stderr and not list((tmp_path / "lib").rglob("*private*"))


@pytest.mark.timeout(240)
def test_links_inside_the_library_are_followed_once_by_the_files_own_path(library_dir, tmp_path):
    root = tmp_path / "photos"
    mine = {mf.photo(root / "2021" / f"trip{i}.jpg", seed=i) for i in range(2)}
    mf.photo(root / "top.jpg", seed=5)
    archived = mf.photo(root / ".archive" / "old.jpg", seed=7)   # hidden: reached only through the link below
    os.symlink(root / "2021", root / "a-shortcut")               # sorts before "2021"'s own path
    os.symlink(root / "top.jpg", root / "alias.jpg")
    os.symlink(root / ".archive", root / "archive")
    os.symlink(root, root / "2021" / "up")                       # a loop
    proc = idlens("--library", str(library_dir), "index", str(root), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["new"] == 4
    assert listed(library_dir) == {str(p) for p in mine} | {str(root / "top.jpg"), str(root / "archive" / "old.jpg")}
    assert archived.exists() and "skipped" not in proc.stderr


@pytest.mark.timeout(120)
def test_system_folders_are_never_indexed(library_dir, tmp_path):
    os.symlink("/proc/self", tmp_path / "innocent")
    for path in ("/proc/self", "/sys/kernel", "/dev", str(tmp_path / "innocent")):
        proc = idlens("--library", library_dir, "index", path, timeout=60)
        assert proc.returncode == 1, (path, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "a system folder: Idlens never indexes /proc, /sys or /dev" in lines[0], lines
        assert lines[0].startswith(f"idlens: error: {path} is inside /")
    assert not os.path.exists(os.path.join(library_dir, "catalog.db")) or not listed(library_dir)


@pytest.mark.timeout(180)
def test_a_fifo_in_a_folder_is_skipped_with_its_reason_and_never_opened(library_dir, photos):
    os.mkfifo(photos / "pipe.jpg")
    os.mkfifo(photos / "trip" / "pipe.mp4")
    os.mkfifo(photos / "pipe-without-a-media-name")
    proc = idlens("--library", library_dir, "index", str(photos), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["new"] == 6 and report["indexed"] == 6
    errors = json.loads(idlens("--library", library_dir, "errors", "--json").stdout)["errors"]
    reasons = {e["path"]: e["error"] for e in errors}
    assert reasons == {str(photos / "pipe.jpg"): "not a regular file (a FIFO/pipe): skipped, never opened",
                       str(photos / "trip" / "pipe.mp4"): "not a regular file (a FIFO/pipe): skipped, never opened"}

    # "Try again" (the app's errors panel) queues them; the next index records them again, and never opens them.
    from core import services
    from core.library import Library

    lib = Library(library_dir, "tiny-test")
    try:
        assert services.retry(lib, list(reasons)) == 2
    finally:
        lib.close()
    proc = idlens("--library", library_dir, "index", "--json", timeout=60)
    assert proc.returncode == 0, proc.stderr
    errors = json.loads(idlens("--library", library_dir, "errors", "--json").stdout)["errors"]
    assert {e["path"]: e["error"] for e in errors} == reasons


@pytest.mark.timeout(240)
def test_a_fifo_named_on_the_command_line_is_refused_in_plain_words(library_dir, photos, tmp_path):
    fifo = tmp_path / "fifo.jpg"
    os.mkfifo(fifo)
    assert idlens("--library", library_dir, "index", str(photos)).returncode == 0
    for args in (["index", str(fifo)], ["search", "--image", str(fifo)],
                 ["people", "add", "Anna", "--photo", str(fifo)]):
        proc = idlens("--library", library_dir, *args, timeout=60)
        assert proc.returncode == 1, (args, proc.stderr)
        assert proc.stderr.strip().splitlines()[-1] == \
            f"idlens: error: {fifo} is not a regular file (a FIFO/pipe); Idlens never opens it", args
    assert len(listed(library_dir)) == 6
    # The engine's own decode (the app's search by photo, a reference photo) refuses it too, without opening it.
    code = ("import sys; from core.media.images import decode_image, MediaError\n"
            "try: decode_image(sys.argv[1])\nexcept MediaError as e: print(e)")
    out = subprocess.run([sys.executable, "-c", code, str(fifo)], capture_output=True, text=True, cwd=ROOT,
                         timeout=30, check=False)
    assert out.stdout.strip() == "not a regular file (a FIFO/pipe): never opened", out.stderr


RUNAWAY = {"video_interval": 1e-9, "face_match": math.nan, "face_name_auto": 1.5, "face_cluster": -0.2,
           "face_suggest_floor": math.inf, "video_max_frames": 10**9, "batch_size": 10**6, "decode_workers": 10**4,
           "face_detail": 10**7}


@pytest.mark.timeout(240)
def test_runaway_settings_fall_back_to_defaults_with_the_field_named(library_dir, photos):
    from core.settings import Settings

    assert idlens("--library", library_dir, "index", str(photos)).returncode == 0
    path = os.path.join(library_dir, "settings.json")
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    data.update(RUNAWAY)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f)   # NaN and Infinity, as Python's json writes (and a hand-edited file may hold) them
    proc = idlens("--library", library_dir, "doctor", "--json")
    check = next(c for c in json.loads(proc.stdout)["checks"] if c["name"] == "settings")
    assert check["status"] == "warn"
    problems = check["data"]["problems"]
    assert len(problems) == len(RUNAWAY)
    by_name = {name: next(p for p in problems if f"setting {name} must be" in p) for name in RUNAWAY}
    for name, problem in by_name.items():
        assert problem.startswith(f"{path}: ") and problem.endswith(f"using the default {getattr(Settings(), name)!r}")
    assert "setting video_interval must be from 0.1 to 86400, not 1e-09;" in by_name["video_interval"]
    assert "setting face_match must be a finite number from 0 to 1, not nan;" in by_name["face_match"]
    assert "setting face_name_auto must be from 0 to 1, not 1.5;" in by_name["face_name_auto"]
    assert "setting video_max_frames must be from 1 to 100000, not 1000000000;" in by_name["video_max_frames"]
    # Runs on the defaults meanwhile: a clip is sampled every 2 s, not every frame.
    mf.video(photos / "clip.mp4", [1, 2], scene_seconds=2.0)
    proc = idlens("--library", library_dir, "index", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["new"] == 1


@pytest.mark.parametrize("name,value", list(RUNAWAY.items()) + [("threads", -1), ("face_min_score", 2.0),
                                                                 ("face_min_sharpness", math.nan)])
def test_runaway_settings_are_refused_when_saved_with_the_field_named(make_library, name, value):
    """What the app's settings dialog saves goes through the same check (Engine.save_settings)."""
    from core import services
    from core.settings import SettingsError

    lib = make_library()
    saved = lib.folder / "settings.json"
    before = saved.read_text() if saved.exists() else None
    setattr(lib.settings, name, value)
    with pytest.raises(SettingsError, match=rf"^setting {name} must be (a finite number )?from "):
        services.save_settings(lib, lib.settings)
    assert (saved.read_text() if saved.exists() else None) == before   # nothing written


def test_the_follow_links_setting_follows_links_anywhere_but_never_into_system_folders_or_loops(tmp_path):
    """`follow_links` (off by default) as the scan takes it: links out of the library are followed, each folder
    once; /proc, /sys and /dev stay out."""
    from core.media.scanner import scan
    from core.settings import Settings
    from core.store import Catalog

    assert Settings().follow_links is False
    root, outside = tmp_path / "photos", tmp_path / "elsewhere"
    mf.photo(root / "a.jpg", seed=1)
    mf.photo(outside / "b.jpg", seed=2)
    os.symlink(outside, root / "elsewhere")
    os.symlink(root, outside / "back")         # a loop through the outside
    os.symlink("/proc/self", root / "proc")
    os.symlink("/dev", root / "devices")
    catalog = Catalog(tmp_path / "catalog.db")
    try:
        report = scan(catalog, [str(root)], follow_links=True)
        assert {m.path for m in catalog.media.pending()} == {str(root / "a.jpg"), str(root / "elsewhere" / "b.jpg")}
        assert report.found == 2 and set(report.skipped) == {str(root / "proc"), str(root / "devices")}
        assert all("a link into a system folder" in why for why in report.skipped.values())
    finally:
        catalog.close()
