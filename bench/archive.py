"""Archive scale: a local index beside `idlens index --ray` on one and on two worker nodes, the vector stores at
1M and 10M vectors, and what 100,000 hours of video would take.

  python -m bench archive [--photos 60] [--videos 2,3,4,5] [--rounds 3] [--model ViT-B-32-256:random]
                          [--vectors 1000000,10000000 | --no-vectors] [--json]

Each configuration indexes the same media into a new library per round, through the real CLI (`python -m app
index [--ray ADDRESS]`): `--photos` 12-MP photos with real, credited faces (bench.peers), then programmes of
bench.video of `--videos` minutes each (several, as an archive has: a cluster works on several videos at once, and
on one video with one worker), each set on its own. The clusters are real (`ray start`), in a network namespace with only
loopback (the bench runs itself under `unshare -n` where it may):
- local: `IndexJob` with the default settings (2 decode workers, ONNX on every core);
- ray, 1 node: a head node with every core, one worker actor per core;
- ray, 2 nodes: a head node with no core (the driver only) and two worker nodes of half the cores each.
On one machine the nodes share its cores, so "2 nodes" measures what distributing costs, not what a second
machine adds; the projection scales the measured rate per core of the machine instead (its throughput divided by
its cores: what the driver, Ray and the workers' threads cost is in it). Per round: photos/s and hours of video per
hour from the first file given out to the last stored (the model and the workers ready), and the whole command's
wall time; the Ray overhead per batch (time workers stood idle, per batch, and a round trip of an empty
batch); the driver's cost per stored picture, which bounds how many cores one writer can feed.
Vector stores: bench.archive_vectors (hnsw and lance: build, disk, memory, query p50/p99, recall@10).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PORT = 6391
HOURS = 100_000           # the archive of the projection (RAI: 500,000 h; Sound and Vision: 700,000 h)
PROGRAMME_H = 1.0         # its programmes' length: the default sampling keeps at most 300 frames a video
NODE_CORES = 32           # cores of one node in the projection
WEEK_H = 7 * 24


def _in_namespace() -> bool:
    return os.environ.get("IDLENS_BENCH_NAMESPACE") == "1"


def _reexec_in_namespace(argv: list[str]) -> None:
    """Nothing of the bench's clusters leaves the machine: it runs again inside a namespace with only loopback."""
    if _in_namespace() or not shutil.which("unshare"):
        return
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if probe.returncode != 0:
        print("note: no network namespace may be made here; the clusters bind 127.0.0.1 only", file=sys.stderr)
        return
    env = dict(os.environ, IDLENS_BENCH_NAMESPACE="1")
    sys.exit(subprocess.run(["unshare", "-n", sys.executable, "-m", "bench", "archive", *argv], env=env,
                            cwd=ROOT).returncode)


class Cluster:
    """`ray start` nodes on this machine: a head with `head_cpus`, and one worker node per entry of `workers`."""

    def __init__(self, head_cpus: int, workers: list[int]):
        self.head_cpus, self.workers = head_cpus, workers
        self.groups: list = []
        self.tmp = Path(tempfile.mkdtemp(prefix="ib", dir="/tmp"))

    def __enter__(self) -> str:
        try:
            return self._start()
        except BaseException:
            self.__exit__()
            raise

    def _start(self) -> str:
        from tests.cluster_harness import alive_nodes, start_node

        if _in_namespace():
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        self.groups.append(start_node(["--head", f"--port={PORT}", "--include-dashboard=false",
                                       f"--temp-dir={self.tmp}"], self.tmp / "head.log", self.head_cpus))
        self._wait(1, alive_nodes)
        for i, cpus in enumerate(self.workers):  # one after the other: two raylets starting at once on two
            # loaded cores can miss Ray's startup deadline
            self.groups.append(start_node([f"--address=127.0.0.1:{PORT}"], self.tmp / f"worker{i}.log", cpus))
            self._wait(2 + i, alive_nodes)
        return f"127.0.0.1:{PORT}"

    @staticmethod
    def _wait(n: int, alive) -> None:
        for _ in range(90):
            if alive(PORT) >= n:
                return
            time.sleep(1)
        raise RuntimeError(f"the bench's cluster did not reach {n} nodes")

    def __exit__(self, *exc) -> None:
        from tests.cluster_harness import kill

        for group in reversed(self.groups):
            kill(group)
        shutil.rmtree(self.tmp, ignore_errors=True)


