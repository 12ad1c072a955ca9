"""`idlens index --ray ADDRESS`: the decode, faces and image tower of an index on a Ray cluster's workers, the
library's single writer here, on the driver.

Everything but the work on the pending files is a local index's (`IndexJob`): the write lock, the scan with its
fingerprints, moves and offline folders, the face retries, the names, settling the people, the vector store. Only
`_embed` differs: the pending files go in batches to a pool of actors (`core.cluster.worker.FileIndexer`, one per
`WORKER_CPUS` cores of the cluster), each holding the image tower and the face models once, with at most
`IN_FLIGHT` batches queued at each (back-pressure: the driver never holds more results than it can store). Each
file's result is stored as it comes, as a local index stores a file (`IndexJob._store_indexed`).

What can fail, and what it costs:
- a worker or its node dies: its batches are given to the others; a batch lost `MAX_ATTEMPTS` times is split into
  single files, and a file that still takes its worker down is recorded as an error (it is tried again by
  `idlens retry`), so one bad file never stops an archive;
- the driver dies (or Ctrl-C): the cluster's work for it stops (its actors are its own), what was stored stays, and
  the next index resumes the files still pending, as after an interrupted local index.
Media paths are the driver's: every node must see the same files at the same paths (a shared filesystem); that is
checked on every node before any work is given out.
"""
from __future__ import annotations

import contextlib
import logging
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..analysers import Thumbnails
from ..indexer import INDEX_SAVE_EVERY, IndexJob, Progress, Decoded, Picture
from ..library import Library
from ..store import Media
from .errors import ClusterError
from .worker import FileIndexer, FileResult, ShippedModel, settings_for_workers

log = logging.getLogger(__name__)

WORKER_CPUS = 1        # cores per worker actor (its ONNX threads); a node with 8 cores runs 8 workers
IN_FLIGHT = 2          # batches queued at each worker: one running, one waiting, so it never idles for the driver
MAX_ATTEMPTS = 3       # a batch lost this often is split; a single file lost this often is an error
PHOTO_BATCH = 16       # photos per batch (a video is a batch of its own: its frames are batched on the worker)
READY_TIMEOUT_S = 300.0  # workers not started by then (no free cores, a node that cannot load the models) are dropped
CHECK_FILES = 16       # pending files each node is asked to see before the work starts (plus one per folder)
CRASHED = "the cluster worker indexing this file stopped each time it was tried"


@dataclass
class ClusterReport:
    address: str
    nodes: int = 0
    workers: int = 0
    batches: int = 0
    lost_batches: int = 0          # batches whose worker died under them (given to another)
    crashed_files: int = 0         # files recorded as errors because they took their worker down each time
    worker_seconds: float = 0.0    # summed over workers: decode to last vector, per file
    wall_seconds: float = 0.0      # from the first batch given out to the last result stored
    hosts: list = field(default_factory=list)

    def to_json(self) -> dict:
        return {"address": self.address, "nodes": self.nodes, "workers": self.workers, "batches": self.batches,
                "lost_batches": self.lost_batches, "crashed_files": self.crashed_files,
                "worker_seconds": round(self.worker_seconds, 3), "wall_seconds": round(self.wall_seconds, 3)}


def _ray():
    try:
        import ray
    except ImportError as e:
        raise ClusterError("indexing on a cluster needs Ray: pip install 'idlens[archive]'") from e
    return ray


