"""Shared fixtures: generated photos and videos, and libraries using the `tiny-test` model (random weights, built
from a config: the real open_clip, hnswlib, PyAV and SQLite code paths run, nothing is downloaded)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from tests import media_factory  # noqa: E402


@pytest.fixture(scope="session")
def shared_models(tmp_path_factory) -> Path:
    """One models folder for the whole run: the tiny test model is converted to ONNX once (12 s), not per test.
    Tests of installing itself use folders of their own."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path_factory, monkeypatch, shared_models):
    """No test reads or writes the user's real library, cache or model folder, or reaches a model hub."""
    base = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("IDLENS_CACHE", str(base / "cache"))
    monkeypatch.setenv("IDLENS_MODELS", str(shared_models))
    monkeypatch.setenv("IDLENS_LIBRARY", str(base / "library"))
    monkeypatch.setenv("IDLENS_LOG_DIR", str(base / "logs"))
    monkeypatch.setenv("HF_ENDPOINT", "https://127.0.0.1:9")  # a closed port: "offline" answers at once
    monkeypatch.setenv("IDLENS_HUB", "https://127.0.0.1:9")
    monkeypatch.delenv("IDLENS_MODEL", raising=False)
    yield


@pytest.fixture
def make_library(tmp_path):
    from core.library import Library

    opened = []

    def _make(name: str = "library", model: str = "tiny-test") -> Library:
        lib = Library(tmp_path / name, model)
        opened.append(lib)
        return lib

    yield _make
    for lib in opened:
        lib.close()


@pytest.fixture
def photos(tmp_path) -> Path:
    """A folder of six distinct generated photos, one in a subfolder."""
    folder = tmp_path / "photos"
    for i in range(5):
        media_factory.photo(folder / f"photo{i}.jpg", seed=i)
    media_factory.photo(folder / "trip" / "beach.png", seed=42)
    return folder


media = media_factory
