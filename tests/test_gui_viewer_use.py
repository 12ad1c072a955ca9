"""The viewer as a newcomer used it (real X window, issue 21 follow-up), through the widgets, offscreen:
the arrow keys step through the results wherever the user clicked in the viewer; the viewer page fits an 800 px
window (it never widens it); naming a face asks "Who is this?" with that face shown, beside it and off the other
faces; the name chips under the faces are one readable screen size whatever the face's size and the zoom, and do
not pile on each other. Screenshots go to /tmp/shots-viewer/."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect, QSettings, QSize, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QApplication, QDialog, QInputDialog, QLabel

from app.gui import people_panel
from app.gui.completion import NameCompleter
from app.gui import viewer as viewer_module
from app.gui.viewer import ViewerPage
from core.faces.views import ListedPerson
from tests import media_factory as mf

pytestmark = pytest.mark.timeout(180, method="thread")
SHOTS = Path("/tmp/shots-viewer")
FACES = Path(__file__).parent / "data" / "faces"
LONG = "Alexandra Konstantinopoulou"


def shot(widget, name: str) -> None:
    widget.grab().save(str(SHOTS / f"{name}.png"))


@pytest.fixture(autouse=True)
def shots_folder():
    SHOTS.mkdir(parents=True, exist_ok=True)


class FakeEngine:
    """What the viewer asks of the engine, answered at once: a photo's faces, a face's crop, and the namings."""

    def __init__(self, faces: list[dict], crop: Path | None = None, people: list | None = None):
        self.faces, self.crop, self.people = faces, crop, people or []
        self.moved: list[tuple[int, object]] = []

    def faces_in(self, media_id, on_done):
        on_done([dict(f) for f in self.faces])

    def move_face(self, face_id, person, on_done=None):
        self.moved.append((face_id, person))

    def reject_face(self, face_id, person_id, on_done=None):
        pass

    def crop_path(self, face_id):
        return self.crop

    def ensure_crop(self, face_id):
        return self.crop


def face(face_id: int, x: int, y: int, side: int, name: str | None = None, person_id: int | None = None) -> dict:
    return {"id": face_id, "x": x, "y": y, "w": side, "h": side, "timestamp": None, "name": name,
            "person_id": person_id}


@pytest.fixture
def group(tmp_path):
    """A 1600×1000 photo: three small faces side by side (two with long names), and one big face."""
    photo = mf.photo(tmp_path / "group.jpg", 5, size=(1600, 1000))
    faces = [face(1, 100, 120, 40, LONG, 11), face(2, 146, 120, 40, "Bartholomew Featherstonehaugh", 12),
             face(3, 192, 120, 40), face(4, 700, 100, 700, "Anna", 13)]
    crop = mf.photo(tmp_path / "crop.jpg", 9, size=(112, 112))
    people = [ListedPerson(id=13, name="Anna", hidden=False, faces=3, media=3, confirmed=1, cover_face=4,
                           aliases=["Mum"], photos=2, videos=1)]
    return {"path": str(photo), "kind": "photo", "media_id": 7}, FakeEngine(faces, crop, people)


def page_of(qtbot, engine, row, size: QSize | None = None) -> ViewerPage:
    page = ViewerPage(engine)
    qtbot.addWidget(page)
    page.resize(size or QSize(1000, 700))
    page.show()
    qtbot.waitExposed(page)
    page.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is page, timeout=5_000)
    page.show_row(row, 2, 3)
    return page


def photo_shown(qtbot, page, boxes: int = 0):
    viewer = page.viewer
    qtbot.waitUntil(lambda: viewer.pixmap_item is not None and len(viewer.face_boxes) == boxes, timeout=20_000)
    qtbot.wait(20)
    return viewer


def chip_of(box):
    """A face box's name chip (the box of its name label)."""
    return box.label.parentItem()


def on_screen(viewer, item) -> QRect:
    """An item's rectangle in the view's viewport pixels (also for one that ignores the view's zoom)."""
    return item.deviceTransform(viewer.view.viewportTransform()).mapRect(item.boundingRect()).toRect()


