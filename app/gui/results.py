"""The results grid: a virtual list model (any number of rows; thumbnails only for rows Qt asks to paint, loaded
on worker threads from the thumbnail cache, kept in a bounded cache), a delegate that draws each square tile with
its badges, and the view (app.gui.grid_view: month headers, tile size)."""
from __future__ import annotations

import logging

from collections import OrderedDict

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QRect, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QImage, QImageIOHandler, QImageReader, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate

from app.gui.grid_view import GridView, crop_source
from core.wording import clock

log = logging.getLogger(__name__)

THUMB = 180  # the people panel's face icons; the grid loads at its tiles' size (ResultsModel.set_side)
CACHE_BYTES = 300 << 20  # pixmaps kept, by size; older ones are reloaded from disk when scrolled back to
ResultRole = Qt.ItemDataRole.UserRole + 1


class Loaded(QObject):
    done = Signal(str, QImage)


def read_image(path: str, side: int) -> QImage:
    """The picture at `path`, upright, its short side scaled down to `side` (never up: the painter scales a tile);
    a JPEG is decoded at that size directly (libjpeg's scaled decode), so a large original costs little."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)  # the EXIF orientation, as the faces' boxes and the thumbnails have it
    size = reader.size()
    if size.isValid() and min(size.width(), size.height()) > side:
        k = side / min(size.width(), size.height())
        reader.setScaledSize(QSize(max(1, round(size.width() * k)), max(1, round(size.height() * k))))
    return reader.read()


class LoadThumbnail(QRunnable):
    def __init__(self, key: str, path: str, signal: Loaded, ensure=None, side: int | None = None,
                 original: str | None = None):
        """`ensure()`, when given, is asked for the file on the pool thread (a face crop made again when missing,
        Engine.ensure_crop): a path, or None for none. `side`: the short side wanted (the grid's tiles), read from
        `original` instead when the cached thumbnail is much smaller (a large tile) and the original is a format
        decoded at a smaller size directly (JPEG); without `side`, filled to THUMB (the face icons)."""
        super().__init__()
        self.key, self.path, self.signal, self.ensure = key, path, signal, ensure
        self.side, self.original = side, original

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
        if self.side is None:
            image = QImage(path) if path else QImage()
            if not image.isNull():  # the short side to the tile: square icons are cropped to fill
                image = image.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatioByExpanding,
                                     Qt.TransformationMode.SmoothTransformation)
        else:
            image = read_image(path, self.side) if path else QImage()
            if self.original and (image.isNull() or min(image.width(), image.height()) < self.side * 0.75):
                reader = QImageReader(self.original)
                if reader.supportsOption(QImageIOHandler.ImageOption.ScaledSize):
                    sharper = read_image(self.original, self.side)
                    image = sharper if not sharper.isNull() else image
        self.signal.done.emit(self.key, image)


class ResultsModel(QAbstractListModel):
    def __init__(self, thumbnail_path, parent=None):
        """`thumbnail_path(fingerprint, timestamp)` says where a thumbnail is cached."""
        super().__init__(parent)
        self.rows: list[dict] = []
        self.by_date = False
        self.sections: list[tuple[int, str]] = []  # (first row, title) of each month, when in date order
        self.month_starts: set[int] = set()
        self.side = THUMB  # the short side thumbnails are loaded at: the tiles', in device pixels
        self.thumbnail_path = thumbnail_path
        self._pixmaps: OrderedDict[str, tuple[int, QPixmap]] = OrderedDict()  # key -> (side asked, pixmap)
        self._bytes = 0
        self._pending: dict[str, int] = {}  # key -> side asked
        self._waiting: dict[str, set[int]] = {}  # thumbnail -> rows that asked for it
        self._focus: dict[int, tuple] = {}  # media id -> (focus, focus_at), from the last browse (remember_focus)
        self._loaded = Loaded()
        self._loaded.done.connect(self._on_loaded)
        self.pool = QThreadPool.globalInstance()
        self.requests = 0  # thumbnails asked for (tests check that only visible rows cost anything)
        placeholder = QPixmap(THUMB, THUMB)
        placeholder.fill(QColor("#2b2f36"))
        self.placeholder = placeholder

    def remember_focus(self, rows: list[dict]) -> None:
        """Where the faces are in each file (services.browse's `focus`, `focus_at`), for search results: they come
        without it, and are given it by media id here instead of a query per row."""
        self._focus = {r["media_id"]: (r.get("focus"), r.get("focus_at") or {}) for r in rows
                       if r.get("focus") and r.get("media_id")}

    def _give_focus(self, rows: list[dict]) -> None:
        for row in rows if self._focus else ():
            if "focus" not in row and row.get("media_id") in self._focus:
                focus, frames = self._focus[row["media_id"]]
                row["focus"] = frames.get(row.get("timestamp"), focus)  # a video's moment: that frame's faces

    def set_rows(self, rows: list[dict], by_date: bool = False) -> None:
        """`by_date`: the rows are in date order, under a header per month ("Undated" for rows without a date)."""
        self.beginResetModel()
        self._give_focus(rows)
        self.rows = rows
        self.by_date = by_date
        self._sections()
        self._waiting.clear()
        self.endResetModel()

    def _sections(self) -> None:
        self.sections = []
        if self.by_date:
            previous = None
            for i, row in enumerate(self.rows):
                month = (row.get("captured_at") or "")[:7]
                if month != previous:
                    self.sections.append((i, month_label(row) or "Undated"))
                previous = month
        self.month_starts = {start for start, _ in self.sections}

    def append_rows(self, rows: list[dict]) -> None:
        known = {r["path"] for r in self.rows}
        rows = [r for r in rows if r["path"] not in known]
        self._give_focus(rows)
        if not rows:
            return
        self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows) + len(rows) - 1)
        self.rows.extend(rows)
        self._sections()
        self.endInsertRows()

    def set_side(self, side: int) -> None:
        """The tiles' size changed (the zoom slider): thumbnails smaller than it are loaded again as painted."""
        self.side = max(1, side)

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
        have = self._pixmaps.get(key)
        if have is not None:
            self._pixmaps.move_to_end(key)
            if self.side <= have[0] <= 2 * self.side:  # sharp, and not so large that scaling it down aliases
                return have[1]
        self._waiting.setdefault(key, set()).add(row_index)
        if self._pending.get(key, 0) < self.side and row.get("fingerprint"):
            side = -(-self.side // 32) * 32  # in steps, so that dragging the slider reloads a few times, not always
            self._pending[key] = side
            self.requests += 1
            path = self.thumbnail_path(row["fingerprint"], row.get("timestamp"))
            if not path.exists():
                path = self.thumbnail_path(row["fingerprint"], None)
            original = row["path"] if row.get("kind") == "image" else None
            self.pool.start(LoadThumbnail(f"{key}#{side}", str(path), self._loaded, side=side, original=original))
        return have[1] if have is not None else self.placeholder  # the old one meanwhile: no flash of grey

    def _on_loaded(self, asked: str, image: QImage) -> None:
        key, _, size = asked.rpartition("#")
        side = int(size)
        if self._pending.get(key) == side:  # a larger one asked for since stays pending
            del self._pending[key]
        have = self._pixmaps.get(key, (0, None))[0]
        if image.isNull() or side < have <= 2 * self.side:  # an earlier, smaller load than the one shown
            return
        old = self._pixmaps.pop(key, None)
        if old is not None:
            self._bytes -= old[1].width() * old[1].height() * 4
        self._pixmaps[key] = (side, QPixmap.fromImage(image))  # QPixmap only on the UI thread
        self._bytes += image.width() * image.height() * 4
        while self._bytes > CACHE_BYTES and len(self._pixmaps) > 1:
            _, (_, dropped) = self._pixmaps.popitem(last=False)
            self._bytes -= dropped.width() * dropped.height() * 4
        for i in self._waiting.pop(key, ()):
            if i < len(self.rows) and self._key(self.rows[i]) == key:
                idx = self.index(i)
                self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])


def explain(row: dict, with_date: bool = True) -> str:
    """A tile's tooltip: the file, why it matched, and (`with_date`) when it was taken, said as the info panel says
    it ("12 Jul 2019", or "3 Dec 2026 (file date)" for a file with no capture date)."""
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
    when = taken(row)
    if with_date and when:
        lines.append(f"{when} (file date)" if row.get("dated_by") == "file" else f"taken {when}")
    return "\n".join(lines)


class ResultDelegate(QStyledItemDelegate):
    """A square tile, as in Apple Photos, Google Photos and Immich: the thumbnail cropped to fill it, around its
    faces where it has some (crop_source), for videos a duration badge and the matched time. The file's name and
    date are in the tooltip (explain) and the viewer's info panel, not under every tile; months are the view's
    headers."""

    def sizeHint(self, option, index):
        view = self.parent()
        side = getattr(view, "tile", THUMB)
        return QSize(side, side)

    def paint(self, painter: QPainter, option, index):
        row = index.data(ResultRole)
        pix = index.data(Qt.ItemDataRole.DecorationRole)
        painter.save()
        thumb_rect = QRect(option.rect)
        if pix is not None and not pix.isNull():  # the square of the picture around its faces, scaled to the tile
            x, y, side = crop_source(pix.width(), pix.height(), (row or {}).get("focus"))
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawPixmap(thumb_rect, pix, QRect(x, y, side, side))
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
            w = min(metrics.horizontalAdvance(badge) + 10, thumb_rect.width() - 8)
            box = QRect(thumb_rect.right() - w - 4, thumb_rect.bottom() - 22, w, 18)
            painter.fillRect(box, QColor(0, 0, 0, 170))
            painter.setPen(QColor("white"))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, badge)
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


class ResultsView(GridView):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setItemDelegate(ResultDelegate(self))
