"""The viewer: a photo at full size with zoom and its face boxes (click one to name it), or a video that starts at
the matched moment with the other moments marked on its timeline."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QPoint, QPointF, QRect, QRectF, QRunnable, QSize, Qt, QThreadPool, QUrl, Signal
from PySide6.QtGui import QBrush, QColor, QDesktopServices, QImage, QImageReader, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (QAbstractButton, QAbstractSlider, QFrame, QGraphicsItem, QGraphicsPixmapItem,
                               QGraphicsRectItem, QGraphicsScene, QGraphicsSimpleTextItem, QGraphicsView, QHBoxLayout,
                               QLabel, QMenu, QPushButton, QScrollArea, QSizePolicy, QSlider, QStyle,
                               QStyleOptionSlider, QVBoxLayout, QWidget)

from app.gui import completion
from app.gui.naming import NameDialog, files_of
from app.gui.results import taken
from core.wording import clock

if TYPE_CHECKING:  # QtMultimedia is imported when a video is shown: it needs libpulse, photos do not
    from PySide6.QtMultimedia import QMediaPlayer

log = logging.getLogger(__name__)


class _ImageLoaded(QObject):
    done = Signal(QImage)


class _LoadImage(QRunnable):
    def __init__(self, path: str, signal: _ImageLoaded):
        super().__init__()
        self.path, self.signal = path, signal

    def run(self):
        reader = QImageReader(self.path)
        reader.setAutoTransform(True)  # EXIF orientation, as the index saw it
        self.signal.done.emit(reader.read())


class _LoadFrame(QRunnable):
    """A video's frame at `seconds`, decoded off the UI thread (PyAV, as the index reads videos): the still that
    shows a video where Qt's player cannot load."""

    def __init__(self, path: str, seconds: float, signal: _ImageLoaded):
        super().__init__()
        self.path, self.seconds, self.signal = path, seconds, signal

    def run(self):
        image = QImage()
        try:
            import av

            with av.open(self.path) as container:
                stream = container.streams.video[0]
                if self.seconds > 0 and stream.time_base:
                    container.seek(int(self.seconds / stream.time_base), stream=stream, backward=True)
                frame = None
                for frame in container.decode(stream):
                    if frame.time is None or frame.time + 1e-3 >= self.seconds:
                        break
                if frame is not None:
                    rgb = frame.to_ndarray(format="rgb24")
                    height, width = rgb.shape[:2]
                    image = QImage(rgb.tobytes(), width, height, 3 * width, QImage.Format.Format_RGB888).copy()
        except Exception as e:  # a file the decoder cannot read: the viewer says so
            log.warning("no still of %s at %.1fs: %s", self.path, self.seconds, e)
        self.signal.done.emit(image)


class ZoomView(QGraphicsView):
    """The zoomable picture. It never takes the keyboard (NoFocus): a click on it leaves Left/Right, Space and
    Escape with the viewer, as in Apple Photos, instead of scrolling the picture."""
    transformed = Signal()  # zoomed or fitted again: the name chips are laid out again

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setRenderHints(QPainter.RenderHint.SmoothPixmapTransform | QPainter.RenderHint.Antialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)

    zoomed = False  # the user zoomed: a resize no longer fits the photo to the view

    def wheelEvent(self, event):
        factor = 1.25 if event.angleDelta().y() > 0 else 0.8
        self.zoomed = True
        self.scale(factor, factor)
        self.transformed.emit()

    def fit(self):
        """The whole photo in view (a portrait one too), however the page is sized. The picture alone sets the
        rectangle (name chips below the faces at the bottom edge would shrink it)."""
        scene = self.scene()
        if scene is None:
            return
        pictures = [i for i in scene.items() if isinstance(i, QGraphicsPixmapItem)]
        rect = pictures[0].sceneBoundingRect() if pictures else scene.itemsBoundingRect()
        if not rect.isEmpty():
            self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
            self.transformed.emit()

    def resizeEvent(self, event):
        super().resizeEvent(event)
        if not self.zoomed:
            self.fit()


CHIP_CHARS = 14  # a longer name is cut on its chip ("Alexandra Kon…"); the tooltip has it whole


def short(name: str, chars: int = CHIP_CHARS) -> str:
    return name if len(name) <= chars else name[:chars - 1].rstrip() + "…"


