"""The catalog's schema: one migration function per version, never edited once released (a library written by
an older Idlens replays exactly the steps it missed). Version 3 and later use sqlite-utils' table operations."""
from __future__ import annotations

import logging
import sqlite_utils

log = logging.getLogger(__name__)

SCHEMA_VERSION = 7


def _migrate_1(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE roots (
            path TEXT PRIMARY KEY,
            added_at REAL NOT NULL
        );
        -- Files or folders the user removed from the library: scans pass them by until they are indexed again.
        CREATE TABLE excluded (
            path TEXT PRIMARY KEY,
            added_at REAL NOT NULL
        );
        CREATE TABLE media (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL CHECK (kind IN ('image', 'video')),
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            fingerprint TEXT NOT NULL,
            width INTEGER,
            height INTEGER,
            duration REAL,
            captured_at TEXT,
            status TEXT NOT NULL,
            error TEXT,
            added_at REAL NOT NULL,
            indexed_at REAL
        );
        CREATE INDEX media_fingerprint ON media(fingerprint);
        CREATE INDEX media_status ON media(status);
        CREATE TABLE frames (
            id INTEGER PRIMARY KEY,
            media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
            timestamp REAL NOT NULL,
            scene_change INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX frames_media ON frames(media_id);
        CREATE TABLE models (
            id INTEGER PRIMARY KEY,
            spec TEXT NOT NULL UNIQUE,
            dim INTEGER NOT NULL,
            created_at REAL NOT NULL
        );
        -- A searchable item: a photo, or one sampled frame of a video. `label` is its id in the vector index.
        CREATE TABLE items (
            label INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a label stays one item forever
            media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
            frame_id INTEGER REFERENCES frames(id) ON DELETE CASCADE,
            model_id INTEGER NOT NULL REFERENCES models(id),
            vector BLOB NOT NULL
        );
        CREATE INDEX items_media ON items(media_id);
        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT
        );
        """
    )


def _migrate_2(db: sqlite_utils.Database) -> None:
    """Faces and people. A face belongs to a photo or to a sampled video frame; faces of one person seen in
    consecutive frames form a track. `confirmed` marks the user's own decisions, which automatic clustering never
    undoes; `rejections` remembers "not this person" for good."""
    db.executescript(
        """
        ALTER TABLE media ADD COLUMN faces_backend TEXT;  -- the recogniser that analysed this file, if any
        CREATE TABLE people (
            id INTEGER PRIMARY KEY,
            name TEXT,
            hidden INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL
        );
        CREATE UNIQUE INDEX people_name ON people(name COLLATE NOCASE) WHERE name IS NOT NULL;
        CREATE TABLE tracks (
            id INTEGER PRIMARY KEY,
            media_id INTEGER NOT NULL REFERENCES media(id) ON DELETE CASCADE,
            start REAL NOT NULL,
            end REAL NOT NULL
        );
        CREATE TABLE faces (
            id INTEGER PRIMARY KEY,
            media_id INTEGER REFERENCES media(id) ON DELETE CASCADE,  -- NULL: a reference photo outside the library
            frame_id INTEGER REFERENCES frames(id) ON DELETE CASCADE,
            track_id INTEGER REFERENCES tracks(id) ON DELETE SET NULL,
            timestamp REAL,
            x REAL NOT NULL, y REAL NOT NULL, w REAL NOT NULL, h REAL NOT NULL,  -- pixels of the upright original
            landmarks BLOB NOT NULL,
            score REAL NOT NULL,
            size REAL NOT NULL,        -- short side of the box, in the pixels the recogniser saw
            sharpness REAL NOT NULL,
            usable INTEGER NOT NULL,   -- big, sharp and certain enough to found or join a person
            embedding BLOB NOT NULL,
            backend TEXT NOT NULL,
            person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
            confirmed INTEGER NOT NULL DEFAULT 0,
            source TEXT,               -- for reference faces: the photo they came from
            created_at REAL NOT NULL
        );
        CREATE INDEX faces_media ON faces(media_id);
        CREATE INDEX faces_person ON faces(person_id);
        CREATE INDEX faces_track ON faces(track_id);
        CREATE TABLE rejections (
            face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
            person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
            PRIMARY KEY (face_id, person_id)
        );
        """
    )


def _migrate_3(db: sqlite_utils.Database) -> None:
    """A face analysis that failed is recorded (and retried by the next index) instead of passing for "no faces"."""
    db.table("media").add_column("faces_error", str)


def _migrate_4(db: sqlite_utils.Database) -> None:
    """Names in any script: each name also stored in its comparison form (core.names.key; SQLite's NOCASE folds
    ASCII only, so "Łukasz" and "łukasz" were two names), and aliases ("Mum", "Sasha" for "Aleksandra")."""
    from core.names import key

    db.table("people").add_column("name_key", str)
    for person_id, name in db.execute("SELECT id, name FROM people WHERE name IS NOT NULL").fetchall():
        db.execute("UPDATE people SET name_key = ? WHERE id = ?", [key(name), person_id])
    db.execute("DROP INDEX people_name")
    db.table("people").create_index(["name_key"], index_name="people_name_key")
    db.executescript(
        """
        CREATE TABLE aliases (
            person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
            alias TEXT NOT NULL,        -- as the user typed it
            alias_key TEXT NOT NULL,    -- core.names.key(alias)
            PRIMARY KEY (person_id, alias_key)
        );
        CREATE INDEX aliases_key ON aliases(alias_key);
        """
    )


def _migrate_5(db: sqlite_utils.Database) -> None:
    """Reasons in plain words: `error` and `faces_error` say what is wrong as a user would put it; the library's own
    words (Pillow's, PyAV's, the recogniser's) are kept beside them."""
    db.table("media").add_column("error_detail", str)
    db.table("media").add_column("faces_error_detail", str)


def _migrate_6(db: sqlite_utils.Database) -> None:
    """The decision journal (core.faces.journal): every decision the user makes about people, with the exact rows
    it changed (before and after), so undo restores the library exactly and redo re-applies it. And `voter`: a face
    good enough to vote on who its video appearance is (every frame's face, not only the track's best one, which
    alone is `usable`). And `face_groups`, the grouping of free faces kept between runs."""
    db.executescript(
        """
        CREATE TABLE decisions (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            kind TEXT NOT NULL,        -- name, rename, merge, move, reject, split, alias, hide, add, import, xmp
            summary TEXT NOT NULL,     -- in words, as history and Edit > Undo show it
            people TEXT NOT NULL,      -- JSON: the ids and names it was about
            undone INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE decision_changes (
            decision_id INTEGER NOT NULL REFERENCES decisions(id) ON DELETE CASCADE,
            seq INTEGER NOT NULL,
            tbl TEXT NOT NULL,         -- people, aliases, rejections, faces
            before TEXT,               -- JSON row image (NULL: the row did not exist)
            after TEXT,                -- JSON row image (NULL: the row was deleted)
            PRIMARY KEY (decision_id, seq)
        );
        ALTER TABLE faces ADD COLUMN voter INTEGER NOT NULL DEFAULT 0;
        UPDATE faces SET voter = usable;
        -- A cache of the last grouping of the faces that joined nobody (core.faces.rule.Grouping): rebuilt from
        -- scratch when missing. No foreign key: a face that is gone must still be seen as gone from its part.
        CREATE TABLE face_groups (
            face_id INTEGER PRIMARY KEY,
            part INTEGER NOT NULL,
            grp INTEGER NOT NULL
        );
        """
    )


def _migrate_7(db: sqlite_utils.Database) -> None:
    """Names other apps wrote into XMP (core.faces.regions): which sources of a photo were imported (so a sidecar
    that changes is read again), why they could not be read, and, on a face, where its name came from."""
    db.executescript(
        """
        ALTER TABLE media ADD COLUMN regions_read TEXT;          -- JSON [[path, size, mtime_ns], ...] imported
        ALTER TABLE media ADD COLUMN regions_error TEXT;
        ALTER TABLE media ADD COLUMN regions_error_detail TEXT;
        ALTER TABLE faces ADD COLUMN named_from TEXT;            -- "digiKam sidecar", ...; NULL: named in Idlens
        ALTER TABLE faces ADD COLUMN named_as TEXT;              -- the name that app gave it, as read
        """
    )


MIGRATIONS = {1: _migrate_1, 2: _migrate_2, 3: _migrate_3, 4: _migrate_4, 5: _migrate_5, 6: _migrate_6,
              7: _migrate_7}
