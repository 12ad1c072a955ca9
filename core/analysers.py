"""What an index does with each decoded picture beside the image tower: its analysers.

A decode worker decodes a photo, or samples a video, once, and hands each picture to the analysers registered with
the job (`analysers_for`): the thumbnails, the faces (and, with its own issue, the face regions other apps wrote
into XMP). Each has a name, a version (the backend whose results it stores: a file whose results came from another
is analysed again) and its own error status per file, so that an analyser failing on a file costs that file only
this analyser's result, never its place in search, and is retried by the next index (the job holds to that rule for
every analyser: `analysed`). `photo` and `video` run on the decode workers; `store` runs on the job's single
writer, inside its transaction.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .faces import regions
from .faces.detection import analyse_any_orientation, pil_to_bgr
from .faces.found import FoundFace
from .media.reasons import explain

if TYPE_CHECKING:
    from .library import Library
    from .media.images import DecodedImage
    from .media.video import SampledFrame, SampledVideo
    from .store import Media

log = logging.getLogger(__name__)

VIDEO_FACES_AHEAD = 4  # frames of a video waiting for their faces at most (each up to face_detail px)

Stage = Callable[[str], AbstractContextManager]  # times a named stage of the job (IndexJob._stage)


class AnalysisFailed(Exception):
    """An analyser failed on one file: recorded for that file and retried by the next index; the file is kept."""

    def __init__(self, message: str, detail: str | None = None):
        super().__init__(message)
        self.detail = detail


@dataclass
class Outcome:
    """What one analyser made of one file: its result, or why it has none. Neither: it did not run on the file."""
    value: Any = None
    error: str | None = None
    detail: str | None = None


class VideoHooks(Protocol):
    """One analyser's part in sampling one video, on the video's decode worker."""

    def frame(self, t: float, image) -> None:
        """A frame that is kept, at up to the analyser's `detail` pixels, before it is shrunk."""

    def sample(self, frame: SampledFrame) -> None:
        """The same frame as kept: small image, time, scene change."""

    def finish(self, video: SampledVideo) -> Outcome:
        """The video was sampled to its end: the analyser's outcome for it."""

    def cancel(self) -> None:
        """The video was not sampled to its end (an error, a cancel): what is still waiting is dropped."""


class Analyser(Protocol):
    name: str
    detail: int | None  # the long side, in pixels, that the analyser needs of each picture (None: the small one)

    def wants(self, media: Media) -> bool:
        """Whether this file needs this analyser in this run."""

    def running(self) -> AbstractContextManager:
        """Held while the job decodes (a pool of the analyser's own, for instance)."""

    def photo(self, media: Media, image: DecodedImage) -> Outcome:
        """Its outcome for a photo; may raise (AnalysisFailed in plain words): the job records it as the outcome."""

    def video(self, media: Media) -> VideoHooks: ...

    def store(self, media: Media, outcome: Outcome) -> dict:
        """On the writer, inside its transaction: the outcome stored; the columns of the file's row it sets."""


class Thumbnails:
    """The grid's and the viewer's small pictures, made from the decode the image tower's input comes from.
    A cache: a full disk or a read-only cache folder costs the thumbnail (counted), never the file."""
    name = "thumbnails"
    detail: int | None = None  # the small picture is enough

    def __init__(self, library: Library, stage: Stage):
        self.cache, self._stage = library.thumbnails, stage
        self.failures = 0

    def wants(self, media: Media) -> bool:
        return True

    def running(self) -> AbstractContextManager:
        return nullcontext()

    def photo(self, media: Media, image: DecodedImage) -> Outcome:
        with self._stage("thumbnails"):
            self.save(image.image, media.fingerprint)
        return Outcome()

    def video(self, media: Media) -> VideoHooks:
        return _VideoThumbnails(self, media.fingerprint)

    def store(self, media: Media, outcome: Outcome) -> dict:
        return {}

    def save(self, image, fingerprint: str, timestamp: float | None = None) -> None:
        self._write(lambda: self.cache.save(image, fingerprint, timestamp), fingerprint)

    def put(self, jpeg: bytes, fingerprint: str, timestamp: float | None = None) -> None:
        """A thumbnail a cluster worker made (core.cluster), written into this machine's cache."""
        self._write(lambda: self.cache.put(jpeg, fingerprint, timestamp), fingerprint)

    def _write(self, write: Callable[[], object], fingerprint: str) -> None:
        try:
            write()
        except OSError as e:
            log.debug("thumbnail of %s not written: %s", fingerprint, e)
            self.failures += 1


