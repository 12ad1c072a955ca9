"""The people panel and the viewer on a newcomer's first day (issue 21), through real widgets and the real engine
(tiny-test model, real faces), offscreen: a double-click opens anyone's photos, named or not, and naming is its
own action (a button, F2, the menu); names line up under the faces; a face box says what a click does; the info
panel dates every file and gives a video the length its timeline ends at. Then a second look: a name someone already
has is asked about with both faces (never a silent merge), merge questions read right named or not, "Merge with…" is
a regular grid with Cancel and Choose, a click on "Add a name" names, and review is offered only when there is
something to review. Screenshots go to /tmp/shots-people/ and /tmp/shots-people2/."""
import datetime
import os
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect, QSettings, QSize, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QDialog, QMessageBox

from app.gui import open_window
from app.gui import people_panel
from app.gui import viewer as viewer_module
from app.gui.people_panel import FACE, PersonDelegate
from core.wording import plural
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
    """The name dialog answers with the next name of `answers` (and records who it was asked about); an answer that
    is a function types into the dialog itself (`answer(dialog)`)."""
    asked, answers = [], []

    def answer(self):
        asked.append(self.person.id)
        given = answers.pop(0)
        if callable(given):
            given(self)
        else:
            self.line.setText(given)
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


# -- issue: a newcomer's second look (naming that merges, merge wording, the chooser, "Add a name", review) ----------
SHOTS2 = Path("/tmp/shots-people2")


def shot2(widget, name: str) -> None:
    SHOTS2.mkdir(parents=True, exist_ok=True)
    widget.grab().save(str(SHOTS2 / f"{name}.png"))


@pytest.fixture
def same(qtbot, monkeypatch):
    """The "Same person?" dialog, shown with both people's faces on screen, answered by clicking the button named
    next in `answers` ("yes" or "no"); `seen` records each dialog's question, outcome, buttons and faces."""
    seen, answers = [], []

    def answer(self):
        self.show()
        qtbot.waitExposed(self)
        qtbot.waitUntil(lambda: all(s.loaded() == len(s.face_ids) > 0 for s in self.strips), timeout=WAIT)
        seen.append({"question": self.question.text(), "outcome": self.outcome.text(),
                     "buttons": (self.yes_button.text(), self.no_button.text()),
                     "faces": [list(s.face_ids) for s in self.strips], "people": [p.id for p in self.people]})
        shot2(self, f"same-person-{os.environ.get('PYTEST_CURRENT_TEST', '').split('::')[-1].split(' ')[0]}-{len(seen)}")
        button = self.yes_button if (answers.pop(0) if answers else "no") == "yes" else self.no_button
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        return self.result()

    def bare(*args, **kwargs):
        raise AssertionError(f"asked in a message box, without the faces: {args[2:]}")

    monkeypatch.setattr(people_panel.SamePersonDialog, "exec", answer)
    monkeypatch.setattr(QMessageBox, "question", bare)
    return seen, answers


def faces_of(qtbot, window, person_id: int) -> list[int]:
    faces: list[dict] = []
    window.engine.faces_of(person_id, faces.extend)
    qtbot.waitUntil(lambda: bool(faces), timeout=WAIT)
    return [f["id"] for f in faces]


