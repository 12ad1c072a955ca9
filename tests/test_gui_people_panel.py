"""The people panel and the viewer on a newcomer's first day (issue 21), through real widgets and the real engine
(tiny-test model, real faces), offscreen: a double-click opens anyone's photos, named or not, and naming is its
own action (a button, F2, the menu); names line up under the faces; a face box says what a click does; the info
panel dates every file and gives a video the length its timeline ends at. Screenshots go to /tmp/shots-people/."""
import datetime
import os
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QDialog

from app.gui import open_window
from app.gui import people_panel
from app.gui import viewer as viewer_module
from app.gui.people_panel import FACE, PersonDelegate
from tests import media_factory as mf
from tests.test_identity_search import scene

FACES = Path(__file__).parent / "data" / "faces"
SHOTS = Path("/tmp/shots-people")
WAIT = 120_000
FILE_DATE = datetime.datetime(2026, 12, 3, 9, 15)


def shot(widget, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    widget.grab().save(str(SHOTS / f"{name}.png"))


@pytest.fixture
def window(qtbot, tmp_path):
    """Anna in a photo with a capture date (and in one the tiny model does not group with it), Ben in two photos
    (one dated only by its file) and a 9.6 s video; indexed, nobody named yet."""
    album = tmp_path / "album"
    scene(album / "anna-1.jpg", 1, ["person_a_1.jpg"], year=2019)
    scene(album / "anna-2.jpg", 2, ["person_a_2.jpg"])
    scene(album / "ben-1.jpg", 3, ["person_b_1.jpg"])
    scene(album / "ben-2.jpg", 4, ["person_b_2.jpg"], year=2021)
    stamp = FILE_DATE.timestamp()
    for name in ("anna-2.jpg", "ben-1.jpg"):   # no capture date: dated by the file
        os.utime(album / name, (stamp, stamp))
    mf.video_of_photos(album / "party.mp4", [mf.picture(3, (640, 360)), FACES / "person_b_2.jpg",
                                             FACES / "person_b_2.jpg"], seconds_each=3.2)
    settings = QSettings(str(tmp_path / "app.ini"), QSettings.Format.IniFormat)
    w = open_window(str(tmp_path / "lib"), "tiny-test", settings)
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    with qtbot.waitSignal(w.engine.indexFinished, timeout=WAIT):
        w.engine.index([str(album)])
    qtbot.waitUntil(lambda: w.model.rowCount() == 5 and len(w.people.model.people) == 2, timeout=WAIT)
    w.album = album
    yield w
    w.viewer_page.leave()
    w.close()


def group(panel, videos: bool):
    """Ben's group (the one in a video) or Anna's."""
    return next(p for p in panel.model.people if bool(p.videos) == videos)


def row_of(panel, person) -> int:
    return next(i for i, p in enumerate(panel.model.people) if p.id == person.id)


def double_click(qtbot, view, index) -> None:
    """As a mouse does it: a click, then the double-click (QTest's alone has no press before it, which a view
    ignores)."""
    view.scrollTo(index)
    where = view.visualRect(index).center()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=where)
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=where)


@pytest.fixture
def names(monkeypatch):
    """The name dialog answers with the next name of `answers` (and records who it was asked about)."""
    asked, answers = [], []

    def answer(self):
        asked.append(self.person.id)
        self.line.setText(answers.pop(0))
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(people_panel.NameDialog, "exec", answer)
    return asked, answers