class NameChip(QGraphicsRectItem):
    """A face's name under its box, on a dark background: one readable size on screen whatever the face's size and
    the zoom (it ignores the view's scale), centred under the face; `place` moves it down a row where the chip of
    a face beside it is already (lay_out_chips, after each zoom). A click on it is a click on the face."""
    GAP = 3  # screen pixels between the box and its chip

    def __init__(self, box: FaceBox, text: str):
        super().__init__(box)
        self.box = box
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setBrush(QBrush(QColor(20, 22, 26, 215)))
        self.setPen(QPen(Qt.PenStyle.NoPen))
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.label = QGraphicsSimpleTextItem(short(text), self)
        self.label.setBrush(QBrush(QColor("white")))
        text_rect = self.label.boundingRect()
        self.pad = max(4.0, text_rect.height() * 0.3)
        self.size = QSize(int(text_rect.width() + 2 * self.pad + 0.999), int(text_rect.height() + self.pad / 2 + 0.999))
        face = box.face
        self.setPos(face["x"] + face["w"] / 2, face["y"] + face["h"])  # under the face's centre (scene pixels)
        self.row, self.shift = -1, 0.0
        self.place(0)

    def place(self, row: int, shift: float = 0.0) -> None:
        """`row` rows below the face, `shift` screen pixels sideways (a face at the photo's edge keeps its chip on
        the photo)."""
        if (row, shift) == (self.row, self.shift):
            return
        self.row, self.shift = row, shift
        top = self.GAP + row * (self.size.height() + 2)
        left = shift - self.size.width() / 2
        self.setRect(QRectF(left, top, self.size.width(), self.size.height()))
        self.label.setPos(left + self.pad, top + self.pad / 4)

    def mousePressEvent(self, event):
        self.box.mousePressEvent(event)


class FaceBox(QGraphicsRectItem):
    """A face on the photo: click to say who it is (a named face's name is offered, to keep or change for this face
    alone); right-click for "Not NAME" and "Someone else…". Its line is as thick on screen however big the photo."""

    def __init__(self, face: dict, on_click, on_menu=None):
        super().__init__(QRectF(face["x"], face["y"], face["w"], face["h"]))
        self.face, self.on_click, self.on_menu = face, on_click, on_menu
        named = face.get("name")
        pen = QPen(QColor("#4cc38a" if named else "#f5c542"), 2.5)
        pen.setCosmetic(True)  # screen pixels: a 4000 px photo fitted in the window still shows its boxes
        self.setPen(pen)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(f"{named} — click to change who this is" if named else "Unnamed — click to name")
        self.chip = NameChip(self, named or "?")
        self.chip.setToolTip(self.toolTip())
        self.label = self.chip.label

    def mousePressEvent(self, event):
        if event.button() == Qt.MouseButton.RightButton and self.on_menu is not None:
            self.on_menu(self.face, event.screenPos())
        else:
            self.on_click(self.face)


def lay_out_chips(view: QGraphicsView, boxes: list[FaceBox]) -> None:
    """Each chip under its face, a row lower where it would lie on the chip of a face beside it (faces close
    together, or a photo zoomed out): top to bottom, left to right, as people read a group photo. A chip stays
    on the photo's width (a face at its edge)."""
    placed: list[QRectF] = []
    viewport = view.viewportTransform()
    photo = viewport.mapRect(view.sceneRect())
    for box in sorted(boxes, key=lambda b: (b.face["y"] + b.face["h"], b.face["x"])):
        chip = box.chip
        chip.place(0)
        centred = chip.deviceTransform(viewport).mapRect(chip.rect())
        shift = 0.0
        if centred.width() <= photo.width():
            shift = max(0.0, photo.left() - centred.left()) - max(0.0, centred.right() - photo.right())
        for row in range(len(boxes)):
            chip.place(row, shift)
            rect = chip.deviceTransform(viewport).mapRect(chip.rect())
            if not any(rect.intersects(other) for other in placed):
                break
        placed.append(rect)


class TimelineSlider(QSlider):
    """A seek bar with the matched moments drawn on it."""

    def __init__(self, parent=None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.moments: list[float] = []
        self.spans: list[tuple[float, float]] = []  # where the searched people are on screen (seconds)
        self.duration_ms = 0

    def mousePressEvent(self, event):
        """A click on the bar seeks to the click (as every video player does), not one page step towards it; the
        handle itself still drags."""
        if event.button() == Qt.MouseButton.LeftButton and self.maximum() > self.minimum():
            opt = QStyleOptionSlider()
            self.initStyleOption(opt)
            handle = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                                 QStyle.SubControl.SC_SliderHandle, self)
            if not handle.contains(event.position().toPoint()):
                groove = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                                     QStyle.SubControl.SC_SliderGroove, self)
                x = int(event.position().x()) - groove.left() - handle.width() // 2
                value = QStyle.sliderValueFromPosition(self.minimum(), self.maximum(), x,
                                                       max(1, groove.width() - handle.width()))
                self.setValue(value)
                self.sliderMoved.emit(value)
                event.accept()
                return
        super().mousePressEvent(event)

    def paintEvent(self, event):
        super().paintEvent(event)
        if not self.duration_ms or not (self.moments or self.spans):
            return
        opt = QStyleOptionSlider()
        self.initStyleOption(opt)
        groove = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                             QStyle.SubControl.SC_SliderGroove, self)
        painter = QPainter(self)
        span_colour = QColor("#3d8bfd")
        span_colour.setAlpha(150)
        for start, end in self.spans:
            x0 = groove.left() + groove.width() * min(1.0, start * 1000 / self.duration_ms)
            x1 = groove.left() + groove.width() * min(1.0, end * 1000 / self.duration_ms)
            painter.fillRect(QRectF(x0, groove.bottom() + 1, max(2.0, x1 - x0), 4), span_colour)
        painter.setPen(QPen(QColor("#f5a742"), 3))
        for t in self.moments:
            x = groove.left() + groove.width() * min(1.0, t * 1000 / self.duration_ms)
            painter.drawLine(QPointF(x, groove.top() - 4), QPointF(x, groove.bottom() + 4))


