"""Faces: clustering purity and completeness on real labelled photos, detection time per photo and per video
minute.

  python -m bench faces [--data ../shared/data/faces-dev] [--json]

It ends with the quality-aware calibration of bench/calibration.py (`python -m bench calibration`: the degraded
faces of faces-dev and faces-more, per quality band), when ../shared/data/faces-more is there.

The data folder holds images/ and identities.csv (file,identity) for the labelled subset; every photo in images/
is indexed (the unlabelled ones take part in clustering, as other people would in a real library), and the
labelled photos' largest faces are scored. Purity: of each predicted person, the share of its faces that belong to
its majority identity. Completeness: of each identity, the share of its faces found in its largest predicted
person. An unclustered face counts as a person of its own.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "faces-dev"
THRESHOLDS = [0.30, 0.34, 0.38, 0.42, 0.46, 0.50, 0.55]


def purity_completeness(assignment: dict[str, int | None], truth: dict[str, str]) -> tuple[float, float]:
    clusters: dict[object, list[str]] = defaultdict(list)
    for f, person in assignment.items():
        clusters[person if person is not None else ("alone", f)].append(truth[f])
    purity = sum(Counter(v).most_common(1)[0][1] for v in clusters.values()) / len(assignment)
    by_identity: dict[str, Counter] = defaultdict(Counter)
    for f, person in assignment.items():
        by_identity[truth[f]][person if person is not None else ("alone", f)] += 1
    completeness = sum(c.most_common(1)[0][1] for c in by_identity.values()) / len(assignment)
    return purity, completeness


def run(data: Path) -> dict:
    import os

    from core.indexer import IndexJob
    from core.library import Library

    truth = {r["file"]: r["identity"] for r in csv.DictReader(open(data / "identities.csv"))}
    out: dict = {"data": str(data), "labelled_photos": len(truth), "identities": len(set(truth.values()))}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["IDLENS_CACHE"] = str(Path(tmp) / "cache")
        lib = Library(Path(tmp) / "lib", "tiny-test")
        for _ in IndexJob(lib, [str(data / "images")]).run():
            pass
        catalog = lib.catalog
        out["photos"] = catalog.media.count()
        out["faces"], out["usable_faces"] = catalog.faces.counts()
        ids = catalog.media.ids_by_path([str(data / "images" / f) for f in truth])

        def assignment() -> dict[str, int | None]:
            result = {}
            for f in truth:
                media_id = ids.get(str(data / "images" / f))
                face = catalog.faces.main_face(media_id) if media_id else None
                result[f] = face["person_id"] if face else None
            return result

        sweep = []
        for t in THRESHOLDS:
            lib.settings.face_match = lib.settings.face_cluster = t
            lib.people.recluster()
            p, c = purity_completeness(assignment(), truth)
            people = catalog.people.count()
            sweep.append({"threshold": t, "purity": round(p, 3), "completeness": round(c, 3), "people": people})
        out["sweep"] = sweep
        out["pairs"] = pair_accuracy(catalog, data)
        from core.settings import Settings

        default = Settings()
        lib.settings.face_match, lib.settings.face_cluster = default.face_match, default.face_cluster
        lib.people.recluster()
        p, c = purity_completeness(assignment(), truth)
        out["default"] = {"threshold": default.face_cluster, "purity": round(p, 3), "completeness": round(c, 3)}
        lib.close()
    out["timing"] = timing(data)
    out["naming"] = naming(data)
    from bench import calibration

    if calibration.DEFAULT_MORE.is_dir():
        out["calibration"] = calibration.run(calibration.DEFAULT_MORE, data)
    else:
        out["calibration"] = {"skipped": f"no {calibration.DEFAULT_MORE}"}
    return out


def pair_accuracy(catalog, data: Path) -> list[dict]:
    """Same/different decisions of pairs.csv against the similarity of the two photos' largest faces."""
    rows = list(csv.DictReader(open(data / "pairs.csv")))
    ids = catalog.media.ids_by_path([str(data / "images" / r[k]) for r in rows for k in ("file_x", "file_y")])

    def vec(name):
        media_id = ids.get(str(data / "images" / name))
        face = catalog.faces.main_face(media_id, usable_first=False) if media_id else None
        return face["embedding"] if face else None

    sims = []
    for r in rows:
        a, b = vec(r["file_x"]), vec(r["file_y"])
        if a is not None and b is not None:
            sims.append((float(a @ b), r["Decision"].strip().lower() == "yes"))
    out = []
    for t in THRESHOLDS:
        tp = sum(s >= t and same for s, same in sims)
        tn = sum(s < t and not same for s, same in sims)
        out.append({"threshold": t, "accuracy": round((tp + tn) / len(sims), 3),
                    "same_found": round(tp / max(1, sum(same for _, same in sims)), 3),
                    "different_kept_apart": round(tn / max(1, sum(not same for _, same in sims)), 3),
                    "pairs": len(sims)})
    return out


