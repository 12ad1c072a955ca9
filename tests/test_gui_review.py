"""What the user is asked about people, through real widgets and the real engine (tiny-test model, real faces):
the merge dialog shows every face of both sides, and the review's "3 of 12" stays the library's truth as answers
come in (a Yes lets the one rule place other faces, which leave the list; a skipped face is not asked again).
Screenshots go to $IDLENS_SCREENSHOTS when it is set."""
from pathlib import Path
from types import SimpleNamespace

from PIL import Image, ImageEnhance, ImageOps
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from app.gui import install_translations
from app.gui.people_panel import FaceStrip, ReviewDialog, SamePersonDialog
from core.library import Library
from core.wording import media_counts
from tests import media_factory as mf
from tests.test_gui import WAIT, album, index_and_wait, shot, window  # noqa: F401  (fixtures)

FACES = Path(__file__).parent / "data" / "faces"
SHOTS = Path("/tmp/shots-people")


def truth(tmp_path, fn):
    with Library(tmp_path / "lib") as lib:
        return fn(lib)


def open_dialog(qtbot, dialog):
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def test_the_merge_dialog_shows_every_face_of_both(qtbot, window, album, tmp_path):
    index_and_wait(qtbot, window, [album])
    qtbot.waitUntil(lambda: len(window.people.model.people) == 2, timeout=WAIT)
    a, b = window.people.model.people
    faces = truth(tmp_path, lambda lib: {p: lib.people.faces_of(p) for p in (a.id, b.id)})
    assert len(faces[a.id]) + len(faces[b.id]) > 5   # Ben's video frames too, not one face each

    dialog = open_dialog(qtbot, SamePersonDialog(window.engine, a, b, window))
    for strip, person in zip(dialog.strips, (a, b)):
        qtbot.waitUntil(lambda: strip.face_ids == [f["id"] for f in faces[person.id]], timeout=WAIT)
        qtbot.waitUntil(lambda: strip.loaded() == len(strip.face_ids), timeout=WAIT)  # every crop on screen
        assert strip.more == 0 and strip.count() == len(faces[person.id])
    for header, person, which in zip(dialog.headers, (a, b), ("This", "Another")):
        # By kind, a video's many frames being one video: "5 faces in 3 photos · 1 video", never "4 files".
        photos = len({f["path"] for f in faces[person.id] if f["path"] and f["timestamp"] is None})
        videos = len({f["path"] for f in faces[person.id] if f["path"] and f["timestamp"] is not None})
        n = len(faces[person.id])
        assert header.text() == f"<b>{which} unnamed person</b> — {n} faces in {media_counts(photos, videos)}"
        assert "#" not in header.text() and "file" not in header.text()
    assert dialog.note.isVisibleTo(dialog) and "offered in Review" in dialog.note.text()
    assert "#" not in dialog.question.text()
    # Both unnamed: the question reads as a question, each side as the user knows it.
    assert dialog.question.text() == (f"Is this unnamed person ({media_counts(a.photos, a.videos)}) the same person "
                                      f"as another unnamed person ({media_counts(b.photos, b.videos)})?")
    shot(dialog, "review-01-merge-two-groups")
    dialog.reject()

    # A named person: their name; once both are named, no core is confirmed, so the note is gone.
    with qtbot.waitSignal(window.engine.peopleChanged, timeout=WAIT):
        window.people.name(b.id, "Ben")
    qtbot.waitUntil(lambda: any(p.name == "Ben" for p in window.people.model.people), timeout=WAIT)
    ben = next(p for p in window.people.model.people if p.name == "Ben")
    group = next(p for p in window.people.model.people if not p.name)
    dialog = open_dialog(qtbot, SamePersonDialog(window.engine, group, ben, window))
    ben_faces = truth(tmp_path, lambda lib: lib.people.faces_of(ben.id))
    qtbot.waitUntil(lambda: dialog.strips[1].face_ids == [f["id"] for f in ben_faces], timeout=WAIT)
    qtbot.waitUntil(lambda: all(s.loaded() == len(s.face_ids) > 0 for s in dialog.strips), timeout=WAIT)
    assert dialog.headers[1].text().startswith("<b>Ben</b> — ")
    assert dialog.note.isVisibleTo(dialog)   # the source is an unnamed group: only its core is confirmed
    shot(dialog, "review-02-merge-group-into-ben")
    dialog.reject()
    with qtbot.waitSignal(window.engine.peopleChanged, timeout=WAIT):
        window.people.name(group.id, "Anna")
    qtbot.waitUntil(lambda: {p.name for p in window.people.model.people} == {"Anna", "Ben"}, timeout=WAIT)
    anna, ben = sorted(window.people.model.people, key=lambda p: p.name)
    dialog = open_dialog(qtbot, SamePersonDialog(window.engine, anna, ben, window))
    assert not dialog.note.isVisibleTo(dialog)
    dialog.reject()


