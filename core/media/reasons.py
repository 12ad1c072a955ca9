"""Why a file cannot be used, in plain words.

`explain` turns what a library raised (Pillow, PyAV, the OS, the face recogniser) into a sentence a user
understands, and keeps the library's own text beside it as the detail (None when the sentence already says all).
Both are stored with the file (`media.error`, `media.error_detail`) and shown by `idlens errors` and the app.
"""
from __future__ import annotations

import errno
import os
import re


HEAD = 512  # bytes looked at to tell what a file really is

# What the first bytes of a file say it is (offset, magic, what).
_MAGIC: list[tuple[int, bytes, str]] = [
    (0, b"\xff\xd8\xff", "photo"), (0, b"\x89PNG\r\n\x1a\n", "photo"), (0, b"GIF8", "photo"),
    (0, b"II*\x00", "photo"), (0, b"MM\x00*", "photo"),
    (4, b"ftypheic", "photo"), (4, b"ftypheix", "photo"), (4, b"ftypmif1", "photo"), (4, b"ftypavif", "photo"),
    (4, b"ftyp", "video"), (4, b"moov", "video"), (4, b"mdat", "video"), (4, b"wide", "video"),
    (0, b"\x1a\x45\xdf\xa3", "video"), (0, b"\x00\x00\x01\xba", "video"), (0, b"\x00\x00\x01\xb3", "video"),
    (0, b"%PDF", "a PDF document"), (0, b"PK\x03\x04", "a ZIP archive"),
    (0, b"ID3", "a sound file"), (0, b"fLaC", "a sound file"), (0, b"OggS", "a sound file"),
]


class MediaError(Exception):
    """A file we cannot use. str() is the plain reason shown to the user; `detail` the library's own words."""

    def __init__(self, message: str, detail: str | None = None):
        super().__init__(message)
        self.detail = detail


def explain(exc: BaseException, path: str, kind: str | None = None, *, query: bool = False) -> tuple[str, str | None]:
    """(plain message, detail) for `exc`, raised while reading `path` as a `kind` ("image", "video", "faces" for
    the face analysis of a readable file, None when unknown). `query`: the file is the photo a search is by (its
    `kind` is then what the file's name says it is)."""
    if kind == "faces":
        return _faces(exc)
    if isinstance(exc, MediaError):
        if exc.__cause__ is None or not query:
            return str(exc), exc.detail
        exc = exc.__cause__  # said again for a search by photo
    raw = _raw(exc)
    if isinstance(exc, FileNotFoundError):
        return "file vanished while being read", None
    if isinstance(exc, PermissionError) or getattr(exc, "errno", None) in (errno.EACCES, errno.EPERM):
        return "no permission to read this file", None
    if isinstance(exc, MemoryError):
        return "not enough memory to read this file", raw or None
    from PIL import Image  # here, not at the top: a search that never opens a photo does not load Pillow

    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return _too_large(raw), raw
    if not isinstance(exc, (OSError, SyntaxError, ValueError, EOFError)):  # not how a decoder says "bad file"
        return "could not be read (an unexpected error)", f"{type(exc).__name__}: {exc}"
    size = _size(path)
    if size == 0:
        return "empty file (0 bytes)", None
    if getattr(exc, "errno", None) == errno.EIO:
        return "the disk could not read this file (input/output error)", raw
    if getattr(exc, "errno", None) == errno.ELOOP:
        return "a symbolic link that points back at itself", raw
    if isinstance(exc, OSError) and exc.errno in errno.errorcode:  # the system's, not a decoder's
        return "could not be read", raw
    what = _sniff(path)
    if kind == "image" or query:
        return _not_a_photo(exc, raw, what, query, named_video=kind == "video")
    if kind == "video":
        return _not_a_video(exc, raw, what)
    return "could not be read", raw or type(exc).__name__


def _not_a_photo(exc: BaseException, raw: str, what: str | None, query: bool,
                 named_video: bool = False) -> tuple[str, str | None]:
    if what == "video" or (named_video and what is None):
        if query:
            return "this is a video — search by a photo (or a still from it)", raw
        return "not a photo Idlens can read (it is a video)", raw
    if isinstance(exc, EOFError) or "truncated" in raw.lower():
        return "damaged photo (the file ends early)", raw
    unknown = "cannot identify image file" in raw
    if what == "photo" or not unknown:  # a photo's header, or Pillow knew the format and failed on its data
        return "damaged photo (its data is corrupted)", raw
    return f"not a photo Idlens can read ({_what_it_is(what)})", raw


def _not_a_video(exc: BaseException, raw: str, what: str | None) -> tuple[str, str | None]:
    if what == "photo":
        return "not a video Idlens can read (it is a photo)", raw
    if what == "video":
        return "damaged video (the file is incomplete or corrupted)", raw
    if what is not None:
        return f"not a video Idlens can read ({_what_it_is(what)})", raw
    return "not a video Idlens can read (damaged or in a format it does not know)", raw


def _what_it_is(what: str | None) -> str:
    if what in (None, "photo", "video"):
        return "damaged or in a format it does not know"
    if what == "zeros":
        return "the file holds nothing but zero bytes"
    return f"it is {what}"


def _faces(exc: BaseException) -> tuple[str, str | None]:
    """The face analysis of a readable file failed: plain words when the cause is known."""
    raw = f"{type(exc).__name__}: {exc}"
    text = str(exc).lower()
    if isinstance(exc, MemoryError) or "insufficient memory" in text or "failed to allocate" in text:
        return "face analysis ran out of memory (retried by the next index)", raw
    if isinstance(exc, FileNotFoundError):
        return "face analysis failed: the face models are missing (reinstall Idlens)", raw
    if type(exc).__module__.startswith("cv2"):
        return "face analysis failed: the face recogniser could not process this picture", raw
    return f"face analysis failed: {raw}", None


def _too_large(raw: str) -> str:
    from PIL import Image

    limit = f"Idlens opens up to {(Image.MAX_IMAGE_PIXELS or 0) // 1_000_000} megapixels"
    m = re.search(r"\((\d+) pixels\)", raw)  # Pillow: "Image size (3600000000 pixels) exceeds limit of ..."
    if not m:
        return f"photo too large to open safely ({limit})"
    return f"photo too large to open safely ({int(m.group(1)) / 1e6:,.0f} megapixels; {limit})"


def _raw(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, OSError) and not text and exc.strerror:
        text = exc.strerror
    return text


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except (OSError, ValueError, TypeError):
        return None


def _sniff(path: str) -> str | None:
    """"photo", "video", "zeros", "a text file", "a PDF document"...: what the file's first bytes say it is."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD)
    except (OSError, ValueError, TypeError):
        return None
    if not head:
        return None
    for offset, magic, what in _MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return what
    if head[:4] == b"RIFF":
        return {b"AVI ": "video", b"WEBP": "photo", b"WAVE": "a sound file"}.get(head[8:12])
    if not head.strip(b"\x00"):
        return "zeros"
    if b"\x00" not in head:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as e:  # a multi-byte character cut at the end of the head is still text
            if e.start < len(head) - 3:
                return None
            text = head[:e.start].decode("utf-8")
        if sum(c.isprintable() or c in "\r\n\t" for c in text) >= 0.95 * max(1, len(text)):
            return "a text file"
    return None
