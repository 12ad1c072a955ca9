"""Id-CLIP: identity-aware text queries (the research this product starts from).

A placeholder token [TOK] in a caption ("[TOK] playing guitar on the beach") gets, in place of its token
embedding, `Translator(face descriptor)`: one hidden layer, ReLU, no bias, output = the text encoder's width. The
text transformer then runs as usual; images are embedded by plain CLIP, optionally with a few learnable visual
prompt tokens appended after the patch embeddings (shallow VPT). Only the translator and the prompts are trained,
with symmetric InfoNCE at CLIP's own (fixed) temperature, AdamW.

The placeholder is carried by a word that the tokenizer keeps as a single rare token ("sks"), so any open_clip model
whose tokenizer has such a word works, and pooling at the end-of-text token is untouched.
"""
from __future__ import annotations

import json
import os
import random
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

PLACEHOLDER = "[TOK]"
CARRIER_WORDS = ("sks", "identity")  # the first one the tokenizer keeps as one token carries [TOK]
TEMPLATE = "An image with [TOK]. "
NEUTRAL = "a person"


class IdClipError(Exception):
    pass


@dataclass
class IdClipConfig:
    model: str                 # the CLIP model spec it was trained on
    face_backend: str          # the recogniser whose descriptors it reads
    face_dim: int
    hidden: int
    width: int                 # text encoder width
    vpt_tokens: int = 0


class IdClip:
    """A translator (and optional visual prompts) attached to a loaded ClipEmbedder's model."""

    def __init__(self, embedder, config: IdClipConfig):
        import torch
        from torch import nn

        embedder.load()
        self.embedder, self.config = embedder, config
        self.model = embedder._model
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.translator = nn.Sequential(nn.Linear(config.face_dim, config.hidden, bias=False), nn.ReLU(),
                                        nn.Linear(config.hidden, config.width, bias=False))
        self.vpt = None
        if config.vpt_tokens:
            width = self.model.visual.conv1.out_channels
            self.vpt = nn.Parameter(torch.randn(config.vpt_tokens, width) * 0.02)
        self.carrier = self._carrier_token()
        self._pending = threading.local()
        token_embedding = getattr(self.model, "token_embedding", None) or self.model.text.token_embedding
        token_embedding.register_forward_hook(self._inject_identity)
        if self.vpt is not None:
            self.model.visual.patch_dropout.register_forward_hook(self._append_prompts)

    @classmethod
    def create(cls, embedder, face_dim: int, face_backend: str, hidden: int | None = None, vpt_tokens: int = 0):
        embedder.load()
        model = embedder._model
        width = (model.token_embedding if hasattr(model, "token_embedding") else model.text.token_embedding
                 ).embedding_dim
        return cls(embedder, IdClipConfig(embedder.name, face_backend, face_dim, hidden or width, width, vpt_tokens))

    def _carrier_token(self) -> int:
        tokenizer = self.embedder._tokenizer
        blank = tokenizer([""])[0]
        for word in CARRIER_WORDS:
            ids = tokenizer([word])[0]
            extra = [int(t) for t in ids if int(t) not in set(int(b) for b in blank)]
            if len(extra) == 1:
                return extra[0]
        raise IdClipError(f"the tokenizer of {self.embedder.name} has no single-token word to carry {PLACEHOLDER}")

    # -- hooks ------------------------------------------------------------------------------------------------------
    def _inject_identity(self, module, inputs, output):
        pending = getattr(self._pending, "faces", None)
        if pending is None:
            return output
        tokens, faces = pending
        mask = tokens == self.carrier
        if not bool(mask.any()):
            return output
        out = output.clone()
        translated = self.translator(faces.to(out.dtype))          # (batch, width)
        rows = mask.nonzero(as_tuple=True)[0]
        out[mask] = translated[rows]
        return out

    def _append_prompts(self, module, inputs, output):
        if not getattr(self._pending, "prompts", False):  # plain CLIP calls on the same model stay plain
            return output
        prompts = self.vpt.to(output.dtype).unsqueeze(0).expand(output.shape[0], -1, -1)
        return __import__("torch").cat([output, prompts], dim=1)

    # -- encoding ---------------------------------------------------------------------------------------------------
    def tokenize(self, texts: list[str]):
        carrier = CARRIER_WORDS[0]
        return self.embedder._tokenizer([t.replace(PLACEHOLDER, carrier) for t in texts])

    def encode_text(self, texts: list[str], faces=None):
        """Texts with [TOK]; `faces` (batch, face_dim) gives each text its identity. Unit vectors."""
        import torch
        import torch.nn.functional as F

        tokens = self.tokenize(texts).to(self.device)
        if faces is not None:
            faces = torch.as_tensor(np.asarray(faces, dtype=np.float32), device=self.device)
            self._pending.faces = (tokens, faces)
        try:
            out = self.model.encode_text(tokens)
        finally:
            self._pending.faces = None
        return F.normalize(out, dim=-1)

    def encode_images(self, tensors):
        import torch
        import torch.nn.functional as F

        batch = tensors if isinstance(tensors, torch.Tensor) else torch.stack(list(tensors))
        self._pending.prompts = self.vpt is not None
        try:
            return F.normalize(self.model.encode_image(batch.to(self.device)), dim=-1)
        finally:
            self._pending.prompts = False

    def to(self, device) -> "IdClip":
        """Move CLIP, the translator and the prompts to `device` ("cuda" for ViT-B/ViT-L training on a GPU)."""
        import torch
        from torch import nn

        self.model.to(device)
        self.translator.to(device)
        if self.vpt is not None:
            self.vpt = nn.Parameter(self.vpt.detach().to(device))
        self.device = torch.device(device)
        return self

    @property
    def device(self):
        return getattr(self, "_device", None) or next(self.model.parameters()).device

    @device.setter
    def device(self, value):
        self._device = value

    def trainable(self) -> list:
        return list(self.translator.parameters()) + ([self.vpt] if self.vpt is not None else [])

    # -- persistence ------------------------------------------------------------------------------------------------
    def state(self) -> dict:
        return {"config": asdict(self.config), "translator": self.translator.state_dict(),
                "vpt": None if self.vpt is None else self.vpt.detach().clone()}

    @classmethod
    def load(cls, path: Path, embedder) -> "IdClip":
        import torch

        try:
            data = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as e:
            raise IdClipError(f"cannot read the Id-CLIP checkpoint {path}: {e}") from e
        config = IdClipConfig(**data["config"])
        if config.model != embedder.name:
            raise IdClipError(f"{path} was trained for {config.model}, not {embedder.name}")
        self = cls(embedder, config)
        self.translator.load_state_dict(data["translator"])
        if self.vpt is not None and data.get("vpt") is not None:
            with torch.no_grad():
                self.vpt.copy_(data["vpt"])
        self.translator.eval()
        return self