def test_a_name_someone_already_has_is_asked_about_with_both_faces_every_time(qtbot, window, names, same,
                                                                             monkeypatch):
    """Naming an unnamed group with a name another person has (typed, or taken from the completion) makes them one
    person: asked first, with both faces and names, from F2, the menu, the page's button; Cancel changes
    nothing."""
    from app.gui.completion import NameCompleter

    asked, answers = names
    seen, replies = same
    panel, engine = window.people, window.engine
    named = []
    real = engine.name_person
    monkeypatch.setattr(engine, "name_person", lambda pid, name: (named.append((pid, name)), real(pid, name)))
    window.show_people()
    ben, anna = group(panel, videos=True), group(panel, videos=False)
    with qtbot.waitSignal(engine.peopleChanged, timeout=WAIT):
        panel.name(ben.id, "Zoë Kowalski")   # nobody has it: no question
    assert not seen and named == [(ben.id, "Zoë Kowalski")]
    qtbot.waitUntil(lambda: any(p.name == "Zoë Kowalski" for p in panel.model.people), timeout=WAIT)
    zoe = next(p for p in panel.model.people if p.name == "Zoë Kowalski")
    anna = next(p for p in panel.model.people if p.id == anna.id)
    question = "Zoë Kowalski already has this name. Is this unnamed person (2 photos) Zoë Kowalski?"

    def unchanged():
        qtbot.wait(300)
        assert len(named) == 1
        assert {(p.id, p.name) for p in panel.model.people} == {(zoe.id, "Zoë Kowalski"), (anna.id, None)}

    # F2 on her tile, her name typed in another case: asked, with both faces; Cancel.
    panel.view.setCurrentIndex(panel.model.index(row_of(panel, anna)))
    panel.view.setFocus()
    answers.append("zoë KOWALSKI")
    qtbot.keyClick(panel.view, Qt.Key.Key_F2)
    assert asked == [anna.id] and len(seen) == 1
    assert seen[0]["question"] == question and seen[0]["outcome"] == "Their photos join Zoë Kowalski's."
    assert seen[0]["buttons"] == ("Same person", "Cancel") and seen[0]["people"] == [anna.id, zoe.id]
    assert seen[0]["faces"] == [faces_of(qtbot, window, anna.id), faces_of(qtbot, window, zoe.id)]
    unchanged()

    # The menu's "Add a name…", the name accepted from the completion ("zoe kow" offers "Zoë Kowalski").
    def complete(dialog):
        dialog.show()
        qtbot.waitExposed(dialog)
        qtbot.keyClicks(dialog.line, "zoe kow")
        completer = dialog.findChild(NameCompleter)
        assert completer.list_model.stringList() == ["Zoë Kowalski"]
        popup = completer.popup()
        qtbot.waitUntil(popup.isVisible)
        popup.setCurrentIndex(completer.completionModel().index(0, 0))
        qtbot.keyClick(popup, Qt.Key.Key_Return)
        assert dialog.line.text() == "Zoë Kowalski"

    answers.append(complete)
    menu = panel.menu_for(anna)
    next(a for a in menu.actions() if a.text() == "Add a name…").trigger()
    assert len(asked) == 2 and len(seen) == 2 and seen[1]["question"] == question
    unchanged()

    # The page's "Add a name…": "Same person" makes them one, named as she is.
    panel.open_person(anna)
    answers.append("Zoë Kowalski")
    replies.append("yes")
    with qtbot.waitSignal(engine.peopleChanged, timeout=WAIT):
        qtbot.mouseClick(panel.page.name_button, Qt.MouseButton.LeftButton)
    assert len(seen) == 3 and seen[2]["question"] == question
    qtbot.waitUntil(lambda: [p.name for p in panel.model.people] == ["Zoë Kowalski"], timeout=WAIT)
    assert named[-1] == (anna.id, "Zoë Kowalski") and panel.model.people[0].id == zoe.id


