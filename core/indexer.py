"""Indexing: scan the folders, decode what is new on worker threads, hand each picture to the analysers
(core.analysers: thumbnails, faces), embed it in batches, store and index it.

A job is a generator of `Progress`, so the CLI turns it into a progress bar and the GUI into signals, with no
duplicated logic. It checks its cancel event between batches; whatever was stored stays stored, and the next run
picks up the files still pending.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, TimeoutError
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .analysers import Analyser, FaceNames, Faces, Outcome, Thumbnails, analysed, analysers_for
from .library import Library
from .media.images import MediaError, decode_image
from .media.reasons import explain
from .media.scanner import ScanReport, scan
from .media.video import planned_frames, sample_video
from .paths import is_under_any
from .store import ERROR, INDEXED, Media

log = logging.getLogger(__name__)

INDEX_SAVE_EVERY = 300.0  # seconds; the catalog holds every vector anyway, the index is a cache
VIDEO_FRAMES_AHEAD = 32  # a video's model inputs waiting for the image tower at most (0.8 MB each at 256 px)
NO_FRAME = "damaged video (no frame of it could be decoded)"
HEARTBEAT_S = 0.5  # while a long video is sampled: how often progress (and a moment for the user's decisions) comes


@dataclass
class Progress:
    stage: str                 # "scan", "model" (loading it), "embed", "faces" (retrying face analysis),
                               # "people" (grouping faces) or "done"
    done: int = 0              # files finished in this stage
    total: int = 0
    path: str | None = None    # the file just finished
    items: int = 0             # vectors stored so far (photos + video frames)
    errors: int = 0
    # The work in pictures ("embed" only): a photo counts 1, a video the frames it will yield (from its header).
    # Frames count as they are sampled, so the rate and the time left stay true during a long video.
    work_done: float = 0.0
    work_total: float = 0.0
    video_seconds: float = 0.0  # seconds of video indexed so far (of the files finished, and the one in progress)


@dataclass
class IndexReport:
    scan: ScanReport = field(default_factory=ScanReport)
    embedded_files: int = 0
    embedded_items: int = 0
    errors: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0      # inside the model
    pipeline_seconds: float = 0.0   # decoding, embedding and storing, once the model was loaded
    cancelled: bool = False
    people: object = None           # the SettleReport of the faces found in this run (core.faces.settle)
    thumbnail_failures: int = 0     # thumbnails that could not be written (disk full?); rebuilt on a later run
    # Seconds spent per stage, summed over threads: decode (incl. resizing), faces, thumbnails, preprocess (model
    # input), clip, catalog, index. Decoding stages run on the worker threads, beside the model.
    stages: dict = field(default_factory=dict)
    accelerated_cosine: float | None = None  # the int8 image tower's smallest cosine to fp32, if it runs int8
    faces_analysed: int = 0         # indexed files whose faces were (re)analysed on their own (retries, faces on)
    names: object = None            # the NamesImported of the names other apps wrote (core.faces.people)
    face_errors: int = 0            # files whose face analysis failed in this run (recorded; retried next run)
    resumed: int = 0                # files indexed in this run that an earlier, interrupted run had left pending
    cluster: Any = None             # an index on a cluster: its ClusterReport (core.cluster.ray_index)


@dataclass
class Picture:
    """A photo, or a kept video frame, on its way to the image tower."""
    model_input: Any               # None once it is embedded (a long video's go as they are, not at its end)
    timestamp: float | None = None  # None for a photo, seconds for a video frame
    scene_change: bool = False


@dataclass
class Decoded:
    media: Media
    pictures: list[Picture] = field(default_factory=list)  # in the batches (a photo's: made by its decoder)
    metadata: dict = field(default_factory=dict)
    error: str | None = None       # why the file cannot be used, in plain words
    error_detail: str | None = None  # the library's own words for it
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # analyser name -> what it made of the file
    # A video's kept frames (Picture), handed over by its decoder as they are sampled, so the image tower works on a
    # long video while it is still decoded; _END closes it. None for a photo.
    stream: queue.Queue | None = None
    complete: bool = True          # every picture is in `pictures` (a stream: once _END came)


_END = object()  # the end of a video's stream: its faces and metadata are set


class _Stopped(Exception):
    """The job was cancelled or its consumer went away while a video was sampled: stop decoding it."""


class IndexJob:
    def __init__(self, library: Library, paths: list[str] | None = None, cancel: threading.Event | None = None):
        self.library = library
        self.paths = [os.path.abspath(p) for p in (paths or [])]
        self.cancel = cancel or threading.Event()
        self.report = IndexReport()
        self._done = 0
        self._stage_lock = threading.Lock()
        self._seen: set[int] = set()   # media handled by this run's pipeline
        self.min_side = library.settings.decode_min_side  # raised to the model's input size once it is loaded
        self._work: dict[int, float] = {}      # media id -> its weight in Progress.work_*
        self._sampled: dict[int, tuple[int, float]] = {}  # video in progress -> (frames sampled, last time)
        self._work_finished = 0.0
        self.analysers: list[Analyser] = analysers_for(library, self._stage)
        self._stopping = threading.Event()  # the consumer left: decoders stop handing frames over
        self._video_finished = 0.0

    @contextmanager
    def _stage(self, name: str):
        t = time.perf_counter()
        try:
            yield
        finally:
            with self._stage_lock:
                self.report.stages[name] = self.report.stages.get(name, 0.0) + time.perf_counter() - t

    def run(self) -> Iterator[Progress]:
        self.library.check_model()
        with self.library.write_lock("indexing"):
            yield from self._run()

    def _run(self) -> Iterator[Progress]:
        start = time.perf_counter()
        lib = self.library
        media = lib.catalog.media
        with lib.catalog.transaction():
            roots = media.roots()
            for p in self.paths:
                media.include(p)
                # A new library folder, unless one holds it already; but a path inside a forgotten folder (still
                # excluded) is one of its own, since the scan of the folder around it skips the forgotten one.
                if not is_under_any(p, roots) or is_under_any(p, media.excluded()):
                    media.add_root(p)
        roots = self.paths or media.roots()
        lib.mark_index_dirty()

        yield Progress("scan")
        left_pending = {m.id for m in media.pending()}
        self.report.scan = scan(lib.catalog, roots, cancelled=self.cancel.is_set,
                                follow_links=lib.settings.follow_links)
        yield Progress("scan", done=self.report.scan.found, total=self.report.scan.found)
        try:
            if not self.cancel.is_set():
                pending = media.pending()
                self.report.resumed = sum(1 for m in pending if m.id in left_pending)
                if pending:
                    yield from self._embed(pending)
            if lib.settings.faces and not self.cancel.is_set():
                # Files whose face analysis failed before, or that were indexed with faces off.
                retry = [m for m in media.needing_faces() if m.id not in self._seen]
                if retry:
                    yield from self._analyse_faces(retry)
            if lib.settings.faces and lib.settings.read_face_regions and not self.cancel.is_set():
                # Photos indexed before whose XMP changed (a sidecar edited or added in another app), then the
                # names read in this run, as one decision.
                names = self.analyser(FaceNames)
                again = [m for m in media.all() if m.status == INDEXED and m.id not in names.seen and names.wants(m)]
                if again:
                    yield from self._read_names(names, again)
            if lib.settings.faces and not self.cancel.is_set():
                yield Progress("people")
                self.report.people = lib.people.settle()
                names = self.analyser(FaceNames)
                if names.read:  # after the faces are settled: the decision holds only what the names changed
                    self.report.names = lib.people.import_names(names.read, names.look,
                                                                lib.face_backend.name)
                    names.read = []
        finally:
            vectors = 0
            if lib.catalog.library_model:  # else nothing was ever embedded (the model may not even be installed)
                vectors = len(lib.refresh_index())  # moves, deletions and this run's vectors
                lib.save_index()
            self.report.thumbnail_failures = self.analyser(Thumbnails).failures
            self.report.cancelled = self.cancel.is_set()
            self.report.seconds = time.perf_counter() - start
        yield Progress("done", done=self.report.embedded_files, total=self.report.embedded_files,
                       items=vectors, errors=self.report.errors)

    # -- the pipeline -----------------------------------------------------------------------------------------------
    def _prefetch(self, pool: ThreadPoolExecutor, fn: Callable, items: Iterable, heartbeat: bool = False,
                  early: Callable[[Any], bool] = lambda item: False) -> Iterator:
        """fn(item) on the pool, a few items ahead of the consumer, results in order; stops submitting on cancel
        (what was submitted still comes back). With `heartbeat`, None comes every HEARTBEAT_S while the next
        result is not ready (a long video). An item for which `early(item)` holds comes as soon as it is its
        turn, itself, while fn fills it in place (a video's stream)."""
        lookahead = max(2, self.library.settings.decode_workers * 2)
        waiting: deque[tuple[object, Future]] = deque()
        todo = iter(items)

        def refill():
            while len(waiting) < lookahead and not self.cancel.is_set():
                item = next(todo, None)
                if item is None:
                    return
                waiting.append((item, pool.submit(fn, item)))

        refill()
        try:
            while waiting:
                item, future = waiting.popleft()
                refill()  # the workers stay `lookahead` ahead while the consumer works on this one
                if early(item):
                    yield item
                    continue
                while heartbeat:
                    try:
                        future.result(timeout=HEARTBEAT_S)
                        break
                    except TimeoutError:
                        yield None
                yield future.result()
        finally:
            for _, future in waiting:
                future.cancel()

    def _embed(self, pending: list[Media]) -> Iterator[Progress]:
        lib = self.library
        yield Progress("model", total=len(pending))
        if self.cancel.is_set():  # cancelled while the model was being installed (or it could not be): all wait
            return
        model_id, embedder = self._load_model()
        self.min_side = max(lib.settings.decode_min_side, embedder.preprocessing.min_side)
        index = lib.index
        started = time.perf_counter()
        settings = lib.settings
        batch_size = max(1, settings.batch_size)
        total = len(pending)
        last_save = time.perf_counter()
        # Rows of the batch being filled: (decoded media, position of the tensor in it)
        batch: list[tuple[Decoded, int]] = []
        remaining: dict[int, int] = {}   # media id -> pictures not yet stored
        stored: dict[int, int] = {}      # media id -> vectors stored in this run

        with ThreadPoolExecutor(max_workers=max(1, settings.decode_workers),
                                thread_name_prefix="idlens-decode") as pool, self._running(self.analysers):
            work_total = self._plan(pool, pending)

            def progress(paths: list[str]) -> Iterator[Progress]:
                for path in paths:
                    self._done += 1
                    yield self._progress(total, work_total, path)
                if not paths:  # a batch of a long video's frames, or a heartbeat: no file finished, but a moment
                    # between batches (the app runs a decision the user just made here, not after the whole video)
                    yield self._progress(total, work_total, None)

            def add(decoded: Decoded, i: int) -> Iterator[Progress]:
                """decoded.pictures[i] joins the batch being filled."""
                nonlocal batch
                remaining[decoded.media.id] = remaining.get(decoded.media.id, 0) + 1
                batch.append((decoded, i))
                if len(batch) >= batch_size:
                    yield from progress(self._flush(batch, model_id, index, remaining, stored))
                    batch = []

            items = [Decoded(m, stream=queue.Queue(VIDEO_FRAMES_AHEAD), complete=False) if m.kind != "image"
                     else Decoded(m) for m in pending]
            # The image tower opens (0.2 s for ViT-B-32-256) while the first files decode, not after them: a small
            # job otherwise waited for it once all its photos were decoded (the first batch is its only one).
            opening = threading.Thread(target=self._open_tower, args=(embedder,), name="idlens-open-tower")
            opening.start()
            try:
                for decoded in self._prefetch(pool, self.decode_into, items, heartbeat=True,
                                              early=lambda d: d.stream is not None):
                    if decoded is None:
                        yield from progress([])
                        continue
                    self._seen.add(decoded.media.id)
                    if decoded.stream is not None:
                        # A video: its frames join the batches as they are sampled. The last one is held back
                        # until the stream ends, so the batch that stores it also finishes the video.
                        held = None
                        for picture in self.stream_of(decoded):
                            if picture is None:
                                yield from progress([])
                            else:
                                if held is not None:
                                    decoded.pictures.append(held)
                                    yield from add(decoded, len(decoded.pictures) - 1)
                                held = picture
                            if self.cancel.is_set():
                                break
                        if self.cancel.is_set():
                            break
                        decoded.complete = True
                        if held is None and not decoded.error:
                            decoded.error = NO_FRAME
                    if decoded.error:
                        batch = [(d, i) for d, i in batch if d is not decoded]  # frames of it not stored yet
                        remaining.pop(decoded.media.id, None)
                        stored.pop(decoded.media.id, None)
                        self._store_failure(decoded, index)
                        yield from progress([decoded.media.path])
                        continue
                    if decoded.stream is not None:
                        assert held is not None  # else it is an error, above
                        decoded.pictures.append(held)
                        yield from add(decoded, len(decoded.pictures) - 1)
                    else:
                        for i in range(len(decoded.pictures)):  # a photo's, made by its decoder
                            yield from add(decoded, i)
                    if self.cancel.is_set():
                        break
                    if time.perf_counter() - last_save > INDEX_SAVE_EVERY:
                        lib.save_index()
                        lib.mark_index_dirty()
                        last_save = time.perf_counter()
                # Also when cancelled: a second of work that is already decoded (not a video cut short: it waits).
                batch = [(d, i) for d, i in batch if d.complete]
                if batch:
                    yield from progress(self._flush(batch, model_id, index, remaining, stored))
            finally:
                self._stopping.set()  # a video still sampled on a worker stops at its next frame
                opening.join()  # no thread of the job outlives it
        self.report.pipeline_seconds = time.perf_counter() - started

    def _load_model(self):
        """The library's model claimed and loaded (local and cluster indexes): its catalog id, and the embedder."""
        model_id = self.library.claim_model()
        embedder = self.library.embedder
        embedder.load()
        verdict = embedder.int8.get("visual") or {}
        self.report.accelerated_cosine = verdict.get("min_cosine") if verdict.get("faithful") else None
        return model_id, embedder

    @staticmethod
    def _open_tower(embedder) -> None:
        try:
            embedder.open_image_tower()
        except Exception as e:  # it is opened again at the first batch, where its failure stops the run as before
            log.debug("image tower not opened ahead: %s", e)

    def stream_of(self, decoded: Decoded) -> Iterator[Picture | None]:
        """A video's pictures as its decoder hands them over; None every HEARTBEAT_S while none comes."""
        assert decoded.stream is not None
        while True:
            try:
                picture = decoded.stream.get(timeout=HEARTBEAT_S)
            except queue.Empty:
                yield None
                continue
            if picture is _END:
                return
            yield picture

    def _hand_over(self, decoded: Decoded, picture: object) -> None:
        """On a decode worker: one more picture of a video for the consumer, waiting while it has enough; gives up
        (raises _Stopped) when the job is cancelled or its consumer left."""
        assert decoded.stream is not None
        while not (self.cancel.is_set() or self._stopping.is_set()):
            try:
                decoded.stream.put(picture, timeout=HEARTBEAT_S)
                return
            except queue.Full:
                continue
        raise _Stopped

    def analysing(self):
        """The analysers' resources, held while files are decoded (a cluster worker holds them for a batch)."""
        return self._running(self.analysers)

    def stop_sampling(self, stop: bool = True) -> None:
        """A video being sampled stops at its next frame (True), or the next video may be sampled (False)."""
        if stop:
            self._stopping.set()
        else:
            self._stopping.clear()

    @contextmanager
    def _running(self, analysers: list[Analyser]):
        """The analysers' own resources (the faces' pool for video frames), while the job decodes."""
        with ExitStack() as stack:
            for a in analysers:
                stack.enter_context(a.running())
            yield

    def analyser(self, kind: type):
        return next(a for a in self.analysers if isinstance(a, kind))

    def _plan(self, pool: ThreadPoolExecutor, pending: list[Media]) -> float:
        """Each file's weight in the progress: 1 for a photo, the frames a video will yield (its header read on
        the pool: a few ms a video, nothing decoded). The total work."""
        settings = self.library.settings
        videos = [m for m in pending if m.kind != "image"]
        plans = pool.map(lambda m: planned_frames(m.path, settings.video_interval, settings.video_max_frames),
                         videos)
        for m, (_, frames) in zip(videos, plans):
            self._work[m.id] = float(frames)
        return float(sum(self._work.get(m.id, 1.0) for m in pending))

    def _sampled_frame(self, media_id: int, t: float) -> None:
        """On a decode worker: one more frame of a video in progress."""
        with self._stage_lock:
            n, _ = self._sampled.get(media_id, (0, 0.0))
            self._sampled[media_id] = (n + 1, t)

    def _finished(self, media_id: int, duration: float | None = None) -> None:
        with self._stage_lock:
            self._sampled.pop(media_id, None)
        self._work_finished += self._work.get(media_id, 1.0)
        self._video_finished += duration or 0.0

    def _progress(self, total: int, work_total: float, path: str | None) -> Progress:
        with self._stage_lock:  # frames of videos still in progress count, each up to its video's weight
            live = sum(min(n, self._work.get(mid, 1.0)) for mid, (n, _) in self._sampled.items())
            live_s = sum(t for _, t in self._sampled.values())
        return Progress("embed", self._done, total, path, self.report.embedded_items, self.report.errors,
                        work_done=min(work_total, self._work_finished + live), work_total=work_total,
                        video_seconds=self._video_finished + live_s)

    def _analyse_faces(self, todo: list[Media]) -> Iterator[Progress]:
        """Faces alone, for files already searchable: decoded again at the detail faces need, no CLIP."""
        lib = self.library
        faces = self.analyser(Faces)
        yield Progress("faces", 0, len(todo))
        with ThreadPoolExecutor(max_workers=max(1, lib.settings.decode_workers),
                                thread_name_prefix="idlens-faces") as pool, self._running([faces]):
            for n, decoded in enumerate(self._prefetch(pool, lambda m: self.decode(m, only=faces), todo), 1):
                assert decoded is not None  # no heartbeat asked
                if decoded.error:  # it could not be decoded again: it stays searchable; faces are retried next run
                    decoded.outcomes[faces.name] = Outcome(error=decoded.error, detail=decoded.error_detail)
                with lib.catalog.transaction():
                    lib.catalog.media.update(decoded.media.id, **self._store_outcomes(decoded, [faces]))
                if not decoded.outcomes[faces.name].error:
                    self.report.faces_analysed += 1
                yield Progress("faces", n, len(todo), decoded.media.path, errors=self.report.face_errors)

    def _read_names(self, names: FaceNames, todo: list[Media]) -> Iterator[Progress]:
        """The XMP of photos already searchable, read again (the photo is opened for its size and orientation)."""
        lib = self.library
        yield Progress("faces", 0, len(todo))
        with ThreadPoolExecutor(max_workers=max(1, lib.settings.decode_workers),
                                thread_name_prefix="idlens-names") as pool:
            for n, decoded in enumerate(self._prefetch(pool, lambda m: self.decode(m, only=names), todo), 1):
                assert decoded is not None  # no heartbeat asked
                if decoded.error:
                    decoded.outcomes[names.name] = Outcome(error=decoded.error, detail=decoded.error_detail)
                with lib.catalog.transaction():
                    lib.catalog.media.update(decoded.media.id, **self._store_outcomes(decoded, [names]))
                yield Progress("faces", n, len(todo), decoded.media.path, errors=self.report.face_errors)

    def _store_outcomes(self, decoded: Decoded, analysers: list[Analyser]) -> dict:
        """Inside the caller's transaction: each analyser's outcome for the file stored; the row's columns they set."""
        columns: dict = {}
        for a in analysers:
            columns.update(a.store(decoded.media, decoded.outcomes.get(a.name, Outcome())))
        self.report.face_errors = self.analyser(Faces).failures
        return columns

    def decode_into(self, decoded: Decoded) -> Decoded:
        return self.decode(decoded.media, into=decoded)

    def decode(self, media: Media, only: Analyser | None = None, into: Decoded | None = None) -> Decoded:
        """Runs on a worker thread: decode once at the size needed, then the model input, and each analyser's
        outcome from that decode. `only`: that analyser alone, no model input (the file is searchable already).
        `into` (a video's, with its stream): filled in place, its frames handed over as they are sampled."""
        lib = self.library
        out = into if into is not None else Decoded(media)
        analysers = [a for a in ([only] if only else self.analysers) if a.wants(media)]
        detail = max((a.detail for a in analysers if a.detail), default=None)
        try:
            if media.kind == "image":
                with self._stage("decode"):
                    img = decode_image(media.path, self.min_side, detail, draft=only is not None)
                if only is None:
                    with self._stage("preprocess"):  # one resize from the decode, as open_clip makes its input
                        out.pictures.append(Picture(lib.embedder.preprocess(img.source)))
                    # The full decode (36 MB for 12 MP) goes before the analysers look at the picture: each decode
                    # worker holds it only this long, beside the face models' own buffers (about 100 MB a thread).
                    img.source = None
                    out.metadata = dict(width=img.width, height=img.height, captured_at=img.captured_at)
                for a in analysers:
                    out.outcomes[a.name] = analysed(a, lambda: a.photo(media, img))  # noqa: B023 (called here)
            else:
                self._sample(out, analysers, detail, model_input=only is None)
        except _Stopped:
            out.error = "indexing stopped while the video was sampled"  # not stored: the file stays pending
        except FileNotFoundError:
            out.error = "file vanished while being indexed"
        except MediaError as e:
            out.error, out.error_detail = explain(e, media.path, media.kind)
        except Exception as e:  # one bad file must never stop the run; record what happened
            if not isinstance(e, PermissionError):
                log.warning("unexpected error indexing %s: %s: %s", media.path, type(e).__name__, e)
                log.debug("unexpected error", exc_info=True)
            out.error, out.error_detail = explain(e, media.path, media.kind)
        finally:
            if out.stream is not None:
                try:
                    self._hand_over(out, _END)
                except _Stopped:
                    pass  # nobody reads it any more
        return out

    def _sample(self, out: Decoded, analysers: list[Analyser], detail: int | None, model_input: bool) -> None:
        """A video's frames come one after the other from one decoder and go to the analysers as they come (the
        faces are looked for on their own pool meanwhile). Each kept frame's model input goes to the consumer
        (out.stream) as soon as it is made, so a long video keeps both cores busy: the image tower, the faces and
        the decoder work side by side. An analyser that fails is recorded; the frames still go on to CLIP."""
        lib, settings, media = self.library, self.library.settings, out.media
        hooks = {a.name: a.video(media) for a in analysers}
        sees_detail = [h for a, h in zip(analysers, hooks.values()) if a.detail]

        def on_frame(t, image):
            for h in sees_detail:
                h.frame(t, image)

        def on_sample(frame):
            for h in hooks.values():
                h.sample(frame)
            if model_input:
                self._sampled_frame(media.id, frame.timestamp)
                picture = Picture(frame.model_input, frame.timestamp, frame.scene_change)
                frame.model_input = None
                self._hand_over(out, picture)

        started = time.perf_counter()
        finished = False
        try:
            video = sample_video(media.path, settings.video_interval, settings.video_max_frames,
                                 settings.video_scene_threshold, settings.decode_min_side, detail,
                                 on_frame if sees_detail else None,
                                 model_input=lib.embedder.preprocess if model_input else None,
                                 on_sample=on_sample)
            for a in analysers:
                out.outcomes[a.name] = analysed(a, lambda: hooks[a.name].finish(video))  # noqa: B023
            finished = True
        finally:
            if not finished:
                for h in hooks.values():
                    h.cancel()
            with self._stage_lock:  # sampling and what the analysers did on the way, as one video stage
                self.report.stages["video"] = self.report.stages.get("video", 0.0) + time.perf_counter() - started
        out.metadata = dict(width=video.width, height=video.height, duration=video.duration,
                            captured_at=video.captured_at)

    def _flush(self, batch, model_id: int, index, remaining: dict, stored: dict) -> list[str]:
        """Embed one batch, store its vectors, and finish the media whose last vector it held."""
        lib = self.library
        t0 = time.perf_counter()
        with self._stage("clip"):
            vectors = lib.embedder.encode_images([d.pictures[i].model_input for d, i in batch])
        for d, i in batch:
            d.pictures[i].model_input = None  # a long video's inputs go as they are embedded, not when it is complete
        self.report.embed_seconds += time.perf_counter() - t0
        t1 = time.perf_counter()
        labels, finished = [], []
        stale: list[int] = []
        with lib.catalog.transaction():
            for (decoded, i), vector in zip(batch, vectors):
                media = decoded.media
                if media.id not in stored:
                    # A run cut short may have stored part of this video: start it clean.
                    stale += lib.catalog.items.clear(media.id)
                    stored[media.id] = 0
                frame_id = None
                picture = decoded.pictures[i]
                if picture.timestamp is not None:
                    frame_id = lib.catalog.media.add_frame(media.id, picture.timestamp, picture.scene_change)
                labels.append(lib.catalog.items.add(media.id, frame_id, model_id, vector))
                stored[media.id] += 1
                remaining[media.id] -= 1
                if remaining[media.id] == 0 and decoded.complete:  # a video still sampled has more to come
                    self._store_indexed(decoded)
                    finished.append(media.path)
        catalog_done = time.perf_counter()
        with self._stage_lock:
            self.report.stages["catalog"] = self.report.stages.get("catalog", 0.0) + catalog_done - t1
        index.remove(stale)
        # Only vectors of finished media are searchable; a half-stored video joins when it completes.
        done_ids = {d.media.id for d, _ in batch if remaining[d.media.id] == 0 and d.complete}
        keep = [j for j, (d, _) in enumerate(batch) if d.media.id in done_ids]
        if keep:
            index.add(np.asarray([labels[j] for j in keep]), vectors[keep])
        self._add_earlier_vectors(batch, done_ids, labels, index)
        with self._stage_lock:
            self.report.stages["index"] = self.report.stages.get("index", 0.0) + time.perf_counter() - catalog_done
        self.report.embedded_items += len(batch)
        return finished

    def _store_indexed(self, decoded: Decoded) -> None:
        """Inside the caller's transaction, once every vector of the file is stored: the file is searchable, with
        what each analyser made of it. Local and cluster indexes (core.cluster) finish a file here."""
        self.library.catalog.media.update(decoded.media.id, status=INDEXED, error=None, error_detail=None,
                                          indexed_at=time.time(), **decoded.metadata,
                                          **self._store_outcomes(decoded, self.analysers))
        self._finished(decoded.media.id, decoded.metadata.get("duration"))
        self.report.embedded_files += 1

    def _store_failure(self, decoded: Decoded, index) -> None:
        """A file that cannot be used: its vectors (stored ones, or a cut run's) go, and it says why."""
        lib = self.library
        with lib.catalog.transaction():
            index.remove(lib.catalog.items.clear(decoded.media.id))
            lib.catalog.media.update(decoded.media.id, status=ERROR, error=decoded.error,
                                     error_detail=decoded.error_detail)
        self.report.errors += 1
        self._finished(decoded.media.id)

    def _add_earlier_vectors(self, batch, done_ids: set, labels_now: list, index) -> None:
        """A video spanning several batches: its earlier vectors go into the index once it is complete."""
        lib = self.library
        in_batch = set(labels_now)
        for media_id in done_ids:
            earlier = [l for l in lib.catalog.items.labels_of(media_id) if l not in in_batch and l not in index.labels]
            if earlier:
                arr = np.asarray(earlier, dtype=np.int64)
                index.add(arr, lib.catalog.items.vectors(arr, index.dim))
