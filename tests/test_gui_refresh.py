"""The panels tell the truth after every decision (issue 21, case 5): a name given from the command line while the
app is open shows in the viewer's info panel and on its face box when the window comes back to the front, and an
undo in the app takes it away again — no restart, no stale "People:" line."""
import os
import subprocess
import sys

from PySide6.QtCore import QSettings

from app.gui import open_window
from tests.conftest import ROOT
from tests.test_identity_search import scene

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _cli(library: str, *args: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "app", "--library", library, *args], env=env, cwd=ROOT, check=True,
                          capture_output=True, text=True, timeout=300).stdout


def test_a_name_given_from_the_command_line_shows_in_the_open_viewer(qtbot, tmp_path):
    album = tmp_path / "album"
    scene(album / "ben.jpg", 3, ["person_b_1.jpg"])
    library = str(tmp_path / "lib")
    settings = QSettings(str(tmp_path / "app.ini"), QSettings.Format.IniFormat)
    window = open_window(library, "tiny-test", settings)
    qtbot.addWidget(window)
    try:
        with qtbot.waitSignal(window.engine.indexFinished, timeout=120_000):
            window.engine.index([str(album)])
        qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=30_000)
        window.open_index(window.model.index(0))
        page = window.viewer_page
        qtbot.waitUntil(lambda: page.viewer is not None and len(page.viewer.face_boxes) == 1, timeout=30_000)
        assert "People:" not in page.info.text()

        face = page.viewer.face_boxes[0].face["id"]
        _cli(library, "people", "move", str(face), "Seán O'Brien")  # another process, beside the app
        # Nothing asked: the window looks every 2 s whether anyone committed (offscreen it is never "active").
        qtbot.waitUntil(lambda: "People: Seán O&#x27;Brien" in page.info.text()
                        or "People: Seán O'Brien" in page.info.text(), timeout=30_000)
        qtbot.waitUntil(lambda: [b.face.get("name") for b in page.viewer.face_boxes] == ["Seán O'Brien"],
                        timeout=30_000)

        # Edit › Undo names the command line's decision, the one it will take back.
        qtbot.waitUntil(lambda: window.undo_action.text() == "Undo moving a face to Seán O'Brien", timeout=30_000)
        window.undo_action.trigger()  # the app undoes the command line's naming
        qtbot.waitUntil(lambda: "People:" not in page.info.text(), timeout=30_000)
    finally:
        window.close()


def test_files_indexed_from_the_command_line_show_in_the_open_grid(qtbot, tmp_path):
    album, more = tmp_path / "album", tmp_path / "more"
    scene(album / "one.jpg", 3, ["person_b_1.jpg"])
    scene(more / "two.jpg", 4, ["person_b_2.jpg"])
    library = str(tmp_path / "lib")
    settings = QSettings(str(tmp_path / "app.ini"), QSettings.Format.IniFormat)
    window = open_window(library, "tiny-test", settings)
    qtbot.addWidget(window)
    try:
        with qtbot.waitSignal(window.engine.indexFinished, timeout=120_000):
            window.engine.index([str(album)])
        qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=30_000)
        env = dict(os.environ, IDLENS_MODEL="tiny-test")
        subprocess.run([sys.executable, "-m", "app", "--library", library, "index", str(more)], env=env, cwd=ROOT,
                       check=True, capture_output=True, timeout=300)
        qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=30_000)
    finally:
        window.close()


def test_naming_a_group_says_when_only_its_surest_faces_became_theirs():
    """Naming a group of 2 faces confirms its core (the one rule); when that is fewer faces than the group showed,
    the status line says where the others are, instead of the group seeming to shrink for no reason."""
    from app.gui.engine import Named, feedback
    from core.store.journal import Decision
    from core.store.records import Person

    before = Decision(1, 0.0, "move", "moved a face", [], False)
    after = Decision(2, 1.0, "name", "named a group of 2 faces Anna", [{"id": 3, "name": "Anna"}], False)
    anna = Person(3, "Anna", False, faces=1, media=1, confirmed=1, cover_face=9)
    line = feedback("naming", Named(anna, seen=2, to_review=1), before, after)
    assert line == f"{after.done} — 1 face sure, 1 more in Review suggested faces · Ctrl+Z undoes it"
    many = Person(3, "Anna", False, faces=7, media=7, confirmed=7, cover_face=9)
    assert "7 faces sure, 2 more in Review" in feedback("naming", Named(many, seen=9, to_review=2), before, after)
    whole = Person(3, "Anna", False, faces=2, media=2, confirmed=2, cover_face=9)
    assert feedback("naming", Named(whole, seen=2, to_review=0), before, after) == f"{after.done} · Ctrl+Z undoes it"


def test_a_no_says_whom_the_face_is_not():
    from core.store.journal import Decision

    assert Decision(1, 0.0, "reject", "face 3 is not Anna", [{"id": 2, "name": "Anna"}], False).done == \
        "Noted: not Anna"
    assert Decision(1, 0.0, "reject", "face 3 is not a group", [{"id": 2, "name": None}], False).done == \
        "Noted: not this person"