class _VideoThumbnails:
    def __init__(self, thumbnails: Thumbnails, fingerprint: str):
        self.thumbnails, self.fingerprint = thumbnails, fingerprint
        self.poster = True

    def frame(self, t: float, image) -> None:
        pass

    def sample(self, frame: SampledFrame) -> None:
        if self.poster:  # the video's own thumbnail: the first frame kept
            self.thumbnails.save(frame.image, self.fingerprint)
            self.poster = False
        self.thumbnails.save(frame.image, self.fingerprint, frame.timestamp)

    def finish(self, video: SampledVideo) -> Outcome:
        return Outcome()

    def cancel(self) -> None:
        pass


class Faces:
    """The faces of each photo and kept video frame: detected, aligned and described by the library's face backend,
    whose name is the version stored with them (`faces_backend`); a failure is the file's `faces_error`."""
    name = "faces"

    def __init__(self, library: Library, stage: Stage):
        self.library, self._stage = library, stage
        self.detail: int | None = library.settings.face_detail
        self.failures = 0  # files whose face analysis failed in this run
        self._pool: ThreadPoolExecutor | None = None

    @property
    def backend(self):
        return self.library.face_backend

    def wants(self, media: Media) -> bool:
        return self.library.settings.faces and media.faces_backend is None

    @contextmanager
    def running(self) -> Iterator[None]:
        """The pool that looks for a video's faces while its decoder goes on."""
        with ThreadPoolExecutor(max_workers=max(1, self.library.settings.decode_workers),
                                thread_name_prefix="idlens-video-faces") as pool:
            self._pool = pool
            try:
                yield
            finally:
                self._pool = None

    def photo(self, media: Media, image: DecodedImage) -> Outcome:
        with self._stage("faces"):
            return Outcome(self.analyse(image.detail, None, image.width, any_orientation=True))

    def video(self, media: Media) -> VideoHooks:
        assert self._pool is not None, "videos are sampled while the analysers run"
        return _VideoFaces(self, self._pool)

    def store(self, media: Media, outcome: Outcome) -> dict:
        if outcome.error:
            self.failures += 1
            return dict(faces_backend=None, faces_error=outcome.error, faces_error_detail=outcome.detail)
        if outcome.value is None:  # not analysed in this run (faces off, or analysed before): as they were
            return dict(faces_backend=media.faces_backend, faces_error=media.faces_error,
                        faces_error_detail=media.faces_error_detail)
        self.library.found_faces.replace(media.id, outcome.value, self.backend.name,
                                         self.library.catalog.media.frame_ids(media.id))
        # Faces found again (a new recogniser, a retry): the names other apps wrote are read again, to be put on
        # the new faces (a face found only in a region's crop is not found by the whole photo's pass).
        return dict(faces_backend=self.backend.name, faces_error=None, faces_error_detail=None, regions_read=None)

    def analyse(self, image, timestamp, original_width=None, any_orientation=False) -> list:
        """Faces of one picture. `any_orientation` (photos): a photo whose faces are sideways or upside down (its
        orientation tag lost, a scanned print) is also looked at turned. Not video frames: a video is rarely
        sideways once its display rotation is applied, and turning every sampled frame would multiply the face
        stage of a long video by up to four for the frames without faces."""
        try:
            bgr = pil_to_bgr(image)
            found = analyse_any_orientation(self.backend, bgr) if any_orientation else self.backend.analyse(bgr)
        except Exception as e:
            log.warning("face analysis failed: %s: %s", type(e).__name__, e)
            log.debug("face analysis failure", exc_info=True)
            raise AnalysisFailed(*explain(e, "", "faces")) from e
        if original_width is None:
            return found
        return [FoundFace(f, timestamp, original_width / image.width) for f in found]


class _VideoFaces:
    """A video's frames are looked at on the faces' pool while its decoder goes on, a few frames ahead at most.
    A failure stops looking (the frames still go on to CLIP) and is the video's outcome."""

    def __init__(self, faces: Faces, pool: ThreadPoolExecutor):
        self.faces, self.pool = faces, pool
        self.seen: list[tuple[float, int, Future]] = []  # (time, frame width, its faces)
        self.failed: AnalysisFailed | None = None

    def frame(self, t: float, image) -> None:
        if self.failed:
            return
        if len(self.seen) >= VIDEO_FACES_AHEAD:  # bounded: frames wait here, not in memory
            try:
                self.seen[-VIDEO_FACES_AHEAD][2].result()
            except AnalysisFailed as e:
                self.failed = e
                return
        self.seen.append((t, image.width, self.pool.submit(self.faces.analyse, image, t)))

    def sample(self, frame: SampledFrame) -> None:
        pass

    def finish(self, video: SampledVideo) -> Outcome:
        found_by_time = []
        for t, w, f in self.seen:
            if self.failed:
                break
            try:
                found_by_time.append((t, w, f.result()))
            except AnalysisFailed as e:
                self.failed = e
        if self.failed:
            return Outcome(error=str(self.failed), detail=self.failed.detail)
        kept = {f.timestamp for f in video.frames}  # only kept frames are shown to frame() (core.media.video)
        return Outcome([FoundFace(f, t, video.width / w) for t, w, found in found_by_time if t in kept
                        for f in found])

    def cancel(self) -> None:
        for _, _, f in self.seen:
            f.cancel()


