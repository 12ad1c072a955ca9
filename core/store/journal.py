"""The decision journal's SQL: every decision the user makes about people, with the exact rows it changed.

While a decision runs, temporary triggers on this connection (SQLite's own undo/redo recipe, sqlite.org/undoredo)
copy each changed row of `people`, `aliases`, `rejections` and `faces` (its person and confirmation; whole rows for
faces added or removed) into `decision_changes`, before and after, as JSON. Foreign-key actions fire them too (a
deleted person's aliases), children before the parent, so applying the images in reverse order restores a state
in which every reference holds. Only the connection that decides records; indexing on another connection is not a
decision and is never recorded.
"""
from __future__ import annotations

import json
import logging
import sqlite3
import time
from dataclasses import dataclass

import sqlite_utils

from .records import rowid

log = logging.getLogger(__name__)

# table -> (key columns, recorded columns, blob columns). Faces: only who and whether confirmed change in a
# decision; a whole row is recorded when a face is added (a reference photo) or removed.
TABLES = {
    "people": (("id",), ("id", "name", "name_key", "hidden", "created_at"), ()),
    "aliases": (("person_id", "alias_key"), ("person_id", "alias", "alias_key"), ()),
    "rejections": (("face_id", "person_id"), ("face_id", "person_id"), ()),
    "faces": (("id",), ("id", "person_id", "confirmed", "named_from", "named_as"), ()),
}
FACE_ROW = ("id", "media_id", "frame_id", "track_id", "timestamp", "x", "y", "w", "h", "landmarks", "score", "size",
            "sharpness", "usable", "voter", "embedding", "backend", "person_id", "confirmed", "source", "created_at",
            "named_from", "named_as")
FACE_BLOBS = ("landmarks", "embedding")


@dataclass
class Decision:
    id: int
    at: float
    kind: str
    summary: str
    people: list
    undone: bool

    @property
    def title(self) -> str:
        """A few words for a menu: "Undo naming Zoë", "Redo merging Ben into Anna"."""
        names = [p.get("name") for p in self.people if isinstance(p, dict)]
        last = names[-1] if names else None
        what = {"name": f"naming {last}" if last else "naming", "rename": f"renaming {last}" if last else "renaming",
                "merge": "merging" + (f" into {names[0] or last}" if names and (names[0] or last) else ""),
                "move": f"moving a face to {last}" if last else "moving a face", "reject": "“not this person”",
                "split": "splitting", "alias": "changing aliases", "hide": "hiding" if "hid " in self.summary
                else "showing", "add": f"adding {last}" if last else "adding a person", "import": "importing names",
                "xmp": "names from other apps", "restore": "restoring decisions from the log"}
        return what.get(self.kind, self.summary)

    @property
    def done(self) -> str:
        """What it did, for the app's status line: "Moved a face to Ben", "Named Zoë" — no ids, unnamed people as
        "this person"."""
        names = [p.get("name") for p in self.people if isinstance(p, dict)]
        last = names[-1] if names and names[-1] else None
        first = names[0] if names and names[0] else None
        done = {"name": f"Named {last}" if last else "Named", "rename": f"Renamed {last}" if last else "Renamed",
                "merge": f"Merged into {first or last}" if first or last else "Merged",
                "move": f"Moved a face to {last}" if last else "Moved a face",
                "reject": f"Noted: not {last}" if last else "Noted: not this person",
                "split": "Split into a new person", "alias": "Changed the aliases",
                "hide": "Hidden" if "hid " in self.summary else "Shown", "add": f"Added {last}" if last else "Added",
                "import": "Imported names", "xmp": "Read names from other apps",
                "restore": "Restored decisions from the log"}
        return done.get(self.kind, self.summary[:1].upper() + self.summary[1:])

    def to_json(self) -> dict:
        return {"id": self.id, "at": round(self.at, 3), "kind": self.kind, "summary": self.summary,
                "title": self.title, "people": self.people, "undone": self.undone}


def _image(prefix: str, columns, blobs=()) -> str:
    """A row as a JSON object. Blobs as hex; a real as ["r", its 17 significant digits], which Python reads back as
    the same double (json_object writes 15 digits, and SQLite's own text-to-real conversion is off in the last bit
    now and then: an undone decision must give back exactly what was there)."""
    parts = []
    for c in columns:
        col = f"{prefix}.{c}"
        value = f"hex({col})" if c in blobs else f"CASE WHEN typeof({col}) = 'real' THEN json_array('r', printf('%!.17g', {col})) ELSE {col} END"
        parts.append(f"'{c}', {value}")
    return f"json_object({', '.join(parts)})"


