"""Index -> search through the real engine with the tiny-test model: no mocks of open_clip, hnswlib, PyAV, SQLite."""
import shutil
import threading

import numpy as np
import pytest

from core import store as cat
from core.indexer import IndexJob
from core.library import Library, ModelMismatch
from core.search.ranking import search


def search_image(lib, path, k=20):
    return search(lib, image_path=str(path), k=k).results


def search_text(lib, text, k=20):
    return search(lib, text, k=k).results
from tests import media_factory as mf


def index(lib, *paths, cancel=None):
    job = IndexJob(lib, [str(p) for p in paths], cancel)
    for _ in job.run():
        pass
    return job.report


def test_search_by_image_returns_that_image_first(make_library, photos):
    lib = make_library()
    report = index(lib, photos)
    assert report.embedded_files == 6 and report.errors == 0
    for name in ("photo3.jpg", "trip/beach.png"):
        results = search_image(lib, str(photos / name), k=3)
        assert results[0].path == str(photos / name)
        assert results[0].kind == "image" and results[0].timestamp is None
        assert results[0].score == pytest.approx(1.0, abs=1e-3)
        assert results[0].score > results[1].score


def test_text_search_runs_the_text_tower(make_library, photos):
    lib = make_library()
    index(lib, photos)
    results = search_text(lib, "a red circle on a blue wall", k=4)
    assert 3 <= len(results) <= 4  # the best three always; a fourth only if it stands out from the background
    assert {r.path for r in results} <= {str(p) for p in photos.rglob("*.*")}
    assert all(-1.0 <= r.score <= 1.0 for r in results)
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)


def test_a_video_frame_is_found_with_its_timestamp(make_library, tmp_path):
    folder = tmp_path / "media"
    mf.video(folder / "holiday.mp4", [11, 12, 13, 14, 15], scene_seconds=3.0)
    mf.photo(folder / "other.jpg", 99)
    lib = make_library()
    index(lib, folder)
    # The 4th scene (seed 14) runs from 9 s to 12 s; a still of it must lead to that moment of the video.
    query = mf.photo(tmp_path / "query.png", 14)
    best = search_image(lib, str(query), k=2)[0]
    assert best.path == str(folder / "holiday.mp4") and best.kind == "video"
    assert 9.0 <= best.timestamp < 12.0
    assert best.duration == pytest.approx(15.0, abs=0.2)
    assert best.moments[0]["timestamp"] == best.timestamp
    frames = lib.catalog.media.frame_timestamps(best.media_id)
    assert len(frames) >= 7 and best.timestamp in frames
    assert lib.thumbnails.get(lib.catalog.media.get(best.media_id).fingerprint, best.timestamp) is not None


def test_reindex_of_unchanged_folder_embeds_nothing(make_library, photos):
    lib = make_library()
    index(lib, photos)
    labels_before = set(lib.index.labels)
    report = index(lib, photos)
    assert report.embedded_items == 0 and report.embedded_files == 0
    assert report.scan.unchanged == 6 and report.scan.new == 0
    assert set(lib.index.labels) == labels_before


def test_changed_file_is_reindexed(make_library, photos):
    lib = make_library()
    index(lib, photos)
    mf.photo(photos / "photo1.jpg", seed=500, size=(300, 200))
    report = index(lib, photos)
    assert report.scan.changed == 1 and report.embedded_files == 1
    assert search_image(lib, str(photos / "photo1.jpg"), 1)[0].score == pytest.approx(1.0, abs=1e-3)


def test_deleted_file_disappears_from_results(make_library, photos):
    lib = make_library()
    index(lib, photos)
    target = photos / "photo2.jpg"
    probe = mf.photo(photos.parent / "probe.jpg", 2)  # same picture, outside the library
    target.unlink()
    report = index(lib, photos)
    assert report.scan.missing == 1
    assert str(target) not in {r.path for r in search_image(lib, str(probe), 10)}
    assert lib.catalog.media.by_path(str(target)).status == cat.MISSING
    assert len(lib.index) == 5  # out of the index too, not only filtered from the results


