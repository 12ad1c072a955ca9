"""Replaying the decision log (core.store.decision_log) onto a catalog restored from a backup: the names, merges,
confirmations and "not this person" answers made after the backup come back.

Each logged row is put back as it was left, in order. People, aliases and rejections keep their ids in one
library's history, so they are put back by id. A face is put back where it is: the logged id when this catalog's
face of that id is the same face (same file content, same place), else the face of that file at that place
(`clustering.same_place`); a face this catalog does not hold (its file not indexed again yet) is counted, never
guessed. A row that this catalog contradicts (a name someone else holds here) is skipped and counted. The one rule
(core.faces.settle) then places the automatic faces from the confirmed ones, as after every decision.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from core.store import Catalog

from . import clustering

log = logging.getLogger(__name__)


@dataclass
class ReplayReport:
    decisions: int = 0            # log lines replayed (decisions, undos, redos)
    rows: int = 0                 # rows put back
    faces_not_here: int = 0       # face rows whose face this catalog does not hold (yet)
    conflicts: int = 0            # rows this catalog contradicts: left as they are
    summaries: list[str] = field(default_factory=list)


def _same_face(here: dict | None, place: dict | None) -> bool:
    if here is None or place is None or here["fingerprint"] != place["fingerprint"]:
        return False
    return clustering.same_place([{"id": 0, **_box(here)}], place["box"], place["timestamp"]) == 0


def _box(face: dict) -> dict:
    x, y, w, h = face["box"]
    return {"timestamp": face["timestamp"], "x": x, "y": y, "w": w, "h": h}


class _Faces:
    """Logged face ids → this catalog's faces, found once each."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.known: dict[int, int | None] = {}

    def find(self, logged_id: int, place: dict | None) -> int | None:
        if logged_id in self.known:
            return self.known[logged_id]
        journal = self.catalog.journal
        here = journal.face_by_id(logged_id)
        found = None
        if place is None:  # a reference photo's face: only its own id, if it is still a reference face here
            found = logged_id if here is not None and here["media_id"] is None else None
        elif _same_face(here, place):
            found = logged_id
        else:
            media_id = self.catalog.media.by_fingerprint(place["fingerprint"], place["path"])
            if media_id is not None:
                found = clustering.same_place(self.catalog.faces.boxes_in_media(media_id), place["box"],
                                              place["timestamp"])
        self.known[logged_id] = found
        return found


def _history(catalog: Catalog, entry: dict, faces: _Faces) -> None:
    """The entry's place in the decision history: an undo marks its decision undone; a decision the history lacks is
    added with the rows it changed (face ids those of this catalog), one it holds (a redo, or one the backup had)
    is marked done."""
    journal = catalog.journal
    if entry.get("decision_at") is None:  # not a decision of the people journal (a forget: core.doctor applies it)
        return
    made = journal.decision_made_at(entry.get("decision_at"))
    if entry.get("direction") == "undo":
        if made is not None:
            journal.set_undone(made, True)
        return
    if made is not None:
        journal.set_undone(made, False)
        return
    changes = []
    for change in entry.get("changes", []):
        tbl, before, after = change["tbl"], change.get("before"), change.get("row")
        if tbl in ("faces", "rejections"):
            field = "id" if tbl == "faces" else "face_id"
            here = faces.known.get(change["key"][field])
            if here is None:
                continue  # a face this catalog does not hold: nothing of it to undo
            before = None if before is None else {**before, field: here}
            after = None if after is None else {**after, field: here}
        changes.append((tbl, before, after))
    journal.restore_decision(entry["decision_at"], entry.get("kind", ""), entry.get("summary", ""),
                             entry.get("people", []), changes)


def replay(catalog: Catalog, entries: list[dict], settings) -> ReplayReport:
    """Put back what the log's `entries` left, and the history with it (`_history`: undo after a repair takes back
    the last decision, as before), then the one rule; in one transaction."""
    from .settle import settle

    report = ReplayReport()
    faces = _Faces(catalog)
    journal = catalog.journal
    with catalog.transaction():
        for entry in entries:
            report.decisions += 1
            if entry.get("summary"):
                report.summaries.append(("undone: " if entry.get("direction") == "undo" else "") + entry["summary"])
            for change in entry.get("changes", []):
                tbl, key, row = change["tbl"], dict(change["key"]), change.get("row")
                if tbl in ("faces", "rejections"):
                    logged = key["id"] if tbl == "faces" else key["face_id"]
                    if tbl == "faces" and row is not None and "embedding" in row and change.get("face") is None:
                        # a reference photo's face added: a face of its own here (its id may be taken)
                        if faces.find(logged, None) is None:
                            faces.known[logged] = journal.insert_face(row)
                            report.rows += 1
                        continue
                    here = faces.find(logged, change.get("face"))
                    if here is None:
                        report.faces_not_here += 1
                        continue
                    if tbl == "faces":
                        key["id"] = here
                        if row is not None:
                            row = {"person_id": row["person_id"], "confirmed": row["confirmed"]}
                    else:
                        key["face_id"] = here
                        if row is not None:
                            row = {**row, "face_id": here}
                if journal.restore_row(tbl, key, row):
                    report.rows += 1
                else:
                    report.conflicts += 1
            _history(catalog, entry, faces)
        settle(catalog, settings)
    log.info("replayed %d logged decisions: %d rows, %d faces not here, %d conflicts", report.decisions,
             report.rows, report.faces_not_here, report.conflicts)
    return report
