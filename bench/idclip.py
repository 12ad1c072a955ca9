"""Id-CLIP metrics on an evaluation set built offline: the labelled people of faces-dev composited into scenes
(COCO Person FaceSwap layout), for plain CLIP, CLIP with names, Id-CLIP and Id-CLIP fused with face matching.

  python -m bench idclip [--model tiny-test] [--epochs 30] [--json]

No CLIP weights can be downloaded here, so the CLIP parts run with random weights and the output says so: those
numbers exercise the pipeline and say nothing about quality. The face-matching part uses the real recogniser.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "faces-dev"
SCENES = [("red", (200, 40, 40)), ("blue", (40, 60, 200)), ("green", (40, 160, 60)), ("yellow", (230, 210, 40)),
          ("purple", (130, 50, 160)), ("orange", (240, 140, 30))]
PLACES = ["in front of a {} wall", "next to a {} car", "holding a {} umbrella"]


def build(data: Path, out: Path) -> Path:
    """Each labelled identity: its first photo gives the face descriptor; every other photo is pasted into scenes."""
    truth: dict[str, list[str]] = {}
    for row in csv.DictReader(open(data / "identities.csv")):
        truth.setdefault(row["identity"], []).append(row["file"])
    rows = []
    (out / "images").mkdir(parents=True)
    for identity, files in sorted(truth.items()):
        (out / "identities" / identity).mkdir(parents=True)
        Image.open(data / "images" / files[0]).convert("RGB").save(out / "identities" / identity / "ref.jpg")
        for j, (colour, rgb) in enumerate(SCENES):
            photo = files[1 + j % (len(files) - 1)] if len(files) > 1 else files[0]
            face = Image.open(data / "images" / photo).convert("RGB")
            face.thumbnail((260, 300))
            canvas = Image.new("RGB", (480, 360), rgb)
            canvas.paste(face, (30 + 50 * (j % 3), 30))
            name = f"{identity}_{j}.jpg"
            canvas.save(out / "images" / name, quality=90)
            rows.append({"image": f"images/{name}", "caption": "[TOK] " + PLACES[j % 3].format(colour),
                         "identity": identity, "split": "test" if j >= 4 else "train"})
    (out / "captions.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (out / "names.json").write_text(json.dumps({i: f"Person {i[-2:]}" for i in truth}))
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench idclip", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--model", default="tiny-test")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    from app.cli_idclip import print_metrics
    from core.clip.embedder import ClipEmbedder
    from core.registry import face_backend as default_backend
    from core.idclip.data import load_dataset
    from core.idclip.evaluate import evaluate
    from core.idclip.model import IdClip
    from core.idclip.train import train
    from core.settings import models_dir

    backend = default_backend()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("IDLENS_CACHE", str(Path(tmp) / "cache"))
        dataset = load_dataset(build(args.data, Path(tmp) / "pfs"), backend)
        embedder = ClipEmbedder(args.model, models_dir())
        model = IdClip.create(embedder, backend.dim, backend.name)
        t = time.perf_counter()
        losses = [p.loss for p in train(model, dataset, Path(tmp) / "idclip.pt", args.epochs, 32, args.lr)]
        seconds = time.perf_counter() - t
        result = evaluate(model, embedder, dataset, "test", backend)
    result.update(model=args.model, random_weights=embedder.is_test_model, epochs=args.epochs,
                  train_seconds=round(seconds, 1), first_loss=round(losses[0], 4), last_loss=round(losses[-1], 4),
                  train_samples=len(dataset.split("train")))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"evaluation set: {result['train_samples']} training and {result['samples']} test captions of "
          f"{result['identities']} real identities from {args.data} composited into generated scenes")
    print(f"training: {args.epochs} epochs in {seconds:.1f} s, loss {result['first_loss']} -> {result['last_loss']}")
    print(print_metrics(result))
