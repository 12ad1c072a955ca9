"""The app's everyday flows as a person meets them: the library it opens is the one it had (across two app
instances, with searches kept per library), and the video player that opens on the matched moment, plays, ends,
replays and seeks from any state."""
import os
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
try:
    from PySide6.QtMultimedia import QMediaPlayer
    NO_MULTIMEDIA = ""
except ImportError as e:  # a bare Debian without libpulse0: the app shows photos, the video player cannot load
    QMediaPlayer = None
    NO_MULTIMEDIA = f"QtMultimedia cannot load here ({e}); Debian's libpulse0 provides it (.ci/run installs it)"
needs_multimedia = pytest.mark.skipif(bool(NO_MULTIMEDIA), reason=NO_MULTIMEDIA)

from app.gui import libraries, open_window
from app.gui.viewer import Viewer
from tests import media_factory as mf

FACES = Path(__file__).parent / "data" / "faces"


@pytest.fixture
def qsettings(tmp_path):
    return QSettings(str(tmp_path / "qsettings.ini"), QSettings.Format.IniFormat)


def test_the_app_reopens_the_last_library_with_its_own_searches(qtbot, tmp_path, qsettings):
    first = open_window(str(tmp_path / "holidays"), "tiny-test", qsettings)
    qtbot.addWidget(first)
    first.recent = ["beach at sunset"]
    first.close()
    assert libraries.last(qsettings) == str(tmp_path / "holidays")

    # A second app instance, started as plain `idlens`: the same store says which library.
    again = open_window(libraries.last(qsettings), "tiny-test", qsettings)
    qtbot.addWidget(again)
    assert again.library_dir == str(tmp_path / "holidays") and again.recent == ["beach at sunset"]
    again.open_library(str(tmp_path / "work"))  # File > Open library…
    assert libraries.last(qsettings) == str(tmp_path / "work")
    assert libraries.recent(qsettings)[:2] == [str(tmp_path / "work"), str(tmp_path / "holidays")]
    from app.gui import _windows

    other = _windows[-1]
    qtbot.addWidget(other)
    assert other.library_dir == str(tmp_path / "work") and other.recent == []  # no searches of the other library
    other.close()


def test_plain_idlens_opens_the_remembered_library(monkeypatch, tmp_path):
    import app.gui
    from app.cli import main

    asked = []
    monkeypatch.setattr(app.gui, "run_gui", lambda library, model: asked.append(library) or 0)
    monkeypatch.delenv("IDLENS_LIBRARY", raising=False)
    for argv, expected in (([], None), (["--library", str(tmp_path / "x")], str(tmp_path / "x"))):
        with pytest.raises(SystemExit):
            main(argv)
        assert asked[-1] == expected


@pytest.fixture
def clip(tmp_path):
    return mf.video_of_photos(tmp_path / "party.mp4", [mf.picture(3, (320, 180)), FACES / "person_b_2.jpg",
                                                       mf.picture(5, (320, 180))], seconds_each=1.0, size=(320, 180))


class _NoEngine:
    people: list = []

    def faces_in(self, *args):
        pass


@needs_multimedia
def test_the_video_opens_on_its_moment_plays_ends_replays_and_seeks(qtbot, clip):
    row = {"path": str(clip), "kind": "video", "timestamp": 1.4, "moments": [{"timestamp": 1.4, "score": 0.3},
                                                                              {"timestamp": 0.2, "score": 0.1}],
           "spans": [{"start": 1.0, "end": 2.0}]}
    viewer = Viewer(row, _NoEngine())
    qtbot.addWidget(viewer)
    viewer.show()
    player = viewer.player
    # Paused on the matched moment's frame.
    qtbot.waitUntil(lambda: player.mediaStatus() in (QMediaPlayer.MediaStatus.BufferedMedia,
                                                      QMediaPlayer.MediaStatus.LoadedMedia)
                    and abs(player.position() - 1400) < 300, timeout=20_000)
    assert player.playbackState() != QMediaPlayer.PlaybackState.PlayingState
    assert viewer.play_button.text() == "Play" and viewer.timeline.spans == [(1.0, 2.0)]
    # Space plays from there, to the end; then the button offers Replay.
    qtbot.keyClick(viewer, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: viewer.ended, timeout=20_000)
    assert viewer.play_button.text() == "Replay"
    # After the end, a moment button still seeks and plays.
    viewer.moment_buttons[0].click()   # 0:00.2
    qtbot.waitUntil(lambda: player.playbackState() == QMediaPlayer.PlaybackState.PlayingState, timeout=10_000)
    qtbot.waitUntil(lambda: 150 <= player.position() < 1300, timeout=10_000)
    assert viewer.play_button.text() == "Pause"
    qtbot.waitUntil(lambda: viewer.ended, timeout=20_000)
    viewer.toggle_playback()           # Replay: from the matched moment
    qtbot.waitUntil(lambda: player.playbackState() == QMediaPlayer.PlaybackState.PlayingState
                    and player.position() >= 1300, timeout=10_000)
    viewer.close()