def test_a_big_group_shows_its_first_faces_and_how_many_more(qtbot, qapp, tmp_path):
    install_translations(qapp)   # "350 faces", as the app says it

    class Engine:
        def __init__(self):
            self.asked = []

        def crop_path(self, face_id):
            return tmp_path / f"{face_id}.jpg"

        def faces_of(self, person_id, on_done):
            self.asked.append((person_id, on_done))   # answered later, as the engine's reader thread does

    engine = Engine()
    big = SimpleNamespace(id=1, name=None, faces=350, media=120, confirmed=0)
    anna = SimpleNamespace(id=2, name="Anna", faces=2, media=2, confirmed=2)
    dialog = open_dialog(qtbot, SamePersonDialog(engine, big, anna))
    assert dialog.headers[0].text() == "<b>This unnamed person</b> — 350 faces in 120 files"  # before the list
    assert dialog.strips[0].item(0).text() == "Loading faces…"
    engine.asked[0][1]([{"id": i, "path": f"/p/{i % 100}.jpg", "timestamp": None, "confirmed": 0}
                        for i in range(350)])
    engine.asked[1][1]([{"id": 1000 + i, "path": f"/q/{i}.mp4", "timestamp": 4.0, "confirmed": 1} for i in range(2)])
    strip = dialog.strips[0]
    assert len(strip.face_ids) == FaceStrip.CAP and strip.more == 50
    assert strip.item(strip.count() - 1).text() == "and 50 more"
    assert dialog.headers[0].text() == "<b>This unnamed person</b> — 350 faces in 100 photos"
    assert dialog.headers[1].text() == "<b>Anna</b> — 2 faces in 2 videos"
    assert "0:04" in dialog.strips[1].item(0).toolTip()
    strip.scrollToItem(strip.item(strip.count() - 1))
    qtbot.wait(50)   # the layout takes in the scroll bar
    shot(dialog, "review-06-merge-a-big-group")