class RayIndexJob(IndexJob):
    def __init__(self, library: Library, address: str, paths: list[str] | None = None,
                 cancel: threading.Event | None = None):
        super().__init__(library, paths, cancel)
        self.address = address
        self.cluster = self.report.cluster = ClusterReport(address)
        self._actors: list = []

    def run(self) -> Iterator[Progress]:
        # Ray prints what it hears from the cluster (a node marked dead, a raylet's last log lines) on stdout, where
        # `index --json` writes its report: while the cluster is in use, whatever Ray prints goes to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            # The cluster is reached, and asked to see the folders, before anything is scanned or locked: a wrong
            # address or a folder the workers cannot see costs nothing.
            ray = self._connect()
            try:
                self._check_nodes(ray, self._folders(), {})
                yield from super().run()
            finally:
                for actor in self._actors:  # also on Ctrl-C or an error: the cluster stops working for this index
                    ray.kill(actor)
                self._actors = []
                ray.shutdown()

    def _folders(self) -> list[str]:
        """The folders (or files) this index scans that the driver sees now (an unplugged one is the scan's)."""
        import os

        return [p for p in (self.paths or self.library.catalog.media.roots()) if os.path.exists(p)]

    def _connect(self):
        ray = _ray()
        reachable(self.address)
        try:
            ray.init(address=self.address, logging_level=logging.WARNING, log_to_driver=False,
                     namespace="idlens", configure_logging=False)
        except Exception as e:  # ConnectionError, a timeout, a version mismatch: Ray's own words, after ours
            raise ClusterError(f"no Ray cluster reachable at {self.address}: {e}") from e
        nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]
        if not nodes:
            ray.shutdown()
            raise ClusterError(f"the Ray cluster at {self.address} has no node with a CPU to work on")
        self.cluster.nodes = len(nodes)
        return ray

    # -- the pending files, on the cluster --------------------------------------------------------------------------
    def _embed(self, pending: list[Media]) -> Iterator[Progress]:
        ray = _ray()
        lib = self.library
        yield Progress("model", total=len(pending))
        if self.cancel.is_set():
            return
        model_id, embedder = self._load_model()
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="idlens-plan") as pool:
            work_total = self._plan(pool, pending)
        self._check_nodes(ray, *self._files_to_check(pending))
        batches = deque((tuple(b), 0) for b in _batches(pending, max(1, min(PHOTO_BATCH, lib.settings.batch_size))))
        model = ray.put(ShippedModel.of(embedder))
        workers = self._start_workers(ray, model, min(len(batches), self._cluster_cpus(ray) // WORKER_CPUS))
        by_id = {m.id: m for m in pending}
        index = lib.index
        total = len(pending)
        started = time.perf_counter()
        inflight: dict = {}  # result ref -> (worker, batch, attempts)
        load = {id(w): 0 for w in workers}
        yield self._progress(total, work_total, None)
        last_save = time.perf_counter()
        # Ctrl-C (the cancel event): no more batches are given out, and those the workers hold are stored as they
        # come, as a local index finishes its current batch; a second Ctrl-C (KeyboardInterrupt) leaves at once.
        while (batches and not self.cancel.is_set()) or inflight:
            if time.perf_counter() - last_save > INDEX_SAVE_EVERY:  # as a local index: a crash rebuilds less
                lib.save_index()
                lib.mark_index_dirty()
                last_save = time.perf_counter()
            # Round by round, a batch to each worker before a second to any: with fewer batches than twice the
            # workers (a few long videos), every worker still gets one.
            for depth in range(1, IN_FLIGHT + 1):
                for w in workers:
                    if batches and load[id(w)] < depth and not self.cancel.is_set():
                        batch, attempts = batches.popleft()
                        ref = w.index.remote([by_id[i] for i in batch])
                        inflight[ref] = (w, batch, attempts)
                        load[id(w)] += 1
                        self.cluster.batches += 1
            if not inflight:
                if self.cancel.is_set():
                    break
                raise ClusterError("no cluster worker is left to index the remaining files "
                                   f"({sum(len(b) for b, _ in batches)} still pending; they are kept for the next run)")
            ready, _ = ray.wait(list(inflight), num_returns=1, timeout=0.5)
            if not ready:
                yield self._progress(total, work_total, None)  # a moment for the user's decisions, and the time
                continue
            for ref in ready:
                w, batch, attempts = inflight.pop(ref)
                load[id(w)] -= 1
                try:
                    results: list[FileResult] = ray.get(ref)
                except Exception as e:  # the worker died (its node, a crash in a decoder): its batches go elsewhere
                    yield from self._lost(ray, e, w, workers, load, inflight, batches, batch, attempts, by_id, index,
                                          total, work_total)
                    continue
                for r in results:
                    yield from self._store_result(r, by_id[r.media_id], model_id, index, total, work_total)
        self.cluster.wall_seconds = time.perf_counter() - started
        self.report.pipeline_seconds = self.cluster.wall_seconds

    def _lost(self, ray, error, worker, workers, load, inflight, batches, batch, attempts, by_id, index, total,
              work_total) -> Iterator[Progress]:
        self.cluster.lost_batches += 1
        if worker in workers:
            log.warning("a cluster worker stopped (%s: %s); its files go to the others", type(error).__name__,
                        str(error).splitlines()[0] if str(error) else "")
            workers.remove(worker)
            ray.kill(worker)  # a worker that only lost a task is not trusted with more
            # Its queued batches fail the same way and come back here one by one; a new worker takes its place
            # where the cluster has a free core (a node restarted, or one that joined).
            spare = self._start_workers(ray, ray.put(ShippedModel.of(self.library.embedder)), 1, wait=5.0) \
                if self._free_cpus(ray) >= WORKER_CPUS else []
            for w in spare:
                workers.append(w)
                load[id(w)] = 0
        attempts += 1
        if attempts < MAX_ATTEMPTS:
            batches.appendleft((batch, attempts))
        elif len(batch) > 1:  # one of its files may be what kills the worker: each goes alone, afresh
            batches.extendleft((b, 0) for b in ((i,) for i in reversed(batch)))
        else:
            media = by_id[batch[0]]
            self.cluster.crashed_files += 1
            self._seen.add(media.id)
            self._store_failure(Decoded(media, error=CRASHED, error_detail=f"{type(error).__name__}: {error}"),
                                index)
            self._done += 1
            yield self._progress(total, work_total, media.path)

    def _store_result(self, r: FileResult, media: Media, model_id: int, index, total: int,
                      work_total: float) -> Iterator[Progress]:
        """One file as a worker made it, stored as a local index stores it."""
        lib = self.library
        if media.id in self._seen:  # a batch given out twice (its first worker was lost after all): once only
            return
        self._seen.add(media.id)
        self.cluster.worker_seconds += r.seconds
        for name, seconds in r.stages.items():
            self.report.stages[name] = self.report.stages.get(name, 0.0) + seconds
        self.report.embed_seconds += r.stages.get("clip", 0.0)
        decoded = Decoded(media, [Picture(None, t, scene) for t, scene in r.pictures], r.metadata, r.error,
                           r.error_detail, r.outcomes)
        if r.error:
            self._store_failure(decoded, index)
        else:
            thumbnails = self.analyser(Thumbnails)
            for t, jpeg in r.thumbnails:
                thumbnails.put(jpeg, media.fingerprint, t)
            t0 = time.perf_counter()
            with lib.catalog.transaction():
                stale = lib.catalog.items.clear(media.id)  # a run cut short may have stored part of a video
                labels = []
                for (t, scene), vector in zip(r.pictures, r.vectors):
                    frame_id = lib.catalog.media.add_frame(media.id, t, scene) if t is not None else None
                    labels.append(lib.catalog.items.add(media.id, frame_id, model_id, vector))
                self._store_indexed(decoded)
            t1 = time.perf_counter()
            index.remove(stale)
            if labels:
                index.add(labels, r.vectors)
            self.report.stages["catalog"] = self.report.stages.get("catalog", 0.0) + t1 - t0
            self.report.stages["index"] = self.report.stages.get("index", 0.0) + time.perf_counter() - t1
            self.report.embedded_items += len(labels)
        self._done += 1
        yield self._progress(total, work_total, media.path)

    # -- the cluster ------------------------------------------------------------------------------------------------
    @staticmethod
    def _cluster_cpus(ray) -> int:
        return int(sum(n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")))

    @staticmethod
    def _free_cpus(ray) -> float:
        return float(ray.available_resources().get("CPU", 0))

    def _start_workers(self, ray, model, count: int, wait: float = READY_TIMEOUT_S) -> list:
        """`count` workers, each with the models open; those not ready within `wait` seconds are dropped."""
        if count < 1:
            raise ClusterError("the cluster has no free core for a worker")
        actor = ray.remote(num_cpus=WORKER_CPUS, max_restarts=0, max_task_retries=0)(FileIndexer)
        settings = settings_for_workers(self.library.settings)
        started = [actor.remote(settings, model, WORKER_CPUS) for _ in range(count)]
        refs = {w.ready.remote(): w for w in started}
        ready, late = ray.wait(list(refs), num_returns=len(refs), timeout=wait)
        workers, failures = [], []
        for ref in ready:
            try:
                self.cluster.hosts.append(ray.get(ref))
                workers.append(refs[ref])
            except Exception as e:  # it could not start (no Idlens there, a model that does not load)
                failures.append(e)
                ray.kill(refs[ref])
        for ref in late:
            ray.kill(refs[ref])
        self._actors += workers
        self.cluster.workers = max(self.cluster.workers, len(self._actors))
        if not workers and wait >= READY_TIMEOUT_S:
            why = f": {type(failures[0]).__name__}: {failures[0]}" if failures else \
                f" within {wait:.0f} s (no free cores?)"
            raise ClusterError(f"no cluster worker could start{why}")
        return workers

    def _files_to_check(self, pending: list[Media]) -> tuple[list[str], dict[str, int]]:
        """Pending files each node is asked about: a few at random, and the first of each folder."""
        sample = {m.path: m.size for m in random.Random(0).sample(pending, min(CHECK_FILES, len(pending)))}
        for root in self._folders():
            first = next((m for m in pending if m.path.startswith(root.rstrip("/") + "/") or m.path == root), None)
            if first is not None:
                sample[first.path] = first.size
        return list(sample), sample

    def _check_nodes(self, ray, paths: list[str], sizes: dict[str, int]) -> None:
        """Every node sees `paths` where the driver sees them (files of `sizes` with those sizes), and runs this
        Idlens: checked before any work."""
        from importlib.metadata import version

        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        look = ray.remote(num_cpus=0)(_look)
        nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]
        refs = {look.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                .remote(paths): n for n in nodes}
        ours = version("idlens")
        for ref, node in refs.items():
            where = f"node {node.get('NodeManagerAddress')}"
            try:
                seen, theirs = ray.get(ref, timeout=120)
            except Exception as e:
                if type(e).__name__ == "TaskUnschedulableError":  # it left the cluster (Ray has not said so yet)
                    log.warning("%s has left the cluster; it gets no work", where)
                    continue
                raise ClusterError(f"{where} could not be asked to look at the media ({type(e).__name__}: {e}); is "
                                   "Idlens installed there (pip install 'idlens[archive]')?") from e
            if theirs != ours:
                raise ClusterError(f"{where} runs Idlens {theirs}, this one {ours}: every node needs the same version")
            for path, size in seen.items():
                expected = sizes.get(path)
                if size is None or (expected is not None and size != expected):
                    what = "does not see" if size is None else f"sees another file ({size} bytes, not {expected}) at"
                    raise ClusterError(f"{where} {what} {path}: every node must see the media at the same paths (a "
                                       "shared filesystem, mounted alike everywhere); nothing was added or indexed")


def reachable(address: str, timeout: float = 10.0) -> None:
    """HOST:PORT (or ray://HOST:PORT) answers, or ClusterError: Ray's own connect retries for minutes before it
    gives up. The CLI asks before it creates a library for the index."""
    import socket

    target = address.removeprefix("ray://")
    if address == "auto":
        return  # Ray finds this machine's cluster from its own files, and says at once when there is none
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ClusterError(f"not a Ray cluster's address: {address!r} (give HOST:PORT, ray://HOST:PORT or auto)")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise ClusterError(f"no Ray cluster reachable at {address}: {e} (start one with `ray start --head`, "
                           "and give its address as HOST:PORT)") from e


def _look(paths: list[str]) -> tuple[dict, str]:
    """On a node: the size of each path it sees (a folder: 0; None: not there), and its Idlens version."""
    import os
    from importlib.metadata import version

    sizes: dict[str, int | None] = {}
    for p in paths:
        try:
            st = os.stat(p)
            sizes[p] = 0 if os.path.isdir(p) else st.st_size
        except OSError:
            sizes[p] = None
    return sizes, version("idlens")


def _batches(pending: list[Media], photos: int) -> Iterator[list[int]]:
    """Media ids in batches: photos by `photos`, each video alone (its frames are batched on the worker)."""
    run: list[int] = []
    for m in pending:
        if m.kind != "image":
            yield [m.id]
            continue
        run.append(m.id)
        if len(run) >= photos:
            yield run
            run = []
    if run:
        yield run
