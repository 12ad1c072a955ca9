"""Indexing throughput and re-scan time, measured on generated media in a temporary folder.

  python -m bench                         tiny-test and ViT-B-32 (random weights: same compute as the real model)
  python -m bench --models tiny-test --photos 100 --rescan-files 100000 --json

Figures: photos/s of the whole pipeline (scan, decode, thumbnail, CLIP, catalog, index), the share of that time
spent in the model, video minutes/s, and the time to re-scan an unchanged library. Median and spread over repeats.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def machine() -> dict:
    import av
    import hnswlib  # noqa: F401
    import numpy
    import onnxruntime
    from importlib.metadata import version

    return {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "onnxruntime": onnxruntime.__version__, "av": av.__version__,
            "numpy": numpy.__version__, "hnswlib": version("hnswlib"),
            "idlens": version("idlens") if _installed() else "source"}


def _installed() -> bool:
    try:
        from importlib.metadata import version
        version("idlens")
        return True
    except Exception:
        return False


def make_photos(folder: Path, n: int, size: tuple[int, int]) -> None:
    from tests import media_factory as mf

    for i in range(n):
        mf.photo(folder / f"IMG_{i:05}.jpg", seed=i, size=size, quality=90)


def bench_model(model: str, photos: Path, video: Path, repeats: int) -> dict:
    from core.indexer import IndexJob
    from core.library import Library

    runs, embed_share, video_rates, stages = [], [], [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["IDLENS_CACHE"] = str(Path(tmp) / "cache")
            lib = Library(Path(tmp) / "lib", model)
            lib.embedder.load()  # installing and loading the model is not indexing time
            job = IndexJob(lib, [str(photos)])
            for _ in job.run():
                pass
            rep = job.report
            # Whole run: scan, decode, thumbnails, CLIP, catalog, index save (model loading excluded above).
            runs.append(rep.embedded_files / rep.seconds)
            embed_share.append(rep.embed_seconds / rep.seconds)
            stages.append({k: round(v / rep.embedded_files * 1000, 1) for k, v in rep.stages.items()})
            job = IndexJob(lib, [str(video)])
            for _ in job.run():
                pass
            minutes = lib.catalog.media.by_path(str(video)).duration / 60
            video_rates.append(minutes / job.report.seconds)
            lib.close()
    bound = work_bound(model, photos)
    pipeline = statistics.median(runs)
    naive = naive_baseline(model, photos)
    speed = model_speedup(model, photos)
    return {"model": model, "photos_per_s": _stats(runs), "model_share_of_time": _stats(embed_share),
            "video_minutes_per_s": _stats(video_rates), "stage_ms_per_photo": stages[-1], **bound,
            "pipeline_vs_bound": round(pipeline / bound["bound_photos_per_s"], 3),
            "naive_photos_per_s": naive, "speedup_over_naive": round(pipeline / naive, 2), **speed}


def model_speedup(model: str, photos: Path) -> dict:
    """The faithful speed-up: images/s of the int8 ONNX image tower against the fp32 one on the same real inputs
    (the photos' own model inputs), and the smallest cosine between the two."""
    import numpy as np

    from core.clip.embedder import ClipEmbedder
    from core.media.images import decode_image
    from core.settings import models_dir

    files = sorted(p for p in photos.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:16]
    fp32 = ClipEmbedder(model, models_dir(), int8=False)
    int8 = ClipEmbedder(model, models_dir(), int8=True)
    batch = np.stack([fp32.preprocess(decode_image(str(p), fp32.preprocessing.min_side, draft=False).source)
                      for p in files])

    def rate(fn) -> float:
        fn(batch)
        times = []
        for _ in range(3):
            t = time.perf_counter()
            fn(batch)
            times.append(time.perf_counter() - t)
        return len(batch) / statistics.median(times)

    slow, fast = rate(fp32.encode_images), rate(int8.encode_images)
    cosine = float((fp32.encode_images(batch) * int8.encode_images(batch)).sum(axis=1).min())
    faithful = bool((int8.int8.get("visual") or {}).get("faithful"))
    return {"fp32_images_per_s": round(slow, 2), "int8_images_per_s": round(fast, 2),
            "speedup_faithful": round(fast / slow, 2) if faithful else 1.0, "cosine_faithful": round(cosine, 5)}


def naive_baseline(model: str, photos: Path, limit: int = 24) -> float:
    """The way a simple script does it: decode each file in full, one after the other, one model call per photo
    (no faces, no thumbnails, no catalog: only the CLIP part of the work)."""
    from PIL import Image, ImageOps

    from core.clip.embedder import ClipEmbedder
    from core.settings import models_dir

    embedder = ClipEmbedder(model, models_dir())
    embedder.load()
    files = sorted(p for p in photos.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[:limit]
    t = time.perf_counter()
    for p in files:
        image = ImageOps.exif_transpose(Image.open(p)).convert("RGB")
        embedder.encode_images([embedder.preprocess(image)])
    return round(len(files) / (time.perf_counter() - t), 2)


def work_bound(model: str, photos: Path) -> dict:
    """The bound set by the work itself on these two cores: the model on preloaded tensors (it uses both cores)
    plus, shared by the two cores, the CPU time per photo of the same work the index's decode workers do, one
    after the other on one thread: the decode, the model input, the thumbnail and the faces (in any orientation,
    as the index looks for a photo's faces)."""
    import numpy as np

    from core.clip.embedder import ClipEmbedder
    from core.faces.detection import analyse_any_orientation, pil_to_bgr
    from core.registry import face_backend as default_backend
    from core.media.images import decode_image
    from core.media.thumbnails import ThumbnailCache
    from core.settings import Settings, models_dir

    files = sorted(p for p in photos.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    embedder = ClipEmbedder(model, models_dir())
    backend = default_backend()
    detail = Settings().face_detail
    tensors = []
    with tempfile.TemporaryDirectory() as tmp:
        thumbnails = ThumbnailCache(Path(tmp))
        t = time.perf_counter()
        for i, p in enumerate(files):  # one thread, as each decode worker runs
            d = decode_image(str(p), embedder.preprocessing.min_side, detail, draft=False)
            tensors.append(embedder.preprocess(d.source))
            thumbnails.save(d.image, f"{i:08x}")
            analyse_any_orientation(backend, pil_to_bgr(d.detail))
        cpu_per_photo = (time.perf_counter() - t) / len(files)
    batch = np.stack(tensors[:16] if len(tensors) >= 16 else (tensors * 16)[:16])
    embedder.encode_images(batch)  # warm
    times = []
    for _ in range(3):
        t = time.perf_counter()
        embedder.encode_images(batch)
        times.append((time.perf_counter() - t) / len(batch))
    model_per_photo = statistics.median(times)
    cores = os.cpu_count() or 1
    return {"model_only_photos_per_s": round(1 / model_per_photo, 2),
            "decode_faces_ms_per_photo": round(cpu_per_photo * 1000, 1),
            "bound_photos_per_s": round(1 / (model_per_photo + cpu_per_photo / cores), 2)}


def bench_rescan(n_files: int, repeats: int) -> dict:
    """An unchanged library of n files: every file is stat'ed and compared with its catalog row."""
    from core import store as cat
    from core.store import Catalog
    from core.media.scanner import scan

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "files"
        per_folder = 1000
        catalog = Catalog(Path(tmp) / "catalog.db")
        with catalog.transaction():
            for i in range(n_files):
                folder = root / f"{i // per_folder:04}"
                if i % per_folder == 0:
                    folder.mkdir(parents=True)
                p = folder / f"IMG_{i:06}.jpg"
                p.write_bytes(b"\xff\xd8\xff" + i.to_bytes(4, "little"))
                st = p.stat()
                mid = catalog.media.add(str(p), "image", st.st_size, st.st_mtime_ns, f"fp{i}")
                catalog.media.update(mid, status=cat.INDEXED)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            report = scan(catalog, [str(root)])
            times.append(time.perf_counter() - t)
            assert report.unchanged == n_files and report.new == 0, report
        catalog.close()
    return {"files": n_files, "seconds": _stats(times)}


def _stats(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "n": len(values)}


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["tiny-test", "ViT-B-32:random"])
    ap.add_argument("--photos", type=int, default=60)
    ap.add_argument("--photo-size", default="4000x3000", help="generated JPEG size (12 MP by default)")
    ap.add_argument("--photos-dir", help="measure on the photos of this folder instead of generated ones")
    ap.add_argument("--video-seconds", type=int, default=120)
    ap.add_argument("--rescan-files", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from tests import media_factory as mf

    out = {"machine": machine(), "results": []}
    source = ""
    with tempfile.TemporaryDirectory() as tmp:
        if args.photos_dir:
            photos = Path(args.photos_dir).resolve()
            source = f"the {sum(1 for _ in photos.rglob('*') if _.is_file())} files of {photos}"
        else:
            photos = Path(tmp) / "photos"
            w, h = (int(x) for x in args.photo_size.split("x"))
            make_photos(photos, args.photos, (w, h))
            source = f"{args.photos} generated JPEGs of {args.photo_size}"
        video = mf.video(Path(tmp) / "video" / "film.mp4", list(range(args.video_seconds // 10)), scene_seconds=10,
                         fps=25, size=(1280, 720), gop=50)
        for model in args.models:
            out["results"].append(bench_model(model, photos, video, args.repeats))
    out["rescan"] = bench_rescan(args.rescan_files, args.repeats)

    out["photos"] = source
    if args.json:
        print(json.dumps(out, indent=2))
        return
    m = out["machine"]
    print(f"machine: {m['cores']} cores {m['cpu']}, python {m['python']}, onnxruntime {m['onnxruntime']}, "
          f"av {m['av']}")
    print(f"photos: {source}; video: {args.video_seconds} s of 720p H.264")
    print(f"{'model':28} {'photos/s':>18} {'model share':>16} {'video min/s':>18}")
    for r in out["results"]:
        p, s, v = r["photos_per_s"], r["model_share_of_time"], r["video_minutes_per_s"]
        print(f"{r['model']:28} {p['median']:8.2f} [{p['min']:.2f}-{p['max']:.2f}] "
              f"{s['median']:8.2f} [{s['min']:.2f}-{s['max']:.2f}] {v['median']:8.2f} [{v['min']:.2f}-{v['max']:.2f}]")
    rs = out["rescan"]
    print(f"re-scan of an unchanged library of {rs['files']} files: {rs['seconds']['median']:.2f} s "
          f"[{rs['seconds']['min']:.2f}-{rs['seconds']['max']:.2f}]")
