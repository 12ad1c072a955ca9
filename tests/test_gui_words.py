"""The people panel's words, through real widgets and the real engine (tiny-test model, real faces from
tests/data/faces), offscreen: counts in words by kind ("1 photo", "2 photos · 1 video", "2 videos"), never an
internal id ("Unnamed #8") in a title, a menu or a sentence, and a name dialog with a short title and the face it
names. Screenshots go to /tmp/words-*.png."""
import re
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QDialog, QLabel

from app.gui import build_main_window
from core.library import Library
from tests import media_factory as mf
from tests.test_identity_search import scene

FACES = Path(__file__).parent / "data" / "faces"
WAIT = 120_000
SEAN = "Seán O'Brien"
ID = re.compile(r"#\d")


@pytest.fixture
def album(tmp_path):
    """Seán alone in one photo; Ben in two photos and a video; someone else in two videos only."""
    folder = tmp_path / "album"
    scene(folder / "sean.jpg", 1, ["person_a_1.jpg"])
    scene(folder / "ben-1.jpg", 3, ["person_b_1.jpg"])
    scene(folder / "ben-2.jpg", 4, ["person_b_2.jpg"])
    mf.video_of_photos(folder / "party.mp4", [FACES / "person_b_2.jpg", mf.picture(3, (640, 360)),
                                              FACES / "impostor_1.jpg"], seconds_each=2.0)
    mf.video_of_photos(folder / "clip.mp4", [mf.picture(5, (640, 360)), FACES / "impostor_1.jpg"],
                       seconds_each=2.0)
    return folder


@pytest.fixture
def window(qtbot, tmp_path, album):
    """The window on the album, indexed, with Seán named from his one face (as the viewer names a face)."""
    settings = QSettings(str(tmp_path / "qsettings.ini"), QSettings.Format.IniFormat)
    w = build_main_window(str(tmp_path / "lib"), "tiny-test", settings)
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(album))])
    with qtbot.waitSignal(w.engine.indexFinished, timeout=WAIT):
        w.dropEvent(QDropEvent(QPoint(400, 300), Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                               Qt.KeyboardModifier.NoModifier))
    qtbot.waitUntil(lambda: not w.engine.indexing and len(w.people.model.people) == 2, timeout=WAIT)
    peek = Library(tmp_path / "lib")
    face = peek.catalog.db.execute("SELECT f.id FROM faces f JOIN media m ON m.id = f.media_id WHERE m.path = ?",
                                   [str(album / "sean.jpg")]).fetchone()[0]
    peek.close()
    with qtbot.waitSignal(w.engine.peopleChanged, timeout=WAIT):
        w.engine.move_face(face, SEAN)
    qtbot.waitUntil(lambda: any(p.name == SEAN for p in w.people.model.people), timeout=WAIT)
    w.show_people()
    yield w
    w.close()


def texts(people_model):
    return {p.name or p.id: people_model.data(people_model.index(row)) for row, p in enumerate(people_model.people)}


def no_ids(*strings):
    for text in strings:
        assert not ID.search(text) and "Unnamed" not in text, text


def test_the_people_list_counts_photos_and_videos(qtbot, window):
    model = window.people.model
    shown = texts(model)
    assert shown[SEAN] == f"{SEAN}\n1 photo"
    unnamed = [t for key, t in shown.items() if key != SEAN]
    assert sorted(unnamed) == ["Add a name\n2 photos · 1 video", "Add a name\n2 videos"]   # Ben; the video group
    no_ids(*shown.values())
    for row in range(model.rowCount()):
        no_ids(model.data(model.index(row), Qt.ItemDataRole.ToolTipRole))
    qtbot.wait(500)   # the faces' crops, read on pool threads
    window.people.grab().save("/tmp/words-people.png")


