"""The face stage of indexing, step by step: what it costs per photo, and how the fast detection path (YuNet on a
copy of at most DETECT_SIDE px) agrees with detection on the whole face detail image, as it ran before.

  python -m bench.face_stage [--data ../shared/data/faces-dev] [--sides 512,640,800] [--repeats 3] [--json]

Photos: faces-dev (real photos, see its README), the credited test photos, generated 12-MP photos (4000x3000) with
faces-dev photos pasted at several sizes (faces of ~10 to ~400 px in the 1024-px detail image), and the plain
generated 12-MP photos of `bench indexing` (no faces). Times are CPU seconds of the calling thread (OpenCV runs on
one thread, as in the indexer), the best of `repeats` per photo, then the median and mean over photos.

Agreement: for each photo the faces found at full detail (the reference) are matched to those found at each side
(IoU >= 0.5): lost faces (with their size and whether they were usable), extra faces, box IoU, cosine of the SFace
descriptors (aligned and recognised on the same detail image), and faces whose `usable` changes. The control row is
the reference path again on the photo shifted by (5, 3) px: how much detection noise alone moves those figures.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "faces-dev"
SHIFT = (5, 3)


def generated_with_faces(folder: Path, data: Path, n: int = 12) -> list[Path]:
    """4000x3000 photos, each with faces-dev photos pasted side by side (no overlap) at heights from 2000 to 120 px:
    faces from about 400 down to about 10 px once the photo is reduced to the 1024-px detail."""
    from PIL import Image

    sources = sorted((data / "images").glob("img*.jpg"))
    rng = np.random.default_rng(14)
    heights = [2000, 1000, 600, 360, 240, 160, 120]
    out = []
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        canvas = Image.new("RGB", (4000, 3000), tuple(int(v) for v in rng.integers(40, 200, 3)))
        x = y = row_h = 0
        for j, height in enumerate(heights):
            src = Image.open(sources[(k * len(heights) + j) % len(sources)]).convert("RGB")
            src = src.resize((max(1, round(src.width * height / src.height)), height), Image.Resampling.LANCZOS)
            if x + src.width > 4000:
                x, y, row_h = 0, y + row_h, 0
            if y + src.height > 3000:
                break
            canvas.paste(src, (x, y))
            x, row_h = x + src.width, max(row_h, src.height)
        path = folder / f"faces12mp_{k:02}.jpg"
        canvas.save(path, quality=90)
        out.append(path)
    return out


def photo_sets(data: Path, tmp: Path, quick: bool = False) -> dict[str, list[Path]]:
    from tests import media_factory as mf

    sets = {"faces-dev": sorted((data / "images").glob("*.jpg")),
            "test photos": sorted((ROOT / "tests" / "data" / "faces").glob("*.jpg")),
            "12-MP with faces": generated_with_faces(tmp / "faces12mp", data, 4 if quick else 12),
            "12-MP plain": [mf.photo(tmp / "plain" / f"IMG_{i:05}.jpg", seed=i, size=(4000, 3000), quality=90)
                            for i in range(3 if quick else 8)]}
    if quick:
        sets["faces-dev"] = sets["faces-dev"][:8]
    return {k: v for k, v in sets.items() if v}


def _best(fn, repeats: int):
    best, result = float("inf"), None
    for _ in range(repeats):
        t = time.thread_time()
        result = fn()
        best = min(best, time.thread_time() - t)
    return best * 1000, result


def _old_pil_to_bgr(image):
    """The conversion as it was before issue 14: convert, flip, copy."""
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])


def timing(paths: list[Path], detail: int, sides: list[int | None], repeats: int) -> dict:
    """Per photo, ms: decode without and with the face detail (full decode and JPEG draft); to BGR (before / now);
    detection at each side (None: the whole detail image, as before), resize included; alignment; recognition
    (one batch per photo: SFace and sharpness), and SFace one face at a time."""
    import cv2

    from core.faces.detection import align, pil_to_bgr
    from core.media.images import decode_image
    from core.registry import face_backend

    backend = face_backend()
    rows = []
    for p in paths:
        row: dict = {}
        # The indexer decodes in full for CLIP (draft=False), JPEG draft mode when only faces are wanted.
        row["decode_full_plain"], _ = _best(lambda: decode_image(str(p), 256, draft=False), repeats)
        row["decode_full_with_detail"], _ = _best(lambda: decode_image(str(p), 256, detail, draft=False), repeats)
        row["decode_plain"], _ = _best(lambda: decode_image(str(p), 256), repeats)
        row["decode_with_detail"], decoded = _best(lambda: decode_image(str(p), 256, detail), repeats)
        image = decoded.detail
        row["to_bgr_before"], _ = _best(lambda: _old_pil_to_bgr(image), repeats)
        row["to_bgr"], bgr = _best(lambda: pil_to_bgr(image), repeats)
        for side in sides:
            row[f"detect_{side or 'full'}"], found = _best(lambda: backend.detect(bgr, side), repeats)
        faces = found  # those of the last side: the one indexing uses comes last
        row["faces"] = len(faces)
        row["align"], crops = _best(lambda: [align(bgr, f.landmarks) for f in faces], repeats)
        if faces:
            def recognise():
                grey = [cv2.cvtColor(c, cv2.COLOR_BGR2GRAY) for c in crops]
                return backend.recognise(crops), [cv2.Laplacian(g, cv2.CV_64F).var() for g in grey]

            row["recognise"], _ = _best(recognise, repeats)
            row["recognise_one_by_one"], _ = _best(lambda: [backend.recognise([c]) for c in crops], repeats)
        else:
            row["recognise"] = row["recognise_one_by_one"] = 0.0
        # The face stage as the indexer runs it (after decoding): before issue 14, and now.
        row["stage_before"] = row["to_bgr_before"] + row["detect_full"] + row["align"] + row["recognise"]
        row["stage_now"] = row["to_bgr"] + row[f"detect_{sides[-1]}"] + row["align"] + row["recognise"]
        row["decode_extra_for_faces"] = row["decode_full_with_detail"] - row["decode_full_plain"]
        row["draft_decode_extra_for_faces"] = row["decode_with_detail"] - row["decode_plain"]
        rows.append(row)
    keys = [k for k in rows[0]]
    out = {"photos": len(rows), "faces_per_photo": round(statistics.mean(r["faces"] for r in rows), 2)}
    for k in keys:
        if k == "faces":
            continue
        values = [r[k] for r in rows]
        out[k] = {"median": round(statistics.median(values), 1), "mean": round(statistics.mean(values), 1)}
    with_faces = [r for r in rows if r["faces"]]
    if with_faces:
        out["recognise_per_face"] = round(sum(r["recognise"] for r in with_faces)
                                          / sum(r["faces"] for r in with_faces), 1)
        out["recognise_one_by_one_per_face"] = round(sum(r["recognise_one_by_one"] for r in with_faces)
                                                     / sum(r["faces"] for r in with_faces), 1)
    return out


def _iou(a, b) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def match(reference, candidates, min_iou: float = 0.5):
    """Greedy, largest IoU first: [(reference index, candidate index, IoU)], lost reference indices, extra
    candidate indices."""
    pairs = sorted(((_iou(r.box, c.box), i, j) for i, r in enumerate(reference) for j, c in enumerate(candidates)),
                   reverse=True)
    used_r, used_c, out = set(), set(), []
    for v, i, j in pairs:
        if v < min_iou or i in used_r or j in used_c:
            continue
        used_r.add(i)
        used_c.add(j)
        out.append((i, j, v))
    return out, [i for i in range(len(reference)) if i not in used_r], \
        [j for j in range(len(candidates)) if j not in used_c]


def agreement(paths: list[Path], detail: int, sides: list[int]) -> dict:
    import cv2

    from core.faces.detection import pil_to_bgr
    from core.media.images import decode_image
    from core.registry import face_backend
    from core.settings import Settings

    s = Settings()

    def usable(f) -> bool:
        return f.size >= s.face_min_size and f.score >= s.face_min_score and f.sharpness >= s.face_min_sharpness

    backend = face_backend()
    keys = [f"{side}" for side in sides] + ["control: full, shifted"]
    acc = {k: {"lost": [], "extra": [], "iou": [], "cos": [], "cos_usable": [], "flips": []} for k in keys}
    n_faces = n_usable = 0
    for p in paths:
        bgr = pil_to_bgr(decode_image(str(p), 256, detail).detail)
        reference = backend.detect(bgr, None)
        backend.embed(bgr, reference)
        n_faces += len(reference)
        n_usable += sum(usable(f) for f in reference)
        for key in keys:
            if key.startswith("control"):
                dx, dy = SHIFT
                shifted = cv2.copyMakeBorder(bgr, dy, 0, dx, 0, cv2.BORDER_REPLICATE)
                found = backend.detect(shifted, None)
                for f in found:
                    f.box = (f.box[0] - dx, f.box[1] - dy, f.box[2], f.box[3])
                    f.landmarks = f.landmarks - np.float32([dx, dy])
            else:
                found = backend.detect(bgr, int(key))
            backend.embed(bgr, found)
            pairs, lost, extra = match(reference, found)
            a = acc[key]
            for i, j, v in pairs:
                r, c = reference[i], found[j]
                cos = float(r.embedding @ c.embedding)
                a["iou"].append(v)
                a["cos"].append(cos)
                if usable(r):
                    a["cos_usable"].append(cos)
                if usable(r) != usable(c):
                    a["flips"].append({"photo": p.name, "size": round(r.size, 1), "was_usable": usable(r),
                                       "score": [round(r.score, 3), round(c.score, 3)],
                                       "sharpness": [round(r.sharpness, 1), round(c.sharpness, 1)]})
            a["lost"] += [{"photo": p.name, "size": round(reference[i].size, 1), "score": round(reference[i].score, 2),
                           "usable": usable(reference[i])} for i in lost]
            a["extra"] += [{"photo": p.name, "size": round(found[j].size, 1), "score": round(found[j].score, 2)}
                           for j in extra]

    def spread(v):
        if not v:
            return None
        return {"min": round(min(v), 4), "p5": round(float(np.percentile(v, 5)), 4),
                "median": round(float(np.median(v)), 4)}

    out = {"photos": len(paths), "faces": n_faces, "usable": n_usable, "by_side": {}}
    for key, a in acc.items():
        out["by_side"][key] = {
            "found_again": len(a["iou"]), "lost": len(a["lost"]), "lost_usable": sum(x["usable"] for x in a["lost"]),
            "largest_lost": max((x["size"] for x in a["lost"]), default=None), "extra": len(a["extra"]),
            "iou": spread(a["iou"]), "cosine": spread(a["cos"]), "cosine_usable": spread(a["cos_usable"]),
            "usable_changed": len(a["flips"]), "lost_faces": a["lost"], "extra_faces": a["extra"],
            "usable_changes": a["flips"]}
    return out


def run(data: Path, sides: list[int], repeats: int, quick: bool = False) -> dict:
    from core.faces.detection import DETECT_SIDE
    from core.settings import Settings

    detail = Settings().face_detail
    out: dict = {"detect_side": DETECT_SIDE, "face_detail": detail, "timing": {}, "agreement": {}}
    with tempfile.TemporaryDirectory() as tmp:
        sets = photo_sets(data, Path(tmp), quick)
        # Before: detection on the whole detail image; the side in use last (the faces it finds are then aligned).
        timed_sides = [None] + [s for s in sides if s != DETECT_SIDE] + [DETECT_SIDE]
        for name, paths in sets.items():
            out["timing"][name] = timing(paths, detail, timed_sides, repeats)
        for name, paths in sets.items():
            if name != "12-MP plain":
                out["agreement"][name] = agreement(paths, detail, sides)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.face_stage", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--sides", default="512,640,800", help="detection sides to compare with full detail")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="a few photos of each kind")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    from core.faces.detection import DETECT_SIDE

    sides = sorted({int(s) for s in args.sides.split(",") if s} | {DETECT_SIDE})
    out = run(args.data, sides, args.repeats, args.quick)
    if args.json:
        print(json.dumps(out, indent=1))
        return
    print(f"face detail {out['face_detail']} px; the indexer detects at {out['detect_side']} px")
    for name, t in out["timing"].items():
        print(f"\n{name}: {t['photos']} photos, {t['faces_per_photo']} faces per photo (ms per photo, median / mean)")
        for k, v in t.items():
            if isinstance(v, dict):
                print(f"  {k:26} {v['median']:7.1f} {v['mean']:7.1f}")
        if "recognise_per_face" in t:
            print(f"  SFace per face: batched {t['recognise_per_face']} ms, one by one "
                  f"{t['recognise_one_by_one_per_face']} ms")
    for name, a in out["agreement"].items():
        print(f"\n{name}: {a['faces']} faces at full detail ({a['usable']} usable) in {a['photos']} photos")
        print(f"  {'side':>22} {'lost':>4} {'usable':>6} {'largest':>7} {'extra':>5} {'IoU p5/med':>11} "
              f"{'cos p5/med':>11} {'cos usable min/p5/med':>22} {'usable changed':>14}")
        for key, b in a["by_side"].items():
            iou, cos, cu = b["iou"] or {}, b["cosine"] or {}, b["cosine_usable"] or {}
            print(f"  {key:>22} {b['lost']:4} {b['lost_usable']:6} {b['largest_lost'] or 0:7.1f} {b['extra']:5} "
                  f"{iou.get('p5', 0):5.3f}/{iou.get('median', 0):5.3f} {cos.get('p5', 0):5.3f}/{cos.get('median', 0):5.3f} "
                  f"{cu.get('min', 0):6.3f}/{cu.get('p5', 0):6.3f}/{cu.get('median', 0):6.3f} {b['usable_changed']:14}")


if __name__ == "__main__":
    main()