def test_moved_file_keeps_its_row_and_vectors(make_library, photos):
    lib = make_library()
    index(lib, photos)
    old = photos / "photo4.jpg"
    before = lib.catalog.media.by_path(str(old))
    labels = lib.catalog.items.labels_of(before.id)
    new = photos / "elsewhere" / "renamed.jpg"
    new.parent.mkdir()
    shutil.move(old, new)
    report = index(lib, photos)
    assert report.scan.moved == 1 and report.embedded_items == 0
    after = lib.catalog.media.by_path(str(new))
    assert after.id == before.id and after.status == cat.INDEXED
    assert lib.catalog.items.labels_of(after.id) == labels
    assert lib.catalog.media.by_path(str(old)) is None
    assert search_image(lib, str(new), 1)[0].path == str(new)


def test_file_moved_to_another_root_later_is_recognised(make_library, photos, tmp_path):
    lib = make_library()
    index(lib, photos)
    other = tmp_path / "disk2"
    other.mkdir()
    shutil.move(photos / "photo0.jpg", other / "photo0.jpg")
    index(lib, photos)                     # the file is missing now
    report = index(lib, other)             # and turns up under a new folder
    assert report.scan.moved == 1 and report.embedded_items == 0


def test_file_moved_between_two_roots_in_one_run_is_recognised(make_library, tmp_path):
    a, b = tmp_path / "z_old", tmp_path / "a_new"  # roots are scanned in name order: the new place first
    mf.photo(a / "x.jpg", 1)
    b.mkdir()
    lib = make_library()
    index(lib, b, a)
    shutil.move(a / "x.jpg", b / "x.jpg")
    report = index(lib)
    assert report.scan.moved == 1 and report.embedded_items == 0
    assert len(lib.index) == 1 and lib.index.labels == set(lib.catalog.items.live_labels().tolist())


def test_library_remembers_its_model_and_a_changed_setting_asks_to_reembed(make_library, photos, tmp_path):
    lib = make_library()
    index(lib, photos)
    lib.close()
    again = Library(tmp_path / "library")
    assert again.model_spec == "tiny-test" and again.settings.model == "tiny-test"
    again.settings.model = "ViT-B-32:laion2b_s34b_b79k"
    again.save_settings()
    again.close()
    changed = Library(tmp_path / "library")
    with pytest.raises(ModelMismatch, match="reembed"):
        changed.check_model()
    changed.close()


def test_another_model_is_refused(make_library, photos, tmp_path):
    lib = make_library()
    index(lib, photos)
    lib.close()
    other = Library(tmp_path / "library", "ViT-B-32:laion2b_s34b_b79k")
    with pytest.raises(ModelMismatch, match="reembed"):
        _ = other.index
    with pytest.raises(ModelMismatch):
        index(other, photos)
    other.close()


def test_bad_files_are_recorded_and_the_rest_indexes(make_library, photos):
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    mf.audio_only(photos / "voice.mp4")
    lib = make_library()
    report = index(lib, photos)
    assert report.errors == 2 and report.embedded_files == 6
    errors = {m.path: m.error for m in lib.catalog.media.with_status(cat.ERROR)}
    assert errors[str(photos / "broken.jpg")] == "damaged photo (its data is corrupted)"
    assert "no video stream" in errors[str(photos / "voice.mp4")]
    # Fixed later: picked up by the next scan.
    mf.photo(photos / "broken.jpg", 77)
    report = index(lib, photos)
    assert report.embedded_files == 1 and lib.catalog.media.by_path(str(photos / "broken.jpg")).status == cat.INDEXED


def test_cancelled_run_keeps_its_work_and_resumes(make_library, tmp_path):
    folder = tmp_path / "many"
    for i in range(40):
        mf.photo(folder / f"p{i:02}.jpg", 1000 + i, size=(96, 64))
    lib = make_library()
    lib.settings.batch_size = 4
    cancel = threading.Event()
    job = IndexJob(lib, [str(folder)], cancel)
    for progress in job.run():
        if progress.stage == "embed" and progress.done >= 8:
            cancel.set()
    assert job.report.cancelled
    first = job.report.embedded_files
    assert 8 <= first < 40
    assert len(lib.catalog.media.pending()) == 40 - first
    report = index(lib, folder)
    assert report.embedded_files == 40 - first
    assert lib.catalog.items.count() == 40 and len(lib.index) == 40


def test_lost_index_is_rebuilt_from_the_catalog(make_library, photos, tmp_path):
    lib = make_library()
    index(lib, photos)
    lib.close()
    shutil.rmtree(tmp_path / "library" / "vectors")
    again = Library(tmp_path / "library")
    assert again.model_spec == "tiny-test"  # the library remembers its model
    assert len(again.index) == 6
    assert search_image(again, str(photos / "photo1.jpg"), 1)[0].path == str(photos / "photo1.jpg")
    again.close()


