"""A cluster worker's part of an index: whole files in, everything the library's writer needs out.

A worker runs the local index's own stage functions (`IndexJob.decode`: the decode at the size needed, the model
input, the thumbnails, the faces and the names other apps wrote; then the image tower), on a library of its own
that has no catalog: `_WorkerLibrary` holds the settings, the image tower and a thumbnail cache that keeps the JPEG
bytes instead of writing them. What comes back (`FileResult`) is stored by the driver's single writer exactly as a
local index stores a file (its `_store_indexed`), so the rules for statuses, faces and names live in one place.

Nothing here imports Ray: `FileIndexer` is a plain class that `core.cluster.ray_index` runs as an actor, and that
the tests run in-process beside a local index.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import queue
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..clip.package import MANIFEST, folder_for
from ..media.thumbnails import thumbnail_jpeg
from ..settings import Settings
from ..store import Media

log = logging.getLogger(__name__)


@dataclass
class ShippedModel:
    """The image tower of the driver's installed model, as bytes for the object store: the manifest and the one
    tower file the workers run (int8 where the install found it faithful and the settings allow it). A worker
    needs no download, no conversion and no text tower."""
    spec: str
    manifest: bytes
    tower_name: str
    tower: bytes
    sha256: str

    @classmethod
    def of(cls, embedder) -> "ShippedModel":
        tower_path = Path(embedder.runtime.tower_file("visual"))
        folder = tower_path.parent
        data = tower_path.read_bytes()
        return cls(str(embedder.spec), (folder / MANIFEST).read_bytes(), tower_path.name, data,
                   hashlib.sha256(data).hexdigest())

    def unpack(self, root: Path | None = None) -> Path:
        """A models folder on this node holding the package (once per node and tower: several workers of one node
        share it; written whole, then renamed, so a worker killed while writing leaves nothing half-written)."""
        root = Path(root or Path(tempfile.gettempdir()) / "idlens-worker-models") / self.sha256[:16]
        package = folder_for(root, self.spec)
        if (package / MANIFEST).is_file() and (package / self.tower_name).is_file():
            return root
        work = package.with_name(f"{package.name}.{os.getpid()}.{threading.get_ident()}.partial")
        work.mkdir(parents=True, exist_ok=True)
        (work / self.tower_name).write_bytes(self.tower)
        (work / MANIFEST).write_bytes(self.manifest)
        try:
            os.rename(work, package)
        except OSError:  # another worker of this node got there first: its copy is the same bytes
            if not (package / MANIFEST).is_file():
                raise
            for f in work.iterdir():
                f.unlink()
            work.rmdir()
        return root


@dataclass
class FileResult:
    """One file, as a worker made it: its vectors (photo: one; video: one per kept frame, in order), what each
    analyser made of it, its thumbnails, or why it cannot be used."""
    media_id: int
    vectors: np.ndarray
    pictures: list[tuple[float | None, bool]] = field(default_factory=list)  # (timestamp, scene change)
    metadata: dict = field(default_factory=dict)
    outcomes: dict = field(default_factory=dict)  # analyser name -> core.analysers.Outcome
    thumbnails: list[tuple[float | None, bytes]] = field(default_factory=list)
    error: str | None = None
    error_detail: str | None = None
    seconds: float = 0.0            # on the worker, decode to the last vector
    stages: dict = field(default_factory=dict)


class _Thumbnails:
    """The worker's thumbnail cache: the JPEGs go back with the file, to the driver's cache."""

    def __init__(self):
        self.made: list[tuple[float | None, bytes]] = []

    def save(self, image, fingerprint: str, timestamp: float | None = None) -> None:
        self.made.append((timestamp, thumbnail_jpeg(image)))


class _WorkerLibrary:
    """What the index's stage functions read of a library, on a worker: no catalog, no writer."""

    def __init__(self, settings: Settings, embedder, thumbnails: _Thumbnails):
        self.settings, self.embedder, self.thumbnails = settings, embedder, thumbnails

    @property
    def face_backend(self):
        from .. import registry

        return registry.face_backend(self.settings.face_backend)


