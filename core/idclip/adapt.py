"""Personal adaptation: train Id-CLIP on the user's own named people and say, on held-out photos, whether it
helped."""
from __future__ import annotations

import logging
import random
import threading
from collections.abc import Iterator
from pathlib import Path

from .data import Dataset, Sample
from .evaluate import evaluate
from .model import TEMPLATE, IdClip, IdClipError
from .train import TrainProgress, train

log = logging.getLogger(__name__)


def library_dataset(library, holdout: float = 0.25, seed: int = 0) -> Dataset:
    """The library's named people as an Id-CLIP dataset: each photo where a named person appears is an image, the
    caption is the template alone ("An image with [TOK]. "), and the person's faces are the descriptors. A share of
    each person's photos is held out for testing."""
    faces = library.catalog.faces
    by_person: dict[tuple[int, str], list[str]] = {}
    for person_id, name, path in faces.named_photos():
        by_person.setdefault((person_id, name), []).append(path)
    rng = random.Random(seed)
    samples, descriptors = [], {}
    for (person_id, name), paths in sorted(by_person.items(), key=lambda kv: kv[0][1]):
        if len(paths) < 2:
            continue
        paths = sorted(paths)
        rng.shuffle(paths)
        n_test = max(1, round(len(paths) * holdout))
        for i, path in enumerate(paths):
            samples.append(Sample(path, TEMPLATE.strip(), name, "test" if i < n_test else "train"))
        descriptors[name] = faces.identity_embeddings(person_id)
    if len({s.identity for s in samples}) < 2:
        raise IdClipError("personal adaptation needs at least two named people with two photos each")
    return Dataset(Path("/"), samples, descriptors)


def adapt(library, checkpoint: Path, epochs: int = 20, lr: float = 1e-3, cancel: threading.Event | None = None,
          report: dict | None = None) -> Iterator[TrainProgress]:
    """Train a translator on the user's own people (a cancellable job) and fill `report` with the held-out identity
    metrics before and after, and whether Id-CLIP improved. A cancelled run reports `cancelled` and no verdict:
    a half-trained translator says nothing about whether adaptation helps."""
    cancel = cancel or threading.Event()
    data = library_dataset(library)
    backend = library.face_backend
    model = IdClip.create(library.embedder, backend.dim, backend.name)
    before = evaluate(model, library.embedder, data, "test")
    yield from train(model, data, checkpoint, epochs, 32, lr, cancel=cancel)
    if report is None:
        return
    report.update(people=len(data.descriptors), train=len(data.split("train")), test=len(data.split("test")),
                  checkpoint=str(checkpoint), cancelled=cancel.is_set())
    if cancel.is_set():
        return
    after = evaluate(model, library.embedder, data, "test")
    b, a = before["identity"]["idclip"], after["identity"]["idclip"]
    report.update(before=b, after=a, clip=after["identity"]["clip"], improved=a["AP@10"] > b["AP@10"])
