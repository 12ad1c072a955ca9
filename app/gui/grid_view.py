"""The results grid's view, as in Immich and Google Photos: square tiles in rows that fill the width, and, when the
grid is in date order, a month's title on a line of its own above its tiles.

The sections are laid out by arithmetic on their first rows and sizes (`GridLayout`), never item by item: laying out
100,000 rows costs what 100 do, and finding a tile is a bisection over the sections. Headers are drawn by the view,
not rows of the model, so every model row is a file: selection, Enter, the viewer's "3 of 120" and its ◀ ▶, the
context menu and Delete never meet a header."""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator

from PySide6.QtCore import QItemSelection, QModelIndex, QPoint, QRect, Qt, Signal
from PySide6.QtGui import QPainter, QRegion
from PySide6.QtWidgets import QAbstractItemView, QStyle, QStyleOptionViewItem

GAP = 4        # between tiles
MARGIN = 8     # around the grid
HEADER = 40    # a section's title line
TILE_MIN, TILE_MAX, TILE_DEFAULT = 96, 320, 180


def crop_source(width: int, height: int, focus: tuple[float, float] | None) -> tuple[int, int, int]:
    """The square (x, y, side) of a `width` x `height` picture that its tile shows: the largest square, centred on
    `focus` (the faces' centre, fractions of the picture) where it has one, else on the picture's centre; always
    inside the picture (a face at the edge moves the square to that edge, not past it)."""
    side = min(width, height)
    fx, fy = focus if focus else (0.5, 0.5)
    x = min(max(0, round(fx * width - side / 2)), width - side)
    y = min(max(0, round(fy * height - side / 2)), height - side)
    return x, y, side