def test_a_rename_to_a_name_taken_asks_in_words_for_both_named(qtbot, window, names, same):
    """Renaming a named person with another's name (or alias) asks too, and says which name is kept."""
    asked, answers = names
    seen, _ = same
    panel, engine = window.people, window.engine
    window.show_people()
    ben, anna = group(panel, videos=True), group(panel, videos=False)
    for person, name in ((ben, "Zoë Kowalski"), (anna, "Anna")):
        with qtbot.waitSignal(engine.peopleChanged, timeout=WAIT):
            panel.name(person.id, name)
    qtbot.waitUntil(lambda: {p.name for p in panel.model.people} == {"Anna", "Zoë Kowalski"}, timeout=WAIT)
    anna = next(p for p in panel.model.people if p.name == "Anna")
    answers.append("zoe kowalski")   # another name: no question (core.names keeps ë and e apart)
    with qtbot.waitSignal(engine.peopleChanged, timeout=WAIT):
        panel.ask_name(anna)
    assert not seen
    qtbot.waitUntil(lambda: any(p.name == "zoe kowalski" for p in panel.model.people), timeout=WAIT)
    anna = next(p for p in panel.model.people if p.name == "zoe kowalski")
    answers.append("Zoë Kowalski")
    panel.ask_name(anna)
    assert seen[0]["question"] == ("Zoë Kowalski already has this name. Is zoe kowalski the same person as "
                                   "Zoë Kowalski?")
    assert seen[0]["outcome"] == ("zoe kowalski's photos join Zoë Kowalski's; “zoe kowalski” stays as another "
                                  "name for Zoë Kowalski.")


def test_merge_questions_read_right_named_or_not_on_either_side(qtbot, window, same):
    """A drop of one person on another asks "Is … the same person as …?" in words for named and unnamed alike."""
    seen, _ = same
    panel, model = window.people, window.people.model
    window.show_people()
    ben, anna = group(panel, videos=True), group(panel, videos=False)

    def drop(source, target):
        data = model.mimeData([model.index(row_of(panel, source))])
        model.dropMimeData(data, Qt.DropAction.MoveAction, -1, -1, model.index(row_of(panel, target)))
        return seen[-1]

    asked = drop(anna, ben)
    assert asked["question"] == ("Is this unnamed person (2 photos) the same person as another unnamed person "
                                 "(2 photos · 1 video)?")
    assert asked["outcome"] == "The two become one person." and asked["buttons"] == ("Yes, merge", "No")
    with qtbot.waitSignal(window.engine.peopleChanged, timeout=WAIT):
        panel.name(ben.id, "Seán O’Brien Jr")
    qtbot.waitUntil(lambda: any(p.name for p in model.people), timeout=WAIT)
    ben = next(p for p in model.people if p.name)
    asked = drop(anna, ben)
    assert asked["question"] == "Is this unnamed person (2 photos) the same person as Seán O’Brien Jr?"
    assert asked["outcome"] == "Their photos join Seán O’Brien Jr's."
    asked = drop(ben, anna)
    assert asked["question"] == "Is Seán O’Brien Jr the same person as this unnamed person (2 photos)?"
    assert asked["outcome"] == "The unnamed person's photos join Seán O’Brien Jr's."
    assert len(model.people) == 2   # every one answered No