class FaceNames:
    """The names other apps gave faces, as XMP regions in a photo or its sidecars (core.faces.regions). Read on the
    decode worker; imported by the job once the faces are stored (`People.import_names`: one decision, undoable),
    so a region meets the faces found in this run or an earlier one. The version is what was read: the photo's and
    its sidecars' sizes and times (`regions_read`); a photo whose sources changed since is read again."""
    name = "regions"
    detail: int | None = None  # the small decode: the regions are matched to the faces' boxes, not to pixels

    def __init__(self, library: Library, stage: Stage):
        self.library, self._stage = library, stage
        self.read: list[tuple[int, list, str]] = []  # (media id, regions, signature) waiting for the import
        self.seen: set[int] = set()  # media whose names were read in this run (or could not be): not read again
        self.folders = regions.Folders()  # this index's listing of each folder, where sidecars are looked up
        self.failures = 0
        s = library.settings
        if s.read_face_regions and s.faces and not regions.shared_exiftool().available:
            _say_once(f"{regions.shared_exiftool().missing}: the names other apps (digiKam, Lightroom, Picasa) "
                      "wrote into XMP are not read; see the README, \"Names in other apps\"")

    def wants(self, media: Media) -> bool:
        s = self.library.settings
        return (s.read_face_regions and s.faces and media.kind == "image" and regions.shared_exiftool().available
                and media.regions_read != self._signature(media))

    def _signature(self, media: Media) -> str:
        return regions.signature(media.path, self.folders, media.size, media.mtime_ns)

    def running(self) -> AbstractContextManager:
        return nullcontext()

    def photo(self, media: Media, image: DecodedImage) -> Outcome:
        with self._stage("regions"):
            before = self._signature(media)
            try:
                found = regions.read_regions(media.path, image.stored_size, image.orientation, folders=self.folders)
            except regions.RegionsUnreadable as e:
                raise AnalysisFailed(f"names from other apps not read: {e}") from e
            return Outcome((found, before))

    def video(self, media: Media) -> VideoHooks:
        return _NoVideo()

    def look(self, media: Media, wanted: list[regions.Region]) -> list[FoundFace | None]:
        """Faces the detector did not find where another app named one: each region looked at again in a crop of
        the photo at its full resolution (core.faces.detection.face_in_region). Only for regions with no face near
        them, after the faces are stored, so a photo is decoded again only when the detector missed a named face.
        A photo that cannot be decoded now gives none (its regions stay unmatched, read again when it changes)."""
        from .faces.detection import face_in_region
        from .media.images import decode_image

        with self._stage("regions"):
            try:
                source = decode_image(media.path, draft=False).source
                assert source is not None
                bgr = pil_to_bgr(source)
                del source
                backend = self.library.face_backend
                return [FoundFace(f) if (f := face_in_region(backend, bgr, r.box)) is not None else None
                        for r in wanted]
            except Exception as e:  # the names of the faces it has are imported all the same
                log.warning("%s: the faces other apps named were not looked for again: %s: %s", media.path,
                            type(e).__name__, e)
                return [None] * len(wanted)

    def store(self, media: Media, outcome: Outcome) -> dict:
        if outcome.error:
            self.failures += 1
            self.seen.add(media.id)
            return dict(regions_error=outcome.error, regions_error_detail=outcome.detail)
        if outcome.value is None:  # not read (unchanged, or a cluster worker without ExifTool: read again here)
            return {}
        self.seen.add(media.id)
        found, read = outcome.value
        self.read.append((media.id, found, read))
        return dict(regions_error=None, regions_error_detail=None)


class _NoVideo:
    def frame(self, t: float, image) -> None:
        pass

    def sample(self, frame: SampledFrame) -> None:
        pass

    def finish(self, video: SampledVideo) -> Outcome:
        return Outcome()

    def cancel(self) -> None:
        pass


_said: set[str] = set()


def _say_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        log.warning(message)


def analysed(analyser: Analyser, run: Callable[[], Outcome]) -> Outcome:
    """`run()`, an analyser's work on one file; whatever it raises is that analyser's outcome for the file."""
    try:
        return run()
    except AnalysisFailed as e:
        return Outcome(error=str(e), detail=e.detail)
    except Exception as e:
        log.warning("%s failed: %s: %s", analyser.name, type(e).__name__, e)
        log.debug("analyser failure", exc_info=True)
        return Outcome(error=f"{analyser.name} could not be made (an unexpected error)",
                       detail=f"{type(e).__name__}: {e}")


def analysers_for(library: Library, stage: Stage) -> list[Analyser]:
    """The analysers an index runs, in the order their results are stored."""
    return [Thumbnails(library, stage), Faces(library, stage), FaceNames(library, stage)]
