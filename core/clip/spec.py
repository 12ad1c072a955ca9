"""Which CLIP model: a spec string names it everywhere (settings, catalog, command line).

  "ViT-B-32-256:datacomp_s34b_b86k"  open_clip architecture + pretrained tag
  "ViT-B-32:/path/to/weights.pt"      architecture + a local checkpoint
  "tiny-test"                          a tiny CLIP with fixed random weights: real code paths, useless for search
  "ViT-B-32:random"                    a real architecture with fixed random weights: for benchmarks, useless too
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TINY_TEST = "tiny-test"
# open_clip configs of our own (the tiny test architecture), registered beside open_clip's.
MODEL_CONFIGS = Path(__file__).with_name("model_configs")
TINY_TEST_SEED = 1234  # every process builds the same random weights, so its vectors agree across runs
RANDOM_WEIGHTS = "random"


class ModelUnavailable(Exception):
    """The model cannot be loaded; the message tells the user what to do."""


@dataclass(frozen=True)
class ModelSpec:
    architecture: str
    pretrained: str | None  # tag, local path, or None for tiny-test

    @classmethod
    def parse(cls, text: str) -> "ModelSpec":
        text = text.strip()
        if text == TINY_TEST:
            return cls(TINY_TEST, None)
        arch, _, pretrained = text.partition(":")
        if not arch:
            raise ModelUnavailable(f"model {text!r}: expected NAME:PRETRAINED, e.g. ViT-B-32:datacomp_xl_s13b_b90k")
        return cls(arch, pretrained or None)

    def __str__(self) -> str:
        return self.architecture if self.pretrained is None else f"{self.architecture}:{self.pretrained}"

    @property
    def is_test_model(self) -> bool:
        """Random weights: the code paths are real, the search results are not."""
        return self.architecture == TINY_TEST or self.pretrained == RANDOM_WEIGHTS

    @property
    def local_checkpoint(self) -> Path | None:
        if self.pretrained and (os.sep in self.pretrained or self.pretrained.endswith((".pt", ".bin", ".safetensors"))):
            return Path(self.pretrained).expanduser()
        return None
