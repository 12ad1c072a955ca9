"""The face stage of indexing, step by step: what it costs per photo, and how the fast detection path (YuNet on a
copy of at most DETECT_SIDE px) agrees with detection on the whole face detail image, as it ran before.

  python -m bench.face_stage [--data ../shared/data/faces-dev] [--sides 512,640,800] [--repeats 3] [--json]
  python -m bench.face_stage --rotation [--more ../shared/data/faces-more] [--json]

Photos: faces-dev (real photos, see its README), the credited test photos, generated 12-MP photos (4000x3000) with
faces-dev photos pasted at several sizes (faces of ~10 to ~400 px in the 1024-px detail image), and the plain
generated 12-MP photos of `bench indexing` (no faces). Times are CPU seconds of the calling thread (OpenCV runs on
one thread, as in the indexer), the best of `repeats` per photo, then the median and mean over photos.

Agreement: for each photo the faces found at full detail (the reference) are matched to those found at each side
(IoU >= 0.5): lost faces (with their size and whether they were usable), extra faces, box IoU, cosine of the SFace
descriptors (aligned and recognised on the same detail image), and faces whose `usable` changes. The control row is
the reference path again on the photo shifted by (5, 3) px: how much detection noise alone moves those figures.

--rotation (issue 19, `analyse_any_orientation`): on upright photos, how often the turned passes run and whether they
change anything; on the same photos turned by 90, 180 and 270 degrees and saved as JPEG without an orientation tag,
whether each face is found in the right place (IoU with the upright face's box turned the same way), with what
descriptor (cosine to the upright face's), against the plain upright-only pass; on photos without faces (generated
landscapes, textures and shapes, and real crops of faces-dev below the person's chin), the faces the turned passes
add; and the time of the face stage on a 1024-px image without faces (the worst case: four detections).
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


TURNS = (90, 180, 270)


def turn_box(box, turn: int, width: int, height: int):
    """A box (x, y, w, h) of a `width` x `height` image, in pixels of that image turned clockwise by `turn`."""
    x, y, w, h = box
    if turn == 90:
        return (height - y - h, x, h, w)
    if turn == 180:
        return (width - x - w, height - y - h, w, h)
    return (y, width - x - w, h, w)


def turned_photo(path: Path, turn: int, folder: Path) -> Path:
    """The photo as a phone that lost its orientation tag would save it: pixels turned, JPEG again, no EXIF."""
    from PIL import Image, ImageOps

    method = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}[turn]
    out = folder / f"{path.stem}-{turn}.jpg"
    ImageOps.exif_transpose(Image.open(path)).convert("RGB").transpose(method).save(out, quality=92)
    return out


def faceless(folder: Path, data: Path | None, n: int = 8) -> list[Path]:
    """Photos without faces, 1600x1200: generated landscapes (sky, hills, fractal noise), textures (stone, foliage,
    wood, bricks), the shapes and stripes of `bench indexing`, and real crops of faces-dev below the chin."""
    import cv2
    from PIL import Image

    from core.faces.detection import pil_to_bgr
    from core.media.images import decode_image
    from core.registry import face_backend
    from tests import media_factory as mf

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(19)
    w, h = 1600, 1200

    def fractal(octaves=6):
        out = np.zeros((h, w), np.float32)
        for o in range(octaves):
            side = 2 ** (o + 2)
            grid = rng.random((side, round(side * w / h))).astype(np.float32)
            out += cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC) / 2 ** o
        return (out - out.min()) / (np.ptp(out) + 1e-6)

    out = []
    for k in range(n):
        # Landscape: a sky gradient, two ridges of hills, textured ground.
        sky = np.linspace(0, 1, h, dtype=np.float32)[:, None, None] * np.float32([60, 40, 10]) + np.float32(
            [235, 190, 120] if k % 2 else [200, 160, 90])
        img = np.broadcast_to(sky, (h, w, 3)).copy()
        n1 = fractal()
        xs = np.arange(w)
        for depth, colour in ((0.45, [90, 120, 100]), (0.6, [50, 100, 60])):
            ridge = (depth + 0.15 * np.sin(xs / rng.uniform(80, 300) + rng.uniform(0, 6)) + 0.1 * n1[0]) * h
            mask = np.arange(h)[:, None] > ridge[None, :]
            img[mask] = np.float32(colour) * (0.6 + 0.8 * n1[mask][:, None])
        out.append(("landscape", img))
        # Textures: stone (fractal), foliage (many leaves), wood (rings), bricks.
        stone = fractal(7)[:, :, None] * np.float32([120, 110, 100]) + 60
        out.append(("stone", stone))
        leaves = Image.new("RGB", (w, h), (30, 60, 20))
        from PIL import ImageDraw
        draw = ImageDraw.Draw(leaves)
        for _ in range(900):
            x, y, r = rng.integers(0, w), rng.integers(0, h), rng.integers(8, 50)
            draw.ellipse([x - r, y - r // 2, x + r, y + r // 2],
                         fill=(int(rng.integers(20, 90)), int(rng.integers(80, 200)), int(rng.integers(20, 80))))
        out.append(("foliage", np.asarray(leaves)[:, :, ::-1].astype(np.float32)))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        rings = np.sin(np.hypot(xx - rng.uniform(0, w), (yy - rng.uniform(0, h)) * 0.3) / 6 + 4 * fractal(4))
        out.append(("wood", (rings[:, :, None] * 0.5 + 0.5) * np.float32([40, 70, 110]) + np.float32([30, 60, 100])))
        bricks = np.full((h, w, 3), 200, np.float32)
        bh, bw = int(rng.integers(30, 70)), int(rng.integers(80, 160))
        for row in range(0, h, bh):
            shift = (row // bh) % 2 * bw // 2
            for col in range(-bw, w, bw):
                colour = np.float32([40, 60, 150]) + rng.normal(0, 15, 3).astype(np.float32)
                bricks[row + 3:row + bh - 3, max(0, col + shift + 3):max(0, col + shift + bw - 3)] = colour
        out.append(("bricks", bricks))
        out.append(("shapes", np.asarray(mf.picture(100 + k, (w, h)))[:, :, ::-1].astype(np.float32)))
    paths = []
    for i, (kind, img) in enumerate(out):
        p = folder / f"{kind}-{i:03}.jpg"
        cv2.imwrite(str(p), np.clip(img, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(p)
    if data is not None:  # real pixels: what is below the chin of single-person faces-dev photos (clothes, hands)
        backend = face_backend()
        for src in sorted((data / "images").glob("*.jpg")):
            bgr = pil_to_bgr(decode_image(str(src), 256, 1024).detail)
            faces = backend.detect(bgr)
            if len(faces) != 1:
                continue
            x, y, fw, fh = faces[0].box
            top = int(y + 1.4 * fh)
            if bgr.shape[0] - top >= 200:
                p = folder / f"below-chin-{src.stem}.jpg"
                cv2.imwrite(str(p), bgr[top:], [cv2.IMWRITE_JPEG_QUALITY, 92])
                paths.append(p)
    return paths


def rotation(data: Path, more: Path | None, repeats: int, quick: bool = False) -> dict:
    """The figures of --rotation (see the module's docstring)."""
    import cv2

    from core.faces.detection import CONFIDENT, PROBE_SIDE, analyse_any_orientation, pil_to_bgr
    from core.media.images import decode_image
    from core.registry import face_backend
    from core.settings import Settings

    s = Settings()
    backend = face_backend()

    def usable(f) -> bool:
        return f.size >= s.face_min_size and f.score >= s.face_min_score and f.sharpness >= s.face_min_sharpness

    def load(p):
        return pil_to_bgr(decode_image(str(p), 256, s.face_detail).detail)

    def spread(v):
        if not v:
            return None
        return {"n": len(v), "min": round(min(v), 4), "p5": round(float(np.percentile(v, 5)), 4),
                "median": round(float(np.median(v)), 4), "max": round(max(v), 4)}

    sets = {"faces-dev": sorted((data / "images").glob("*.jpg")) if (data / "images").is_dir() else [],
            "test photos": sorted((ROOT / "tests" / "data" / "faces").glob("*.jpg"))}
    if more is not None and (more / "images").is_dir():
        sets["faces-more groups"] = sorted((more / "images" / "group").glob("*.jpg"))
        singles = sorted(p for p in (more / "images").glob("*/*.jpg") if p.parent.name != "group")
        sets["faces-more singles"] = singles[::4]  # one in four (45 photos when measured)
    if quick:
        sets = {k: v[:6] for k, v in sets.items()}
    sets = {k: v for k, v in sets.items() if v}
    out: dict = {"confident": CONFIDENT, "upright": {}, "turned": {}, "faceless": {}, "timing": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name, paths in sets.items():
            fired = changed = 0
            best_scores, changes = [], []
            turned_acc = {t: {"faces": 0, "usable": 0, "found": 0, "found_usable": 0, "plain_found": 0, "iou": [],
                              "cos": [], "cos_usable": [], "plain_cos": [], "extra": [], "wrong_turn": [],
                              "lost_usable": [], "turned_best": []} for t in TURNS}
            for p in paths:
                bgr = load(p)
                plain = backend.analyse(bgr)
                best = max((f.score for f in plain), default=0.0)
                best_scores.append(best)
                found = analyse_any_orientation(backend, bgr)
                fired += best < CONFIDENT
                if any(f.turned for f in found):
                    changed += 1
                    changes.append({"photo": p.name, "upright": [round(f.score, 3) for f in plain],
                                    "turned": found[0].turned, "now": [round(f.score, 3) for f in found]})
                h, w = bgr.shape[:2]
                for t in TURNS:
                    tb = load(turned_photo(p, t, tmp))
                    a = turned_acc[t]
                    mine = analyse_any_orientation(backend, tb)
                    theirs = backend.analyse(tb)
                    if theirs and plain:  # the best face of a photo seen in the wrong orientation
                        a["turned_best"].append(max(f.score for f in theirs))
                    a["wrong_turn"] += [{"photo": p.name, "turned": f.turned, "score": round(f.score, 3)}
                                        for f in mine if plain and f.turned != (360 - t) % 360]
                    pairs, _, extra = match([type(f)(turn_box(f.box, t, w, h), f.landmarks, f.score) for f in plain],
                                            mine)
                    plain_pairs, _, _ = match([type(f)(turn_box(f.box, t, w, h), f.landmarks, f.score)
                                               for f in plain], theirs)
                    a["faces"] += len(plain)
                    a["usable"] += sum(usable(f) for f in plain)
                    a["found"] += len(pairs)
                    a["plain_found"] += len(plain_pairs)
                    matched = {i for i, _, _ in pairs}
                    a["lost_usable"] += [{"photo": p.name, "size": round(f.size, 1), "score": round(f.score, 3)}
                                         for i, f in enumerate(plain) if usable(f) and i not in matched]
                    for i, j, v in pairs:
                        cos = float(plain[i].embedding @ mine[j].embedding)
                        a["iou"].append(v)
                        a["cos"].append(cos)
                        if usable(plain[i]):
                            a["cos_usable"].append(cos)
                            a["found_usable"] += usable(mine[j])
                    a["plain_cos"] += [float(plain[i].embedding @ theirs[j].embedding) for i, j, _ in plain_pairs]
                    a["extra"] += [{"photo": p.name, "score": round(mine[j].score, 3), "size": round(mine[j].size, 1)}
                                   for j in extra]
            out["upright"][name] = {
                "photos": len(paths), "rotated_passes_ran": fired, "result_changed": changed, "changes": changes,
                "best_score": spread(best_scores)}
            out["turned"][name] = {t: {
                "faces": a["faces"], "usable": a["usable"], "found": a["found"], "found_usable": a["found_usable"],
                "found_by_upright_pass_alone": a["plain_found"], "iou": spread(a["iou"]), "cosine": spread(a["cos"]),
                "cosine_usable": spread(a["cos_usable"]), "cosine_upright_pass_alone": spread(a["plain_cos"]),
                "lost_usable": a["lost_usable"], "extra": a["extra"], "wrong_turn": a["wrong_turn"],
                "best_face_seen_turned": spread(a["turned_best"])}
                for t, a in turned_acc.items()}
        # Photos without faces: what the turned passes add.
        empty = faceless(tmp / "faceless", data if (data / "images").is_dir() else None, 2 if quick else 8)
        kinds: dict = {}
        for p in empty:
            bgr = load(p)
            plain, found = backend.analyse(bgr), analyse_any_orientation(backend, bgr)
            k = kinds.setdefault(p.stem.rsplit("-", 1)[0] if not p.stem.startswith("below-chin") else "below-chin",
                                 {"photos": 0, "upright_faces": 0, "faces": 0, "usable": 0, "turned_faces": []})
            k["photos"] += 1
            k["upright_faces"] += len(plain)
            k["faces"] += len(found)
            k["usable"] += sum(usable(f) for f in found)
            k["turned_faces"] += [{"photo": p.name, "turned": f.turned, "score": round(f.score, 3),
                                   "size": round(f.size, 1), "usable": usable(f)} for f in found if f.turned]
        out["faceless"] = kinds
        # Time of the face stage on 1024-px images without faces: plain, and in any orientation (4 detections).
        timing_set = [p for p in empty if not p.stem.startswith("below-chin")][:12]
        rows = []
        for p in timing_set:
            bgr = load(p)
            if backend.detect(bgr):
                continue  # a spurious face: not the no-face worst case
            plain_ms, _ = _best(lambda: backend.analyse(bgr), repeats)
            any_ms, _ = _best(lambda: analyse_any_orientation(backend, bgr), repeats)
            small = cv2.resize(bgr, (PROBE_SIDE, round(bgr.shape[0] * PROBE_SIDE / bgr.shape[1])))
            rotate_ms, _ = _best(lambda: [cv2.rotate(small, c) for c in (0, 1, 2)], repeats)
            rows.append((plain_ms, any_ms, rotate_ms, bgr.shape[1], bgr.shape[0]))
        if rows:
            out["timing"]["no faces, 1024 px"] = {
                "photos": len(rows), "size": f"{rows[0][3]}x{rows[0][4]}",
                "upright_ms": round(statistics.median(r[0] for r in rows), 1),
                "any_orientation_ms": round(statistics.median(r[1] for r in rows), 1),
                "three_turns_of_the_probe_copy_ms": round(statistics.median(r[2] for r in rows), 2)}
        for name in ("faces-dev", "faces-more groups"):
            if name in sets:
                rows = []
                for p in sets[name][:20]:
                    bgr = load(p)
                    rows.append((_best(lambda: backend.analyse(bgr), repeats)[0],
                                 _best(lambda: analyse_any_orientation(backend, bgr), repeats)[0]))
                out["timing"][f"{name} (first {len(rows)}), upright"] = {
                    "photos": len(rows), "upright_ms": round(statistics.mean(r[0] for r in rows), 1),
                    "any_orientation_ms": round(statistics.mean(r[1] for r in rows), 1)}
    return out


def print_rotation(out: dict) -> None:
    print(f"turned passes run when the upright pass's best face is below {out['confident']}")
    for name, u in out["upright"].items():
        b = u["best_score"]
        print(f"\n{name}: {u['photos']} upright photos; best face score min {b['min']} p5 {b['p5']} median "
              f"{b['median']}; turned passes ran on {u['rotated_passes_ran']}, changed the result of "
              f"{u['result_changed']}")
        for c in u["changes"]:
            print("   changed:", c)
        for t, a in out["turned"][name].items():
            c, cu, cp, iou = a["cosine"] or {}, a["cosine_usable"] or {}, a["cosine_upright_pass_alone"] or {}, \
                a["iou"] or {}
            print(f"  turned {t:3}: {a['faces']} faces ({a['usable']} usable): found {a['found']} "
                  f"(usable still usable {a['found_usable']}), upright pass alone {a['found_by_upright_pass_alone']}; "
                  f"IoU min {iou.get('min')} median {iou.get('median')}; cosine min {c.get('min')} p5 {c.get('p5')} "
                  f"median {c.get('median')}, usable min {cu.get('min')}; upright pass alone: cosine median "
                  f"{cp.get('median')} max {cp.get('max')}; extra {len(a['extra'])}, wrong turn "
                  f"{len(a['wrong_turn'])}, usable lost {len(a['lost_usable'])}; best face seen turned "
                  f"{a['best_face_seen_turned']}")
            for x in a["lost_usable"] + a["extra"] + a["wrong_turn"]:
                print("     ", x)
    print("\nphotos without faces:")
    for kind, k in out["faceless"].items():
        print(f"  {kind:12} {k['photos']:3} photos: upright pass {k['upright_faces']} faces; any orientation "
              f"{k['faces']} faces ({k['usable']} usable), from turned passes {len(k['turned_faces'])}")
        for f in k["turned_faces"]:
            print("     ", f)
    print("\ntime of the face stage (ms, one thread):")
    for name, t in out["timing"].items():
        print(f"  {name}: {t}")


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
    ap.add_argument("--rotation", action="store_true", help="faces in any orientation (issue 19)")
    ap.add_argument("--more", type=Path, default=ROOT.parent / "shared" / "data" / "faces-more",
                    help="with --rotation: faces-more's group photos and a quarter of its single photos too")
    args = ap.parse_args(argv)
    if args.rotation:
        out = rotation(args.data, args.more if args.more.is_dir() else None, args.repeats, args.quick)
        print(json.dumps(out, indent=1)) if args.json else print_rotation(out)
        return
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
