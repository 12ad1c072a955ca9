"""The face panel: people as a grid of faces (named first, then unnamed groups, biggest first); a double-click
opens anyone's page, their photos and videos. Name or rename with completion (the page's button, F2, the menu),
drag one person onto another to merge, hide, see a person's faces (move one, or "not this person"), and review
suggested faces with yes/no."""
from __future__ import annotations

import functools
import logging

from PySide6.QtCore import (QAbstractListModel, QCoreApplication, QEvent, QItemSelectionModel, QMimeData, QModelIndex,
                            QPoint, QRect, QSize, Qt, QTimer, Signal)
from PySide6.QtGui import QColor, QIcon, QImage, QKeySequence, QPalette, QPen, QPixmap, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QHBoxLayout, QLabel, QListView, QListWidget,
                               QListWidgetItem, QMenu, QPushButton, QStackedWidget, QStyle,
                               QStyledItemDelegate, QVBoxLayout, QWidget)

from app.gui.completion import ask_name
from app.gui.naming import (LoadCrops, NameDialog, blank_icon, crops_loaded, files_of, load_crops,  # noqa: F401
                             muted, next_token)
from app.gui.results import ResultRole, taken
from core.wording import clock   # one rounding of times for the whole app
from core.names import isolated
from core.wording import media_counts, plural

log = logging.getLogger(__name__)

FACE = 120
PersonRole = Qt.ItemDataRole.UserRole + 2
MIME = "application/x-idlens-person"


def face_icon(path) -> QIcon:
    pix = QPixmap(str(path)) if path and path.exists() else QPixmap()
    if pix.isNull():
        pix = QPixmap(FACE, FACE)
        pix.fill(QColor("#3a3f47"))
    return QIcon(_square(pix, FACE))


