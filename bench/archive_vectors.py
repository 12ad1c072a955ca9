"""The two vector stores at archive sizes: hnsw (core.clip.vector_index, in RAM) against lance (core.clip.lance_index,
on disk), on synthetic CLIP-like vectors. `run()` is called by bench/archive.py (`python -m bench archive`).

The vectors are a mixture of Gaussian clusters around a shared mean direction, normalised. Uniform random unit
vectors would be the wrong test: in 512 dimensions they are all nearly orthogonal (every cosine ~0 +- 0.04), so no
point has real neighbours and every ANN index looks bad. CLIP embeddings of a photo library are clustered (scenes,
subjects, bursts of near-duplicates) and share a common direction (random pairs have cosine ~0.2-0.5), which this
mimics. Queries are new points drawn from the same mixture (a photo searched for, not one already stored).

Each (store, size) is measured in a fresh process (spawn), so its resident-memory delta is its own and not memory
an earlier build left in the allocator. The vectors are generated in chunks from (seed, chunk number): a child
regenerates exactly the parent's vectors without them ever being held whole (10M x 512 float32 is 20 GB).
Where a store cannot be built in this machine's memory or disk, its figures are projected from the per-vector
costs measured at the largest size that was built, and printed as "projected, not measured".
"""
from __future__ import annotations

import gc
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

CHUNK = 50_000
CENTRES = 2000       # clusters in the mixture (subjects, scenes): a few thousand, as a large library has
SPREAD = 0.045       # per-dimension noise around a centre: cosine to its centre ~0.7, like CLIP near-duplicates
MEAN_WEIGHT = 0.5    # the shared direction every CLIP embedding leans towards
K = 10
MODEL = "bench-synthetic"
# hnswlib per vector: the float32 vector, 2*M int32 links at layer 0, a label and the upper layers (~5 %).
HNSW_OVERHEAD = 2 * 32 * 4 + 8 + 64


def _centres(dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 0])
    mean = rng.normal(size=dim).astype(np.float32)
    mean /= np.linalg.norm(mean)
    c = rng.normal(size=(CENTRES, dim)).astype(np.float32)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    c = c + MEAN_WEIGHT * mean
    return c / np.linalg.norm(c, axis=1, keepdims=True)


def _mixture(rng, centres: np.ndarray, n: int) -> np.ndarray:
    dim = centres.shape[1]
    v = centres[rng.integers(0, len(centres), n)] + rng.normal(scale=SPREAD, size=(n, dim)).astype(np.float32)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def chunks(n: int, dim: int, seed: int = 0, chunk: int = CHUNK):
    """(labels, vectors) of the synthetic set, chunk by chunk; the same for the same (n, dim, seed, chunk)."""
    centres = _centres(dim, seed)
    for i, start in enumerate(range(0, n, chunk)):
        size = min(chunk, n - start)
        yield np.arange(start, start + size, dtype=np.int64), _mixture(np.random.default_rng([seed, 1, i]), centres, size)


def queries(count: int, dim: int, seed: int = 0) -> np.ndarray:
    return _mixture(np.random.default_rng([seed, 2]), _centres(dim, seed), count)


def ground_truth(n: int, dim: int, qs: np.ndarray, seed: int = 0, k: int = K) -> np.ndarray:
    """The exact top k labels of each query: one matrix product per chunk, the best k kept (RAM: one chunk)."""
    best_l = np.empty((len(qs), 0), dtype=np.int64)
    best_s = np.empty((len(qs), 0), dtype=np.float32)
    for labels, vectors in chunks(n, dim, seed):
        sims = np.concatenate([best_s, qs @ vectors.T], axis=1)
        cand = np.concatenate([best_l, np.broadcast_to(labels, (len(qs), len(labels)))], axis=1)
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        best_s, best_l = np.take_along_axis(sims, top, 1), np.take_along_axis(cand, top, 1)
    return best_l


def rss_bytes() -> int:
    """This process's resident memory now (Linux /proc; psutil is not a dependency)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def disk_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def _measure(store: str, n: int, dim: int, seed: int, qs: np.ndarray, truth: np.ndarray, folder: str) -> dict:
    """In a child process: build store of n vectors into folder, save it, load it afresh, query it."""
    from core.clip.lance_index import LanceIndex
    from core.clip.vector_index import VectorIndex

    before = rss_bytes()
    t = time.perf_counter()
    index: VectorIndex | LanceIndex
    if store == "hnsw":
        index = VectorIndex(MODEL, dim, capacity=n)
    else:
        index = LanceIndex(MODEL, dim, Path(folder))
        index.ann_min = min(index.ann_min, max(n // 2, 1000))  # a smoke-test size still trains its IVF-PQ index
    for labels, vectors in chunks(n, dim, seed):
        index.add(labels, vectors)
    index.save(Path(folder))
    build_s = time.perf_counter() - t
    build_rss = rss_bytes() - before
    del index
    gc.collect()
    # Serving: what a search process holds, loaded from disk (for hnsw the whole graph, for lance the labels and
    # whatever Lance caches while answering).
    before = rss_bytes()
    t = time.perf_counter()
    loaded = (VectorIndex if store == "hnsw" else LanceIndex).load(Path(folder), MODEL, dim)
    assert loaded is not None
    load_s = time.perf_counter() - t
    times, hits = [], 0
    loaded.graph_search(qs[0], K)  # the first query opens files and caches: not a latency users see twice
    for q, want in zip(qs, truth):
        t = time.perf_counter()
        got, _ = loaded.graph_search(q, K)
        times.append(time.perf_counter() - t)
        hits += len(set(got.tolist()) & set(want.tolist()))
    serve_rss = rss_bytes() - before
    ann = loaded.ann_index() if isinstance(loaded, LanceIndex) else "HNSW"
    return {"store": store, "n": n, "measured": True, "build_s": build_s, "disk_bytes": disk_bytes(Path(folder)),
            "build_rss_bytes": build_rss, "serve_rss_bytes": serve_rss, "load_s": load_s,
            "p50_ms": float(np.percentile(times, 50) * 1000), "p99_ms": float(np.percentile(times, 99) * 1000),
            "recall_at_10": hits / (K * len(qs)), "ann_index": ann}


def _fits(store: str, n: int, dim: int, folder: Path) -> tuple[bool, str]:
    """Whether building store at n is safe here: hnsw holds everything in RAM (vectors + graph, and hnswlib's copy
    while saving), lance needs the vectors' size on disk (twice, while a version is compacted or replaced)."""
    with open("/proc/meminfo") as f:
        avail = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    free = shutil.disk_usage(folder).free
    if store == "hnsw":
        need = n * (dim * 4 + HNSW_OVERHEAD) * 1.3
        return need < avail * 0.7, f"needs ~{need / 2**30:.1f} GiB RAM, {avail / 2**30:.1f} GiB available"
    need = n * dim * 4 * 2.2
    return need < free * 0.8, f"needs ~{need / 2**30:.1f} GiB disk, {free / 2**30:.1f} GiB free"


