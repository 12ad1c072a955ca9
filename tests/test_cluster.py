"""`idlens index --ray`: on a real two-node Ray cluster (tests/cluster_harness.py, in a network namespace with only
loopback), an index gives the library a local index gives it, and losing a worker node mid-run loses and doubles
nothing. The libraries are compared in full: files, statuses, frames, vectors, faces and their boxes, names read
from XMP, people, thumbnails and search results.

The libraries use the fp32 image tower: the int8 tower's activations are quantised per batch (ONNX Runtime's
dynamic quantisation), so its vectors depend slightly on which photos share a batch, in a local index as well
(README, "Archives and clusters": cosine at least 0.9998); fp32 lets the comparison be exact.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from tests import media_factory
from tests.test_cli import ROOT, idlens

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'idlens[archive]')")
FACES = ROOT / "tests" / "data" / "faces"


def _namespaces_allowed() -> str | None:
    if not shutil.which("unshare") or not shutil.which("ip"):
        return "unshare or ip (util-linux, iproute2) is not installed"
    done = subprocess.run(["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True, text=True)
    return None if done.returncode == 0 else f"no network namespace may be made here ({done.stderr.strip()})"


pytestmark = pytest.mark.skipif(bool(_namespaces_allowed()), reason=str(_namespaces_allowed()))


def _folder(root: Path) -> Path:
    """Real faces (one named by a digiKam sidecar, if ExifTool is here), 80 generated photos, two videos (one of
    the faces) and a damaged file."""
    folder = root / "media"
    folder.mkdir()
    for f in sorted(FACES.glob("*.jpg")):
        shutil.copy(f, folder / f.name)
    if shutil.which("exiftool"):
        from tests.test_regions import _sidecar_naming_the_face

        _sidecar_naming_the_face(folder / "person_a_1.jpg", "Zoë Kowalski")
    for i in range(80):
        media_factory.photo(folder / "generated" / f"photo{i:02}.jpg", seed=i, size=(800, 600))
    media_factory.video_of_photos(folder / "faces.mp4", [FACES / "person_a_2.jpg", FACES / "person_b_1.jpg",
                                                         FACES / "impostor_1.jpg"])
    media_factory.video(folder / "scenes.mp4", scenes=[1, 2, 3])
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a photo")
    return folder


def _library(root: Path, name: str) -> str:
    lib = root / name
    lib.mkdir()
    (lib / "settings.json").write_text(json.dumps({"model": "tiny-test", "image_encoder": "onnx-fp32",
                                                   "batch_size": 4}))
    return str(lib)


def _snapshot(library: str, media_root: Path, cache: Path) -> tuple[dict, dict]:
    """Everything an index decides about a library, keyed by paths relative to the media; and the vectors."""
    from core.library import Library
    from core.search.ranking import search

    lib = Library(Path(library))
    try:
        dim = lib.catalog.items.model_dim(lib.catalog.library_model)
        files, vectors, groups = {}, {}, defaultdict(set)
        for m in lib.catalog.media.all():
            rel = os.path.relpath(m.path, media_root)
            labels = lib.catalog.items.labels_of(m.id)
            vectors[rel] = lib.catalog.items.vectors(np.asarray(labels, dtype=np.int64), dim) if labels else None
            faces = lib.catalog.faces.in_media(m.id)
            files[rel] = {"status": m.status, "error": m.error, "kind": m.kind, "size": (m.width, m.height),
                          "duration": m.duration, "vectors": len(labels),
                          "frames": sorted(lib.catalog.media.frame_ids(m.id)),
                          "faces": sorted((f["timestamp"] or 0.0, f["x"], f["y"], f["w"], f["h"], f["name"] or "",
                                           f["named_from"] or "") for f in faces)}
            for f in faces:
                if f["person_id"] is not None:
                    groups[f["person_id"]].add((rel, f["timestamp"], f["x"], f["y"]))
        names = {pid: lib.catalog.people.name_of(pid) for pid in groups}
        people = sorted((names[pid] or "", sorted(g, key=str)) for pid, g in groups.items())
        found = {q: [(os.path.relpath(r.path, media_root), r.timestamp) for r in search(lib, q, k=10).results]
                 for q in ("a photo of a dog", "Zoë Kowalski", "a video of people talking")
                 if q != "Zoë Kowalski" or shutil.which("exiftool")}
        thumbnails = sorted(p.name for p in (cache / "thumbnails").rglob("*.jpg"))
        return {"files": files, "people": people, "search": found, "thumbnails": thumbnails}, vectors
    finally:
        lib.close()


def _cluster(tmp: Path, steps: list[dict]) -> list[dict]:
    """The steps run against a fresh two-node cluster in a namespace with only loopback."""
    short = Path(tempfile.mkdtemp(prefix="ir", dir="/tmp"))  # Ray's socket paths must stay under 107 bytes
    plan = {"tmp": str(short), "steps": steps, "out": str(tmp / "cluster-out.json")}
    (tmp / "plan.json").write_text(json.dumps(plan))
    try:
        subprocess.run(["unshare", "-n", sys.executable, "-m", "tests.cluster_harness", str(tmp / "plan.json")],
                       cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=900, check=True)
        return json.loads((tmp / "cluster-out.json").read_text())["steps"]
    finally:
        shutil.rmtree(short, ignore_errors=True)


def _index_on_cluster(library: str, folder: Path, cache: Path, **step) -> dict:
    env = {"IDLENS_CACHE": str(cache), "IDLENS_MODEL": "tiny-test"}
    return {"cmd": [sys.executable, "-m", "app", "--library", library, "index", "--ray", "127.0.0.1:6390",
                    "--json", str(folder)], "env": env, "cwd": str(ROOT), **step}


def test_an_index_on_a_two_node_cluster_is_a_local_index_even_when_a_node_dies(tmp_path):
    folder = _folder(tmp_path)
    local, on_cluster, killed = (_library(tmp_path, n) for n in ("local", "cluster", "killed"))
    caches = {n: tmp_path / f"cache-{n}" for n in ("local", "cluster", "killed")}
    idlens("--library", local, "index", str(folder), env_extra={"IDLENS_CACHE": str(caches["local"])})

    stopped = _library(tmp_path, "stopped")
    caches["stopped"] = tmp_path / "cache-stopped"
    catalog = {n: str(Path(p) / "catalog.db") for n, p in (("killed", killed), ("stopped", stopped))}
    steps = _cluster(tmp_path, [
        _index_on_cluster(on_cluster, folder, caches["cluster"]),
        # Ctrl-C once 10 files are stored, then the driver itself killed (kill -9) further on; each time the next
        # run goes on from where the last one stopped.
        _index_on_cluster(stopped, folder, caches["stopped"], after=10, then="interrupt", catalog=catalog["stopped"]),
        _index_on_cluster(stopped, folder, caches["stopped"], after=40, then="kill the driver",
                          catalog=catalog["stopped"]),
        _index_on_cluster(stopped, folder, caches["stopped"]),
        # The worker node is killed (its raylet, its worker processes: kill -9) once 12 files are stored.
        _index_on_cluster(killed, folder, caches["killed"], after=12, then="kill the worker node",
                          catalog=catalog["killed"]),
        # The cluster is down to its head node: a second run has nothing left to do.
        _index_on_cluster(killed, folder, caches["killed"]),
    ])
    first, interrupted, driver_killed, resumed, node_killed, again = steps
    for step in (first, resumed, node_killed, again):
        assert step["rc"] == 0, step["stderr"][-3000:]
    files = len(list(p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".xmp")))
    report = json.loads(first["stdout"])
    assert report["indexed"] == files - 1 and report["errors"] == 1  # broken.jpg
    assert report["cluster"]["nodes"] == 2 and report["cluster"]["workers"] == 2

    # Stopped twice: what was stored stays, the cluster's work for the driver stops, the third run finishes it.
    assert interrupted["rc"] == 130 and 10 <= interrupted["killed_at"] < files - 1
    assert json.loads(interrupted["stdout"])["cancelled"] is True
    assert driver_killed["rc"] == -9 and driver_killed["killed_at"] is not None
    assert interrupted["workers_left"] == driver_killed["workers_left"] == 0  # no worker outlives its index
    report = json.loads(resumed["stdout"])
    # Nothing stored before the kill is done again (at least `killed_at` files were stored by then).
    assert 0 < report["indexed"] <= files - 1 - driver_killed["killed_at"] and report["resumed"] > 0

    # The node died with work on it: its batches went to the head node's worker, and the run still finished.
    assert node_killed["killed_at"] is not None and node_killed["killed_at"] < files - 1, "not killed mid-run"
    report = json.loads(node_killed["stdout"])
    assert report["cluster"]["lost_batches"] >= 1 and report["cluster"]["crashed_files"] == 0
    assert report["indexed"] == files - 1 and report["errors"] == 1
    report = json.loads(again["stdout"])
    assert report["indexed"] == 0 and report["new"] == 0 and report["unchanged"] == files

    expected, expected_vectors = _snapshot(local, folder, caches["local"])
    assert expected["files"]["broken.jpg"]["status"] == "error"
    assert sum(len(f["faces"]) for f in expected["files"].values()) >= 6 and expected["people"]
    if shutil.which("exiftool"):
        assert ("Zoë Kowalski", "digiKam sidecar") in {(f[5], f[6]) for f in expected["files"]["person_a_1.jpg"]
                                                       ["faces"]}
    for name, library in (("cluster", on_cluster), ("stopped", stopped), ("killed", killed)):
        got, vectors = _snapshot(library, folder, caches[name])
        assert got == expected, name
        for rel, v in expected_vectors.items():  # the same pictures, embedded the same (fp32)
            if v is None:
                assert vectors[rel] is None
            else:
                np.testing.assert_allclose(vectors[rel], v, atol=1e-5, err_msg=f"{name}: {rel}")


def test_a_cluster_that_cannot_be_reached_is_said_and_changes_nothing(tmp_path, photos):
    library = _library(tmp_path, "lib")
    done = idlens("--library", library, "index", "--ray", "127.0.0.1:9", "--json", str(photos), check=False)
    assert done.returncode == 1
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "cluster" and "no Ray cluster reachable at 127.0.0.1:9" in error["message"]
    assert not (Path(library) / "catalog.sqlite").exists() or not idlens(
        "--library", library, "list", "--json").stdout.count('"path"')