def test_counts_read_as_words_in_the_singular_and_the_plural(qtbot, qapp, tmp_path, qsettings):
    from app.gui import install_translations

    install_translations(qapp)
    album = tmp_path / "album"
    mf.photo(album / "one.jpg", 1)
    (album / "broken.jpg").write_bytes(b"")
    window = open_window(str(tmp_path / "lib"), "tiny-test", qsettings)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.engine.indexFinished, timeout=120_000):
        window.engine.index([str(album)])
    qtbot.waitUntil(lambda: window.errors_button.isVisible(), timeout=30_000)
    assert window.errors_button.text() == "⚠ 1 file could not be read — show"
    assert window.message.text() == "Done: 1 file indexed, 1 could not be read"
    assert window.tr("%n result(s) for “%1”", "", 1) == "1 result for “%1”"
    assert window.tr("%n result(s) for “%1”", "", 3) == "3 results for “%1”"
    with qtbot.waitSignal(window.engine.searchFinished, timeout=60_000):
        window.search_for("one")
    assert window.message.text().startswith("1 result for “one”")
    window.close()


def test_naming_a_face_in_the_viewer_shows_at_once_and_not_this_person_undoes_it(qtbot, tmp_path, qsettings,
                                                                                 monkeypatch):
    import app.gui.viewer as viewer_module
    from tests.test_identity_search import scene

    album = tmp_path / "album"
    scene(album / "anna.jpg", 1, ["person_a_1.jpg"])
    window = open_window(str(tmp_path / "lib"), "tiny-test", qsettings)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.engine.indexFinished, timeout=120_000):
        window.engine.index([str(album)])
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=30_000)
    window.open_index(window.model.index(0))
    viewer = window.viewer
    qtbot.waitUntil(lambda: len(getattr(viewer, "face_boxes", [])) == 1, timeout=30_000)
    assert viewer.face_boxes[0].face["name"] is None and viewer.face_boxes[0].label.text() == "?"
    asked = {}

    def answer(parent, title, label, people, text="", beside=None):
        asked["beside"] = beside
        return "Zoë"

    monkeypatch.setattr(viewer_module, "ask_name", answer)
    viewer._name_face(viewer.face_boxes[0].face)
    qtbot.waitUntil(lambda: viewer.face_boxes[0].face["name"] == "Zoë", timeout=30_000)  # same viewer, no reopening
    assert viewer.face_boxes[0].label.text() == "Zoë"
    # The info panel follows (issue 21, case 5): everyone named in the file, as the library has it now.
    qtbot.waitUntil(lambda: "People: Zoë" in window.viewer_page.info.text(), timeout=30_000)
    face_on_screen = viewer._on_screen(viewer.face_boxes[0].face)
    assert asked["beside"] is not None and face_on_screen.width() > 0
    # Right-click: "Not Zoë".
    viewer._face_menu(viewer.face_boxes[0].face, viewer.mapToGlobal(viewer.rect().center()))
    not_her = next(a for a in viewer.face_menu.actions() if a.text() == "Not Zoë")
    not_her.trigger()
    qtbot.waitUntil(lambda: viewer.face_boxes[0].face["name"] is None, timeout=30_000)
    qtbot.waitUntil(lambda: "People:" not in window.viewer_page.info.text(), timeout=30_000)
    viewer.close()
    window.close()


