"""The placeholder window: it opens offscreen and shows the library's state."""
import os
from pathlib import Path

from PySide6.QtWidgets import QLabel

from app.gui import build_window
from core.indexer import IndexJob
from core.library import Library


def test_window_shows_library_summary(qtbot, tmp_path, photos):
    lib = Library(tmp_path / "lib", "tiny-test")
    for _ in IndexJob(lib, [str(photos)]).run():
        pass
    lib.close()
    window = build_window(str(tmp_path / "lib"))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    summary = window.findChild(QLabel, "summary").text()
    assert "6 images" in summary and "tiny-test" in summary and "useless" in summary
    shots = os.environ.get("IDLENS_SCREENSHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        window.grab().save(str(Path(shots) / "placeholder-window.png"))
