"""An installed CLIP model: one folder under the models folder, everything the everyday paths need and nothing else.

    manifest.json        what the model is (spec, dimension, preprocessing, context length), where it came from,
                         each file's SHA-256, and the verdict on its int8 towers
    visual.onnx          the image tower, fp32           visual-int8.onnx   the same, int8 weights (if faithful)
    textual.onnx         the text tower, fp32            textual-int8.onnx  the same, int8 weights (if faithful)
    bpe.npz              CLIP's BPE merges and vocabulary as lookup tables (core.clip.tokenizer)

A folder is complete only once `manifest.json` exists: it is written last, so an interrupted install is redone.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .preprocess import Preprocess

FORMAT = 2   # 2: the tokenizer as bpe.npz
MANIFEST = "manifest.json"


def folder_for(models_dir: Path, spec: str) -> Path:
    """models/onnx/<spec made safe for a file name>-<short hash of the spec> (two specs never share a folder)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", spec)[:80]
    return Path(models_dir) / "onnx" / f"{safe}-{hashlib.sha1(spec.encode()).hexdigest()[:8]}"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Manifest:
    spec: str
    dim: int
    preprocess: Preprocess
    context_length: int = 77
    source: str = "export"              # "export" (from open_clip here) or the hub repository it came from
    files: dict = field(default_factory=dict)        # name -> {"sha256", "size"}
    int8: dict = field(default_factory=dict)         # tower -> {"file", "min_cosine", "faithful"}
    open_clip_cosine: float | None = None            # exports: smallest cosine of the fp32 towers to open_clip
    format: int = FORMAT

    def to_json(self) -> dict:
        return {"format": self.format, "spec": self.spec, "dim": self.dim, "preprocess": self.preprocess.to_json(),
                "context_length": self.context_length, "source": self.source, "files": self.files,
                "int8": self.int8, "open_clip_cosine": self.open_clip_cosine}

    @classmethod
    def from_json(cls, data: dict) -> "Manifest":
        return cls(spec=data["spec"], dim=int(data["dim"]), preprocess=Preprocess.from_json(data["preprocess"]),
                   context_length=int(data.get("context_length", 77)), source=data.get("source", "export"),
                   files=data.get("files", {}), int8=data.get("int8", {}), open_clip_cosine=data.get("open_clip_cosine"),
                   format=int(data.get("format", FORMAT)))


class ModelPackage:
    def __init__(self, folder: Path):
        self.folder = Path(folder)

    @property
    def installed(self) -> bool:
        """Complete, and in this Idlens's format (an older one is installed again)."""
        try:
            return json.loads((self.folder / MANIFEST).read_text(encoding="utf-8")).get("format") == FORMAT
        except (OSError, ValueError):
            return False

    def manifest(self) -> Manifest:
        data = json.loads((self.folder / MANIFEST).read_text(encoding="utf-8"))
        if data.get("format", 0) > FORMAT:
            raise ValueError(f"{self.folder} was installed by a newer Idlens")
        return Manifest.from_json(data)

    def write_manifest(self, manifest: Manifest) -> None:
        """Record every file's checksum, then the manifest itself (last: it marks the install complete)."""
        manifest.files = {p.name: {"sha256": sha256(p), "size": p.stat().st_size}
                          for p in sorted(self.folder.iterdir()) if p.is_file() and p.name != MANIFEST
                          and not p.name.endswith(".tmp") and ".optimised-" not in p.name}
        tmp = self.folder / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest.to_json(), indent=1), encoding="utf-8")
        tmp.replace(self.folder / MANIFEST)

    def tower(self, name: str, manifest: Manifest) -> Path:
        """The file to run for a tower ("visual" or "textual"): int8 where it was found faithful, else fp32."""
        verdict = manifest.int8.get(name) or {}
        if verdict.get("faithful") and (self.folder / verdict["file"]).is_file():
            return self.folder / verdict["file"]
        return self.folder / f"{name}.onnx"

    def verify(self) -> list[str]:
        """Files whose checksum no longer matches the manifest (a damaged download or disk): [] when all match."""
        bad = []
        for name, info in self.manifest().files.items():
            path = self.folder / name
            if not path.is_file() or path.stat().st_size != info["size"] or sha256(path) != info["sha256"]:
                bad.append(name)
        return bad
