"""How much a face's descriptor can be trusted, from what is stored for every face (pure numpy: no Qt, no DB).

- `band_of`: a face's quality band ("good", "fair", "poor") from its size, detector score, sharpness and whether it
  came from a video frame.
- `BAND_RULES`: the similarities a face of each band needs to join a named person on its own.
- `plausible_face`: whether a detection is a face whose descriptor means anything: not a logo, a texture or a dark
  crop, and not a face turned sideways whose landmarks the detector placed as on an upright one.

Every number here comes from `python -m bench calibration` (bench/calibration.py): 5582 faces found by the
production backend (YuNet + SFace, as the indexer runs it) in 271 real photos — faces-dev's 25 labelled photos,
faces-more's 221 single-person photos of 43 people and its group photos of unknown people, the 6 credited test
photos — each clean and degraded (faces shrunk to 30-120 px, JPEG 30-70, Gaussian blur, frames of H.264
slideshows at 720p and 360p, turned 90 degrees), plus faces-more's street video and GIF. Similarities below are
SFace cosines; "genuine": a face against the clean faces of other photos of the same person; "impostor": against
those of other people; "all pairs": every pair of faces of two photos, by the worse band of the two.

What the measurements say: degradation lowers how alike a person's faces are, and hardly raises how alike
different people's are. Impostor p99.9 is 0.36-0.37 in every band; the highest impostors (0.50-0.54) are a few
pairs of different people, in every band (the top one: Kate Siegel's photo against Angelina Jolie's, 0.456 clean
and 0.522 shrunk and compressed). Only two poor faces together go higher (0.638, both blurred): degraded faces
resemble each other.
Video frames differ from photos only through size, score and sharpness (genuine p5 0.482 for video faces against
0.454 for photos, impostor max 0.490 against 0.499), so `in_video` does not move a face's band.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BAND_NAMES = ("good", "fair", "poor")


def landmark_geometry(landmarks, box) -> dict:
    """The shape of a face's five landmarks (eyes, nose tip, mouth corners, as the subject sees them: the subject's
    right eye first), in the frame of the eye line, so that a face turned sideways measures as an upright one.
    Distances are in eye distances.

    span: the box's extent along the eye line over its extent across it (an upright face's box is taller than
    wide: below 1); eye_ratio: eye distance / short side of the box; nose_down, mouth_down: how far below the eye
    line the nose and the mouth's midpoint lie; nose_side: the nose's offset from the eyes' midpoint along the eye
    line; mouth_tilt: the angle (degrees) between the mouth line and the eye line, positive when the corners are in
    the eyes' order; roll: the angle (degrees) of the eye line to the nearest axis of the box; outside: how far
    the furthest landmark lies outside the box, in box short sides."""
    p = np.asarray(landmarks, np.float64).reshape(5, 2)
    x, y, w, h = (float(v) for v in box)
    re, le, nose, rm, lm = p
    eye = le - re
    d = float(np.hypot(*eye))
    short = max(min(w, h), 1e-6)
    if d < 1e-6:
        return {"span": w / max(h, 1e-6), "eye_ratio": 0.0, "nose_down": 0.0, "mouth_down": 0.0, "nose_side": 0.0,
                "mouth_tilt": 180.0, "roll": 45.0, "outside": _outside(p, x, y, w, h) / short}
    u = eye / d
    v = np.array([-u[1], u[0]])  # 90 degrees clockwise in image coordinates: "down" for an upright face
    mid = (re + le) / 2
    mouth = lm - rm
    tilt = float(np.degrees(np.arctan2(mouth @ v, mouth @ u)))
    angle = float(np.degrees(np.arctan2(eye[1], eye[0]))) % 90.0
    horizontal = abs(eye[0]) >= abs(eye[1])
    span = (w / max(h, 1e-6)) if horizontal else (h / max(w, 1e-6))
    return {"span": span, "eye_ratio": d / short, "nose_down": float((nose - mid) @ v) / d,
            "mouth_down": float(((rm + lm) / 2 - mid) @ v) / d, "nose_side": float((nose - mid) @ u) / d,
            "mouth_tilt": tilt, "roll": min(angle, 90.0 - angle), "outside": _outside(p, x, y, w, h) / short}


def _outside(p, x, y, w, h) -> float:
    dx = np.maximum(np.maximum(x - p[:, 0], p[:, 0] - (x + w)), 0)
    dy = np.maximum(np.maximum(y - p[:, 1], p[:, 1] - (y + h)), 0)
    return float(np.max(np.hypot(dx, dy)))


@dataclass(frozen=True)
class BandRule:
    """The similarities a face of one band needs to join a named person on its own (as clustering.NamingRule):
    nearest confirmed face >= auto and second nearest >= support (the person has two or more confirmed faces), or
    >= sole (a single one), and a lead of `margin` over anyone else. auto/sole None: never on its own."""
    auto: float | None
    support: float | None
    sole: float | None
    margin: float

    def strong(self, best: float, second: float | None, runner_up: float) -> bool:
        if second is None:
            enough = self.sole is not None and best >= self.sole
        else:
            enough = self.auto is not None and best >= self.auto and second >= (self.support or 0.0)
        return enough and best - runner_up >= self.margin


# Bands, by genuine similarity to clean faces of other photos (upright faces), in bins of one property at a time
# (p5 / median):
#   size  24-32 px 0.435 / 0.608; 32-40 0.456 / 0.627; 40-48 0.469 / 0.645; 48-64 0.481 / 0.652; 64-100
#         0.449 / 0.641; 100-200 0.466 / 0.674; >= 200 0.481 / 0.689
#   score 0.75-0.80 0.248 / 0.571; 0.80-0.90 0.346 / 0.588; 0.90-0.92 0.421 / 0.618; 0.92-0.94 0.472 / 0.649;
#         >= 0.94 0.540 / 0.717
#   sharpness < 10 0.337 / 0.547; 10-20 0.402 / 0.597; 20-40 0.449 / 0.627; 40-80 0.468 / 0.644; 80-200
#         0.486 / 0.658; >= 200 0.486 / 0.676
# poor is what the library already calls unusable (Settings.face_min_*): the bins under those limits have the
# lowest medians (size 24-32 0.608, sharpness < 20 0.547-0.597, score < 0.75 0.581) and two poor faces of different
# people reach 0.638 (both blurred). good is where the medians level off (size >= 40, score >= 0.90, sharpness
# >= 40: 0.618-0.717); between the two, score 0.75-0.90 has the lowest p5 (0.248-0.346). Per band (this set):
#   good  2961 faces (2777 labelled, 816 from video): genuine n 18266 min 0.182 p5 0.490 median 0.667;
#         impostor n 725136 max 0.497 p99.9 0.370 p99 0.303; all pairs impostor max 0.522 p99.9 0.369
#   fair   634 faces (421 labelled, 103 from video): genuine n 2519 min 0.054 p5 0.415 median 0.626;
#         impostor n 156828 max 0.483 p99.9 0.361 p99 0.297; all pairs impostor max 0.502 p99.9 0.361
#   poor  1303 faces (552 labelled, 311 from video): genuine n 3837 min 0.161 p5 0.379 median 0.584;
#         impostor n 323967 max 0.499 p99.9 0.366 p99 0.291; all pairs impostor max 0.638 p99.9 0.369
GOOD_SIZE, GOOD_SCORE, GOOD_SHARPNESS = 40.0, 0.90, 40.0
POOR_SIZE, POOR_SCORE, POOR_SHARPNESS = 32.0, 0.75, 20.0

# Thresholds: precision 1.00 on the calibration set with 0.03 to spare. A face of the band is compared with every
# face that may be someone's confirmed face (plausible, not poor, any variant, another photo of another person):
#   good: highest impostor 0.522 (nearest: auto and sole must beat it), 0.502 second nearest over two photos of
#         one person (support must beat it) -> auto 0.56, sole 0.56, support 0.54
#   fair: 0.502 and 0.484 -> 0.54 / 0.52 would do; kept at good's (fewer pairs measured: 634 faces against 2961,
#         and a worse face never needs less)
#   poor: 0.541 and 0.473 against good and fair faces, and 0.638 against other poor faces, above the band's
#         genuine median (0.584): never on its own, review only.
# The margin (lead over anyone else) stays Settings' 0.10: naming recall was the same at 0.05 and 0.10.
# Automatic naming, 40 people named from their first photo's clean face, 4952 faces decided (strangers' included):
# uniform rule (Settings) precision 1.00 recall 0.573, these bands precision 1.00 recall 0.666 (good 0.743 ->
# 0.858, fair 0.448 -> 0.554); from three confirmed faces: 0.747 -> 0.694 (the uniform rule's auto 0.50 and
# support 0.40 sit under impostors measured here, 0.522 and 0.502, with nothing to spare). Of that loss, most is a
# quirk both rules share (NamingRule.strong): with several confirmed faces the second nearest must reach support,
# so a face that would clear `sole` against one confirmed face may be refused against three. Accepting
# best >= sole there too (bench: "banded+") gives 0.734 from three first photos at precision 1.00.

BAND_RULES: dict[str, BandRule] = {"good": BandRule(0.56, 0.54, 0.56, 0.10),
                                   "fair": BandRule(0.56, 0.54, 0.56, 0.10),
                                   "poor": BandRule(None, None, None, 0.10)}


def band_of(size: float, score: float, sharpness: float, in_video: bool) -> str:
    """The quality band of a face from what is stored for it: `size` (short side of the box in pixels of the
    detection image), detector `score`, `sharpness` (variance of the Laplacian of the aligned 112x112 grey crop)
    and whether it came from a video frame (measured to add nothing beyond the other three; kept so that a
    recogniser for which it does can say so here)."""
    if size < POOR_SIZE or score < POOR_SCORE or sharpness < POOR_SHARPNESS:
        return "poor"
    if size >= GOOD_SIZE and score >= GOOD_SCORE and sharpness >= GOOD_SHARPNESS:
        return "good"
    return "fair"


# plausible_face, measured (bench/calibration.py). Labelled upright faces (3766, every variant but the sideways
# ones) span: eye_ratio 0.25-0.56, nose_down 0.36-1.08, mouth below nose 0.20-0.97, mouth_down 0.69-1.99,
# nose_side -0.73-0.53, mouth_tilt -17-14 degrees, roll 0-16 degrees, outside 0-0.06, span 0.63-1.02. The limits
# leave room beyond all of them. YuNet's candidates that are no faces mostly score under 0.72: in 480 generated
# pictures (noise, blobs, checkers, stripes, rings, dots, shapes, text, logos, drawn smileys, dark frames, wood)
# it finds 24 candidates at >= 0.3, the highest 0.70 (drawn smileys, 5 of them >= 0.6); in faces-more's group
# photos and street video the non-faces seen by eye below 0.75 (hair, a bun, a clock, dark corners, the backs of
# heads) are all <= 0.70. Not caught: the backs of a few pedestrians' heads in the street video at 0.75-0.82
# (22-45 px): YuNet gives them face-shaped landmarks, and neither the score nor the geometry tells them apart.
# A face turned sideways (a photo without its EXIF orientation) is found in 231 of 504 tries, at
# score 0.60-0.88, with landmarks placed as on an upright face: its descriptor is of a sideways face (0.10 median
# to its own clean photo, up to 0.86 to another person's sideways face). Its box is as wide as tall where an
# upright face's is taller (span 0.74-1.38 against 0.63-1.02) and its eyes look close together for that box:
# span - eye_ratio > 0.50 with a score under 0.89 catches 228 of the 231 and 2 of the 3766 upright faces (both
# Gaussian blur sigma 3); the score floor takes 2 of the other 3.
# Result: 17 of 3766 labelled upright faces dropped (15 below 0.72; none of the 3197 usable ones), 230 of 231
# sideways detections, all 24 generated candidates; of faces-more's group and video candidates 414/414 at
# 0.3-0.6, 78/89 at 0.6-0.75, 19/135 at 0.75-0.9 (by eye all real faces, 16 of them 10-39 px in a crowd, with
# landmarks thrown off by occlusion: mouth corners 30-56 degrees off the eye line), 0/167 at >= 0.9.
PLAUSIBLE_SCORE = 0.72
PLAUSIBLE_RANGES: dict[str, tuple[float, float]] = {"eye_ratio": (0.20, 1.00), "nose_down": (0.15, 1.60)}
PLAUSIBLE: dict[str, float] = {"mouth_below_nose": 0.15, "mouth_down": 2.60, "nose_side": 1.00, "mouth_tilt": 30.0,
                               "roll": 30.0, "outside": 0.25}
SIDEWAYS_SPAN, SIDEWAYS_SCORE = 0.50, 0.89


def plausible_face(score: float, landmarks, box) -> bool:
    """Whether a detection can be a face whose descriptor means something: certain enough (PLAUSIBLE_SCORE), its
    five landmarks shaped like a face's (eyes apart, nose below them, mouth below the nose and level with the eyes,
    all inside the box) and not an upright-looking landmark set in a box lying on its side (a sideways face).
    `landmarks` (5, 2) and `box` (x, y, w, h) in the same pixels."""
    if score < PLAUSIBLE_SCORE:
        return False
    g = landmark_geometry(landmarks, box)
    if any(not low <= g[name] <= high for name, (low, high) in PLAUSIBLE_RANGES.items()):
        return False
    lim = PLAUSIBLE
    if g["mouth_down"] - g["nose_down"] < lim["mouth_below_nose"] or g["mouth_down"] > lim["mouth_down"]:
        return False
    if abs(g["nose_side"]) > lim["nose_side"] or abs(g["mouth_tilt"]) > lim["mouth_tilt"]:
        return False
    if g["roll"] > lim["roll"] or g["outside"] > lim["outside"]:
        return False
    return not (g["span"] - g["eye_ratio"] > SIDEWAYS_SPAN and score < SIDEWAYS_SCORE)
