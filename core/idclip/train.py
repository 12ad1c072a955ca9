"""Training the translator (and prompts): symmetric InfoNCE at CLIP's own (fixed) temperature, AdamW; only the
translator and the prompts learn. Resumable: a checkpoint after every epoch and on cancel."""
from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .data import Dataset, image_tensor, training_text
from .model import IdClip, IdClipError

log = logging.getLogger(__name__)


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
        idclip.load_state(saved)
        optimiser.load_state_dict(saved["optimiser"])
        start_epoch, step = saved["epoch"], saved["step"]
    scale = idclip.model.logit_scale.exp().detach()  # CLIP's temperature, kept fixed
    embedder = idclip.embedder
    fixed_images = None
    if idclip.vpt is None:  # the image tower is frozen: embed every training image once
        with torch.no_grad():
            fixed_images = torch.cat([idclip.encode_images([image_tensor(embedder, data.root / s.image)
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
                images = idclip.encode_images([image_tensor(embedder, data.root / s.image) for s in batch])
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

