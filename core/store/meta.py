"""Key/value facts of a library: its model, the vector index's generation and dirty flag."""
from __future__ import annotations

import logging
import sqlite_utils

log = logging.getLogger(__name__)


class MetaRepository:
    def __init__(self, db: sqlite_utils.Database):
        self.db = db

    def get(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else default

    def set(self, key: str, value: str | None) -> None:
        self.db.table("meta").upsert({"key": key, "value": value}, pk="key")

    def setdefault(self, key: str, value: str) -> str:
        """The key's value, `value` written first when it has none: one statement, so two connections asking at
        once (the app's threads) both get the value the first one wrote."""
        self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
                        "value = coalesce(value, excluded.value)", [key, value])
        got = self.get(key)
        return got if got is not None else value