def _project(measured: dict, n: int, why: str) -> dict:
    """Per-vector costs of the largest measured build, scaled linearly to n (build time a little worse than
    linear for HNSW, log n per insert: scaled by n log n). Latency and recall are not projected."""
    scale = n / measured["n"]
    build_scale = scale * np.log(n) / np.log(measured["n"]) if measured["store"] == "hnsw" else scale
    return {"store": measured["store"], "n": n, "measured": False, "why": why,
            "build_s": measured["build_s"] * build_scale, "disk_bytes": measured["disk_bytes"] * scale,
            "build_rss_bytes": measured["build_rss_bytes"] * scale,
            "serve_rss_bytes": measured["serve_rss_bytes"] * scale, "load_s": measured["load_s"] * scale,
            "p50_ms": None, "p99_ms": None, "recall_at_10": None, "ann_index": measured["ann_index"],
            "projected_from": measured["n"]}


def _line(r: dict) -> str:
    mib = 2 ** 20
    head = f"{r['store']:5} {r['n']:>11,}"
    body = (f"build {r['build_s']:8.1f} s  disk {r['disk_bytes'] / mib:8.0f} MiB  "
            f"RSS build {r['build_rss_bytes'] / mib:7.0f} MiB, serving {r['serve_rss_bytes'] / mib:7.0f} MiB")
    if not r["measured"]:
        return f"{head}  PROJECTED, NOT MEASURED (from {r['projected_from']:,}; {r['why']}): {body}"
    return (f"{head}  {body}  load {r['load_s']:.2f} s  query p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms  "
            f"recall@10 {r['recall_at_10']:.3f}  ({r['ann_index']})")


def run(sizes=(1_000_000, 10_000_000), dim: int = 512, queries: int = 200, seed: int = 0, out=print,
        stores=("hnsw", "lance"), folder: str | None = None) -> dict:
    """Build and query each store at each size; returns {"results": [...], "ratios": [...]} and prints lines.
    `folder`: where the stores are written (a temporary folder by default; removed after each measurement)."""
    base = Path(folder or tempfile.mkdtemp(prefix="idlens-bench-vectors-"))
    base.mkdir(parents=True, exist_ok=True)
    results: list[dict] = []
    last: dict[str, dict] = {}
    qs = _queries(queries, dim, seed)
    for n in sizes:
        fits = {store: _fits(store, n, dim, base) for store in stores}
        truth = None
        if any(ok for ok, _ in fits.values()):  # the ground truth only for a size something is built at
            t = time.perf_counter()
            truth = ground_truth(n, dim, qs, seed)
            out(f"{n:,} vectors x {dim}-d, {len(qs)} queries: exact ground truth in {time.perf_counter() - t:.1f} s")
        for store in stores:
            target = base / f"{store}-{n}"
            ok, why = fits[store]
            if not ok:
                if store in last:
                    r = _project(last[store], n, why)
                else:
                    out(f"{store:5} {n:>11,}  skipped: {why}, and no smaller size measured to project from")
                    continue
            else:
                with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                    r = pool.submit(_measure, store, n, dim, seed, qs, truth, str(target)).result()
                last[store] = r
                shutil.rmtree(target, ignore_errors=True)
            results.append(r)
            out(_line(r))
    ratios = []
    for n in sizes:
        pair = {r["store"]: r for r in results if r["n"] == n}
        if "hnsw" in pair and "lance" in pair:
            h, ll = pair["hnsw"], pair["lance"]
            ratio = {"n": n, "measured": h["measured"] and ll["measured"]}
            for key in ("build_s", "disk_bytes", "serve_rss_bytes", "p50_ms", "p99_ms"):
                ratio[key] = ll[key] / h[key] if h[key] and ll[key] is not None else None
            ratios.append(ratio)
            words = ", ".join(f"{key} {v:.2f}x" for key, v in ratio.items() if key not in ("n", "measured")
                              and v is not None)
            out(f"lance/hnsw at {n:,}: {words}" + ("" if ratio["measured"] else "  (uses projected figures)"))
    if folder is None:
        shutil.rmtree(base, ignore_errors=True)
    return {"results": results, "ratios": ratios}


_queries = queries  # run()'s parameter of that name (the count) shadows the function inside it

