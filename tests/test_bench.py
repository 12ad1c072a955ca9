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


def test_peers_measures_a_child_not_the_parent_and_prints_its_table():
    """`python -m bench peers` (beside rclip) in miniature: a child's own peak memory, CPU and first result, and
    the table with ratios and targets; the real run needs rclip's venv and minutes, so it is not run here."""
    from bench import peers

    ballast = bytearray(300 * 2**20)  # this process is large; the child must not inherit its peak
    ballast[::4096] = b"x" * len(ballast[::4096])
    small = peers.measure([sys.executable, "-c", "print('/p/IMG_00000.jpg')"])
    assert small["peak_rss_mb"] < 100 and small["first_result_s"] is not None and small["seconds"] > 0
    big = peers.measure([sys.executable, "-c", "b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096])"])
    assert big["peak_rss_mb"] > 190 and big["first_result_s"] is None
    run = peers.spread([{"seconds": 2.0, "first_result_s": 1.0, "cpu_s": 3.0, "peak_rss_mb": 150.0},
                        {"seconds": 2.5, "first_result_s": 1.2, "cpu_s": 3.5, "peak_rss_mb": 160.0},
                        {"seconds": 1.5, "first_result_s": 0.9, "cpu_s": 2.5, "peak_rss_mb": 140.0}])
    assert (run["seconds"], run["seconds_min"], run["seconds_max"], run["n"]) == (2.0, 1.5, 2.5, 3)
    slow = dict(run, seconds=4.0, first_result_s=2.0, peak_rss_mb=1100.0)
    out = {"photos": {"small_job": 8, "big_job": 100}, "rclip": {"available": True}, "rounds": 3, "big_rounds": 3,
           "idlens_model_prep": "idlens model install", "idlens_model_prep_s": 40.0, "machine": {"cores": 2},
           "seed": 7,
           "jobs": {"cold_search": {"idlens_int8": run, "idlens_fp32": run, "rclip": slow},
                    "small_job": {"idlens_int8": slow, "idlens_fp32": slow, "rclip": run},
                    "index_faces_off": {"idlens_int8": run, "idlens_fp32": run, "rclip": run},
                    "index_faces_on": {"idlens_int8": run, "idlens_fp32": slow, "rclip": run}},
           "install_mb": {"idlens": 900.0, "rclip": 250.0}}
    peers.summarise(out)
    assert out["cold_search_s"] == 1.0 and out["cold_search_vs_rclip"] == 0.5
    assert out["index_faces_on_vs_rclip_int8"] == 1.0 and out["index_faces_on_vs_rclip_fp32"] == 2.0
    met = {t["target"]: t["met"] for t in out["targets"]}
    assert met["cold search <= 0.5x rclip (Idlens fp32)"] is True
    assert met["small job <= 0.7x rclip (Idlens int8)"] is False
    assert met["100 photos with faces <= 0.6x rclip without (Idlens int8)"] is False
    assert met["indexing peak <= 1024 MB (Idlens fp32, faces on)"] is False
    assert met["indexing peak <= 1024 MB (Idlens int8, faces on)"] is True
    text = peers.table(out)
    assert "2.00 [1.50-2.50]" in text and "NOT met" in text and "seed 7" in text and "fp32" in text
    del ballast


def test_bench_xmp_runs_and_puts_no_name_on_another_face(tmp_path):
    """`python -m bench xmp` in miniature, on the test photos (the real run uses faces-more's group photos)."""
    import shutil

    import pytest

    from bench import xmp
    from core.faces.regions import ExifTool

    if not ExifTool().available:
        pytest.skip("ExifTool is not installed (.ci/run installs it)")
    for name in ("person_a_1.jpg", "person_b_2.jpg"):
        shutil.copy(ROOT / "tests" / "data" / "faces" / name, tmp_path / name)
    out = xmp.run(tmp_path, seed=3)
    assert out["photos"] == 2 and out["regions"] >= 2 and out["on_another_face"] == 0
    assert out["on_their_face"] == out["regions"] and out["read_back_iou"]["min"] > 0.99
    assert out["second_write"]["unchanged"] == 2 and out["sidecar_check_10k_photos_s"]["listed_s"] > 0
