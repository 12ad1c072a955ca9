"""The bad-input corpus: every kind of file a real disk holds that could trip an indexer, plus good files in unusual
forms. `build(folder)` writes it and returns {file name: "ok" | "error" | "skip"} — what Idlens must make of each."""
from __future__ import annotations

import os
import shutil
import struct
import zlib
from pathlib import Path

from PIL import Image

import core.media.images  # noqa: F401  (registers the HEIC codec with Pillow)
from tests import media_factory as mf

FACES = Path(__file__).parent / "data" / "faces"


def _png_with_size(path: Path, width: int, height: int) -> None:
    """A tiny PNG whose header declares a huge image: a decompression bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def build(folder: Path, long_video: bool = True) -> dict[str, str]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    expect: dict[str, str] = {}
    good = mf.photo(folder / "good.jpg", 1, size=(640, 480))
    expect["good.jpg"] = "ok"

    (folder / "zero-bytes.jpg").write_bytes(b"")
    expect["zero-bytes.jpg"] = "error"
    (folder / "truncated.jpg").write_bytes(good.read_bytes()[: len(good.read_bytes()) // 3])
    expect["truncated.jpg"] = "error"
    png = mf.photo(folder / "tmp.png", 2, size=(400, 300))
    (folder / "truncated.png").write_bytes(png.read_bytes()[: len(png.read_bytes()) // 2])
    png.unlink()
    expect["truncated.png"] = "error"
    (folder / "text-named.jpg").write_text("this is a shopping list, not a photo\n")
    expect["text-named.jpg"] = "error"
    mf.picture(3).save(folder / "png-named.jpg", format="PNG")  # lies about its type, but is a fine picture
    expect["png-named.jpg"] = "ok"
    _png_with_size(folder / "bomb.png", 60000, 60000)
    expect["bomb.png"] = "error"

    mf.picture(4).convert("CMYK").save(folder / "cmyk.jpg")
    Image.new("I;16", (320, 240), 40000).save(folder / "16-bit.png")
    mf.picture(5).convert("P").save(folder / "palette.png")
    mf.picture(6).convert("RGBA").save(folder / "rgba.png")
    frames = [mf.picture(i, (160, 120)) for i in range(3)]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    frames[0].save(folder / "animated.webp", save_all=True, append_images=frames[1:], duration=100, loop=0)
    mf.picture(7).save(folder / "iphone.heic")
    for name in ("cmyk.jpg", "16-bit.png", "palette.png", "rgba.png", "animated.gif", "animated.webp", "iphone.heic"):
        expect[name] = "ok"
    # EXIF whose orientation and dates are garbage.
    exif = Image.Exif()
    exif[0x0112] = 99
    exif[0x0132] = "not a date"
    mf.picture(8).save(folder / "broken-exif.jpg", exif=exif)
    raw = bytearray((folder / "broken-exif.jpg").read_bytes())
    at = raw.find(b"Exif\x00\x00")
    raw[at + 10: at + 40] = b"\xff" * 30  # scramble the EXIF directory itself
    (folder / "broken-exif.jpg").write_bytes(bytes(raw))
    expect["broken-exif.jpg"] = "ok"

    video = mf.video(folder / "good.mp4", [1, 2, 3], scene_seconds=2.0)
    expect["good.mp4"] = "ok"
    (folder / "truncated.mp4").write_bytes(video.read_bytes()[: len(video.read_bytes()) // 2])
    expect["truncated.mp4"] = "error"  # the index (moov) sits at the end: nothing to play
    mf.audio_only(folder / "audio-only.mp4")
    expect["audio-only.mp4"] = "error"
    mkv = mf.video(folder / "tmp.mkv", [4, 5, 6, 7], scene_seconds=2.0)
    (folder / "no-index.mkv").write_bytes(mkv.read_bytes()[: int(len(mkv.read_bytes()) * 0.8)])  # cues cut off
    mkv.unlink()
    expect["no-index.mkv"] = "ok"
    if long_video:
        mf.video(folder / "two-hours.mp4", list(range(72)), scene_seconds=100, fps=1, size=(64, 48), gop=12)
        expect["two-hours.mp4"] = "ok"

    unreadable = mf.photo(folder / "unreadable.jpg", 9)
    os.chmod(unreadable, 0)
    expect["unreadable.jpg"] = "ok" if os.geteuid() == 0 else "error"  # root reads anything
    os.symlink(folder / "nowhere.jpg", folder / "broken-link.jpg")
    expect["broken-link.jpg"] = "error"
    (folder / "sub").mkdir()
    os.symlink(folder, folder / "sub" / "loop")  # a folder loop: walked once, no file
    shutil.copy(FACES / "person_a_1.jpg", os.fsencode(folder) + b"/caf\xe9-latin1.jpg")
    expect["caf\udce9-latin1.jpg"] = "ok"
    return expect
