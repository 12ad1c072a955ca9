"""The reliability run: `python -m tests.reliability [--kills 25] [--photos 60] [--fuzz-minutes 0]`.

Builds the bad-input corpus next to photos and videos of real (credited) faces, then indexes, names, re-clusters
and re-embeds through the real `idlens` command while killing it with SIGKILL at random moments. After every kill
it checks that the catalog opens and is intact, that the vector index and the catalog agree, that nothing indexed
and no name or face decision was lost; at the end, that every media file has the checksum and mtime it had before.
Prints: files tried, errors recorded, crashes (must be 0), kills survived, labels lost (must be 0).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import corpus  # noqa: E402
from tests import media_factory as mf  # noqa: E402

FACES = ROOT / "tests" / "data" / "faces"


def _env(cache: Path) -> dict:
    return dict(os.environ, IDLENS_MODEL="tiny-test", IDLENS_CACHE=str(cache), PYTHONPATH=str(ROOT),
                HF_ENDPOINT="https://127.0.0.1:9")


def idlens(library: Path, cache: Path, *args, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "app", "--library", str(library), *args], capture_output=True,
                          text=True, errors="replace", env=_env(cache), cwd=ROOT, timeout=600)
    if check and proc.returncode != 0:
        raise RuntimeError(f"idlens {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def checksums(folder: Path) -> dict[str, tuple]:
    out = {}
    for dirpath, _dirs, files in os.walk(folder):  # does not follow symlinked folders: no loop
        for name in files:
            p = os.path.join(dirpath, name)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            os.chmod(p, os.stat(p).st_mode | 0o400) if False else None
            try:
                with open(p, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            except PermissionError:
                digest = "unreadable"
            st = os.stat(p)
            out[p] = (digest, st.st_size, st.st_mtime_ns, st.st_mode)
    return out


def make_media(folder: Path, photos: int, seed: int) -> None:
    from tests.test_identity_search import scene

    rng = random.Random(seed)
    faces = ["person_a_1.jpg", "person_a_2.jpg", "person_b_1.jpg", "person_b_2.jpg"]
    for i in range(photos):
        scene(folder / "photos" / f"IMG_{i:04}.jpg", 100 + i, [rng.choice(faces)])
    for i in range(2):
        mf.video_of_photos(folder / "videos" / f"clip{i}.mp4", [mf.picture(50 + i, (640, 360)), FACES / faces[i * 2],
                                                                FACES / faces[i * 2]], seconds_each=2.0)


def state(library: Path) -> dict:
    """Open the library as the app would after a crash, and check that its parts agree."""
    from core.library import Library

    problems = []
    conn = sqlite3.connect(library / "catalog.db")
    integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    conn.close()
    if integrity != "ok":
        problems.append(f"integrity: {integrity}")
    lib = Library(library, "tiny-test")
    try:
        labels = set(lib.index.labels)
        live = set(lib.catalog.items.live_labels().tolist())
        if labels != live:
            problems.append(f"index and catalog disagree: {len(labels ^ live)} labels")
        resolved = lib.catalog.items.resolve(labels)
        if len(resolved) != len(labels):
            problems.append(f"{len(labels) - len(resolved)} labels point at nothing")
        db = lib.catalog.db
        dupes = db.execute("SELECT count(*) FROM (SELECT media_id FROM items WHERE frame_id IS NULL "
                           "GROUP BY media_id HAVING count(*) > 1)").fetchone()[0]
        if dupes:
            problems.append(f"{dupes} photos embedded twice")
        names = {r[0]: r[1] for r in db.execute("SELECT f.id, p.name FROM faces f JOIN people p ON p.id = f.person_id "
                                                 "WHERE p.name IS NOT NULL AND f.confirmed = 1")}
        rejections = {(r[0], r[1]) for r in db.execute(
            "SELECT r.face_id, p.name FROM rejections r JOIN people p ON p.id = r.person_id")}
        indexed = db.execute("SELECT count(*) FROM media WHERE status = 'indexed'").fetchone()[0]
        errors = db.execute("SELECT count(*) FROM media WHERE status = 'error'").fetchone()[0]
    finally:
        lib.close()
    return {"problems": problems, "indexed": indexed, "errors": errors, "names": names, "rejections": rejections}


def run(work: Path, kills: int = 25, photos: int = 60, seed: int = 0, log=lambda *a: None) -> dict:
    rng = random.Random(seed)
    work = Path(work)
    media, library, cache = work / "media", work / "library", work / "cache"
    make_media(media, photos, seed)
    expect = corpus.build(media / "corpus", long_video=False)
    before = checksums(media)
    result = {"files_tried": len(before) + sum(1 for e in expect.values() if e == "error") - sum(
        1 for n in expect if n in ("broken-link.jpg",)) * 0, "crashes": 0, "kills": 0, "kills_survived": 0,
        "labels_lost": 0, "indexed_lost": 0, "media_changed": 0, "problems": []}
    expected_names: dict[int, str] = {}
    expected_rejections: set = set()
    last_indexed = 0
    named = False

    def operation(i: int) -> list[str]:
        if not named or i % 3 == 0:
            return ["index", str(media)]
        return rng.choice([["people", "recluster"], ["index"], ["reembed"],
                           ["people", "name", str(rng.randint(1, 6)), rng.choice(["Carol", "Dan"])]])

    durations: dict[str, float] = {}  # how long each kind of operation ran when it was let finish
    i = 0
    while result["kills"] < kills and i < kills * 4:
        args = operation(i)
        i += 1
        kind = " ".join(args[:2]) if args[0] == "people" else args[0]
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "app", "--library", str(library), *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                                env=_env(cache), cwd=ROOT)
        # Kill at a random point of the operation's life (learnt from the last one that was let finish).
        try:
            proc.wait(timeout=rng.uniform(0.3, 1.0) * durations.get(kind, 12.0))
        except subprocess.TimeoutExpired:
            pass
        killed = proc.poll() is None
        if not killed:
            durations[kind] = time.monotonic() - started
        if killed:
            proc.send_signal(signal.SIGKILL)
            result["kills"] += 1
        _, err = proc.communicate()
        if not killed and (proc.returncode not in (0, 1) or "Traceback" in err):
            result["crashes"] += 1
            result["problems"].append(f"{args}: exit {proc.returncode}: {err.strip()[-300:]}")
        s = state(library)
        lost = [f for f, n in expected_names.items() if s["names"].get(f) != n]
        lost_rej = expected_rejections - s["rejections"]
        ok = not s["problems"] and not lost and not lost_rej and s["indexed"] >= last_indexed
        if s["indexed"] < last_indexed and args[0] != "reembed":
            result["indexed_lost"] += last_indexed - s["indexed"]
        result["labels_lost"] += len(lost) + len(lost_rej)
        result["problems"] += s["problems"]
        if killed and (ok or (args[0] == "reembed" and not s["problems"] and not lost and not lost_rej)):
            result["kills_survived"] += 1
        last_indexed = s["indexed"] if args[0] != "reembed" else 0
        log(f"{result['kills']:3}/{kills} {' '.join(args)[:40]:40} {'killed' if killed else 'ended '} "
            f"indexed={s['indexed']} names={len(s['names'])} problems={s['problems'] or '-'}")
        if not named and s["indexed"] >= photos:
            # Name both people and reject one face, to the end (not killed): these decisions must survive.
            idlens(library, cache, "index", str(media))
            people = json.loads(idlens(library, cache, "people", "list", "--json").stdout)["people"]
            for person, name in zip(people[:2], ("Anna", "Ben")):
                idlens(library, cache, "people", "name", str(person["id"]), name)
            faces = json.loads(idlens(library, cache, "people", "faces", "Anna", "--json").stdout)["faces"]
            idlens(library, cache, "people", "reject", str(faces[-1]["id"]), "Anna")
            s = state(library)
            expected_names, expected_rejections = dict(s["names"]), set(s["rejections"])
            last_indexed = s["indexed"]
            named = True

    # Finish the work, use the library as a person would, then remove a folder from it.
    idlens(library, cache, "index", str(media))
    final = state(library)
    result["labels_lost"] += sum(1 for f, n in expected_names.items() if final["names"].get(f) != n)
    result["labels_lost"] += len(expected_rejections - final["rejections"])
    result["problems"] += final["problems"]
    idlens(library, cache, "search", "Anna", "--json")
    idlens(library, cache, "forget", str(media / "videos"))
    idlens(library, cache, "index")
    after = checksums(media)
    result["media_changed"] = sum(1 for p, v in before.items() if after.get(p) != v)
    result["errors_recorded"] = final["errors"]
    result["expected_errors"] = sum(1 for e in expect.values() if e == "error")
    result["indexed"] = final["indexed"]
    result["files_tried"] = len(before) + 1  # + the broken link, which has no content to checksum
    return result


def full_disk(photos: Path, mnt: Path) -> dict:
    """Index onto a disk too small for the library: one clear error, an intact catalog, and, once there is room,
    the next run finishes the job."""
    for i in range(60):
        mf.photo(photos / f"p{i:03}.jpg", 7000 + i, size=(640, 480))
    library, cache = mnt / "library", mnt / "cache"
    first = idlens(library, cache, "index", str(photos), check=False)
    conn = sqlite3.connect(library / "catalog.db")
    integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    conn.close()
    subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
    second = idlens(library, cache, "index", check=False)
    status = json.loads(idlens(library, cache, "status", "--json").stdout)
    errors = [line for line in first.stderr.splitlines() if line.startswith("idlens: error:")]
    return {"first_exit": first.returncode, "one_line": len(errors) == 1 and "disk is full" in errors[0],
            "traceback": "Traceback" in first.stderr, "message": first.stderr.strip(), "integrity": integrity,
            "second_exit": second.returncode, "resumed_all": status["media"].get("image", {}).get("indexed") == 60}


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m tests.reliability", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=25)
    ap.add_argument("--photos", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fuzz-minutes", type=float, default=0.0, help="also fuzz the decoders for this long")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = run(Path(tmp), args.kills, args.photos, args.seed, log=lambda m: print(m, file=sys.stderr))
        mnt = Path(tmp) / "small-disk"
        mnt.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(mnt)],
                          capture_output=True).returncode == 0:
            try:
                result["full_disk"] = full_disk(Path(tmp) / "disk-photos", mnt)
            finally:
                subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
        if args.fuzz_minutes:
            from tests.fuzz import fuzz

            result["fuzz"] = fuzz(args.fuzz_minutes * 60)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return
    print(f"files tried:      {result['files_tried']}")
    print(f"errors recorded:  {result['errors_recorded']} (the corpus holds {result['expected_errors']} bad files)")
    print(f"crashes:          {result['crashes']}")
    print(f"kills survived:   {result['kills_survived']} of {result['kills']}")
    print(f"labels lost:      {result['labels_lost']}")
    print(f"indexed lost:     {result['indexed_lost']}")
    print(f"media changed:    {result['media_changed']}")
    if "full_disk" in result:
        fd = result["full_disk"]
        print(f"full disk:        exit {fd['first_exit']}, one line: {fd['one_line']}, catalog {fd['integrity']}, "
              f"resumed: {fd['resumed_all']}")
    if "fuzz" in result:
        print(f"fuzzing:          {result['fuzz']['inputs']} inputs, {result['fuzz']['crashes']} crashes")
    for p in result["problems"]:
        print(f"problem: {p}")


if __name__ == "__main__":
    main()
