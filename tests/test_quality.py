"""Quality-aware evidence (issue 19): quality bands, the thresholds of each band, and the non-face filter. The numbers
themselves are measured by `python -m bench calibration`; these tests hold the rules' shape and the filter's
behaviour on real detections, without shared/data."""
import itertools
from pathlib import Path

import numpy as np
import pytest

from core.faces import quality
from core.faces.quality import BAND_NAMES, BAND_RULES, BandRule, band_of, landmark_geometry, plausible_face

FACES = Path(__file__).parent / "data" / "faces"
# A face as the ArcFace template places it: eyes, nose tip, mouth corners (the subject's right side first).
TEMPLATE = np.array([[38.3, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4], [70.7, 92.2]])
BOX = (16.0, 20.0, 80.0, 100.0)  # x, y, w, h: taller than wide, as YuNet's boxes of upright faces are


def _rank(band: str) -> int:
    return BAND_NAMES.index(band)


def test_every_band_has_a_rule_and_band_of_answers_only_band_names():
    assert BAND_NAMES == ("good", "fair", "poor")
    assert set(BAND_RULES) == set(BAND_NAMES)
    for args in itertools.product([0, 20, 32, 40, 100, 1000], [0.0, 0.6, 0.75, 0.9, 1.0], [0, 10, 20, 40, 900],
                                  [False, True]):
        assert band_of(*args) in BAND_NAMES


def test_a_better_face_is_never_in_a_worse_band():
    sizes = [0, 16, 31.9, 32, 39.9, 40, 48, 64, 120, 400]
    scores = [0.6, 0.74, 0.75, 0.8, 0.89, 0.9, 0.95]
    sharp = [0, 10, 19.9, 20, 39.9, 40, 100, 2000]
    for video in (False, True):
        for i, s in enumerate(sizes):
            for j, c in enumerate(scores):
                for k, h in enumerate(sharp):
                    b = _rank(band_of(s, c, h, video))
                    if i + 1 < len(sizes):
                        assert _rank(band_of(sizes[i + 1], c, h, video)) <= b
                    if j + 1 < len(scores):
                        assert _rank(band_of(s, scores[j + 1], h, video)) <= b
                    if k + 1 < len(sharp):
                        assert _rank(band_of(s, c, sharp[k + 1], video)) <= b
                    assert _rank(band_of(s, c, h, True)) >= _rank(band_of(s, c, h, False))  # video never helps


def test_the_bands_span_the_whole_range():
    assert band_of(300, 0.95, 500, False) == "good"
    assert band_of(35, 0.95, 500, False) == "fair"      # small but detailed enough
    assert band_of(300, 0.80, 500, False) == "fair"     # uncertain
    assert band_of(300, 0.95, 25, False) == "fair"      # soft
    for weak in [(20, 0.95, 500), (300, 0.70, 500), (300, 0.95, 10)]:  # tiny, doubtful, blurred
        assert band_of(*weak, False) == "poor"
        assert band_of(*weak, True) == "poor"


def test_worse_bands_never_ask_less():
    """A worse band's thresholds are at least the better band's; None (never on its own) is the strictest."""
    inf = float("inf")
    for better, worse in zip(BAND_NAMES, BAND_NAMES[1:]):
        a, b = BAND_RULES[better], BAND_RULES[worse]
        for field in ("auto", "sole"):
            va, vb = getattr(a, field), getattr(b, field)
            assert (inf if vb is None else vb) >= (inf if va is None else va)
        assert b.margin >= a.margin
    for rule in BAND_RULES.values():
        if rule.auto is not None:
            assert rule.support is not None and rule.support <= rule.auto
            assert rule.sole is not None and rule.sole >= rule.auto
    assert BAND_RULES["good"].auto is not None, "good faces must be able to carry a name"
    assert BAND_RULES["poor"].auto is None and BAND_RULES["poor"].sole is None


def test_band_rule_is_naming_rule_strong_per_band():
    rule = BandRule(auto=0.55, support=0.50, sole=0.60, margin=0.10)
    assert rule.strong(0.61, None, 0.30)          # one confirmed face: its own bar
    assert not rule.strong(0.59, None, 0.30)
    assert rule.strong(0.56, 0.51, 0.30)          # two: nearest and second nearest
    assert not rule.strong(0.56, 0.49, 0.30)
    assert not rule.strong(0.54, 0.54, 0.30)
    assert not rule.strong(0.70, 0.65, 0.62)      # not far enough ahead of someone else
    never = BandRule(None, None, None, 0.10)
    assert not never.strong(0.99, None, 0.0) and not never.strong(0.99, 0.99, 0.0)


