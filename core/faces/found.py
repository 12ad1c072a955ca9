"""Storing the faces found in a file, as the indexer hands them over: which are good enough to found a group or vote
(`usable`, `voter`), video faces linked into tracks, and decisions carried over to a file's new faces when it is
analysed again (an edited photo, a new recogniser). Who each face is, is the one rule's (core.faces.rule)."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.settings import Settings
from core.store import Catalog

from . import clustering, quality
from .crops import FaceCrops
from .detection import Face

log = logging.getLogger(__name__)


@dataclass
class FoundFace:
    """A face as the indexer hands it over: where it was seen and what the backend said."""
    face: Face
    timestamp: float | None = None
    to_original: float = 1.0   # multiply detection-image pixels by this to get pixels of the original


def good_enough(settings: Settings, size: float, score: float, sharpness: float, landmarks, box) -> bool:
    """The one test of a face that may found a group or vote on who a video appearance is: big (`size`, the short
    side in the pixels the recogniser saw), certain and sharp enough, and a face at all (not a logo or a texture
    the detector took for one). Landmarks and box in any one frame of pixels."""
    s = settings
    return (size >= s.face_min_size and score >= s.face_min_score and sharpness >= s.face_min_sharpness
            and quality.plausible_face(score, landmarks, box))


def _embedding(face: Face) -> np.ndarray:
    if face.embedding is None:
        raise ValueError("a face to store has no descriptor (the backend's embed() did not run on it)")
    return face.embedding


def _track_quality(face: Face) -> float:
    return face.size * face.score * min(face.sharpness, 500.0)



class FoundFaces:
    def __init__(self, catalog: Catalog, settings: Settings, crops: FaceCrops | None = None):
        self.catalog, self.settings, self.crops = catalog, settings, crops
        self.faces = catalog.faces

    def usable(self, face: Face) -> bool:
        return good_enough(self.settings, face.size, face.score, face.sharpness, face.landmarks, face.box)

    def store(self, media_id: int, found: list[FoundFace], backend: str, frame_ids: dict[float, int]) -> list[int]:
        """Write the faces of one file (inside the caller's transaction). Video faces seen in consecutive frames
        are linked into tracks: only the best face of a track may found a group (`usable`), every good frame
        votes on who the appearance is (`voter`, see core.faces.rule). Returns the new face ids."""
        stamps = [f.timestamp for f in found if f.timestamp is not None]
        if stamps:
            if len(stamps) != len(found):
                raise ValueError("the faces of one file come from a video (each with its time) or a photo (none)")
            # One missed sample is forgiven (a turned head, a blink); a longer absence starts a new appearance.
            max_gap = max(2.5 * self.settings.video_interval, 3.0)
            tracks = clustering.link_tracks(stamps, np.stack([_embedding(f.face) for f in found]),
                                            self.settings.face_track_match, max_gap)
        else:
            tracks = [[i] for i in range(len(found))]
        ids: list[int] = [0] * len(found)
        good = [self.usable(f.face) for f in found]
        for members in tracks:
            track_id = None
            if stamps:  # a video: each appearance is a track, of one frame or many
                times = [stamps[i] for i in members]
                track_id = self.faces.add_track(media_id, min(times), max(times))
            best = max(members, key=lambda i: _track_quality(found[i].face))
            for i in members:
                f = found[i]
                face, k = f.face, f.to_original
                ids[i] = self.faces.add(
                    media_id=media_id, frame_id=frame_ids.get(f.timestamp) if f.timestamp is not None else None,
                    track_id=track_id, timestamp=f.timestamp, box=[v * k for v in face.box],
                    landmarks=face.landmarks * k, score=face.score, size=face.size, sharpness=face.sharpness,
                    usable=good[i] and i == best, voter=good[i], embedding=face.embedding, backend=backend)
                if self.crops:  # signed with the landmarks as stored, so a crop is never shown for another face
                    self.crops.save(ids[i], face.shown if face.shown is not None else face.crop,
                                    face.landmarks * k)
        return ids

    def replace(self, media_id: int, found: list[FoundFace], backend: str, frame_ids: dict[float, int]) -> list[int]:
        """Store a file's faces in place of the ones found before (an edited photo, a new recogniser). Decisions
        about an old face (its person, confirmation, "not this person") pass to the new face in the same place."""
        decided, rejected = self.faces.decided_in_media(media_id)
        self.faces.remove_from_media(media_id)
        new_ids = self.store(media_id, found, backend, frame_ids)
        boxes = [{"id": new_id, "timestamp": f.timestamp, "x": f.face.box[0] * f.to_original,
                  "y": f.face.box[1] * f.to_original, "w": f.face.box[2] * f.to_original,
                  "h": f.face.box[3] * f.to_original} for new_id, f in zip(new_ids, found)]
        for old in decided:
            new = clustering.same_place(boxes, (old["x"], old["y"], old["w"], old["h"]), old["timestamp"])
            if new is None:
                continue
            if old["person_id"] is not None and old["confirmed"]:
                self.faces.confirm([new], old["person_id"], named_from=old["named_from"], named_as=old["named_as"])
            for rejected_person in rejected.get(old["id"], []):
                self.faces.reject(new, rejected_person)
        self.catalog.media.drop_unused_frames(media_id)
        return new_ids

    def crop_path(self, face_id: int) -> Path | None:
        """Where the face's crop is kept (None: faces stored here keep no crops)."""
        return self.crops.path(face_id) if self.crops is not None else None

    def recheck(self) -> int:
        """Decide `usable` and `voter` again for every face stored, by today's `usable` (a library from before the
        non-face check and before frames voted). Inside the caller's transaction; returns the faces changed."""
        rows = self.faces.quality_rows()
        tracks: dict[int, list[tuple]] = {}
        changes = []
        good = {}
        for r in rows:
            face_id, track_id, box, landmarks, score, size, sharpness, usable, voter, media_id = r
            if media_id is None:
                continue  # a reference photo: the user chose it
            good[face_id] = good_enough(self.settings, size, score, sharpness, landmarks, box)
            if track_id is not None:
                tracks.setdefault(track_id, []).append((face_id, size * score * min(sharpness, 500.0)))
        best = {}
        for members in tracks.values():
            top = max(members, key=lambda m: m[1])[0]
            for face_id, _ in members:
                best[face_id] = face_id == top
        for r in rows:
            face_id, usable, voter = r[0], r[7], r[8]
            if face_id not in good:
                continue
            new_voter = good[face_id]
            new_usable = new_voter and best.get(face_id, True)
            if (bool(usable), bool(voter)) != (new_usable, new_voter):
                changes.append((int(new_usable), int(new_voter), face_id))
        self.faces.set_quality(changes)
        return len(changes)