def test_review_keys_and_the_count_with_an_engine_that_answers_later(qtbot, qapp, tmp_path):
    """Y, N, S and Close; after a Yes the dialog waits for the decision and the review after it (no face is asked
    twice, even while the engine still lists it), and the count is the new one."""
    install_translations(qapp)
    asked, decided = [], []

    class Engine:
        people = []

        def review(self, person_id, on_done):
            asked.append(on_done)

        def crop_path(self, face_id):
            return tmp_path / f"{face_id}.jpg"

        def move_face(self, face_id, person, on_done=None):
            decided.append(("yes", face_id, on_done))

        def reject_face(self, face_id, person, on_done=None):
            decided.append(("no", face_id, on_done))

    def review(*ids, total=None):
        return SimpleNamespace(total=len(ids) if total is None else total, suggestions=[
            SimpleNamespace(face_id=i, reference_face=99, path=f"/p/{i}.jpg", timestamp=None, current_person=None,
                            similarity=0.5) for i in ids])

    dialog = open_dialog(qtbot, ReviewDialog(Engine(), SimpleNamespace(id=7, label="Łukasz")))
    assert not dialog.yes.isEnabled()                 # nothing to answer before the review comes
    asked.pop()(review(1, 2, 3, 4, 5, 6))
    assert dialog.count.text() == "1 of 6" and dialog.current.face_id == 1
    qtbot.keyClick(dialog, Qt.Key.Key_Y)
    assert decided[-1][:2] == ("yes", 1) and not dialog.yes.isEnabled()
    qtbot.keyClick(dialog, Qt.Key.Key_N)              # pressed while the Yes is being saved: ignored
    assert len(decided) == 1
    decided[-1][2](None)                              # the decision is made …
    asked.pop()(review(1, 4, 6))                      # … and the rule placed 2, 3 and 5 (1 is still listed)
    assert dialog.count.text() == "2 of 3" and dialog.current.face_id == 4
    assert dialog.note.text() == "Łukasz also got 3 faces like it, placed automatically."
    qtbot.keyClick(dialog, Qt.Key.Key_S)              # skip: no decision, no new review
    assert not asked and len(decided) == 1
    assert dialog.count.text() == "3 of 3" and dialog.current.face_id == 6
    qtbot.keyClick(dialog, Qt.Key.Key_N)
    assert decided[-1][:2] == ("no", 6)
    decided[-1][2](None)
    asked.pop()(review(4))                            # only the skipped face is left: not asked again
    assert dialog.current is None and dialog.face.text() == "Nothing more to review for Łukasz."
    assert dialog.heading.text() == dialog.windowTitle() == "All done" and dialog.count.text() == ""
    assert not dialog.yes.isVisible() and not dialog.no.isVisible() and not dialog.skip.isVisible()
    assert dialog.caption.text() == "You answered 2 faces; 1 skipped, to review another time."
    assert dialog.focusWidget() is dialog.done_button and dialog.done_button.text() == "Close"
    qtbot.keyClick(dialog, Qt.Key.Key_Y)              # nothing left to answer: the keys do nothing
    assert len(decided) == 2 and dialog.isVisible()
    qtbot.wait(50)   # the layout takes in the hidden buttons
    shot(dialog, "review-07-all-done")
    SHOTS.mkdir(parents=True, exist_ok=True)
    dialog.grab().save(str(SHOTS / "review-all-done.png"))
    qtbot.keyClick(dialog.done_button, Qt.Key.Key_Return)   # Enter closes: Close has the focus
    assert not dialog.isVisible()
    # An unnamed group is asked about as "the same person", never by an internal id.
    group = open_dialog(qtbot, ReviewDialog(Engine(), SimpleNamespace(id=12, name=None, label="Unnamed #12")))
    assert group.windowTitle() == group.heading.text() == "Is this the same person?"
    assert "#" not in group.reference_label.text()


def test_a_suggested_face_says_when_it_was_taken_and_a_no_says_who_it_is_not(qtbot, qapp, tmp_path):
    """Under the suggested face: "Suggested" and its file's date (no score, no file name: that is the tooltip),
    each caption centred under its own face, both on one line; a No says whom it is not ("Noted: not Anna")."""
    install_translations(qapp)
    asked, decided = [], []
    faces = {1: FACES / "person_a_2.jpg", 2: FACES / "person_b_1.jpg", 99: FACES / "person_a_1.jpg"}

    class Engine:
        people = [SimpleNamespace(id=5, name="Ben")]

        def review(self, person_id, on_done):
            asked.append(on_done)

        def crop_path(self, face_id):
            return faces[face_id]

        def reject_face(self, face_id, person, on_done=None):
            decided.append((face_id, on_done))

    files = [{"path": "/photos/IMG_0042.jpg", "captured_at": "2019-06-15T12:00:00"},
             {"path": "/photos/party.mp4", "captured_at": "2021-12-31"}]
    dialog = open_dialog(qtbot, ReviewDialog(Engine(), SimpleNamespace(id=3, name="Anna", label="Anna"),
                                             files=files))
    dialog.resize(560, 440)
    asked.pop()(SimpleNamespace(total=2, suggestions=[
        SimpleNamespace(face_id=1, reference_face=99, path="/photos/IMG_0042.jpg", timestamp=None,
                        current_person=None, similarity=0.5),
        SimpleNamespace(face_id=2, reference_face=99, path="/photos/party.mp4", timestamp=4.0, current_person=5,
                        similarity=0.41)]))
    qtbot.wait(50)
    words = [w.text() for w in dialog.findChildren(QLabel) if w.isVisible()]
    assert dialog.face_label.text() == "Suggested" and dialog.when.text() == "15 Jun 2019"
    assert not any("similarity" in w or "0.50" in w or "IMG_0042" in w for w in words), words
    assert dialog.face.toolTip() == "IMG_0042.jpg"

    def centre(widget):
        return widget.mapTo(dialog, widget.rect().center())

    for image, caption in ((dialog.face, dialog.face_label), (dialog.reference, dialog.reference_label)):
        assert abs(centre(image).x() - centre(caption).x()) <= 1   # each caption under its own face
    assert centre(dialog.face_label).y() == centre(dialog.reference_label).y()   # on one line
    assert dialog.face.mapTo(dialog, dialog.face.rect().bottomLeft()).y() == \
        dialog.reference.mapTo(dialog, dialog.reference.rect().bottomLeft()).y()   # the faces on one baseline
    SHOTS.mkdir(parents=True, exist_ok=True)
    Path("/tmp/shots-people2").mkdir(parents=True, exist_ok=True)
    dialog.grab().save("/tmp/shots-people2/review-suggested-dated.png")

    qtbot.keyClick(dialog, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: bool(decided))   # the button's shortcut clicks it a moment later
    decided.pop()[1](None)
    asked.pop()(SimpleNamespace(total=1, suggestions=[
        SimpleNamespace(face_id=2, reference_face=99, path="/photos/party.mp4", timestamp=4.0, current_person=5,
                        similarity=0.41)]))
    assert dialog.note.text() == "Noted: not Anna."
    assert dialog.when.text() == "31 Dec 2021 · at 0:04 in the video\nNow with Ben"
    assert dialog.face.toolTip() == "party.mp4 at 0:04"
    qtbot.wait(50)   # the layout takes in the new words
    dialog.grab().save("/tmp/shots-people2/review-after-a-no.png")
    qtbot.keyClick(dialog, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: bool(decided))
    decided.pop()[1](None)
    asked.pop()(SimpleNamespace(total=0, suggestions=[]))
    assert dialog.note.text() == "Noted: not Anna." and dialog.heading.text() == "All done"
    assert not dialog.when.isVisible() and not dialog.face_label.isVisible()
    qtbot.wait(50)   # the layout takes in the new words
    dialog.grab().save("/tmp/shots-people2/review-done-after-no.png")


