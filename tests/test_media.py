import pytest
from PIL import Image

from core.media.images import MediaError, decode_image
from core.media.thumbnails import ThumbnailCache
from core.media.video import sample_video
from tests import media_factory as mf


def test_exif_orientation_is_applied_and_capture_time_read(tmp_path):
    img = mf.picture(1, (400, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    exif.get_ifd(0x8769)[0x9003] = "2023:07:14 18:30:05"
    path = tmp_path / "rot.jpg"
    img.save(path, exif=exif)
    d = decode_image(str(path), 100)
    assert (d.width, d.height) == (200, 400)       # upright size
    assert d.image.size[0] < d.image.size[1]       # portrait after rotation
    assert min(d.image.size) == 100
    assert d.captured_at == "2023-07-14T18:30:05"


def test_large_jpeg_is_decoded_small(tmp_path):
    path = mf.photo(tmp_path / "big.jpg", 1, size=(4000, 3000))
    d = decode_image(str(path), 256)
    assert (d.width, d.height) == (4000, 3000)
    assert min(d.image.size) == 256


@pytest.mark.parametrize("mode", ["RGBA", "P", "L", "CMYK", "I;16"])
def test_unusual_pixel_modes_become_rgb(tmp_path, mode):
    img = Image.new("I;16", (64, 48), 30000) if mode == "I;16" else mf.picture(3).convert(mode)
    path = tmp_path / ("x.tif" if mode in ("CMYK", "I;16") else "x.png")
    img.save(path)
    assert decode_image(str(path), 32).image.mode == "RGB"


@pytest.mark.parametrize("ext", ["jpeg", "png", "webp", "gif", "bmp", "tiff", "heic"])
def test_every_supported_photo_format_decodes(tmp_path, ext):
    path = mf.photo(tmp_path / f"x.{ext}", 4)
    d = decode_image(str(path), 120)
    assert (d.width, d.height) == (320, 240) and d.image.mode == "RGB" and min(d.image.size) == 120


def test_animated_gif_uses_its_first_frame(tmp_path):
    frames = [mf.picture(i, (80, 60)) for i in range(3)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert decode_image(str(path), 60).image.size == (80, 60)


def test_broken_files_raise_a_clear_error(tmp_path):
    good = mf.photo(tmp_path / "good.jpg", 1)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:200])
    liar = tmp_path / "liar.jpg"
    liar.write_text("this is not a jpeg")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    for p in (truncated, liar, empty):
        with pytest.raises(MediaError):
            decode_image(str(p))


def test_thumbnail_cache_round_trip(tmp_path):
    cache = ThumbnailCache(tmp_path)
    p = cache.save(mf.picture(1, (800, 600)), "abcdef", 12.5)
    assert p == cache.get("abcdef", 12.5)
    assert max(Image.open(p).size) <= 256
    assert cache.get("abcdef") is None


def test_short_clip_gets_a_frame_every_interval(tmp_path):
    path = mf.video(tmp_path / "clip.mp4", [1, 2, 3, 4], scene_seconds=2.5)
    v = sample_video(str(path), interval=2.0)
    ts = [f.timestamp for f in v.frames]
    assert v.duration == pytest.approx(10.0, abs=0.2)
    assert (v.width, v.height) == (320, 240)
    assert ts[0] == 0.0 and ts == sorted(ts)
    assert 5 <= len(ts) <= 8
    assert all(min(f.image.size) == 240 for f in v.frames)


def test_phone_rotation_is_applied(tmp_path):
    path = mf.video(tmp_path / "portrait.mp4", [1, 2], scene_seconds=1.0, rotation=90)
    v = sample_video(str(path), interval=1.0)
    assert (v.width, v.height) == (240, 320)
    assert v.frames[0].image.size[0] < v.frames[0].image.size[1]


def test_long_video_is_capped_and_spread(tmp_path):
    path = mf.video(tmp_path / "long.mp4", list(range(12)), scene_seconds=10, fps=5, size=(160, 120), gop=25)
    v = sample_video(str(path), interval=1.0, max_frames=20)
    ts = [f.timestamp for f in v.frames]
    assert len(ts) <= 20
    assert ts[-1] > 100  # reaches the end of the 120-s video, not just its start


def test_two_hour_film_stays_capped_and_keeps_room_for_scene_changes(tmp_path):
    # 2 hours at 1 fps and 64x48: a film's length and structure (a new shot every 100 s) in seconds of encoding.
    path = mf.video(tmp_path / "film.mp4", list(range(72)), scene_seconds=100, fps=1, size=(64, 48), gop=12)
    v = sample_video(str(path), interval=2.0, max_frames=300)
    ts = [f.timestamp for f in v.frames]
    assert v.duration == pytest.approx(7200, abs=2)
    assert 240 <= len(ts) <= 300 and ts == sorted(set(ts))
    assert ts[-1] > 7000
    assert any(f.scene_change for f in v.frames)


def test_scene_changes_add_frames(tmp_path):
    path = mf.video(tmp_path / "cuts.mp4", [1, 2, 3, 4, 5, 6], scene_seconds=4, fps=5, size=(160, 120))
    v = sample_video(str(path), interval=8.0, scene_threshold=0.05)
    assert any(f.scene_change for f in v.frames)
    assert len(v.frames) > 3  # 24 s at one frame per 8 s gives 3; the cuts between them add more


def test_video_without_video_stream_is_an_error(tmp_path):
    path = mf.audio_only(tmp_path / "voice.mp4")
    with pytest.raises(MediaError, match="no video stream"):
        sample_video(str(path))


def test_garbage_video_is_an_error(tmp_path):
    path = tmp_path / "junk.mp4"
    path.write_bytes(b"\x00" * 5000)
    with pytest.raises(MediaError):
        sample_video(str(path))


# -- when a file was taken (core.media.dates) -----------------------------------------------------------------------
def _ns(when) -> int:
    return int(when.timestamp()) * 10**9


def test_the_capture_date_wins_over_the_file_date():
    import datetime as dt

    from core.media.dates import CAPTURE, taken

    t = taken("2019-07-12T10:00:00", _ns(dt.datetime(2024, 1, 1, 9)))
    assert (t.at, t.by, t.text) == (dt.datetime(2019, 7, 12, 10), CAPTURE, "2019-07-12T10:00:00")
    video = taken("2019-07-12T23:30:00+00:00", None)   # a video's UTC clock, taken as written
    assert (video.at, video.by, video.text) == (dt.datetime(2019, 7, 12, 23, 30), CAPTURE, "2019-07-12T23:30:00+00:00")


def test_without_a_capture_date_the_file_date_stands_in_and_says_so():
    import datetime as dt

    from core.media.dates import FILE, taken

    mtime = _ns(dt.datetime(2020, 2, 2, 12, 0, 5)) + 123_456_789   # to the second when shown
    for captured in (None, "", "not a date", "2019:07:12 10:00:00"):  # absent, or unreadable as ISO 8601
        t = taken(captured, mtime)
        assert (t.at.replace(microsecond=0), t.by, t.text) == (dt.datetime(2020, 2, 2, 12, 0, 5), FILE,
                                                               "2020-02-02T12:00:05")


def test_a_file_without_either_date_has_none():
    from core.media.dates import taken

    assert taken(None, 0) is None and taken(None, None) is None and taken("", 0) is None
    assert taken(None, 10**30) is None   # a modification time no calendar holds


def test_newest_first_puts_undated_files_last():
    import datetime as dt

    from core.media.dates import newest_first_key, taken

    dates = [taken(None, 0), taken("2018-01-01T00:00:00", 0), taken(None, _ns(dt.datetime(2020, 1, 1))),
             taken("2019-06-01T00:00:00+02:00", 0)]
    ordered = sorted(dates, key=newest_first_key, reverse=True)
    assert [d.text[:4] if d else None for d in ordered] == ["2020", "2019", "2018", None]


@pytest.mark.parametrize("kind", ["cuts", "sparse_keyframes", "dense", "low_frame_rate"])
def test_faces_are_looked_for_only_in_the_frames_that_are_kept(tmp_path, kind):
    """Each frame shown to `on_frame` (the face stage) is a frame of the result, once: a frame sampled and then
    dropped (a scene-change candidate too near a sample, a seek landing on a frame already kept) costs no faces."""
    if kind == "cuts":
        path = mf.video(tmp_path / "v.mp4", [1, 2, 3, 4, 5, 6, 7, 8], scene_seconds=3, fps=5, size=(160, 120), gop=15)
        args = dict(interval=4.0, scene_threshold=0.02)
    elif kind == "sparse_keyframes":
        path = mf.video(tmp_path / "v.mp4", [1, 2, 3, 4], scene_seconds=5, fps=10, size=(160, 120), gop=100)
        args = dict(interval=0.7, scene_threshold=0.02)
    elif kind == "dense":
        path = mf.video(tmp_path / "v.mp4", [1, 2, 3], scene_seconds=2, fps=25, size=(160, 120), gop=5)
        args = dict(interval=0.3, scene_threshold=0.02)
    else:  # 2 fps sampled every 0.3 s: several targets fall on one frame (before: 39 frames looked at, 24 kept)
        path = mf.video(tmp_path / "v.mp4", [1, 2, 3, 4], scene_seconds=3, fps=2, size=(160, 120), gop=6)
        args = dict(interval=0.3, scene_threshold=0.02)
    shown, heard = [], []
    v = sample_video(str(path), **args, detail_side=120, on_frame=lambda t, image: shown.append(t),
                     on_sample=lambda frame: heard.append(frame.timestamp))
    kept = [f.timestamp for f in v.frames]
    assert sorted(shown) == kept == sorted(heard)
    assert len(set(kept)) == len(kept)


def test_the_planned_frames_are_the_regular_samples_taken(tmp_path):
    from core.media.video import planned_frames

    for i, (seconds, interval, cap) in enumerate([(10, 2.0, 300), (24, 1.0, 20), (3, 5.0, 300)]):
        path = mf.video(tmp_path / f"v{i}.mp4", list(range(seconds // 2 or 1)), scene_seconds=2, fps=5,
                        size=(96, 64))
        v = sample_video(str(path), interval=interval, max_frames=cap, scene_threshold=1.0)  # no scene frames
        duration, planned = planned_frames(str(path), interval, cap)
        assert duration == pytest.approx(v.duration, abs=0.01)
        assert abs(planned - len(v.frames)) <= 1, (seconds, interval, planned, len(v.frames))
    assert planned_frames(str(tmp_path / "missing.mp4")) == (0.0, 1)