# -- 1. the keys work wherever the user clicked ----------------------------------------------------------------------
def keys_work(qtbot, page, where: str, video: bool = False) -> None:
    """Right, Left, PageDown, PageUp, Space and Escape, typed where the keyboard's keys go now (the focus widget)."""
    steps, backs, plays = [], [], []
    page.step.connect(steps.append)
    page.back.connect(lambda: backs.append(True))
    page.viewer.toggle_playback = lambda: plays.append(True)
    try:
        for key, expected in ((Qt.Key.Key_Right, [1]), (Qt.Key.Key_Left, [1, -1]), (Qt.Key.Key_PageDown, [1, -1, 1]),
                              (Qt.Key.Key_PageUp, [1, -1, 1, -1])):
            target = QApplication.focusWidget()
            assert target is not None and page.isAncestorOf(target), f"after a click on {where}: focus is lost"
            qtbot.keyClick(target, key)
            assert steps == expected, (f"after a click on {where}, {key.name} went to "
                                       f"{type(target).__name__}, which kept it")
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Space)
        assert plays == ([True] if video else []), f"Space after a click on {where}"
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Escape)
        assert backs == [True], f"Escape after a click on {where}"
    finally:
        page.step.disconnect()
        page.back.disconnect()
        del page.viewer.toggle_playback


def click(qtbot, widget, pos: QPoint | None = None) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=pos if pos is not None else widget.rect().center())


def test_the_arrow_keys_step_wherever_the_user_clicked_in_a_photo(qtbot, group, monkeypatch):
    row, engine = group
    asked = []
    monkeypatch.setattr(viewer_module, "ask_name", lambda *args, **kwargs: asked.append(args) or None)
    monkeypatch.setattr(viewer_module.QDesktopServices, "openUrl", lambda url: None)
    page = page_of(qtbot, engine, row)
    viewer = photo_shown(qtbot, page, boxes=4)
    keys_work(qtbot, page, "nothing yet")
    click(qtbot, viewer.view.viewport(), QPoint(5, 5))            # the picture (its dark margin)
    keys_work(qtbot, page, "the picture")
    click(qtbot, viewer.view.viewport(), viewer.view.mapFromScene(900, 500))   # the photo itself
    keys_work(qtbot, page, "the photo")
    big = viewer.face_boxes[3]
    click(qtbot, viewer.view.viewport(), viewer.view.mapFromScene(big.rect().center()))   # a face box
    assert asked, "the click on the face box did not ask who it is"
    keys_work(qtbot, page, "a face box")
    for button in (page.previous_button, page.next_button, page.back_button):
        click(qtbot, button)
        keys_work(qtbot, page, f"the {button.text()} button")
    for button in viewer.findChildren(viewer_module.QPushButton):  # open in the system viewer, show in folder
        click(qtbot, button)
        keys_work(qtbot, page, f"the {button.text()} button")
    for label in (page.info, page.title, page.position, *viewer.findChildren(viewer_module.QLabel)):
        click(qtbot, label)   # (the info panel and the path take the focus: their text can be selected)
        keys_work(qtbot, page, f"the {label.objectName() or label.text()} label")


def test_the_arrow_keys_step_wherever_the_user_clicked_in_a_video(qtbot, tmp_path, monkeypatch):
    try:
        from PySide6.QtMultimedia import QMediaPlayer  # noqa: F401
    except ImportError as e:
        pytest.skip(f"QtMultimedia cannot load ({e})")
    monkeypatch.setattr(viewer_module.QDesktopServices, "openUrl", lambda url: None)
    clip = mf.video(tmp_path / "clip.mp4", [1, 2], scene_seconds=0.6, fps=10, size=(160, 120))
    row = {"path": str(clip), "kind": "video", "timestamp": 0.3, "moments": [{"timestamp": 0.3, "score": 0.3}]}
    page = page_of(qtbot, FakeEngine([]), row)
    viewer = page.viewer
    assert viewer.player is not None
    viewer.seek = lambda *args, **kwargs: None   # a moment button's seek (the video itself is not the point here)
    for widget, where in ((viewer.video_widget, "the video"), (viewer.timeline, "the timeline"),
                          (viewer.play_button, "the Play button"), (viewer.moment_buttons[0], "a moment button")):
        click(qtbot, widget)
        keys_work(qtbot, page, where, video=True)
    viewer.release_player()


