"""A video's frames go to the image tower while the video is still decoded (core/indexer.py, `Decoded.stream`).

The invariant in every state a run can be left in: a video is either indexed whole (every frame its sampler kept,
each stored once, its faces or its face error recorded) or not at all (pending, or an error, with nothing of it
stored or searchable) — after a cancel, a consumer that walks away, a file that vanishes half-way, a face
recogniser that fails. Real PyAV, real catalog, the tiny random-weight model.
"""
import threading
import time

import pytest

import core.indexer as indexer
from core.indexer import IndexJob
from core.media import video as video_mod
from core.store import ERROR, INDEXED
from tests import media_factory as mf
from tests.test_people import FailsFirst


@pytest.fixture
def slow_frames(monkeypatch):
    """Each kept frame takes a moment, as a long programme's frames do in a real run."""
    real = video_mod._Sampler._convert_full
    calls = []

    def slow(self, frame, t):
        calls.append(t)
        time.sleep(0.02)
        return real(self, frame, t)

    monkeypatch.setattr(video_mod._Sampler, "_convert_full", slow)
    monkeypatch.setattr(indexer, "HEARTBEAT_S", 0.01)
    return calls


def _programme(folder):
    return mf.video(folder / "programme.mp4", list(range(10)), scene_seconds=4.0, fps=5, size=(160, 120))


def _kept(lib, path):
    return video_mod.sample_video(str(path), lib.settings.video_interval, lib.settings.video_max_frames,
                                  lib.settings.video_scene_threshold)


def _stored(lib, path):
    media = lib.catalog.media.by_path(str(path))
    labels = lib.catalog.items.labels_of(media.id)
    return media, labels


def _lib(make_library, faces=False):
    lib = make_library()
    lib.settings.batch_size = 4
    lib.settings.video_interval = 2.0
    lib.settings.faces = faces
    return lib


def test_a_videos_frames_reach_the_image_tower_while_it_is_still_decoded(make_library, tmp_path, slow_frames,
                                                                          monkeypatch):
    video = _programme(tmp_path / "media")
    lib = _lib(make_library)
    encoded, sampled = [], []
    real_encode, real_sample = lib.embedder.encode_images, indexer.sample_video
    monkeypatch.setattr(lib.embedder, "encode_images", lambda b: encoded.append(time.perf_counter()) or
                        real_encode(b))

    def sample(*a, **k):
        try:
            return real_sample(*a, **k)
        finally:
            sampled.append(time.perf_counter())

    monkeypatch.setattr(indexer, "sample_video", sample)
    for _ in IndexJob(lib, [str(tmp_path / "media")]).run():
        pass
    kept = _kept(lib, video)
    media, labels = _stored(lib, video)
    assert media.status == INDEXED and len(kept.frames) >= 15
    assert len(labels) == len(kept.frames) == len(lib.catalog.media.frame_ids(media.id))
    assert sorted(lib.catalog.media.frame_timestamps(media.id)) == [f.timestamp for f in kept.frames]
    assert set(labels) <= set(lib.index.labels)
    assert len(sampled) == 1 and sum(t < sampled[0] for t in encoded) >= 2  # batches embedded before the end


def test_a_cancel_during_a_video_stops_its_decoder_and_the_video_waits_whole(make_library, tmp_path, slow_frames):
    folder = tmp_path / "media"
    video = _programme(folder)
    lib = _lib(make_library)
    cancel = threading.Event()
    job = IndexJob(lib, [str(folder)], cancel)
    for p in job.run():
        if p.stage == "embed" and p.items >= 4:  # a batch of the video is stored
            cancel.set()
    kept = _kept(lib, video)
    assert job.report.cancelled and len(slow_frames) < len(kept.frames)  # the decoder stopped early
    media, _ = _stored(lib, video)
    assert media.status != INDEXED and not set(lib.catalog.items.labels_of(media.id)) & set(lib.index.labels)
    assert not any(r.path == str(video) for r in _search(lib))

    report = index(lib)  # the next run takes it up from the start: every frame once
    media, labels = _stored(lib, video)
    assert report.resumed == 1 and media.status == INDEXED
    assert len(labels) == len(kept.frames) == len(set(lib.catalog.media.frame_timestamps(media.id)))
    assert len(lib.index.labels) == len(labels)


