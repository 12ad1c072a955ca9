"""Idlens benchmarks (`python -m bench`). Importing core first sets up the process as the app runs (one
OpenBLAS thread beside torch: see core/__init__.py) before any benchmark module imports numpy."""
import core  # noqa: F401
