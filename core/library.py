"""A library: one folder holding the catalog, the vector index and the settings, and the models that serve it.

The composition root: it builds the catalog, the caches and the people service, and takes its models from the
registry. Both front ends hold one (through `core.services`). It keeps the vector index in step with the catalog:
the catalog is the truth, and the index is brought back in line with it whenever a crash may have left them apart.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

from . import registry
from .clip.embedder import ClipEmbedder, ModelSpec
from .clip.stores import FOLDERS, VectorStore, new_store, store_class
from .faces.crops import library_crops
from .lock import LibraryBusy, WriteLock
from .media.thumbnails import ThumbnailCache
from .paths import is_under
from .settings import Settings, cache_dir, models_dir
from .store import Backups, Catalog, CatalogDamaged

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.db"
SETTINGS_FILE = "settings.json"
INDEX_FOLDER = FOLDERS["hnsw"]  # the default store's; `Library.index_folder` is the one in use
BACKUP_FOLDER = "backups"


class NotInLibrary(Exception):
    """A path the library does not hold."""


class NoLibrary(Exception):
    """A command that only reads was pointed at a folder that holds no library (a mistyped --library)."""

    def __init__(self, folder: Path):
        self.folder = folder
        super().__init__(f"no library at {folder} (create one with `idlens index FOLDER`, or check --library / "
                         "IDLENS_LIBRARY)")


class ModelMismatch(Exception):
    """The library's vectors come from another model than the one asked for."""