def test_the_keys_work_in_the_main_window_after_a_click_on_the_photo(qtbot, tmp_path):
    """In the window: a click on the photo, then Right shows the next result, Escape the grid."""
    from app.gui import open_window

    album = tmp_path / "album"
    for i in range(3):
        mf.photo(album / f"p{i}.jpg", i)
    window = open_window(str(tmp_path / "lib"), "tiny-test",
                         QSettings(str(tmp_path / "app.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.resize(1000, 700)
    window.show()
    qtbot.waitExposed(window)
    with qtbot.waitSignal(window.engine.indexFinished, timeout=120_000):
        window.engine.index([str(album)])
    qtbot.waitUntil(lambda: window.model.rowCount() == 3, timeout=60_000)
    window.open_index(window.model.index(0))
    viewer = window.viewer_page.viewer
    qtbot.waitUntil(lambda: viewer.pixmap_item is not None, timeout=20_000)
    click(qtbot, viewer.view.viewport())
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Right)
    assert window.grid.currentIndex().row() == 1 and window.viewer_page.viewer is not viewer
    viewer = window.viewer_page.viewer
    qtbot.waitUntil(lambda: viewer.pixmap_item is not None, timeout=20_000)
    click(qtbot, viewer.view.viewport())
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Escape)
    assert window.stack.currentWidget() is not window.viewer_page
    window.close()


# -- 2. the viewer page fits an 800 px window -----------------------------------------------------------------------
LONG_NAME = "IMG_20190615_120000_HDR_portrait_mode_final_version_from_the_family_phone_backup_copy"


@pytest.fixture
def long_named(tmp_path):
    folder = tmp_path / "album" / "a folder with a long name" / "and another one inside it"
    photo = mf.photo(folder / f"{LONG_NAME}.jpg", 3)
    clip = mf.video(folder / f"{LONG_NAME}.mp4", [1, 2, 3], scene_seconds=1.0, fps=10, size=(160, 120))
    moments = [{"timestamp": t / 4, "score": 0.3} for t in range(12)]
    return [{"path": str(photo), "kind": "photo"},
            {"path": str(clip), "kind": "video", "timestamp": 0.5, "duration": 3.0, "moments": moments}]


def test_the_viewer_page_fits_beside_the_sidebar_of_an_800px_window(qtbot, long_named):
    for row in long_named:
        page = page_of(qtbot, FakeEngine([]), row, QSize(600, 500))
        qtbot.wait(50)
        shot(page, f"fits-600-{row['kind']}")
        assert page.minimumSizeHint().width() <= 600, (row["kind"], page.minimumSizeHint())
        assert page.width() == 600
        assert page.title.toolTip() == Path(row["path"]).name   # the whole name, where it is cut
        if page.viewer.player is not None:
            page.viewer.release_player()
        page.leave()


def test_opening_a_long_named_photo_or_video_never_widens_an_800px_window(qtbot, tmp_path, long_named):
    from app.gui import open_window

    def window_on_library():
        w = open_window(str(tmp_path / "lib"), "tiny-test",
                        QSettings(str(tmp_path / "app.ini"), QSettings.Format.IniFormat))
        qtbot.addWidget(w)
        return w

    # Indexed first (the first-run page, "1 photo · 1 video found, …", is not what is measured here), then an
    # 800 px window on the library, as the newcomer had it.
    first = window_on_library()
    first.resize(1000, 600)
    first.show()
    with qtbot.waitSignal(first.engine.indexFinished, timeout=120_000):
        first.engine.index([str(Path(long_named[0]["path"]).parent)])
    qtbot.waitUntil(lambda: first.model.rowCount() == 2, timeout=60_000)
    first.close()
    window = window_on_library()
    window.resize(800, 600)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=60_000)
    qtbot.wait(50)
    width = window.width()
    assert width == 800
    for i in range(2):
        window.open_index(window.model.index(i))
        qtbot.wait(100)
        shot(window, f"window-800-{window.viewer_page.viewer.row['kind']}")
        assert window.width() == width, f"opening the {window.viewer_page.viewer.row['kind']} widened the window"
        qtbot.keyClick(window.viewer_page.viewer, Qt.Key.Key_Escape)
        qtbot.wait(50)
        assert window.width() == width
    window.close()


# -- 3. naming a face: "Who is this?", with the face, beside it ------------------------------------------------------
@pytest.fixture
def dialogs(monkeypatch):
    """The name dialog, as the user saw it (once its face's crop came, read on a pool thread: `seen`, one record
    each, with a picture of the window with the dialog where it was placed), answered with the next of `answers`
    (None: cancelled)."""
    seen, answers = [], []

    def answer(self):
        deadline = time.monotonic() + 30
        while not self.has_face() and time.monotonic() < deadline:
            QApplication.processEvents()
            time.sleep(0.01)
        window = self.parent().window()
        picture = window.grab()
        painter = QPainter(picture)
        painter.drawPixmap(self.pos() - window.pos(), self.grab())
        painter.end()
        completer = self.findChild(NameCompleter)
        seen.append({"title": self.windowTitle(), "labels": [label.text() for label in self.findChildren(QLabel)],
                     "offered": self.line.text(), "face": self.has_face(), "crop": self.face.pixmap().toImage(),
                     "where": self.frameGeometry(), "picture": picture,
                     "completes": completer.suggestions if completer is not None else None})
        answer = answers.pop(0)
        if answer is None:
            return QDialog.DialogCode.Rejected
        self.line.setText(answer)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(people_panel.NameDialog, "exec", answer)
    # The bare "Name:" box the viewer used to ask with: seen as such, and cancelled (never a modal wait here).
    monkeypatch.setattr(QInputDialog, "exec", lambda self: seen.append({"title": self.windowTitle(), "face": False,
                                                                         "bare": self.labelText()}) or 0)
    return seen, answers