def labelled_faces(data: Path) -> list[tuple[str, str, object]]:
    """(source, identity, embedding) of every face whose person is known offline: the labelled faces-dev photos,
    the credited test photos (four other people), and both again as frames of a re-encoded 720p video (the same
    faces, degraded the way video degrades them)."""
    import numpy as np

    from core.faces.detection import pil_to_bgr
    from core.media.images import decode_image
    from core.media.video import sample_video
    from core.registry import face_backend
    from tests import media_factory as mf

    backend = face_backend()
    truth = {r["file"]: r["identity"] for r in csv.DictReader(open(data / "identities.csv"))}
    photos = [(data / "images" / f, ident) for f, ident in sorted(truth.items())]
    tests = ROOT / "tests" / "data" / "faces"
    photos += [(tests / f"person_a_{i}.jpg", "test-a") for i in (1, 2)]
    photos += [(tests / f"person_b_{i}.jpg", "test-b") for i in (1, 2)]
    photos += [(tests / "impostor_1.jpg", "test-c"), (tests / "impostor_2.jpg", "test-d")]

    def largest(image):
        found = backend.analyse(pil_to_bgr(image))
        return max(found, key=lambda f: f.size).embedding if found else None

    out = []
    for path, ident in photos:
        e = largest(decode_image(str(path), 256, 1024).detail)
        if e is not None:
            out.append((path.name, ident, e))
    with tempfile.TemporaryDirectory() as tmp:
        video = mf.video_of_photos(Path(tmp) / "v.mp4", [p for p, _ in photos], seconds_each=2.0, size=(1280, 720))
        frames = sample_video(str(video), 2.0, 300, 1.0, 256, 1024).frames
        for i, (path, ident) in enumerate(photos):
            near = [f for f in frames if abs(f.timestamp - (2.0 * i + 1.0)) <= 1.0]
            e = largest(near[0].image) if near else None
            if e is not None:
                out.append((f"{path.name}@video", ident, np.asarray(e)))
    return out


