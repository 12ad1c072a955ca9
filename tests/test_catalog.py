import sqlite3

import pytest

from core.store import SCHEMA_VERSION, Catalog, CatalogError


def test_new_catalog_is_wal_and_versioned(tmp_path):
    c = Catalog(tmp_path / "c.db")
    assert c.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert c.schema_version == SCHEMA_VERSION
    assert {"media", "frames", "items", "models", "roots", "meta"} <= set(c.db.table_names())
    c.close()


def test_reopening_keeps_rows(tmp_path):
    c = Catalog(tmp_path / "c.db")
    with c.transaction():
        c.media.add("/p/a.jpg", "image", 10, 1, "fp")
    c.close()
    c = Catalog(tmp_path / "c.db")
    assert c.media.by_path("/p/a.jpg").fingerprint == "fp"
    c.close()


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "c.db"
    Catalog(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(CatalogError, match="newer Idlens"):
        Catalog(path)


def test_failed_transaction_writes_nothing(tmp_path):
    c = Catalog(tmp_path / "c.db")
    with pytest.raises(RuntimeError):
        with c.transaction():
            c.media.add("/p/a.jpg", "image", 10, 1, "fp")
            raise RuntimeError("boom")
    assert c.media.by_path("/p/a.jpg") is None
    c.close()


def test_known_files_is_limited_to_the_folder(tmp_path):
    c = Catalog(tmp_path / "c.db")
    with c.transaction():
        c.media.add("/p/a.jpg", "image", 1, 1, "1")
        c.media.add("/p/sub/b.jpg", "image", 1, 1, "2")
        c.media.add("/p2/c.jpg", "image", 1, 1, "3")
    assert set(c.media.known_files("/p")) == {"/p/a.jpg", "/p/sub/b.jpg"}
    assert set(c.media.known_files("/p/a.jpg")) == {"/p/a.jpg"}
    c.close()


def test_damaged_settings_fall_back_to_defaults(tmp_path):
    from core.settings import Settings

    path = tmp_path / "settings.json"
    path.write_text("{not json")
    assert Settings.load(path) == Settings()
    path.write_text('{"video_interval": 5.0, "unknown_key": 1}')
    assert Settings.load(path).video_interval == 5.0


def test_a_version_1_catalog_is_migrated_and_keeps_its_rows(tmp_path):
    import sqlite_utils

    from core.store import schema

    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    schema._migrate_1(db)
    db.execute("PRAGMA user_version=1")
    db.execute("INSERT INTO media(path, kind, size, mtime_ns, fingerprint, status, added_at) "
               "VALUES ('/p/a.jpg', 'image', 1, 1, 'fp', 'indexed', 0)")
    db.conn.commit()
    db.conn.close()
    c = Catalog(path)
    assert c.schema_version == SCHEMA_VERSION
    assert c.media.by_path("/p/a.jpg").faces_backend is None
    assert {"faces", "people", "tracks", "rejections"} <= set(c.db.table_names())
    c.close()


def test_settings_are_typed_and_renamed_keys_still_load(tmp_path):
    import pytest

    from core.settings import Settings, SettingsError

    path = tmp_path / "settings.json"
    path.write_text('{"batch_size": "big", "faces": "yes", "video_interval": 5, "face_match": true, '
                    '"thumbnail_size": 320, "image_encoder": "gpu", "idclip_checkpoint": null}')
    s = Settings.load(path)
    assert s.batch_size == Settings().batch_size and s.faces is True and s.face_match == Settings().face_match
    assert s.video_interval == 5.0 and isinstance(s.video_interval, float)
    assert s.decode_min_side == 320 and s.image_encoder == "onnx-int8"
    for bad in (dict(batch_size="16"), dict(decode_min_side=0), dict(faces=1), dict(image_encoder="gpu")):
        with pytest.raises(SettingsError):
            Settings(**bad).save(tmp_path / "refused.json")
    assert not (tmp_path / "refused.json").exists()


def test_names_of_a_version_3_catalog_get_their_comparison_form(tmp_path):
    import sqlite_utils

    from core.store import schema

    path = tmp_path / "v3.db"
    db = sqlite_utils.Database(path)
    for step in (schema._migrate_1, schema._migrate_2, schema._migrate_3):
        step(db)
    db.execute("PRAGMA user_version=3")
    db.execute("INSERT INTO people(name, created_at) VALUES ('Łukasz', 0), ('O’Brien', 0), (NULL, 0)")
    db.conn.commit()
    db.conn.close()
    c = Catalog(path)
    assert c.schema_version == SCHEMA_VERSION
    assert c.people.id_by_name("ŁUKASZ") == 1 and c.people.id_by_name("o'brien") == 2
    with c.transaction():
        c.people.add_alias(1, "Lukas")
    assert c.people.id_by_alias("LUKAS") == 1 and c.people.aliases_of(1) == ["Lukas"]
    c.close()


def test_a_new_catalog_is_made_on_a_filesystem_without_hard_links(tmp_path, monkeypatch):
    """A library on a FAT or exFAT drive: the new catalog is renamed into place instead of linked."""
    import errno
    import os

    from core.store import Catalog

    def no_links(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    catalog = Catalog(tmp_path / "catalog.db")
    assert catalog.schema_version > 0 and catalog.media.count() == 0
    catalog.close()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".new")] == []
