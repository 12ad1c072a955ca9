"""The keyboard in the main window, as in Apple Photos: Tab goes from the search field to the results, the current
tile shows where the keyboard is, and the sort box never changes from an arrow key meant for the grid."""
import os

import pytest
from PySide6.QtCore import QSettings, Qt

from app.gui import open_window
from tests import media_factory as mf

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def indexed_window(qtbot, tmp_path, album, files: int):
    """The real main window, shown, with `album` indexed and its `files` in the grid."""
    settings = QSettings(str(tmp_path / "app.ini"), QSettings.Format.IniFormat)
    window = open_window(str(tmp_path / "lib"), "tiny-test", settings)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.engine.indexFinished, timeout=120_000):
        window.engine.index([str(album)])
    qtbot.waitUntil(lambda: window.model.rowCount() == files, timeout=30_000)
    return window


@pytest.fixture
def window(qtbot, tmp_path):
    album = tmp_path / "album"
    for i in range(4):
        mf.photo(album / f"p{i}.jpg", 40 + i)
    window = indexed_window(qtbot, tmp_path, album, 4)
    yield window
    window.close()


def test_tab_from_search_reaches_the_grid_and_arrows_never_change_the_sort(qtbot, window):
    window.search_field.setText("a photo")
    window.search_field.setFocus()
    qtbot.keyClick(window.search_field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.sort_box.isEnabled() and window.model.rowCount() == 4, timeout=30_000)
    window.activateWindow()
    window.search_field.setFocus()
    qtbot.waitUntil(lambda: window.search_field.hasFocus(), timeout=5_000)
    qtbot.keyClick(window.search_field, Qt.Key.Key_Tab)
    qtbot.waitUntil(lambda: window.grid.hasFocus(), timeout=5_000)   # the results, not the sort box
    qtbot.keyClick(window.grid, Qt.Key.Key_Tab)
    qtbot.waitUntil(lambda: window.sort_box.hasFocus(), timeout=5_000)
    before = window.sort_box.currentIndex()
    for key in (Qt.Key.Key_Down, Qt.Key.Key_Down, Qt.Key.Key_Up, Qt.Key.Key_End):
        qtbot.keyClick(window.sort_box, key)
        window.sort_box.hidePopup()
    assert window.sort_box.currentIndex() == before == 0  # still "Best match"


def test_the_current_tile_shows_a_focus_ring(qtbot, window):
    window.grid.setFocus()
    window.grid.setCurrentIndex(window.model.index(1, 0))
    qtbot.waitUntil(lambda: window.grid.hasFocus(), timeout=5_000)
    rect = window.grid.visualRect(window.model.index(1, 0))
    selected = window.grid.selectionModel().isSelected(window.model.index(1, 0))
    ring = window.grid.palette().highlight().color()
    ring = ring.darker(140) if selected else ring  # on a selected tile, a darker ring than its fill

    def ring_pixels() -> int:
        image = window.grid.viewport().grab().toImage()
        edge = [image.pixelColor(rect.left() + 3, y) for y in range(rect.top() + 10, rect.bottom() - 10)]
        return sum(1 for c in edge if abs(c.red() - ring.red()) + abs(c.green() - ring.green())
                   + abs(c.blue() - ring.blue()) < 60)

    window.grid.viewport().grab().save(os.path.join(os.environ.get("IDLENS_SHOTS", "/tmp"), "keys-focus.png"))
    qtbot.waitUntil(lambda: ring_pixels() > 20, timeout=5_000)