def test_a_double_click_opens_anyones_photos_and_naming_is_its_own_action(qtbot, window, names):
    asked, answers = names
    panel = window.people
    window.show_people()
    qtbot.wait(300)   # the faces' crops, read on pool threads
    shot(panel, "people-01-list")
    ben = group(panel, videos=True)
    files = {str(window.album / n) for n in ("ben-1.jpg", "ben-2.jpg", "party.mp4")}

    # An unnamed group: a double-click opens its photos (it used to rename), never the name dialog.
    double_click(qtbot, panel.view, panel.model.index(row_of(panel, ben)))
    page = panel.page
    assert panel.pages.currentWidget() is page and not asked
    assert page.title.text() == "Not named yet" and page.counts.text() == "2 photos · 1 video"
    assert page.name_button.text() == "Add a name…" and page.name_button.isVisible()
    qtbot.waitUntil(lambda: {r["path"] for r in page.files.rows} == files, timeout=WAIT)
    video = next(r for r in page.files.rows if r["kind"] == "video")
    assert video["timestamp"] is not None and video["fingerprint"]   # opens where Ben first appears
    qtbot.wait(300)
    shot(window, "people-02-unnamed-group-page")

    # The page's button names them; the page says the name at once.
    answers.append("Ben")
    with qtbot.waitSignal(window.engine.peopleChanged, timeout=WAIT):
        qtbot.mouseClick(page.name_button, Qt.MouseButton.LeftButton)
    assert asked == [ben.id]
    qtbot.waitUntil(lambda: page.title.text() == "Ben" and page.name_button.text() == "Rename…", timeout=WAIT)
    qtbot.keyClick(page.grid, Qt.Key.Key_Escape)   # back to everyone
    assert panel.pages.currentWidget() is panel.list_page

    # A named person: the same double-click, the same page.
    ben = next(p for p in panel.model.people if p.name == "Ben")
    double_click(qtbot, panel.view, panel.model.index(row_of(panel, ben)))
    assert panel.pages.currentWidget() is page and page.title.text() == "Ben" and len(asked) == 1
    qtbot.waitUntil(lambda: {r["path"] for r in page.files.rows} == files, timeout=WAIT)
    qtbot.mouseClick(page.back_button, Qt.MouseButton.LeftButton)
    assert panel.pages.currentWidget() is panel.list_page

    # F2 names the current one (Anna's group), and Enter opens it, as a double-click does.
    anna = group(panel, videos=False)
    panel.view.setCurrentIndex(panel.model.index(row_of(panel, anna)))
    panel.view.setFocus()
    answers.append("Anna")
    with qtbot.waitSignal(window.engine.peopleChanged, timeout=WAIT):
        qtbot.keyClick(panel.view, Qt.Key.Key_F2)
    assert asked[-1] == anna.id and panel.pages.currentWidget() is panel.list_page
    qtbot.waitUntil(lambda: {p.name for p in panel.model.people} == {"Anna", "Ben"}, timeout=WAIT)
    anna = next(p for p in panel.model.people if p.name == "Anna")
    panel.view.setCurrentIndex(panel.model.index(row_of(panel, anna)))
    qtbot.keyClick(panel.view, Qt.Key.Key_Return)
    assert panel.pages.currentWidget() is page and page.title.text() == "Anna"
    qtbot.waitUntil(lambda: len(page.files.rows) == anna.photos == 1, timeout=WAIT)
    answers.append("Anna Lee")   # F2 on her page renames her too
    with qtbot.waitSignal(window.engine.peopleChanged, timeout=WAIT):
        qtbot.keyClick(page.grid, Qt.Key.Key_F2)
    assert asked[-1] == anna.id
    qtbot.waitUntil(lambda: page.title.text() == "Anna Lee", timeout=WAIT)
    qtbot.keyClick(page.grid, Qt.Key.Key_Escape)

    # The menu: opening first (the default, as a double-click), then naming (F2), by kind, no ids.
    menu = panel.menu_for(ben)
    words = [a.text() for a in menu.actions()]
    assert words[:3] == ["Show photos and videos", "Rename…", "Search for Ben"]
    assert menu.defaultAction() is menu.actions()[0] and menu.actions()[1].shortcut().toString() == "F2"
    assert [a.text() for a in panel.menu_for(anna).actions()][0] == "Show photos"
    menu.actions()[0].trigger()
    assert panel.pages.currentWidget() is page and page.title.text() == "Ben"
    answers.append("Ben Okafor")   # the menu's "Rename…" names from the page too
    with qtbot.waitSignal(window.engine.peopleChanged, timeout=WAIT):
        panel.menu_for(ben).actions()[1].trigger()
    qtbot.waitUntil(lambda: page.title.text() == "Ben Okafor", timeout=WAIT)
    ben = next(p for p in panel.model.people if p.name == "Ben Okafor")
    with qtbot.waitSignal(window.engine.searchFinished, timeout=WAIT):
        panel.menu_for(ben).actions()[2].trigger()   # a search by name still exists, in words
    assert window.search_field.text() == "Ben Okafor"