def test_merge_with_chooses_from_a_regular_grid_with_cancel_and_choose(qtbot, window, same, monkeypatch):
    from types import SimpleNamespace

    from app.gui.people_panel import ChoosePersonDialog

    seen, _ = same
    panel = window.people
    window.show_people()
    ben, anna = group(panel, videos=True), group(panel, videos=False)
    with qtbot.waitSignal(window.engine.peopleChanged, timeout=WAIT):
        panel.name(ben.id, "Bartholomew Fitzgerald-Okonkwo")   # longer than a face
    qtbot.waitUntil(lambda: any(p.name for p in panel.model.people), timeout=WAIT)
    ben = next(p for p in panel.model.people if p.name)
    anna = next(p for p in panel.model.people if p.id == anna.id)
    opened = []

    def shown(self):
        """The chooser as the user sees it; then Escape, or a click on the first face and Choose."""
        self.show()
        qtbot.waitExposed(self)
        opened.append(self)
        if len(opened) == 1:
            qtbot.keyClick(self.list, Qt.Key.Key_Escape)
        else:
            qtbot.mouseClick(self.list.viewport(), Qt.MouseButton.LeftButton,
                             pos=self.list.visualItemRect(self.list.item(0)).center())
            assert self.choose_button.isEnabled()
            qtbot.mouseClick(self.choose_button, Qt.MouseButton.LeftButton)
        return self.result()

    monkeypatch.setattr(ChoosePersonDialog, "exec", shown)
    panel.merge_with(anna)   # Escape: nothing chosen, nothing asked, nothing merged
    dialog = opened[0]
    assert dialog.windowTitle() == "Merge with…"
    assert dialog.heading.text() == "Who is the same person as this unnamed person (2 photos)?"
    assert dialog.cancel_button.text() == "Cancel" and dialog.choose_button.text() == "Choose"
    assert not seen and len(panel.model.people) == 2
    panel.merge_with(anna)   # the first face, then Choose: the merge's own question (answered No here)
    assert seen[-1]["question"] == "Is this unnamed person (2 photos) the same person as Bartholomew " \
                                   "Fitzgerald-Okonkwo?" and len(panel.model.people) == 2

    # Before a face is chosen, Choose is off; the grid is regular, every face the same size, names cut under them.
    people = [ben] + [SimpleNamespace(id=900 + i, name=name, cover_face=None, photos=n, videos=0, aliases=[],
                                      hidden=False)
                      for i, (name, n) in enumerate([("Al", 1), (None, 6), ("Maximiliana Throckmorton-Smythe", 3),
                                                     (None, 1)])]
    chooser = ChoosePersonDialog(window.engine, people, "Who is the same person as Anna?", window,
                                 about=SimpleNamespace(name="Anna"))
    qtbot.addWidget(chooser)
    chooser.show()
    qtbot.waitExposed(chooser)
    assert not chooser.choose_button.isEnabled() and chooser.chosen() is None
    labels = [chooser.list.item(i).text() for i in range(chooser.list.count())]
    assert labels == ["Bartholomew Fitzgerald-Okonkwo", "Al", "this unnamed person (6 photos)",
                      "Maximiliana Throckmorton-Smythe", "this unnamed person (1 photo)"]
    first = chooser.list.item(0).icon().cacheKey()
    qtbot.waitUntil(lambda: chooser.list.item(0).icon().cacheKey() != first, timeout=WAIT)   # Ben's crop
    rects = [chooser.list.visualItemRect(chooser.list.item(i)) for i in range(chooser.list.count())]
    assert len({r.size().toTuple() for r in rects}) == 1   # equal cells, on a lattice: rows and columns
    grid = chooser.list.gridSize()
    assert all((r.left() - rects[0].left()) % grid.width() == 0 and (r.top() - rects[0].top()) % grid.height() == 0
               for r in rects)
    side = chooser.SIDE
    for i in range(chooser.list.count()):
        icon = chooser.list.item(i).icon()
        assert icon.pixmap(QSize(side, side)).size() == QSize(side, side)   # square: every face the same size
    image = chooser.list.viewport().grab().toImage()
    background = QColor(image.pixel(image.width() - 2, image.height() - 2))
    line = chooser.list.fontMetrics().height()
    for rect in rects:
        left = rect.x() + (rect.width() - side) // 2
        top = rect.y() + PersonDelegate.PAD // 2 + side + 4
        inked = [x for x in range(rect.left(), rect.right() + 1) for y in range(top, top + 2 * line)
                 if QColor(image.pixel(x, y)) != background]
        assert inked and left <= min(inked) and max(inked) < left + side   # names and counts under the face
    chooser.list.item(2).setSelected(True)
    assert chooser.choose_button.isEnabled() and chooser.chosen() is people[2]
    shot2(chooser, "merge-with-chooser")
    qtbot.keyClick(chooser.list, Qt.Key.Key_Escape)
    assert chooser.result() == QDialog.DialogCode.Rejected and not chooser.isVisible()