def test_the_errors_panel_retries_a_fixed_file_and_removes_another(qtbot, qapp, tmp_path, qsettings, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from app.gui import install_translations

    install_translations(qapp)
    album = tmp_path / "album"
    mf.photo(album / "fine.jpg", 1)
    (album / "fixed-later.jpg").write_bytes(b"")
    (album / "hopeless.jpg").write_bytes(b"not a photo")
    window = open_window(str(tmp_path / "lib"), "tiny-test", qsettings)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.engine.indexFinished, timeout=120_000):
        window.engine.index([str(album)])
    qtbot.waitUntil(lambda: window.errors_list.count() == 2, timeout=30_000)
    assert window.errors_button.text() == "⚠ 2 files could not be read — show"
    rows = {window.errors_list.item(i).data(Qt.ItemDataRole.UserRole): i for i in range(window.errors_list.count())}
    mf.photo(album / "fixed-later.jpg", 2)  # the user fixed it
    window.errors_list.item(rows[str(album / "fixed-later.jpg")]).setSelected(True)
    with qtbot.waitSignal(window.engine.indexFinished, timeout=120_000):
        window.retry_action.trigger()
    qtbot.waitUntil(lambda: window.errors_list.count() == 1, timeout=30_000)
    qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=30_000)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    window.errors_list.item(0).setSelected(True)
    window.remove_error_action.trigger()
    qtbot.waitUntil(lambda: window.errors_list.count() == 0 and not window.errors_button.isVisible(), timeout=30_000)
    assert (album / "hopeless.jpg").exists()  # removed from the library, never from the disk
    window.close()


def test_changing_the_model_reembeds_from_the_app(qtbot, tmp_path, qsettings):
    from core.library import Library

    album = tmp_path / "album"
    for i in range(3):
        mf.photo(album / f"p{i}.jpg", 10 + i)
    window = open_window(str(tmp_path / "lib"), "tiny-test", qsettings)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.engine.indexFinished, timeout=120_000):
        window.engine.index([str(album)])
    progress = []
    window.engine.modelProgress.connect(lambda what, done, total: progress.append(what))
    with qtbot.waitSignal(window.engine.indexFinished, timeout=180_000) as finished:
        window.change_model("tiny-test:random")   # what Settings does after "Re-embed … now?" Yes
    assert finished.args[0]["indexed"] == 3 and not finished.args[0]["cancelled"]
    assert progress  # the install of the new model showed its steps
    window.close()
    with Library(tmp_path / "lib") as lib:
        assert lib.catalog.library_model == "tiny-test:random" and lib.settings.model == "tiny-test:random"
        assert lib.catalog.items.count() == 3
        assert any(b.reason == "before-reembed" for b in lib.backups.list())


def test_a_folder_in_the_sidebar_shows_only_that_folder(qtbot, qapp, tmp_path, qsettings):
    from PySide6.QtWidgets import QTreeWidgetItemIterator

    trips, home = tmp_path / "trips", tmp_path / "home"
    mf.photo(trips / "a.jpg", 1)
    mf.photo(trips / "b.jpg", 2)
    mf.photo(home / "c.jpg", 3)
    window = open_window(str(tmp_path / "lib"), "tiny-test", qsettings)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.engine.indexFinished, timeout=120_000):
        window.engine.index([str(trips), str(home)])
    qtbot.waitUntil(lambda: window.model.rowCount() == 3, timeout=30_000)

    def item(kind, value=None):
        it = QTreeWidgetItemIterator(window.sidebar)
        while it.value():
            data = it.value().data(0, Qt.ItemDataRole.UserRole)
            if data and data[0] == kind and (value is None or data[1] == value):
                return it.value()
            it += 1

    qtbot.waitUntil(lambda: item("folder", str(trips)) is not None, timeout=30_000)
    window._sidebar_activated(item("folder", str(trips)))
    qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=30_000)
    assert {Path(r["path"]).name for r in window.model.rows} == {"a.jpg", "b.jpg"}
    assert window.message.text() == "2 files in trips"
    window._sidebar_activated(item("all"))
    qtbot.waitUntil(lambda: window.model.rowCount() == 3, timeout=30_000)
    window.close()