def test_a_file_on_the_person_page_opens_in_the_viewer_and_back_comes_back(qtbot, window):
    panel = window.people
    window.show_people()
    ben = group(panel, videos=True)
    panel.open_person(ben)
    page = panel.page
    qtbot.waitUntil(lambda: page.files.rowCount() == 3, timeout=WAIT)
    photo = next(i for i, r in enumerate(page.files.rows) if r["kind"] == "image")
    double_click(qtbot, page.grid, page.files.index(photo))
    assert page.stack.currentWidget() is page.viewer_page
    viewer = page.viewer_page.viewer
    assert viewer.row["path"] == page.files.rows[photo]["path"]
    qtbot.waitUntil(lambda: len(viewer.face_boxes) == 1, timeout=WAIT)   # its media id came with the browsed row
    assert page.viewer_page.position.text() == f"{photo + 1} of 3"
    qtbot.keyClick(viewer, Qt.Key.Key_Escape)
    assert page.stack.currentWidget() is page.grid and panel.pages.currentWidget() is page
    qtbot.keyClick(page.grid, Qt.Key.Key_Escape)
    assert panel.pages.currentWidget() is panel.list_page

    # A video playing on the page stops when the window shows another page (it does not play on, unseen).
    panel.open_person(ben)
    qtbot.waitUntil(lambda: page.files.rowCount() == 3, timeout=WAIT)
    page.open_index(page.files.index(next(i for i, r in enumerate(page.files.rows) if r["kind"] == "video")))
    video = page.viewer_page.viewer
    window.stack.setCurrentWidget(window.grid)
    assert video.player is None and page.stack.currentWidget() is page.grid


def test_names_line_up_under_the_faces(qtbot, window):
    """Each name and count is drawn no wider than its face (cut with … when longer), so the grid's columns are the
    faces' columns: nothing is drawn left or right of a face in the text under it."""
    panel = window.people
    window.show_people()
    with qtbot.waitSignal(window.engine.peopleChanged, timeout=WAIT):
        panel.name(group(panel, videos=True).id, "Bartholomew Fitzgerald-Okonkwo")   # longer than a face
    qtbot.waitUntil(lambda: any(p.name for p in panel.model.people), timeout=WAIT)
    qtbot.wait(300)
    view = panel.view
    image = view.viewport().grab().toImage()
    background = QColor(image.pixel(2, image.height() - 2))
    line = view.fontMetrics().height()
    assert view.gridSize().width() <= FACE + 2 * PersonDelegate.PAD + 8   # the cell is the face and a margin
    for row in range(panel.model.rowCount()):
        rect = view.visualRect(panel.model.index(row))
        left = rect.x() + (rect.width() - FACE) // 2
        top = rect.y() + PersonDelegate.PAD // 2 + FACE + 4
        inked = [x for x in range(rect.left(), rect.right())
                 for y in range(top, top + 2 * line) if QColor(image.pixel(x, y)) != background]
        assert inked, "no name drawn"
        assert left <= min(inked) and max(inked) < left + FACE, (row, min(inked), max(inked), left)
    panel.view.setCurrentIndex(panel.model.index(0))
    qtbot.wait(50)
    shot(panel, "people-03-names-under-faces")


