"""The Id-CLIP model: a translator (and optional visual prompts) around a loaded CLIP.

A placeholder token [TOK] in a caption ("[TOK] playing guitar on the beach") gets, in place of its token
embedding, `Translator(face descriptor)`: one hidden layer, ReLU, no bias, output = the text encoder's width. The
text transformer then runs as usual; images are embedded by plain CLIP, optionally with a few learnable visual
prompt tokens appended after the patch embeddings (shallow VPT).

The placeholder is carried by a word that the tokenizer keeps as a single rare token ("sks"), so any open_clip model
whose tokenizer has such a word works, and pooling at the end-of-text token is untouched. The CLIP model is shared
with plain search, so the hooks that inject the identity are installed only for the length of one Id-CLIP call
(`_hooked`) and removed after it: a plain CLIP call on the same model stays plain.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

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


def _token_embedding(model):
    return getattr(model, "token_embedding", None) or model.text.token_embedding


class IdClip:
    """A translator (and optional visual prompts) for one ClipEmbedder's model."""

    def __init__(self, embedder, config: IdClipConfig):
        import torch
        from torch import nn

        self.embedder, self.config = embedder, config
        self.model = embedder.torch_model
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.translator = nn.Sequential(nn.Linear(config.face_dim, config.hidden, bias=False), nn.ReLU(),
                                        nn.Linear(config.hidden, config.width, bias=False))
        self.vpt = None
        if config.vpt_tokens:
            width = self.model.visual.conv1.out_channels
            self.vpt = nn.Parameter(torch.randn(config.vpt_tokens, width) * 0.02)
        self.carrier = self._carrier_token()

    @classmethod
    def create(cls, embedder, face_dim: int, face_backend: str, hidden: int | None = None, vpt_tokens: int = 0):
        width = _token_embedding(embedder.torch_model).embedding_dim
        return cls(embedder, IdClipConfig(embedder.name, face_backend, face_dim, hidden or width, width, vpt_tokens))

    def _carrier_token(self) -> int:
        blank = {int(t) for t in self.embedder.tokenize([""])[0]}
        for word in CARRIER_WORDS:
            extra = [int(t) for t in self.embedder.tokenize([word])[0] if int(t) not in blank]
            if len(extra) == 1:
                return extra[0]
        raise IdClipError(f"the tokenizer of {self.embedder.name} has no single-token word to carry {PLACEHOLDER}")

    # -- hooks ------------------------------------------------------------------------------------------------------
    @contextmanager
    def _hooked(self, tokens=None, faces=None, prompts: bool = False):
        """For one call: the identity goes into the carrier token's slot, and/or the prompts after the patches."""
        handles = []
        if faces is not None:
            handles.append(_token_embedding(self.model).register_forward_hook(
                lambda module, inputs, output: self._inject_identity(output, tokens, faces)))
        if prompts and self.vpt is not None:
            handles.append(self.model.visual.patch_dropout.register_forward_hook(
                lambda module, inputs, output: self._append_prompts(output)))
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _inject_identity(self, output, tokens, faces):
        mask = tokens == self.carrier
        if not bool(mask.any()):
            return output
        out = output.clone()
        translated = self.translator(faces.to(out.dtype))          # (batch, width)
        rows = mask.nonzero(as_tuple=True)[0]
        out[mask] = translated[rows]
        return out

    def _append_prompts(self, output):
        import torch

        if self.vpt is None:
            return output
        prompts = self.vpt.to(output.dtype).unsqueeze(0).expand(output.shape[0], -1, -1)
        return torch.cat([output, prompts], dim=1)

    # -- encoding ---------------------------------------------------------------------------------------------------
    def tokenize(self, texts: list[str]):
        """Token ids as a torch tensor (the same ids open_clip's tokenizer gives: tests/test_tokenizer.py)."""
        import torch

        carrier = CARRIER_WORDS[0]
        return torch.as_tensor(self.embedder.tokenize([t.replace(PLACEHOLDER, carrier) for t in texts]))

    def encode_text(self, texts: list[str], faces=None):
        """Texts with [TOK]; `faces` (batch, face_dim) gives each text its identity. Unit vectors."""
        import torch
        import torch.nn.functional as F

        tokens = self.tokenize(texts).to(self.device)
        if faces is not None:
            faces = torch.as_tensor(np.asarray(faces, dtype=np.float32), device=self.device)
        with self._hooked(tokens, faces):
            out = self.model.encode_text(tokens)
        return F.normalize(out, dim=-1)

    def encode_images(self, tensors):
        import torch
        import torch.nn.functional as F

        if not isinstance(tensors, torch.Tensor):
            tensors = torch.as_tensor(np.stack([np.asarray(t) for t in tensors]))
        batch = tensors
        with self._hooked(prompts=True):
            return F.normalize(self.model.encode_image(batch.to(self.device)), dim=-1)

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

    def load_state(self, data: dict) -> None:
        import torch

        self.translator.load_state_dict(data["translator"])
        if self.vpt is not None and data.get("vpt") is not None:
            with torch.no_grad():
                self.vpt.copy_(data["vpt"])

    @classmethod
    def load(cls, path: Path, embedder, face_backend: str | None = None) -> "IdClip":
        """A trained translator; refused when it was trained for another CLIP model or, given `face_backend`,
        for another face recogniser (its descriptors would mean nothing to it)."""
        import torch

        try:
            data = torch.load(path, map_location="cpu", weights_only=False)
            config = IdClipConfig(**data["config"])
        except Exception as e:
            raise IdClipError(f"cannot read the Id-CLIP checkpoint {path}: {e}") from e
        if config.model != embedder.name:
            raise IdClipError(f"{path} was trained for {config.model}, not {embedder.name}")
        if face_backend is not None and config.face_backend != face_backend:
            raise IdClipError(f"{path} was trained on faces from {config.face_backend}, not {face_backend}; "
                              "train it again for this face recogniser")
        self = cls(embedder, config)
        self.load_state(data)
        self.translator.eval()
        return self
