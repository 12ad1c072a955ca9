"""Naming a person, as the people panel and the viewer both ask it: "Who is this?" beside their face (NameDialog),
their files in words (files_of), and face crops read off the UI thread (load_crops). A module of its own so that the
viewer and the people panel can both use it without importing each other."""
from __future__ import annotations

import itertools
import logging

from PySide6.QtCore import QObject, QRunnable, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPalette, QPixmap
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QVBoxLayout

from app.gui.completion import NameCompleter, name_entries
from core.wording import media_counts, plural

log = logging.getLogger(__name__)


def files_of(person) -> str:
    """A person's files by kind ("1 photo", "3 photos · 1 video"); by the number of files where the kinds are
    not known (a person from before the counts by kind)."""
    if hasattr(person, "photos"):
        return media_counts(person.photos, person.videos)
    return plural(person.media, "file")


class NameDialog(QDialog):
    """ "Who is this?" beside the person's face, with completion of the names (and aliases) of the library's people;
    a short title that is never cut."""
    SIDE = 140

    def __init__(self, engine, person, people, parent=None):
        from PySide6.QtWidgets import QDialogButtonBox, QLineEdit

        super().__init__(parent)
        self.engine, self.person = engine, person
        self.setWindowTitle("Rename" if person.name else "Add a name")
        layout = QHBoxLayout(self)
        self.face = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        self.face.setFixedSize(self.SIDE, self.SIDE)
        self.face.setPixmap(blank_icon(self.SIDE).pixmap(self.SIDE, self.SIDE))
        layout.addWidget(self.face)
        column = QVBoxLayout()
        question = QLabel("Who is this?")
        font = question.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.2)
        question.setFont(font)
        self.count = muted(QLabel(files_of(person)))
        self.line = QLineEdit(person.name or "", self)
        self.line.setPlaceholderText("Name")
        self.line.setMinimumWidth(240)
        NameCompleter(self.line, whole_field=True, parent=self).set_entries(name_entries(people))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        for widget in (question, self.count, self.line):
            column.addWidget(widget)
        column.addStretch(1)
        column.addWidget(buttons)
        layout.addLayout(column, 1)
        self._token, self._shown = None, False
        face_id = person.cover_face
        ensure = getattr(engine, "ensure_crop", None)
        if face_id is not None and ensure:   # read, or made again from its file, on a pool thread
            crops_loaded().done.connect(self._crop_loaded)
            self._token = load_crops(ensure, engine.crop_path, [face_id], self.SIDE)
        elif face_id is not None:
            self._show(QImage(str(engine.crop_path(face_id))))

    def _crop_loaded(self, token: int, images: list) -> None:
        if token == self._token:
            for _, image in images:
                self._show(image)

    def _show(self, image: QImage) -> None:
        if not image.isNull():
            self.face.setPixmap(QPixmap.fromImage(image).scaled(
                self.SIDE, self.SIDE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))
            self._shown = True

    def has_face(self) -> bool:
        """The person's face is on screen (not the blank placeholder)."""
        return self._shown

    def ask(self) -> str | None:
        if self.exec() == QDialog.DialogCode.Accepted and self.line.text().strip():
            return self.line.text().strip()
        return None


class CropsLoaded(QObject):
    done = Signal(int, object)   # the strip's token, [(face id, QImage)]


_loaded_crops: list[CropsLoaded] = []
_tokens = itertools.count(1)


def next_token() -> int:
    """A new token for a batch of crops (each dialog or strip keeps its own, to know its answers)."""
    return next(_tokens)


def crops_loaded() -> CropsLoaded:
    """One for the process, made on the UI thread and never deleted (a runnable may finish after its dialog)."""
    if not _loaded_crops:
        _loaded_crops.append(CropsLoaded())
    return _loaded_crops[0]


class LoadCrops(QRunnable):
    """Face crops read and scaled on a pool thread, a batch at a time (QImage is safe off the UI thread)."""
    BATCH = 24

    def __init__(self, token: int, crops: list[tuple[int, str]], side: int, ensure=None):
        """`ensure(face_id)`, when given, gives each crop's file (made again when missing or stale) or None."""
        super().__init__()
        self.token, self.crops, self.side, self.signal = token, crops, side, crops_loaded()
        self.ensure = ensure

    def run(self):
        out = []
        for face_id, path in self.crops:
            if self.ensure is not None:
                try:
                    made = self.ensure(face_id)
                except Exception:
                    log.warning("could not make the crop of face %s", face_id, exc_info=True)
                    made = None
                path = str(made) if made else ""
            image = QImage(path) if path else QImage()
            if not image.isNull():
                image = image.scaled(self.side, self.side, Qt.AspectRatioMode.KeepAspectRatio,
                                     Qt.TransformationMode.SmoothTransformation)
            out.append((face_id, image))
        self.signal.done.emit(self.token, out)


def load_crops(ensure, crop_path, face_ids: list[int], side: int) -> int:
    """Start reading the crops of `face_ids` (made again from the file when missing or stale: `ensure`) and scaling
    them to `side`, on pool threads; they come back on `crops_loaded().done` with the token returned."""
    from PySide6.QtCore import QThreadPool

    token = next(_tokens)
    crops = [(face_id, str(crop_path(face_id))) for face_id in face_ids]
    pool = QThreadPool.globalInstance()
    for i in range(0, len(crops), LoadCrops.BATCH):
        pool.start(LoadCrops(token, crops[i:i + LoadCrops.BATCH], side, ensure))
    return token


def blank_icon(side: int) -> QIcon:
    pix = QPixmap(side, side)
    pix.fill(QColor("#3a3f47"))
    return QIcon(pix)


def muted(label: QLabel) -> QLabel:
    palette = label.palette()
    palette.setColor(QPalette.ColorRole.WindowText, palette.color(QPalette.ColorRole.PlaceholderText))
    label.setPalette(palette)
    return label