def test_a_face_box_says_what_a_click_does_and_does_it(qtbot, window, monkeypatch):
    asked = []

    def ask_name(parent, title, label, people, text="", beside=None):
        asked.append(text)
        return "Anna" if len(asked) == 1 else None   # named on the first click; the second is cancelled

    monkeypatch.setattr(viewer_module, "ask_name", ask_name)
    at = next(i for i, r in enumerate(window.model.rows) if r["path"].endswith("anna-1.jpg"))
    window.open_index(window.model.index(at))
    viewer = window.viewer
    qtbot.waitUntil(lambda: len(viewer.face_boxes) == 1, timeout=WAIT)
    box = viewer.face_boxes[0]
    assert box.toolTip() == "Unnamed — click to name" and box.label.text() == "?"
    qtbot.wait(100)
    shot(window, "people-04-viewer-unnamed-face")

    def click_box():
        box = viewer.face_boxes[0]
        centre = viewer.view.mapFromScene(box.rect().center())
        qtbot.mouseClick(viewer.view.viewport(), Qt.MouseButton.LeftButton, pos=centre)

    with qtbot.waitSignal(window.engine.peopleChanged, timeout=WAIT):
        click_box()
    assert asked == [""]   # an unnamed face: a name is asked for
    qtbot.waitUntil(lambda: viewer.face_boxes and viewer.face_boxes[0].face["name"] == "Anna", timeout=WAIT)
    box = viewer.face_boxes[0]
    assert box.toolTip() == "Anna — click to change who this is" and box.label.text() == "Anna"
    qtbot.waitUntil(lambda: "People: Anna" in window.viewer_page.info.text(), timeout=WAIT)
    shot(window, "people-05-viewer-named-face")
    click_box()
    assert asked == ["", "Anna"]   # a named one: her name, offered to keep or change (cancelled here)
    assert viewer.face_boxes[0].face["name"] == "Anna"


def test_the_info_panel_dates_every_file_browsed_or_found(qtbot, window):
    def info_of(name: str) -> str:
        at = next(i for i, r in enumerate(window.model.rows) if r["path"].endswith(name))
        window.open_index(window.model.index(at))
        text = window.viewer_page.info.text()
        window.close_viewer()
        return text

    browsed = info_of("anna-1.jpg")
    assert "15 Jun 2019, 12:00" in browsed and "file date" not in browsed
    assert "2019-06-15" not in browsed and "Why it matched" not in browsed   # the date once, in words
    assert "3 Dec 2026, 09:15 (file date)" in info_of("anna-2.jpg")   # no capture date: the file's, marked

    ben = group(window.people, videos=True)
    with qtbot.waitSignal(window.engine.peopleChanged, timeout=WAIT):
        window.people.name(ben.id, "Ben")
    with qtbot.waitSignal(window.engine.searchFinished, timeout=WAIT):
        window.search_for("Ben")
    qtbot.waitUntil(lambda: window.model.rowCount() == 3, timeout=WAIT)
    assert all(r.get("score") is not None for r in window.model.rows)   # search results, not the browsed grid
    assert "3 Dec 2026, 09:15 (file date)" in info_of("ben-1.jpg")
    assert "15 Jun 2021, 12:00" in info_of("ben-2.jpg") and "file date" not in info_of("ben-2.jpg")
    assert "(file date)" in info_of("party.mp4")   # a video without a creation time: its file's date


def test_a_video_is_as_long_in_the_info_panel_as_on_its_timeline(qtbot, window):
    """A 9.6 s video: "Video, 0:10" in the info panel, and its timeline says "… / 0:10" and ends at "0:10 / 0:10"
    (the grid's badge, the info panel and the timeline all round with results.clock)."""
    at = next(i for i, r in enumerate(window.model.rows) if r["kind"] == "video")
    assert window.model.rows[at]["duration"] == pytest.approx(9.6, abs=0.05)
    window.open_index(window.model.index(at))
    viewer = window.viewer
    assert "Video, 0:10" in window.viewer_page.info.text()
    if viewer.player is None:
        pytest.skip("QtMultimedia cannot load here: the timeline is not shown")
    qtbot.waitUntil(lambda: viewer.timeline.duration_ms > 0, timeout=30_000)
    qtbot.waitUntil(lambda: viewer.time_label.text().endswith(" / 0:10"), timeout=10_000)
    viewer.seek(9.0)   # play the last moment, to the end
    qtbot.waitUntil(lambda: viewer.ended, timeout=20_000)
    assert viewer.time_label.text() == "0:10 / 0:10"
    qtbot.wait(200)
    shot(window, "people-06-video-at-its-end")
