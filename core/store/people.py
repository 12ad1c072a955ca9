"""People and their names. A person's faces live in the faces table (`faces.person_id`)."""
from __future__ import annotations

import logging
import time

import sqlite_utils

from .records import Person

log = logging.getLogger(__name__)

_SUMMARY = (
    "SELECT p.id, p.name, p.hidden, count(f.id), count(DISTINCT f.media_id), coalesce(sum(f.confirmed), 0), "
    "(SELECT id FROM faces WHERE person_id = p.id ORDER BY confirmed DESC, usable DESC, size * score DESC LIMIT 1) "
    "FROM people p LEFT JOIN faces f ON f.person_id = p.id ")


class PeopleRepository:
    def __init__(self, db: sqlite_utils.Database):
        self.db = db

    def create(self, name: str | None = None) -> int:
        return self.db["people"].insert({"name": name, "hidden": 0, "created_at": time.time()}).last_pk

    def summaries(self, include_hidden: bool = False, named_only: bool = False) -> list[Person]:
        """Named people first (by name), then unnamed groups, biggest first; empty unnamed groups are left out."""
        where = [] if include_hidden else ["p.hidden = 0"]
        if named_only:
            where.append("p.name IS NOT NULL")
        sql = (_SUMMARY + (f"WHERE {' AND '.join(where)} " if where else "")
               + "GROUP BY p.id HAVING count(f.id) > 0 OR p.name IS NOT NULL "
               "ORDER BY p.name IS NULL, lower(p.name), count(DISTINCT f.media_id) DESC, p.id")
        return [Person(r[0], r[1], bool(r[2]), r[3], r[4], r[5], r[6]) for r in self.db.execute(sql)]

    def summary(self, person_id: int) -> Person | None:
        r = self.db.execute(_SUMMARY + "WHERE p.id = ? GROUP BY p.id", [person_id]).fetchone()
        return Person(r[0], r[1], bool(r[2]), r[3], r[4], r[5], r[6]) if r else None

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM people").fetchone()[0]

    def exists(self, person_id: int) -> bool:
        return self.db.execute("SELECT 1 FROM people WHERE id = ?", [person_id]).fetchone() is not None

    def id_by_name(self, name: str, except_id: int | None = None) -> int | None:
        row = self.db.execute("SELECT id FROM people WHERE name = ? COLLATE NOCASE AND id IS NOT ?",
                              [name, except_id]).fetchone()
        return row[0] if row else None

    def names(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.db.execute("SELECT name, id FROM people WHERE name IS NOT NULL")}

    def named(self) -> list[tuple[int, str, bool]]:
        """(id, name, hidden) of every named person, by name."""
        return [(r[0], r[1], bool(r[2])) for r in self.db.execute(
            "SELECT id, name, hidden FROM people WHERE name IS NOT NULL ORDER BY name")]

    def unnamed_ids(self) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT id FROM people WHERE name IS NULL ORDER BY id")]

    def name_of(self, person_id: int) -> str | None:
        row = self.db.execute("SELECT name FROM people WHERE id = ?", [person_id]).fetchone()
        return row[0] if row else None

    def rename(self, person_id: int, name: str | None) -> None:
        self.db.execute("UPDATE people SET name = ? WHERE id = ?", [name, person_id])

    def set_hidden(self, person_id: int, hidden: bool) -> None:
        self.db.execute("UPDATE people SET hidden = ? WHERE id = ?", [int(hidden), person_id])

    def merge(self, target: int, source: int) -> None:
        """`source` joins `target`: its faces and its "not this person" answers move over; `source` is gone. A face
        rejected by either stays rejected by the merged person, and leaves it if it was in `source`."""
        name, source_name = self.name_of(target), self.name_of(source)
        self.db.execute("UPDATE OR IGNORE rejections SET person_id = ? WHERE person_id = ?", [target, source])
        self.db.execute("UPDATE faces SET person_id = ? WHERE person_id = ?", [target, source])
        self.db.execute("UPDATE faces SET person_id = NULL, confirmed = 0 WHERE person_id = ? AND id IN "
                        "(SELECT face_id FROM rejections WHERE person_id = ?)", [target, target])
        self.db.execute("DELETE FROM people WHERE id = ?", [source])
        if name is None and source_name:
            self.rename(target, source_name)

    def drop_empty_unnamed(self) -> None:
        self.db.execute("DELETE FROM people WHERE name IS NULL AND id NOT IN "
                        "(SELECT person_id FROM faces WHERE person_id IS NOT NULL)")
