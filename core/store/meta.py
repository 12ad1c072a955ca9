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
        self.db["meta"].upsert({"key": key, "value": value}, pk="key")