def test_a_consumer_that_walks_away_mid_video_leaves_no_decoder_running(make_library, tmp_path, slow_frames):
    folder = tmp_path / "media"
    video = _programme(folder)
    lib = _lib(make_library)
    run = IndexJob(lib, [str(folder)]).run()
    for p in run:
        if p.stage == "embed" and p.items >= 4:
            break
    started = time.perf_counter()
    run.close()  # the app's window closed, the CLI's Ctrl-C: the generator is closed mid-video
    assert time.perf_counter() - started < 5
    assert not [t for t in threading.enumerate() if t.name.startswith("idlens-")]
    assert len(slow_frames) < len(_kept(lib, video).frames)
    assert _stored(lib, video)[0].status != INDEXED


def test_a_video_that_vanishes_half_way_stores_nothing_and_the_rest_indexes(make_library, tmp_path, monkeypatch):
    folder = tmp_path / "media"
    video = _programme(folder)
    mf.photo(folder / "a.jpg", 1)
    lib = _lib(make_library)
    real = video_mod._Sampler._convert_full
    seen = []

    def vanish(self, frame, t):
        seen.append(t)
        if len(seen) > 9:  # two batches of its frames are stored by now
            raise FileNotFoundError(str(video))
        return real(self, frame, t)

    monkeypatch.setattr(video_mod._Sampler, "_convert_full", vanish)
    report = index(lib, folder)
    media, labels = _stored(lib, video)
    assert media.status == ERROR and media.error == "file vanished while being indexed" and labels == []
    assert not lib.catalog.media.frame_ids(media.id)
    assert report.embedded_files == 1 and lib.catalog.media.by_path(str(folder / "a.jpg")).status == INDEXED
    assert len(lib.index.labels) == 1


def test_a_face_failure_in_a_video_keeps_its_frames_and_decodes_it_once(make_library, tmp_path, monkeypatch):
    from core import registry

    folder = tmp_path / "media"
    video = mf.video(folder / "faces.mp4", [1, 2, 3, 4, 5, 6], scene_seconds=3.0, fps=5, size=(320, 240))
    flaky = FailsFirst(failures=3)  # fails on the video's first frames, then would work
    monkeypatch.setitem(registry.FACE_BACKENDS, "flaky-video", lambda: flaky)
    monkeypatch.delitem(registry._faces, "flaky-video", raising=False)  # one per process: this test's own
    lib = _lib(make_library, faces=True)
    lib.settings.face_backend = "flaky-video"
    calls = []
    real = indexer.sample_video
    monkeypatch.setattr(indexer, "sample_video", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    report = index(lib, folder)
    media, labels = _stored(lib, video)
    assert calls == [str(video)]  # not decoded again to go on without faces
    assert media.status == INDEXED and len(labels) == len(_kept(lib, video).frames)
    assert report.face_errors == 1 and media.faces_error and "recogniser crashed" in media.faces_error
    assert media.faces_backend is None and lib.catalog.faces.counts() == (0, 0)

    report = index(lib)  # the next index retries the faces, and embeds nothing again
    media, again = _stored(lib, video)
    assert report.embedded_files == 0 and report.faces_analysed == 1 and again == labels
    assert media.faces_error is None and media.faces_backend == "yunet-sface"


def index(lib, *paths):
    job = IndexJob(lib, [str(p) for p in paths])
    for _ in job.run():
        pass
    return job.report


def _search(lib):
    from core.search.ranking import search

    return search(lib, "a programme", k=50).results
