"""Video at the speed of its decoder: a 10-minute 1280x720 30 fps H.264 programme indexed with faces, beside
decoding every one of its frames once with PyAV.

  python -m bench video [--minutes 10] [--rounds 3] [--model ViT-B-32-256:random] [--json]

The programme is made once into the bench cache from the real, credited faces-dev photos (../shared/data, else
tests/data/faces): a new shot every 15 s, each a slow pan and zoom over one photo (motion, so the encoder and the
decoder work as on a real programme), x264 "veryfast", a keyframe every 2 s (broadcast GOPs are 0.5-2 s).
Figures, each over `--rounds` rounds (min, median, max): PyAV decoding every frame (threaded, as `sample_video`
opens a stream), `IndexJob` on the video alone in a new library with the default settings (faces on, the default
sampling), its stages, and the two ratios the speed issue asks for: hours of video indexed per hour of wall time,
and index time / decode-every-frame time. The model is installed before any timed run.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SIZE = (1280, 720)
FPS = 30
SHOT_S = 15
GOP = 60
VERSION = "v1"


def _photos() -> list[Path]:
    shared = ROOT.parent / "shared" / "data" / "faces-dev" / "images"
    found = sorted(shared.glob("*.jpg")) if shared.is_dir() else []
    return found or sorted((ROOT / "tests" / "data" / "faces").glob("*.jpg"))


def programme(minutes: float) -> Path:
    """The cached programme of `minutes` minutes (made on first use: about a minute per 10 on 2 cores)."""
    import av
    import numpy as np
    from PIL import Image

    from bench.peers import cache_root

    path = cache_root() / f"programme-{VERSION}-{minutes:g}min-{SIZE[0]}x{SIZE[1]}-{FPS}fps.mp4"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    photos = _photos()
    shots = int(minutes * 60 / SHOT_S)
    print(f"[video] making a {minutes:g}-minute programme of {shots} shots into {path} (once)", file=sys.stderr)
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"preset": "veryfast"})
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = GOP
        for shot in range(shots):
            img = Image.open(photos[shot % len(photos)]).convert("RGB")
            # The photo covers a canvas 20 % larger than the frame; the frame moves and zooms across it.
            k = max(SIZE[0] * 1.2 / img.width, SIZE[1] * 1.2 / img.height)
            big = img.resize((round(img.width * k), round(img.height * k)), Image.Resampling.BILINEAR)
            n = SHOT_S * FPS
            for i in range(n):
                f = i / n
                zoom = 1.0 + 0.15 * f
                w, h = round(SIZE[0] * 1.2 / zoom), round(SIZE[1] * 1.2 / zoom)
                x = round((big.width - w) * f)
                y = round((big.height - h) * (1 - f))
                frame = big.crop((x, y, x + w, y + h)).resize(SIZE, Image.Resampling.BILINEAR)
                for packet in stream.encode(av.VideoFrame.from_ndarray(np.asarray(frame), format="rgb24")):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(tmp, path)
    return path


def decode_all(path: Path) -> dict:
    """Every frame decoded once (to YUV, as a decoder delivers it), threaded as sample_video opens the stream."""
    import av

    t = time.perf_counter()
    frames = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            frames += 1
    return {"seconds": time.perf_counter() - t, "frames": frames}


def index_once(path: Path, model: str) -> dict:
    from core.indexer import IndexJob
    from core.library import Library

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["IDLENS_CACHE"] = str(Path(tmp) / "cache")
        folder = Path(tmp) / "videos"
        folder.mkdir()
        try:
            os.link(path, folder / path.name)
        except OSError:  # another disk
            shutil.copy2(path, folder / path.name)
        lib = Library(Path(tmp) / "lib", model)
        lib.embedder.load()  # installing and opening the model is not indexing time
        job = IndexJob(lib, [str(folder)])
        heartbeats = 0
        for p in job.run():
            if p.stage == "embed" and p.path is None:
                heartbeats += 1
        r = job.report
        row = lib.catalog.media.by_path(str(folder / path.name))
        frames = len(lib.catalog.media.frame_ids(row.id))
        faces = len(lib.catalog.faces.in_media(row.id))
        lib.close()
    return {"seconds": r.seconds, "frames_kept": frames, "faces": faces, "duration_s": row.duration,
            "stages": {k: round(v, 2) for k, v in r.stages.items()}, "progress_updates_within": heartbeats}


def _stats(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "n": len(values)}


def run(minutes: float = 10, rounds: int = 3, model: str = "ViT-B-32-256:random") -> dict:
    import av

    path = programme(minutes)
    from core.library import Library

    with tempfile.TemporaryDirectory() as tmp:  # install the model outside the timed runs
        os.environ["IDLENS_CACHE"] = str(Path(tmp) / "cache")
        Library(Path(tmp) / "lib", model).embedder.load()
    decode, index = [], []
    for n in range(rounds):  # alternating, the order swapped every round
        for job in (("decode", "index") if n % 2 == 0 else ("index", "decode")):
            if job == "decode":
                decode.append(decode_all(path))
            else:
                index.append(index_once(path, model))
    decode_s = _stats([d["seconds"] for d in decode])
    index_s = _stats([i["seconds"] for i in index])
    duration = index[-1]["duration_s"] or minutes * 60
    return {"programme": {"path": str(path), "minutes": minutes, "size": list(SIZE), "fps": FPS, "gop": GOP,
                          "shot_s": SHOT_S, "frames": decode[-1]["frames"], "av": av.__version__},
            "model": model, "rounds": rounds, "cores": os.cpu_count(),
            "decode_every_frame_s": decode_s, "index_s": index_s,
            "frames_kept": index[-1]["frames_kept"], "faces": index[-1]["faces"],
            "stages_last_round": index[-1]["stages"],
            "progress_updates_within_video": index[-1]["progress_updates_within"],
            "video_hours_per_hour": round(duration / index_s["median"], 1),
            "decode_video_hours_per_hour": round(duration / decode_s["median"], 1),
            "index_vs_decode_every_frame": round(index_s["median"] / decode_s["median"], 2)}


def table(out: dict) -> str:
    p = out["programme"]
    d, i = out["decode_every_frame_s"], out["index_s"]
    return "\n".join([
        f"programme: {p['minutes']:g} min, {p['size'][0]}x{p['size'][1]} {p['fps']} fps H.264, keyframe every "
        f"{p['gop'] / p['fps']:g} s, a shot every {p['shot_s']} s, {p['frames']} frames (PyAV {p['av']}); "
        f"{out['cores']} cores; model {out['model']}",
        f"PyAV, every frame decoded once:  {d['median']:.2f} s [{d['min']:.2f}-{d['max']:.2f}] "
        f"({out['decode_video_hours_per_hour']} h of video per hour)",
        f"Idlens index, faces on:          {i['median']:.2f} s [{i['min']:.2f}-{i['max']:.2f}] "
        f"({out['video_hours_per_hour']} h of video per hour); {out['frames_kept']} frames kept, "
        f"{out['faces']} faces",
        f"index / decode every frame:      {out['index_vs_decode_every_frame']}x  (target <= 1.0)",
        f"stages of the last round (s, summed over threads): {out['stages_last_round']}",
        f"progress updates while the video was indexed: {out['progress_updates_within_video']}",
        f"median [min-max] of {out['rounds']} rounds, decode and index alternating",
    ])


def main(argv: list[str]) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench video", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--model", default="ViT-B-32-256:random")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    out = run(args.minutes, args.rounds, args.model)
    print(json.dumps(out, indent=2) if args.json else table(out))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