def test_index_behind_the_catalog_is_caught_up(make_library, photos, tmp_path):
    """A crash after the catalog committed but before the index was saved: the next open reconciles."""
    lib = make_library()
    index(lib, photos)
    saved = lib.index.generation
    lib.mark_index_dirty()
    extra = mf.photo(photos / "late.jpg", 123)
    vector = lib.embedder.encode_images([lib.embedder.preprocess(mf.picture(123))])[0]
    with lib.catalog.transaction():
        mid = lib.catalog.media.add(str(extra), "image", extra.stat().st_size, 0, "fp")
        lib.catalog.items.add(mid, None, lib.catalog.items.model_id("tiny-test", lib.dim), vector)
        lib.catalog.media.update(mid, status=cat.INDEXED)
    lib.close()
    again = Library(tmp_path / "library")
    assert again.index.generation == saved and len(again.index) == 7
    labels, _ = again.index.search(vector, 1)
    assert again.catalog.items.resolve(labels)[int(labels[0])].path == str(extra)
    again.close()


def test_forget_removes_from_library_not_disk(make_library, photos):
    lib = make_library()
    index(lib, photos)
    assert lib.forget(str(photos / "trip")) == 1
    assert (photos / "trip" / "beach.png").exists()
    assert str(photos / "trip" / "beach.png") not in {r.path for r in search_image(lib, str(photos / "trip" / "beach.png"), 10)}
    assert len(lib.index) == 5


def test_forgotten_file_stays_out_until_indexed_again(make_library, photos):
    lib = make_library()
    index(lib, photos)
    target = str(photos / "photo0.jpg")
    assert lib.forget(target) == 1
    assert index(lib).scan.new == 0 and lib.catalog.media.by_path(target) is None
    report = index(lib, target)
    assert report.embedded_files == 1 and lib.catalog.media.roots() == [str(photos)]


def test_a_folder_indexed_again_inside_a_forgotten_one_is_kept(make_library, tmp_path):
    """Forgetting album/b keeps it out of album's scans; indexing album/b/c again makes that a library folder of its
    own, so the next scans neither lose its files (they were marked gone) nor bring the rest of album/b back."""
    album = tmp_path / "album"
    mf.photo(album / "x.jpg", 1)
    mf.photo(album / "b" / "y.jpg", 2)
    mf.photo(album / "b" / "c" / "z.jpg", 3)
    lib = make_library()
    index(lib, album)
    assert lib.forget(str(album / "b")) == 2
    assert index(lib, album / "b" / "c").scan.new == 1
    assert lib.catalog.media.roots() == [str(album), str(album / "b" / "c")]
    z = str(album / "b" / "c" / "z.jpg")
    report = index(lib).scan
    assert report.missing == 0 and report.new == 0
    assert {m.path: m.status for m in lib.catalog.media.all()} == {str(album / "x.jpg"): "indexed", z: "indexed"}
    assert search_image(lib, z, k=1)[0].path == z
    # A library from before kept no folder of its own for album/b/c: album's scan, which skips album/b, does not
    # take its file for gone while it is on disk; once it is gone, it is.
    lib.catalog.media.remove_root(str(album / "b" / "c"))
    assert index(lib).scan.missing == 0 and lib.catalog.media.by_path(z).status == "indexed"
    (album / "b" / "c" / "z.jpg").unlink()
    assert index(lib).scan.missing == 1 and lib.catalog.media.by_path(z).status == "missing"
    # Indexing album itself again lifts what was forgotten in it.
    assert index(lib, album).scan.new == 1 and lib.catalog.media.excluded() == set()


