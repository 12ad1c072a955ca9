"""Published ONNX exports of CLIP models on the Hugging Face hub, and how to fetch them without torch.

Two publishers, two layouts (both open_clip exports of weights under MIT-style licences; each repository's card
names the original licence):
- rclip's `yurijmikhalevich/rclip-models` (rclip, MIT): `<model>/visual.onnx`, `<model>/textual.onnx` and CLIP's BPE
  merges `tokenizer/bpe_simple_vocab_16e6.txt.gz` — ViT-B-32-256 trained on DataComp, Idlens's default;
- Immich's `immich-app/<arch>__<tag>` (Immich, AGPL app; the exports carry the models' own licences):
  `config.json`, `visual/model.onnx`, `visual/preprocess_cfg.json`, `textual/model.onnx`, `textual/tokenizer.json`.

Each file is checked against the hub's own record before it is kept: the SHA-256 of large (LFS) files, the git blob
hash of small ones. The endpoint is `IDLENS_HUB` (default https://huggingface.co), so a mirror or a local copy works.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .package import Manifest
from .preprocess import Preprocess
from .spec import ModelSpec, ModelUnavailable
from .tokenizer import build_from_merges_file, build_from_tokenizer_json

log = logging.getLogger(__name__)
CHUNK = 1 << 20


@dataclass(frozen=True)
class Source:
    repo: str
    layout: str           # "rclip" or "immich"
    subdir: str = ""      # the model's folder inside a repository that holds several
    image_size: int = 0   # rclip's layout has no preprocessing config: the architecture's input size
    megabytes: int = 600  # about what the download weighs (both fp32 towers), said before it starts


PUBLISHED: dict[str, Source] = {
    "ViT-B-32-256:datacomp_s34b_b86k": Source("yurijmikhalevich/rclip-models", "rclip",
                                              "ViT-B-32-256-datacomp_s34b_b86k", 256),
    "ViT-B-32:openai": Source("immich-app/ViT-B-32__openai", "immich"),
    "ViT-B-32:laion2b_s34b_b79k": Source("immich-app/ViT-B-32__laion2b-s34b-b79k", "immich"),
    "ViT-B-32:laion2b_e16": Source("immich-app/ViT-B-32__laion2b_e16", "immich"),
    "ViT-B-32:laion400m_e32": Source("immich-app/ViT-B-32__laion400m_e32", "immich"),
    "ViT-B-16:openai": Source("immich-app/ViT-B-16__openai", "immich"),
    "ViT-B-16:laion400m_e32": Source("immich-app/ViT-B-16__laion400m_e32", "immich"),
    "ViT-L-14:openai": Source("immich-app/ViT-L-14__openai", "immich", megabytes=1700),
    "ViT-L-14:laion2b_s32b_b82k": Source("immich-app/ViT-L-14__laion2b-s32b-b82k", "immich", megabytes=1700),
}


def published(spec: ModelSpec | str) -> Source | None:
    return PUBLISHED.get(str(spec))


def endpoint() -> str:
    return os.environ.get("IDLENS_HUB", "https://huggingface.co").rstrip("/")


def _files(source: Source) -> list[tuple[str, str]]:
    """(path in the repository, name in the package)."""
    if source.layout == "rclip":
        return [(f"{source.subdir}/textual.onnx", "textual.onnx"), (f"{source.subdir}/visual.onnx", "visual.onnx"),
                ("tokenizer/bpe_simple_vocab_16e6.txt.gz", "bpe.txt.gz")]
    return [("config.json", "config.json"), ("visual/preprocess_cfg.json", "preprocess_cfg.json"),
            ("textual/tokenizer.json", "tokenizer.json"), ("textual/model.onnx", "textual.onnx"),
            ("visual/model.onnx", "visual.onnx")]


class Offline(ModelUnavailable):
    """The hub cannot be reached; `download` says it in a newcomer's words, with the model's size."""

    def __init__(self, host: str, reason: str):
        super().__init__(f"no connection to {host} now ({reason})")
        self.host, self.reason = host, reason


def offline_words(source: Source, e: Offline) -> str:
    """A newcomer's words first (what, how big, what to do); the system's own reason and the mirror setting on a
    second line, for whoever wants them (the app shows the first line, the rest in a tooltip)."""
    return (f"Idlens needs to download its CLIP model once (about {source.megabytes} MB), and this computer cannot "
            f"reach {e.host} now. Connect to the internet, then try again.\n"
            f"Details: {e.reason}; IDLENS_HUB can name a mirror to download from.")


def _open(url: str):
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "idlens"}), timeout=30)
    except urllib.error.HTTPError as e:
        raise ModelUnavailable(f"{url}: the hub answered {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError) as e:
        host = urllib.parse.urlsplit(endpoint()).netloc or endpoint()
        reason = getattr(e, "reason", e)
        reason = getattr(reason, "strerror", None) or reason  # "Name or service not known", not "[Errno -2] …"
        raise Offline(host, str(reason)) from e


def _records(source: Source, folder: str) -> dict[str, dict]:
    """The hub's record of each file under `folder`: path -> {"size", "oid", "lfs": {"oid", "size"}?}."""
    url = f"{endpoint()}/api/models/{source.repo}/tree/main/{urllib.parse.quote(folder)}".rstrip("/")
    with _open(url) as response:
        return {entry["path"]: entry for entry in json.load(response) if entry.get("type") == "file"}


