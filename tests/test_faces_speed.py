"""The cheaper face stage (issue 14): YuNet on a smaller copy of the face detail image must find the faces detection
on the whole image finds, and SFace on a batch must give each face the descriptor it gets on its own."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.faces.detection import DETECT_SIDE, pil_to_bgr
from core.media.images import decode_image
from core.registry import face_backend
from core.settings import Settings

FACES = Path(__file__).parent / "data" / "faces"
FACES_DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "faces-dev" / "images"
# Below this (px of the 1024-px detail image) a face may be missed on the smaller copy: YuNet needs ~12 px there, and
# 16 px at 1024 is 12.5 px at 800. Such faces are bystanders that never found or join a person (face_min_size 32),
# and detection on the whole image misses some of them too when the photo merely moves by a few pixels.
SMALLEST_KEPT = 16.0


def _iou(a, b) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / (a[2] * a[3] + b[2] * b[3] - ix * iy)


def _photos():
    photos = sorted(FACES.glob("*.jpg"))
    if FACES_DEV.is_dir():
        photos += sorted(FACES_DEV.glob("*.jpg"))
    return photos


def _lost(backend, bgr):
    """Faces found on the whole image and not on the fast path's copy (no fast face at IoU >= 0.5)."""
    full, fast = backend.detect(bgr, None), backend.detect(bgr)
    return full, fast, [f for f in full if not any(_iou(f.box, g.box) >= 0.5 for g in fast)]


def _enlarged(tmp_path) -> list:
    """The credited test photos at 1.6x: detail images over DETECT_SIDE, so the fast path is exercised even where
    faces-dev is not at hand (a clean clone in CI)."""
    from PIL import Image

    out = []
    for path in sorted(FACES.glob("*.jpg")):
        image = Image.open(path).convert("RGB")
        big = tmp_path / f"big-{path.name}"
        image.resize((int(image.width * 1.6), int(image.height * 1.6)), Image.Resampling.BICUBIC).save(big, quality=92)
        out.append(big)
    return out


def test_the_fast_detection_path_finds_every_face_the_full_scale_path_finds(tmp_path):
    backend = face_backend()
    detail = Settings().face_detail
    checked, reduced, small_lost = 0, 0, []
    for path in _photos() + _enlarged(tmp_path):
        bgr = pil_to_bgr(decode_image(str(path), 256, detail).detail)
        reduced += max(bgr.shape[:2]) > DETECT_SIDE  # the fast path detects on a smaller copy of this one
        full, fast, lost = _lost(backend, bgr)
        checked += len(full)
        assert not [f for f in lost if f.size >= SMALLEST_KEPT], (path.name, [(f.box, f.score) for f in lost])
        small_lost += [(path.name, round(f.size, 1)) for f in lost]
        for f in full:  # boxes and landmarks come back in pixels of the image given, not of the smaller copy
            g = max(fast, key=lambda g: _iou(f.box, g.box), default=None)
            if g is not None and _iou(f.box, g.box) >= 0.5:
                assert np.abs(g.landmarks - f.landmarks).max() < 0.25 * f.size + 2, path.name
    assert checked >= 12 and reduced >= 6
    if FACES_DEV.is_dir():
        assert checked >= 80  # 82 faces at 1024 px when this was measured: 76 on faces-dev, 6 on the test photos
        assert small_lost == [("img55.jpg", pytest.approx(11.7, abs=3))]  # the one 12-px bystander, score 0.69


def test_a_small_bystander_is_still_found(tmp_path):
    """test_people's tiny bystander (about 30 px at 1024): too small to found a person, but it shows in its photo."""
    img = Image.open(FACES / "person_a_2.jpg").convert("RGB")
    canvas = Image.new("RGB", (1200, 900), (90, 120, 90))
    canvas.paste(img.resize((img.width // 10, img.height // 10)), (40, 40))
    canvas.save(tmp_path / "tiny.jpg")
    bgr = pil_to_bgr(decode_image(str(tmp_path / "tiny.jpg"), 256, Settings().face_detail).detail)
    full, fast, lost = _lost(face_backend(), bgr)
    assert len(full) == 1 and len(fast) == 1 and not lost


def test_batched_recogniser_gives_the_descriptors_of_single_calls():
    backend = face_backend()
    crops = []
    for path in _photos()[:12]:
        bgr = pil_to_bgr(decode_image(str(path), 256, Settings().face_detail).detail)
        faces = backend.analyse(bgr)
        crops += [f.crop for f in faces]
        batch_of_photo = np.stack([f.embedding for f in faces])
        alone = np.concatenate([backend.recognise([f.crop]) for f in faces])
        np.testing.assert_allclose(batch_of_photo, alone, atol=1e-5)  # analyse's embeddings are the batched ones
    assert len(crops) >= 6
    batch = backend.recognise(crops)
    alone = np.concatenate([backend.recognise([c]) for c in crops])
    assert batch.shape == (len(crops), backend.dim)
    np.testing.assert_allclose(batch, alone, atol=1e-5)
    assert np.linalg.norm(batch, axis=1) == pytest.approx(1.0, abs=1e-5)
    assert backend.recognise([]).shape == (0, backend.dim)


def test_pil_to_bgr_is_the_same_array_as_before():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    for image in (Image.fromarray(rgb), Image.fromarray(rgb).convert("RGBA"), Image.fromarray(rgb[:, :, 0])):
        before = np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])
        now = pil_to_bgr(image)
        assert now.flags.c_contiguous and now.flags.writeable and now.dtype == np.uint8
        np.testing.assert_array_equal(now, before)


@pytest.mark.skipif(not FACES_DEV.is_dir(), reason="needs ../shared/data/faces-dev")
def test_no_face_of_16_px_or_more_is_lost_on_generated_12_mp_photos(tmp_path):
    """faces-dev photos pasted at several sizes into 4000x3000 photos (bench.face_stage): faces down to ~10 px."""
    from bench.face_stage import generated_with_faces

    backend = face_backend()
    checked, lost_sizes = 0, []
    for path in generated_with_faces(tmp_path, FACES_DEV.parent):
        bgr = pil_to_bgr(decode_image(str(path), 256, Settings().face_detail).detail)
        full, _, lost = _lost(backend, bgr)
        checked += len(full)
        lost_sizes += [round(f.size, 1) for f in lost]
    assert checked >= 80  # 89 when this was measured
    assert all(size < SMALLEST_KEPT for size in lost_sizes), lost_sizes  # 640 px would lose faces of up to 23 px