class ElidedLabel(QLabel):
    """One line of text cut to the width it is given ("IMG_2019…final.jpg"), the whole of it in the tooltip: a
    long file name never makes the window wider."""

    def __init__(self, text: str = "", mode=Qt.TextElideMode.ElideMiddle, parent=None):
        super().__init__(parent)
        self.mode, self.full = mode, ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        self.full = text
        self.setToolTip(text)
        self._elide()

    def _elide(self) -> None:
        super().setText(self.fontMetrics().elidedText(self.full, self.mode, max(0, self.contentsRect().width())))

    def text(self) -> str:
        """The whole text (what is on screen may be cut: `shown`)."""
        return self.full

    def shown(self) -> str:
        return super().text()

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(self.fontMetrics().horizontalAdvance(self.full) + 4, hint.height())

    def minimumSizeHint(self) -> QSize:
        return QSize(self.fontMetrics().horizontalAdvance("…") * 4, super().minimumSizeHint().height())

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._elide()


class MomentStrip(QScrollArea):
    """The matched moments' buttons in one row that scrolls sideways when they do not all fit."""

    def __init__(self, strip: QWidget, parent=None):
        super().__init__(parent)
        self.setWidget(strip)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self._fit()

    def _fit(self) -> None:
        strip = self.widget()
        needed = strip is not None and strip.sizeHint().width() > self.viewport().width()
        bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent) if needed else 0
        self.setFixedHeight((strip.sizeHint().height() if strip is not None else 0) + bar)

    def minimumSizeHint(self) -> QSize:
        return QSize(0, super().minimumSizeHint().height())

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._fit()


