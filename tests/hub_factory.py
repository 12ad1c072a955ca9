"""A local model hub in the Hugging Face layout, for tests: the tiny test model's ONNX export laid out as rclip's and
as Immich's published repositories, served over HTTP from a thread of the test process (`/<repo>/resolve/main/<path>`
serves a file, `/api/models/<repo>/tree/main/<dir>` lists a folder with the hub's checksums). `rate` throttles the
files (bytes per second), so a download lasts long enough to watch its progress."""
from __future__ import annotations

import hashlib
import http.server
import json
import shutil
import threading
import time
from pathlib import Path

RCLIP_REPO, RCLIP_SUBDIR = "test/rclip-models", "tiny"
IMMICH_REPO = "test/immich-tiny"
PIECE = 64 * 1024  # a throttled file goes out in pieces of this many bytes


def tiny_package(models: Path) -> Path:
    """The folder of the tiny test model installed in `models` (converted there once, with open_clip and torch)."""
    from core.clip.embedder import ClipEmbedder
    from core.clip.install import installed

    ClipEmbedder("tiny-test", models).load()
    return installed("tiny-test", models).folder


def rclip_layout(repo: Path, package: Path, subdir: str = RCLIP_SUBDIR) -> Path:
    """rclip's layout: `<subdir>/visual.onnx`, `<subdir>/textual.onnx` and CLIP's BPE merges in `tokenizer/`."""
    from open_clip.tokenizer import default_bpe

    (repo / subdir).mkdir(parents=True)
    (repo / "tokenizer").mkdir()
    for name in ("visual.onnx", "textual.onnx"):
        shutil.copy(package / name, repo / subdir / name)
    shutil.copy(default_bpe(), repo / "tokenizer" / "bpe_simple_vocab_16e6.txt.gz")
    return repo


def immich_layout(repo: Path, package: Path) -> Path:
    """Immich's layout: `config.json`, `visual/model.onnx` with its preprocessing config, `textual/model.onnx` with
    its tokenizer.json (the BPE vocabulary and merges, with Hugging Face's names for the special tokens)."""
    from open_clip.tokenizer import SimpleTokenizer

    (repo / "visual").mkdir(parents=True)
    (repo / "textual").mkdir()
    shutil.copy(package / "visual.onnx", repo / "visual" / "model.onnx")
    shutil.copy(package / "textual.onnx", repo / "textual" / "model.onnx")
    (repo / "config.json").write_text(json.dumps({"embed_dim": 64, "text_cfg": {"context_length": 77}}))
    (repo / "visual" / "preprocess_cfg.json").write_text(json.dumps(
        {"size": [64, 64], "mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711],
         "interpolation": "bicubic", "resize_mode": "shortest"}))
    t = SimpleTokenizer()
    vocab = dict(t.encoder)
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = vocab.pop("<start_of_text>"), vocab.pop("<end_of_text>")
    merges = [f"{a} {b}" for (a, b), _ in sorted(t.bpe_ranks.items(), key=lambda kv: kv[1])]
    (repo / "textual" / "tokenizer.json").write_text(json.dumps({"model": {"vocab": vocab, "merges": merges}}))
    return repo


def build(root: Path, package: Path, rclip: str | None = RCLIP_REPO, immich: str | None = IMMICH_REPO) -> Path:
    """A hub folder holding the tiny model under the repository names given (None: not in that layout)."""
    if rclip:
        rclip_layout(root / rclip, package)
    if immich:
        immich_layout(root / immich, package)
    return root


class Hub(http.server.SimpleHTTPRequestHandler):
    """/<repo>/resolve/main/<path> serves the file; /api/models/<repo>/tree/main/<dir> lists it as the hub does.
    The server's `lie` ({path: sha256}) makes the listing give a wrong checksum; `rate` throttles the files;
    `served` counts the bytes of files sent."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        root = Path(self.server.root)
        parts = self.path.split("?")[0].strip("/").split("/")
        throttled = False
        if parts[:2] == ["api", "models"]:
            repo, folder = "/".join(parts[2:4]), "/".join(parts[6:])
            base = root / repo / folder
            entries = []
            for f in sorted(base.iterdir()) if base.is_dir() else []:
                if f.is_file():
                    data = f.read_bytes()
                    path = f"{folder}/{f.name}" if folder else f.name
                    if f.suffix in (".onnx", ".gz"):
                        sha = self.server.lie.get(path) or hashlib.sha256(data).hexdigest()
                        entries.append({"type": "file", "path": path, "size": len(data),
                                        "lfs": {"oid": sha, "size": len(data)}})
                    else:
                        oid = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
                        entries.append({"type": "file", "path": path, "size": len(data), "oid": oid})
            body = json.dumps(entries).encode()
        else:
            repo, path = "/".join(parts[:2]), "/".join(parts[4:])
            target = root / repo / path
            if not target.is_file():
                self.send_error(404)
                return
            body = target.read_bytes()
            throttled = bool(self.server.rate)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            if not throttled:
                self.wfile.write(body)
                self.server.served += len(body) if parts[:2] != ["api", "models"] else 0
                return
            for start in range(0, len(body), PIECE):
                piece = body[start:start + PIECE]
                self.wfile.write(piece)
                self.wfile.flush()
                self.server.served += len(piece)
                time.sleep(len(piece) / self.server.rate)
        except (BrokenPipeError, ConnectionResetError):  # the app went away mid-download
            pass


def serve(root: Path, rate: float = 0.0) -> http.server.ThreadingHTTPServer:
    """Serve the hub folder `root` on a free local port, from a daemon thread; `server.url` is its endpoint (for
    IDLENS_HUB). Stop it with `server.shutdown()`."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    server.daemon_threads = True
    server.root, server.lie, server.rate, server.served = str(root), {}, rate, 0
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