def test_a_file_is_dated_by_its_capture_date_else_by_its_file_date(make_library, tmp_path):
    """Browsing, date filters and the results all place a file without a capture date by its file date, and say
    which date it is (core.media.dates)."""
    import datetime as dt
    import os

    from PIL import Image

    from core import services

    album = tmp_path / "album"
    exif = Image.Exif()
    exif[0x0132] = "2019:07:12 10:00:00"
    mf.photo(album / "camera.jpg", 1, exif=exif)
    plain = mf.photo(album / "screenshot.png", 2)
    mtime = int(dt.datetime(2020, 2, 2, 12, 0, 0).timestamp()) * 10**9
    os.utime(plain, ns=(mtime, mtime))
    os.utime(album / "camera.jpg", ns=(mtime + 10**9, mtime + 10**9))  # a newer file date: the capture date wins
    lib = make_library()
    index(lib, album)

    rows = services.browse(lib)
    assert [(os.path.basename(r["path"]), r["date"], r["dated_by"]) for r in rows] == [
        ("screenshot.png", "2020-02-02T12:00:00", "file"), ("camera.jpg", "2019-07-12T10:00:00", "capture")]
    assert [r["captured_at"] for r in rows] == ["2020-02-02T12:00:00", "2019-07-12T10:00:00"]  # as the app reads it

    found = search(lib, "photos from 2020").results
    assert [(os.path.basename(r.path), r.captured_at, r.date, r.dated_by) for r in found] == [
        ("screenshot.png", None, "2020-02-02T12:00:00", "file")]
    assert [os.path.basename(r.path) for r in search(lib, "photos from July 2019").results] == ["camera.jpg"]
    both = {os.path.basename(r.path): r.to_json() for r in search_image(lib, plain, k=2)}
    assert both["camera.jpg"]["captured_at"] == both["camera.jpg"]["date"] == "2019-07-12T10:00:00"
    assert both["camera.jpg"]["dated_by"] == "capture" and both["screenshot.png"]["dated_by"] == "file"
    listed = {os.path.basename(m.path): services.media_json(m) for m in lib.catalog.media.all()}
    assert listed["screenshot.png"]["captured_at"] is None and listed["screenshot.png"]["date"] == "2020-02-02T12:00:00"


def test_reembed_requeues_everything_and_keeps_rows(make_library, photos, tmp_path):
    lib = make_library()
    index(lib, photos)
    ids = {m.path: m.id for m in lib.catalog.media.all()}
    lib.close()
    other = Library(tmp_path / "library", "tiny-test")
    assert other.reembed() == 6
    report = index(other)
    assert report.embedded_files == 6
    assert {m.path: m.id for m in other.catalog.media.all()} == ids
    other.close()


def test_vectors_are_unit_length_and_deterministic(make_library):
    lib = make_library()
    e = lib.embedder
    a = e.encode_images([e.preprocess(mf.picture(5))])
    b = e.encode_images([e.preprocess(mf.picture(5))])
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert e.encode_texts(["one", "two"]).shape == (2, e.dim)


def test_progress_counts_the_frames_of_a_long_video_as_they_are_sampled(make_library, tmp_path, monkeypatch):
    """The bar, the rate and the time left are in pictures (a photo 1, a video the frames its header promises):
    while a video is sampled, progress comes (heartbeats, no file finished) and grows, frame by frame, and it
    ends at the total with the seconds of video indexed."""
    import core.indexer as indexer
    from core.media import video as video_mod

    folder = tmp_path / "media"
    mf.photo(folder / "a.jpg", 1)
    mf.photo(folder / "b.jpg", 2)
    mf.video(folder / "programme.mp4", list(range(10)), scene_seconds=4.0, fps=5, size=(160, 120))
    real = video_mod._Sampler._convert_full  # the indexer asks for model inputs: each frame converted in full

    def slow(self, frame, t):  # a long programme's frames, in miniature: each takes a moment
        import time
        time.sleep(0.03)
        return real(self, frame, t)

    monkeypatch.setattr(video_mod._Sampler, "_convert_full", slow)
    monkeypatch.setattr(indexer, "HEARTBEAT_S", 0.01)
    lib = make_library()
    lib.settings.video_interval = 2.0
    lib.settings.decode_workers = 1  # files one after the other: the video's frames are all the work in progress
    job = IndexJob(lib, [str(folder)])
    seen = [p for p in job.run() if p.stage == "embed"]
    planned = video_mod.planned_frames(str(folder / "programme.mp4"), 2.0, lib.settings.video_max_frames)[1]
    assert seen[-1].work_total == 2 + planned and planned >= 15
    assert seen[-1].work_done == seen[-1].work_total
    assert [p.work_done for p in seen] == sorted(p.work_done for p in seen)
    during = [p for p in seen if p.path is None and 0 < p.work_done < p.work_total and p.done < 3]
    assert len({p.work_done for p in during}) >= 3  # moved within the video, before it finished
    assert seen[-1].video_seconds == pytest.approx(40.0, abs=0.5)

