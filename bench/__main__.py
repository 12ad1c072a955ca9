"""`python -m bench [--quick] [--json]`: every figure of the performance issue in one run, or one part:
`python -m bench indexing|faces|calibration|idclip|peers|safety|video|xmp|archive [options]` (`--help` on each)."""
import json
import sys


def everything(quick: bool) -> dict:
    import tempfile
    from pathlib import Path

    from bench import indexing, search

    out: dict = {"machine": indexing.machine(), "quick": quick}
    with tempfile.TemporaryDirectory() as tmp:
        photos = Path(tmp) / "photos"
        indexing.make_photos(photos, 16 if quick else 60, (2000, 1500) if quick else (4000, 3000))
        from tests import media_factory as mf
        video = mf.video(Path(tmp) / "v" / "film.mp4", list(range(2 if quick else 12)), scene_seconds=10, fps=25,
                         size=(1280, 720), gop=50)
        model = "tiny-test" if quick else "ViT-B-32:random"
        idx = indexing.bench_model(model, photos, video, 1 if quick else 3)
    out["indexing"] = idx
    out["pipeline_vs_bound"] = idx["pipeline_vs_bound"]
    out["rescan"] = indexing.bench_rescan(10_000 if quick else 100_000, 1 if quick else 3)
    out["rescan_100k_s"] = out["rescan"]["seconds"]["median"] * (10 if quick else 1)
    out["text"] = search.text_latency("tiny-test" if quick else "ViT-B-32:random", 5 if quick else 30)
    sizes = [10_000] if quick else [10_000, 100_000, 1_000_000]
    out["index"] = [search.index_figures(n, 64 if quick else 512, 50 if quick else 200) for n in sizes]
    big = out["index"][-1]
    out["hnsw_1m_query_ms"] = big["hnsw_query_ms"] if big["n"] == 1_000_000 else None
    out["hnsw_1m_recall10"] = big["hnsw_recall10"] if big["n"] == 1_000_000 else None
    e2e = search.end_to_end(10_000 if quick else 100_000, "tiny-test" if quick else "ViT-B-32:random",
                            5 if quick else 30)
    out["query_end_to_end"] = e2e
    out["query_p50_ms_100k"] = e2e["query_p50_ms"] if e2e["n"] == 100_000 else None
    out["cold_start"] = search.cold_start(2000, "tiny-test")
    out["cold_start_s"] = out["cold_start"]["seconds"]
    import subprocess
    rss = subprocess.run([sys.executable, "-m", "bench.gui_memory", str(10_000 if quick else 100_000)],
                         capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    out["gui_rss_mb_100k"] = float(rss) if not quick else None
    out["gui_rss_mb"] = float(rss)
    out["speedup_faithful"] = idx["speedup_faithful"]
    out["cosine_faithful"] = idx["cosine_faithful"]
    return out


if len(sys.argv) > 1 and sys.argv[1] == "decisions":
    from bench import decisions
    decisions.main(sys.argv[2:])
elif len(sys.argv) > 1 and sys.argv[1] == "archive":
    from bench import archive
    archive.main(sys.argv[2:])
elif len(sys.argv) > 1 and sys.argv[1] == "xmp":
    from bench import xmp
    xmp.main(sys.argv[2:])
elif len(sys.argv) > 1 and sys.argv[1] == "faces":
    from bench import faces
    faces.main(sys.argv[2:])
elif len(sys.argv) > 1 and sys.argv[1] == "calibration":
    from bench import calibration
    calibration.main(sys.argv[2:])
elif len(sys.argv) > 1 and sys.argv[1] == "idclip":
    from bench import idclip
    idclip.main(sys.argv[2:])
elif len(sys.argv) > 1 and sys.argv[1] == "peers":
    from bench import peers
    peers.main(sys.argv[2:])
elif len(sys.argv) > 1 and sys.argv[1] == "video":
    from bench import video
    video.main(sys.argv[2:])
elif len(sys.argv) > 1 and sys.argv[1] == "safety":
    from bench import safety
    safety.main(sys.argv[2:])
elif len(sys.argv) > 1 and sys.argv[1] == "indexing":
    from bench import indexing
    del sys.argv[1]
    indexing.main()
else:
    quick = "--quick" in sys.argv
    result = everything(quick)
    if "--json" in sys.argv:
        print(json.dumps(result, indent=2))
    else:
        for key in ("pipeline_vs_bound", "speedup_faithful", "query_p50_ms_100k", "hnsw_1m_query_ms",
                    "hnsw_1m_recall10", "rescan_100k_s", "cold_start_s", "gui_rss_mb_100k"):
            print(f"{key:22} {result[key]}")
        print(json.dumps({k: v for k, v in result.items() if isinstance(v, (dict, list))}, indent=1), file=sys.stderr)
