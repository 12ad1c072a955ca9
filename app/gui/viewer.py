"""The viewer: a photo at full size with zoom and its face boxes (click one to name it), or a video that starts at
the matched moment with the other moments marked on its timeline."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QPointF, QRectF, QRunnable, Qt, QThreadPool, QUrl, Signal
from PySide6.QtGui import QBrush, QColor, QDesktopServices, QImage, QImageReader, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (QGraphicsPixmapItem, QGraphicsRectItem, QGraphicsScene, QGraphicsSimpleTextItem,
                               QGraphicsView, QHBoxLayout, QLabel, QMenu, QPushButton, QSlider, QStyle,
                               QStyleOptionSlider, QVBoxLayout, QWidget)

from app.gui.completion import ask_name
from app.gui.results import clock, taken

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
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setRenderHints(QPainter.RenderHint.SmoothPixmapTransform | QPainter.RenderHint.Antialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)

    zoomed = False  # the user zoomed: a resize no longer fits the photo to the view

    def wheelEvent(self, event):
        factor = 1.25 if event.angleDelta().y() > 0 else 0.8
        self.zoomed = True
        self.scale(factor, factor)

    def fit(self):
        """The whole photo in view (a portrait one too), however the page is sized."""
        if self.scene() is not None and not self.scene().itemsBoundingRect().isEmpty():
            self.fitInView(self.scene().itemsBoundingRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        if not self.zoomed:
            self.fit()


class FaceBox(QGraphicsRectItem):
    """A face on the photo: click to say who it is (a named face's name is offered, to keep or change for this face
    alone); right-click for "Not NAME" and "Someone else…"."""

    def __init__(self, face: dict, on_click, on_menu=None):
        super().__init__(QRectF(face["x"], face["y"], face["w"], face["h"]))
        self.face, self.on_click, self.on_menu = face, on_click, on_menu
        named = face.get("name")
        self.setPen(QPen(QColor("#4cc38a" if named else "#f5c542"), 3))
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(f"{named} — click to change who this is" if named else "Unnamed — click to name")
        # A name chip under the face, on a dark background, sized to the face (scene pixels: it zooms with the photo).
        chip = QGraphicsRectItem(self)
        chip.setBrush(QBrush(QColor(20, 22, 26, 200)))
        chip.setPen(QPen(Qt.PenStyle.NoPen))
        label = QGraphicsSimpleTextItem(named or "?", chip)
        label.setBrush(QBrush(QColor("white")))
        font = label.font()
        font.setPixelSize(max(12, int(face["h"] / 6)))
        label.setFont(font)
        text = label.boundingRect()
        pad = text.height() * 0.25
        chip.setRect(QRectF(0, 0, text.width() + 2 * pad, text.height() + pad))
        label.setPos(pad, pad / 2)
        chip.setPos(face["x"] + (face["w"] - chip.rect().width()) / 2, face["y"] + face["h"] + pad)
        self.label = label

    def mousePressEvent(self, event):
        if event.button() == Qt.MouseButton.RightButton and self.on_menu is not None:
            self.on_menu(self.face, event.screenPos())
        else:
            self.on_click(self.face)


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


class Viewer(QWidget):
    """One photo or video, shown inside the main window (ViewerPage holds it, with the navigation and the info)."""
    step = Signal(int)  # -1 previous result, +1 next
    back = Signal()     # Escape: back to the grid
    faces_known = Signal(list)  # the file's faces as the library has them now (after each naming too)

    def keyPressEvent(self, event):
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if event.key() == Qt.Key.Key_Left and mods == Qt.KeyboardModifier.AltModifier:
            self.back.emit()  # Alt+Left is "back" in every browser and file manager, never "previous"
        elif mods != Qt.KeyboardModifier.NoModifier and event.key() in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            super().keyPressEvent(event)  # Ctrl/Shift+arrows are not steps (the system's, or nobody's)
        elif event.key() in (Qt.Key.Key_Left, Qt.Key.Key_PageUp):
            self.step.emit(-1)
        elif event.key() in (Qt.Key.Key_Right, Qt.Key.Key_PageDown):
            self.step.emit(1)
        elif event.key() == Qt.Key.Key_Escape:
            self.back.emit()
        elif event.key() == Qt.Key.Key_Space and self.player is not None:
            self.toggle_playback()
        else:
            super().keyPressEvent(event)

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
        info = QLabel(row["path"])
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

    # -- photos -----------------------------------------------------------------------------------------------------
    def _picture(self, parent: QWidget, job, shown) -> ZoomView:
        """The zoomable picture of a photo or of a video's still: `job(done)` decodes it on the pool, `shown(image)`
        puts it in the scene on the UI thread."""
        self.scene = QGraphicsScene(self)
        self.view = ZoomView(parent)
        self.view.setScene(self.scene)
        self.view.setBackgroundBrush(QColor("#15171a"))
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

    def refresh_faces(self, *_) -> None:
        """Redraw the boxes from the library: after a naming, the box shows the name at once."""
        if self.row.get("media_id"):
            self.engine.faces_in(self.row["media_id"], self._draw_faces)

    def _on_screen(self, face: dict):
        """The face's rectangle in screen coordinates (the naming dialog goes beside it)."""
        rect = self.view.mapFromScene(QRectF(face["x"], face["y"], face["w"], face["h"])).boundingRect()
        return rect.translated(self.view.viewport().mapToGlobal(rect.topLeft()) - rect.topLeft())

    def _name_face(self, face: dict) -> None:
        name = ask_name(self, "Who is this?", "Name:", self.engine.people, face.get("name") or "",
                        beside=self._on_screen(face))
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
        moments = QHBoxLayout()
        self.moment_buttons = []
        for m in sorted(row.get("moments") or [], key=lambda m: m["timestamp"]):
            b = QPushButton(clock(m["timestamp"]))
            b.setToolTip("play from this matched moment")
            b.clicked.connect(lambda _=False, t=m["timestamp"]: self.seek(t))
            self.moment_buttons.append(b)
            moments.addWidget(b)
        moments.addStretch(1)
        layout.addLayout(moments)
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
        self.position = QLabel("", self)
        self.position.setObjectName("viewerPosition")
        self.title = QLabel("", self)
        self.title.setObjectName("viewerTitle")
        for w in (self.back_button, self.previous_button, self.position, self.next_button):
            bar.addWidget(w)
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
        self.info.setFixedWidth(260)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        body.addWidget(self.info)
        layout.addLayout(body, 1)

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


def info_text(row: dict, faces: list[dict] | None = None) -> str:
    """The info panel: when, where, what, who, and why it matched. `faces`: the file's faces as the library has
    them (everyone named in it is listed); without them, the people the search matched."""
    import html

    from app.gui.results import explain

    lines = [f"<b>{html.escape(Path(row['path']).name)}</b>"]
    when = when_taken(row)
    if when:
        lines.append(html.escape(when))
    lines.append("Folder: " + html.escape(os.path.dirname(row["path"])))
    if row.get("kind") == "video" and row.get("duration"):
        lines.append("Video, " + clock(row["duration"]))
    if faces is not None:
        people = sorted({f["name"] for f in faces if f.get("name")}, key=str.casefold)
    else:
        people = [p["name"] for p in (row.get("why") or {}).get("people", [])]
    if people:
        lines.append("People: " + html.escape(", ".join(people)))
    # Without the path and the date, said above: a browsed file has no reasons, so no "Why it matched" at all.
    why = explain(dict(row, captured_at=None)).splitlines()[1:]
    if why:
        lines.append("<br><i>Why it matched</i><br>" + "<br>".join(html.escape(w) for w in why))
    return "<br>".join(lines)
