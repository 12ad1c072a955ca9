"""The face panel: people as a grid of faces (named first, then unnamed groups, biggest first). Name or rename
with completion, drag one person onto another to merge, hide, see a person's faces (move one, or "not this
person"), and review suggested faces with yes/no."""
from __future__ import annotations

import logging

from PySide6.QtCore import QAbstractListModel, QCoreApplication, QMimeData, QModelIndex, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (QDialog, QHBoxLayout, QLabel, QListView, QMenu, QMessageBox, QPushButton, QVBoxLayout,
                               QWidget)

from app.gui.completion import ask_name

log = logging.getLogger(__name__)

FACE = 120
PersonRole = Qt.ItemDataRole.UserRole + 2
MIME = "application/x-idlens-person"


def face_icon(path) -> QIcon:
    pix = QPixmap(str(path)) if path and path.exists() else QPixmap()
    if pix.isNull():
        pix = QPixmap(FACE, FACE)
        pix.fill(QColor("#3a3f47"))
    return QIcon(pix.scaled(FACE, FACE, Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                            Qt.TransformationMode.SmoothTransformation))


class PeopleModel(QAbstractListModel):
    merge_requested = Signal(int, int)  # target, source

    def __init__(self, crop_path, parent=None):
        super().__init__(parent)
        self.people = []
        self.crop_path = crop_path
        self._icons: dict[int, QIcon] = {}
        self._asked: set[int] = set()
        from app.gui.results import Loaded

        self._loaded = Loaded()
        self._loaded.done.connect(self._icon_loaded)
        self._blank = face_icon(None)

    def set_people(self, people) -> None:
        self.beginResetModel()
        self.people = list(people)
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self.people)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        p = self.people[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{p.label}\n{p.media} photos" if p.name else f"Unnamed\n{p.media} photos"
        if role == Qt.ItemDataRole.DecorationRole:
            if p.cover_face is None:
                return self._blank
            icon = self._icons.get(p.cover_face)
            if icon is None:
                if p.cover_face not in self._asked:  # read on a pool thread, like the grid's thumbnails
                    from PySide6.QtCore import QThreadPool

                    from app.gui.results import LoadThumbnail

                    self._asked.add(p.cover_face)
                    QThreadPool.globalInstance().start(
                        LoadThumbnail(str(p.cover_face), str(self.crop_path(p.cover_face)), self._loaded))
                return self._blank
            return icon
        if role == Qt.ItemDataRole.ToolTipRole:
            text = QCoreApplication.translate("PeopleModel", "%n face(s)", "", p.faces) + " " + \
                QCoreApplication.translate("PeopleModel", "in %n file(s)", "", p.media)
            return f"{p.label}: {text}" + (" (hidden)" if p.hidden else "")
        if role == PersonRole:
            return p
        return None

    def _icon_loaded(self, key: str, image) -> None:
        if image.isNull():
            return
        face_id = int(key)
        self._icons[face_id] = QIcon(QPixmap.fromImage(image).scaled(
            FACE, FACE, Qt.AspectRatioMode.KeepAspectRatioByExpanding, Qt.TransformationMode.SmoothTransformation))
        for i, p in enumerate(self.people):
            if p.cover_face == face_id:
                self.dataChanged.emit(self.index(i), self.index(i), [Qt.ItemDataRole.DecorationRole])

    def flags(self, index):
        base = super().flags(index)
        if index.isValid():
            return base | Qt.ItemFlag.ItemIsDragEnabled | Qt.ItemFlag.ItemIsDropEnabled
        return base

    def supportedDropActions(self):
        return Qt.DropAction.MoveAction

    def mimeTypes(self):
        return [MIME]

    def mimeData(self, indexes):
        data = QMimeData()
        data.setData(MIME, str(self.people[indexes[0].row()].id).encode())
        return data

    def dropMimeData(self, data, action, row, column, parent):
        if not data.hasFormat(MIME) or not parent.isValid():
            return False
        source = int(bytes(data.data(MIME)).decode())
        target = self.people[parent.row()].id
        if source != target:
            self.merge_requested.emit(target, source)
        return False  # the engine merges; the list refreshes from it


class PeoplePanel(QWidget):
    search_person = Signal(str)

    def __init__(self, engine, parent=None):
        super().__init__(parent)
        self.engine = engine
        layout = QVBoxLayout(self)
        header = QHBoxLayout()
        title = QLabel("<h3>People</h3>")
        self.hint = QLabel("Name a group to find them by name. Drag one group onto another to merge them.")
        self.hint.setObjectName("hint")
        header.addWidget(title)
        header.addWidget(self.hint, 1)
        layout.addLayout(header)
        self.model = PeopleModel(engine.crop_path, self)
        self.model.merge_requested.connect(self.merge)
        self.view = QListView(self)
        self.view.setObjectName("peopleView")
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setIconSize(QSize(FACE, FACE))
        self.view.setGridSize(QSize(FACE + 40, FACE + 50))
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Snap)
        self.view.setDragDropMode(QListView.DragDropMode.DragDrop)
        self.view.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.view.setWordWrap(True)
        self.view.setModel(self.model)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._menu)
        self.view.doubleClicked.connect(self._open)
        layout.addWidget(self.view, 1)
        engine.peopleChanged.connect(self.model.set_people)

    def person_at(self, row: int):
        return self.model.people[row]

    def _selected(self):
        idx = self.view.currentIndex()
        return self.model.people[idx.row()] if idx.isValid() else None

    def _menu(self, pos):
        person = self._selected()
        if person is None:
            return
        menu = QMenu(self)
        menu.addAction("Rename…" if person.name else "Name…", lambda: self.ask_name(person))
        menu.addAction("Merge with…", lambda: self.merge_with(person))
        menu.addAction("Review suggested faces…", lambda: self.review(person))
        menu.addAction("Show faces…", lambda: self.show_faces(person))
        menu.addAction("Show photos", lambda: self._open(self.view.currentIndex()))
        menu.addAction("Show again" if person.hidden else "Hide", lambda: self.engine.hide_person(
            person.id, not person.hidden))
        menu.exec(self.view.viewport().mapToGlobal(pos))

    def _open(self, index):
        person = self.model.people[index.row()]
        if person.name:
            self.search_person.emit(person.name)
        else:
            self.ask_name(person)

    def ask_name(self, person) -> None:
        name = ask_name(self, "Name this person", f"Who is this? ({person.media} photos)", self.model.people,
                        person.name or "")
        if name:
            self.name(person.id, name)

    def name(self, person_id: int, name: str) -> None:
        from core.names import key

        person = next((p for p in self.model.people if p.id == person_id), None)
        other = next((p for p in self.model.people if p.id != person_id and p.name and key(name) in
                      {key(p.name), *(key(a) for a in p.aliases)}), None)
        if person is not None and person.name and other is not None and QMessageBox.question(
                self, "Same person?", f"{other.label} is someone already. Are {person.label} and {other.label} "
                f"the same person? ({other.label}'s name is kept.)") != QMessageBox.StandardButton.Yes:
            return
        self.engine.name_person(person_id, name)

    def merge(self, target: int, source: int, confirm: bool = True) -> None:
        people = {p.id: p for p in self.model.people}
        if source not in people or target not in people:
            return
        if confirm and not SamePersonDialog(self.engine, people[source], people[target], self).ask():
            return
        self.engine.merge_people(target, source)

    def merge_with(self, person) -> None:
        """The context menu's "Merge with…": choose the other person by their face and name."""
        chooser = ChoosePersonDialog(self.engine, [p for p in self.model.people if p.id != person.id],
                                     f"Who else is {spoken(person)}?", self)
        other = chooser.choose()
        if other is not None:
            # The named one keeps the name (both named: the one chosen is kept, as Apple Photos does).
            target, source = (other, person) if other.name or not person.name else (person, other)
            self.merge(target.id, source.id)

    def show_faces(self, person) -> None:
        FacesDialog(self.engine, person, self).open()

    def review(self, person) -> None:
        ReviewDialog(self.engine, person, self).open()


