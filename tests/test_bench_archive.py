"""bench archive's arithmetic: the figures of a run and the 100,000-hour projection come out of what was measured
(the real run starts clusters and takes minutes: README "Archives and clusters" quotes it)."""
import pytest

from bench import archive


def _video_run(worker_s: float, vectors: int, video_s: float) -> dict:
    report = {"indexed": 1, "vectors": vectors, "seconds": 10.0, "pipeline_seconds": 8.0,
              "stages": {"catalog": 0.4, "index": 0.1},
              "cluster": {"workers": 2, "wall_seconds": 8.0, "worker_seconds": worker_s, "batches": 1}}
    return {"wall_s": 12.0, "report": report, "faces": vectors * 2, "video_s": video_s,
            "catalog_bytes": vectors * 3000, "thumbnail_bytes": vectors * 12000}


def test_a_run_gives_rates_per_core_and_the_projection_scales_them():
    every_2s = archive._figures(_video_run(worker_s=15.0, vectors=150, video_s=300.0), "video", cores=2)
    assert every_2s["video_hours_per_hour"] == 300.0 / 8.0
    assert every_2s["core_s_per_video_s"] == 2 * 8.0 / 300.0 and every_2s["idle_per_batch_ms"] == 1000.0
    assert every_2s["faces_per_vector"] == 2.0 and every_2s["writer_s_per_vector"] == 0.5 / 150
    hourly = archive._figures(_video_run(worker_s=6.0, vectors=25, video_s=1200.0), "video", cores=2)
    results = {"configs": {archive.PROJECTED: {"video": [every_2s], "video_hour_density": [hourly]}},
               "vector_stores": {"results": [{"store": "lance", "n": 1000, "measured": True, "disk_bytes": 2_600_000},
                                             {"store": "lance", "n": 10_000, "measured": True, "disk_bytes": 25_000_000},
                                             {"store": "lance", "n": 100_000, "measured": False}]}}
    p = archive.projection(results)
    a, b = p["rows"]["every 2 s"], p["rows"]["default, 1-hour programmes"]
    assert a["frames"] == 100_000 * 1800 and b["frames"] == 100_000 * 300
    assert a["core_hours"] == pytest.approx(100_000 * 16 / 300) and b["core_hours"] == pytest.approx(100_000 * 16 / 1200)
    assert a["nodes_for_a_week"] == a["core_hours"] / (168 * archive.NODE_CORES)
    assert a["lance_tb"] == a["frames"] * 2500 / 1e12 and a["catalog_tb"] == a["frames"] * 3000 / 1e12
    # One writer stores a vector in 1/300 s; the cores make one in 16/300 * 2 core-s: it keeps 32 cores busy.
    assert round(a["writer_feeds_cores"], 6) == 32.0
    table = archive.projection_table(p)
    assert "180,000,000" in table and "30,000,000" in table and "core-h" in table