def test_the_grid_says_when_each_photo_was_taken():
    from app.gui.results import taken

    assert taken({"captured_at": "2019-07-12T10:00:00"}) == "12 Jul 2019"
    assert taken({"captured_at": "2024-02-29"}) == "29 Feb 2024"
    assert taken({"captured_at": None}) == taken(None) == taken({"captured_at": "2019"}) == ""


def test_a_portrait_photo_opens_whole_and_the_grid_offers_actions_for_a_selection(qtbot, tmp_path, qsettings,
                                                                                  monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    album = tmp_path / "album"
    mf.photo(album / "portrait.jpg", 1, size=(600, 1400))
    mf.photo(album / "other.jpg", 2)
    window = open_window(str(tmp_path / "lib"), "tiny-test", qsettings)
    qtbot.addWidget(window)
    window.resize(1000, 700)
    with qtbot.waitSignal(window.engine.indexFinished, timeout=120_000):
        window.engine.index([str(album)])
    qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=30_000)
    row = next(i for i, r in enumerate(window.model.rows) if r["path"].endswith("portrait.jpg"))
    window.open_index(window.model.index(row))
    view = window.viewer.view
    qtbot.waitUntil(lambda: getattr(window.viewer, "pixmap_item", None) is not None, timeout=30_000)
    qtbot.wait(200)
    shown = view.mapFromScene(window.viewer.pixmap_item.sceneBoundingRect()).boundingRect()
    assert view.viewport().rect().adjusted(-2, -2, 2, 2).contains(shown)  # fitted: no part cut off
    window.close_viewer()
    window.grid.selectAll()
    window._grid_menu(window.grid.rect().center())
    texts = [a.text() for a in window.grid_menu.actions()]
    assert texts == ["Show in folder", "Remove 2 files from the library…"]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    window.grid_menu.actions()[1].trigger()
    qtbot.waitUntil(lambda: window.model.rowCount() == 0, timeout=30_000)
    assert (album / "portrait.jpg").exists()
    window.close()


def test_the_sidebar_browses_by_year_and_month(qtbot, tmp_path, qsettings):
    from PIL import Image
    from PySide6.QtWidgets import QTreeWidgetItemIterator

    album = tmp_path / "album"
    for i, when in enumerate(["2019:07:12 10:00:00", "2019:07:30 18:00:00", "2019:12:24 20:00:00",
                              "2021:03:01 09:00:00"]):
        exif = Image.Exif()
        exif[0x0132] = when
        mf.photo(album / f"p{i}.jpg", 20 + i, exif=exif)
    mf.photo(album / "undated.png", 30)  # no capture date: placed by its file date
    import datetime

    stamp = datetime.datetime(2020, 2, 2, 12, 0).timestamp()
    os.utime(album / "undated.png", (stamp, stamp))
    window = open_window(str(tmp_path / "lib"), "tiny-test", qsettings)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.engine.indexFinished, timeout=120_000):
        window.engine.index([str(album)])
    qtbot.waitUntil(lambda: window.model.rowCount() == 5, timeout=30_000)

    def labels():
        out, it = {}, QTreeWidgetItemIterator(window.sidebar)
        while it.value():
            data = it.value().data(0, Qt.ItemDataRole.UserRole)
            if data and data[0] == "date":
                out[data[1]] = it.value()
            it += 1
        return out

    qtbot.waitUntil(lambda: set(labels()) == {"2019", "2019-07", "2019-12", "2020", "2020-02", "2021", "2021-03"},
                    timeout=30_000)
    assert labels()["2019"].text(0) == "2019 (3)" and labels()["2019-07"].text(0) == "July 2019 (2)"
    # Sections open, the Dates tree closed (years of months would push People off screen); what the user opens
    # stays open when the sidebar is filled again (after every index and decision), and a narrow window keeps it.
    tops = {window.sidebar.topLevelItem(i).text(0).split(" (")[0]: window.sidebar.topLevelItem(i)
            for i in range(window.sidebar.topLevelItemCount())}
    assert not tops["Dates"].isExpanded() and tops["Library"].isExpanded()
    tops["Dates"].setExpanded(True)
    labels()["2019"].setExpanded(True)
    window._fill_sidebar()
    assert labels()["2019"].isExpanded() and not labels()["2021"].isExpanded()
    assert labels()["2019"].parent().isExpanded()
    window.resize(800, 600)
    assert window.sidebar.minimumWidth() >= 180 and not window.splitter.isCollapsible(0)
    # The grid, newest first, marks where each month begins.
    from app.gui.results import month_label

    starts = sorted(window.model.month_starts)
    assert [month_label(window.model.rows[i]) for i in starts] == ["March 2021", "February 2020", "December 2019",
                                                                 "July 2019"]
    undated = next(r for r in window.model.rows if r["path"].endswith("undated.png"))
    assert undated["dated_by"] == "file" and undated["captured_at"].startswith("2020-02-02")
    window._sidebar_activated(labels()["2019-07"])
    qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=30_000)
    assert window.message.text() == "2 files from July 2019"
    window._sidebar_activated(labels()["2021"])
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=30_000)
    window.close()


