"""Fuzzing the decoders: random bytes and mutated real files through `decode_image` and `sample_video`.
`python -m tests.fuzz --minutes 3`. The only acceptable outcomes are a decoded result or a MediaError (which the
indexer records as the file's reason); anything else is a crash and is printed with the input that caused it."""
from __future__ import annotations

import argparse
import io
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.media.images import MediaError, decode_image  # noqa: E402
from core.media.video import sample_video  # noqa: E402
from tests import media_factory as mf  # noqa: E402


def seeds(folder: Path) -> list[tuple[str, bytes]]:
    """Valid files of every format to mutate."""
    out = []
    for fmt, ext in (("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("GIF", "gif"), ("BMP", "bmp"),
                     ("TIFF", "tiff")):
        buf = io.BytesIO()
        mf.picture(len(out), (96, 72)).save(buf, format=fmt)
        out.append((ext, buf.getvalue()))
    video = mf.video(folder / "seed.mp4", [1, 2], scene_seconds=1.0, fps=5, size=(96, 64))
    out.append(("mp4", video.read_bytes()))
    mkv = mf.video(folder / "seed.mkv", [3, 4], scene_seconds=1.0, fps=5, size=(96, 64))
    out.append(("mkv", mkv.read_bytes()))
    return out


def mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 12)):
        op = rng.random()
        if op < 0.4 and b:  # flip bytes
            i = rng.randrange(len(b))
            b[i] = rng.randrange(256)
        elif op < 0.6 and b:  # truncate
            del b[rng.randrange(len(b)):]
        elif op < 0.8:  # insert junk
            i = rng.randrange(len(b) + 1)
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        elif b:  # duplicate a slice (lengths and offsets that point elsewhere)
            i = rng.randrange(len(b))
            b[i:i] = b[i:i + rng.randint(1, 256)]
    return bytes(b)


def check(path: Path, kind: str) -> str | None:
    """None if the decoder behaved; else the traceback."""
    try:
        if kind in ("mp4", "mkv"):
            sample_video(str(path), interval=0.5, max_frames=20)
        else:
            decode_image(str(path), 64, 256)
    except MediaError:
        pass
    except Exception:
        return traceback.format_exc()
    return None


def fuzz(seconds: float, seed: int = 0) -> dict:
    import warnings

    warnings.simplefilter("ignore")  # Pillow warns about every broken EXIF block it survives; that is the point
    rng = random.Random(seed)
    crashes, inputs = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pool = seeds(folder)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ext, data = rng.choice(pool)
            blob = mutate(data, rng) if rng.random() < 0.9 else bytes(rng.randrange(256) for _ in range(
                rng.randint(0, 2048)))
            path = folder / f"case.{ext}"
            path.write_bytes(blob)
            inputs += 1
            problem = check(path, ext)
            if problem:
                keep = folder.parent / f"idlens-fuzz-crash-{len(crashes)}.{ext}"
                keep.write_bytes(blob)
                crashes.append({"input": str(keep), "error": problem.strip().splitlines()[-1]})
    return {"inputs": inputs, "crashes": len(crashes), "details": crashes[:10]}


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    result = fuzz(args.minutes * 60, args.seed)
    print(f"{result['inputs']} inputs, {result['crashes']} crashes")
    for c in result["details"]:
        print(f"  {c['input']}: {c['error']}")
    sys.exit(1 if result["crashes"] else 0)


if __name__ == "__main__":
    main()
