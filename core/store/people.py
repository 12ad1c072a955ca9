"""People and their names. A person's faces live in the faces table (`faces.person_id`)."""
from __future__ import annotations

import logging
import time

import sqlite_utils

from core.names import key

from .records import Person, inserted

log = logging.getLogger(__name__)

_SUMMARY = (
    "SELECT p.id, p.name, p.hidden, count(f.id), count(DISTINCT f.media_id), coalesce(sum(f.confirmed), 0), "
    "(SELECT id FROM faces WHERE person_id = p.id ORDER BY confirmed DESC, usable DESC, size * score DESC LIMIT 1) "
    "FROM people p LEFT JOIN faces f ON f.person_id = p.id ")


class PeopleRepository:
    def __init__(self, db: sqlite_utils.Database):
        self.db = db

    def create(self, name: str | None = None) -> int:
        return inserted(self.db, "people", {"name": name, "name_key": key(name) if name else None, "hidden": 0,
                                            "created_at": time.time()})

    def summaries(self, include_hidden: bool = False, named_only: bool = False) -> list[Person]:
        """Named people first (by name), then unnamed groups, biggest first; empty unnamed groups are left out."""
        where = [] if include_hidden else ["p.hidden = 0"]
        if named_only:
            where.append("p.name IS NOT NULL")
        sql = (_SUMMARY + (f"WHERE {' AND '.join(where)} " if where else "")
               + "GROUP BY p.id HAVING count(f.id) > 0 OR p.name IS NOT NULL "
               "ORDER BY p.name IS NULL, lower(p.name), count(DISTINCT f.media_id) DESC, p.id")
        aliases = self.all_aliases()
        return [Person(r[0], r[1], bool(r[2]), r[3], r[4], r[5], r[6], aliases.get(r[0], []))
                for r in self.db.execute(sql)]

    def summary(self, person_id: int) -> Person | None:
        r = self.db.execute(_SUMMARY + "WHERE p.id = ? GROUP BY p.id", [person_id]).fetchone()
        return Person(r[0], r[1], bool(r[2]), r[3], r[4], r[5], r[6], self.aliases_of(person_id)) if r else None

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM people").fetchone()[0]

    def exists(self, person_id: int) -> bool:
        return self.db.execute("SELECT 1 FROM people WHERE id = ?", [person_id]).fetchone() is not None

    def id_by_name(self, name: str, except_id: int | None = None) -> int | None:
        """The person with this name, compared in core.names' normal form (any script, any case)."""
        row = self.db.execute("SELECT id FROM people WHERE name_key = ? AND id IS NOT ? ORDER BY id",
                              [key(name), except_id]).fetchone()
        return row[0] if row else None

    def id_by_alias(self, alias: str) -> int | None:
        row = self.db.execute("SELECT person_id FROM aliases WHERE alias_key = ? ORDER BY person_id",
                              [key(alias)]).fetchone()
        return row[0] if row else None

    def name_entries(self) -> list[tuple[int, str, str, str]]:
        """(person id, name, what may be typed for them, "name" or "alias") for every named person's name and
        aliases: what query understanding and completion match against."""
        out = [(r[0], r[1], r[1], "name") for r in self.db.execute(
            "SELECT id, name FROM people WHERE name IS NOT NULL ORDER BY id")]
        out += [(r[0], r[1], r[2], "alias") for r in self.db.execute(
            "SELECT a.person_id, p.name, a.alias FROM aliases a JOIN people p ON p.id = a.person_id "
            "WHERE p.name IS NOT NULL ORDER BY a.person_id, a.alias")]
        return out

    # -- aliases ----------------------------------------------------------------------------------------------------
    def add_alias(self, person_id: int, alias: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO aliases(person_id, alias, alias_key) VALUES (?, ?, ?)",
                        [person_id, alias, key(alias)])

    def remove_alias(self, person_id: int, alias: str) -> bool:
        return self.db.execute("DELETE FROM aliases WHERE person_id = ? AND alias_key = ?",
                               [person_id, key(alias)]).rowcount > 0

    def aliases_of(self, person_id: int) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT alias FROM aliases WHERE person_id = ? ORDER BY alias",
                                              [person_id])]

    def all_aliases(self) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for person_id, alias in self.db.execute("SELECT person_id, alias FROM aliases ORDER BY alias"):
            out.setdefault(person_id, []).append(alias)
        return out

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
        self.db.execute("UPDATE people SET name = ?, name_key = ? WHERE id = ?",
                        [name, key(name) if name else None, person_id])

    def set_hidden(self, person_id: int, hidden: bool) -> None:
        self.db.execute("UPDATE people SET hidden = ? WHERE id = ?", [int(hidden), person_id])

    def merge(self, target: int, source: int) -> None:
        """`source` joins `target`: its faces and its "not this person" answers move over; `source` is gone. A face
        rejected by either stays rejected by the merged person, and leaves it if it was in `source`."""
        name, source_name = self.name_of(target), self.name_of(source)
        self.db.execute("UPDATE OR IGNORE rejections SET person_id = ? WHERE person_id = ?", [target, source])
        self.db.execute("UPDATE OR IGNORE aliases SET person_id = ? WHERE person_id = ?", [target, source])
        self.db.execute("UPDATE faces SET person_id = ? WHERE person_id = ?", [target, source])
        self.db.execute("UPDATE faces SET person_id = NULL, confirmed = 0 WHERE person_id = ? AND id IN "
                        "(SELECT face_id FROM rejections WHERE person_id = ?)", [target, target])
        self.db.execute("DELETE FROM people WHERE id = ?", [source])
        if name is None and source_name:
            self.rename(target, source_name)
        elif name and source_name and key(name) != key(source_name):
            self.add_alias(target, source_name)  # the merged person is still found by the other name

    def drop_empty_unnamed(self) -> None:
        self.db.execute("DELETE FROM people WHERE name IS NULL AND id NOT IN "
                        "(SELECT person_id FROM faces WHERE person_id IS NOT NULL)")

    def media_by_kind(self) -> dict[int, dict[str, int]]:
        """person id -> {kind ("image", "video"): how many files of that kind hold a face of theirs}."""
        out: dict[int, dict[str, int]] = {}
        for person_id, kind, n in self.db.execute(
                "SELECT f.person_id, m.kind, count(DISTINCT f.media_id) FROM faces f JOIN media m ON m.id = f.media_id "
                "WHERE f.person_id IS NOT NULL GROUP BY f.person_id, m.kind"):
            out.setdefault(person_id, {})[kind] = n
        return out