def test_naming_a_face_shows_who_is_this_with_the_face_beside_it_off_the_others(qtbot, group, dialogs):
    row, engine = group
    seen, answers = dialogs
    page = page_of(qtbot, engine, row, QSize(780, 560))
    viewer = photo_shown(qtbot, page, boxes=4)
    faces = [viewer._on_screen(box.face) for box in viewer.face_boxes]
    small = viewer.face_boxes[2]   # the unnamed one, between a named face and the big one
    answers.append("Ben")
    click(qtbot, viewer.view.viewport(), viewer.view.mapFromScene(small.rect().center()))
    assert len(seen) == 1
    asked = seen[0]
    assert "bare" not in asked, "the bare, faceless name box asked"
    assert engine.moved == [(3, "Ben")]
    asked["picture"].save(str(SHOTS / "name-dialog-unnamed.png"))
    assert asked["title"] == "Who is this?" and "Who is this?" in asked["labels"]
    assert asked["face"] and asked["crop"].width() > 50   # the face's crop, not the blank square
    assert asked["offered"] == ""   # an unnamed face: nothing offered
    assert asked["completes"]("mu") == ["Anna"]   # names and aliases, as in the people panel
    assert not any(asked["where"].intersects(f) for f in faces), (asked["where"], faces)
    assert QApplication.primaryScreen().availableGeometry().contains(asked["where"])

    # A named face: her name is offered; still beside her and off the others (the big face fills half the photo).
    answers.append(None)
    big = viewer.face_boxes[3]
    click(qtbot, viewer.view.viewport(), viewer.view.mapFromScene(big.rect().center()))
    asked = seen[-1]
    asked["picture"].save(str(SHOTS / "name-dialog-named.png"))
    assert asked["offered"] == "Anna" and asked["title"] == "Who is this?"
    assert "2 photos · 1 video" in asked["labels"]
    assert not any(asked["where"].intersects(f) for f in faces), (asked["where"], faces)
    assert engine.moved == [(3, "Ben")]   # cancelled: nothing changed


def test_the_name_dialog_goes_beside_the_face_off_the_others_else_the_windows_centre():
    place = viewer_module.place_beside
    screen, window, size = QRect(0, 0, 1000, 800), QRect(100, 100, 800, 600), QSize(300, 150)
    me = QRect(400, 200, 100, 100)
    assert place(size, me, [me], screen, window) == QPoint(516, 200)   # on its right, level with it
    other = QRect(520, 150, 100, 100)
    spot = QRect(place(size, me, [me, other], screen, window), size)
    assert spot.right() < me.left() and not spot.intersects(other)   # the right is taken: its left
    edge = QRect(0, 200, 100, 100)
    spot = QRect(place(size, edge, [edge, QRect(116, 150, 100, 300)], screen, window), size)
    assert screen.contains(spot) and not spot.intersects(edge) and not spot.intersects(QRect(116, 150, 100, 300))
    everywhere = [QRect(x, y, 90, 90) for x in range(0, 1000, 100) for y in range(0, 800, 100)]
    assert QRect(place(size, everywhere[0], everywhere, screen, window), size).center() == window.center()


