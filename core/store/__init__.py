"""Everything about the database: the catalog, its schema and its repositories. Nothing outside this package
runs SQL (tests/test_architecture.py checks it)."""
from .backups import Backup, Backups
from .catalog import Catalog
from .errors import CatalogError
from .health import CatalogDamaged
from .records import ERROR, INDEXED, MISSING, OFFLINE, PENDING, FaceSighting, Hit, Media, Person
from .schema import SCHEMA_VERSION

__all__ = ["Backup", "Backups", "Catalog", "CatalogDamaged", "CatalogError", "ERROR", "INDEXED", "MISSING", "OFFLINE",
           "PENDING", "FaceSighting", "Hit", "Media",
           "Person", "SCHEMA_VERSION"]