def test_titles_menus_and_sentences_never_show_an_internal_id(qtbot, window):
    from app.gui.people_panel import ChoosePersonDialog, FacesDialog, ReviewDialog, SamePersonDialog, spoken

    panel = window.people
    people = panel.model.people
    sean = next(p for p in people if p.name == SEAN)
    group = next(p for p in people if not p.name)
    faces = FacesDialog(window.engine, group, window)
    qtbot.waitUntil(lambda: faces.model.rowCount() > 0, timeout=WAIT)
    assert faces.windowTitle() == "Faces of this person"
    face_menu = faces.face_menu(0, faces.model.item(0).data(Qt.ItemDataRole.UserRole + 2))
    menu = [a.text() for a in face_menu.actions()]
    face_menu.grab().save("/tmp/words-face-menu.png")
    assert menu[0] == "Not this person"
    no_ids(faces.windowTitle(), *menu)
    faces.show()
    qtbot.wait(500)
    faces.grab().save("/tmp/words-faces.png")
    faces.close()

    for person in people:
        no_ids(*(a.text() for a in panel.menu_for(person).actions()))
    named = FacesDialog(window.engine, sean, window)
    assert named.windowTitle() == f"Faces of {SEAN}"
    qtbot.waitUntil(lambda: named.model.rowCount() > 0, timeout=WAIT)
    assert [a.text() for a in named.face_menu(0, 0).actions()][0] == f"Not {SEAN}"
    named.close()

    assert spoken(group).startswith("this unnamed person (") and spoken(group).endswith(")")
    chooser = ChoosePersonDialog(window.engine, [p for p in people if p.id != group.id],
                                 f"Who else is {spoken(group)}?", window)
    no_ids(chooser.windowTitle(), *(chooser.list.item(i).text() for i in range(chooser.list.count())))
    chooser.close()
    same = SamePersonDialog(window.engine, group, sean, window)
    no_ids(same.windowTitle(), same.question.text(), *(h.text() for h in same.headers))
    same.close()
    review = ReviewDialog(window.engine, group, window)
    no_ids(review.windowTitle(), review.heading.text())
    review.close()


def test_the_name_dialog_shows_the_face_under_a_short_title(qtbot, window, monkeypatch):
    from app.gui import people_panel
    from app.gui.people_panel import NameDialog

    panel = window.people
    group = next(p for p in panel.model.people if not p.name and p.photos)   # Ben, in photos and a video
    dialog = NameDialog(window.engine, group, panel.model.people, panel)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    qtbot.waitUntil(dialog.has_face, timeout=WAIT)
    face = dialog.face.pixmap()
    assert not face.isNull() and face.width() >= 100   # the face concerned, not a grey square
    assert dialog.windowTitle() == "Add a name"
    # Short enough for any title bar (the old one, "Name this person", was cut to "Name … erson").
    assert dialog.fontMetrics().horizontalAdvance(dialog.windowTitle()) < dialog.width() / 2
    words = [w.text() for w in dialog.findChildren(QLabel) if w.text()]
    assert "Who is this?" in words and "2 photos · 1 video" in words
    no_ids(dialog.windowTitle(), *words)
    dialog.grab().save("/tmp/words-name-dialog.png")
    dialog.close()

    # Through the panel (F2, the menu's "Add a name…" or the person page's button): the name typed is the group's.
    def answer(self):
        assert self.windowTitle() == "Add a name" and self.person.id == group.id
        self.line.setText("Ben")
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(people_panel.NameDialog, "exec", answer)
    with qtbot.waitSignal(window.engine.peopleChanged, timeout=WAIT):
        panel.ask_name(group)
    qtbot.waitUntil(lambda: any(p.name == "Ben" for p in panel.model.people), timeout=WAIT)
    ben = next(p for p in panel.model.people if p.name == "Ben")
    assert texts(panel.model)["Ben"] == "Ben\n2 photos · 1 video"
    rename = NameDialog(window.engine, ben, panel.model.people, panel)
    assert rename.windowTitle() == "Rename" and rename.line.text() == "Ben"
    rename.close()
