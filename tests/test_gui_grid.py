"""The grid of a photo app (Apple Photos, Google Photos, Immich): square tiles, each picture cropped to fill its
tile — a panorama and a portrait alike — with no file name under it (it is in the tooltip)."""
import os

import pytest
from tests.test_gui_keys import indexed_window

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def window(qtbot, tmp_path):
    from PIL import Image

    album = tmp_path / "album"
    album.mkdir()
    Image.new("RGB", (1200, 300), (200, 40, 40)).save(album / "panorama.jpg")   # 4:1, red
    Image.new("RGB", (300, 900), (40, 40, 200)).save(album / "portrait.jpg")    # 1:3, blue
    window = indexed_window(qtbot, tmp_path, album, 2)
    yield window
    window.close()


def test_tiles_are_square_and_filled_by_their_picture(qtbot, window):
    for row in range(2):
        rect = window.grid.visualRect(window.model.index(row, 0))
        assert abs(rect.width() - rect.height()) <= 2, rect

    def filled(row: int) -> bool:
        rect = window.grid.visualRect(window.model.index(row, 0))
        image = window.grid.viewport().grab().toImage()
        want = window.model.rows[row]["path"]
        colour = (200, 40, 40) if want.endswith("panorama.jpg") else (40, 40, 200)
        # the picture's colour near every corner and edge of the tile: no letterbox bands, no caption strip
        # (the top-left corner may carry the month's name)
        points = [(rect.left() + dx, rect.top() + dy) for dx in (8, rect.width() // 2, rect.width() - 8)
                  for dy in (rect.height() // 2, rect.height() - 8)] + [(rect.right() - 8, rect.top() + 8)]
        return all(sum(abs(a - b) for a, b in zip(image.pixelColor(x, y).getRgb()[:3], colour)) < 60
                   for x, y in points)

    window.grid.clearSelection()
    qtbot.waitUntil(lambda: filled(0) and filled(1), timeout=20_000)
    window.grid.viewport().grab().save(os.path.join(os.environ.get("IDLENS_SHOTS", "/tmp"), "grid-square.png"))
    tip = window.model.data(window.model.index(0, 0), 3)  # ToolTipRole: the name is there
    assert window.model.rows[0]["path"] in tip