class FileIndexer:
    """The stage functions of an index for whole files, on one worker with `threads` cores: ONNX sessions and face
    models are opened once, here, and serve every batch the worker is given."""

    def __init__(self, settings: dict, model: ShippedModel, threads: int = 1, models_root: str | None = None):
        from ..clip.embedder import ClipEmbedder
        from ..indexer import IndexJob

        self.settings = Settings(**settings)
        self.settings.threads = threads
        self.settings.decode_workers = 1  # the worker's own core decodes; more workers are more actors
        root = model.unpack(Path(models_root) if models_root else None)
        self.embedder = ClipEmbedder(model.spec, root, threads=threads,
                                     int8=self.settings.image_encoder == "onnx-int8")
        self.embedder.load()
        self.embedder.open_image_tower()
        self.thumbnails = _Thumbnails()
        self.job = IndexJob(_WorkerLibrary(self.settings, self.embedder, self.thumbnails))  # type: ignore[arg-type]
        self.job.min_side = max(self.settings.decode_min_side, self.embedder.preprocessing.min_side)
        self.dim = self.embedder.dim
        if self.settings.faces:
            from ..analysers import Faces

            _ = self.job.analyser(Faces).backend  # the face models load now, not in the first batch

    def ready(self) -> dict:
        """Where this worker runs (for the driver's report)."""
        import socket

        return {"host": socket.gethostname(), "pid": os.getpid()}

    def index(self, files: list[Media]) -> list[FileResult]:
        with self.job.analysing():
            return [self._one(m) for m in files]

    def _one(self, media: Media) -> FileResult:
        from ..indexer import NO_FRAME, Decoded

        started = time.perf_counter()
        self.thumbnails.made = []
        self.job.report.stages = {}
        if media.kind == "image":
            decoded = self.job.decode(media)
            vectors = self._encode([p.model_input for p in decoded.pictures]) if not decoded.error else None
        else:
            decoded, vectors = self._video(media, Decoded, NO_FRAME)
        for p in decoded.pictures:
            p.model_input = None
        return FileResult(
            media.id, vectors if vectors is not None else np.empty((0, self.dim), np.float32),
            [(p.timestamp, p.scene_change) for p in decoded.pictures], decoded.metadata, decoded.outcomes,
            self.thumbnails.made, decoded.error, decoded.error_detail, time.perf_counter() - started,
            dict(self.job.report.stages))

    def _video(self, media: Media, decoded_type, no_frame: str):
        """A video is sampled on a thread of its own while this one embeds its frames a batch at a time, as a local
        index does: only a batch of model inputs is ever held, however long the video."""
        from ..indexer import VIDEO_FRAMES_AHEAD

        decoded = decoded_type(media, stream=queue.Queue(VIDEO_FRAMES_AHEAD), complete=False)
        sampler = threading.Thread(target=self.job.decode_into, args=(decoded,), name="idlens-worker-video")
        sampler.start()
        chunks, waiting = [], []
        self.job.stop_sampling(False)
        try:
            for picture in self.job.stream_of(decoded):
                if picture is None:
                    continue
                decoded.pictures.append(picture)
                waiting.append(picture)
                if len(waiting) >= max(1, self.settings.batch_size):
                    chunks.append(self._encode([p.model_input for p in waiting]))
                    for p in waiting:
                        p.model_input = None
                    waiting = []
        except BaseException:
            self.job.stop_sampling()  # the sampler gives up at its next frame instead of waiting for us
            raise
        finally:
            sampler.join()
        if waiting:
            chunks.append(self._encode([p.model_input for p in waiting]))
        decoded.complete = True
        if not decoded.pictures and not decoded.error:
            decoded.error = no_frame
        if decoded.error:
            return decoded, None
        return decoded, np.concatenate(chunks) if chunks else np.empty((0, self.dim), np.float32)

    def _encode(self, inputs: list) -> np.ndarray:
        t = time.perf_counter()
        vectors = np.asarray(self.embedder.encode_images(inputs), dtype=np.float32)
        stages = self.job.report.stages
        stages["clip"] = stages.get("clip", 0.0) + time.perf_counter() - t
        return vectors


def settings_for_workers(settings: Settings) -> dict:
    """The library's settings as plain data for the workers (the same rules, thresholds and sampling)."""
    return json.loads(json.dumps(dataclasses.asdict(settings)))
