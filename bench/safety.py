"""`python -m bench safety [--quick] [--json]`: what keeping the catalog safe costs on a big library: the health
check every command makes before opening the catalog, one verified backup (copy + integrity check), and a full
`idlens doctor` check, on a synthetic library of 100,000 photos with 512-d vectors (10,000 with --quick)."""
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


def main(argv: list[str]) -> None:
    out = measure(10_000 if "--quick" in argv else 100_000)
    if "--json" in argv:
        print(json.dumps(out, indent=2))
    else:
        for key, value in out.items():
            print(f"{key:16} {value}")


if __name__ == "__main__":
    main(sys.argv[1:])
