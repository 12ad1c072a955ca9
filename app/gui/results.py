"""The results grid: a virtual list model (any number of rows; thumbnails only for rows Qt asks to paint, loaded
on worker threads from the thumbnail cache, kept in a bounded cache) and a delegate that draws the badges."""
from __future__ import annotations

import logging

from collections import OrderedDict

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QRect, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QListView, QStyle, QStyledItemDelegate

log = logging.getLogger(__name__)

THUMB = 180
CACHE_LIMIT = 2000  # pixmaps kept; older ones are reloaded from disk when scrolled back to
ResultRole = Qt.ItemDataRole.UserRole + 1


def clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Loaded(QObject):
    done = Signal(str, QImage)


class LoadThumbnail(QRunnable):
    def __init__(self, key: str, path: str, signal: Loaded, ensure=None):
        """`ensure()`, when given, is asked for the file on the pool thread (a face crop made again when missing,
        Engine.ensure_crop): a path, or None for none."""
        super().__init__()
        self.key, self.path, self.signal, self.ensure = key, path, signal, ensure

    def run(self):
        path = self.path
        if self.ensure is not None:
            try:
                made = self.ensure()
            except Exception:
                log.warning("could not make %s", self.key, exc_info=True)
                made = None
            path = str(made) if made else ""
        # Decoding happens here, on a pool thread; QImage is safe off the UI thread.
        image = QImage(path) if path else QImage()
        if not image.isNull():  # the short side to the tile: the grid's square tiles are cropped to fill
            image = image.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                                 Qt.TransformationMode.SmoothTransformation)
        self.signal.done.emit(self.key, image)


class ResultsModel(QAbstractListModel):
    def __init__(self, thumbnail_path, parent=None):
        """`thumbnail_path(fingerprint, timestamp)` says where a thumbnail is cached."""
        super().__init__(parent)
        self.rows: list[dict] = []
        self.thumbnail_path = thumbnail_path
        self._pixmaps: OrderedDict[str, QPixmap] = OrderedDict()
        self._pending: set[str] = set()
        self._waiting: dict[str, set[int]] = {}  # thumbnail -> rows that asked for it
        self._loaded = Loaded()
        self._loaded.done.connect(self._on_loaded)
        self.pool = QThreadPool.globalInstance()
        self.requests = 0  # thumbnails asked for (tests check that only visible rows cost anything)
        placeholder = QPixmap(THUMB, THUMB)
        placeholder.fill(QColor("#2b2f36"))
        self.placeholder = placeholder

    def set_rows(self, rows: list[dict], by_date: bool = False) -> None:
        """`by_date`: the rows are in date order, and the first of each month carries its month's name."""
        self.beginResetModel()
        self.rows = rows
        self.month_starts: set[int] = set()
        if by_date:
            previous = None
            for i, row in enumerate(rows):
                month = (row.get("captured_at") or "")[:7]
                if month and month != previous:
                    self.month_starts.add(i)
                previous = month
        self._waiting.clear()
        self.endResetModel()

    def append_rows(self, rows: list[dict]) -> None:
        known = {r["path"] for r in self.rows}
        rows = [r for r in rows if r["path"] not in known]
        if not rows:
            return
        self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows) + len(rows) - 1)
        self.rows.extend(rows)
        self.endInsertRows()

    def rowCount(self, parent=QModelIndex()):
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        row = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return row["path"].rsplit("/", 1)[-1]
        if role == Qt.ItemDataRole.DecorationRole:
            return self._pixmap(row, index.row())
        if role == Qt.ItemDataRole.ToolTipRole:
            return explain(row)
        if role == ResultRole:
            return row
        return None

    def _key(self, row: dict) -> str:
        return f"{row.get('fingerprint')}@{row.get('timestamp')}"

    def _pixmap(self, row: dict, row_index: int) -> QPixmap:
        key = self._key(row)
        pix = self._pixmaps.get(key)
        if pix is not None:
            self._pixmaps.move_to_end(key)
            return pix
        self._waiting.setdefault(key, set()).add(row_index)
        if key not in self._pending and row.get("fingerprint"):
            self._pending.add(key)
            self.requests += 1
            path = self.thumbnail_path(row["fingerprint"], row.get("timestamp"))
            if not path.exists():
                path = self.thumbnail_path(row["fingerprint"], None)
            self.pool.start(LoadThumbnail(key, str(path), self._loaded))
        return self.placeholder

    def _on_loaded(self, key: str, image: QImage) -> None:
        self._pending.discard(key)
        if image.isNull():
            return
        self._pixmaps[key] = QPixmap.fromImage(image)  # QPixmap only on the UI thread
        while len(self._pixmaps) > CACHE_LIMIT:
            self._pixmaps.popitem(last=False)
        for i in self._waiting.pop(key, ()):
            if i < len(self.rows) and self._key(self.rows[i]) == key:
                idx = self.index(i)
                self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])


