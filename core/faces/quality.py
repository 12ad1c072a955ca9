"""How much a face's descriptor can be trusted, from what is stored for every face (pure numpy: no Qt, no DB).

- `band_of`: a face's quality band ("good", "fair", "poor") from its size, detector score, sharpness and whether it
  came from a video frame.
- `BAND_RULES`: the similarity a face of each band needs to join a named person on its own.
- `plausible_face`: a detection that is no face at all (a logo, a texture, a dark crop) by its score and the
  geometry of its five landmarks.

PLACEHOLDER: numbers are filled in from `python -m bench calibration`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BAND_NAMES = ("good", "fair", "poor")


def landmark_geometry(landmarks, box) -> dict:
    """The shape of a face's five landmarks (eyes, nose tip, mouth corners, as the subject sees them: the subject's
    right eye first), in the frame of the eye line, so that a face turned sideways measures as an upright one.
    Distances are in eye distances.

    eye_ratio: eye distance / short side of the box; nose_down, mouth_down: how far below the eye line the nose and
    the mouth's midpoint lie; nose_side: the nose's offset from the eyes' midpoint along the eye line; mouth_tilt:
    the angle (degrees) between the mouth line and the eye line, positive when the corners are in the eyes' order;
    roll: the angle (degrees) of the eye line to the nearest axis of the box; outside: how far the furthest landmark
    lies outside the box, in box short sides."""
    p = np.asarray(landmarks, np.float64).reshape(5, 2)
    x, y, w, h = (float(v) for v in box)
    re, le, nose, rm, lm = p
    eye = le - re
    d = float(np.hypot(*eye))
    short = max(min(w, h), 1e-6)
    if d < 1e-6:
        return {"span": w / max(h, 1e-6), "eye_ratio": 0.0, "nose_down": 0.0, "mouth_down": 0.0, "nose_side": 0.0, "mouth_tilt": 180.0,
                "roll": 45.0, "outside": _outside(p, x, y, w, h) / short}
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


# PROVISIONAL (being measured by bench/calibration.py): the uniform rule for good and fair faces.
BAND_RULES: dict[str, BandRule] = {"good": BandRule(0.50, 0.40, 0.60, 0.10),
                                   "fair": BandRule(0.50, 0.40, 0.60, 0.10),
                                   "poor": BandRule(None, None, None, 0.10)}


def band_of(size: float, score: float, sharpness: float, in_video: bool) -> str:
    """PROVISIONAL: the Settings' usable limits (32 px, 0.75, 20) for fair."""
    if size < 32 or score < 0.75 or sharpness < 20:
        return "poor"
    if in_video or size < 60:
        return "fair"
    return "good"


PLAUSIBLE_SCORE = 0.72
PLAUSIBLE = {"eye_ratio": (0.20, 1.00), "nose_down": (0.15, 1.60), "mouth_below_nose": 0.15, "mouth_down": 2.60,
             "nose_side": 1.00, "mouth_tilt": 30.0, "roll": 30.0, "outside": 0.25}
SIDEWAYS_SPAN, SIDEWAYS_SCORE = 0.50, 0.89


def plausible_face(score: float, landmarks, box) -> bool:
    """Whether a detection can be a face whose descriptor means something (PROVISIONAL numbers)."""
    if score < PLAUSIBLE_SCORE:
        return False
    g = landmark_geometry(landmarks, box)
    lim = PLAUSIBLE
    if not (lim["eye_ratio"][0] <= g["eye_ratio"] <= lim["eye_ratio"][1]):
        return False
    if not (lim["nose_down"][0] <= g["nose_down"] <= lim["nose_down"][1]):
        return False
    if g["mouth_down"] - g["nose_down"] < lim["mouth_below_nose"] or g["mouth_down"] > lim["mouth_down"]:
        return False
    if abs(g["nose_side"]) > lim["nose_side"] or abs(g["mouth_tilt"]) > lim["mouth_tilt"]:
        return False
    if g["roll"] > lim["roll"] or g["outside"] > lim["outside"]:
        return False
    return not (g["span"] - g["eye_ratio"] > SIDEWAYS_SPAN and score < SIDEWAYS_SCORE)
