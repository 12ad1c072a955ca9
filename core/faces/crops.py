"""Aligned face crops (112 px JPEG) in the cache folder, for the people panel and review: a cache, rebuilt by a
re-index, so a failed write costs the picture and never the face or a decision."""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


class FaceCrops:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, face_id: int) -> Path:
        return self.root / f"{face_id // 1000:04}" / f"{face_id}.jpg"

    def save(self, face_id: int, bgr: np.ndarray | None) -> None:
        if bgr is None:
            return
        from PIL import Image

        path = self.path(face_id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(bgr[:, :, ::-1]).save(path, "JPEG", quality=88)
        except OSError as e:  # a full disk or a read-only cache
            log.warning("face crop %s not written: %s", path, e)
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
