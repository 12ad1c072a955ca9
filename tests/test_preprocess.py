"""Idlens feeds the image tower what open_clip would: its decode + preprocessing against open_clip's own `preprocess`
on the full-resolution decode, relative L2 error of the input tensor at most 2 % per image, on real photos (credited,
tests/data/faces), a generated 12-MP photo, small and EXIF-rotated photos, and video frames. Random weights are nearly
blind to input changes, so this tensor check is the one that says open_clip's published quality carries over."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from core.clip.preprocess import Preprocess
from core.media.images import decode_image
from core.media.video import sample_video
from tests import media_factory as mf

open_clip = pytest.importorskip("open_clip")
FACES = Path(__file__).parent / "data" / "faces"
LIMIT = 0.02


@pytest.fixture(scope="module", params=[224, 256])
def pipelines(request):
    """(ours, open_clip's) for a 224-px and a 256-px CLIP (ViT-B-32 and ViT-B-32-256 configs)."""
    arch = "ViT-B-32" if request.param == 224 else "ViT-B-32-256"
    import logging

    logging.disable(logging.WARNING)
    try:
        _, _, theirs = open_clip.create_model_and_transforms(arch)
    finally:
        logging.disable(logging.NOTSET)
    return Preprocess(size=(request.param, request.param)), theirs


def _error(ours: np.ndarray, theirs) -> float:
    theirs = theirs.numpy()
    assert ours.shape == theirs.shape and ours.dtype == np.float32
    return float(np.linalg.norm(ours - theirs) / np.linalg.norm(theirs))


def _photos(tmp_path) -> list[Path]:
    out = sorted(FACES.glob("*.jpg"))
    big = tmp_path / "camera.jpg"
    rng = np.random.default_rng(3)
    base = np.asarray(Image.open(out[0]).convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC), np.int16)
    Image.fromarray(np.clip(base + rng.normal(0, 5, base.shape), 0, 255).astype(np.uint8)).save(big, quality=90)
    small = tmp_path / "small.jpg"
    Image.open(out[1]).convert("RGB").resize((150, 120)).save(small)
    rotated = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side, shown upright
    Image.open(out[2]).convert("RGB").transpose(Image.Transpose.ROTATE_90).save(rotated, exif=exif)
    grey = tmp_path / "grey.png"
    Image.open(out[3]).convert("L").save(grey)
    return out + [big, small, rotated, grey]


def test_photo_inputs_match_open_clip(pipelines, tmp_path):
    ours, theirs = pipelines
    errors = {}
    for path in _photos(tmp_path):
        reference = theirs(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
        mine = ours(decode_image(str(path), ours.min_side, draft=False).source)
        errors[path.name] = _error(mine, reference)
    assert max(errors.values()) <= LIMIT, errors


def test_video_frame_inputs_match_open_clip(pipelines, tmp_path):
    import av

    ours, theirs = pipelines
    video = mf.video_of_photos(tmp_path / "clip.mp4", sorted(FACES.glob("*.jpg"))[:3], seconds_each=1.0)
    sampled = sample_video(str(video), interval=1.0, min_side=ours.min_side, model_input=ours)
    assert len(sampled.frames) >= 3
    with av.open(str(video)) as container:
        full = {round(float(f.time), 3): f.to_image() for f in container.decode(video=0)}
    for frame in sampled.frames:
        assert _error(frame.model_input, theirs(full[frame.timestamp])) <= LIMIT