def naming(data: Path) -> dict:
    """Two tiers of certainty, measured: the similarity of the same person's faces (genuine) and of different
    people's (impostors), then auto-naming as the library does it. Every other person is named from their first one
    or two faces (confirmed); the rest are strangers. Every other face — of named people and of strangers — is
    offered to core.faces.clustering.choose_people. Precision: auto-named faces that are right; recall: faces of
    named people named automatically; to review: faces left that reach the suggestion floor of a named person."""
    import numpy as np

    from core.faces import clustering
    from core.settings import Settings

    faces = labelled_faces(data)
    vecs = np.stack([e for _, _, e in faces])
    idents = [i for _, i, _ in faces]
    sims = vecs @ vecs.T
    genuine, impostor = [], []
    for a in range(len(faces)):
        for b in range(a + 1, len(faces)):
            if faces[a][0].split("@")[0] == faces[b][0].split("@")[0]:
                continue  # a photo and its own video frame say nothing about two photos of one person
            (genuine if idents[a] == idents[b] else impostor).append(float(sims[a, b]))

    def spread(values):
        v = np.array(values)
        return {"n": len(v), "min": round(float(v.min()), 3), "p1": round(float(np.percentile(v, 1)), 3),
                "p5": round(float(np.percentile(v, 5)), 3), "median": round(float(np.median(v)), 3),
                "p95": round(float(np.percentile(v, 95)), 3), "p99": round(float(np.percentile(v, 99)), 3),
                "max": round(float(v.max()), 3)}

    s = Settings()
    out = {"faces": len(faces), "people": len(set(idents)), "genuine": spread(genuine), "impostor": spread(impostor)}
    runs = []
    people = sorted(set(idents))
    named_people = set(people[::2])  # the others are strangers: their faces must never be named
    out["named_people"], out["strangers"] = len(named_people), len(people) - len(named_people)
    for confirmed_per_person in (1, 2):
        for auto in (0.40, 0.45, 0.50, 0.55, 0.60, 0.65):
            # With one confirmed face the sole-face threshold is what decides: sweep it in step.
            sole = auto + (s.face_name_sole - s.face_name_auto) if confirmed_per_person == 1 else s.face_name_sole
            rule = clustering.NamingRule(auto, s.face_name_support, sole, s.face_name_margin, s.face_match)
            evidence, owners, rest = [], [], []
            for ident in people:
                mine = [k for k, i in enumerate(idents) if i == ident and "@" not in faces[k][0]]
                chosen = mine[:confirmed_per_person] if ident in named_people else []
                evidence += chosen
                owners += [ident] * len(chosen)
                rest += [k for k, i in enumerate(idents) if i == ident and k not in chosen]
            owner_ids = {ident: n for n, ident in enumerate(sorted(set(owners)))}
            picked = clustering.choose_people(vecs[rest], np.array([owner_ids[o] for o in owners]), vecs[evidence],
                                              np.ones(len(evidence), bool), rule, [set() for _ in rest])
            names = {n: ident for ident, n in owner_ids.items()}
            right = sum(p is not None and names[p] == idents[k] for k, p in zip(rest, picked))
            wrong = sum(p is not None and names[p] != idents[k] for k, p in zip(rest, picked))
            of_named = sum(idents[k] in named_people for k in rest)
            best = (vecs[rest] @ vecs[evidence].T).max(axis=1)
            review = sum(p is None and b >= s.face_suggest_floor for p, b in zip(picked, best))
            runs.append({"confirmed_per_person": confirmed_per_person, "face_name_auto": auto,
                         "face_name_sole": round(sole, 2), "auto_named": right + wrong, "wrong": wrong,
                         "precision": round(right / max(1, right + wrong), 3),
                         "recall": round(right / max(1, of_named), 3), "to_review": int(review),
                         "default": abs(auto - s.face_name_auto) < 1e-9})
    out["auto_naming"] = runs
    return out