def _square(pix: QPixmap, side: int) -> QPixmap:
    """The crop filling a `side` square, centred: every face in a grid is the same size, so the columns line up."""
    pix = pix.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatioByExpanding, Qt.TransformationMode.SmoothTransformation)
    return pix.copy((pix.width() - side) // 2, (pix.height() - side) // 2, side, side)


class PeopleModel(QAbstractListModel):
    merge_requested = Signal(int, int)  # target, source

    def __init__(self, crop_path, parent=None, ensure=None):
        """`ensure(face_id)`: the crop, made again when missing or stale (Engine.ensure_crop), on a pool thread."""
        super().__init__(parent)
        self.people = []
        self.crop_path = crop_path
        self.ensure = ensure
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
            # An unnamed group is never shown by its id: "Add a name", as Apple Photos does.
            return f"{isolated(p.name) if p.name else 'Add a name'}\n{files_of(p)}"
        if role == Qt.ItemDataRole.DecorationRole:
            if p.cover_face is None:
                return self._blank
            icon = self._icons.get(p.cover_face)
            if icon is None:
                if p.cover_face not in self._asked:  # read on a pool thread, like the grid's thumbnails
                    from PySide6.QtCore import QThreadPool

                    from app.gui.results import LoadThumbnail

                    self._asked.add(p.cover_face)
                    ensure = functools.partial(self.ensure, p.cover_face) if self.ensure else None
                    QThreadPool.globalInstance().start(
                        LoadThumbnail(str(p.cover_face), str(self.crop_path(p.cover_face)), self._loaded, ensure))
                return self._blank
            return icon
        if role == Qt.ItemDataRole.ToolTipRole:
            faces = QCoreApplication.translate("PeopleModel", "%n face(s)", "", p.faces)
            return f"{isolated(p.name) if p.name else 'Not named yet'}: {faces} in {files_of(p)}" + \
                (" (hidden)" if p.hidden else "")
        if role == PersonRole:
            return p
        return None

    def _icon_loaded(self, key: str, image) -> None:
        if image.isNull():
            return
        face_id = int(key)
        self._icons[face_id] = QIcon(_square(QPixmap.fromImage(image), FACE))
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


class PersonDelegate(QStyledItemDelegate):
    """A person as their face with the name and the counts under it, each line cut (…) to the face's width: Qt's icon
    mode centres text wider than the icon, so names stuck out past the faces and the columns did not line up.
    `side`: the face's size; `link`: an unnamed person's first line ("Add a name") is drawn in the link colour, as
    something to click (the panel opens the name dialog on it)."""
    PAD = 8

    def __init__(self, parent=None, side: int = FACE, link: bool = True):
        super().__init__(parent)
        self.side, self.link = side, link

    @classmethod
    def cell(cls, metrics, side: int = FACE) -> QSize:
        """The face, two lines of text under it, and a margin: no wider than the face and its margin."""
        return QSize(side + 2 * cls.PAD, side + 2 * metrics.height() + 2 * cls.PAD)

    def sizeHint(self, option, index):
        return self.cell(option.fontMetrics, self.side)

    def lines(self, index) -> tuple[str, str]:
        """The two lines under the face: the name (or "Add a name") and the counts."""
        name, counts = (index.data(Qt.ItemDataRole.DisplayRole) or "\n").split("\n", 1)
        return name, counts

    def _face(self, rect: QRect) -> QRect:
        return QRect(rect.x() + (rect.width() - self.side) // 2, rect.y() + self.PAD // 2, self.side, self.side)

    def link_rect(self, rect: QRect, metrics, index) -> QRect | None:
        """Where an unnamed person's "Add a name" is drawn in the cell `rect` (the text itself, not the whole line),
        or None when the first line is no link (a named person)."""
        person = index.data(PersonRole)
        name = self.lines(index)[0]
        if not self.link or getattr(person, "name", None) or not name:
            return None
        face = self._face(rect)
        width = min(metrics.horizontalAdvance(name), self.side)
        return QRect(face.x() + (self.side - width) // 2, face.bottom() + 4, width, metrics.height())

    def paint(self, painter, option, index):
        person = index.data(PersonRole)
        name, counts = self.lines(index)
        side = self.side
        face = self._face(option.rect)
        painter.save()
        if getattr(person, "hidden", False):
            painter.setOpacity(0.45)   # hidden: still listed (to show again), but set back
        icon = index.data(Qt.ItemDataRole.DecorationRole)
        if icon is not None:
            painter.drawPixmap(face, icon.pixmap(side, side))
        palette = option.palette
        if option.state & QStyle.StateFlag.State_Selected:   # a ring round the face, as photo apps select
            painter.setPen(QPen(palette.highlight().color(), 4))
            painter.drawRect(face.adjusted(-2, -2, 2, 2))
        line = option.fontMetrics.height()
        font = option.font
        font.setBold(bool(getattr(person, "name", None)))
        painter.setFont(font)
        metrics = painter.fontMetrics()
        centre = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop
        # "Add a name" in the link colour: it reads as something to do, not as a name.
        named = getattr(person, "name", None) or not self.link
        painter.setPen(palette.text().color() if named else palette.link().color())
        painter.drawText(QRect(face.x(), face.bottom() + 4, side, line), centre,
                         metrics.elidedText(name, Qt.TextElideMode.ElideRight, side))
        font.setBold(False)
        painter.setFont(font)
        painter.setPen(palette.color(QPalette.ColorRole.PlaceholderText))
        painter.drawText(QRect(face.x(), face.bottom() + 4 + line, side, line), centre,
                         painter.fontMetrics().elidedText(counts, Qt.TextElideMode.ElideRight, side))
        painter.restore()


class PeoplePanel(QWidget):
    """People as a grid of faces. Double-click (or Enter) opens anyone's photos, named or not, as Apple Photos'
    People does; naming is its own action: the person page's button, F2, or the context menu."""
    search_person = Signal(str)   # "Search for NAME" in a named person's menu: the main window searches

    def __init__(self, engine, parent=None):
        super().__init__(parent)
        self.engine = engine
        self.browsed: list[dict] = []   # the library's files as the grid browses them (services.browse), newest first
        if hasattr(engine, "browseReady"):
            engine.browseReady.connect(self._browsed)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.pages = QStackedWidget(self)
        outer.addWidget(self.pages)
        self.list_page = QWidget(self)
        layout = QVBoxLayout(self.list_page)
        header = QHBoxLayout()
        title = QLabel("<h3>People</h3>")
        self.hint = QLabel("Double-click someone to see their photos. Click “Add a name”, press F2 or right-click "
                           "to name them; drag one onto another to merge them.")
        self.hint.setObjectName("hint")
        self.hint.setWordWrap(True)
        header.addWidget(title)
        header.addWidget(self.hint, 1)
        layout.addLayout(header)
        self.model = PeopleModel(engine.crop_path, self, getattr(engine, "ensure_crop", None))
        self.model.merge_requested.connect(self.merge)
        self.view = QListView(self.list_page)
        self.view.setObjectName("peopleView")
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setIconSize(QSize(FACE, FACE))
        self.delegate = PersonDelegate(self.view)
        self.view.setItemDelegate(self.delegate)
        # The same cell for everyone, as wide as a face and its margin: faces and names line up in columns.
        self.view.setGridSize(PersonDelegate.cell(self.view.fontMetrics()) + QSize(8, 4))
        self.view.setUniformItemSizes(True)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Snap)
        self.view.setDragDropMode(QListView.DragDropMode.DragDrop)
        self.view.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.view.setModel(self.model)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._menu)
        self.view.activated.connect(self._open)   # double-click, and Enter: the same for everyone
        self.name_key = QShortcut(QKeySequence(Qt.Key.Key_F2), self.view, self._name_current,
                                  context=Qt.ShortcutContext.WidgetShortcut)
        # "Add a name" under an unnamed face is a link: a click on it names them (as Immich's does); a click
        # elsewhere on the tile selects it, as before. The hand shows over it.
        self._link_pressed: int | None = None
        self.same_dialog: SamePersonDialog | None = None   # the "Same person?" question while it is asked
        self.chooser: ChoosePersonDialog | None = None     # "Merge with…" while it is open
        self.view.viewport().setMouseTracking(True)
        self.view.viewport().installEventFilter(self)
        layout.addWidget(self.view, 1)
        self.page = PersonPage(self)
        self.page.back.connect(self.show_list)
        self.pages.addWidget(self.list_page)
        self.pages.addWidget(self.page)
        engine.peopleChanged.connect(self._people_changed)

    def _browsed(self, rows: list[dict]) -> None:
        self.browsed = rows

    def link_at(self, pos: QPoint):
        """The unnamed person whose "Add a name" is under `pos` (viewport coordinates), or None."""
        index = self.view.indexAt(pos)
        if not index.isValid():
            return None
        rect = self.delegate.link_rect(self.view.visualRect(index), self.view.fontMetrics(), index)
        return self.model.people[index.row()] if rect is not None and rect.adjusted(-3, -2, 3, 2).contains(pos) \
            else None

    def eventFilter(self, watched, event):
        if watched is self.view.viewport():
            kind = event.type()
            if kind == QEvent.Type.MouseButtonPress and event.button() == Qt.MouseButton.LeftButton:
                person = self.link_at(event.position().toPoint())
                self._link_pressed = person.id if person is not None else None
            elif kind == QEvent.Type.MouseButtonRelease and event.button() == Qt.MouseButton.LeftButton:
                person, pressed = self.link_at(event.position().toPoint()), self._link_pressed
                self._link_pressed = None
                if person is not None and person.id == pressed:   # pressed and let go on the same link
                    # After the view has selected the tile; the dialog's own loop is not run inside the click.
                    QTimer.singleShot(0, functools.partial(self._name_by_id, person.id))
            elif kind == QEvent.Type.MouseMove and not event.buttons():
                if self.link_at(event.position().toPoint()) is not None:
                    self.view.viewport().setCursor(Qt.CursorShape.PointingHandCursor)
                else:
                    self.view.viewport().unsetCursor()
        return super().eventFilter(watched, event)

    def _name_by_id(self, person_id: int) -> None:
        person = next((p for p in self.model.people if p.id == person_id), None)
        if person is not None:   # still there (the list may have changed meanwhile)
            self.ask_name(person)

    def _people_changed(self, people) -> None:
        self.model.set_people(people)
        if self.pages.currentWidget() is self.page and self.page.person is not None:
            same = next((p for p in people if p.id == self.page.person.id), None)
            if same is None:    # merged into someone else: back to everyone
                self.show_list()
            else:               # renamed, or faces moved in or out: the page as the library has it now
                self.page.show_person(same)

    def person_at(self, row: int):
        return self.model.people[row]

    def _selected(self):
        idx = self.view.currentIndex()
        return self.model.people[idx.row()] if idx.isValid() else None

    def _name_current(self) -> None:
        person = self._selected()
        if person is not None:
            self.ask_name(person)

    def _menu(self, pos):
        person = self._selected()
        if person is None:
            return
        self.menu_for(person).exec(self.view.viewport().mapToGlobal(pos))

    def menu_for(self, person) -> QMenu:
        """The person's context menu (its entries never name an internal id); opening them comes first, as a
        double-click does it."""
        menu = QMenu(self)
        show = menu.addAction(f"Show {kinds_of(person)}", lambda: self.open_person(person))
        menu.setDefaultAction(show)
        naming = menu.addAction("Rename…" if person.name else "Add a name…", lambda: self.ask_name(person))
        naming.setShortcut(QKeySequence(Qt.Key.Key_F2))   # shown in the menu; the view's F2 does it
        if person.name:
            menu.addAction(f"Search for {isolated(person.name)}", lambda: self.search_person.emit(person.name))
        menu.addAction("Merge with…", lambda: self.merge_with(person))
        menu.addAction("Review suggested faces…", lambda: self.review(person))
        menu.addAction("Show faces…", lambda: self.show_faces(person))
        menu.addAction("Show again" if person.hidden else "Hide", lambda: self.engine.hide_person(
            person.id, not person.hidden))
        self.person_menu = menu
        return menu

    def _open(self, index):
        if index.isValid():
            self.open_person(self.model.people[index.row()])

    def open_person(self, person) -> None:
        """The person's page: their photos and videos, and the button that names them."""
        self.page.show_person(person)
        self.pages.setCurrentWidget(self.page)
        self.page.grid.setFocus()

    def show_list(self) -> None:
        self.page.leave_viewer()
        self.page.person = None
        self.pages.setCurrentWidget(self.list_page)
        self.view.setFocus()

    def ask_name(self, person) -> None:
        dialog = NameDialog(self.engine, person, self.model.people, self)
        self.name_dialog: NameDialog | None = dialog
        try:
            name = dialog.ask()
        finally:
            self.name_dialog = None
            dialog.deleteLater()
        if name:
            self.name(person.id, name)

    def name(self, person_id: int, name: str) -> None:
        """Name (or rename) a person. A name (or alias) someone else already has makes the two one person (the core
        merges them, as Apple Photos and Immich do): that is asked first, every time, named or not, with both faces
        and names, as a merge is; Cancel changes nothing. Every way of naming from the panel comes here (F2, the
        page's button, the menu, a click on "Add a name", the name dialog's completion)."""
        person = next((p for p in self.model.people if p.id == person_id), None)
        other = self.taken_by(person_id, name)
        if person is not None and other is not None and not self._confirm_taken(person, other, name):
            return
        self.engine.name_person(person_id, name)

    def taken_by(self, person_id: int, name: str):
        """The other person listed with this name or alias (in core.names' normal form), as the core compares them
        (core.faces.people.name_taken_by), or None."""
        from core.names import BadName, clean, key

        try:
            wanted = key(clean(name))
        except BadName:
            return None   # the core refuses it, and says why
        return next((p for p in self.model.people if p.id != person_id and wanted in
                     {key(p.name or ""), *(key(a) for a in getattr(p, "aliases", []))}), None)

    def _confirm_taken(self, person, other, name: str) -> bool:
        dialog = SamePersonDialog(self.engine, person, other, self, question=taken_question(person, other, name),
                                  yes="Same person", no="Cancel")
        self.same_dialog = dialog
        try:
            return dialog.ask()
        finally:
            self.same_dialog = None
            dialog.deleteLater()

    def merge(self, target: int, source: int, confirm: bool = True) -> None:
        people = {p.id: p for p in self.model.people}
        if source not in people or target not in people:
            return
        if confirm:
            dialog = SamePersonDialog(self.engine, people[source], people[target], self)
            self.same_dialog = dialog
            try:
                if not dialog.ask():
                    return
            finally:
                self.same_dialog = None
                dialog.deleteLater()
        self.engine.merge_people(target, source)

    def merge_with(self, person) -> None:
        """The context menu's "Merge with…": choose the other person by their face and name."""
        chooser = ChoosePersonDialog(self.engine, [p for p in self.model.people if p.id != person.id],
                                     f"Who is the same person as {spoken(person)}?", self, about=person)
        self.chooser = chooser
        try:
            other = chooser.choose()
        finally:
            self.chooser = None
            chooser.deleteLater()
        if other is not None:
            # The named one keeps the name (both named: the one chosen is kept, as Apple Photos does).
            target, source = (other, person) if other.name or not person.name else (person, other)
            self.merge(target.id, source.id)

    def show_faces(self, person) -> None:
        FacesDialog(self.engine, person, self).open()

    def review(self, person) -> None:
        dialog = ReviewDialog(self.engine, person, self, files=self.browsed)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()


class PersonPage(QWidget):
    """One person's photos and videos, named or not (the person page of Apple Photos and Immich): their face, their
    name or "Add a name…", and a grid of the files their faces are in, newest first. A file opens in the viewer
    (Back or Escape comes back to the grid); Back or Escape on the grid goes back to everyone."""
    back = Signal()
    FACE = 56

    def __init__(self, panel: PeoplePanel):
        from app.gui.results import ResultsModel, ResultsView
        from app.gui.viewer import ViewerPage

        super().__init__(panel)
        self.panel, self.engine, self.person = panel, panel.engine, None
        layout = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.back_button = QPushButton("← People")
        self.back_button.setToolTip("Back to everyone (Esc)")
        self.back_button.clicked.connect(self.back.emit)
        self.face = QLabel()
        self.face.setFixedSize(self.FACE, self.FACE)
        self.title = QLabel()
        font = self.title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.3)
        self.title.setFont(font)
        self.counts = muted(QLabel())
        words = QVBoxLayout()
        words.addWidget(self.title)
        words.addWidget(self.counts)
        self.name_button = QPushButton()
        self.name_button.setToolTip("F2")
        self.name_button.clicked.connect(lambda: self.panel.ask_name(self.person))
        QShortcut(QKeySequence(Qt.Key.Key_F2), self, self.name_button.click,
                  context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.review_button = QPushButton("Review suggested faces…")
        self.review_button.clicked.connect(lambda: self.panel.review(self.person))
        bar.addWidget(self.back_button)
        bar.addSpacing(8)
        bar.addWidget(self.face)
        bar.addLayout(words, 1)
        bar.addWidget(self.name_button)
        bar.addWidget(self.review_button)
        layout.addLayout(bar)
        self.stack = QStackedWidget(self)
        self.files = ResultsModel(self.engine.thumbnail_path, self)
        self.grid = ResultsView(self)
        self.grid.setModel(self.files)
        self.grid.activated.connect(self.open_index)   # double-click or Enter, as in the main grid
        self.viewer_page = ViewerPage(self.engine, self)
        self.viewer_page.back.connect(self.leave_viewer)
        self.viewer_page.step.connect(self._step)
        self.stack.addWidget(self.grid)
        self.stack.addWidget(self.viewer_page)
        layout.addWidget(self.stack, 1)

    def show_person(self, person) -> None:
        if self.person is None or self.person.id != person.id:   # someone else: offered until the engine says
            self.review_button.setEnabled(True)
            self.review_button.setToolTip("")
        self.person = person
        self.title.setText(person.name or "Not named yet")
        self.counts.setText(files_of(person))
        self.name_button.setText("Rename…" if person.name else "Add a name…")
        model = self.panel.model
        row = next((i for i, p in enumerate(model.people) if p.id == person.id), None)
        icon = model.data(model.index(row), Qt.ItemDataRole.DecorationRole) if row is not None else None
        self.face.setPixmap(icon.pixmap(self.FACE, self.FACE) if icon is not None else QPixmap())
        person_id = person.id
        self.engine.faces_of(person_id, lambda faces: self._fill(person_id, faces))
        review = getattr(self.engine, "review", None)
        if review is not None:   # "Review suggested faces…" only when there is something to review
            review(person_id, lambda answer: self._reviewable(person_id, answer))

    def _reviewable(self, person_id: int, review) -> None:
        if self.person is None or self.person.id != person_id:
            return   # a late answer about someone no longer shown
        who = isolated(self.person.name) if self.person.name else "this person"
        self.review_button.setEnabled(review.total > 0)
        if review.total:
            faces = QCoreApplication.translate("PeopleModel", "%n face(s)", "", review.total)
            self.review_button.setToolTip(f"{faces} to review for {who}")
        else:
            self.review_button.setToolTip(f"Nothing to review for {who} now")

    def _fill(self, person_id: int, faces: list[dict]) -> None:
        if self.person is None or self.person.id != person_id:
            return   # a late answer about someone no longer shown
        first: dict[str, float | None] = {}   # each file, and for a video the first moment they are in it
        for f in sorted(faces, key=lambda f: f["timestamp"] or 0.0):
            if f["path"]:
                first.setdefault(f["path"], f["timestamp"])
        # As the main grid browses them (their dates, thumbnails, media ids for the face boxes); a video opens where
        # they first appear.
        rows = [dict(r, timestamp=first[r["path"]]) for r in self.panel.browsed if r["path"] in first]
        known = {r["path"] for r in rows}
        rows += [{"path": path, "kind": "image" if moment is None else "video", "timestamp": moment, "why": {}}
                 for path, moment in first.items() if path not in known]   # indexed since the grid last browsed
        current = self.grid.currentIndex().data(ResultRole) if self.grid.currentIndex().isValid() else None
        self.files.set_rows(rows, by_date=True)
        at = next((i for i, r in enumerate(rows) if current and r["path"] == current["path"]), 0 if rows else None)
        if at is not None:   # the keyboard's place, on the same file (the viewer's ◀ ▶ go on from it); not selected
            self.grid.selectionModel().setCurrentIndex(self.files.index(at), QItemSelectionModel.SelectionFlag.NoUpdate)

    def open_index(self, index) -> None:
        row = index.data(ResultRole)
        if row:
            self.grid.setCurrentIndex(index)
            self.viewer_page.show_row(row, index.row() + 1, self.files.rowCount())
            self.stack.setCurrentWidget(self.viewer_page)

    def _step(self, delta: int) -> None:
        row = self.grid.currentIndex().row() + delta
        if 0 <= row < self.files.rowCount():
            self.open_index(self.files.index(row))

    def leave_viewer(self) -> None:
        self.viewer_page.leave()   # a video lets go of its player
        self.stack.setCurrentWidget(self.grid)
        self.grid.setFocus()

    def keyPressEvent(self, event):
        if event.key() == Qt.Key.Key_Escape:
            self.back.emit()
        else:
            super().keyPressEvent(event)

    def hideEvent(self, event):
        """Left for another page of the window: a video playing here stops with it (not a minimised window)."""
        if not event.spontaneous() and self.stack.currentWidget() is self.viewer_page:
            self.leave_viewer()
        super().hideEvent(event)


def kinds_of(person) -> str:
    """What a person's files are, for the menu's "Show photos", "Show videos", "Show photos and videos"."""
    kinds = [word for word, n in (("photos", getattr(person, "photos", 1)), ("videos", getattr(person, "videos", 0)))
             if n]
    return " and ".join(kinds) or "photos"


class FacesDialog(QDialog):
    """A person's faces: "not this person" or move to someone else."""

    def __init__(self, engine, person, parent=None):
        super().__init__(parent)
        self.engine, self.person = engine, person
        self.who = isolated(person.name) if person.name else "this person"   # never an internal id
        self.setWindowTitle(f"Faces of {self.who}")
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
        ensure = getattr(self.engine, "ensure_crop", None)
        for f in faces:
            where = (f["path"] or "a reference photo").rsplit("/", 1)[-1]
            if f.get("timestamp") is not None:   # one of a video's frames: which moment
                where += f" at {clock(f['timestamp'])}"
            item = QStandardItem(face_icon(None if ensure else self.engine.crop_path(f["id"])),
                                 ("\u2713 " if f["confirmed"] else "") + where)
            item.setData(f["id"], PersonRole)
            item.setEditable(False)
            self.model.appendRow(item)
        if ensure:  # read, or made again from the file, on pool threads
            crops_loaded().done.connect(self._icons_loaded)
            self._token = load_crops(ensure, self.engine.crop_path, [f["id"] for f in faces], FACE)

    def _icons_loaded(self, token: int, images: list) -> None:
        if token != getattr(self, "_token", None):
            return
        loaded = {face_id: image for face_id, image in images if not image.isNull()}
        for row in range(self.model.rowCount()):  # the rows still there (a face moved or rejected has left)
            item = self.model.item(row)
            image = loaded.get(item.data(PersonRole))
            if image is not None:
                item.setIcon(face_icon_of(image))

    def _menu(self, pos):
        idx = self.list.indexAt(pos)
        if not idx.isValid():
            return
        self.face_menu(idx.row(), idx.data(PersonRole)).exec(self.list.viewport().mapToGlobal(pos))

    def face_menu(self, row: int, face_id: int) -> QMenu:
        menu = QMenu(self)
        menu.addAction(f"Not {self.who}", lambda: self._reject(row, face_id))
        menu.addAction("Move to…", lambda: self._move(row, face_id))
        self.menu = menu
        return menu

    def _reject(self, row: int, face_id: int) -> None:
        self.engine.reject_face(face_id, self.person.id)
        self.model.removeRow(row)

    def _move(self, row: int, face_id: int) -> None:
        name = ask_name(self, "Move face", "This face is:", self.engine.people)
        if name:
            self.engine.move_face(face_id, name)
            self.model.removeRow(row)


def spoken(person, before=None) -> str:
    """A person as the user knows them, inside a sentence: the name, or an unnamed group by its size (never an
    internal id): "this unnamed person (2 photos)"; "another unnamed person (6 photos)" when `before`, the person
    spoken of earlier in the same sentence, is unnamed too."""
    if person.name:
        return isolated(person.name)
    which = "another" if before is not None and not before.name else "this"
    return f"{which} unnamed person ({files_of(person)})"


def _possessive(person) -> str:
    """ "Anna's", "this unnamed person's" (a group's count stays out of it: it was said in the question)."""
    return f"{isolated(person.name)}'s" if person.name else "this unnamed person's"


def same_person_question(source, target) -> str:
    """The merge's question, `source` joining `target`: "Is this unnamed person (2 photos) the same person as Seán
    O'Brien?", "Is Anna the same person as Ben?", "Is this unnamed person (2 photos) the same person as another
    unnamed person (6 photos)?"."""
    return f"Is {spoken(source)} the same person as {spoken(target, source)}?"


def merged_outcome(target, source) -> str:
    """What merging `source` into `target` does, in words: whose photos join whose, and which name is kept (the
    target's; an unnamed target takes the source's name; a second name stays as an alias: core.store.people)."""
    from core.names import key

    if target.name and source.name:
        if key(target.name) == key(source.name):
            return f"Their photos join {_possessive(target)}."
        return (f"{_possessive(source)} photos join {_possessive(target)}; “{isolated(source.name)}” stays as another "
                f"name for {isolated(target.name)}.")
    if target.name:
        return f"Their photos join {_possessive(target)}."
    if source.name:
        return f"The unnamed person's photos join {_possessive(source)}."
    return "The two become one person."


def taken_question(person, other, name: str) -> str:
    """Naming `person` with a name (or alias) `other` already has makes them one person: "Zoë Kowalski already has
    this name. Is this unnamed person (8 photos) Zoë Kowalski?"; "Is Anna the same person as Zoë Kowalski?" when
    `person` has a name of their own."""
    from core.names import key

    owner = spoken(other, person)
    if other.name and key(name.strip()) == key(other.name):
        has = f"{owner} already has this name."
    else:   # one of their other names (an alias)
        has = f"“{isolated(name.strip())}” is already a name of {owner}."
    if person.name:
        return f"{has} Is {spoken(person)} the same person as {owner}?"
    return f"{has} Is {spoken(person)} {owner}?"


def _counted(faces: int, files: str) -> str:
    """ "12 faces in 8 photos · 1 video" (`files` by kind, files_of); faces from reference photos only: "2 faces"."""
    text = QCoreApplication.translate("PeopleModel", "%n face(s)", "", faces)
    return f"{text} in {files}" if files else text


def _files_in(faces: list[dict]) -> str:
    """The files a list of faces is in, by kind: a face with a moment is a video's frame (many frames, one video)."""
    photos = {f["path"] for f in faces if f["path"] and f.get("timestamp") is None}
    videos = {f["path"] for f in faces if f["path"] and f.get("timestamp") is not None}
    return media_counts(len(photos), len(videos)) if photos or videos else ""


def _derived(person) -> bool:
    """An unnamed group no face of which the user confirmed (a merge confirms only its core)."""
    return not person.name and not person.confirmed


class FaceStrip(QListWidget):
    """Faces in one scrollable row (confirmed first, as `faces_of` lists them), each crop read on a pool thread;
    at most CAP of them, then "and N more"."""
    CAP = 300
    SIDE = 72

    def __init__(self, crop_path, parent=None, ensure=None):
        super().__init__(parent)
        self.crop_path = crop_path
        self.ensure = ensure   # Engine.ensure_crop: a crop made again when missing or stale, on the pool thread
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Y/N keys and the dialog's buttons keep working
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setIconSize(QSize(self.SIDE, self.SIDE))
        self.setGridSize(QSize(self.SIDE + 8, self.SIDE + 8))
        self.setWordWrap(True)
        self._fit()
        self.face_ids: list[int] = []   # the faces shown, in order
        self.more = 0                   # faces not shown ("and N more")
        self._items: dict[int, QListWidgetItem] = {}
        self._blank = blank_icon(self.SIDE)
        self._token = 0
        crops_loaded().done.connect(self._icons_loaded)
        self._note(QCoreApplication.translate("People", "Loading faces…"))

    def _fit(self) -> None:
        """As high as one row of faces, and the scroll bar when they do not all fit across."""
        needed = self.count() * self.gridSize().width() > self.width() - 2 * self.frameWidth()
        bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent) if needed else 0
        self.setFixedHeight(self.gridSize().height() + bar + 2 * self.frameWidth() + 2)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._fit()

    def _note(self, text: str) -> QListWidgetItem:
        item = QListWidgetItem(text)
        item.setFlags(Qt.ItemFlag.NoItemFlags)
        item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        item.setSizeHint(QSize(self.SIDE + 8, self.SIDE + 8))
        self.addItem(item)
        return item

    def set_faces(self, faces: list[dict]) -> None:
        from PySide6.QtCore import QThreadPool

        self.clear()
        self._items.clear()
        shown = faces[:self.CAP]
        self.face_ids = [f["id"] for f in shown]
        self.more = len(faces) - len(shown)
        pool = QThreadPool.globalInstance()
        for f in shown:
            item = QListWidgetItem(self._blank, "")
            item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            item.setSizeHint(QSize(self.SIDE + 8, self.SIDE + 8))
            where = (f["path"] or "").rsplit("/", 1)[-1] or QCoreApplication.translate("People", "a reference photo")
            if f.get("timestamp") is not None:
                where += f" ({clock(f['timestamp'])})"
            item.setToolTip(where + "\n" + (QCoreApplication.translate("People", "You said this is them")
                                              if f["confirmed"] else
                                              QCoreApplication.translate("People", "Placed automatically")))
            self.addItem(item)
            self._items[f["id"]] = item
        crops = [(f["id"], str(self.crop_path(f["id"]))) for f in shown]
        self._token = next_token()
        for i in range(0, len(crops), LoadCrops.BATCH):   # a few signals, not one per face
            pool.start(LoadCrops(self._token, crops[i:i + LoadCrops.BATCH], self.SIDE, self.ensure))
        if self.more:
            self._note(QCoreApplication.translate("People", "and %n more", "", self.more))
        if not faces:
            self._note(QCoreApplication.translate("People", "No faces"))
        self._fit()

    def _icons_loaded(self, token: int, images: list) -> None:
        if token != self._token:   # another strip's, or an earlier list's
            return
        for face_id, image in images:
            item = self._items.get(face_id)
            if item is not None and not image.isNull():
                item.setIcon(QIcon(QPixmap.fromImage(image)))  # QPixmap only on the UI thread

    def loaded(self) -> int:
        """How many of the shown faces have their crop on screen (tests wait for this)."""
        return sum(1 for item in self._items.values() if item.icon().cacheKey() != self._blank.cacheKey())