def explain(row: dict) -> str:
    lines = [row["path"]]
    why = row.get("why") or {}
    for p in why.get("people", []):
        if p["similarity"] >= 0.999:  # a face the user named (or confirmed): not a measured similarity
            lines.append(f"{p['name']}: named by you")
        else:
            lines.append(f"{p['name']}: face similarity {p['similarity']:.2f}")
    if "context" in why:
        c = why["context"]
        lines.append(f"\u201c{c['text']}\u201d: {c['score']:.3f}" + (f" ({c['z']:+.1f} \u03c3)" if "z" in c else ""))
    if "idclip" in why:
        lines.append(f"Id-CLIP: {why['idclip']:.3f}")
    if row.get("kind") == "video" and row.get("timestamp") is not None:
        lines.append("best moment " + clock(row["timestamp"]))
    if row.get("captured_at"):
        lines.append("taken " + row["captured_at"].replace("T", " "))
    return "\n".join(lines)


class ResultDelegate(QStyledItemDelegate):
    """A square tile, as in Apple Photos, Google Photos and Immich: the thumbnail cropped to fill it, for videos a
    duration badge and the matched time, a month's name on its first tile. The file's name and date are in the
    tooltip (explain) and the viewer's info panel, not under every tile."""

    def sizeHint(self, option, index):
        return QSize(THUMB + 4, THUMB + 4)

    def paint(self, painter: QPainter, option, index):
        row = index.data(ResultRole)
        pix = index.data(Qt.ItemDataRole.DecorationRole)
        painter.save()
        rect = option.rect.adjusted(2, 2, -2, -2)
        thumb_rect = QRect(rect.x(), rect.y(), rect.width(), rect.height())
        if pix is not None and not pix.isNull():  # cropped to fill the square, centred
            scaled = pix.scaled(thumb_rect.size(), Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                                Qt.TransformationMode.FastTransformation)
            source = QRect((scaled.width() - thumb_rect.width()) // 2, (scaled.height() - thumb_rect.height()) // 2,
                           thumb_rect.width(), thumb_rect.height())
            painter.drawPixmap(thumb_rect, scaled, source)
        if option.state & QStyle.StateFlag.State_Selected:  # a tint and a frame over the picture, as photo apps do
            tint = option.palette.highlight().color()
            tint.setAlpha(90)
            painter.fillRect(thumb_rect, tint)
            painter.setPen(QPen(option.palette.highlight().color(), 3))
            painter.drawRect(thumb_rect.adjusted(1, 1, -2, -2))
        if row and row.get("kind") == "video":
            badge = clock(row.get("duration"))
            if row.get("timestamp") is not None and row.get("score") is not None:
                badge = f"\u25b6 {clock(row['timestamp'])} / {badge}"
            else:
                badge = f"\u25b6 {badge}"
            metrics = painter.fontMetrics()
            w = metrics.horizontalAdvance(badge) + 10
            box = QRect(thumb_rect.right() - w - 4, thumb_rect.bottom() - 22, w, 18)
            painter.fillRect(box, QColor(0, 0, 0, 170))
            painter.setPen(QColor("white"))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, badge)
        if index.row() in getattr(index.model(), "month_starts", ()):  # a month begins here: its name on a chip
            label = month_label(row)
            font = painter.font()
            font.setBold(True)
            painter.setFont(font)
            w = painter.fontMetrics().horizontalAdvance(label) + 14
            chip = QRect(thumb_rect.x() + 4, thumb_rect.y() + 4, w, 22)
            painter.fillRect(chip, QColor(20, 22, 26, 210))
            painter.setPen(QColor("white"))
            painter.drawText(chip, Qt.AlignmentFlag.AlignCenter, label)
            font.setBold(False)
            painter.setFont(font)
        if option.state & QStyle.StateFlag.State_HasFocus:  # the keyboard's place in the grid, always visible
            ring = QPen(option.palette.highlight().color().darker(140) if option.state & QStyle.StateFlag.State_Selected
                        else option.palette.highlight().color(), 3)
            painter.setPen(ring)
            painter.drawRect(option.rect.adjusted(2, 2, -3, -3))
        painter.restore()


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
               "November", "December")


def month_label(row: dict | None) -> str:
    """"July 2019" for the first photo of a month in the date-ordered grid."""
    value = (row or {}).get("captured_at") or ""
    try:
        return f"{MONTH_NAMES[int(value[5:7]) - 1]} {int(value[0:4])}"
    except (ValueError, IndexError):
        return ""


def taken(row: dict | None) -> str:
    """When a photo or video was taken, as a grid caption ("12 Jul 2019"), or "" when no date is known."""
    value = (row or {}).get("captured_at") or ""
    try:
        year, month, day = int(value[0:4]), int(value[5:7]), int(value[8:10])
        return f"{day} {MONTHS[month - 1]} {year}"
    except (ValueError, IndexError):
        return ""


class ResultsView(QListView):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)  # lets Qt lay out 100,000 rows without asking each for its size
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(200)
        self.setSpacing(4)
        self.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
        self.setItemDelegate(ResultDelegate(self))
        self.setMouseTracking(True)
