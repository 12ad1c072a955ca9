"""The lance vector store (core.clip.lance_index): the same behaviour as the hnsw one through the same interface, a
library set to `"vector_store": "lance"` indexed and searched through the real CLI, doctor and status naming it, a
lost or damaged store rebuilt from the catalog, and the ANN path's recall after its exact re-rank. Real lancedb."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("lancedb")

from bench.archive_vectors import chunks, queries  # noqa: E402
from core.clip.lance_index import HEADER, LanceIndex  # noqa: E402
from core.clip.vector_index import IndexMismatch, VectorIndex  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.test_cli import idlens  # noqa: E402


def unit(rng, n, dim):
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture(params=["hnsw", "lance"])
def kind(request):
    return request.param


def make(kind, dim, folder=None):
    return VectorIndex("m", dim, capacity=16) if kind == "hnsw" else LanceIndex("m", dim, folder)


def load(kind, folder, model="m", dim=16):
    return (VectorIndex if kind == "hnsw" else LanceIndex).load(folder, model, dim)


# -- the interface, on both stores (tests/test_vector_index.py's cases) -------------------------------------------
def test_add_search_grow_remove(kind):
    rng = np.random.default_rng(0)
    vecs = unit(rng, 3000, 32)
    idx = make(kind, 32)
    idx.add(np.arange(3000), vecs)
    labels, scores = idx.search(vecs[1234], 5)
    assert labels[0] == 1234 and scores[0] == pytest.approx(1.0, abs=1e-4)
    g_labels, g_scores = idx.graph_search(vecs[1234], 5)   # the ANN path and the exact search agree
    assert list(g_labels) == list(labels) and np.allclose(g_scores, scores, atol=1e-4)
    idx.remove([1234])
    labels, _ = idx.search(vecs[1234], 5)
    assert 1234 not in labels and len(idx) == 2999 and 1234 not in idx.labels and 1233 in idx.labels
    assert list(idx.labels_array()) == [i for i in range(3000) if i != 1234]
    assert sorted(idx.labels) == list(idx.labels_array()) and len(idx.labels) == 2999


def test_save_load_round_trip_and_old_files_removed(kind, tmp_path):
    rng = np.random.default_rng(1)
    vecs = unit(rng, 100, 16)
    idx = make(kind, 16)
    idx.add(np.arange(100) + 1000, vecs)
    first = idx.save(tmp_path)
    idx.remove([1000])
    second = idx.save(tmp_path)
    assert first != second  # a change is a new generation
    assert len(list(tmp_path.glob("index-*.hnsw" if kind == "hnsw" else "*.lance"))) == 1
    back = load(kind, tmp_path)
    assert len(back) == 99 and 1000 not in back.labels and back.generation == second
    assert back.search(vecs[5], 1)[0][0] == 1005
    back.add(np.array([1000]), vecs[:1])  # a removed label can come back (a file restored)
    assert back.search(vecs[0], 1)[0][0] == 1000
    back.add(np.array([1001]), vecs[50:51])  # re-adding a live label replaces its vector
    assert set(back.search(vecs[50], 2)[0].tolist()) == {1001, 1050}
    assert back.search(vecs[1], 1)[0][0] != 1001 and len(back) == 100
    assert back.sample(1000).shape == (100, 16)


def test_other_model_is_refused(kind, tmp_path):
    idx = make(kind, 16)
    idx.add(np.array([1]), unit(np.random.default_rng(2), 1, 16))
    idx.save(tmp_path)
    with pytest.raises(IndexMismatch, match="re-embed"):
        load(kind, tmp_path, "model-b", 16)
    with pytest.raises(IndexMismatch):
        load(kind, tmp_path, "m", 32)


def test_absent_store_loads_as_none(kind, tmp_path):
    assert load(kind, tmp_path / "nothing") is None


def test_lance_interrupted_save_keeps_the_previous_store(tmp_path):
    idx = LanceIndex("m", 8)
    idx.add(np.array([1, 2]), unit(np.random.default_rng(3), 2, 8))
    gen = idx.save(tmp_path)
    # A crash while a rebuild wrote its new table, before the header rename: a stray table and a torn header.
    (tmp_path / "deadbeef0000.lance" / "data").mkdir(parents=True)
    (tmp_path / "deadbeef0000.lance" / "data" / "x.lance").write_bytes(b"partial")
    (tmp_path / (HEADER + ".tmp")).write_text("{")
    back = LanceIndex.load(tmp_path, "m", 8)
    assert back.generation == gen and len(back) == 2


def test_rows_added_and_removed_between_saves_write_nothing(tmp_path):
    """What a process killed before its next save leaves is the last save: adding rows, replacing and removing some
    of them again commits no version of the table (the kill test below hits that window only by chance)."""
    idx = LanceIndex("m", 8, tmp_path)
    idx.add(np.arange(10), np.eye(10, 8, dtype=np.float32) + 0.1)
    gen = idx.save(tmp_path)
    idx.add(np.arange(10, 20), -np.ones((10, 8), np.float32))
    idx.add(np.arange(15, 20), np.ones((5, 8), np.float32))       # pending rows replaced
    idx.remove(np.arange(10, 15))                                 # pending rows removed
    on_disk = LanceIndex.load(tmp_path, "m", 8)
    assert on_disk.generation == gen and on_disk.labels_array().tolist() == list(range(10))
    assert idx.labels_array().tolist() == list(range(10)) + list(range(15, 20))
    idx.save(tmp_path)
    back = LanceIndex.load(tmp_path, "m", 8)
    assert back.labels_array().tolist() == list(range(10)) + list(range(15, 20))
    assert 15 <= back.search(np.ones(8, np.float32), 1)[0][0] < 20  # the replacing vectors, not the first ones


def test_lance_store_killed_mid_save_still_loads(tmp_path):
    """kill -9 while a process adds, removes and saves in a loop: whatever moment it died at, the store loads and
    its labels are those of one consistent version (the catalog then brings it in line)."""
    script = (
        "import numpy as np, sys\n"
        "from pathlib import Path\n"
        "from core.clip.lance_index import LanceIndex\n"
        "folder = Path(sys.argv[1])\n"
        "idx = LanceIndex('m', 16, folder)\n"
        "rng = np.random.default_rng(0)\n"
        "for i in range(1000):\n"
        "    idx.add(np.arange(i * 100, i * 100 + 100), rng.normal(size=(100, 16)).astype(np.float32))\n"
        "    idx.remove(np.arange(i * 100, i * 100 + 50))\n"
        "    idx.save(folder)\n"
        "    print(i, flush=True)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    for _ in range(3):  # a few saves done, then killed in the middle of whatever comes next
        proc.stdout.readline()
    time.sleep(0.13)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    back = LanceIndex.load(tmp_path, "m", 16)
    assert back is not None and len(back) >= 150
    labels = back.labels_array()
    # Rows added and removed again before a save are never written, so the table is always at one save's labels.
    saves = len(labels) // 50
    assert labels.tolist() == [j * 100 + r for j in range(saves) for r in range(50, 100)]
    assert back.search(np.ones(16, np.float32), 3)[0].size == 3


# -- the ANN path -------------------------------------------------------------------------------------------------
def test_ann_recall_after_the_exact_rerank(tmp_path):
    """Clustered CLIP-like vectors (bench.archive_vectors' mixture), the IVF-PQ index forced with a low threshold:
    recall@10 against exact search at least 0.95, and every score the exact cosine."""
    dim, n = 128, 4000
    idx = LanceIndex("m", dim, tmp_path)
    idx.ann_min = idx.exact_max = 1000
    for labels, vectors in chunks(n, dim, seed=1, chunk=1000):
        idx.add(labels, vectors)
    idx.save(tmp_path)
    assert idx.ann_index() == "IVF_PQ"
    qs = queries(50, dim, seed=1)
    hits = 0
    for q in qs:
        exact_labels, exact_scores = idx.exact_search(q, 10)
        labels, scores = idx.search(q, 10)   # above exact_max: the ANN path
        hits += len(set(labels.tolist()) & set(exact_labels.tolist()))
        assert np.all(np.diff(scores) <= 1e-6)
        exact = dict(zip(exact_labels.tolist(), exact_scores.tolist()))
        assert all(score == pytest.approx(exact[label], abs=1e-5)
                   for label, score in zip(labels.tolist(), scores.tolist()) if label in exact)
    assert hits / (10 * len(qs)) >= 0.95


def test_ann_index_grows_without_retraining_and_sees_changes(tmp_path):
    dim = 64
    idx = LanceIndex("m", dim, tmp_path)
    idx.ann_min = idx.exact_max = 1000
    for labels, vectors in chunks(2000, dim, seed=2, chunk=1000):
        idx.add(labels, vectors)
    idx.save(tmp_path)
    fresh = unit(np.random.default_rng(4), 10, dim)
    idx.add(np.arange(10_000, 10_010), fresh)   # written after training: optimize() appends them to the index
    idx.remove(np.arange(0, 100))
    idx.save(tmp_path)
    back = LanceIndex.load(tmp_path, "m", dim)
    back.exact_max = 1000
    assert back.ann_index() == "IVF_PQ" and len(back) == 1910
    assert [back.search(v, 1)[0][0] for v in fresh] == list(range(10_000, 10_010))
    _, vectors = next(chunks(2000, dim, seed=2, chunk=1000))
    assert all(back.search(vectors[i], 10)[0].min() >= 100 for i in range(0, 100, 10))


def test_the_default_store_does_not_import_lancedb(tmp_path):
    code = ("import sys, numpy as np\n"
            "from core.clip.stores import new_store\n"
            "idx = new_store('hnsw', 'm', 8, None)\n"
            "idx.add(np.arange(3), np.eye(3, 8, dtype=np.float32))\n"
            "idx.search(np.eye(1, 8, dtype=np.float32)[0], 1)\n"
            "assert 'lancedb' not in sys.modules and 'pyarrow' not in sys.modules, 'imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)))


def test_lance_without_lancedb_says_how_to_install_it(photos, tmp_path):
    """A library set to lance in an install without lancedb (its import made to fail, as when it is absent)."""
    library = tmp_path / "lib"
    library.mkdir()
    (library / "settings.json").write_text(json.dumps({"vector_store": "lance"}))
    code = ("import sys, runpy\nsys.modules['lancedb'] = None\nsys.argv = ['idlens', *sys.argv[1:]]\n"
            "runpy.run_module('app', run_name='__main__')\n")
    env = dict(os.environ, IDLENS_MODEL="tiny-test", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code, "--library", str(library), "index", str(photos)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode != 0 and "pip install 'idlens[archive]'" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


# -- a library on the lance store, through the CLI -----------------------------------------------------------------
def lance_library(path):
    path.mkdir(parents=True, exist_ok=True)
    (path / "settings.json").write_text(json.dumps({"vector_store": "lance"}))
    return str(path)


def top(library, photo, k=4):
    res = json.loads(idlens("--library", library, "search", "--image", str(photo), "-k", str(k), "--json").stdout)
    return [(r["path"], round(r["score"], 4)) for r in res["results"]]


def test_a_lance_library_answers_as_the_default_one(photos, tmp_path):
    lance = lance_library(tmp_path / "lance")
    hnsw = str(tmp_path / "hnsw")
    for library in (lance, hnsw):
        idlens("--library", library, "index", str(photos))
    assert (tmp_path / "lance" / "vectors-lance" / HEADER).exists() and not (tmp_path / "lance" / "vectors").exists()
    for photo in sorted(photos.rglob("*.*")):
        assert top(lance, photo) == top(hnsw, photo)
    text = json.loads(idlens("--library", lance, "search", "a beach", "--json").stdout)["results"]
    assert [r["path"] for r in text] == \
        [r["path"] for r in json.loads(idlens("--library", hnsw, "search", "a beach", "--json").stdout)["results"]]

    status = json.loads(idlens("--library", lance, "status", "--json").stdout)
    assert status["vector_store"] == {"name": "lance", "vectors": 6, "ann_index": None}
    assert "vector store: lance (6 vectors, ANN index: none, exact search)" in idlens("--library", lance,
                                                                                     "status").stdout
    assert "vector store: hnsw (6 vectors, ANN index: HNSW)" in idlens("--library", hnsw, "status").stdout
    checks = {c["name"]: c for c in json.loads(idlens("--library", lance, "doctor", "--json", check=False)
                                               .stdout)["checks"]}
    assert checks["index"]["status"] == "ok" and checks["index"]["message"].startswith("lance store: agrees")
    assert checks["index"]["data"]["store"] == "lance"


def test_a_lost_or_damaged_lance_store_is_rebuilt_from_the_catalog(photos, tmp_path):
    lance = lance_library(tmp_path / "lance")
    idlens("--library", lance, "index", str(photos))
    want = top(lance, photos / "photo1.jpg")
    store = tmp_path / "lance" / "vectors-lance"

    shutil.rmtree(store)  # lost: the next search rebuilds it from the catalog, and keeps it
    assert top(lance, photos / "photo1.jpg") == want
    assert (store / HEADER).exists()
    assert "agrees" in json.loads(idlens("--library", lance, "doctor", "--json", check=False).stdout)["checks"][1][
        "message"]

    for data in store.glob("*.lance/data/*"):  # damaged: every data file overwritten
        data.write_bytes(b"\0" * 64)
    doctor = json.loads(idlens("--library", lance, "doctor", "--json", check=False).stdout)
    index = next(c for c in doctor["checks"] if c["name"] == "index")
    assert index["status"] == "fail" and index["message"].startswith("lance store: the vector index cannot be read")
    repaired = json.loads(idlens("--library", lance, "doctor", "--repair", "--json", check=False).stdout)
    assert repaired["healthy"] and any("rebuilt the vector index (lance store)" in a for a in repaired["actions"])
    assert top(lance, photos / "photo1.jpg") == want

    (store / HEADER).write_text("{")   # a torn header: the search rebuilds rather than fails
    assert top(lance, photos / "photo1.jpg") == want


def test_switching_an_existing_library_to_lance_rebuilds_it(photos, tmp_path):
    library = str(tmp_path / "lib")
    idlens("--library", library, "index", str(photos))
    want = top(library, photos / "photo3.jpg")
    settings = json.loads((tmp_path / "lib" / "settings.json").read_text())
    (tmp_path / "lib" / "settings.json").write_text(json.dumps({**settings, "vector_store": "lance"}))
    assert top(library, photos / "photo3.jpg") == want
    assert json.loads(idlens("--library", library, "status", "--json").stdout)["vector_store"]["vectors"] == 6
    assert (tmp_path / "lib" / "vectors").exists()   # the hnsw store is left as it was, for a switch back
