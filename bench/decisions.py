"""Decisions at library scale: what the one rule (core.faces.rule, applied by core.faces.settle after every
decision and index) costs as a library grows, and how long a decision made in the app waits behind an index.

  python -m bench decisions [--sizes 2000,10000,40000] [--rounds 3] [--json]

Faces are synthetic SFace-like descriptors (people as directions in 128-d with genuine pairs around 0.6-0.8, and
a share of faces of strangers seen once), stored through the catalog as the indexer stores them. For each size:
the first settle (everything grouped), a settle of an unchanged library (what `recluster` costs), naming the
biggest group, undoing that, and a "not this person". Then, through the app's real engine (offscreen Qt), the
time from naming a group while an index of generated photos runs to the moment the app's people list shows it.
min / median / max over the rounds.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def _spread(values: list[float]) -> dict:
    return {"min": round(min(values), 4), "median": round(statistics.median(values), 4), "max": round(max(values), 4)}


def synthetic_library(folder: Path, n_faces: int, seed: int = 0):
    from core.faces.detection import Face
    from core.library import Library

    rng = np.random.default_rng(seed)
    lib = Library(folder, "tiny-test")
    people = max(2, n_faces // 40)   # a person every 40 faces: family and friends, a long tail
    centres = rng.normal(size=(people, 128))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    weights = 1.0 / np.arange(1, people + 1)
    weights /= weights.sum()
    c = lib.catalog
    marks = np.array([[38.3, 51.7], [73.5, 51.5], [56.0, 71.7], [41.5, 92.4], [70.7, 92.2]], np.float32) * 1.6
    with c.transaction():
        for i in range(n_faces):
            if rng.random() < 0.25:   # a stranger, seen once
                v = rng.normal(size=128)
            else:
                k = rng.choice(people, p=weights)
                v = centres[k] * 0.85 + rng.normal(size=128) * (0.53 / np.sqrt(128))
            v = (v / np.linalg.norm(v)).astype(np.float32)
            media_id = c.media.add(f"/bench/{i:07}.jpg", "image", 1000, 1, f"fp{i:07}")
            face = Face((10.0, 10.0, 180.0, 180.0), marks + 10, 0.93, v, 400.0)
            c.faces.add(media_id=media_id, frame_id=None, track_id=None, timestamp=None, box=face.box,
                        landmarks=face.landmarks, score=0.93, size=180.0, sharpness=400.0, usable=True,
                        embedding=v, backend="bench")
    return lib


def scale(sizes: list[int], rounds: int) -> list[dict]:
    out = []
    for n in sizes:
        figures: dict[str, list[float]] = {k: [] for k in ("first_settle", "unchanged_settle", "name_group", "undo",
                                                          "reject")}
        for r in range(rounds):
            with tempfile.TemporaryDirectory() as tmp:
                lib = synthetic_library(Path(tmp) / "lib", n, seed=r)
                t = time.perf_counter()
                lib.people.settle()
                figures["first_settle"].append(time.perf_counter() - t)
                t = time.perf_counter()
                report = lib.people.settle()
                figures["unchanged_settle"].append(time.perf_counter() - t)
                assert report.changed == 0, report
                group = max((p for p in lib.people.list() if p.name is None), key=lambda p: p.faces)
                t = time.perf_counter()
                anna = lib.people.name(group.id, "Anna")
                figures["name_group"].append(time.perf_counter() - t)
                t = time.perf_counter()
                lib.people.undo()
                figures["undo"].append(time.perf_counter() - t)
                lib.people.redo()
                face = lib.people.faces_of(anna.id)[0]["id"]
                t = time.perf_counter()
                lib.people.reject(face, anna.id)
                figures["reject"].append(time.perf_counter() - t)
                groups = sum(1 for p in lib.people.list() if p.name is None)
                lib.close()
        out.append({"faces": n, "groups": groups, **{k: _spread(v) for k, v in figures.items()}})
    return out


def during_index(rounds: int, photos: int = 40) -> dict:
    """Seconds from `Engine.name_person` to the app's people list showing the name, while an index runs."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QCoreApplication

    from app.gui.engine import Engine
    from tests import media_factory as mf
    from tests.test_identity_search import scene

    app = QCoreApplication.instance() or QCoreApplication([])
    waits, still_indexing = [], []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["IDLENS_CACHE"] = str(Path(tmp) / "cache")
            album, more = Path(tmp) / "album", Path(tmp) / "more"
            scene(album / "a1.jpg", 1, ["person_a_1.jpg"])
            scene(album / "a2.jpg", 2, ["person_a_2.jpg"])
            for i in range(photos):
                mf.photo(more / f"p{i:03}.jpg", 100 + i, size=(1600, 1200))
            wait, indexing = _name_while_indexing(app, Engine(str(Path(tmp) / "lib"), "tiny-test"), album, more)
            waits.append(wait)
            still_indexing.append(indexing)
    return {"photos_indexed_meanwhile": photos, "wait_s": _spread(waits), "named_while_indexing": still_indexing}