def test_template_landmarks_are_a_plausible_face():
    g = landmark_geometry(TEMPLATE, BOX)
    assert g["nose_down"] > 0 and g["mouth_down"] > g["nose_down"] and abs(g["mouth_tilt"]) < 1 and g["roll"] < 1
    assert plausible_face(0.9, TEMPLATE, BOX)


def test_geometry_turns_with_the_face():
    """The landmark shape is measured in the frame of the eye line: a face turned by 90 degrees (landmarks and box)
    measures as the upright one."""
    c = np.array([56.0, 70.0])
    turned = (TEMPLATE - c) @ np.array([[0, 1], [-1, 0]]) + c  # 90 degrees
    x, y, w, h = BOX
    cx, cy = c + np.array([-(y + h / 2 - c[1]), x + w / 2 - c[0]])  # the box's centre, turned the same way
    box = (cx - h / 2, cy - w / 2, h, w)
    a, b = landmark_geometry(TEMPLATE, BOX), landmark_geometry(turned, box)
    for key in ("eye_ratio", "nose_down", "mouth_down", "nose_side", "mouth_tilt", "span"):
        assert a[key] == pytest.approx(b[key], abs=1e-6)


@pytest.mark.parametrize("name, landmarks, box, score", [
    ("below the score floor", TEMPLATE, BOX, quality.PLAUSIBLE_SCORE - 0.01),
    ("all five in one point", np.tile([[56.0, 70.0]], (5, 1)), BOX, 0.95),
    ("eyes swapped (a mirror image)", TEMPLATE[[1, 0, 2, 4, 3]], BOX, 0.95),
    ("nose above the eyes", TEMPLATE + [[0, 0], [0, 0], [0, -40], [0, 0], [0, 0]], BOX, 0.95),
    ("mouth above the nose", TEMPLATE + [[0, 0], [0, 0], [0, 0], [0, -35], [0, -35]], BOX, 0.95),
    ("mouth across the face", TEMPLATE + [[0, 0], [0, 0], [0, 0], [0, -20], [0, 20]], BOX, 0.95),
    ("landmarks far outside the box", TEMPLATE + [200, 0], BOX, 0.95),
    ("eyes a few pixels apart in a big box", TEMPLATE * [0.1, 1] + [50, 0], BOX, 0.95),
    ("eyes level in a box lying on its side", TEMPLATE, (0.0, 25.0, 112.0, 80.0), 0.80),
    ("a collinear set", np.array([[30.0, 60], [50, 60], [70, 60], [90, 60], [110, 60]]), BOX, 0.95),
])
def test_plausible_face_rejects_degenerate_landmarks(name, landmarks, box, score):
    assert not plausible_face(score, np.asarray(landmarks, np.float64), box), name


@pytest.fixture(scope="module")
def detected():
    """The largest face YuNet finds in each credited test photo, decoded as the indexer does, and every face it
    finds in the same photos turned sideways."""
    from core.faces.detection import pil_to_bgr
    from core.media.images import decode_image
    from core.registry import face_backend

    backend = face_backend()
    upright, sideways = [], []
    for p in sorted(FACES.glob("*.jpg")):
        bgr = pil_to_bgr(decode_image(str(p), 256, 1024).detail)
        upright.append((p.name, max(backend.detect(bgr), key=lambda f: f.size)))
        for k in (1, 3):
            turned = np.ascontiguousarray(np.rot90(bgr, k))
            sideways += [(f"{p.name} turned {90 * k}", f) for f in backend.detect(turned)]
    return upright, sideways


def test_plausible_face_accepts_real_detected_faces(detected):
    upright, _ = detected
    assert len(upright) == 6
    for name, face in upright:
        assert plausible_face(face.score, face.landmarks, face.box), name
        assert band_of(face.size, face.score, 100.0, False) == "good", name


def test_sideways_faces_are_not_plausible(detected):
    """YuNet finds some faces of a photo turned by 90 degrees, but places their landmarks as on an upright face:
    aligned on them, the descriptor is of a sideways face and resembles other sideways faces more than its own
    person (bench/calibration.py). Those detections must not count as faces."""
    _, sideways = detected
    assert sideways, "the detector found no sideways face: the test photos or the detector changed"
    for name, face in sideways:
        assert not plausible_face(face.score, face.landmarks, face.box), name