def test_a_click_on_add_a_name_names_them_and_a_click_elsewhere_selects(qtbot, window, names):
    asked, answers = names
    panel = window.people
    view = panel.view
    window.show_people()
    qtbot.wait(300)   # the faces' crops
    ben, anna = group(panel, videos=True), group(panel, videos=False)

    def rects(person):
        """The tile's index, its face's centre, and where the words under the face are drawn (as PersonDelegate
        draws them: centred under the face, in the first line)."""
        index = panel.model.index(row_of(panel, person))
        rect = view.visualRect(index)
        face = QPoint(rect.center().x(), rect.y() + PersonDelegate.PAD // 2 + FACE // 2)
        words = view.fontMetrics().horizontalAdvance(index.data().split("\n")[0])
        top = rect.y() + PersonDelegate.PAD // 2 + FACE + 4
        return index, face, QRect(rect.center().x() - words // 2, top, words, view.fontMetrics().height())

    index, face, link = rects(anna)
    assert index.data().startswith("Add a name\n") and link.width() < FACE   # the words, not the whole line
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=face)   # the face: selected, not named
    qtbot.wait(100)
    assert not asked and view.currentIndex() == index and view.selectionModel().isSelected(index)
    qtbot.mouseMove(view.viewport(), link.center())
    qtbot.waitUntil(lambda: view.viewport().cursor().shape() == Qt.CursorShape.PointingHandCursor)
    shot2(panel, "people-add-a-name-link")
    qtbot.mouseMove(view.viewport(), face)
    qtbot.waitUntil(lambda: view.viewport().cursor().shape() == Qt.CursorShape.ArrowCursor)

    index, face, link = rects(ben)
    answers.append("Ben")
    with qtbot.waitSignal(window.engine.peopleChanged, timeout=WAIT):
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=link.center())   # "Add a name"
        qtbot.waitUntil(lambda: asked == [ben.id], timeout=5_000)
    assert panel.pages.currentWidget() is panel.list_page   # named where it was, not opened
    qtbot.waitUntil(lambda: any(p.name == "Ben" for p in panel.model.people), timeout=WAIT)
    ben = next(p for p in panel.model.people if p.name == "Ben")
    index, face, words = rects(ben)
    view.clearSelection()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=words.center())   # a name is no link
    qtbot.wait(100)
    assert asked == [ben.id] and view.selectionModel().isSelected(index)


def test_review_is_offered_on_a_page_only_with_something_to_review(qtbot, window, names):
    asked, answers = names
    panel = window.people
    window.show_people()
    anna = group(panel, videos=False)
    totals = []
    window.engine.review(anna.id, lambda r: totals.append(r.total))
    qtbot.waitUntil(lambda: bool(totals), timeout=WAIT)
    assert totals == [0]   # one face, nobody like it
    panel.open_person(anna)
    button = panel.page.review_button
    qtbot.waitUntil(lambda: not button.isEnabled(), timeout=WAIT)
    assert button.toolTip() == "Nothing to review for this person now"
    qtbot.wait(300)
    shot2(window, "person-page-nothing-to-review")
    # Named, her group keeps its surest face; the other is offered in review now: the button is on, and says so.
    answers.append("Anna")
    with qtbot.waitSignal(window.engine.peopleChanged, timeout=WAIT):
        qtbot.mouseClick(panel.page.name_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.page.title.text() == "Anna" and button.isEnabled(), timeout=WAIT)
    totals.clear()
    window.engine.review(anna.id, lambda r: totals.append(r.total))
    qtbot.waitUntil(lambda: bool(totals), timeout=WAIT)
    assert totals[0] > 0 and button.toolTip() == f"{plural(totals[0], 'face')} to review for Anna"
    # She says no to it in the review: nothing is left, and the button goes off, saying so.
    with qtbot.waitSignal(window.engine.peopleChanged, timeout=WAIT):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        review = next(w for w in panel.findChildren(people_panel.ReviewDialog) if w.isVisible())
        qtbot.waitUntil(lambda: review.current is not None, timeout=WAIT)
        qtbot.keyClick(review, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: review.note.text().startswith("Noted: not Anna."), timeout=WAIT)
    review.done_button.click()
    qtbot.waitUntil(lambda: not button.isEnabled(), timeout=WAIT)
    assert button.toolTip() == "Nothing to review for Anna now"
    shot2(window, "person-page-nothing-to-review-for-anna")