class Library:
    """`create=False` opens only an existing library (NoLibrary otherwise) and creates no file or folder: what the
    commands that merely read use, so a mistyped --library never leaves a library behind."""

    def __init__(self, folder: Path, model: str | None = None, create: bool = True):
        self.folder = Path(folder).expanduser().absolute()
        catalog_path = self.folder / CATALOG_FILE
        self.backups = Backups(self.folder / BACKUP_FOLDER)
        if not catalog_path.exists() and (self.backups.list()
                                          or any((self.folder / f).exists() for f in FOLDERS.values())):
            # A library whose catalog vanished is not a new library: starting afresh would hide every name.
            raise CatalogDamaged(catalog_path, "the file is missing, but this folder holds a library")
        if not create and not catalog_path.exists():
            raise NoLibrary(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        settings_path = self.folder / SETTINGS_FILE
        self.settings = Settings.load(settings_path)
        self.catalog = Catalog(catalog_path, self.backups)
        if not settings_path.exists() and self.catalog.library_model:
            self.settings.model = self.catalog.library_model  # settings lost: the vectors say which model
        # The model: asked for explicitly (--model / IDLENS_MODEL), else the library's setting, which follows the
        # model that embedded it; a setting changed by hand then meets check_model and is asked to re-embed.
        requested = model or os.environ.get("IDLENS_MODEL")
        self.model_spec = str(ModelSpec.parse(requested or self.settings.model))
        self.thumbnails = ThumbnailCache(cache_dir() / "thumbnails")
        self.face_crops = library_crops(self.catalog, lambda: self.settings)  # this library's own folder
        self._index: VectorStore | None = None
        self._idclip = None

    def close(self) -> None:
        self.catalog.backup_if_due(closing=True)
        self.catalog.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def save_settings(self) -> None:
        """Write this library's settings (validated), under the write lock: a running index reads them."""
        with self.write_lock("saving settings"):
            self.settings.save(self.folder / SETTINGS_FILE)

    @property
    def people(self):
        from .faces.people import People

        return People(self.catalog, self.settings, self.face_crops, lock=self.write_lock)

    @property
    def found_faces(self):
        """Where the indexer stores the faces it found (core.faces.found)."""
        from .faces.found import FoundFaces

        return FoundFaces(self.catalog, self.settings, self.face_crops)

    def write_lock(self, what: str = "writing") -> WriteLock:
        """Held by every change to the library; a second writer (GUI and CLI at once) is refused with a message."""
        return WriteLock(self.folder, what, after=self.catalog.backup_if_due)

    @property
    def idclip(self):
        """The configured Id-CLIP translator for this library's model, or None."""
        if not self.settings.idclip_checkpoint:
            return None
        if self._idclip is None:
            self._idclip = registry.idclip_translator(Path(self.settings.idclip_checkpoint), self.embedder,
                                                      self.face_backend.name)
        return self._idclip

    @property
    def face_backend(self):
        return registry.face_backend(self.settings.face_backend)

    # -- model ----------------------------------------------------------------------------------------------------
    @property
    def embedder(self) -> ClipEmbedder:
        return registry.clip_model(self.model_spec, models_dir(), threads=self.settings.threads,
                                   int8=self.settings.image_encoder == "onnx-int8")

    def check_model(self) -> None:
        """Refuse to mix vectors of two models: they live in different spaces."""
        built_with = self.catalog.library_model
        if built_with and built_with != self.model_spec:
            raise ModelMismatch(
                f"this library was embedded with {built_with}, not {self.model_spec}; run "
                f"`idlens --model {self.model_spec} reembed` to re-embed it, or drop --model to use {built_with}"
            )

    def claim_model(self) -> int:
        """Record the model about to write vectors (the first one to embed owns the library); its catalog id."""
        self.check_model()
        dim = self.embedder.dim
        with self.catalog.transaction():
            model_id = self.catalog.items.model_id(self.model_spec, dim)
            claimed = not self.catalog.library_model
            if claimed:
                self.catalog.set_library_model(self.model_spec)
        if claimed:
            self._remember_model()
        return model_id

    def _remember_model(self) -> None:
        if self.settings.model != self.model_spec:
            self.settings.model = self.model_spec
            self.save_settings()

    def reembed(self) -> int:
        """Switch the library to this session's model: drop every vector and queue every file again.
        Names, faces and the media rows stay. Returns the number of files queued."""
        with self.write_lock("re-embedding"):
            return self._reembed()

    def _reembed(self) -> int:
        dim = self.embedder.dim
        self.catalog.backup("before-reembed")
        with self.catalog.transaction():
            self.catalog.items.clear_all()
            n = self.catalog.media.queue_all_again()
            self.catalog.items.model_id(self.model_spec, dim)
            self.catalog.set_library_model(self.model_spec)
            self.catalog.meta.set("index_dirty", "1")
        self._remember_model()
        self._index = self._new_store(self.model_spec, dim)
        self.save_index()
        return n

    # -- vector index ---------------------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        dim = self.catalog.items.model_dim(self.model_spec)
        return dim if dim is not None else self.embedder.dim

    @property
    def index_folder(self) -> Path:
        """Where the store the settings name (`vector_store`) keeps its files."""
        return self.folder / FOLDERS[self.settings.vector_store]

    def _new_store(self, model: str, dim: int) -> VectorStore:
        return new_store(self.settings.vector_store, model, dim, self.index_folder)

    @property
    def index(self) -> VectorStore:
        if self._index is None:
            self.check_model()
            folder = self.index_folder
            damaged = False
            store = store_class(self.settings.vector_store)  # LanceUnavailable (how to install it) before any work
            try:
                index = store.load(folder, self.model_spec, self.dim)
            except (RuntimeError, OSError, ValueError, KeyError) as e:  # a damaged cache: rebuilt from the catalog
                log.warning("the vector index in %s cannot be read (%s); rebuilding it from the catalog", folder, e)
                index, damaged = None, True
            fresh = index is None
            if index is None:
                index = self._new_store(self.model_spec, self.dim)
            self._index = index
            if index.generation is None or index.generation != self.catalog.meta.get("index_generation") \
                    or self.catalog.meta.get("index_dirty") == "1":
                self.sync_index()
            # Keep what was rebuilt (damaged, lost, or the setting switched to the other store): rebuilding 10M
            # vectors on every start would cost minutes. Unless another writer is at work: it saves its own.
            if damaged or (fresh and len(index)):
                try:
                    with self.write_lock("saving the rebuilt vector index"):
                        self.save_index()
                except LibraryBusy:
                    pass
        return self._index

    def rebuild_index(self) -> int:
        """A new vector index from the vectors in the catalog (after a repair). Returns how many it holds."""
        model = self.catalog.library_model
        if not model:
            return 0
        dim = self.catalog.items.model_dim(model)
        if dim is None:  # a model named, no vector of it stored yet
            return 0
        self._index = self._new_store(model, dim)
        self.sync_index()
        self.save_index()
        return len(self._index.labels)

    def forget_index(self) -> None:
        """Drop the loaded index (another connection changed the library); the next search loads it again."""
        self._index = None

    def mark_index_dirty(self) -> None:
        """Say, before changing vectors or statuses, that the saved index may no longer match the catalog."""
        if self.catalog.meta.get("index_dirty") != "1":
            self.catalog.meta.set("index_dirty", "1")

    def sync_index(self) -> tuple[int, int]:
        """Bring the index in line with the catalog: add what is missing, remove what should not be found."""
        index = self._index if self._index is not None else self.index
        live = self.catalog.items.live_labels()
        have = index.labels_array()
        to_add = np.setdiff1d(live, have, assume_unique=True)
        to_remove = np.setdiff1d(have, live, assume_unique=True)
        index.remove(to_remove)
        for start in range(0, len(to_add), 4096):
            chunk = to_add[start:start + 4096]
            index.add(chunk, self.catalog.items.vectors(chunk, index.dim))
        return len(to_add), len(to_remove)

    def refresh_index(self) -> VectorStore:
        """Load the index if needed, and bring it in line with the catalog after scans, moves and deletions."""
        if self._index is None:
            return self.index  # loading syncs
        self.sync_index()
        return self._index

    def save_index(self) -> None:
        if self._index is None:
            return
        gen = self._index.save(self.index_folder)
        with self.catalog.transaction():
            self.catalog.meta.set("index_generation", gen)
            self.catalog.meta.set("index_dirty", "0")

    # -- library-level operations ---------------------------------------------------------------------------------
    def holds_folder(self, path: str) -> bool:
        """Whether a folder is one of the library's, above one, or inside one."""
        path = os.path.abspath(path)
        return any(is_under(r, path) or is_under(path, r) for r in self.catalog.media.roots())

    def forget(self, *paths: str) -> int:
        """Remove files, or everything under folders, from the library (never from disk). Returns the count.
        A path the library does not hold refuses the whole call (NotInLibrary) before anything is removed; a
        library folder that is no more (moved away, its files found elsewhere) is one it holds.
        What the user decided about the faces of a file that lives on elsewhere in the library (a copy, or the file
        itself indexed again at its new place) is never lost: see `_carry_decisions`."""
        with self.write_lock("removing files from the library"):
            roots = set(self.catalog.media.roots())
            for path in paths:
                path = os.path.abspath(path)
                if not self.catalog.media.known_files(path) and path not in roots \
                        and not (os.path.exists(path) and self.holds_folder(path)):
                    raise NotInLibrary(f"not in the library: {path} (nothing was removed; `idlens status` lists "
                                       "its folders)")
            n = sum(self._forget(p) for p in paths)
            self._log_forget([os.path.abspath(p) for p in paths])
            return n

    def _log_forget(self, paths: list[str]) -> None:
        """Forgetting is the user's decision too: in the decision log beside the backups, so that a catalog restored
        from an older backup forgets the same files again (core.doctor)."""
        log_ = self.catalog.decision_log
        if log_ is None:
            return
        try:
            log_.append({"at": time.time(), "kind": "forget", "direction": "do", "paths": paths, "changes": [],
                         "summary": "forgot " + ", ".join(paths)})
        except OSError as e:
            log.warning("could not write the decision log %s (%s): the files are forgotten in the catalog",
                        log_.path, e)

    def _forget(self, path: str) -> int:
        path = os.path.abspath(path)
        media = self.catalog.media
        known = media.known_files(path)
        ids = [row[0] for row in known.values()]
        self.mark_index_dirty()
        labels = self.catalog.items.labels_of_many(ids)
        with self.catalog.transaction():
            if self._carry_decisions(ids):
                from .faces.settle import settle

                settle(self.catalog, self.settings)  # where the rule puts the faces that took a decision
            media.delete(ids)
            inside_a_root = False
            for root in media.roots():
                if is_under(root, path):
                    media.remove_root(root)
                elif is_under(path, root):
                    inside_a_root = True
            if inside_a_root:  # else the next scan of that folder would bring it back
                media.exclude(path)
        if self._index is not None or self.index_folder.exists():
            self.index.remove(labels)
            self.save_index()
        return len(ids)

    def _carry_decisions(self, ids: list[int]) -> int:
        """Before files `ids` leave the library: each of them whose content lives on in another file of the library
        (same fingerprint and size: a copy, or the file moved and indexed as new) passes its decisions to that file.
        A confirmed face and a "not this person" go to the face in the same place (same video time, boxes
        overlapping: clustering.same_place); a face of the other file that the user already confirmed stays as they
        decided, and one they said is not someone never becomes them. A copy whose faces were never analysed takes
        the faces themselves. Inside the caller's transaction; returns the faces that took a decision."""
        from .faces.clustering import same_place

        media, faces = self.catalog.media, self.catalog.faces
        going = set(ids)
        carried = 0
        for media_id in ids:
            decided, rejected = faces.decided_in_media(media_id)
            if not decided:
                continue
            source = media.get(media_id)
            if source is None:
                continue
            unanalysed = None
            for other in media.same_content(source.fingerprint, source.size):
                if other.id in going:
                    continue
                boxes = faces.boxes_in_media(other.id)
                if not boxes:
                    if other.faces_backend is None and unanalysed is None:
                        unanalysed = other.id
                    continue
                theirs, refused = faces.decided_in_media(other.id)
                confirmed = {f["id"]: f["person_id"] for f in theirs if f["person_id"] is not None and f["confirmed"]}
                for old in decided:
                    face = same_place(boxes, (old["x"], old["y"], old["w"], old["h"]), old["timestamp"])
                    if face is None:
                        continue
                    took = False
                    person = old["person_id"] if old["confirmed"] else None
                    if person is not None and face not in confirmed and person not in refused.get(face, ()):
                        faces.confirm([face], person)
                        confirmed[face] = person
                        took = True
                    for not_them in rejected.get(old["id"], ()):
                        if confirmed.get(face) != not_them:
                            faces.reject(face, not_them)
                            took = True
                    carried += took
            if unanalysed is not None:  # never analysed: the faces themselves go, with every decision about them
                carried += media.hand_over_faces(media_id, unanalysed)
        return carried