def _index(media: Path, model: str, address: str | None, tmp: Path, settings: dict | None = None) -> dict:
    library, cache = tmp / "lib", tmp / "cache"
    shutil.rmtree(library, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    if settings:
        library.mkdir(parents=True)
        (library / "settings.json").write_text(json.dumps({"model": model, **settings}))
    cmd = [sys.executable, "-m", "app", "--library", str(library), "--model", model, "index", "--json", str(media)]
    if address:
        cmd[-2:-2] = ["--ray", address]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=3600,
                          env=dict(os.environ, IDLENS_CACHE=str(cache)))
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr[-2000:]}")
    report = json.loads(done.stdout)
    from core.library import Library

    lib = Library(library)
    try:
        faces, _ = lib.catalog.faces.counts()
        duration = sum(m.duration or 0.0 for m in lib.catalog.media.all())
    finally:
        lib.close()
    catalog = (library / "catalog.db").stat().st_size
    thumbnails = sum(p.stat().st_size for p in cache.rglob("*.jpg"))
    return {"wall_s": wall, "report": report, "faces": faces, "video_s": duration, "catalog_bytes": catalog,
            "thumbnail_bytes": thumbnails}


def _stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def _round_trip(address: str, rounds: int = 200) -> dict:
    """One worker, one batch at a time: the time Ray adds to a batch of 16 photos' worth of results (16 vectors,
    16 thumbnails of 15 kB, 16 catalog rows in), with no work in it."""
    import numpy as np
    import ray

    ray.init(address=address, logging_level=40, log_to_driver=False)
    try:
        @ray.remote(num_cpus=1)
        class Echo:
            def batch(self, files):
                return [(np.zeros(512, np.float32), b"x" * 15_000) for _ in files]

        echo = Echo.remote()
        files = [{"id": i, "path": f"/archive/{i:08}.jpg", "size": 3_500_000, "kind": "image"} for i in range(16)]
        ray.get(echo.batch.remote(files))
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            ray.get(echo.batch.remote(files))
            times.append((time.perf_counter() - t) * 1000)
        ray.kill(echo)
        times.sort()
        return {"p50_ms": times[len(times) // 2], "p99_ms": times[int(len(times) * 0.99) - 1], "rounds": rounds}
    finally:
        ray.shutdown()


def _figures(run: dict, kind: str, cores: int) -> dict:
    r = run["report"]
    pipeline = r.get("pipeline_seconds") or r["seconds"]
    out = {"wall_s": run["wall_s"], "pipeline_s": pipeline, "files": r["indexed"], "vectors": r["vectors"],
           "faces": run["faces"]}
    if kind == "photos":
        out["photos_per_s"] = r["indexed"] / pipeline
    else:
        out["video_hours_per_hour"] = run["video_s"] / pipeline
        out["core_s_per_video_s"] = cores * pipeline / run["video_s"]  # the machine's cores, all of the time
    c = r.get("cluster")
    if c:
        idle = max(0.0, c["workers"] * c["wall_seconds"] - c["worker_seconds"])
        out.update(workers=c["workers"], batches=c["batches"], worker_s=c["worker_seconds"],
                   idle_per_batch_ms=1000 * idle / max(1, c["batches"]))
        out["worker_s_per_vector"] = c["worker_seconds"] / max(1, r["vectors"])
    out["catalog_bytes_per_vector"] = run["catalog_bytes"] / max(1, r["vectors"])
    out["thumbnail_bytes_per_vector"] = run["thumbnail_bytes"] / max(1, r["vectors"])
    out["faces_per_vector"] = run["faces"] / max(1, r["vectors"])
    # The driver's own work per stored picture (the catalog's transaction, faces included, and the vector store):
    # one writer, however many workers.
    stages = r.get("stages", {})
    out["writer_s_per_vector"] = (stages.get("catalog", 0.0) + stages.get("index", 0.0)) / max(1, r["vectors"])
    return out


PROJECTED = "ray, 2 nodes"  # the configuration whose per-core rates the projection scales
HOUR_INTERVAL = PROGRAMME_H * 3600 / 300  # seconds between the frames the default keeps of a 1-hour programme
CONFIGS = {  # name -> (head cores, worker nodes' cores); None: a local index
    "local": None,
    "ray, 1 node": "head",
    "ray, 2 nodes": "two",
}


def run(photos: int = 60, videos: tuple[float, ...] = (2, 3, 4, 5), rounds: int = 3, model: str = "ViT-B-32-256:random",
        vectors: tuple[int, ...] = (1_000_000, 10_000_000), out=print) -> dict:
    from bench import peers, video

    cores = os.cpu_count() or 2
    subprocess.run([sys.executable, "-m", "app", "--model", model, "model", "install"], cwd=ROOT, check=True,
                   capture_output=True)
    results: dict = {"machine": {"cores": cores}, "photos": photos, "videos": list(videos), "rounds": rounds,
                     "model": model, "configs": {}}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        media_photos = peers.photo_set(peers.ensure_photos(photos), photos, tmp / "photos")
        media_video = tmp / "video"
        media_video.mkdir()
        for minutes in videos:
            shutil.copy(video.programme(minutes), media_video / f"programme-{minutes:g}min.mp4")
        for name, layout in CONFIGS.items():
            runs: dict = {"photos": [], "video": []}
            cluster = None if layout is None else (Cluster(cores, []) if layout == "head" else
                                                   Cluster(0, [cores // 2, cores - cores // 2]))
            address = cluster.__enter__() if cluster else None
            try:
                if address:
                    runs["round_trip"] = _round_trip(address)
                for _ in range(rounds):
                    for kind, media in (("photos", media_photos), ("video", media_video)):
                        runs[kind].append(_figures(_index(media, model, address, tmp / "run"), kind, cores))
                    if name == PROJECTED:  # sampled as the default samples a 1-hour programme: 300 frames
                        runs["video_hour_density"] = runs.get("video_hour_density", []) + [_figures(_index(
                            media_video, model, address, tmp / "run", {"video_interval": HOUR_INTERVAL}), "video",
                            cores)]
            finally:
                if cluster:
                    cluster.__exit__(None, None, None)
            results["configs"][name] = runs
            out(_config_line(name, runs))
    if vectors:
        from bench import archive_vectors

        results["vector_stores"] = archive_vectors.run(sizes=vectors, out=out)
    results["projection"] = projection(results)
    out(projection_table(results["projection"]))
    return results


def _config_line(name: str, runs: dict) -> str:
    p = _stats([r["photos_per_s"] for r in runs["photos"]])
    v = _stats([r["video_hours_per_hour"] for r in runs["video"]])
    line = (f"{name:13} photos/s {p['median']:.2f} ({p['min']:.2f}-{p['max']:.2f}); video h/h "
            f"{v['median']:.1f} ({v['min']:.1f}-{v['max']:.1f}); whole command {runs['photos'][0]['wall_s']:.1f} s "
            f"(photos), {runs['video'][0]['wall_s']:.1f} s (video)")
    if "round_trip" in runs:
        idle = _stats([r["idle_per_batch_ms"] for r in runs["photos"]])
        line += (f"; idle per batch {idle['median']:.0f} ms, empty batch round trip "
                 f"{runs['round_trip']['p50_ms']:.1f} ms p50 / {runs['round_trip']['p99_ms']:.1f} ms p99")
    return line


def projection(results: dict) -> dict:
    """100,000 hours of video, from the per-core rates measured on `ray, 2 nodes`, at two samplings: a frame every
    2 s (the default interval, the cap raised), and the default as it samples 1-hour programmes (300 frames each)."""
    from core.settings import Settings

    s = Settings()
    runs = results["configs"][PROJECTED]
    lance_per_vector = lance_bytes_per_vector(results.get("vector_stores") or {})
    rows = {}
    for name, key, interval in (("every 2 s", "video", s.video_interval),
                                ("default, 1-hour programmes", "video_hour_density", HOUR_INTERVAL)):
        measured = runs.get(key) or []
        if not measured:
            continue
        per_video_s = statistics.median(r["core_s_per_video_s"] for r in measured)  # core-s per video second
        frames = HOURS * 3600 / interval
        faces_per_frame = statistics.median(r["faces_per_vector"] for r in measured)
        core_hours = HOURS * per_video_s
        writer = statistics.median(r["writer_s_per_vector"] for r in measured)
        core_s_per_vector = per_video_s * interval
        rows[name] = {
            "interval_s": interval, "frames": frames, "faces": frames * faces_per_frame,
            "faces_per_frame": faces_per_frame,
            "catalog_tb": frames * statistics.median(r["catalog_bytes_per_vector"] for r in measured) / 1e12,
            "thumbnails_tb": frames * statistics.median(r["thumbnail_bytes_per_vector"] for r in measured) / 1e12,
            "lance_tb": frames * lance_per_vector / 1e12 if lance_per_vector else None,
            "hnsw_ram_gb": frames * HNSW_BYTES_PER_VECTOR / 1e9,
            "core_hours": core_hours, "core_s_per_video_s": per_video_s,
            "nodes_for_a_week": core_hours / (WEEK_H * NODE_CORES),
            "writer_vectors_per_s": 1 / writer if writer else None,
            "writer_feeds_cores": core_s_per_vector / writer if writer else None,
        }
    return {"hours": HOURS, "node_cores": NODE_CORES, "rows": rows}


def lance_bytes_per_vector(stores: dict) -> float | None:
    """The lance store's disk per vector at the largest size measured (bench.archive_vectors' results)."""
    measured = [r for r in stores.get("results", []) if r.get("store") == "lance" and r.get("measured")
                and r.get("disk_bytes")]
    if not measured:
        return None
    biggest = max(measured, key=lambda r: r["n"])
    return biggest["disk_bytes"] / biggest["n"]


# 512 float32, hnswlib's level-0 links (M=32: 2M neighbours of 4 bytes) and its label: what each vector costs in RAM
HNSW_BYTES_PER_VECTOR = 512 * 4 + 2 * 32 * 4 + 8


def projection_table(p: dict) -> str:
    rows = p["rows"]
    names = list(rows)

    def line(label: str, fmt) -> str:
        return f"  {label:24}" + "".join(f"{fmt(rows[n]):>30}" for n in names)

    def tb(x):
        return "n/a" if x is None else f"{x:,.2f} TB"

    return "\n".join([
        f"projection: {p['hours']:,} hours of video, from the per-core rates measured on '{PROJECTED}'",
        f"  {'':24}" + "".join(f"{n:>30}" for n in names),
        line("a frame every", lambda r: f"{r['interval_s']:g} s"),
        line("frames = CLIP vectors", lambda r: f"{r['frames']:,.0f}"),
        line("faces", lambda r: f"{r['faces']:,.0f} ({r['faces_per_frame']:.2f}/frame)"),
        line("catalog (SQLite)", lambda r: tb(r["catalog_tb"])),
        line("thumbnails", lambda r: tb(r["thumbnails_tb"])),
        line("lance vector store", lambda r: tb(r["lance_tb"])),
        line("hnsw would need, in RAM", lambda r: f"{r['hnsw_ram_gb']:,.0f} GB"),
        line("compute", lambda r: f"{r['core_hours']:,.0f} core-h"),
        line(f"nodes ({p['node_cores']} cores), 1 week", lambda r: f"{r['nodes_for_a_week']:.1f}"),
        line("one writer stores", lambda r: "n/a" if not r["writer_vectors_per_s"] else
             f"{r['writer_vectors_per_s']:,.0f} vectors/s"),
        line("... enough for", lambda r: "n/a" if not r["writer_feeds_cores"] else
             f"{r['writer_feeds_cores']:,.0f} worker cores"),
    ])


def main(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench archive", description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=60)
    parser.add_argument("--videos", default="2,3,4,5", help="minutes of each programme, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default="ViT-B-32-256:random")
    parser.add_argument("--vectors", default="1000000,10000000", help="sizes for the vector stores, comma-separated")
    parser.add_argument("--no-vectors", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    _reexec_in_namespace(argv)
    sizes = () if args.no_vectors else tuple(int(x) for x in args.vectors.split(",") if x)
    result = run(args.photos, tuple(float(x) for x in args.videos.split(",") if x), args.rounds, args.model, sizes,
                 out=(lambda *a: print(*a, file=sys.stderr)) if args.json else print)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    return result
