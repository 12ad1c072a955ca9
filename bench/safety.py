"""`python -m bench safety [--quick] [--json]`: what keeping the catalog safe costs on a big library: the health
check every command makes before opening the catalog, one verified backup (copy + integrity check), and a full
`idlens doctor` check, on a synthetic library of 100,000 photos with 512-d vectors (10,000 with --quick).

`python -m bench safety --stateful N [--steps M] [--seed S] [--shrink] [--no-repair] [--no-undo-history] [--json]`:
the long run of the model-based stress test (tests/test_stateful_safety.py): N sequences of up to M steps (default
40) of the app, CLI processes, moved and unplugged folders, kill -9 / SIGTERM and a destroyed catalog, checked against
an oracle of every decision after each step; prints the steps run, kills, repairs and every violation found (a
failing sequence is printed as Hypothesis gives it, shrunk to its shortest with --shrink, and the run goes on with
the next seed). --no-repair leaves the destroyed catalog out; --no-undo-history checks names, faces and answers but
not the journal's undo history."""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path


def measure(n: int) -> dict:
    from bench.search import synthetic_library
    from core import doctor
    from core.library import Library
    from core.store import health

    with tempfile.TemporaryDirectory() as tmp:
        folder = synthetic_library(Path(tmp) / "lib", n, "ViT-B-32-256:random", 512)
        catalog = folder / "catalog.db"
        t = time.perf_counter()
        for _ in range(20):
            health.problem(catalog)
        open_check_ms = (time.perf_counter() - t) / 20 * 1000
        with Library(folder, "ViT-B-32-256:random") as lib:
            t = time.perf_counter()
            backup = lib.catalog.backup("before-bench")
            backup_s = time.perf_counter() - t
        t = time.perf_counter()
        problems = health.integrity(catalog)
        integrity_s = time.perf_counter() - t
        t = time.perf_counter()
        checkup = doctor.check(folder, model_files=False)
        doctor_s = time.perf_counter() - t
        return {"photos": n, "catalog_mb": round(catalog.stat().st_size / 1e6, 1),
                "backup_mb": round(backup.size / 1e6, 1), "open_check_ms": round(open_check_ms, 2),
                "backup_s": round(backup_s, 2), "integrity_s": round(integrity_s, 2), "doctor_s": round(doctor_s, 2),
                "healthy": checkup.healthy and not problems}


def _option(argv: list[str], name: str, default: int) -> int:
    if name in argv:
        return int(argv[argv.index(name) + 1])
    return default


def stateful(argv: list[str]) -> dict:
    from tests import test_stateful_safety as machine

    if "--no-repair" in argv:  # leave out the destroyed catalog (what the other rules find, alone)
        machine.REPAIR_REPLAYS_JOURNAL = False
    if "--no-undo-history" in argv:  # names, faces and answers only, not what `people undo` would take back
        machine.CHECK_UNDO_HISTORY = False
    return machine.run(_option(argv, "--stateful", 20), _option(argv, "--steps", 40),
                       _option(argv, "--seed", machine.SEED), shrink="--shrink" in argv)


def main(argv: list[str]) -> None:
    if "--stateful" in argv:
        out = stateful(argv)
        if "--json" in argv:
            print(json.dumps(out, indent=2))
            return
        for key, value in out.items():
            if key not in ("failures", "reports"):
                print(f"{key:26} {value}")
        for failure in out["failures"]:
            print(f"\n--- failing sequence (seed {failure['seed']}) ---\n{failure['error']}")
        return
    out = measure(10_000 if "--quick" in argv else 100_000)
    if "--json" in argv:
        print(json.dumps(out, indent=2))
    else:
        for key, value in out.items():
            print(f"{key:16} {value}")


if __name__ == "__main__":
    main(sys.argv[1:])