def _triggers() -> list[str]:
    out = []
    insert = ("INSERT INTO decision_changes(decision_id, seq, tbl, before, after) SELECT d.id, "
              "(SELECT coalesce(max(seq), 0) + 1 FROM decision_changes WHERE decision_id = d.id), '{tbl}', {before}, "
              "{after} FROM temp.deciding d")
    for tbl, (_, cols, _) in TABLES.items():
        ins_cols, blobs = (FACE_ROW, FACE_BLOBS) if tbl == "faces" else (cols, ())
        out.append(f"CREATE TEMP TRIGGER IF NOT EXISTS journal_{tbl}_insert AFTER INSERT ON main.{tbl} BEGIN "
                   + insert.format(tbl=tbl, before="NULL", after=_image("NEW", ins_cols, blobs)) + "; END")
        out.append(f"CREATE TEMP TRIGGER IF NOT EXISTS journal_{tbl}_delete AFTER DELETE ON main.{tbl} BEGIN "
                   + insert.format(tbl=tbl, before=_image("OLD", ins_cols, blobs), after="NULL") + "; END")
        changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in cols)
        out.append(f"CREATE TEMP TRIGGER IF NOT EXISTS journal_{tbl}_update AFTER UPDATE ON main.{tbl} "
                   f"WHEN {changed} BEGIN "
                   + insert.format(tbl=tbl, before=_image("OLD", cols), after=_image("NEW", cols)) + "; END")
    return out


def _row(text: str | None) -> dict | None:
    if not text:
        return None
    return {k: float(v[1]) if isinstance(v, list) else v for k, v in json.loads(text).items()}


