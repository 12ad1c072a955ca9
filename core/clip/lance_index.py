"""The LanceDB vector store: the same cache of the catalog's vectors as `VectorIndex`, kept on disk instead of in RAM.

For archives past what an in-RAM graph can hold (hnswlib at 10M 512-d vectors needs ~22 GB for vectors and links),
the vectors live in a Lance table (`label` int64, `vector` fixed_size_list<float32, dim>) under
`<library>/vectors-lance/<table-id>.lance`, beside `lance.json` (the header: model, dimension, which table). RAM
holds only the sorted label array (8 bytes a vector) and the rows not yet written (at most FLUSH_ROWS).

Searching: up to EXACT_MAX vectors one matrix product over all of them (exact, as VectorIndex). Above it, the table's
IVF-PQ index gives candidates (Lance re-ranks `refine_factor` times more of them by their full vectors), and the
cosine of each candidate is recomputed here from its stored float32 vector, so scores and order are those an exact
search gives for the candidates found.

Crash safety: every write to a Lance table is a new version committed atomically (the manifest is written last), so
a crash mid-write leaves the previous version whole; the header changes only by a rename. The generation is
`<table-id>@<version>`: any write since the catalog recorded it makes it differ, and the library then syncs.
lancedb and pyarrow are imported here only: the default install (hnsw) has neither.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from ..settings import SettingsError
from .vector_index import EXACT_MAX, IndexMismatch

log = logging.getLogger(__name__)

HEADER = "lance.json"
FORMAT = 1
INSTALL_HINT = ("the library's setting vector_store is \"lance\", which needs lancedb: pip install 'idlens[archive]' "
                "(or set vector_store back to \"hnsw\")")
# Rows kept in RAM before they are written as one Lance commit: every commit is a fragment and a version, so
# writing each indexer batch of 16 would leave thousands of tiny files; 50k 512-d rows are 100 MB.
FLUSH_ROWS = 50_000
DELETE_CHUNK = 10_000       # labels in one `label IN (...)` predicate: each chunk is one deletion commit
# The ANN index is trained once the table holds this many vectors; below, every search is exact anyway.
ANN_MIN = EXACT_MAX
# optimize() adds new rows to the existing IVF-PQ index (their codes, in the partitions the trained centroids
# give them) instead of training again. Centroids trained on a quarter of today's vectors fit them less well, so
# the index is trained afresh when the table has grown this many times since the last training.
RETRAIN_GROWTH = 4.0
NPROBES = 32                # IVF partitions searched per query (lancedb's default is 20)
REFINE_FACTOR = 10          # Lance reads k * this PQ candidates' full vectors and keeps the best k
# Versions older than this are pruned by optimize(): a reader (the GUI) still on one would fail, so they are kept a
# while; a reader that meets a pruned file opens the latest version and retries (see _read).
KEEP_VERSIONS = timedelta(minutes=10)
ORPHAN_AGE_S = 600.0        # a table folder the header does not name, left by a crashed first save, goes after this


class LanceUnavailable(SettingsError):
    """The library's settings ask for the lance store, and lancedb is not installed (a settings problem: the
    command says how to install it, or to set vector_store back to hnsw)."""


def require_lancedb():
    try:
        import lancedb
        import pyarrow
    except ImportError as e:
        raise LanceUnavailable(INSTALL_HINT) from e
    return lancedb, pyarrow


class LabelSet:
    """The live labels, as a set-like view (`in`, len, iteration) over a sorted array plus the pending changes:
    a Python set of 10M ints would take ~600 MB, this takes 80 MB."""

    def __init__(self, has, count, array):
        self._has, self._count, self.array = has, count, array

    def __contains__(self, label) -> bool:
        return self._has(int(label))

    def __len__(self) -> int:
        return self._count()

    def __iter__(self) -> Iterator[int]:
        return iter(self.array().tolist())


class LanceIndex:
    def __init__(self, model: str, dim: int, folder: Path | None = None):
        """`folder`: where the table will live (the library's); without it the table is built in a temporary
        folder and moved into place by the first save."""
        self.model, self.dim = model, dim
        self.exact_max, self.ann_min = EXACT_MAX, ANN_MIN  # per instance, so tests can force the ANN path
        self.generation: str | None = None
        self._staging = folder is None
        self._folder = Path(tempfile.mkdtemp(prefix="idlens-lance-")) if folder is None else Path(folder)
        self._table_id = uuid.uuid4().hex[:12]
        self._table: Any = None        # a lancedb LanceTable, opened or created on first write
        self._trained_rows = 0         # table size when the ANN index was last trained (0: none)
        self._stored = np.empty(0, dtype=np.int64)  # sorted labels of the rows in the table
        self._drops: set[int] = set()  # stored labels to delete at the next flush
        self._pending_labels: list[np.ndarray] = []
        self._pending_vectors: list[np.ndarray] = []
        self._pending: set[int] = set()  # labels of the rows not yet written (at most FLUSH_ROWS)
        self._exact: tuple[np.ndarray, np.ndarray] | None = None
        self._sample: tuple[tuple[int, int], np.ndarray] | None = None

    # -- persistence ----------------------------------------------------------------------------------------------
    @classmethod
    def load(cls, folder: Path, model: str, dim: int) -> "LanceIndex | None":
        """The saved store, or None if there is none. Raises IndexMismatch if another model built it, OSError if
        it cannot be read (the library then rebuilds it from the catalog)."""
        folder = Path(folder)
        header_path = folder / HEADER
        if not header_path.exists():
            if folder.is_dir() and any(p.suffix == ".lance" for p in folder.iterdir()):
                raise OSError(f"{header_path} is missing beside its tables")  # damaged: rebuilt and saved
            return None
        header = json.loads(header_path.read_text(encoding="utf-8"))
        if header.get("model") != model or header.get("dim") != dim:
            raise IndexMismatch(
                f"the vector index was built with model {header.get('model')} ({header.get('dim')}-d), "
                f"not {model} ({dim}-d); re-embed the library with `idlens reembed` to use this model"
            )
        self = cls(model, dim, folder)
        self._table_id = header["table"]
        self._trained_rows = int(header.get("trained_rows", 0))
        try:
            self._open()
            labels = self._table.to_lance().to_table(columns=["label"]).column("label").to_numpy()
        except Exception as e:  # noqa: BLE001 - whatever Lance raises for a damaged table, the cache is rebuilt
            raise OSError(f"the lance table {folder / (self._table_id + '.lance')} cannot be read: {e}") from e
        self._stored = np.sort(labels.astype(np.int64, copy=False))
        self.generation = self._generation()
        return self

    def save(self, folder: Path) -> str:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self._flush()
        if self._table is None:
            self._create()  # an empty store is still a store: the header must name a table
        if self._staging or folder.resolve() != self._folder.resolve():
            self._move_to(folder)
        self._maintain_ann()
        replaced = _named_table(folder)
        header = {"format": FORMAT, "model": self.model, "dim": self.dim, "table": self._table_id,
                  "trained_rows": self._trained_rows, "count": len(self), "ann_index": self.ann_index()}
        tmp = folder / (HEADER + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(header, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, folder / HEADER)
        self.generation = self._generation()
        # The table this save replaced (a rebuild) goes at once; one no header ever named (a crashed first save, or
        # a fresh build another process is still writing) only once it is ORPHAN_AGE_S old.
        for old in folder.iterdir():
            if old.suffix == ".lance" and old.stem != self._table_id and \
                    (old.stem == replaced or time.time() - old.stat().st_mtime > ORPHAN_AGE_S):
                shutil.rmtree(old, ignore_errors=True)
        return self.generation

    def _generation(self) -> str:
        return f"{self._table_id}@{self._table.version}"

    def _open(self) -> None:
        lancedb, _ = require_lancedb()
        self._table = lancedb.connect(str(self._folder)).open_table(self._table_id)

    def _create(self) -> None:
        lancedb, pa = require_lancedb()
        self._folder.mkdir(parents=True, exist_ok=True)
        self._table = lancedb.connect(str(self._folder)).create_table(self._table_id, schema=self._schema(pa))

    def _schema(self, pa):
        return pa.schema([pa.field("label", pa.int64()), pa.field("vector", pa.list_(pa.float32(), self.dim))])

    def _move_to(self, folder: Path) -> None:
        src = self._folder / f"{self._table_id}.lance"
        shutil.move(str(src), str(folder / src.name))
        if self._staging:
            shutil.rmtree(self._folder, ignore_errors=True)
        self._folder, self._staging = folder, False
        self._open()

    def _maintain_ann(self) -> None:
        """Train the IVF-PQ index once the table is big enough (and again when it has grown RETRAIN_GROWTH times);
        otherwise optimize(): lancedb compacts small fragments, adds the rows written since to the existing index
        (no retraining: each new vector is coded with the trained centroids and codebooks), and prunes versions
        older than KEEP_VERSIONS. Unindexed rows are still searched (by a flat scan) until then."""
        n = self._table.count_rows()
        if n >= self.ann_min and (not self._trained_rows or n >= self._trained_rows * RETRAIN_GROWTH):
            from lancedb.index import IvfPq

            # 4 dimensions per PQ sub-vector (128 bytes a 512-d vector): with 8 (lancedb's default is 16), recall@10
            # after the re-rank was 0.88 on clustered 128-d vectors (tests/test_lance_store.py), with 4 it is 0.998.
            config = IvfPq(distance_type="cosine", num_sub_vectors=self.dim // 4 if self.dim % 4 == 0 else None)
            self._table.create_index("vector", config=config, replace=True)
            self._trained_rows = n
        # Fragments of FLUSH_ROWS rows are left as they are: Lance's default target (1M rows) would rewrite a whole
        # 20 GB archive into bigger files once, doubling its disk until the old version is pruned. Small fragments
        # (the indexer's batches) are still merged.
        self._table.optimize(cleanup_older_than=KEEP_VERSIONS,
                             compaction_options={"target_rows_per_fragment": FLUSH_ROWS})

    # -- content --------------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._stored) - len(self._drops) + len(self._pending)

    @property
    def labels(self) -> LabelSet:
        return LabelSet(self._has, self.__len__, self.labels_array)

    def labels_array(self) -> np.ndarray:
        """The live labels, sorted (what `sync_index` and doctor compare with the catalog)."""
        live = self._stored
        if self._drops:
            live = live[~np.isin(live, np.fromiter(self._drops, dtype=np.int64, count=len(self._drops)))]
        if self._pending:
            live = np.union1d(live, np.fromiter(self._pending, dtype=np.int64, count=len(self._pending)))
        return live

    def _in_stored(self, labels: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self._stored, labels)
        pos[pos == len(self._stored)] = 0
        return (self._stored[pos] == labels) if len(self._stored) else np.zeros(len(labels), dtype=bool)

    def _has(self, label: int) -> bool:
        if label in self._pending:
            return True
        return label not in self._drops and bool(self._in_stored(np.array([label], dtype=np.int64))[0])

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        labels = np.asarray(labels, dtype=np.int64)
        if len(labels) == 0:
            return
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(labels), self.dim)
        if len(np.unique(labels)) < len(labels):  # the last vector of a repeated label wins, as in VectorIndex
            last = len(labels) - 1 - np.unique(labels[::-1], return_index=True)[1]
            labels, vectors = labels[last], vectors[last]
        self._forget_pending(labels)  # a pending row's vector replaced: the new one is pending in its place
        self._drops.update(labels[self._in_stored(labels)].tolist())  # re-adding a live label updates its vector
        self._pending_labels.append(labels)
        self._pending_vectors.append(vectors)
        self._pending.update(labels.tolist())
        self._exact = self._sample = None
        if len(self._pending) >= FLUSH_ROWS:
            self._flush()

    def remove(self, labels) -> None:
        labels = np.asarray(list(labels) if not isinstance(labels, np.ndarray) else labels, dtype=np.int64)
        if len(labels) == 0:
            return
        if self._forget_pending(labels):
            self._exact = self._sample = None
        found = labels[self._in_stored(labels)].tolist()
        if found:
            self._drops.update(found)
            self._exact = self._sample = None
        if len(self._drops) >= FLUSH_ROWS:
            self._flush()

    def _forget_pending(self, labels: np.ndarray) -> bool:
        """Take these labels out of the rows not yet written (True if any was there). Not a flush: a write here
        would commit a version no save asked for (rows added and removed again before the save), and a crash
        before the save would leave the table at it."""
        if not self._pending.intersection(labels.tolist()):
            return False
        self._pending.difference_update(labels.tolist())
        kept = [(pl[~np.isin(pl, labels)], pv[~np.isin(pl, labels)])
                for pl, pv in zip(self._pending_labels, self._pending_vectors)]
        self._pending_labels = [pl for pl, _ in kept if len(pl)]
        self._pending_vectors = [pv for pl, pv in kept if len(pl)]
        return True

    def _flush(self) -> None:
        """Write the pending deletions, then the pending rows: each a Lance commit (one new version)."""
        if not self._drops and not self._pending:
            return
        _, pa = require_lancedb()
        if self._table is None:
            self._create()
        if self._drops:
            drops = np.sort(np.fromiter(self._drops, dtype=np.int64, count=len(self._drops)))
            for start in range(0, len(drops), DELETE_CHUNK):
                chunk = drops[start:start + DELETE_CHUNK]
                self._table.delete("label IN (" + ",".join(map(str, chunk.tolist())) + ")")
            self._stored = np.delete(self._stored, np.searchsorted(self._stored, drops))
            self._drops.clear()
        if self._pending:
            labels = np.concatenate(self._pending_labels)
            vectors = np.concatenate(self._pending_vectors)
            flat = pa.array(vectors.reshape(-1), type=pa.float32())
            self._table.add(pa.table({"label": pa.array(labels, type=pa.int64()),
                                      "vector": pa.FixedSizeListArray.from_arrays(flat, self.dim)},
                                     schema=self._schema(pa)))
            order = np.sort(labels)
            self._stored = np.insert(self._stored, np.searchsorted(self._stored, order), order)
            self._pending_labels, self._pending_vectors = [], []
            self._pending.clear()

    # -- reading --------------------------------------------------------------------------------------------------
    def _read(self, fn):
        """Run a read of the table; a file gone under it (a writer in another process pruned that version) means
        the latest version is opened and the read made once more."""
        self._flush()
        if self._table is None:
            self._create()
        try:
            return fn(self._table)
        except (OSError, RuntimeError, ValueError):
            self._table.checkout_latest()
            return fn(self._table)

    def search(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(labels, cosine similarities), best first. Exact up to `exact_max` vectors, IVF-PQ then exact above."""
        k = min(k, len(self))
        if k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        if len(self) <= self.exact_max:
            return self.exact_search(vector, k)
        return self.graph_search(vector, k)

    def exact_search(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = _unit(vector)
        k = min(k, len(self))
        if k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        if len(self) <= self.exact_max:
            if self._exact is None:
                self._exact = self._read(lambda t: _columns(t.to_lance().to_table(), self.dim))
            labels, matrix = self._exact
            return _top(labels, matrix @ q, k)
        # A big table: stream it in batches, keeping the best k so far (RAM bounded by one batch).
        best_l, best_s = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)

        def scan(table):
            nonlocal best_l, best_s
            for batch in table.to_lance().to_batches(columns=["label", "vector"], batch_size=65_536):
                labels, matrix = _columns(batch, self.dim)
                best_l, best_s = _top(np.concatenate([best_l, labels]),
                                      np.concatenate([best_s, matrix @ q]), k)
            return best_l, best_s

        return self._read(scan)

    def graph_search(self, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """IVF-PQ candidates (a flat scan while no ANN index is trained), re-ranked by their exact cosine."""
        k = min(k, len(self))
        if k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        q = _unit(vector)

        def query(table):
            return (table.search(q, vector_column_name="vector").distance_type("cosine").nprobes(NPROBES)
                    .refine_factor(REFINE_FACTOR).limit(k).select(["label", "vector", "_distance"]).to_arrow())

        labels, matrix = _columns(self._read(query), self.dim)
        return _top(labels, matrix @ q, len(labels))

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """Up to n stored vectors chosen at random (the same ones until the store changes): a query's background."""
        cached = self._sample
        if cached is not None and cached[0] == (n, seed):
            return cached[1]

        def take(table):
            dataset = table.to_lance()
            rows = dataset.count_rows()
            if rows == 0:
                return np.empty((0, self.dim), np.float32)
            picked = np.arange(rows) if rows <= n else np.sort(np.random.default_rng(seed).choice(rows, n, replace=False))
            return _columns(dataset.take(picked, columns=["label", "vector"]), self.dim)[1]

        matrix = self._read(take)
        self._sample = ((n, seed), matrix)
        return matrix

    # -- what status says ------------------------------------------------------------------------------------------
    def ann_index(self) -> str | None:
        """The ANN index's type ("IVF_PQ"), or None while every search is a scan."""
        if self._table is None:
            return None
        indices = list(self._table.list_indices())
        return "IVF_PQ" if indices else None


def _named_table(folder: Path) -> str | None:
    try:
        return json.loads((folder / HEADER).read_text(encoding="utf-8")).get("table")
    except (OSError, ValueError, AttributeError):
        return None


def _unit(vector: np.ndarray) -> np.ndarray:
    q = np.asarray(vector, dtype=np.float32).ravel()
    return q / max(float(np.linalg.norm(q)), 1e-12)


def _columns(table, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(labels, vectors) of an Arrow table or record batch with columns label and vector."""
    labels = np.asarray(table.column("label").to_numpy(), dtype=np.int64)
    vectors = table.column("vector")
    if hasattr(vectors, "combine_chunks"):
        vectors = vectors.combine_chunks()
    # flatten(), not .values: a sliced batch's values are its whole parent's
    flat = vectors.flatten().to_numpy() if len(labels) else np.empty(0, np.float32)
    return labels, np.asarray(flat, dtype=np.float32).reshape(len(labels), dim)


def _top(labels: np.ndarray, sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    k = min(k, len(sims))
    if k <= 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    top = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
    top = top[np.argsort(-sims[top], kind="stable")]
    return labels[top], sims[top].astype(np.float32)