def face_icon_of(image: QImage) -> QIcon:
    """A loaded crop as face_icon makes it from a file, the same square (QPixmap: on the UI thread only)."""
    return QIcon(_square(QPixmap.fromImage(image), FACE))


class SamePersonDialog(QDialog):
    """"Is this unnamed person the same person as Anna?" with every face of both (each as a scrollable strip, with
    how many and the name the user knows them by, never an internal id): a merge moves faces, so the user sees
    which. `a` joins `b` (the merge's source and target). Naming someone with a name another person has asks here
    too (`question`, and the buttons' words: "Same person", "Cancel")."""

    def __init__(self, engine, a, b, parent=None, question: str | None = None, yes: str = "Yes, merge",
                 no: str = "No"):
        super().__init__(parent)
        self.engine = engine
        self.setWindowTitle("Same person?")
        self.resize(760, 0)
        layout = QVBoxLayout(self)
        self.strips: list[FaceStrip] = []
        self.headers: list[QLabel] = []
        self.people = (a, b)
        for person in (a, b):
            header = QLabel(self._header(person, person.faces, files_of(person) if person.media else "",
                                         a if person is b else None))
            header.setTextFormat(Qt.TextFormat.RichText)
            header.setWordWrap(True)
            strip = FaceStrip(engine.crop_path, self, getattr(engine, "ensure_crop", None))
            layout.addWidget(header)
            layout.addWidget(strip)
            self.headers.append(header)
            self.strips.append(strip)
        # Merging an unnamed group confirms only its core; the rest are the rule's to place, or offered in review.
        self.note = muted(QLabel("Faces that are not clearly the same person will be offered in Review instead."))
        self.note.setWordWrap(True)
        self.note.setVisible(any(_derived(p) for p in (a, b)))
        layout.addWidget(self.note)
        self.question = QLabel(question or same_person_question(a, b), alignment=Qt.AlignmentFlag.AlignCenter)
        self.question.setWordWrap(True)
        self.question.setTextFormat(Qt.TextFormat.PlainText)   # a name is never markup
        font = self.question.font()
        font.setBold(True)
        self.question.setFont(font)
        self.outcome = muted(QLabel(merged_outcome(b, a), alignment=Qt.AlignmentFlag.AlignCenter))
        self.outcome.setWordWrap(True)
        self.outcome.setTextFormat(Qt.TextFormat.PlainText)
        layout.addSpacing(6)
        layout.addWidget(self.question)
        layout.addWidget(self.outcome)
        buttons = QHBoxLayout()
        self.yes_button, self.no_button = QPushButton(yes), QPushButton(no)
        self.yes_button.clicked.connect(self.accept)
        self.no_button.clicked.connect(self.reject)
        self.no_button.setDefault(True)   # Enter, or an Enter meant for the dialog before, never merges
        buttons.addStretch(1)
        buttons.addWidget(self.no_button)
        buttons.addWidget(self.yes_button)
        layout.addLayout(buttons)
        engine.faces_of(a.id, self._faces_of_a)
        engine.faces_of(b.id, self._faces_of_b)

    @staticmethod
    def _header(person, faces: int, files: str, before=None) -> str:
        """ "<b>Anna</b> — 3 faces in 2 photos"; an unnamed group as the question says it: "This unnamed person",
        "Another unnamed person" (below another one)."""
        import html

        count = _counted(faces, files)
        if person.name:
            return f"<b>{html.escape(isolated(person.name))}</b> — {count}"
        which = "Another" if before is not None and not before.name else "This"
        return f"<b>{which} unnamed person</b> — {count}"

    def _faces_of_a(self, faces: list[dict]) -> None:
        self._show(0, faces)

    def _faces_of_b(self, faces: list[dict]) -> None:
        self._show(1, faces)

    def _show(self, side: int, faces: list[dict]) -> None:
        self.headers[side].setText(self._header(self.people[side], len(faces), _files_in(faces),
                                                self.people[0] if side else None))
        self.strips[side].set_faces(faces)

    def ask(self) -> bool:
        return self.exec() == QDialog.DialogCode.Accepted


