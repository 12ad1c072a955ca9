"""A disk cache of small JPEG thumbnails, keyed by content fingerprint so that moves and renames keep them."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image  # the library opens this cache for every command; only a thumbnail written needs Pillow

log = logging.getLogger(__name__)

THUMB_BOX = 256


class ThumbnailCache:
    def __init__(self, root: Path):
        self.root = Path(root)

    def path_for(self, fingerprint: str, timestamp: float | None = None) -> Path:
        name = fingerprint if timestamp is None else f"{fingerprint}_{int(round(timestamp * 1000))}"
        return self.root / fingerprint[:2] / f"{name}.jpg"

    def save(self, image: Image.Image, fingerprint: str, timestamp: float | None = None) -> Path:
        """Write from an image already decoded for the model, so a thumbnail never costs a second decode."""
        return self.put(thumbnail_jpeg(image), fingerprint, timestamp)

    def put(self, jpeg: bytes, fingerprint: str, timestamp: float | None = None) -> Path:
        """Write a thumbnail made elsewhere (by a cluster worker: core.cluster), whole or not at all."""
        target = self.path_for(fingerprint, timestamp)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
        tmp.write_bytes(jpeg)
        os.replace(tmp, target)
        return target

    def get(self, fingerprint: str, timestamp: float | None = None) -> Path | None:
        p = self.path_for(fingerprint, timestamp)
        return p if p.exists() else None


def thumbnail_jpeg(image: Image.Image) -> bytes:
    """The thumbnail of a decoded picture, as the JPEG the cache holds."""
    import io

    from PIL import Image

    thumb = image.copy()
    thumb.thumbnail((THUMB_BOX, THUMB_BOX), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    thumb.save(out, "JPEG", quality=85, optimize=True)
    return out.getvalue()