class GridLayout:
    """Where the tiles and headers of `count` rows lie in a `width` wide viewport (content coordinates).
    `sections`: (first row, title) in row order; a title "" has no header line (results by best match)."""

    def __init__(self, sections: list[tuple[int, str]], count: int, width: int, tile: int):
        self.count, self.width = count, width
        # As many columns as tiles of about `tile` fill the row (the nearest count), each stretched or shrunk a
        # little to fill it exactly, as Apple Photos does: no ragged gap at the right.
        self.cols = max(1, round((width - 2 * MARGIN + GAP) / (tile + GAP)))
        self.cell = max(GAP + 1, (width - 2 * MARGIN + GAP) // self.cols)
        self.tile = self.cell - GAP
        kept = [(s, t) for s, t in sections if 0 < s < count]
        first = next((t for s, t in sections if s == 0), "")
        self.starts = [0] + [s for s, _ in kept] if count else []
        self.titles = [first] + [t for _, t in kept] if count else []
        self.ends = self.starts[1:] + [count]
        self.tops: list[int] = []  # each section's top: its header line's, or its first tiles' without one
        y = MARGIN
        for k in range(len(self.starts)):
            self.tops.append(y)
            y += self.header(k) + self.rows(k) * self.cell
        self.height = y + MARGIN

    def header(self, k: int) -> int:
        return HEADER if self.titles[k] else 0

    def rows(self, k: int) -> int:
        return -(-(self.ends[k] - self.starts[k]) // self.cols)

    def section(self, row: int) -> int:
        return bisect_right(self.starts, row) - 1

    def place(self, row: int) -> tuple[int, int, int]:
        """(section, tile row in it, column) of a row."""
        k = self.section(row)
        r, c = divmod(row - self.starts[k], self.cols)
        return k, r, c

    def rect(self, row: int) -> tuple[int, int, int, int]:
        k, r, c = self.place(row)
        return MARGIN + c * self.cell, self.tops[k] + self.header(k) + r * self.cell, self.tile, self.tile

    def header_rect(self, k: int) -> tuple[int, int, int, int]:
        """A header spans the row, as in Immich: the viewport's whole width."""
        return 0, self.tops[k], self.width, self.header(k)

    def at(self, k: int, r: int, c: int) -> int:
        """The row at (section, tile row, column), clamped into the section (a short last row: its last tile)."""
        r = min(max(r, 0), self.rows(k) - 1)
        return min(self.starts[k] + r * self.cols + c, self.ends[k] - 1)

    def row_at(self, x: int, y: int) -> int:
        """The row whose tile is under the point, or -1 (a header, a gap, the margin)."""
        if not self.count or y < MARGIN or y >= self.height - MARGIN:
            return -1
        k = bisect_right(self.tops, y) - 1
        dy = y - self.tops[k] - self.header(k)
        dx = x - MARGIN
        if dy < 0 or dx < 0 or dx % self.cell >= self.tile or dy % self.cell >= self.tile or dx // self.cell >= self.cols:
            return -1
        row = self.starts[k] + dy // self.cell * self.cols + dx // self.cell
        return row if row < self.ends[k] else -1

    def near(self, y: int, c: int) -> int:
        """The row in column `c` of the tile row nearest to height `y` (PageUp/PageDown)."""
        y = min(max(y, 0), self.height)
        k = max(0, bisect_right(self.tops, y) - 1)
        return self.at(k, (y - self.tops[k] - self.header(k)) // self.cell, c)

    def spans(self, x0: int, y0: int, x1: int, y1: int) -> Iterator[tuple[int, int]]:
        """(first, last) rows of each tile row's run of tiles meeting the rectangle (x1, y1 inclusive): what to
        paint, what a rubber band selects."""
        if not self.count:
            return
        c0 = max(0, (x0 - MARGIN) // self.cell + ((x0 - MARGIN) % self.cell >= self.tile))
        c1 = min(self.cols - 1, (x1 - MARGIN) // self.cell)
        if c0 > c1:
            return
        for k in range(max(0, bisect_right(self.tops, y0) - 1), len(self.starts)):
            if self.tops[k] > y1:
                break
            base = self.tops[k] + self.header(k)
            r0 = max(0, (y0 - base) // self.cell + ((y0 - base) % self.cell >= self.tile))
            r1 = min(self.rows(k) - 1, (y1 - base) // self.cell)
            for r in range(r0, r1 + 1):
                first = self.starts[k] + r * self.cols
                if first + c0 < self.ends[k]:
                    yield first + c0, min(first + c1, self.ends[k] - 1)


class GridView(QAbstractItemView):
    """Square tiles (the item delegate paints each in its rect) under month headers; the model may say where its
    sections begin (`model.sections`, [(first row, title)]). `set_tile` sizes the tiles (the zoom slider)."""

    tileChanged = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tile = TILE_DEFAULT
        self.grid_layout = GridLayout([], 0, 1, self.tile)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setMouseTracking(True)
        self._band_from: QPoint | None = None  # a drag's start (content coordinates): its rubber band is drawn
        self._band = QRect()

    # -- layout --------------------------------------------------------------------------------------------------------
    def setModel(self, model) -> None:
        super().setModel(model)
        for signal in (model.modelReset, model.rowsInserted, model.rowsRemoved, model.layoutChanged):
            signal.connect(lambda *_: self.relayout())
        self.relayout()

    def set_tile(self, size: int) -> None:
        size = min(max(int(size), TILE_MIN), TILE_MAX)
        if size != self.tile:
            self.tile = size
            self.relayout(keep_place=True)
            self.tileChanged.emit(size)

    def relayout(self, keep_place: bool = False) -> None:
        """Lay the sections out again (new rows, a new width or tile size); `keep_place`: the tile at the top of
        the viewport stays there, as a photo app's zoom keeps its place."""
        anchor = self._first_visible() if keep_place and self.verticalOffset() > 0 else QModelIndex()
        shift = self.grid_layout.rect(anchor.row())[1] - self.verticalOffset() if anchor.isValid() else 0
        model = self.model()
        count = model.rowCount(self.rootIndex()) if model is not None else 0
        self.grid_layout = GridLayout(getattr(model, "sections", []), count, self.viewport().width(), self.tile)
        side = getattr(model, "set_side", None)
        if side is not None:  # thumbnails are loaded at the tile's size in device pixels: sharp at any zoom
            side(round(self.grid_layout.tile * self.devicePixelRatioF()))
        self.updateGeometries()
        if anchor.isValid() and anchor.row() < self.grid_layout.count:
            self.verticalScrollBar().setValue(self.grid_layout.rect(anchor.row())[1] - shift)
        self.viewport().update()

    def _first_visible(self) -> QModelIndex:
        top = self.verticalOffset()
        for first, _ in self.grid_layout.spans(0, top, self.grid_layout.width, top + self.viewport().height()):
            return self.model().index(first, 0, self.rootIndex())
        return QModelIndex()

    def updateGeometries(self) -> None:
        bar = self.verticalScrollBar()
        bar.setRange(0, max(0, self.grid_layout.height - self.viewport().height()))
        bar.setPageStep(self.viewport().height())
        bar.setSingleStep(max(16, self.grid_layout.cell // 3))
        super().updateGeometries()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if event.oldSize().width() != event.size().width():
            self.relayout(keep_place=True)
        else:
            self.updateGeometries()

    def wheelEvent(self, event) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:  # Ctrl+wheel zooms, as in digiKam
            self.set_tile(self.tile + (16 if event.angleDelta().y() > 0 else -16))
            event.accept()
            return
        super().wheelEvent(event)

    # -- geometry QAbstractItemView asks for ---------------------------------------------------------------------------
    def visualRect(self, index) -> QRect:
        if not index.isValid() or index.row() >= self.grid_layout.count:
            return QRect()
        x, y, w, h = self.grid_layout.rect(index.row())
        return QRect(x, y - self.verticalOffset(), w, h)

    def header_rect(self, section: int) -> QRect:
        """A section's header line, in viewport coordinates (an empty rect for a section without one)."""
        x, y, w, h = self.grid_layout.header_rect(section)
        return QRect(x, y - self.verticalOffset(), w, h)

    def indexAt(self, point) -> QModelIndex:
        row = self.grid_layout.row_at(point.x(), point.y() + self.verticalOffset())
        return self.model().index(row, 0, self.rootIndex()) if row >= 0 and self.model() is not None \
            else QModelIndex()

    def scrollTo(self, index, hint=QAbstractItemView.ScrollHint.EnsureVisible) -> None:
        if not index.isValid() or index.row() >= self.grid_layout.count:
            return
        g = self.grid_layout
        k, r, _ = g.place(index.row())
        _, y, _, h = g.rect(index.row())
        top = g.tops[k] if r == 0 else y - GAP  # the first row of a month brings its header along
        bar, height, now = self.verticalScrollBar(), self.viewport().height(), self.verticalOffset()
        Hint = QAbstractItemView.ScrollHint
        if hint == Hint.PositionAtTop:
            bar.setValue(top)
        elif hint == Hint.PositionAtBottom:
            bar.setValue(y + h + GAP - height)
        elif hint == Hint.PositionAtCenter:
            bar.setValue(y + h // 2 - height // 2)
        elif top < now:
            bar.setValue(top)
        elif y + h + GAP > now + height:
            bar.setValue(y + h + GAP - height)

    def moveCursor(self, action, modifiers) -> QModelIndex:
        g, model = self.grid_layout, self.model()
        if model is None or not g.count:
            return QModelIndex()
        current = self.currentIndex()
        if not current.isValid():
            return model.index(0, 0, self.rootIndex())
        row = current.row()
        k, r, c = g.place(row)
        A = QAbstractItemView.CursorAction
        if action in (A.MoveLeft, A.MovePrevious):
            row -= 1
        elif action in (A.MoveRight, A.MoveNext):
            row += 1
        elif action == A.MoveUp:  # the same column a row up, across a header into the month before
            row = g.at(k, r - 1, c) if r > 0 else g.at(k - 1, g.rows(k - 1) - 1, c) if k > 0 else row
        elif action == A.MoveDown:
            row = g.at(k, r + 1, c) if r + 1 < g.rows(k) else g.at(k + 1, 0, c) if k + 1 < len(g.starts) else row
        elif action in (A.MovePageUp, A.MovePageDown):
            step = self.viewport().height() * (1 if action == A.MovePageDown else -1)
            row = g.near(g.rect(row)[1] + step, c)
        elif action == A.MoveHome:
            row = 0
        elif action == A.MoveEnd:
            row = g.count - 1
        return model.index(min(max(row, 0), g.count - 1), 0, self.rootIndex())

    def horizontalOffset(self) -> int:
        return 0

    def verticalOffset(self) -> int:
        return self.verticalScrollBar().value()

    def isIndexHidden(self, index) -> bool:
        return False

    def setSelection(self, rect, command) -> None:
        rect = rect.normalized()
        top = self.verticalOffset()
        selection = QItemSelection()
        model, root = self.model(), self.rootIndex()
        for first, last in self.grid_layout.spans(rect.left(), rect.top() + top, rect.right(), rect.bottom() + top):
            selection.select(model.index(first, 0, root), model.index(last, 0, root))
        self.selectionModel().select(selection, command)

    def visualRegionForSelection(self, selection) -> QRegion:
        return QRegion(self.viewport().rect())  # repainting the viewport costs only its visible tiles

    def selectedIndexes(self) -> list:
        return self.selectionModel().selectedIndexes() if self.selectionModel() is not None else []

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        self.viewport().scroll(dx, dy)

    # -- the rubber band, as QListView draws it (QAbstractItemView selects by it, but draws none) ----------------
    def mousePressEvent(self, event) -> None:
        super().mousePressEvent(event)
        self._band_from = event.position().toPoint() + QPoint(0, self.verticalOffset()) \
            if event.button() == Qt.MouseButton.LeftButton else None

    def mouseMoveEvent(self, event) -> None:
        super().mouseMoveEvent(event)
        if self._band_from is not None and self.state() == QAbstractItemView.State.DragSelectingState:
            self._band = QRect(self._band_from - QPoint(0, self.verticalOffset()),
                               event.position().toPoint()).normalized()
            self.viewport().update()

    def mouseReleaseEvent(self, event) -> None:
        super().mouseReleaseEvent(event)
        self._band_from, self._band = None, QRect()
        self.viewport().update()

    # -- painting ------------------------------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        g, model = self.grid_layout, self.model()
        if model is None:
            return
        painter = QPainter(self.viewport())
        area = event.rect()
        top = self.verticalOffset()
        y0, y1 = area.top() + top, area.bottom() + top
        self._paint_headers(painter, y0, y1)
        option = QStyleOptionViewItem()
        self.initViewItemOption(option)
        base = option.state & ~(QStyle.StateFlag.State_Selected | QStyle.StateFlag.State_HasFocus)
        selection, current = self.selectionModel(), self.currentIndex()
        focus = self.hasFocus() or self.viewport().hasFocus()
        delegate, root = self.itemDelegate(), self.rootIndex()
        for first, last in g.spans(area.left(), y0, area.right(), y1):
            for row in range(first, last + 1):
                index = model.index(row, 0, root)
                x, y, w, h = g.rect(row)
                option.rect = QRect(x, y - top, w, h)
                state = base
                if selection.isSelected(index):
                    state |= QStyle.StateFlag.State_Selected
                if focus and index == current:
                    state |= QStyle.StateFlag.State_HasFocus
                option.state = state
                delegate.paint(painter, option, index)
        if not self._band.isEmpty():
            tint = self.palette().highlight().color()
            painter.setPen(tint)
            tint.setAlpha(60)
            painter.fillRect(self._band, tint)
            painter.drawRect(self._band.adjusted(0, 0, -1, -1))
        painter.end()

    def _paint_headers(self, painter: QPainter, y0: int, y1: int) -> None:
        g = self.grid_layout
        if not g.count:
            return
        font = painter.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.25)
        painter.save()
        painter.setFont(font)
        painter.setPen(self.palette().text().color())
        for k in range(max(0, bisect_right(g.tops, y0) - 1), len(g.starts)):
            if g.tops[k] > y1:
                break
            if g.titles[k]:
                x, y, w, h = g.header_rect(k)
                text_rect = QRect(x + MARGIN + 2, y - self.verticalOffset(), w - 2 * MARGIN, h - 6)
                painter.drawText(text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom, g.titles[k])
        painter.restore()