def test_search_results_can_be_ordered_by_date(qtbot, tmp_path, qsettings):
    from PIL import Image

    album = tmp_path / "album"
    for i, when in enumerate(["2020:01:01 10:00:00", "2018:05:05 10:00:00", "2022:09:09 10:00:00"]):
        exif = Image.Exif()
        exif[0x0132] = when
        mf.photo(album / f"p{i}.jpg", 40 + i, exif=exif)
    import datetime

    mf.photo(album / "screenshot.png", 50)   # no capture date: dated by its file, in results as when browsing
    stamp = datetime.datetime(2019, 3, 3, 12, 0).timestamp()
    os.utime(album / "screenshot.png", (stamp, stamp))
    window = open_window(str(tmp_path / "lib"), "tiny-test", qsettings)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.engine.indexFinished, timeout=120_000):
        window.engine.index([str(album)])
    with qtbot.waitSignal(window.engine.searchFinished, timeout=60_000):
        window.search_for("a photo")
    qtbot.waitUntil(lambda: window.model.rowCount() == 4, timeout=30_000)
    window.sort_box.setCurrentIndex(1)
    assert [r["captured_at"][:4] for r in window.model.rows] == ["2022", "2020", "2019", "2018"]
    shot = next(r for r in window.model.rows if r["path"].endswith("screenshot.png"))
    assert shot["dated_by"] == "file"
    window.sort_box.setCurrentIndex(2)
    assert [r["captured_at"][:4] for r in window.model.rows] == ["2018", "2019", "2020", "2022"]
    window.close()


def test_review_asks_face_by_face_with_yes_no_skip_and_done(qtbot, tmp_path):
    """The review flow itself: "1 of 3", Y says yes, N says no, S skips, Done closes (the engine's side — which
    faces are offered — is tested in tests/test_people.py)."""
    from types import SimpleNamespace

    from app.gui.people_panel import ReviewDialog

    answers = []

    class Engine:
        def review(self, person_id, on_done):
            on_done(SimpleNamespace(total=3, suggestions=[
                SimpleNamespace(face_id=i, reference_face=99, path=f"/p/{i}.jpg", similarity=0.5) for i in (1, 2, 3)]))

        def crop_path(self, face_id):
            return tmp_path / f"{face_id}.jpg"

        def move_face(self, face_id, person, on_done=None):
            answers.append(("yes", face_id))
            if on_done:
                on_done(None)

        def reject_face(self, face_id, person, on_done=None):
            answers.append(("no", face_id))
            if on_done:
                on_done(None)

    dialog = ReviewDialog(Engine(), SimpleNamespace(id=7, label="Łukasz"))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.count.text() == "1 of 3"
    qtbot.keyClick(dialog, Qt.Key.Key_Y)
    assert dialog.count.text() == "2 of 3"
    qtbot.keyClick(dialog, Qt.Key.Key_S)
    assert dialog.count.text() == "3 of 3"
    qtbot.keyClick(dialog, Qt.Key.Key_N)
    assert answers == [("yes", 1), ("no", 3)]
    assert not dialog.yes.isEnabled() and "Nothing more" in dialog.face.text()