def timing(data: Path) -> dict:
    """Per photo: decode for faces + detect + align + embed, on the real photos. Per video minute: the extra cost
    of faces on top of sampling, on a 720p video made of those photos."""
    from core.faces.detection import pil_to_bgr
    from core.registry import face_backend as default_backend
    from core.media.images import decode_image
    from core.media.video import sample_video
    from tests import media_factory as mf

    backend = default_backend()
    photos = sorted((data / "images").glob("*.jpg"))
    backend.analyse(pil_to_bgr(decode_image(str(photos[0]), 256, 1024).detail))  # warm up
    per_photo = []
    for p in photos:
        d = decode_image(str(p), 256, 1024)
        t = time.perf_counter()
        backend.analyse(pil_to_bgr(d.detail))
        per_photo.append(time.perf_counter() - t)
    with tempfile.TemporaryDirectory() as tmp:
        video = mf.video_of_photos(Path(tmp) / "v.mp4", photos[:30], seconds_each=2.0, size=(1280, 720))
        runs_plain, runs_faces = [], []
        for _ in range(3):
            t = time.perf_counter()
            v = sample_video(str(video))
            runs_plain.append(time.perf_counter() - t)
            t = time.perf_counter()
            sample_video(str(video), detail_side=1024, on_frame=lambda ts, im: backend.analyse(pil_to_bgr(im)))
            runs_faces.append(time.perf_counter() - t)
        minutes = v.duration / 60
    return {"photo_ms_median": round(statistics.median(per_photo) * 1000, 1),
            "photo_ms_p90": round(sorted(per_photo)[int(0.9 * len(per_photo))] * 1000, 1),
            "video_minutes": round(minutes, 2), "video_frames": len(v.frames),
            "faces_s_per_video_minute": round((statistics.median(runs_faces) - statistics.median(runs_plain)) / minutes, 2),
            "sampling_s_per_video_minute": round(statistics.median(runs_plain) / minutes, 2)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench faces", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    out = run(args.data)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"{out['photos']} photos, {out['faces']} faces ({out['usable_faces']} usable); "
          f"{out['labelled_photos']} labelled photos of {out['identities']} people")
    print(f"{'threshold':>9} {'purity':>7} {'completeness':>12} {'people':>6}")
    for row in out["sweep"]:
        print(f"{row['threshold']:9.2f} {row['purity']:7.3f} {row['completeness']:12.3f} {row['people']:6}")
    print(f"pairs.csv ({out['pairs'][0]['pairs']} pairs): {'threshold':>9} {'accuracy':>8} {'same found':>10} "
          f"{'different apart':>15}")
    for row in out["pairs"]:
        print(f"{'':23}{row['threshold']:9.2f} {row['accuracy']:8.3f} {row['same_found']:10.3f} "
              f"{row['different_kept_apart']:15.3f}")
    d = out["default"]
    print(f"default threshold {d['threshold']}: purity {d['purity']}, completeness {d['completeness']}")
    n = out["naming"]
    print(f"naming: {n['faces']} faces of {n['people']} known people (photos and their video frames)")
    for kind in ("genuine", "impostor"):
        d = n[kind]
        print(f"  {kind:8} similarity over {d['n']:4} pairs: min {d['min']:.3f}  p5 {d['p5']:.3f}  median "
              f"{d['median']:.3f}  p95 {d['p95']:.3f}  p99 {d['p99']:.3f}  max {d['max']:.3f}")
    print(f"  {n['named_people']} people named, {n['strangers']} strangers")
    print(f"  {'confirmed':>9} {'auto':>5} {'sole':>5} {'named':>6} {'wrong':>6} {'precision':>9} {'recall':>7} "
          f"{'to review':>9}")
    for r in n["auto_naming"]:
        print(f"  {r['confirmed_per_person']:9} {r['face_name_auto']:5.2f} {r['face_name_sole']:5.2f} "
              f"{r['auto_named']:6} {r['wrong']:6} "
              f"{r['precision']:9.3f} {r['recall']:7.3f} {r['to_review']:9}" + ("  <- default" if r["default"] else ""))
    t = out["timing"]
    print(f"faces per photo (detect+align+embed, <=1024 px): median {t['photo_ms_median']} ms, p90 {t['photo_ms_p90']} ms")
    print(f"video ({t['video_minutes']} min 720p, {t['video_frames']} frames): sampling {t['sampling_s_per_video_minute']} "
          f"s/min, faces add {t['faces_s_per_video_minute']} s/min")
    if "skipped" in out["calibration"]:
        print(f"calibration: skipped ({out['calibration']['skipped']})")
    else:
        from bench import calibration

        print("\n".join(calibration.report(out["calibration"])))
