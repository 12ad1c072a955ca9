"""Id-CLIP datasets in the COCO Person FaceSwap layout (see README "Id-CLIP"): images, captions with [TOK], and
each identity's face descriptors."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.faces.detection import pil_to_bgr

from .model import PLACEHOLDER, TEMPLATE, IdClipError

log = logging.getLogger(__name__)


@dataclass
class Sample:
    image: str
    caption: str
    identity: str
    split: str


@dataclass
class Dataset:
    root: Path
    samples: list[Sample]
    descriptors: dict[str, np.ndarray]          # identity -> (n, face_dim)
    names: dict[str, str] = field(default_factory=dict)

    def split(self, name: str) -> list[Sample]:
        return [s for s in self.samples if s.split == name]


def load_dataset(root: Path, face_backend=None) -> Dataset:
    """Read DATASET/captions.jsonl, DATASET/identities/ and DATASET/names.json (see README "Id-CLIP")."""
    root = Path(root)
    captions = root / "captions.jsonl"
    if not captions.is_file():
        raise IdClipError(f"{root} is not an Id-CLIP dataset: {captions} is missing")
    samples = []
    for n, line in enumerate(captions.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            samples.append(Sample(row["image"], row["caption"], str(row["identity"]), row.get("split", "train")))
        except (ValueError, KeyError) as e:
            raise IdClipError(f"{captions}:{n}: {e}") from e
    descriptors: dict[str, np.ndarray] = {}
    for identity in sorted({s.identity for s in samples}):
        descriptors[identity] = _identity_descriptors(root / "identities", identity, face_backend)
    names_file = root / "names.json"
    names = json.loads(names_file.read_text(encoding="utf-8")) if names_file.exists() else {}
    return Dataset(root, samples, descriptors, names)


def _identity_descriptors(folder: Path, identity: str, face_backend) -> np.ndarray:
    npy = folder / f"{identity}.npy"
    if npy.exists():
        d = np.load(npy).astype(np.float32)
        d = d.reshape(-1, d.shape[-1])
    else:
        photos = sorted(p for p in (folder / identity).glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if not photos or face_backend is None:
            raise IdClipError(f"no descriptors for identity {identity}: give {npy} or face photos in {folder / identity}")
        from core.media.images import decode_image  # Pillow: here, not when the CLI reads its options

        rows = []
        for p in photos:
            faces = face_backend.analyse(pil_to_bgr(decode_image(str(p), 112, 1024).detail))
            if faces:
                rows.append(max(faces, key=lambda f: f.size).embedding)
        if not rows:
            raise IdClipError(f"no face found in the photos of identity {identity}")
        d = np.stack(rows)
    return d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)


def training_text(caption: str) -> str:
    return caption if PLACEHOLDER in caption else TEMPLATE + caption




def image_tensor(embedder, path: Path):
    from core.media.images import decode_image

    return embedder.preprocess(decode_image(str(path), embedder.preprocessing.min_side, draft=False).source)
