"""Everything about the database: the catalog, its schema and its repositories. Nothing outside this package
runs SQL (tests/test_architecture.py checks it)."""
from .catalog import Catalog
from .errors import CatalogError
from .records import ERROR, INDEXED, MISSING, PENDING, FaceSighting, Hit, Media, Person
from .schema import SCHEMA_VERSION

__all__ = ["Catalog", "CatalogError", "ERROR", "INDEXED", "MISSING", "PENDING", "FaceSighting", "Hit", "Media",
           "Person", "SCHEMA_VERSION"]
