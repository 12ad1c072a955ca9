"""First run as a newcomer meets it (issue 21, case 2): one path whether the user drops a folder or presses
Download — the whole download in megabytes with its rate and time left, a conversion step by step, plain words when
offline, a "Try again" that goes on with the files found — and an empty page that agrees with the sidebar."""
import os

import pytest
from PySide6.QtCore import QSettings

from app.gui import open_window
from tests import media_factory as mf

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

PUBLISHED = "ViT-B-32-256:datacomp_s34b_b86k"  # the default: a published export, downloaded on first use


def _sidebar_texts(window) -> list[str]:
    out = []
    for i in range(window.sidebar.topLevelItemCount()):
        top = window.sidebar.topLevelItem(i)
        out.append(top.text(0))
        out += [top.child(j).text(0) for j in range(top.childCount())]
    return out


@pytest.fixture
def fresh(qtbot, tmp_path, monkeypatch):
    """A window on a new library whose model is not installed, with no connection to the hub (conftest)."""
    monkeypatch.setenv("IDLENS_MODELS", str(tmp_path / "no-models-yet"))
    album = tmp_path / "album"
    for i in range(3):
        mf.photo(album / f"p{i}.jpg", 60 + i)
    settings = QSettings(str(tmp_path / "app.ini"), QSettings.Format.IniFormat)
    window = open_window(str(tmp_path / "lib"), PUBLISHED, settings)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: bool(window.status), timeout=30_000)
    yield window, album
    window.close()


def test_before_anything_the_page_says_what_the_model_is_and_weighs(fresh):
    window, _ = fresh
    assert window.stack.currentWidget() is window.empty
    assert "Drop a folder" in window.empty_title.text()
    assert "ViT-B/32-256 DataComp" in window.model_note.text() and "about 600 MB" in window.model_note.text()
    assert window.download_button.isVisibleTo(window) and window.download_button.isEnabled()
    assert not window.index_button.isVisibleTo(window)


def test_dropping_a_folder_offline_says_so_in_plain_words_and_keeps_the_files_waiting(qtbot, fresh):
    window, album = fresh
    with qtbot.waitSignal(window.engine.indexFinished, timeout=60_000):
        window.index_paths([str(album)])
    qtbot.waitUntil(lambda: "3 waiting" in " ".join(_sidebar_texts(window)), timeout=30_000)
    note = window.model_note.text()
    assert "Idlens needs to download its CLIP model once (about 600 MB)" in note and "cannot reach" in note
    assert "Details" not in note and "IDLENS_HUB" not in note  # the system's words only in the tooltip
    assert "Errno" not in note and "https://" not in note  # plain words, not a raw socket error
    assert window.message.text().startswith("No CLIP model yet")
    # The page agrees with the sidebar: no "Drop a folder" beside three files found.
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.empty, timeout=10_000)
    assert "3 photos found, waiting to be indexed" in window.empty_title.text()
    assert "Library (0) · 3 waiting" in _sidebar_texts(window)
    assert window.download_button.text() == "Try again" and window.download_button.isEnabled()
    assert not window.progress.isVisible() and not window.cancel_button.isVisible()  # no busy bar left running


def test_download_progress_is_the_whole_model_with_rate_and_time_left_then_steps_by_number(fresh):
    window, _ = fresh
    window._model_progress("downloading textual.onnx", 5_000_000, 600_000_000)
    text = window.message.text()
    assert text == "Downloading the CLIP model: 5.0 MB of 600 MB, starting…"
    assert window.progress.isVisible() and window.progress.maximum() == 600
    window._model_progress("converting the image model", 1, 6)
    assert window.message.text() == "Converting the image model (step 2 of 6)…"
    assert (window.progress.value(), window.progress.maximum()) == (1, 6)


def test_a_failed_download_leaves_no_busy_bar_and_try_again_goes_on(qtbot, fresh):
    window, _ = fresh
    with qtbot.waitSignal(window.engine.failed, timeout=60_000):
        window.download_button.click()
    qtbot.waitUntil(lambda: window.download_button.text() == "Try again", timeout=10_000)
    assert not window.progress.isVisible()
    assert "cannot reach" in window.model_note.text()


def test_choosing_another_model_before_anything_is_embedded_asks_nothing_and_names_it(qtbot, fresh, monkeypatch):
    """Settings on a new library: the new model is simply the one to install (no "re-embed 0 files?")."""
    from PySide6.QtWidgets import QMessageBox

    import app.gui.settings_dialog as dialog_module

    window, _ = fresh
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.No)
    monkeypatch.setattr(dialog_module.SettingsDialog, "exec", lambda self: True)
    monkeypatch.setattr(dialog_module.SettingsDialog, "model_spec", lambda self: "ViT-B-16:openai")
    window.open_settings()
    qtbot.waitUntil(lambda: window.status.get("model") == "ViT-B-16:openai", timeout=30_000)
    qtbot.waitUntil(lambda: "ViT-B/16 OpenAI" in window.model_note.text(), timeout=10_000)
    assert not asked


