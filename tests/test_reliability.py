"""Bad input, concurrent writers, the user's files untouched, and kill -9 at random points (a short version of
`python -m tests.reliability`)."""
import os
import subprocess

import pytest

from core import store as cat
from core.indexer import IndexJob
from tests import corpus
from tests import reliability


def index(lib, *paths):
    job = IndexJob(lib, [str(p) for p in paths])
    for _ in job.run():
        pass
    return job.report


def test_bad_input_gives_one_error_each_and_the_rest_indexes(make_library, tmp_path):
    folder = tmp_path / "corpus"
    expect = corpus.build(folder)
    lib = make_library()
    report = index(lib, folder)
    got = {os.path.basename(m.path): (m.status, m.error) for m in lib.catalog.media.all()}
    assert set(got) == set(expect), set(got) ^ set(expect)
    for name, outcome in expect.items():
        status, error = got[name]
        if outcome == "ok":
            assert status == cat.INDEXED, (name, error)
        else:
            assert status == cat.ERROR and error, name
    # The decoder's errors; the broken link is recorded by the scanner, before any decoding.
    assert report.errors == sum(1 for n, e in expect.items() if e == "error" and n != "broken-link.jpg")
    assert "too large" in got["bomb.png"][1] and "no video stream" in got["audio-only.mp4"][1]
    assert "broken symbolic link" in got["broken-link.jpg"][1]
    two_hours = lib.catalog.media.by_path(str(folder / "two-hours.mp4"))
    assert len(lib.catalog.media.frame_timestamps(two_hours.id)) <= lib.settings.video_max_frames


def test_a_file_that_vanishes_while_being_read_is_an_error_not_a_crash(make_library, tmp_path):
    from tests import media_factory as mf

    lib = make_library()
    p = mf.photo(tmp_path / "gone" / "x.jpg", 1)
    with lib.catalog.transaction():
        mid = lib.catalog.media.add(str(p), "image", p.stat().st_size, 0, "fp")
    p.unlink()
    decoded = IndexJob(lib).decode(lib.catalog.media.get(mid))
    assert decoded.error == "file vanished while being indexed"


def test_full_disk_stops_cleanly_and_resumes(tmp_path):
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        outcome = reliability.full_disk(tmp_path / "photos", mnt)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
    assert outcome["first_exit"] == 1 and outcome["one_line"] and not outcome["traceback"]
    assert outcome["integrity"] == "ok" and outcome["resumed_all"]


def test_user_files_are_never_modified_and_kills_lose_nothing(tmp_path):
    result = reliability.run(tmp_path, kills=3, photos=24, seed=7)
    assert result["crashes"] == 0
    assert result["labels_lost"] == 0 and result["indexed_lost"] == 0
    assert result["kills_survived"] == 3
    assert result["media_changed"] == 0


def test_fuzzing_smoke():
    from tests.fuzz import fuzz

    result = fuzz(8, seed=1)
    assert result["inputs"] > 100 and result["crashes"] == 0, result["details"]


def test_a_second_writer_thread_is_refused_at_once(tmp_path):
    """Within one process too (the GUI's writer thread and a dialog, say): one writer, the other told at once."""
    import threading
    import time

    from core.lock import LibraryBusy, WriteLock

    held, release, outcome = threading.Event(), threading.Event(), {}

    def writer():
        with WriteLock(tmp_path, "indexing"):
            with WriteLock(tmp_path, "grouping faces"):  # the same thread may nest
                held.set()
                release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    assert held.wait(10)
    started = time.monotonic()
    try:
        with WriteLock(tmp_path, "naming people"):
            outcome["got"] = True
    except LibraryBusy as e:
        outcome["refused"] = str(e)
    waited = time.monotonic() - started
    release.set()
    thread.join(10)
    assert "indexing" in outcome.get("refused", "") and waited < 1.0
    with WriteLock(tmp_path, "naming people"):  # free again once the first writer is done
        pass
