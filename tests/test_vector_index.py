import json

import numpy as np
import pytest

from core.clip.vector_index import HEADER, IndexMismatch, VectorIndex


def unit(rng, n, dim):
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_add_search_grow_remove(tmp_path):
    rng = np.random.default_rng(0)
    vecs = unit(rng, 3000, 32)
    idx = VectorIndex("m", 32, capacity=16)  # must grow by resizing
    idx.add(np.arange(3000), vecs)
    labels, scores = idx.search(vecs[1234], 5)
    assert labels[0] == 1234 and scores[0] == pytest.approx(1.0, abs=1e-4)
    g_labels, g_scores = idx.graph_search(vecs[1234], 5)   # the graph and the exact search agree
    assert list(g_labels) == list(labels) and np.allclose(g_scores, scores, atol=1e-4)
    idx.remove([1234])
    labels, _ = idx.search(vecs[1234], 5)
    assert 1234 not in labels and len(idx) == 2999


def test_save_load_round_trip_and_old_files_removed(tmp_path):
    rng = np.random.default_rng(1)
    vecs = unit(rng, 100, 16)
    idx = VectorIndex("m", 16)
    idx.add(np.arange(100) + 1000, vecs)
    idx.save(tmp_path)
    idx.remove([1000])
    idx.save(tmp_path)
    assert len(list(tmp_path.glob("index-*.hnsw"))) == 1
    back = VectorIndex.load(tmp_path, "m", 16)
    assert len(back) == 99 and 1000 not in back.labels
    assert back.search(vecs[5], 1)[0][0] == 1005
    back.add(np.array([1000]), vecs[:1])  # a removed label can come back (a file restored)
    assert back.search(vecs[0], 1)[0][0] == 1000


def test_other_model_is_refused(tmp_path):
    idx = VectorIndex("model-a", 16)
    idx.add(np.array([1]), unit(np.random.default_rng(2), 1, 16))
    idx.save(tmp_path)
    with pytest.raises(IndexMismatch, match="re-embed"):
        VectorIndex.load(tmp_path, "model-b", 16)
    with pytest.raises(IndexMismatch):
        VectorIndex.load(tmp_path, "model-a", 32)


def test_interrupted_save_keeps_the_previous_index(tmp_path):
    idx = VectorIndex("m", 8)
    idx.add(np.array([1, 2]), unit(np.random.default_rng(3), 2, 8))
    idx.save(tmp_path)
    header = json.loads((tmp_path / HEADER).read_text())
    # A crash after writing the new graph but before the header rename leaves a stray file and the old header.
    (tmp_path / "index-deadbeef.hnsw").write_bytes(b"partial")
    (tmp_path / (HEADER + ".tmp")).write_text("{")
    back = VectorIndex.load(tmp_path, "m", 8)
    assert back.generation == header["generation"] and len(back) == 2