class JournalRepository:
    def __init__(self, db: sqlite_utils.Database):
        self.db = db
        self._armed = False

    # -- recording ----------------------------------------------------------------------------------------------
    def begin(self, kind: str) -> int:
        """Inside the caller's transaction: a new decision, recorded from now on. Decisions that were undone can no
        longer be redone (a new decision replaces them, as in every editor)."""
        self.db.execute("DELETE FROM decisions WHERE undone = 1")
        decision_id = self.db.execute("INSERT INTO decisions(at, kind, summary, people) VALUES (?, ?, '', '[]')",
                                      [time.time(), kind]).lastrowid
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS deciding(id INTEGER)")
        self.db.execute("DELETE FROM temp.deciding")
        self.db.execute("INSERT INTO temp.deciding(id) VALUES (?)", [decision_id])
        if not self._armed:
            for sql in _triggers():
                self.db.execute(sql)
            self._armed = True
        return rowid(decision_id)

    def end(self, decision_id: int, summary: str, people: list, keep: bool = True) -> bool:
        """Stop recording; the decision is kept with its words if it changed anything (or `keep` is False: it is
        dropped either way). Returns whether it was kept."""
        self.db.execute("DELETE FROM temp.deciding")
        changed = self.db.execute("SELECT count(*) FROM decision_changes WHERE decision_id = ?",
                                  [decision_id]).fetchone()[0]
        if not keep or not changed:
            self.db.execute("DELETE FROM decision_changes WHERE decision_id = ?", [decision_id])
            self.db.execute("DELETE FROM decisions WHERE id = ?", [decision_id])
            return False
        self.db.execute("UPDATE decisions SET summary = ?, people = ? WHERE id = ?",
                        [summary, json.dumps(people, ensure_ascii=False), decision_id])
        return True

    def abandon(self) -> None:
        """After a rollback: nothing is being recorded any more."""
        try:
            self.db.execute("DELETE FROM temp.deciding")
        except Exception:  # the temp table was never made
            pass

    # -- reading ------------------------------------------------------------------------------------------------
    def _decision(self, row) -> Decision:
        return Decision(row[0], row[1], row[2], row[3], json.loads(row[4] or "[]"), bool(row[5]))

    def history(self, limit: int | None = None) -> list[Decision]:
        """Newest first, undone ones included (they can be redone)."""
        sql = "SELECT id, at, kind, summary, people, undone FROM decisions ORDER BY id DESC"
        rows = self.db.execute(sql + (f" LIMIT {int(limit)}" if limit else "")).fetchall()
        return [self._decision(r) for r in rows]

    def last_done(self) -> Decision | None:
        row = self.db.execute("SELECT id, at, kind, summary, people, undone FROM decisions WHERE undone = 0 "
                              "ORDER BY id DESC LIMIT 1").fetchone()
        return self._decision(row) if row else None

    def first_undone(self) -> Decision | None:
        row = self.db.execute("SELECT id, at, kind, summary, people, undone FROM decisions WHERE undone = 1 "
                              "ORDER BY id LIMIT 1").fetchone()
        return self._decision(row) if row else None

    def changes(self, decision_id: int) -> list[tuple[str, dict | None, dict | None]]:
        return [(r[0], _row(r[1]), _row(r[2]))
                for r in self.db.execute("SELECT tbl, before, after FROM decision_changes WHERE decision_id = ? "
                                         "ORDER BY seq", [decision_id])]

    def set_undone(self, decision_id: int, undone: bool) -> None:
        self.db.execute("UPDATE decisions SET undone = ? WHERE id = ?", [int(undone), decision_id])

    # -- applying -----------------------------------------------------------------------------------------------
    def apply(self, decision_id: int, backwards: bool) -> None:
        """Put the rows of a decision back as they were before it (`backwards`), or as it left them. Inside the
        caller's transaction, with nothing being recorded."""
        changes = self.changes(decision_id)
        for tbl, before, after in (reversed(changes) if backwards else changes):
            old, new = (after, before) if backwards else (before, after)
            self._put(tbl, old, new)

    def _put(self, tbl: str, current: dict | None, wanted: dict | None) -> None:
        """Turn the row `current` (None: absent) into `wanted` (None: absent)."""
        keys = TABLES[tbl][0]
        if wanted is None:
            assert current is not None, "a change from nothing to nothing is never recorded"
            self.db.execute(f"DELETE FROM {tbl} WHERE " + " AND ".join(f"{k} = ?" for k in keys),
                            [current[k] for k in keys])
            return
        if tbl == "faces" and "embedding" in wanted:
            wanted = {k: (bytes.fromhex(v) if k in FACE_BLOBS and v is not None else v) for k, v in wanted.items()}
        if current is None:
            cols = list(wanted)
            self.db.execute(f"INSERT OR REPLACE INTO {tbl}({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                            [wanted[c] for c in cols])
            return
        cols = [c for c in wanted if c not in keys or current.get(c) != wanted[c]]
        self.db.execute(f"UPDATE OR REPLACE {tbl} SET {', '.join(f'{c} = ?' for c in cols)} WHERE "
                        + " AND ".join(f"{k} = ?" for k in keys), [wanted[c] for c in cols] + [current[k] for k in keys])

    # -- the decision log beside the backups (core.store.decision_log, core.faces.recovery) -------------------------
    def recovery_entry(self, decision_id: int, backwards: bool = False) -> dict | None:
        """What a decision (or its undo: `backwards`) left, for the decision log: each changed row as it is now
        (None: gone), in the order they were made, each face with where it is — the file's content fingerprint and
        path, the time in a video, the box — since a catalog restored and re-detected may know it by another id."""
        row = self.db.execute("SELECT at, kind, summary, people FROM decisions WHERE id = ?",
                              [decision_id]).fetchone()
        if row is None:
            return None
        changes = self.changes(decision_id)
        steps = [(tbl, after, before) for tbl, before, after in reversed(changes)] if backwards else \
            [(tbl, before, after) for tbl, before, after in changes]
        out, places = [], {}
        for tbl, old, new in steps:
            keys = TABLES[tbl][0]
            some = new if new is not None else old
            assert some is not None, "a change from nothing to nothing is never recorded"
            change = {"tbl": tbl, "key": {k: some[k] for k in keys}, "row": new}
            if not backwards:
                change["before"] = old  # for the history: a replayed decision can still be undone
            face_id = some["id"] if tbl == "faces" else some["face_id"] if tbl == "rejections" else None
            if face_id is not None:
                if face_id not in places:
                    places[face_id] = self.face_place(face_id, some if tbl == "faces" else None)
                change["face"] = places[face_id]
            out.append(change)
        return {"at": time.time(), "decision_at": row[0], "kind": row[1], "summary": row[2],
                "people": json.loads(row[3] or "[]"), "direction": "undo" if backwards else "do", "changes": out}

    def decision_made_at(self, at: float | None) -> int | None:
        """The decision made at this moment (its `at`, as recorded: a decision's identity in the decision log)."""
        row = self.db.execute("SELECT id FROM decisions WHERE at = ?", [at]).fetchone()
        return row[0] if row else None

    def restore_decision(self, at: float, kind: str, summary: str, people: list,
                         changes: list[tuple[str, dict | None, dict | None]]) -> int:
        """A decision of the decision log put back in the history, with the rows it changed (before, after), so that
        `people undo` after a repair takes it back as it would have. As a new decision does (begin), it ends the
        undone ones that could still have been redone."""
        self.db.execute("DELETE FROM decisions WHERE undone = 1")
        decision_id = rowid(self.db.execute("INSERT INTO decisions(at, kind, summary, people) VALUES (?, ?, ?, ?)",
                                            [at, kind, summary, json.dumps(people, ensure_ascii=False)]).lastrowid)
        for seq, (tbl, before, after) in enumerate(changes, 1):
            self.db.execute("INSERT INTO decision_changes(decision_id, seq, tbl, before, after) VALUES (?, ?, ?, ?, ?)",
                            [decision_id, seq, tbl, None if before is None else json.dumps(before),
                             None if after is None else json.dumps(after)])
        return decision_id

    def face_place(self, face_id: int, image: dict | None = None) -> dict | None:
        """Where a face is: {fingerprint, path, timestamp, box}; from a recorded whole row (`image`) when the face
        is gone. None for a reference photo's face (no file in the library) or a face nobody knows any more."""
        row = self.db.execute("SELECT m.fingerprint, m.path, f.timestamp, f.x, f.y, f.w, f.h FROM faces f "
                              "JOIN media m ON m.id = f.media_id WHERE f.id = ?", [face_id]).fetchone()
        if row is None and image is not None and image.get("media_id") is not None:
            media = self.db.execute("SELECT fingerprint, path FROM media WHERE id = ?", [image["media_id"]]).fetchone()
            if media is not None:
                row = (*media, image.get("timestamp"), image.get("x"), image.get("y"), image.get("w"), image.get("h"))
        if row is None:
            return None
        return {"fingerprint": row[0], "path": row[1], "timestamp": row[2], "box": [row[3], row[4], row[5], row[6]]}

    def face_by_id(self, face_id: int) -> dict | None:
        """A face's place and whether it is a reference photo's, to check that an id still means the same face."""
        row = self.db.execute("SELECT f.media_id, m.fingerprint, f.timestamp, f.x, f.y, f.w, f.h FROM faces f "
                              "LEFT JOIN media m ON m.id = f.media_id WHERE f.id = ?", [face_id]).fetchone()
        if row is None:
            return None
        return {"media_id": row[0], "fingerprint": row[1], "timestamp": row[2], "box": list(row[3:7])}

    def restore_row(self, tbl: str, key: dict, row: dict | None) -> bool:
        """Make the row of `tbl` with `key` be `row` (None: absent), with plain statements: where this catalog
        disagrees (a name another person holds here, a person that is not here), nothing changes and False is
        returned — never a REPLACE that would delete someone else's row."""
        keys = TABLES[tbl][0]
        where = " AND ".join(f"{k} = ?" for k in keys)
        params = [key[k] for k in keys]
        try:
            if row is None:
                self.db.execute(f"DELETE FROM {tbl} WHERE {where}", params)
                return True
            if tbl == "faces" and "embedding" in row:
                row = {k: (bytes.fromhex(v) if k in FACE_BLOBS and v is not None else v) for k, v in row.items()}
            exists = self.db.execute(f"SELECT 1 FROM {tbl} WHERE {where}", params).fetchone()
            if exists:
                cols = [c for c in row if c not in keys]
                if cols:
                    self.db.execute(f"UPDATE {tbl} SET {', '.join(f'{c} = ?' for c in cols)} WHERE {where}",
                                    [row[c] for c in cols] + params)
            else:
                cols = list(row)
                self.db.execute(f"INSERT INTO {tbl}({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                                [row[c] for c in cols])
            return True
        except sqlite3.IntegrityError as e:
            log.info("not restored: %s %s (%s)", tbl, key, e)
            return False

    def insert_face(self, row: dict) -> int:
        """A reference photo's face (a whole recorded row) under a new id; returns it."""
        row = {k: (bytes.fromhex(v) if k in FACE_BLOBS and v is not None else v) for k, v in row.items() if k != "id"}
        cols = list(row)
        return rowid(self.db.execute(f"INSERT INTO faces({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                                     [row[c] for c in cols]).lastrowid)