def test_files_dragged_over_the_window_light_it_up_until_they_leave(qtbot, fresh, tmp_path):
    from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent
    from PySide6.QtWidgets import QApplication

    window, album = fresh
    window.resize(900, 600)
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(album))])
    enter = QDragEnterEvent(QPoint(300, 300), Qt.DropAction.CopyAction, data, Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted() and window.drop_target.isVisible()
    assert window.drop_target.geometry().width() > window.width() // 2
    window.grab().save(os.path.join(os.environ.get("IDLENS_SCREENSHOTS") or str(tmp_path), "drop-target.png"))
    QApplication.sendEvent(window, QDragLeaveEvent())
    assert not window.drop_target.isVisible()
    plain = QMimeData()
    plain.setText("not a file")
    QApplication.sendEvent(window, QDragEnterEvent(QPoint(300, 300), Qt.DropAction.CopyAction, plain,
                                                   Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier))
    assert not window.drop_target.isVisible()  # text is no folder: nothing lights up


def test_try_again_downloads_the_whole_model_then_indexes_the_files_that_waited(qtbot, tmp_path, monkeypatch,
                                                                                shared_models):
    """The path a newcomer takes offline, then online: add a folder (no connection), Try again once connected —
    the download shows the whole model's megabytes, then the three photos that waited are indexed by themselves."""
    from tests import hub_factory

    hub = hub_factory.build(tmp_path / "hub", hub_factory.tiny_package(shared_models), rclip=None,
                            immich="immich-app/ViT-B-32__openai")
    monkeypatch.setenv("IDLENS_MODELS", str(tmp_path / "models"))
    album = tmp_path / "album"
    for i in range(3):
        mf.photo(album / f"p{i}.jpg", 70 + i)
    settings = QSettings(str(tmp_path / "app.ini"), QSettings.Format.IniFormat)
    window = open_window(str(tmp_path / "lib"), "ViT-B-32:openai", settings)
    qtbot.addWidget(window)
    try:
        qtbot.waitUntil(lambda: bool(window.status), timeout=30_000)
        with qtbot.waitSignal(window.engine.indexFinished, timeout=60_000):
            window.index_paths([str(album)])  # offline (conftest's hub is a closed port)
        qtbot.waitUntil(lambda: window.download_button.text() == "Try again", timeout=10_000)
        server = hub_factory.serve(hub)
        monkeypatch.setenv("IDLENS_HUB", server.url)
        messages: list[str] = []
        window.engine.modelProgress.connect(lambda *_: messages.append(window.message.text()))
        with qtbot.waitSignal(window.engine.indexFinished, timeout=120_000):
            window.download_button.click()
        qtbot.waitUntil(lambda: window.model.rowCount() == 3, timeout=30_000)
        qtbot.waitUntil(lambda: "Library (3)" in _sidebar_texts(window), timeout=30_000)
        assert any(m.startswith("Downloading the CLIP model: ") and " of " in m for m in messages), messages
        assert window.stack.currentWidget() is window.grid
        assert not window.download_button.isVisibleTo(window) and "ready" in window.model_note.text()
        server.shutdown()
    finally:
        window.close()


def test_a_folder_added_before_the_model_shows_on_the_page_while_the_model_downloads(qtbot, tmp_path, monkeypatch,
                                                                                     shared_models):
    """No "Drop a folder" while the first folder waits for the model: the page counts what was found and says the
    download's progress in the middle of the window, not only in the status line."""
    from tests import hub_factory

    hub = hub_factory.build(tmp_path / "hub", hub_factory.tiny_package(shared_models), rclip=None,
                            immich="immich-app/ViT-B-32__openai")
    server = hub_factory.serve(hub, rate=8e6)
    monkeypatch.setenv("IDLENS_HUB", server.url)
    monkeypatch.setenv("IDLENS_MODELS", str(tmp_path / "models"))
    album = tmp_path / "album"
    for i in range(3):
        mf.photo(album / f"p{i}.jpg", 80 + i)
    settings = QSettings(str(tmp_path / "app.ini"), QSettings.Format.IniFormat)
    window = open_window(str(tmp_path / "lib"), "ViT-B-32:openai", settings)
    qtbot.addWidget(window)
    seen: list[tuple[str, str, str]] = []
    window.engine.modelProgress.connect(lambda what, *_: seen.append(
        (what, window.empty_title.text(), window.model_note.text())))
    try:
        qtbot.waitUntil(lambda: bool(window.status), timeout=30_000)
        with qtbot.waitSignal(window.engine.indexFinished, timeout=120_000):
            window.index_paths([str(album)])
        downloading = [(title, note) for what, title, note in seen if what.startswith("downloading")]
        assert downloading, seen
        assert all("Drop a folder" not in title for title, _ in downloading)
        assert any("3 photos found, waiting to be indexed" in title for title, _ in downloading), downloading
        assert any(note.startswith("Downloading the CLIP model: ") and " left" in note for _, note in downloading)
        steps = [(title, note) for what, title, note in seen if what.startswith("making a faster copy")]
        assert steps and all("(step " in note and "waiting to be indexed" in title for title, note in steps), steps
        qtbot.waitUntil(lambda: window.model.rowCount() == 3, timeout=30_000)
    finally:
        window.close()
        server.shutdown()