class FacesDialog(QDialog):
    """A person's faces: "not this person" or move to someone else."""

    def __init__(self, engine, person, parent=None):
        super().__init__(parent)
        self.engine, self.person = engine, person
        self.setWindowTitle(f"Faces of {person.label}")
        self.resize(720, 520)
        layout = QVBoxLayout(self)
        self.list = QListView(self)
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(96, 96))
        self.list.setGridSize(QSize(120, 130))
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        from PySide6.QtGui import QStandardItemModel
        self.model = QStandardItemModel(self)
        self.list.setModel(self.model)
        layout.addWidget(QLabel("Right-click a face: not this person, or move it to someone else."))
        layout.addWidget(self.list, 1)
        engine.faces_of(person.id, self._fill)

    def _fill(self, faces: list[dict]) -> None:
        from PySide6.QtGui import QStandardItem

        self.faces = faces
        for f in faces:
            item = QStandardItem(face_icon(self.engine.crop_path(f["id"])),
                                 ("\u2713 " if f["confirmed"] else "") + (f["path"] or "reference").rsplit("/", 1)[-1])
            item.setData(f["id"], PersonRole)
            item.setEditable(False)
            self.model.appendRow(item)

    def _menu(self, pos):
        idx = self.list.indexAt(pos)
        if not idx.isValid():
            return
        face_id = idx.data(PersonRole)
        menu = QMenu(self)
        menu.addAction(f"Not {self.person.label}", lambda: self._reject(idx.row(), face_id))
        menu.addAction("Move to…", lambda: self._move(idx.row(), face_id))
        menu.exec(self.list.viewport().mapToGlobal(pos))

    def _reject(self, row: int, face_id: int) -> None:
        self.engine.reject_face(face_id, self.person.id)
        self.model.removeRow(row)

    def _move(self, row: int, face_id: int) -> None:
        name = ask_name(self, "Move face", "This face is:", self.engine.people)
        if name:
            self.engine.move_face(face_id, name)
            self.model.removeRow(row)


