"""The paper's metrics: text->image Recall@k and identity kmin-Recall@k / AP@10, for plain CLIP, CLIP with names,
Id-CLIP, and Id-CLIP fused with explicit face matching."""
from __future__ import annotations

import logging
import numpy as np

from core.faces.detection import pil_to_bgr

from .data import Dataset, image_tensor, training_text
from .model import NEUTRAL, PLACEHOLDER, TEMPLATE, IdClip, IdClipError

log = logging.getLogger(__name__)


def evaluate(idclip: IdClip | None, embedder, data: Dataset, split: str = "test", face_backend=None,
             fusion_weight: float = 0.5) -> dict:
    """The paper's metrics on `split`: text->image Recall@1/5/10/50 for captions whose person word carries the
    identity (plain CLIP with "a person", CLIP with the person's name when names.json has it, Id-CLIP, and Id-CLIP
    fused with explicit face matching), and identity retrieval (kmin-Recall@k, AP@10)."""
    import torch

    test = data.split(split)
    if not test:
        raise IdClipError(f"the dataset has no samples with split '{split}'")
    with torch.inference_mode():
        tensors = [image_tensor(embedder, data.root / s.image) for s in test]
        image_np = np.concatenate([embedder.encode_images(tensors[i:i + 64]) for i in range(0, len(test), 64)])
        id_images = image_np
        if idclip is not None and idclip.vpt is not None:
            id_images = np.concatenate([idclip.encode_images(tensors[i:i + 64]).cpu().numpy()
                                        for i in range(0, len(test), 64)])
        prototypes = {k: v.mean(axis=0) / np.linalg.norm(v.mean(axis=0)) for k, v in data.descriptors.items()}
        face_sim = _image_face_similarity(test, data, face_backend, prototypes) if face_backend else None
        captions = [training_text(s.caption) for s in test]
        variants: dict[str, np.ndarray] = {
            "clip": embedder.encode_texts([c.replace(PLACEHOLDER, NEUTRAL) for c in captions])}
        if data.names and all(s.identity in data.names for s in test):
            variants["clip_names"] = embedder.encode_texts(
                [c.replace(PLACEHOLDER, data.names[s.identity]) for c, s in zip(captions, test)])
        out: dict = {"samples": len(test), "identities": len({s.identity for s in test})}
        if idclip is not None:
            faces = np.stack([prototypes[s.identity] for s in test])
            variants["idclip"] = idclip.encode_text(captions, faces).cpu().numpy()
        for name, texts in variants.items():
            out[name] = _recalls(texts @ (id_images if name == "idclip" else image_np).T)
        if idclip is not None and face_sim is not None:
            ids = [s.identity for s in test]
            fused = variants["idclip"] @ id_images.T + fusion_weight * np.stack([face_sim[i] for i in ids])
            out["fusion"] = _recalls(fused)
        # Identity retrieval: one query per identity, relevant = that identity's images.
        identities = sorted({s.identity for s in test})
        relevant = np.array([[s.identity == i for s in test] for i in identities])
        queries = {"clip": embedder.encode_texts([TEMPLATE.replace(PLACEHOLDER, NEUTRAL)] * len(identities))}
        if "clip_names" in variants:
            queries["clip_names"] = embedder.encode_texts([TEMPLATE.replace(PLACEHOLDER, data.names[i])
                                                           for i in identities])
        if idclip is not None:
            queries["idclip"] = idclip.encode_text([TEMPLATE] * len(identities),
                                                   np.stack([prototypes[i] for i in identities])).cpu().numpy()
        identity_scores = {k: v @ (id_images if k == "idclip" else image_np).T for k, v in queries.items()}
        if idclip is not None and face_sim is not None:
            identity_scores["fusion"] = identity_scores["idclip"] + fusion_weight * np.stack(
                [face_sim[i] for i in identities])
        out["identity"] = {k: _identity_metrics(v, relevant) for k, v in identity_scores.items()}
    return out


def _image_face_similarity(test, data: Dataset, backend, prototypes) -> dict[str, np.ndarray]:
    from core.media.images import decode_image

    best = []
    for s in test:
        faces = backend.analyse(pil_to_bgr(decode_image(str(data.root / s.image), 256, 1024).detail))
        best.append(np.stack([f.embedding for f in faces]) if faces else None)
    return {i: np.array([0.0 if f is None else float((f @ p).max()) for f in best]) for i, p in prototypes.items()}


def _recalls(scores: np.ndarray) -> dict:
    """Row i is caption i; its own image is column i."""
    ranks = (scores > scores[np.arange(len(scores)), np.arange(len(scores))][:, None]).sum(axis=1)
    return {f"R@{k}": round(float((ranks < k).mean() * 100), 2) for k in (1, 5, 10, 50)}


def _identity_metrics(scores: np.ndarray, relevant: np.ndarray) -> dict:
    out = {}
    order = np.argsort(-scores, axis=1)
    hits = np.take_along_axis(relevant, order, axis=1)
    n_rel = relevant.sum(axis=1)
    for k in (1, 5, 10):
        out[f"kmin-R@{k}"] = round(float(np.mean(hits[:, :k].sum(axis=1) / np.minimum(k, n_rel))) * 100, 2)
    precision = np.cumsum(hits[:, :10], axis=1) / np.arange(1, min(10, hits.shape[1]) + 1)
    ap = (precision * hits[:, :10]).sum(axis=1) / np.minimum(10, n_rel)
    out["AP@10"] = round(float(ap.mean()) * 100, 2)
    return out
