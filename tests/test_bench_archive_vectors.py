"""bench.archive_vectors at a smoke-test size: both stores built, saved, loaded and queried in child processes, every
figure present, recall measured against the exact ground truth, and a size too big for this machine projected."""
import numpy as np
import pytest

pytest.importorskip("lancedb")

from bench import archive_vectors  # noqa: E402


def test_the_synthetic_vectors_are_clustered_unit_and_repeatable():
    labels, a = next(archive_vectors.chunks(3000, 64, seed=5, chunk=1000))
    _, b = next(archive_vectors.chunks(3000, 64, seed=5, chunk=1000))
    assert np.array_equal(a, b) and labels.tolist() == list(range(1000))
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    sims = a @ a.T
    np.fill_diagonal(sims, -1)
    assert sims.max(axis=1).mean() > 0.5 > float(np.median(sims))  # near neighbours exist, most pairs are far


def test_run_measures_both_stores_and_projects_what_cannot_be_built(tmp_path):
    lines = []
    out = archive_vectors.run(sizes=(2000, 10**12), dim=32, queries=10, out=lines.append, folder=str(tmp_path))
    measured = [r for r in out["results"] if r["measured"]]
    assert {r["store"] for r in measured} == {"hnsw", "lance"} and {r["n"] for r in measured} == {2000}
    for r in measured:
        assert r["build_s"] > 0 and r["disk_bytes"] > 0 and r["p99_ms"] >= r["p50_ms"] > 0
        assert 0.9 <= r["recall_at_10"] <= 1.0
    projected = [r for r in out["results"] if not r["measured"]]
    assert {r["store"] for r in projected} == {"hnsw", "lance"} and projected[0]["p50_ms"] is None
    assert sum("PROJECTED, NOT MEASURED" in line for line in lines) == 2
    assert out["ratios"][0]["n"] == 2000 and out["ratios"][0]["build_s"] > 0
    assert any(line.startswith("lance/hnsw at 2,000") for line in lines)