def spoken(person) -> str:
    """A person as the user knows them: the name, or the unnamed group by its size (never an internal id)."""
    if person.name:
        return person.name
    return QCoreApplication.translate("People", "this unnamed person (%n photo(s))", "", person.media)


def _face(engine, person, side: int) -> QLabel:
    label = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
    pix = QPixmap(str(engine.crop_path(person.cover_face))) if person.cover_face is not None else QPixmap()
    if not pix.isNull():
        label.setPixmap(pix.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                   Qt.TransformationMode.SmoothTransformation))
    return label


class SamePersonDialog(QDialog):
    """"Are these the same person?" with both faces and both names, never internal ids."""

    def __init__(self, engine, a, b, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Same person?")
        layout = QVBoxLayout(self)
        faces = QHBoxLayout()
        for person in (a, b):
            column = QVBoxLayout()
            column.addWidget(_face(engine, person, 140))
            name = QLabel(spoken(person), alignment=Qt.AlignmentFlag.AlignCenter)
            column.addWidget(name)
            faces.addLayout(column)
        layout.addLayout(faces)
        self.question = QLabel(f"Are {spoken(a)} and {spoken(b)} the same person?",
                               alignment=Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.question)
        buttons = QHBoxLayout()
        self.yes_button, self.no_button = QPushButton("Yes, merge"), QPushButton("No")
        self.yes_button.clicked.connect(self.accept)
        self.no_button.clicked.connect(self.reject)
        buttons.addStretch(1)
        buttons.addWidget(self.no_button)
        buttons.addWidget(self.yes_button)
        layout.addLayout(buttons)

    def ask(self) -> bool:
        return self.exec() == QDialog.DialogCode.Accepted


class ChoosePersonDialog(QDialog):
    """Pick a person from their faces (named first), for "Merge with…"."""

    def __init__(self, engine, people, title: str, parent=None):
        from PySide6.QtWidgets import QListWidget, QListWidgetItem

        super().__init__(parent)
        self.setWindowTitle(title)
        self.people = list(people)
        layout = QVBoxLayout(self)
        self.list = QListWidget(self)
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(96, 96))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMinimumSize(520, 360)
        for person in self.people:
            item = QListWidgetItem(face_icon(engine.crop_path(person.cover_face) if person.cover_face else None),
                                   spoken(person))
            self.list.addItem(item)
        self.list.itemDoubleClicked.connect(lambda *_: self.accept())
        layout.addWidget(QLabel(title))
        layout.addWidget(self.list, 1)
        ok = QPushButton("Choose")
        ok.clicked.connect(self.accept)
        layout.addWidget(ok)

    def choose(self):
        if self.exec() != QDialog.DialogCode.Accepted or self.list.currentRow() < 0:
            return None
        return self.people[self.list.currentRow()]