# -- the dataset (COCO Person FaceSwap layout) ------------------------------------------------------------------------
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
        from .faces import pil_to_bgr
        from .images import decode_image

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


# -- training -------------------------------------------------------------------------------------------------------
@dataclass
class TrainProgress:
    epoch: int
    step: int
    steps_per_epoch: int
    loss: float


def train(idclip: IdClip, data: Dataset, checkpoint: Path, epochs: int = 10, batch_size: int = 32,
          lr: float = 5e-5, seed: int = 0, cancel: threading.Event | None = None) -> Iterator[TrainProgress]:
    """Train the translator (and prompts) on the dataset's train split; a checkpoint after every epoch and on
    cancel. An existing checkpoint at `checkpoint` is resumed (same configuration required)."""
    import torch
    import torch.nn.functional as F

    cancel = cancel or threading.Event()
    train_set = data.split("train")
    if not train_set:
        raise IdClipError("the dataset has no samples with split 'train'")
    params = idclip.trainable()
    optimiser = torch.optim.AdamW(params, lr=lr)
    start_epoch, step = 0, 0
    if Path(checkpoint).exists():
        saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
        if saved["config"] != asdict(idclip.config):
            raise IdClipError(f"{checkpoint} holds another configuration; choose another --out to start afresh")
        idclip.translator.load_state_dict(saved["translator"])
        if idclip.vpt is not None and saved.get("vpt") is not None:
            with torch.no_grad():
                idclip.vpt.copy_(saved["vpt"])
        optimiser.load_state_dict(saved["optimiser"])
        start_epoch, step = saved["epoch"], saved["step"]
    scale = idclip.model.logit_scale.exp().detach()  # CLIP's temperature, kept fixed
    embedder = idclip.embedder
    fixed_images = None
    if idclip.vpt is None:  # the image tower is frozen: embed every training image once
        with torch.no_grad():
            fixed_images = torch.cat([idclip.encode_images([_image_tensor(embedder, data.root / s.image)
                                                            for s in train_set[i:i + 64]])
                                      for i in range(0, len(train_set), 64)]).clone()
    steps_per_epoch = (len(train_set) + batch_size - 1) // batch_size
    idclip.translator.train()
    for epoch in range(start_epoch, epochs):
        rng = random.Random(seed * 100003 + epoch)
        order = list(range(len(train_set)))
        rng.shuffle(order)
        for b in range(0, len(order), batch_size):
            idx = order[b:b + batch_size]
            if len(idx) < 2:
                continue  # a contrastive loss needs negatives
            batch = [train_set[i] for i in idx]
            faces = np.stack([data.descriptors[s.identity][rng.randrange(len(data.descriptors[s.identity]))]
                              for s in batch])
            text = idclip.encode_text([training_text(s.caption) for s in batch], faces)
            if fixed_images is not None:
                images = fixed_images[torch.as_tensor(idx, device=fixed_images.device)]
            else:
                images = idclip.encode_images([_image_tensor(embedder, data.root / s.image) for s in batch])
            logits = scale * images @ text.T
            target = torch.arange(len(batch), device=logits.device)
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            step += 1
            yield TrainProgress(epoch + 1, step, steps_per_epoch, float(loss.detach()))
            if cancel.is_set():
                _save(idclip, optimiser, epoch, step, checkpoint)
                return
        _save(idclip, optimiser, epoch + 1, step, checkpoint)
    idclip.translator.eval()