class ChoosePersonDialog(QDialog):
    """Pick a person by their face (named first), for "Merge with…": a regular grid of equal cells, every face the
    same size with the name under it (cut with … to the face's width) and how many photos; an unnamed group is its
    face and its count. Cancel and Choose (Choose once a face is chosen; a double-click chooses; Escape cancels).
    `about`: the person the question is about (an unnamed one makes the others "another unnamed person")."""
    SIDE = FACE   # as in the People grid: "2 photos · 1 video" fits under a face

    def __init__(self, engine, people, title: str, parent=None, about=None, window_title: str = "Merge with…"):
        from PySide6.QtWidgets import QDialogButtonBox, QListWidget, QListWidgetItem

        super().__init__(parent)
        self.setWindowTitle(window_title)
        self.people = list(people)
        layout = QVBoxLayout(self)
        self.heading = QLabel(title)
        self.heading.setTextFormat(Qt.TextFormat.PlainText)   # a name is never markup
        self.heading.setWordWrap(True)
        font = self.heading.font()
        font.setBold(True)
        self.heading.setFont(font)
        self.list = QListWidget(self)
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(self.SIDE, self.SIDE))
        self.delegate = _ChooserDelegate(self.list, self.SIDE)
        self.list.setItemDelegate(self.delegate)
        # One cell for everyone, as in the People grid: the faces and the names under them line up in columns.
        self.list.setGridSize(PersonDelegate.cell(self.list.fontMetrics(), self.SIDE) + QSize(8, 4))
        self.list.setUniformItemSizes(True)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setMinimumSize(4 * self.list.gridSize().width() + 40, 2 * self.list.gridSize().height() + 24)
        ensure = getattr(engine, "ensure_crop", None)
        self._items: dict[int, list] = {}
        for person in self.people:
            path = engine.crop_path(person.cover_face) if person.cover_face and not ensure else None
            item = QListWidgetItem(face_icon(path), spoken(person, about))
            item.setData(PersonRole, person)
            item.setToolTip(f"{spoken(person, about)}: {files_of(person)}" if person.name else spoken(person, about))
            self.list.addItem(item)
            if person.cover_face:
                self._items.setdefault(person.cover_face, []).append(item)
        self._token = None
        if ensure and self._items:  # read, or made again from the file, on pool threads
            crops_loaded().done.connect(self._icons_loaded)
            self._token = load_crops(ensure, engine.crop_path, list(self._items), FACE)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.choose_button = buttons.addButton("Choose", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.choose_button.setEnabled(False)   # until a face is chosen
        buttons.accepted.connect(self._choose)
        buttons.rejected.connect(self.reject)
        self.list.itemSelectionChanged.connect(
            lambda: self.choose_button.setEnabled(bool(self.list.selectedItems())))
        self.list.itemDoubleClicked.connect(lambda *_: self._choose())
        layout.addWidget(self.heading)
        layout.addWidget(self.list, 1)
        layout.addWidget(buttons)

    def _icons_loaded(self, token: int, images: list) -> None:
        if token != self._token:
            return
        for face_id, image in images:
            for item in self._items.get(face_id, []) if not image.isNull() else []:
                item.setIcon(face_icon_of(image))

    def chosen(self):
        """The person whose face is chosen, or None."""
        selected = self.list.selectedItems()
        return self.people[self.list.row(selected[0])] if selected else None

    def _choose(self) -> None:
        if self.chosen() is not None:
            self.accept()

    def choose(self):
        if self.exec() != QDialog.DialogCode.Accepted:
            return None
        return self.chosen()


class _ChooserDelegate(PersonDelegate):
    """The chooser's cells: the name (none for an unnamed group: its face and count say it) and the counts."""

    def __init__(self, parent, side: int):
        super().__init__(parent, side=side, link=False)

    def lines(self, index) -> tuple[str, str]:
        person = index.data(PersonRole)
        if person is None:
            return super().lines(index)
        return (isolated(person.name) if person.name else ""), files_of(person)


class ReviewDialog(QDialog):
    """Apple's "Review more photos": one suggested face at a time beside the person's own face most like it, Yes or
    No (or Skip), with where the user is ("3 of 12").

    Every Yes or No is a decision after which the one rule may place other faces (they leave the list) and the face
    answered leaves it too, so the dialog asks the engine for the review again once the decision is made and shows
    the next face from that: the count is always the library's. A face answered or skipped is never shown again in
    this session; a skipped one stays undecided (it is offered again in a later review)."""

    def __init__(self, engine, person, parent=None, files=None):
        """`files`: the library's files as the grid browses them (services.browse): each suggested face is dated
        by its file."""
        super().__init__(parent)
        self.engine, self.person = engine, person
        self.files = {r["path"]: r for r in files or []}
        # How the user knows them: the name, else "the same person" (an unnamed group has no name; never its id).
        self.who = isolated(person.name or "") if hasattr(person, "name") else isolated(person.label)
        question = f"Is this {self.who}?" if self.who else "Is this the same person?"
        self.setWindowTitle(question)
        layout = QVBoxLayout(self)
        self.heading = QLabel(question, alignment=Qt.AlignmentFlag.AlignCenter)
        self.heading.setWordWrap(True)
        font = self.heading.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.heading.setFont(font)
        self.count = muted(QLabel(alignment=Qt.AlignmentFlag.AlignCenter))
        self.face = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.face.setMinimumSize(240, 240)
        self.face.setWordWrap(True)
        self.reference = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.reference.setMinimumSize(160, 160)
        self.reference.setToolTip(f"One of {self.who}'s faces, to compare" if self.who else
                                  "One of their faces, to compare")
        self.face_label = muted(QLabel("Suggested", alignment=Qt.AlignmentFlag.AlignCenter))
        self.reference_label = muted(QLabel(f"{self.who}, to compare" if self.who else "One of theirs, to compare",
                                             alignment=Qt.AlignmentFlag.AlignCenter))
        self.reference_label.setWordWrap(True)
        # When the suggested face was taken (its file's date), and whose it is now: never a score or a file name
        # (the file's name is the face's tooltip).
        self.when = muted(QLabel(alignment=Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop))
        self.when.setTextFormat(Qt.TextFormat.PlainText)
        # The two faces side by side on one baseline, each caption centred under its own face, the pair centred.
        from PySide6.QtWidgets import QGridLayout

        faces = QGridLayout()
        faces.setHorizontalSpacing(32)
        bottom, top = (Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom,
                       Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        faces.addWidget(self.face, 0, 1, bottom)
        faces.addWidget(self.reference, 0, 2, bottom)
        faces.addWidget(self.face_label, 1, 1, top)
        faces.addWidget(self.reference_label, 1, 2, top)
        faces.addWidget(self.when, 2, 1, top)
        faces.setColumnStretch(0, 1)
        faces.setColumnStretch(3, 1)
        faces.setRowStretch(0, 1)
        self.faces_layout = faces
        self.caption = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.caption.setWordWrap(True)
        self.note = muted(QLabel(alignment=Qt.AlignmentFlag.AlignCenter))
        self.note.setWordWrap(True)
        layout.addWidget(self.heading)
        layout.addWidget(self.count)
        layout.addLayout(faces, 1)
        layout.addWidget(self.caption)
        layout.addWidget(self.note)
        buttons = QHBoxLayout()
        self.yes = QPushButton("Yes (Y)")
        self.no = QPushButton("No (N)")
        skip = QPushButton("Skip (S)")
        done = QPushButton("Close")   # answers are saved as they are given: closing keeps them
        self.yes.setShortcut("Y")
        self.no.setShortcut("N")
        skip.setShortcut("S")
        self.skip = skip
        self.done_button = done
        self.yes.clicked.connect(lambda: self._answer(True))
        self.no.clicked.connect(lambda: self._answer(False))
        skip.clicked.connect(self._skip)
        done.clicked.connect(self.accept)
        buttons.addStretch(1)   # at their own size, centred: Close alone at the end is not a bar across the dialog
        for b in (self.yes, self.no, skip, done):
            buttons.addWidget(b)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.queue: list = []        # the latest review's faces not yet seen in this session, most likely first
        self.seen: set[int] = set()  # answered or skipped in this session: never shown again
        self.skipped: set[int] = set()
        self.answered = 0
        self.remaining = 0           # faces still to ask about in this session, the one on screen included
        self.current = None
        self._crop_token: int | None = None   # the crops on their way for the face on screen
        self.pending = True          # waiting for the engine (the first review, or a decision and the review after)
        self._before, self._said_yes = None, False   # what was left after the answer being saved, and what it was
        self._set_enabled(False)
        self.face.setText("Looking for faces…")
        failed = getattr(engine, "failed", None)
        if failed is not None:       # a decision that failed: ask again what is true, rather than wait for ever
            failed.connect(self._failed)
        engine.review(person.id, self._reviewed)

    # -- where the user is ------------------------------------------------------------------------------------------
    @property
    def shown(self) -> int:
        """Faces dealt with in this session (answered or skipped)."""
        return self.answered + len(self.skipped)

    @property
    def total(self) -> int:
        return self.shown + self.remaining

    @property
    def position(self) -> int:
        return self.shown + 1 if self.current is not None else self.shown

    # -- keys and buttons -------------------------------------------------------------------------------------------
    def keyPressEvent(self, event):
        """Y, N and S answer whatever has the focus in the dialog (as Apple Photos' review does)."""
        keys = {Qt.Key.Key_Y: lambda: self._answer(True), Qt.Key.Key_N: lambda: self._answer(False),
                Qt.Key.Key_S: self._skip}
        action = keys.get(event.key())
        if action is not None and not event.modifiers():
            action()
        else:
            super().keyPressEvent(event)

    def _set_enabled(self, enabled: bool) -> None:
        for b in (self.yes, self.no, self.skip):
            b.setEnabled(enabled)

    def _answer(self, yes: bool) -> None:
        if self.current is None or self.pending:
            return
        face = self.current.face_id
        self.seen.add(face)
        self.answered += 1
        self.remaining -= 1
        self.pending, self._said_yes = True, yes
        self._before = self.remaining  # what is left if the answer changes nothing else
        self._set_enabled(False)
        self.note.setText("Saving your answer…")
        if yes:
            self.engine.move_face(face, self.person.id, on_done=self._decided)
        else:
            self.engine.reject_face(face, self.person.id, on_done=self._decided)

    def _skip(self) -> None:
        if self.current is None or self.pending:
            return
        self.seen.add(self.current.face_id)
        self.skipped.add(self.current.face_id)
        self.remaining -= 1
        self.note.setText("")
        self._next()

    # -- the engine's answers -----------------------------------------------------------------------------------------
    def _decided(self, _result=None) -> None:
        """The decision is in the library (and the rule has placed what follows from it): what is left now?"""
        self.engine.review(self.person.id, self._reviewed)

    def _failed(self, what: str, message: str) -> None:
        if self.pending and what in ("moving a face", "rejecting a face"):  # Engine.move_face / reject_face
            self.engine.review(self.person.id, self._reviewed)

    def _reviewed(self, review) -> None:
        if not self.pending:  # nothing was asked (a late answer to an earlier question)
            return
        before = self._before
        listed = list(review.suggestions)
        self.queue = [s for s in listed if s.face_id not in self.seen]
        # The library's total, less the faces of it this session has already seen (skipped ones stay undecided).
        self.remaining = max(review.total - (len(listed) - len(self.queue)), len(self.queue))
        self.pending, self._before = False, None
        settled = before - self.remaining if before is not None else 0
        faces = QCoreApplication.translate("PeopleModel", "%n face(s)", "", settled)
        noted = "" if before is None or self._said_yes else f"Noted: not {self.who or 'this person'}."
        if settled <= 0:
            self.note.setText(noted)
        elif self._said_yes:  # the rule placed faces like it with them: they left the list
            self.note.setText(f"{self.who or 'They'} also got {faces} like it, placed automatically.")
        else:
            self.note.setText(f"{noted} {plural(settled, 'more face', 'more faces')} like it left the list.")
        self._next()

    def _next(self) -> None:
        if not self.queue:
            self._finished()
            return
        self.current = self.queue.pop(0)
        self.count.setText(f"{self.position} of {self.total}")
        ensure = getattr(self.engine, "ensure_crop", None)
        shown = [(self.face, self.current.face_id, 220), (self.reference, self.current.reference_face, 140)]
        for label, face_id, side in shown:
            # With the engine's ensure_crop the crop is checked against this face (made again from its file when
            # missing or another face's) on a pool thread, and shown when it comes: never a stale file meanwhile.
            pix = QPixmap(str(self.engine.crop_path(face_id))) if face_id is not None and not ensure else QPixmap()
            label.setPixmap(pix.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                       Qt.TransformationMode.SmoothTransformation) if not pix.isNull() else pix)
        if ensure:
            if not getattr(self, "_crops_connected", False):
                crops_loaded().done.connect(self._crops_arrived)
                self._crops_connected = True
            ids = [face_id for _, face_id, _ in shown if face_id is not None]
            self._crop_token = load_crops(ensure, self.engine.crop_path, ids, 220)
            self._crop_sides = {face_id: (label, side) for label, face_id, side in reversed(shown)
                                if face_id is not None}
        path = self.current.path or ""
        moment = getattr(self.current, "timestamp", None)
        where = path.rsplit("/", 1)[-1] + (f" at {clock(moment)}" if moment is not None and path else "")
        self.face.setToolTip(where)   # the file's name, for whoever wants it; the caption says when, in words
        self.when.setToolTip(where)
        parts = [taken(self.files.get(path))] + ([f"at {clock(moment)} in the video"] if moment is not None else [])
        other = self._now_of(getattr(self.current, "current_person", None))
        self.when.setText("\n".join(line for line in (" · ".join(p for p in parts if p),
                                                       f"Now with {isolated(other)}" if other else "") if line))
        self.caption.setText("")
        self._set_enabled(True)

    def _finished(self) -> None:
        """Nothing left to ask: the dialog says so in words (not a stale "2 of 2"), the answers go, and Close has
        the focus (Enter closes), as Apple Photos' review ends."""
        self.current = None
        self._crop_token = None   # a crop still on its way is no longer wanted
        whom = f" for {self.who}" if self.who else ""
        if self.shown:
            self.heading.setText("All done")
            self.face.setText(f"Nothing more to review{whom}.")
        else:   # nothing to ask about from the start
            self.heading.setText("Nothing to review")
            self.face.setText(f"No faces to review{whom} now. New photos may bring some.")
        self.setWindowTitle(self.heading.text())
        self.reference.clear()
        self.face.setToolTip("")
        for widget in (self.reference, self.reference_label, self.face_label, self.when):
            widget.hide()   # the message alone, across the dialog
        for column, stretch in ((0, 0), (1, 1), (3, 0)):
            self.faces_layout.setColumnStretch(column, stretch)
        self.faces_layout.setAlignment(self.face, Qt.AlignmentFlag(0))   # the whole width, the words centred
        self.count.setText("")
        done = f"You answered {plural(self.answered, 'face')}" if self.answered else ""
        if self.skipped:
            done += ("; " if done else "") + f"{len(self.skipped)} skipped, to review another time"
        self.caption.setText(done + "." if done else "")
        self._set_enabled(False)
        for button in (self.yes, self.no, self.skip):
            button.hide()
        self.done_button.setDefault(True)
        self.done_button.setFocus()

    def _crops_arrived(self, token: int, images: list) -> None:
        if token != getattr(self, "_crop_token", None):  # another dialog's, or a face no longer on screen
            return
        for face_id, image in images:
            label, side = self._crop_sides.get(face_id, (None, 0))
            if label is not None and not image.isNull():
                label.setPixmap(QPixmap.fromImage(image).scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                                                Qt.TransformationMode.SmoothTransformation))

    def _now_of(self, person_id) -> str | None:
        """The name of the named person the face is now placed with, if any (an unnamed group says nothing)."""
        if person_id is None:
            return None
        person = next((p for p in getattr(self.engine, "people", []) if p.id == person_id), None)
        return person.name if person is not None and person.name else None