def test_a_review_with_nothing_to_ask_says_so_and_offers_close(qtbot, qapp, tmp_path):
    """Zero faces at open: no "0 of 0" and no buttons to answer with; the words say there is nothing, and Close
    has the focus."""
    class Engine:
        people: list = []

        def review(self, person_id, on_done):
            on_done(SimpleNamespace(total=0, suggestions=[]))

        def crop_path(self, face_id):
            return tmp_path / f"{face_id}.jpg"

    dialog = open_dialog(qtbot, ReviewDialog(Engine(), SimpleNamespace(id=3, name="Anna", label="Anna")))
    qtbot.waitUntil(lambda: dialog.focusWidget() is dialog.done_button)
    assert dialog.heading.text() == "Nothing to review" and dialog.count.text() == ""
    assert dialog.face.text() == "No faces to review for Anna now. New photos may bring some."
    assert not any(b.isVisible() for b in (dialog.yes, dialog.no, dialog.skip)) and dialog.caption.text() == ""
    dialog.resize(520, 360)
    SHOTS.mkdir(parents=True, exist_ok=True)
    dialog.grab().save(str(SHOTS / "review-nothing-to-review.png"))
    qtbot.keyClick(dialog.done_button, Qt.Key.Key_Return)
    assert not dialog.isVisible()


def review_album(folder: Path) -> Path:
    """Anna twice as she looks in person_a_1 (what she is named by), eight shots of her as in person_a_2 (alike
    enough to ask about, not enough to place on one face alone), and two photos of Ben."""
    def scene(name, seed, image):
        canvas = mf.picture(seed, (960, 640))
        image = image.convert("RGB")
        image.thumbnail((400, 460))
        canvas.paste(image, (40, 90))
        folder.mkdir(parents=True, exist_ok=True)
        canvas.save(folder / name, quality=92)

    first = Image.open(FACES / "person_a_1.jpg")
    scene("anna-1.jpg", 1, first)
    scene("anna-1-mirrored.jpg", 2, ImageOps.mirror(first))
    later = Image.open(FACES / "person_a_2.jpg")
    for i, image in enumerate([later, ImageOps.mirror(later), ImageEnhance.Brightness(later).enhance(0.6),
                               ImageEnhance.Contrast(later).enhance(0.6), later.rotate(12, expand=True),
                               ImageOps.grayscale(later), ImageEnhance.Brightness(later).enhance(1.3),
                               ImageOps.mirror(ImageEnhance.Contrast(later).enhance(0.7))]):
        scene(f"anna-later-{i}.jpg", 10 + i, image)
    scene("ben-1.jpg", 30, Image.open(FACES / "person_b_1.jpg"))
    scene("ben-2.jpg", 31, Image.open(FACES / "person_b_2.jpg"))
    return folder


