"""Which vector store a library uses (the `vector_store` setting), in one place: its class and its folder.

Both stores are caches of the catalog with one interface (load, save, add, remove, search, labels, sample). Each
has its own folder, so switching the setting leaves the other store's files alone and the chosen one, absent or
older than the catalog, is rebuilt from the catalog's vectors on the next load.
"""
from __future__ import annotations

from pathlib import Path

from .lance_index import LanceIndex, require_lancedb  # numpy only: lancedb is imported when a lance store is used
from .vector_index import VectorIndex

VectorStore = VectorIndex | LanceIndex

FOLDERS = {"hnsw": "vectors", "lance": "vectors-lance"}


def store_class(name: str) -> type[VectorIndex] | type[LanceIndex]:
    """The class of store `name`; lancedb is imported only when the lance one is asked for (an optional extra).
    Raises LanceUnavailable, with the command that installs it, where lancedb is missing."""
    if name == "lance":
        require_lancedb()  # fail here, with the install hint, rather than at the first write
        return LanceIndex
    if name == "hnsw":
        return VectorIndex
    raise ValueError(f"unknown vector store {name!r} (one of {', '.join(FOLDERS)})")


def new_store(name: str, model: str, dim: int, folder: Path) -> VectorStore:
    """An empty store of kind `name` whose saves go to `folder` (the lance table is written there as it grows)."""
    if name == "lance":
        require_lancedb()
        return LanceIndex(model, dim, folder=folder)
    return store_class(name)(model, dim)


def saved(name: str, folder: Path) -> dict:
    """What `status` says of store `name` in `folder`, read from its header alone (loading 10M vectors to count
    them would take longer than the status itself): kind, vectors saved (None: not saved yet), ANN index."""
    import json

    header_name = "lance.json" if name == "lance" else "index.json"
    try:
        header = json.loads((Path(folder) / header_name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        header = {}
    ann = header.get("ann_index") if name == "lance" else ("HNSW" if header else None)
    return {"name": name, "vectors": header.get("count"), "ann_index": ann}


def describe(store: dict) -> str:
    """One line for `status`: "lance (1200000 vectors, ANN index: IVF_PQ)"."""
    count = "not saved yet" if store["vectors"] is None else f"{store['vectors']} vectors"
    ann = store["ann_index"] or "none, exact search"
    return f"{store['name']} ({count}, ANN index: {ann})"