def place_beside(size: QSize, face: QRect, faces: list[QRect], area: QRect, window: QRect) -> QPoint:
    """Where a dialog of `size` goes (its top-left, global): beside `face` (on its right, else its left, below,
    above), inside `area` (the screen) and on none of `faces` (every face of the photo, on screen); else the free
    spot nearest the face; else the middle of `window`."""
    gap = 16

    def inside(x: int, y: int) -> QRect:
        x = max(area.left(), min(x, area.right() - size.width() + 1))
        y = max(area.top(), min(y, area.bottom() - size.height() + 1))
        return QRect(QPoint(x, y), size)

    def free(rect: QRect) -> bool:
        return area.contains(rect) and not any(rect.intersects(f.adjusted(-4, -4, 4, 4)) for f in faces)

    sides = [inside(face.right() + 1 + gap, face.top()), inside(face.left() - gap - size.width(), face.top()),
             inside(face.center().x() - size.width() // 2, face.bottom() + 1 + gap),
             inside(face.center().x() - size.width() // 2, face.top() - gap - size.height())]
    for rect in sides:
        if free(rect):
            return rect.topLeft()
    step = 24
    spots = [inside(x, y) for x in range(area.left(), area.right() - size.width() + 2, step)
             for y in range(area.top(), area.bottom() - size.height() + 2, step)]
    free_spots = [r for r in spots if free(r)]
    if free_spots:
        middle = face.center()
        return min(free_spots, key=lambda r: (r.center() - middle).manhattanLength()).topLeft()
    rect = QRect(QPoint(0, 0), size)
    rect.moveCenter(window.center())
    return rect.topLeft()


def ask_name(viewer: Viewer, title: str, label: str, people, text: str = "", beside=None) -> str | None:
    """Who the face `viewer.naming` is, asked as the people panel asks it (NameDialog: "Who is this?", the face's
    crop, completion of names and aliases), placed beside the face (`beside`, global) and off the photo's other
    faces. The tests answer in its place."""
    face = getattr(viewer, "naming", None)
    if face is None:  # no face to show: the plain question
        return completion.ask_name(viewer, title, label, people, text, beside)
    listed = next((p for p in people if face.get("name") and p.id == face.get("person_id")), None)
    dialog = NameDialog(viewer.engine, _Asked(face.get("person_id"), text or None, face["id"]), people, viewer)
    dialog.setWindowTitle(title)
    dialog.count.setText(files_of(listed) if listed is not None else "")
    dialog.count.setVisible(listed is not None)
    if beside is not None:
        dialog.adjustSize()
        frame = dialog.size() + QSize(8, 40)  # a window manager's frame and title bar come round it
        screen = (viewer.screen() or dialog.screen()).availableGeometry()
        window = viewer.window().frameGeometry()
        dialog.move(place_beside(frame, beside, viewer.faces_on_screen() or [beside], screen, window))
    try:
        return dialog.ask()
    finally:
        dialog.deleteLater()


class _Asked:
    """The person a face's NameDialog asks about: this face (its crop) and the name offered."""

    photos = videos = 0  # files_of() reads them: the dialog then says the named person's own

    def __init__(self, id: int | None, name: str | None, cover_face: int):
        self.id, self.name, self.cover_face = id, name, cover_face


class Viewer(QWidget):
    """One photo or video, shown inside the main window (ViewerPage holds it, with the navigation and the info)."""
    step = Signal(int)  # -1 previous result, +1 next
    back = Signal()     # Escape: back to the grid
    faces_known = Signal(list)  # the file's faces as the library has them now (after each naming too)

    def keyPressEvent(self, event):
        if not self.navigate(event):
            super().keyPressEvent(event)

    def navigate(self, event) -> bool:
        """The viewer's keys, wherever in it the user clicked (the page hands on those its labels and buttons do
        not use): Left/Right and PageUp/PageDown step, Escape and Alt+Left go back, Space plays. True: it was one."""
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if event.key() == Qt.Key.Key_Left and mods == Qt.KeyboardModifier.AltModifier:
            self.back.emit()  # Alt+Left is "back" in every browser and file manager, never "previous"
        elif mods != Qt.KeyboardModifier.NoModifier and event.key() in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            return False  # Ctrl/Shift+arrows are not steps (the system's, or nobody's)
        elif mods != Qt.KeyboardModifier.NoModifier:
            return False
        elif event.key() in (Qt.Key.Key_Left, Qt.Key.Key_PageUp):
            self.step.emit(-1)
        elif event.key() in (Qt.Key.Key_Right, Qt.Key.Key_PageDown):
            self.step.emit(1)
        elif event.key() == Qt.Key.Key_Escape:
            self.back.emit()
        elif event.key() == Qt.Key.Key_Space and self.player is not None:
            self.toggle_playback()
        else:
            return False
        return True

    def _keys_stay_here(self) -> None:
        """A click anywhere in the viewer leaves the keyboard with it: the picture and the video never take the
        focus, its buttons and the timeline only by Tab (a click on them gives the viewer the focus: Qt gives it to
        the first parent that takes a click's focus)."""
        for widget in self.findChildren(QWidget):
            if isinstance(widget, (QAbstractButton, QAbstractSlider)):
                widget.setFocusPolicy(Qt.FocusPolicy.TabFocus)
            elif widget.focusPolicy() != Qt.FocusPolicy.NoFocus and not isinstance(widget, QLabel):
                widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)

    def __init__(self, row: dict, engine, parent=None):
        super().__init__(parent)
        self.row, self.engine = row, engine
        self.setWindowTitle(Path(row["path"]).name)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.player: QMediaPlayer | None = None  # a video's, once QtMultimedia loaded
        self.face_boxes: list[FaceBox] = []      # a photo's face boxes, once its faces are known
        self.pixmap_item: QGraphicsPixmapItem | None = None  # a photo's picture, once decoded
        self.face_menu: QMenu | None = None      # a face box's context menu, once opened
        if row["kind"] == "video":
            try:
                layout.addWidget(self._video(row), 1)
            except ImportError as e:  # QtMultimedia needs libpulse (Debian's libpulse0); photos work without it
                log.warning("video playback is not available: %s", e)
                self.player = None
                layout.addWidget(self._video_still(row, e), 1)
        else:
            layout.addWidget(self._photo(row), 1)
        buttons = QHBoxLayout()
        info = ElidedLabel(row["path"], Qt.TextElideMode.ElideLeft)  # "…/Holidays/IMG_2041.jpg"
        info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons.addWidget(info, 1)
        open_button = QPushButton("Open in system viewer")
        open_button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(row["path"])))
        folder_button = QPushButton("Show in folder")
        folder_button.clicked.connect(
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(row["path"]))))
        buttons.addWidget(open_button)
        buttons.addWidget(folder_button)
        layout.addLayout(buttons)
        self.naming: dict | None = None  # the face being named, while its dialog is open
        self._keys_stay_here()

    # -- photos -----------------------------------------------------------------------------------------------------
    def _picture(self, parent: QWidget, job, shown) -> ZoomView:
        """The zoomable picture of a photo or of a video's still: `job(done)` decodes it on the pool, `shown(image)`
        puts it in the scene on the UI thread."""
        self.scene = QGraphicsScene(self)
        self.view = ZoomView(parent)
        self.view.setScene(self.scene)
        self.view.setBackgroundBrush(QColor("#15171a"))
        self.view.transformed.connect(self._lay_out_chips)
        self._loaded = _ImageLoaded()
        self._loaded.done.connect(shown)
        QThreadPool.globalInstance().start(job(self._loaded))
        return self.view

    def _photo(self, row: dict) -> QWidget:
        return self._picture(self, lambda done: _LoadImage(row["path"], done), self._show_image)

    def _show_image(self, image: QImage) -> None:
        if image.isNull():
            self.scene.addText("This file cannot be shown.").setDefaultTextColor(QColor("white"))
            return
        self.pixmap_item = self.scene.addPixmap(QPixmap.fromImage(image))
        self.scene.setSceneRect(self.pixmap_item.sceneBoundingRect())  # the chips below the faces add no margin
        self.view.fit()
        if self.row.get("media_id"):
            self.engine.faces_in(self.row["media_id"], self._draw_faces)

    def _draw_faces(self, faces: list[dict]) -> None:
        self.faces_known.emit(faces)
        for box in self.face_boxes:
            self.scene.removeItem(box)
        self.face_boxes = [FaceBox(f, self._name_face, self._face_menu) for f in faces if f["timestamp"] is None]
        for box in self.face_boxes:
            self.scene.addItem(box)
        self._lay_out_chips()

    def _lay_out_chips(self) -> None:
        if self.face_boxes:
            lay_out_chips(self.view, self.face_boxes)

    def refresh_faces(self, *_) -> None:
        """Redraw the boxes from the library: after a naming, the box shows the name at once."""
        if self.row.get("media_id"):
            self.engine.faces_in(self.row["media_id"], self._draw_faces)

    def _on_screen(self, face: dict):
        """The face's rectangle in screen coordinates (the naming dialog goes beside it)."""
        rect = self.view.mapFromScene(QRectF(face["x"], face["y"], face["w"], face["h"])).boundingRect()
        return rect.translated(self.view.viewport().mapToGlobal(rect.topLeft()) - rect.topLeft())

    def faces_on_screen(self) -> list[QRect]:
        """Every face box of the photo with its name chip, in screen coordinates (the naming dialog keeps off
        them)."""
        viewport = self.view.viewportTransform()
        out = []
        for box in self.face_boxes:
            chip = box.chip.deviceTransform(viewport).mapRect(box.chip.rect()).toAlignedRect()
            chip.moveTopLeft(self.view.viewport().mapToGlobal(chip.topLeft()))
            out.append(self._on_screen(box.face).united(chip))
        return out

    def _name_face(self, face: dict) -> None:
        self.naming = face
        try:
            name = ask_name(self, "Who is this?", "Name:", self.engine.people, face.get("name") or "",
                            beside=self._on_screen(face))
        finally:
            self.naming = None
        if name:
            self.engine.move_face(face["id"], name, on_done=self.refresh_faces)

    def _face_menu(self, face: dict, where) -> None:
        menu = QMenu(self)
        if face.get("name") and face.get("person_id"):
            menu.addAction(f"Not {face['name']}", lambda: self.engine.reject_face(face["id"], face["person_id"],
                                                                                  on_done=self.refresh_faces))
        menu.addAction("Someone else…", lambda: self._name_face(dict(face, name=None)))
        menu.popup(where.toPoint() if hasattr(where, "toPoint") else where)
        self.face_menu = menu

    # -- videos -----------------------------------------------------------------------------------------------------
    def _video_still(self, row: dict, error: Exception) -> QWidget:
        """Without QtMultimedia: the matched moment's frame, and a button that plays the video in the system's
        player."""
        box = QWidget(self)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        self.still_item: QGraphicsPixmapItem | None = None
        moment = float(row.get("timestamp") or 0)
        layout.addWidget(self._picture(box, lambda done: _LoadFrame(row["path"], moment, done), self._show_still), 1)
        controls = QHBoxLayout()
        self.system_play_button = QPushButton("Play in system player")
        self.system_play_button.setObjectName("systemPlayButton")
        self.system_play_button.clicked.connect(
            lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(row["path"])))
        note = QLabel(f"A still at {clock(row.get('timestamp') or 0)}: Qt's video player could not load here "
                      f"({error}); installing Debian's libpulse0 lets Idlens play videos.")
        note.setObjectName("videoStillNote")
        note.setWordWrap(True)
        controls.addWidget(self.system_play_button)
        controls.addWidget(note, 1)
        layout.addLayout(controls)
        return box

    def _show_still(self, image: QImage) -> None:
        if image.isNull():
            self.scene.addText("This video's frame cannot be shown.").setDefaultTextColor(QColor("white"))
            return
        self.still_item = self.scene.addPixmap(QPixmap.fromImage(image))
        self.view.fit()

    # Opens paused on the matched moment's frame (a person looks at it first); Space or Play plays from there. Every
    # moment button and timeline click seeks and plays, also after the end (a player that reached the end stops,
    # and some backends then ignore a seek: so play first, then seek). At the end the button offers Replay.
    def _video(self, row: dict) -> QWidget:
        from PySide6.QtMultimedia import QAudioOutput, QMediaDevices, QMediaPlayer
        from PySide6.QtMultimediaWidgets import QVideoWidget

        box = QWidget(self)
        layout = QVBoxLayout(box)
        self.video_widget = QVideoWidget(box)
        layout.addWidget(self.video_widget, 1)
        self.player = player = QMediaPlayer(self)
        # No audio device (none installed, or the sound server is off): no audio output, the video plays silent.
        # An output on no device is what Qt logs "No audio device detected" for, and its FFmpeg audio renderer can
        # then keep the player from ever stopping (issue 21).
        self.audio = None
        if QMediaDevices.audioOutputs():
            self.audio = QAudioOutput(self)
            player.setAudioOutput(self.audio)
        else:
            log.info("no audio device: videos play without sound")
        player.setVideoOutput(self.video_widget)
        controls = QHBoxLayout()
        self.play_button = QPushButton("Play")
        self.play_button.setObjectName("playButton")
        self.play_button.clicked.connect(self.toggle_playback)
        self.timeline = TimelineSlider(box)
        self.timeline.moments = [m["timestamp"] for m in row.get("moments") or []]
        self.timeline.spans = [(s["start"], s["end"]) for s in row.get("spans") or []]
        self.timeline.sliderMoved.connect(lambda ms: self.seek(ms / 1000, play=False))
        self.time_label = QLabel("0:00")
        self.time_label.setObjectName("timeLabel")
        controls.addWidget(self.play_button)
        controls.addWidget(self.timeline, 1)
        controls.addWidget(self.time_label)
        layout.addLayout(controls)
        strip = QWidget()
        moments = QHBoxLayout(strip)
        moments.setContentsMargins(0, 0, 0, 0)
        self.moment_buttons = []
        for m in sorted(row.get("moments") or [], key=lambda m: m["timestamp"]):
            b = QPushButton(clock(m["timestamp"]))
            b.setToolTip("play from this matched moment")
            b.clicked.connect(lambda _=False, t=m["timestamp"]: self.seek(t))
            b.setMinimumWidth(b.fontMetrics().horizontalAdvance(b.text()) + 24)   # not the style's 80 px each
            b.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
            self.moment_buttons.append(b)
            moments.addWidget(b)
        moments.addStretch(1)
        if self.moment_buttons:  # many moments scroll sideways: they never widen the window
            layout.addWidget(MomentStrip(strip, box))
        player.durationChanged.connect(self._duration)
        player.mediaStatusChanged.connect(self._status)
        player.positionChanged.connect(self._position)
        player.playbackStateChanged.connect(self._state)
        self.start_ms = int((row.get("timestamp") or 0) * 1000)
        self._held = True  # paused on the matched frame until the user plays
        self._at_end = False
        player.setSource(QUrl.fromLocalFile(row["path"]))
        return box

    @property
    def ended(self) -> bool:
        """Played to the end: the button offers Replay (from the matched moment); moments and the timeline seek."""
        return self._at_end

    def seek(self, seconds: float, play: bool = True) -> None:
        """Go to `seconds` (and play from there): also after the end, and while paused."""
        from PySide6.QtMultimedia import QMediaPlayer

        if self.player is None:
            return
        ms = max(0, int(seconds * 1000))
        if play or self.ended:
            self._held = False
            self._at_end = False
            if self.player.playbackState() != QMediaPlayer.PlaybackState.PlayingState:
                self.player.play()
        self.player.setPosition(ms)
        if not play and not self.ended and self.player.playbackState() != QMediaPlayer.PlaybackState.PlayingState:
            self.player.pause()  # shows the frame there

    def toggle_playback(self) -> None:
        from PySide6.QtMultimedia import QMediaPlayer

        if self.player is None:
            return
        if self.ended:
            self.seek(self.start_ms / 1000 if self.start_ms else 0.0)  # Replay
        elif self.player.playbackState() == QMediaPlayer.PlaybackState.PlayingState:
            self.player.pause()
        else:
            self._held = False
            self.player.play()

    def _state(self, state) -> None:
        from PySide6.QtMultimedia import QMediaPlayer

        if state == QMediaPlayer.PlaybackState.PlayingState:
            self.play_button.setText("Pause")
        else:
            self.play_button.setText("Replay" if self.ended else "Play")

    def _duration(self, ms: int):
        self.timeline.setRange(0, ms)
        self.timeline.duration_ms = ms
        self.timeline.update()
        self._show_time(self.player.position() if self.player is not None else 0)

    @property
    def length(self) -> float:
        """The video's length in seconds: the library's (what the grid's badge and the info panel say), else the
        player's."""
        return float(self.row.get("duration") or 0) or self.timeline.duration_ms / 1000

    def _show_time(self, ms: int) -> None:
        """ "0:03 / 0:10": where it is and how long it is, both by results.clock (the badge's and the info panel's
        rounding); at the end (the player stops a few frames short) it says the whole length."""
        if not self.length:
            self.time_label.setText(clock(ms / 1000))
            return
        at = self.length if self._at_end else min(ms / 1000, self.length)
        self.time_label.setText(f"{clock(at)} / {clock(self.length)}")

    def _status(self, status):
        from PySide6.QtMultimedia import QMediaPlayer

        if self.player is None:
            return
        if status == QMediaPlayer.MediaStatus.LoadedMedia and self._held:
            self.player.setPosition(self.start_ms)  # the matched moment's frame, paused
            self.player.pause()
        elif status == QMediaPlayer.MediaStatus.EndOfMedia:
            self._at_end = True
            self.play_button.setText("Replay")
            self._show_time(self.timeline.duration_ms)

    def _position(self, ms: int):
        from PySide6.QtMultimedia import QMediaPlayer

        if self.player is None:
            return
        # Stop a few frames before the end: a player that reaches the end shows black, one paused keeps the frame.
        duration = self.player.duration()
        if (duration > 0 and ms >= duration - 150 and not self._at_end
                and self.player.playbackState() == QMediaPlayer.PlaybackState.PlayingState):
            self._at_end = True
            self.player.pause()
            self.play_button.setText("Replay")
        if not self.timeline.isSliderDown():
            self.timeline.setValue(ms)
        self._show_time(ms)

    def release_player(self) -> None:
        """Let go of the video player without waiting on it: its signals are disconnected, a playing video is paused,
        and stop() is never called (on a machine without an audio device stop() can wait forever: issue 21). The
        player goes with the viewer (deleteLater). Safe to call twice, and for a photo."""
        player, self.player = self.player, None
        if player is None:  # a photo, a video shown as a still, or released already: nothing of QtMultimedia
            return
        from PySide6.QtMultimedia import QMediaPlayer

        for signal in (player.durationChanged, player.mediaStatusChanged, player.positionChanged,
                       player.playbackStateChanged):
            try:
                signal.disconnect()
            except (RuntimeError, TypeError):  # nothing connected
                pass
        if player.playbackState() == QMediaPlayer.PlaybackState.PlayingState:
            player.pause()

    def closeEvent(self, event):
        self.release_player()
        super().closeEvent(event)


