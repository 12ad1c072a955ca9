"""Search figures: text-encode latency (cold and warm), vector search latency and recall@10 (HNSW against exact),
numpy brute force, and a warm end-to-end query on a synthetic library.

Synthetic vectors are shaped like CLIP image embeddings — clustered, mean pairwise cosine about 0.3 — because
isotropic random vectors make every index look bad."""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def clip_like(n: int, dim: int, seed: int = 0, clusters: int = 200) -> np.ndarray:
    rng = np.random.default_rng(seed)
    common = rng.normal(size=dim)
    centres = rng.normal(size=(clusters, dim))
    which = rng.integers(0, clusters, n)
    x = 0.045 * common + 0.05 * centres[which] + 0.045 * rng.normal(size=(n, dim))
    x = x.astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def mean_pairwise_cosine(x: np.ndarray, sample: int = 2000) -> float:
    s = x[np.random.default_rng(1).choice(len(x), min(sample, len(x)), replace=False)]
    sims = s @ s.T
    return float((sims.sum() - len(s)) / (len(s) * (len(s) - 1)))


def _p50_ms(fn, repeats: int) -> tuple[float, float, float]:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), min(times), max(times)


def index_figures(n: int, dim: int = 512, queries: int = 100) -> dict:
    import hnswlib

    from core.clip import vector_index as vi

    data = clip_like(n + queries, dim)
    base, q = data[:n], data[n:]
    t = time.perf_counter()
    index = hnswlib.Index(space="cosine", dim=dim)
    index.init_index(max_elements=n, ef_construction=vi.EF_CONSTRUCTION, M=vi.M)
    index.add_items(base, np.arange(n))
    build_s = time.perf_counter() - t
    index.set_ef(vi.EF_SEARCH)
    exact = np.argsort(-(q @ base.T), axis=1)[:, :10]
    found, _ = index.knn_query(q, k=10)
    recall = float(np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact)]))
    i = iter(range(10**9))
    hnsw = _p50_ms(lambda: index.knn_query(q[next(i) % queries][None], k=10), queries)
    j = iter(range(10**9))

    def brute():
        v = q[next(j) % queries]
        s = base @ v
        np.argpartition(-s, 10)[:10]
    numpy_ms = _p50_ms(brute, min(queries, 50))
    return {"n": n, "mean_pairwise_cosine": round(mean_pairwise_cosine(base), 3), "hnsw_build_s": round(build_s, 1),
            "hnsw_query_ms": round(hnsw[0], 3), "hnsw_query_ms_range": [round(hnsw[1], 3), round(hnsw[2], 3)],
            "hnsw_recall10": round(recall, 4), "numpy_query_ms": round(numpy_ms[0], 3),
            "numpy_query_ms_range": [round(numpy_ms[1], 3), round(numpy_ms[2], 3)]}


def text_latency(model: str = "ViT-B-32:random", repeats: int = 20) -> dict:
    from core.clip.embedder import ClipEmbedder
    from core.settings import models_dir

    t = time.perf_counter()
    e = ClipEmbedder(model, models_dir())
    e.load()
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    e.encode_texts(["a dog on the beach"])
    cold_ms = (time.perf_counter() - t) * 1000
    texts = iter([f"a photo of thing number {i}" for i in range(1000)])
    warm = _p50_ms(lambda: e.encode_texts([next(texts)]), repeats)
    return {"model": model, "load_s": round(load_s, 2), "cold_ms": round(cold_ms, 1), "warm_p50_ms": round(warm[0], 1),
            "warm_range_ms": [round(warm[1], 1), round(warm[2], 1)]}


def synthetic_library(folder: Path, n: int, model: str, dim: int) -> Path:
    """A library of n photos whose vectors are CLIP-like (no files behind them: search does not open them)."""
    from core import store as cat
    from core.library import Library

    lib = Library(folder, model)
    vecs = clip_like(n, dim, seed=5)
    with lib.catalog.transaction():
        model_id = lib.catalog.items.model_id(model, dim)
        lib.catalog.set_library_model(model)
        # A fresh catalog numbers media and items 1..n in insertion order: item i belongs to media i.
        lib.catalog.media.add_many([(f"/synthetic/{i // 1000:04}/IMG_{i:06}.jpg", "image", 1, 1, f"{i:032x}",
                                     cat.INDEXED) for i in range(n)])
        lib.catalog.items.add_many([(i + 1, None, model_id, vecs[i]) for i in range(n)])
    lib.mark_index_dirty()
    _ = lib.index  # builds the index from the catalog
    lib.save_index()
    lib.close()
    return folder


def end_to_end(n: int, model: str = "ViT-B-32:random", repeats: int = 20) -> dict:
    from core.library import Library
    from core.search.ranking import search

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        synthetic_library(Path(tmp) / "lib", n, model, 64 if model == "tiny-test" else 512)
        build_s = time.perf_counter() - t
        lib = Library(Path(tmp) / "lib", model)
        search(lib, "warm up", k=20)
        words = iter([f"a dog on the beach number {i}" for i in range(1000)])
        p50 = _p50_ms(lambda: search(lib, next(words), k=20), repeats)
        lib.close()
    return {"n": n, "model": model, "library_build_s": round(build_s, 1), "query_p50_ms": round(p50[0], 1),
            "query_range_ms": [round(p50[1], 1), round(p50[2], 1)]}


def cold_start(n: int = 2000, model: str = "tiny-test") -> dict:
    """A new process, from nothing to the first search result on stdout."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        synthetic_library(Path(tmp) / "lib", n, model, 512 if model != "tiny-test" else 64)
        env = dict(os.environ, PYTHONPATH=str(root))
        times = []
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "app", "--library", str(Path(tmp) / "lib"), "search",
                            "a dog on the beach", "--json"], check=True, capture_output=True, env=env, cwd=root)
            times.append(time.perf_counter() - t)
    return {"model": model, "n": n, "seconds": round(statistics.median(times), 2),
            "range": [round(min(times), 2), round(max(times), 2)]}