class ReviewDialog(QDialog):
    """Apple's "Review more photos": one suggested face at a time beside one of the person's own, Yes or No,
    with how many there are."""

    def __init__(self, engine, person, parent=None):
        super().__init__(parent)
        self.engine, self.person = engine, person
        self.setWindowTitle(f"Is this {person.label}?")
        layout = QVBoxLayout(self)
        self.count = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        faces = QHBoxLayout()
        self.face = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.face.setMinimumSize(240, 240)
        self.reference = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.reference.setMinimumSize(160, 160)
        self.reference.setToolTip(f"One of {person.label}'s faces, to compare")
        faces.addWidget(self.face, 3)
        faces.addWidget(self.reference, 2)
        self.caption = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.count)
        layout.addLayout(faces, 1)
        layout.addWidget(self.caption)
        buttons = QHBoxLayout()
        self.yes = QPushButton("Yes (Y)")
        self.no = QPushButton("No (N)")
        skip = QPushButton("Skip (S)")
        done = QPushButton("Done")
        self.yes.setShortcut("Y")
        self.no.setShortcut("N")
        skip.setShortcut("S")
        self.skip = skip
        self.yes.clicked.connect(lambda: self._answer(True))
        self.no.clicked.connect(lambda: self._answer(False))
        skip.clicked.connect(self._next)
        done.clicked.connect(self.accept)
        for b in (self.yes, self.no, skip, done):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        self.queue, self.total, self.shown = [], 0, 0
        engine.review(person.id, self._start)

    def keyPressEvent(self, event):
        """Y, N and S answer whatever has the focus in the dialog (as Apple Photos' review does)."""
        keys = {Qt.Key.Key_Y: lambda: self._answer(True), Qt.Key.Key_N: lambda: self._answer(False),
                Qt.Key.Key_S: self._next}
        action = keys.get(event.key())
        if action is not None and not event.modifiers():
            action()
        else:
            super().keyPressEvent(event)

    def _start(self, review) -> None:
        self.queue, self.total, self.shown = list(review.suggestions), review.total, 0
        self._next()

    def _next(self) -> None:
        if not self.queue:
            self.face.setText("Nothing more to review.")
            self.reference.clear()
            self.count.setText(f"{self.shown} of {self.total}" if self.total else "")
            self.caption.setText("")
            self.yes.setEnabled(False)
            self.no.setEnabled(False)
            self.current = None
            return
        self.current = self.queue.pop(0)
        self.shown += 1
        self.count.setText(f"{self.shown} of {self.total}")
        for label, face_id, side in ((self.face, self.current.face_id, 220),
                                     (self.reference, self.current.reference_face, 140)):
            pix = QPixmap(str(self.engine.crop_path(face_id))) if face_id is not None else QPixmap()
            label.setPixmap(pix.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                       Qt.TransformationMode.SmoothTransformation) if not pix.isNull() else pix)
        self.caption.setText(f"{(self.current.path or '').rsplit('/', 1)[-1]} — similarity {self.current.similarity:.2f}")

    def _answer(self, yes: bool) -> None:
        if self.current is None:
            return
        if yes:
            self.engine.move_face(self.current.face_id, self.person.id)
        else:
            self.engine.reject_face(self.current.face_id, self.person.id)
        self._next()