def test_review_count_stays_the_librarys_as_answers_come_in(qtbot, window, tmp_path):
    folder = review_album(tmp_path / "review-album")
    index_and_wait(qtbot, window, [folder])
    first = truth(tmp_path, lambda lib: lib.catalog.db.execute(
        "SELECT f.id FROM faces f JOIN media m ON m.id = f.media_id WHERE m.path = ?",
        [str(folder / "anna-1.jpg")]).fetchone()[0])
    with qtbot.waitSignal(window.engine.peopleChanged, timeout=WAIT):
        window.engine.move_face(first, "Anna")       # one face of hers: the rest are hers only on more evidence
    qtbot.waitUntil(lambda: any(p.name == "Anna" for p in window.engine.people), timeout=WAIT)
    anna = next(p for p in window.engine.people if p.name == "Anna")
    start = truth(tmp_path, lambda lib: lib.people.review(anna.id, 50))
    assert start.total >= 4, start.total

    dialog = open_dialog(qtbot, ReviewDialog(window.engine, anna, window))
    dialog.resize(560, 440)
    qtbot.waitUntil(lambda: dialog.current is not None, timeout=WAIT)
    assert dialog.count.text() == f"1 of {start.total}"
    assert dialog.windowTitle() == "Is this Anna?" and dialog.reference.pixmap() is not None
    assert dialog.current.reference_face in {f["id"] for f in truth(tmp_path, lambda l: l.people.faces_of(anna.id))}
    shot(dialog, "review-03-first-face")
    shown, totals = [dialog.current.face_id], [dialog.total]

    def press(key):
        """A key, as the user presses it (a button's shortcut clicks it a moment later), until it is answered."""
        before = dialog.shown
        qtbot.keyClick(dialog, key)
        qtbot.waitUntil(lambda: dialog.shown == before + 1 and not dialog.pending, timeout=WAIT)

    def after(key):
        press(key)
        if dialog.current is not None:
            shown.append(dialog.current.face_id)
        review = truth(tmp_path, lambda lib: lib.people.review(anna.id, 50))
        listed = {s.face_id for s in review.suggestions}
        # What is left is the library's review less what this session skipped; "N of M" says where the user is.
        assert dialog.remaining == review.total - len(dialog.skipped & listed)
        assert dialog.total == dialog.answered + len(dialog.skipped) + dialog.remaining
        if dialog.current is not None:
            assert dialog.count.text() == f"{dialog.shown + 1} of {dialog.total}"
            assert dialog.current.face_id in listed and dialog.current.face_id not in dialog.seen
        totals.append(dialog.total)
        return review

    left = after(Qt.Key.Key_N)               # No: that face leaves the list (and never comes back to her)
    assert shown[0] not in {s.face_id for s in left.suggestions} and left.total == start.total - 1
    skipped = dialog.current.face_id
    press(Qt.Key.Key_S)                      # Skip: no decision, the next face at once
    assert dialog.current.face_id != skipped and skipped in dialog.skipped
    assert dialog.count.text() == f"3 of {dialog.total}"
    shown.append(dialog.current.face_id)
    left = after(Qt.Key.Key_N)
    assert skipped in {s.face_id for s in left.suggestions} or left.total == 0  # still undecided in the library …
    shot(dialog, "review-04-after-answers")
    while dialog.current is not None:
        after(Qt.Key.Key_Y)                  # … but never asked again in this session
    assert skipped not in shown[2:] and len(shown) == len(set(shown))
    assert totals[-1] < start.total          # a Yes let the rule place faces like it: they left the list
    assert truth(tmp_path, lambda lib: lib.people.find("Anna").confirmed) > 1
    assert dialog.face.text() == "Nothing more to review for Anna." and dialog.heading.text() == "All done"
    assert not dialog.yes.isVisible() and dialog.focusWidget() is dialog.done_button
    shot(dialog, "review-05-done")
    SHOTS.mkdir(parents=True, exist_ok=True)
    dialog.grab().save(str(SHOTS / "review-all-done-real-engine.png"))
    dialog.done_button.click()