def _name_while_indexing(app, engine, album: Path, more: Path) -> tuple[float, bool]:
    """One round of `during_index`, in its own scope: the slots connected here see this round's engine and state,
    never a later round's."""
    done = {"index": False}
    engine.indexFinished.connect(lambda _: done.__setitem__("index", True))
    engine.index([str(album)])
    _wait(app, lambda: done["index"])
    people: list = []
    engine.peopleChanged.connect(lambda ps: people.append(ps))
    engine.refresh()
    _wait(app, lambda: people and any(p.name is None for p in people[-1]))
    group = next(p for p in people[-1] if p.name is None)
    done["index"] = False
    started = {"embed": False}
    engine.indexProgress.connect(lambda p: started.__setitem__("embed", started["embed"] or p["done"] > 2))
    engine.index([str(more)])
    _wait(app, lambda: started["embed"])
    asked = time.perf_counter()
    seen: dict = {}
    engine.peopleChanged.connect(lambda ps: seen.setdefault("at", (time.perf_counter(), engine.indexing))
                                 if any(p.name == "Zoë" for p in ps) else None)
    engine.name_person(group.id, "Zoë")
    _wait(app, lambda: "at" in seen)
    _wait(app, lambda: done["index"])
    engine.shutdown()
    return seen["at"][0] - asked, seen["at"][1]


def _wait(app, condition, timeout: float = 600.0) -> None:
    end = time.perf_counter() + timeout
    while not condition():
        app.processEvents()
        time.sleep(0.005)
        if time.perf_counter() > end:
            raise TimeoutError("the engine did not answer")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench decisions")
    parser.add_argument("--sizes", default="2000,10000,40000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    out = {"scale": scale([int(s) for s in args.sizes.split(",")], args.rounds),
           "during_index": during_index(args.rounds)}
    if args.json:
        print(json.dumps(out, indent=1))
        return
    print("faces   groups  first settle    unchanged       name a group    undo            not this person  (s: min/median/max)")
    for row in out["scale"]:
        cells = [f"{row[k]['min']:.3f}/{row[k]['median']:.3f}/{row[k]['max']:.3f}"
                 for k in ("first_settle", "unchanged_settle", "name_group", "undo", "reject")]
        print(f"{row['faces']:<7} {row['groups']:<7} " + "  ".join(f"{c:<15}" for c in cells))
    d = out["during_index"]
    print(f"a name given during an index of {d['photos_indexed_meanwhile']} photos shows after "
          f"{d['wait_s']['min']:.2f}/{d['wait_s']['median']:.2f}/{d['wait_s']['max']:.2f} s "
          f"(min/median/max); still indexing then: {d['named_while_indexing']}")


if __name__ == "__main__":
    import sys
    main(sys.argv[1:])