def _save(idclip: IdClip, optimiser, epoch: int, step: int, path: Path) -> None:
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = idclip.state()
    state.update(optimiser=optimiser.state_dict(), epoch=epoch, step=step)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _image_tensor(embedder, path: Path):
    from .images import decode_image

    return embedder.preprocess(decode_image(str(path), 256).image)


# -- evaluation -------------------------------------------------------------------------------------------------------
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
        tensors = [_image_tensor(embedder, data.root / s.image) for s in test]
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
    from .faces import pil_to_bgr
    from .images import decode_image

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


# -- personal adaptation: the user's own named people ---------------------------------------------------------------
def library_dataset(library, holdout: float = 0.25, seed: int = 0) -> Dataset:
    """The library's named people as an Id-CLIP dataset: each photo where a named person appears is an image, the
    caption is the template alone ("An image with [TOK]. "), and the person's faces are the descriptors. A share of
    each person's photos is held out for testing."""
    db = library.catalog.db
    rows = db.execute(
        "SELECT p.name, m.path FROM faces f JOIN people p ON p.id = f.person_id JOIN media m ON m.id = f.media_id "
        "WHERE p.name IS NOT NULL AND m.kind = 'image' AND m.status = 'indexed' GROUP BY p.id, m.id").fetchall()
    by_person: dict[str, list[str]] = {}
    for name, path in rows:
        by_person.setdefault(name, []).append(path)
    rng = random.Random(seed)
    samples, descriptors = [], {}
    for name, paths in sorted(by_person.items()):
        if len(paths) < 2:
            continue
        paths = sorted(paths)
        rng.shuffle(paths)
        n_test = max(1, round(len(paths) * holdout))
        for i, path in enumerate(paths):
            samples.append(Sample(path, TEMPLATE.strip(), name, "test" if i < n_test else "train"))
        emb = [np.frombuffer(r[0], dtype=np.float32) for r in db.execute(
            "SELECT f.embedding FROM faces f JOIN people p ON p.id = f.person_id WHERE p.name = ? AND "
            "(f.confirmed = 1 OR f.usable = 1)", [name])]
        descriptors[name] = np.stack(emb)
    if len({s.identity for s in samples}) < 2:
        raise IdClipError("personal adaptation needs at least two named people with two photos each")
    return Dataset(Path("/"), samples, descriptors)


def adapt(library, checkpoint: Path, epochs: int = 20, lr: float = 1e-3, cancel: threading.Event | None = None,
          report: dict | None = None) -> Iterator[TrainProgress]:
    """Train a translator on the user's own people (a cancellable job) and fill `report` with the held-out identity
    metrics before and after, and whether Id-CLIP improved."""
    data = library_dataset(library)
    backend = library.face_backend
    model = IdClip.create(library.embedder, backend.dim, backend.name)
    before = evaluate(model, library.embedder, data, "test")
    yield from train(model, data, checkpoint, epochs, 32, lr, cancel=cancel)
    after = evaluate(model, library.embedder, data, "test")
    if report is not None:
        b, a = before["identity"]["idclip"], after["identity"]["idclip"]
        report.update(people=len(data.descriptors), train=len(data.split("train")), test=len(data.split("test")),
                      before=b, after=a, clip=after["identity"]["clip"],
                      improved=a["AP@10"] > b["AP@10"], checkpoint=str(checkpoint))
