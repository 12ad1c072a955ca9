"""The benchmarks keep working: a smoke run of the whole suite (seconds, small sizes, tiny model)."""
import json
import subprocess
import sys

from tests.conftest import ROOT


def test_quick_benchmark_prints_every_figure():
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--json"], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    for key in ("pipeline_vs_bound", "speedup_faithful", "cosine_faithful", "query_p50_ms_100k", "hnsw_1m_query_ms",
                "hnsw_1m_recall10", "rescan_100k_s", "cold_start_s", "gui_rss_mb_100k", "machine"):
        assert key in out
    assert 0 < out["pipeline_vs_bound"] and out["cold_start_s"] > 0 and out["gui_rss_mb"] > 0
    assert out["index"][0]["hnsw_recall10"] > 0.9