def _check(path: Path, record: dict) -> None:
    lfs = record.get("lfs")
    if lfs:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(CHUNK), b""):
                digest.update(chunk)
        ok = digest.hexdigest() == lfs.get("oid", lfs.get("sha256"))
    else:  # a small file kept in git: its blob hash
        data = path.read_bytes()
        ok = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == record.get("oid")
    if not ok:
        path.unlink()
        raise ModelUnavailable(f"{path.name} does not match the hub's checksum (a damaged download?); try again")


def _size(record: dict) -> int:
    return int((record.get("lfs") or {}).get("size") or record.get("size") or 0)


def fetch(source: Source, path: str, dest: Path, record: dict, progress, before: int = 0, total: int = 0) -> int:
    """Download one file, checked; progress counts the whole download (`before` bytes of it already fetched, of
    `total`), so a bar, its rate and its time left are the model's, not one file's. Returns the bytes fetched."""
    url = f"{endpoint()}/{source.repo}/resolve/main/{urllib.parse.quote(path)}"
    tmp = dest.with_name(dest.name + ".tmp")
    done = 0
    with _open(url) as response, open(tmp, "wb") as out:
        total = total or before + (_size(record) or int(response.headers.get("Content-Length") or 0))
        for chunk in iter(lambda: response.read(CHUNK), b""):
            out.write(chunk)
            done += len(chunk)
            progress(f"downloading {dest.name}", before + done, max(total, before + done))
    tmp.replace(dest)
    _check(dest, record)
    return done


def download(source: Source, spec: ModelSpec, folder: Path, progress) -> Manifest:
    """Fetch the export into `folder` and describe it; raises ModelUnavailable when it cannot."""
    try:
        return _download(source, spec, folder, progress)
    except Offline as e:
        raise ModelUnavailable(offline_words(source, e)) from e


def _download(source: Source, spec: ModelSpec, folder: Path, progress) -> Manifest:
    files = _files(source)
    records: dict[str, dict] = {}
    for directory in sorted({os.path.dirname(p) for p, _ in files}):
        records.update(_records(source, directory))
    missing = [path for path, _ in files if path not in records]
    if missing:
        raise ModelUnavailable(f"{source.repo} has no {missing[0]}; its layout changed — choose another model")
    total, fetched = sum(_size(records[path]) for path, _ in files), 0
    for path, name in files:
        fetched += fetch(source, path, folder / name, records[path], progress, fetched, total)
    if source.layout == "rclip":
        build_from_merges_file(folder / "bpe.txt.gz", folder / "bpe.npz")
        (folder / "bpe.txt.gz").unlink()
        preprocess, context, dim = Preprocess(size=(source.image_size, source.image_size)), 77, None
    else:
        build_from_tokenizer_json(folder / "tokenizer.json", folder / "bpe.npz")
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        preprocess = Preprocess.from_json(json.loads((folder / "preprocess_cfg.json").read_text(encoding="utf-8")))
        context = int(config.get("text_cfg", {}).get("context_length", 77))
        dim = config.get("embed_dim")
    manifest = Manifest(spec=str(spec), dim=int(dim or 0), preprocess=preprocess, context_length=context,
                        source=f"{endpoint()}/{source.repo}")
    _check_layout(folder, manifest)
    return manifest


def _check_layout(folder: Path, manifest: Manifest) -> None:
    """The towers must take what Idlens feeds them: float NCHW images of the configured size, token id rows."""
    import numpy as np

    from .runtime import normalise, open_session
    from .tokenizer import ClipTokenizer

    visual = open_session(folder / "visual.onnx", 0)
    shape = visual.get_inputs()[0].shape
    if len(shape) != 4 or shape[1] != 3 or "float" not in visual.get_inputs()[0].type:
        raise ModelUnavailable(f"the image tower takes {visual.get_inputs()[0].type} {shape}, not float images "
                               "(batch, 3, height, width): this export is not supported")
    textual = open_session(folder / "textual.onnx", 0)
    feed = textual.get_inputs()[0]
    ids = ClipTokenizer(folder / "bpe.npz", manifest.context_length)(["a photo"])
    out = normalise(textual.run(None, {feed.name: ids.astype(np.int32 if "int32" in feed.type else np.int64)})[0])
    manifest.dim = manifest.dim or out.shape[1]
    if out.shape[1] != manifest.dim:
        raise ModelUnavailable(f"the text tower gives {out.shape[1]}-d vectors, the config says {manifest.dim}")