def test_naming_a_face_in_a_real_library_shows_its_crop(qtbot, tmp_path, dialogs):
    """The real engine: the crop of the face clicked (two people in one photo), made by the library."""
    from app.gui import open_window
    from tests.test_identity_search import scene

    seen, answers = dialogs
    album = tmp_path / "album"
    scene(album / "two.jpg", 5, ["person_a_2.jpg", "person_b_2.jpg"])
    window = open_window(str(tmp_path / "lib"), "tiny-test",
                         QSettings(str(tmp_path / "app.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.resize(1000, 700)
    window.show()
    with qtbot.waitSignal(window.engine.indexFinished, timeout=120_000):
        window.engine.index([str(album)])
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=60_000)
    window.open_index(window.model.index(0))
    viewer = window.viewer_page.viewer
    qtbot.waitUntil(lambda: len(viewer.face_boxes) == 2, timeout=60_000)
    box = viewer.face_boxes[1]
    answers.append(None)
    click(qtbot, viewer.view.viewport(), viewer.view.mapFromScene(box.rect().center()))
    asked = seen[0]
    assert "bare" not in asked, "the bare, faceless name box asked"
    asked["picture"].save(str(SHOTS / "name-dialog-real-library.png"))
    face = asked["crop"]
    assert asked["face"] and face.width() > 50
    assert len({face.pixelColor(x, face.height() // 2).name() for x in range(0, face.width(), 5)}) > 5  # a face
    assert not any(asked["where"].intersects(f) for f in viewer.faces_on_screen())
    window.close()


# -- 4. name chips: one screen size, elided, apart ---------------------------------------------------------------------
def test_name_chips_are_one_readable_size_whatever_the_face_and_the_zoom(qtbot, group):
    row, engine = group
    page = page_of(qtbot, engine, row)
    viewer = photo_shown(qtbot, page, boxes=4)
    shot(page, "chips-fitted")
    chips = [on_screen(viewer, chip_of(b)) for b in viewer.face_boxes]
    heights = {c.height() for c in chips}
    assert len(heights) == 1 and 16 <= heights.pop() <= 30, chips   # the small faces' and the big one's alike
    font = viewer.face_boxes[0].label.font()
    assert font.pixelSize() >= 12 or font.pointSizeF() >= 9
    labels = [b.label.text() for b in viewer.face_boxes]
    assert labels[0] == "Alexandra Kon…" and len(labels[1]) <= 14 and labels[2:] == ["?", "Anna"]
    assert LONG in chip_of(viewer.face_boxes[0]).toolTip() and LONG in viewer.face_boxes[0].toolTip()
    # Each chip under its face, centred (the first one kept on the photo: its face is near the edge).
    photo = viewer.view.mapFromScene(viewer.view.sceneRect()).boundingRect()
    for box, chip in zip(viewer.face_boxes, chips):
        face = viewer._on_screen(box.face)
        face.moveTopLeft(viewer.view.viewport().mapFromGlobal(face.topLeft()))
        assert chip.top() >= face.bottom() - 1 and photo.left() <= chip.left() and chip.right() <= photo.right()
        assert abs(chip.center().x() - face.center().x()) <= 2 or chip.left() == photo.left(), (chip, face)
    # The three small faces are side by side: their chips do not lie on each other.
    for i in range(3):
        for j in range(i + 1, 3):
            assert not chips[i].intersects(chips[j]), (i, j, chips)
    # Zoomed in (the wheel) and out: the same size on screen.
    viewer.view.zoomed = True   # as the wheel does: a resize (the scroll bars coming) keeps the zoom
    for factor in (3.0, 0.5):
        viewer.view.scale(factor, factor)
        viewer.view.transformed.emit()
        qtbot.wait(20)
        assert {on_screen(viewer, chip_of(b)).height() for b in viewer.face_boxes} == {chips[0].height()}
    viewer.view.resetTransform()
    viewer.view.scale(2.5, 2.5)
    viewer.view.centerOn(150, 150)
    viewer.view.transformed.emit()
    qtbot.wait(20)
    shot(page, "chips-zoomed")
    zoomed = [on_screen(viewer, chip_of(b)) for b in viewer.face_boxes[:3]]
    assert all(c.height() == chips[0].height() for c in zoomed)


def test_the_face_boxes_are_drawn_the_same_width_on_screen_on_a_big_photo(qtbot, tmp_path):
    """A 4000 px photo fitted in the window: its boxes are still a visible line (not a third of a pixel)."""
    photo = mf.photo(tmp_path / "big.jpg", 4, size=(4000, 3000))
    engine = FakeEngine([face(1, 1000, 1000, 300, "Anna", 1)])
    page = page_of(qtbot, engine, {"path": str(photo), "kind": "photo", "media_id": 1})
    viewer = photo_shown(qtbot, page, boxes=1)
    picture = viewer.view.viewport().grab().toImage()
    edge = viewer.view.mapFromScene(1000, 1150)
    colours = [picture.pixelColor(edge.x() + dx, edge.y()) for dx in range(-3, 4)]
    assert any(c.green() > 150 and c.red() < 130 for c in colours), [c.name() for c in colours]