class ViewerPage(QWidget):
    """The viewer as a page of the main window (as in Apple Photos and Immich, not a window per photo): Back
    (Escape), previous and next (on screen and Left/Right), "3 of 11", the item, and an info panel."""
    step = Signal(int)
    back = Signal()

    def __init__(self, engine, parent=None):
        super().__init__(parent)
        self.engine = engine
        self.viewer: Viewer | None = None
        layout = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.back_button = QPushButton("← Back", self)
        self.back_button.setToolTip("Back to the results (Esc)")
        self.back_button.clicked.connect(self.back.emit)
        self.previous_button = QPushButton("◀", self)
        self.previous_button.setToolTip("Previous (Left)")
        self.previous_button.clicked.connect(lambda: self.step.emit(-1))
        self.next_button = QPushButton("▶", self)
        self.next_button.setToolTip("Next (Right)")
        self.next_button.clicked.connect(lambda: self.step.emit(1))
        for arrow in (self.previous_button, self.next_button):   # one glyph: not the style's 80 px
            arrow.setFixedWidth(max(36, arrow.fontMetrics().horizontalAdvance(arrow.text()) + 20))
        self.position = QLabel("", self)
        self.position.setObjectName("viewerPosition")
        self.title = ElidedLabel("", Qt.TextElideMode.ElideMiddle, self)
        self.title.setObjectName("viewerTitle")
        for w in (self.back_button, self.previous_button, self.position, self.next_button):
            bar.addWidget(w)
        for button in (self.back_button, self.previous_button, self.next_button):
            button.setFocusPolicy(Qt.FocusPolicy.TabFocus)  # a click on them leaves the keys with the viewer
        bar.addSpacing(12)
        bar.addWidget(self.title, 1)
        layout.addLayout(bar)
        body = QHBoxLayout()
        self.holder = QVBoxLayout()
        body.addLayout(self.holder, 1)
        self.info = QLabel("", self)
        self.info.setObjectName("viewerInfo")
        self.info.setWordWrap(True)
        self.info.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.info.setFixedWidth(self.INFO_WIDTH)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        body.addWidget(self.info)
        layout.addLayout(body, 1)

    INFO_WIDTH, INFO_MIN = 260, 170  # the info panel: a third of a narrow page, never under INFO_MIN

    def resizeEvent(self, event):
        """The info panel gives room to the picture on a narrow page (an 800 px window: ~600 px for the page)."""
        self.info.setFixedWidth(max(self.INFO_MIN, min(self.INFO_WIDTH, event.size().width() // 3)))
        super().resizeEvent(event)

    def keyPressEvent(self, event):
        """The keys its labels and buttons leave (a click on the info panel, Tab to ◀): the viewer's."""
        if self.viewer is None or not self.viewer.navigate(event):
            super().keyPressEvent(event)

    def show_row(self, row: dict, number: int, total: int) -> Viewer:
        if self.viewer is not None:
            self.viewer.close()
            self.viewer.deleteLater()
        self.viewer = Viewer(row, self.engine, self)
        self.viewer.step.connect(self.step.emit)
        self.viewer.back.connect(self.back.emit)
        self.holder.addWidget(self.viewer)
        self.position.setText(f"{number} of {total}")
        self.previous_button.setEnabled(number > 1)
        self.next_button.setEnabled(number < total)
        self.title.setText(Path(row["path"]).name)
        self.info.setText(info_text(row))
        viewer = self.viewer
        viewer.show()  # shown now, so that it takes the focus below (a hidden widget does not)

        def known(faces: list[dict]) -> None:  # everyone named in it, as the library has it now (after a naming too)
            if self.viewer is viewer:
                self.info.setText(info_text(row, faces))
        viewer.faces_known.connect(known)
        if row.get("media_id"):  # a video's people too (its faces have no boxes drawn)
            self.engine.faces_in(row["media_id"], known)
        self.viewer.setFocus()
        return self.viewer

    def leave(self) -> None:
        if self.viewer is not None:
            self.viewer.close()


def when_taken(row: dict) -> str:
    """When it was taken, as people write it ("12 Jul 2019, 14:03"); a file without a capture date is shown by its
    file date, marked as such ("3 Dec 2026, 09:15 (file date)"), as the grid places it. `date` is the date a
    listing shows (core.services.browse and search results: the capture date, else the file date); rows that only
    carry `captured_at` (the main window's search rows set it to `date`) use that."""
    value = row.get("date") or row.get("captured_at") or ""
    day = taken({"captured_at": value})
    if not day:
        return ""
    text = f"{day}, {value[11:16]}" if len(value) >= 16 else day   # a date alone has no time to show
    return text + (" (file date)" if row.get("dated_by") == "file" else "")


def breakable(text: str, run: int = 20) -> str:
    """A long file or folder name that the narrow info panel can wrap (it cuts what it cannot): a zero-width space
    after each "_", "-" or "." of a word longer than `run`, and inside a word that has none of them every `run`
    characters. Qt already breaks after "/"."""
    import re

    def soften(match: re.Match) -> str:
        word = re.sub(r"(?<=[_.\-])(?=.)", "\u200b", match.group())
        return re.sub(rf"[^\u200b]{{{run}}}(?=[^\u200b])", lambda m: m.group() + "\u200b", word)

    return re.sub(rf"[^\s/]{{{run + 1},}}", soften, text)


def info_text(row: dict, faces: list[dict] | None = None) -> str:
    """The info panel: when, where, what, who, and why it matched. `faces`: the file's faces as the library has
    them (everyone named in it is listed); without them, the people the search matched."""
    import html

    from app.gui.results import explain

    lines = [f"<b>{html.escape(breakable(Path(row['path']).name))}</b>"]
    when = when_taken(row)
    if when:
        lines.append(html.escape(when))
    lines.append("Folder: " + html.escape(breakable(os.path.dirname(row["path"]))))
    if row.get("kind") == "video" and row.get("duration"):
        lines.append("Video, " + clock(row["duration"]))
    sources: dict[str, set[str]] = {}  # a name another app gave, and where it was read (core.faces.regions)
    if faces is not None:
        people = sorted({f["name"] for f in faces if f.get("name")}, key=str.casefold)
        for f in faces:
            if f.get("name") and f.get("named_from"):
                sources.setdefault(f["name"], set()).add(f["named_from"])
    else:
        people = [p["name"] for p in (row.get("why") or {}).get("people", [])]
    if people:
        lines.append("People: " + html.escape(", ".join(
            n + (f" (from XMP: {', '.join(sorted(sources[n]))})" if n in sources else "") for n in people)))
    # Without the path and the date, said above: a browsed file has no reasons, so no "Why it matched" at all.
    why = explain(dict(row, captured_at=None)).splitlines()[1:]
    if why:
        lines.append("<br><i>Why it matched</i><br>" + "<br>".join(html.escape(w) for w in why))
    return "<br>".join(lines)
