"""The sidebar says where the window is, and the status line says what it shows (issue 21, from a newcomer's day):
the entry clicked stays highlighted across the refills that follow every index and decision, People in the toolbar
always goes back to everyone, and browsing never keeps the last search's "1 result for …"."""
import os

from PySide6.QtCore import QSettings, Qt

from app.gui import open_window
from tests import media_factory as mf

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _entry(window, kind):
    for item in window.sidebar.findItems("*", Qt.MatchFlag.MatchWildcard | Qt.MatchFlag.MatchRecursive):
        data = item.data(0, Qt.ItemDataRole.UserRole)
        if data and data[0] == kind:
            return item
    raise AssertionError(f"no {kind} entry")


def test_the_sidebar_marks_where_the_window_is_and_the_status_line_what_it_shows(qtbot, tmp_path):
    album = tmp_path / "album"
    for i in range(3):
        mf.photo(album / f"p{i}.jpg", 90 + i)
    window = open_window(str(tmp_path / "lib"), "tiny-test",
                         QSettings(str(tmp_path / "app.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    try:
        with qtbot.waitSignal(window.engine.indexFinished, timeout=120_000):
            window.engine.index([str(album)])
        qtbot.waitUntil(lambda: window.model.rowCount() == 3, timeout=30_000)
        window.search_for("a photo")
        qtbot.waitUntil(lambda: "result" in window.message.text(), timeout=30_000)
        folder = _entry(window, "folder")
        window.sidebar.itemClicked.emit(folder, 0)
        qtbot.waitUntil(lambda: window.message.text() == "3 files in album", timeout=30_000)
        window.engine.refresh()  # a refill, as after every index and decision
        qtbot.waitUntil(lambda: window.sidebar.currentItem() is not None
                        and window.sidebar.currentItem().data(0, Qt.ItemDataRole.UserRole)[0] == "folder",
                        timeout=30_000)
        window.sidebar.itemClicked.emit(_entry(window, "all"), 0)
        qtbot.waitUntil(lambda: window.message.text() == "3 photos", timeout=30_000)  # not "3 results for …"
        window.people.pages.setCurrentWidget(window.people.page)  # the last person's page, left open
        window.show_people()
        assert window.people.pages.currentWidget() is window.people.list_page
        assert window.sidebar.currentItem().data(0, Qt.ItemDataRole.UserRole) == ("people", None)
        assert "named" in window.message.text() and "to name" in window.message.text()
    finally:
        window.close()


def test_help_about_says_what_and_where(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    window = open_window(str(tmp_path / "lib"), "tiny-test",
                         QSettings(str(tmp_path / "app.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    shown = []
    monkeypatch.setattr(QMessageBox, "about", lambda parent, title, text: shown.append((title, text)))
    try:
        about = next(a for m in window.menuBar().actions() if m.text() == "&Help" for a in m.menu().actions()
                     if a.text() == "About Idlens")
        about.trigger()
        title, text = shown[0]
        assert title == "About Idlens" and str(tmp_path / "lib") in text and "YuNet" in text
    finally:
        window.close()


def test_find_similar_photos_searches_by_the_photo(qtbot, tmp_path):
    album = tmp_path / "album"
    for i in range(3):
        mf.photo(album / f"p{i}.jpg", 95 + i)
    window = open_window(str(tmp_path / "lib"), "tiny-test",
                         QSettings(str(tmp_path / "app.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    try:
        with qtbot.waitSignal(window.engine.indexFinished, timeout=120_000):
            window.engine.index([str(album)])
        qtbot.waitUntil(lambda: window.model.rowCount() == 3, timeout=30_000)
        first = window.model.rows[0]["path"]
        window.grid.setCurrentIndex(window.model.index(0))
        window.grid.selectionModel().select(window.model.index(0), window.grid.selectionModel().SelectionFlag.Select)
        window._grid_menu(window.grid.visualRect(window.model.index(0)).center())
        similar = next(a for a in window.grid_menu.actions() if a.text() == "Find similar photos")
        similar.trigger()
        qtbot.waitUntil(lambda: "result" in window.message.text() and "like p" in window.message.text(),
                        timeout=30_000)
        assert window.model.rows[0]["path"] == first  # the photo itself is the most like itself
        window.grid_menu.close()
    finally:
        window.close()
