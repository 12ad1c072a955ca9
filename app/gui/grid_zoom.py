"""The grid's zoom, as digiKam's status-bar slider and Apple Photos' zoom: small to large tiles, remembered, with
Ctrl+= (Ctrl++) and Ctrl+- as shortcuts and Ctrl+wheel over the grid (GridView.wheelEvent)."""
from __future__ import annotations

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QSlider, QWidget

from app.gui.grid_view import TILE_DEFAULT, TILE_MAX, TILE_MIN, GridView

KEY = "grid/tile"
STEP = 32


def saved_tile(settings: QSettings) -> int:
    try:
        return min(max(int(str(settings.value(KEY, TILE_DEFAULT))), TILE_MIN), TILE_MAX)
    except (TypeError, ValueError):  # a hand-edited settings file: the default, not a crash
        return TILE_DEFAULT


def zoom_slider(window: QWidget, grid: GridView, settings: QSettings) -> QSlider:
    """A slider that sizes `grid`'s tiles and remembers the size in `settings`; its shortcuts are `window`'s
    (they act while the grid is shown)."""
    slider = QSlider(Qt.Orientation.Horizontal, window)
    slider.setObjectName("zoom")
    slider.setRange(TILE_MIN, TILE_MAX)
    slider.setSingleStep(8)
    slider.setPageStep(STEP)
    slider.setFixedWidth(140)
    slider.setToolTip("Tile size (Ctrl+= larger, Ctrl+- smaller)")
    slider.setValue(saved_tile(settings))
    grid.set_tile(slider.value())

    def changed(value: int) -> None:
        grid.set_tile(value)
        settings.setValue(KEY, value)

    slider.valueChanged.connect(changed)
    grid.tileChanged.connect(slider.setValue)  # Ctrl+wheel moves the slider along
    for keys, step in ((("Ctrl+=", "Ctrl++", QKeySequence.StandardKey.ZoomIn), STEP),
                       (("Ctrl+-", QKeySequence.StandardKey.ZoomOut), -STEP)):
        action = QAction(window)
        sequences = {QKeySequence(k).toString(): QKeySequence(k) for k in keys}  # Ctrl++ is ZoomIn: once
        action.setShortcuts(list(sequences.values()))
        action.triggered.connect(lambda _=False, step=step: slider.setValue(slider.value() + step)
                                 if grid.isVisible() else None)
        window.addAction(action)
    return slider
