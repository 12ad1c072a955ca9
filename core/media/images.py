"""Decoding photos: EXIF orientation applied, never more pixels than needed, capture time from EXIF."""
from __future__ import annotations

import datetime as dt
import logging
import os
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from core.paths import special_kind

from .reasons import MediaError, explain

try:  # HEIC/HEIF (iPhone photos) through libheif
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - declared dependency, but keep JPEG working without it
    pass

log = logging.getLogger(__name__)

# Pillow raises DecompressionBombError above 2x this; 180 MP covers every real camera and panorama.
Image.MAX_IMAGE_PIXELS = 180_000_000

_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 0x9003
_DATETIME_DIGITIZED = 0x9004
_DATETIME = 0x0132


@dataclass
class DecodedImage:
    image: Image.Image          # RGB, upright, short side about `min_side` (or smaller if the original is)
    width: int                  # the original's size, upright
    height: int
    captured_at: str | None     # ISO 8601, local time as the camera wrote it
    detail: Image.Image | None = None  # RGB, upright, long side <= `detail_side`: what face detection needs
    source: Image.Image | None = None  # RGB, upright, as decoded: the image tower's input is made from it with one
                                       # resize, as open_clip does (decode with draft=False for that)
    orientation: int = 1        # the Exif orientation (1-8) it was turned upright by

    @property
    def stored_size(self) -> tuple[int, int]:
        """(width, height) of the original as stored, before its orientation."""
        return (self.height, self.width) if self.orientation in (5, 6, 7, 8) else (self.width, self.height)


def decode_image(path: str, min_side: int = 256, detail_side: int | None = None, draft: bool = True) -> DecodedImage:
    """Open `path` once and return an upright RGB image whose short side is `min_side`, and, if asked, a more
    detailed one whose long side is at most `detail_side` (for faces), both from the same decode.

    JPEG draft mode lets libjpeg decode at 1/2, 1/4 or 1/8 scale: a 12-MP photo then costs a third of the time
    (128 -> 44 ms here). But libjpeg's scaled DCT is not the resize open_clip applies to a full decode: the image
    tower's input made from a draft differed from open_clip's by up to 18 % (relative L2; median 1.6 %) on the
    faces-dev photos, against 0.8 % at most from a full decode. So the indexer decodes with `draft=False` for CLIP
    and draft mode serves the decodes that only need faces or a thumbnail.
    """
    refuse_special(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(path)  # an ImageFile; what follows makes plain Images of it
            width, height = img.size
            exif = img.getexif()
            orientation = _orientation(exif)
            if orientation in (5, 6, 7, 8):  # rotated by 90 degrees: upright size is swapped
                width, height = height, width
            w, h = img.size
            # The detail may settle up to 3 % under `detail_side`: a 4000-4080 px phone photo then drafts at 1/4
            # (14 ms) instead of 1/2 plus a resize (48 ms), with the same faces found (bench/face_stage.py).
            scale = min(1.0, max(min_side / max(1, min(w, h)),
                                 (detail_side or 0) * (0.97 if draft else 1.0) / max(1, max(w, h))))
            if draft:  # JPEG only; both sides >= this
                img.draft("RGB", (int(w * scale + 0.999), int(h * scale + 0.999)))
            captured = _capture_time(exif)
            img.load()
    except (FileNotFoundError, PermissionError):
        raise  # not the file's fault: the caller says "vanished" or "no permission"
    except (Image.DecompressionBombError, Image.DecompressionBombWarning,
            OSError, SyntaxError, ValueError, EOFError) as e:  # Pillow reports truncated/unknown files as OSError
        raise MediaError(*explain(e, path, "image")) from e  # in plain words, Pillow's own kept as the detail
    try:
        # In place: without it Pillow returns a copy of an upright photo (24 ms and 36 MB for 12 MP, for nothing).
        ImageOps.exif_transpose(img, in_place=True)
    except Exception as e:  # a broken EXIF block must not cost the photo
        log.debug("%s: EXIF orientation ignored: %s", path, e)
        orientation = 1
    img = source = _to_rgb(img)
    detail: Image.Image | None = None
    if detail_side:
        detail = img
        if max(img.size) > detail_side:
            k = detail_side / max(img.size)
            # reducing_gap 1.5: Pillow halves a 12-MP photo first, then resizes (41 ms instead of 89 ms); the faces
            # found and their descriptors stay the same (cosine >= 0.998, bench/face_stage.py).
            detail = img.resize((max(1, round(img.width * k)), max(1, round(img.height * k))),
                                Image.Resampling.BICUBIC, reducing_gap=1.5)
        img = detail
    return DecodedImage(resize_short_side(img, min_side), width, height, captured, detail, source, orientation)


def _orientation(exif) -> int:
    value = exif.get(0x0112, 1)
    return value if value in range(1, 9) else 1


def stored_geometry(path: str) -> tuple[tuple[int, int], int]:
    """((width, height) as stored, Exif orientation 1-8) of a photo, from its header alone (no pixels decoded): what
    face regions in XMP are measured against (core.faces.regions, MWG 5.9)."""
    refuse_special(path)
    try:
        with Image.open(path) as img:
            return img.size, _orientation(img.getexif())
    except (FileNotFoundError, PermissionError):
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise MediaError(*explain(e, path, "image")) from e


def refuse_special(path: str) -> None:
    """MediaError, without opening it, when `path` is a FIFO, socket or device: opening a FIFO blocks until
    something writes into it, which may be never. A missing or unreadable file is left to the open that follows."""
    try:
        what = special_kind(os.stat(path).st_mode)
    except OSError:
        return
    if what:
        raise MediaError(f"not a regular file ({what}): never opened")


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        return background
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit greyscale PNG/TIFF
        return img.point(lambda v: v / 256).convert("L").convert("RGB")
    return img.convert("RGB")


def resize_short_side(img: Image.Image, side: int) -> Image.Image:
    w, h = img.size
    short = min(w, h)
    if short <= side:
        return img
    scale = side / short
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return img.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)


def _capture_time(exif: Image.Exif) -> str | None:
    try:
        sub = exif.get_ifd(_EXIF_IFD)
    except Exception:
        sub = {}
    for value in (sub.get(_DATETIME_ORIGINAL), sub.get(_DATETIME_DIGITIZED), exif.get(_DATETIME)):
        parsed = parse_exif_datetime(value)
        if parsed:
            return parsed
    return None


def parse_exif_datetime(value) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip().rstrip("\x00")
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M", "%Y:%m:%d"):
        try:
            return dt.datetime.strptime(value, fmt).isoformat()
        except ValueError:
            continue
    return None
