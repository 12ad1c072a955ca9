"""The grid of a photo app (Apple Photos, Google Photos, Immich): square tiles, each picture cropped to fill its
tile — a panorama and a portrait alike, around its faces — with no file name under it (it is in the tooltip); in
date order, a header line per month above its tiles; a zoom slider sizes the tiles."""
import os
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QSettings, Qt

from app.gui.grid_view import HEADER, GridLayout, crop_source
from app.gui.results import taken
from tests import media_factory as mf
from tests.test_gui_keys import indexed_window

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
FACES = Path(__file__).parent / "data" / "faces"
SHOTS = os.environ.get("IDLENS_SHOTS", "/tmp")


def dated_photo(path: Path, seed: int, when: str, face: str | None = None, size=(960, 640), at=(40, 90)) -> Path:
    """A generated photo taken at `when` ("2019:07:12 10:00:00"), with a real face pasted at `at` if asked."""
    from PIL import Image

    canvas = mf.picture(seed, size)
    if face:
        img = Image.open(FACES / face).convert("RGB")
        img.thumbnail((300, 340))
        canvas.paste(img, at)
    exif = Image.Exif()
    exif[0x0132] = when
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path, quality=92, exif=exif)
    return path


def synthetic(months: dict[str, int], undated: int = 0) -> list[dict]:
    """Result rows without files: `months` {"2021-03": 5} newest first, then `undated` rows without a date."""
    rows = []
    for month, n in months.items():
        rows += [{"path": f"/p/{month}-{i}.jpg", "kind": "image", "fingerprint": f"{month}{i}", "timestamp": None,
                  "duration": None, "why": {}, "score": None, "captured_at": f"{month}-{28 - i % 27:02}T10:00:00"}
                 for i in range(n)]
    rows += [{"path": f"/p/undated-{i}.png", "kind": "image", "fingerprint": f"u{i}", "timestamp": None,
              "duration": None, "why": {}, "score": None, "captured_at": None} for i in range(undated)]
    return rows


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


@pytest.fixture
def months_window(qtbot, tmp_path):
    """Seven photos over three months, with real faces: the browsed grid, 900 px wide."""
    album = tmp_path / "album"
    for i, (when, face) in enumerate([("2021:03:02 10:00:00", "person_a_1.jpg"), ("2021:03:01 10:00:00", None),
                                      ("2020:02:10 10:00:00", "person_b_1.jpg"), ("2020:02:09 10:00:00", None),
                                      ("2020:02:08 10:00:00", "person_a_2.jpg"), ("2019:07:12 10:00:00", None),
                                      ("2019:07:11 10:00:00", "person_b_2.jpg")]):
        dated_photo(album / f"p{i}.jpg", 10 + i, when, face)
    window = indexed_window(qtbot, tmp_path, album, 7)
    window.resize(1100, 700)
    qtbot.wait(50)
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
        points = [(rect.left() + dx, rect.top() + dy) for dx in (8, rect.width() // 2, rect.width() - 8)
                  for dy in (8, rect.height() // 2, rect.height() - 8)]
        return all(sum(abs(a - b) for a, b in zip(image.pixelColor(x, y).getRgb()[:3], colour)) < 60
                   for x, y in points)

    window.grid.clearSelection()
    qtbot.waitUntil(lambda: filled(0) and filled(1), timeout=20_000)
    window.grid.viewport().grab().save(os.path.join(SHOTS, "grid-square.png"))
    tip = window.model.data(window.model.index(0, 0), Qt.ItemDataRole.ToolTipRole)  # the name is there
    row = window.model.rows[0]
    assert row["path"] in tip and taken(row) in tip  # "12 Jul 2019", or "3 Dec 2026 (file date)"
    assert ("(file date)" in tip) == (row["dated_by"] == "file")
    # ...and shows on hover: the view finds the tile under the pointer (its own layout, not QListView's).
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QApplication, QToolTip

    viewport = window.grid.viewport()
    centre = window.grid.visualRect(window.model.index(1, 0)).center()
    QApplication.sendEvent(viewport, QHelpEvent(QEvent.Type.ToolTip, centre, viewport.mapToGlobal(centre)))
    qtbot.waitUntil(lambda: window.model.rows[1]["path"] in QToolTip.text(), timeout=5_000)


def test_month_headers_span_the_row_above_their_tiles(qtbot, months_window):
    w = months_window
    grid, model = w.grid, w.model
    assert [title for _, title in model.sections] == ["March 2021", "February 2020", "July 2019"]
    width = grid.viewport().width()
    for k, (start, _) in enumerate(model.sections):
        header = grid.header_rect(k)
        assert abs(header.width() - width) <= 2 and header.height() == HEADER  # the whole row, as in Immich
        end = model.sections[k + 1][0] if k + 1 < len(model.sections) else model.rowCount()
        below = grid.header_rect(k + 1).top() if k + 1 < len(model.sections) else 10**9
        for row in range(start, end):
            tile = grid.visualRect(model.index(row, 0))
            assert header.bottom() < tile.top() and tile.bottom() < below, (k, row)
        assert not grid.indexAt(header.center()).isValid()  # a header is no file: nothing to click, select, open
    # The first tile of a month starts a row of its own, at the left edge.
    assert len({grid.visualRect(model.index(s, 0)).left() for s, _ in model.sections}) == 1
    grid.selectAll()
    assert len(grid.selectedIndexes()) == 7
    w.grab().save(os.path.join(SHOTS, "grid-months.png"))


def test_best_match_has_no_headers_and_date_orders_put_undated_last(qtbot, window):
    window.query = "anything"
    rows = synthetic({"2010-05": 1}) + synthetic({}, undated=2) + synthetic({"2023-01": 1, "2015-08": 1})
    window._search_rows = rows
    window.sort_box.setCurrentIndex(0)
    window._show_results()
    assert window.model.sections == [] and window.model.rows == rows   # best match: as ranked, no headers
    window.sort_box.setCurrentIndex(1)   # newest first: undated last, not a 2010 photo after them
    assert [(r["captured_at"] or "")[:4] for r in window.model.rows] == ["2023", "2015", "2010", "", ""]
    assert [t for _, t in window.model.sections] == ["January 2023", "August 2015", "May 2010", "Undated"]
    window.sort_box.setCurrentIndex(2)   # oldest first: undated last too
    assert [(r["captured_at"] or "")[:4] for r in window.model.rows] == ["2010", "2015", "2023", "", ""]
    assert window.model.sections[-1] == (3, "Undated")


def test_keyboard_moves_across_headers_and_never_onto_them(qtbot, window):
    grid, model = window.grid, window.model
    window.resize(1100, 700)
    window.query = "synthetic"
    window.stack.setCurrentWidget(window.grid)
    qtbot.wait(50)
    cols = grid.grid_layout.cols
    assert cols >= 3
    march, feb = cols + 2, 2   # March: a full row and two tiles; February: two tiles; then July
    model.set_rows(synthetic({"2021-03": march, "2020-02": feb, "2019-07": 40}), by_date=True)
    july = march + feb
    grid.setFocus()
    qtbot.waitUntil(grid.hasFocus, timeout=5_000)
    grid.setCurrentIndex(model.index(1, 0))   # March, first row, second column

    def press(key, times=1):
        for _ in range(times):
            qtbot.keyClick(grid, key)
        return grid.currentIndex().row()

    assert press(Qt.Key.Key_Down) == cols + 1              # the same column a row down
    assert press(Qt.Key.Key_Down) == march + 1             # over February's header, the same column
    assert press(Qt.Key.Key_Down) == july + 1              # over July's header
    assert press(Qt.Key.Key_Up) == march + 1
    assert press(Qt.Key.Key_Up) == cols + 1
    assert press(Qt.Key.Key_Up) == 1
    assert press(Qt.Key.Key_Up) == 1                       # the top row: it stays
    grid.setCurrentIndex(model.index(march - 1, 0))
    assert press(Qt.Key.Key_Right) == march                # left/right run through the months in order
    assert press(Qt.Key.Key_Left) == march - 1
    grid.setCurrentIndex(model.index(cols - 1, 0))         # a short row below: its last tile
    assert press(Qt.Key.Key_Down) == cols + 1
    assert press(Qt.Key.Key_End) == model.rowCount() - 1 and press(Qt.Key.Key_Home) == 0
    below = press(Qt.Key.Key_PageDown)                    # about a screen down, in view, on a tile
    assert below >= cols and grid.visualRect(model.index(below, 0)).intersects(grid.viewport().rect())
    further = press(Qt.Key.Key_PageDown)
    assert further > below and grid.visualRect(model.index(further, 0)).intersects(grid.viewport().rect())
    assert press(Qt.Key.Key_PageUp) < further
    qtbot.keyClick(grid, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert all(0 <= i.row() < model.rowCount() for i in grid.selectedIndexes())


def test_the_viewer_counts_files_not_headers(qtbot, months_window):
    w = months_window
    w.grid.setFocus()
    w.grid.setCurrentIndex(w.model.index(2, 0))   # February's first
    qtbot.keyClick(w.grid, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: w.stack.currentWidget() is w.viewer_page, timeout=10_000)
    assert w.viewer_page.position.text() == "3 of 7"
    w._step_viewer(-1)   # back over the month's header to March's last
    assert w.viewer_page.position.text() == "2 of 7" and w.viewer_page.title.text() == "p1.jpg"
    for _ in range(6):
        w._step_viewer(1)
    assert w.viewer_page.position.text() == "7 of 7" and not w.viewer_page.next_button.isEnabled()
    w.close_viewer()
    assert w.grid.currentIndex().row() == 6


def test_crop_source_keeps_faces_in_the_square():
    assert crop_source(400, 300, None) == (50, 0, 300)               # no faces: centred
    assert crop_source(400, 300, (0.1, 0.5)) == (0, 0, 300)          # a face at the left edge: as far left as it goes
    assert crop_source(400, 300, (0.7, 0.5)) == (100, 0, 300)        # clamped: never past the picture's edge
    assert crop_source(300, 900, (0.5, 0.2)) == (0, 30, 300)         # a portrait's face near the top
    assert crop_source(300, 900, (0.5, 0.5)) == (0, 300, 300)
    assert crop_source(256, 256, (0.9, 0.9)) == (0, 0, 256)          # a square picture: all of it


def test_faces_centre_the_crop_in_browsing_and_in_results(qtbot, tmp_path):
    album = tmp_path / "album"
    # A tall photo with the face at its top: a centred square would cut it off.
    dated_photo(album / "tall.jpg", 3, "2020:01:01 10:00:00", "person_a_1.jpg", size=(500, 1400), at=(100, 20))
    dated_photo(album / "plain.jpg", 4, "2020:01:02 10:00:00", None, size=(500, 1400))
    window = indexed_window(qtbot, tmp_path, album, 2)
    tall = next(r for r in window.model.rows if r["path"].endswith("tall.jpg"))
    plain = next(r for r in window.model.rows if r["path"].endswith("plain.jpg"))
    assert plain["focus"] is None and tall["focus"] is not None and tall["focus"][1] < 0.25
    x, y, side = crop_source(500, 1400, tuple(tall["focus"]))
    assert y == 0 and side == 500                        # the square at the top, where the face is
    with qtbot.waitSignal(window.engine.searchFinished, timeout=60_000):
        window.search_for("a photo")
    qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=30_000)
    found = next(r for r in window.model.rows if r["path"].endswith("tall.jpg"))
    assert found["focus"] == tall["focus"]               # results take it from the browsed rows, by media id
    window.close()


def test_zoom_slider_sizes_tiles_sharply_and_is_remembered(qtbot, tmp_path):
    album = tmp_path / "album"
    dated_photo(album / "big.jpg", 5, "2021:05:05 10:00:00", None, size=(1600, 1200))
    window = indexed_window(qtbot, tmp_path, album, 1)
    window.resize(1200, 800)
    grid, index = window.grid, window.model.index(0, 0)
    assert window.zoom.value() == 180
    window.zoom.setValue(300)
    assert 300 * 0.8 <= grid.visualRect(index).width() <= 300 * 1.25    # about that size: rows fill the width
    settings = QSettings(str(tmp_path / "app.ini"), QSettings.Format.IniFormat)
    assert int(settings.value("grid/tile")) == 300
    # Loaded at the tile's size from the original (the cached thumbnail is 256 px at most), not blown up.
    qtbot.waitUntil(lambda: min(grid.model().data(index, Qt.ItemDataRole.DecorationRole).size().toTuple()) >= 290,
                    timeout=20_000)
    window.grab().save(os.path.join(SHOTS, "grid-zoom-large.png"))
    window.activateWindow()
    grid.setFocus()
    qtbot.waitUntil(grid.hasFocus, timeout=5_000)
    qtbot.keyClick(grid, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert window.zoom.value() == 268 and grid.tile == 268
    qtbot.keyClick(grid, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)
    assert window.zoom.value() == 300
    window.zoom.setValue(10)   # clamped to the smallest
    assert grid.tile == 96
    window.close()
    from app.gui.grid_zoom import saved_tile

    assert saved_tile(QSettings(str(tmp_path / "app.ini"), QSettings.Format.IniFormat)) == 96


def test_100k_rows_under_month_headers_lay_out_at_once(qtbot, window):
    months = {f"{2024 - i // 12}-{12 - i % 12:02}": 100_000 // 120 for i in range(120)}
    rows = synthetic(months, undated=100_000 - sum(months.values()))
    assert len(rows) == 100_000
    window.query = "a synthetic result list"   # as if a search had returned them: browsing must not replace them
    window.stack.setCurrentWidget(window.grid)
    started = time.perf_counter()
    window.model.set_rows(rows, by_date=True)
    window.grid.viewport().repaint()
    elapsed = time.perf_counter() - started
    print(f"\n100,000 rows in 121 sections: set_rows + layout + first paint {elapsed * 1000:.0f} ms")
    assert elapsed < 2.0
    started = time.perf_counter()
    for width in (700, 1100, 900):   # a resize lays out again: by sections, not by rows
        window.grid.resize(width, window.grid.height())
        window.grid.viewport().repaint()
    relayout = (time.perf_counter() - started) / 3
    print(f"relayout + paint after a resize: {relayout * 1000:.1f} ms")
    assert relayout < 0.5
    assert window.model.sections[-1][1] == "Undated" and len(window.model.sections) == 121
    window.grid.scrollToBottom()
    last = window.model.index(99_999, 0)
    assert window.grid.visualRect(last).intersects(window.grid.viewport().rect())
    assert window.grid.indexAt(window.grid.visualRect(last).center()) == last
    assert window.model.requests < 600
    window.grid.setCurrentIndex(window.model.index(50_000, 0))
    window.grid.scrollTo(window.grid.currentIndex())
    assert window.grid.indexAt(window.grid.visualRect(window.grid.currentIndex()).center()).row() == 50_000


def test_layout_arithmetic():
    g = GridLayout([(0, "A"), (5, "B"), (6, "")], 10, 8 + 3 * 104 + 8 - 4, 100)
    assert (g.cols, g.tile) == (3, 100)
    assert g.rect(0)[:2] == (8, 8 + HEADER) and g.rect(3)[1] == 8 + HEADER + 104
    assert g.rect(5)[1] == 8 + HEADER + 2 * 104 + HEADER                     # B: below its own header
    assert g.rect(6)[1] == g.rect(5)[1] + 104                               # an untitled section: no header line
    assert g.row_at(*(v + 1 for v in g.rect(4)[:2])) == 4
    assert g.row_at(8 + 101, 8 + HEADER + 1) == -1                            # the gap between tiles
    assert g.row_at(10, 8 + 2) == -1                                        # a header
    assert list(g.spans(0, 0, 10_000, 10_000)) == [(0, 2), (3, 4), (5, 5), (6, 8), (9, 9)]
    assert GridLayout([], 0, 500, 100).height == 16 and not list(GridLayout([], 0, 500, 100).spans(0, 0, 9, 9))


def test_clicks_select_tiles_not_headers(qtbot, months_window):
    w = months_window
    grid = w.grid
    header = grid.header_rect(1)
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=header.center())
    assert grid.selectedIndexes() == []
    tile = grid.visualRect(w.model.index(3, 0))
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=tile.center())
    assert [i.row() for i in grid.selectedIndexes()] == [3] and grid.currentIndex().row() == 3
    qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                     pos=grid.visualRect(w.model.index(0, 0)).center() + QPoint(2, 2))
    assert sorted(i.row() for i in grid.selectedIndexes()) == [0, 3]
    # A drag from the margin selects the tiles under its rubber band, as QListView did.
    first, last = (grid.visualRect(w.model.index(i, 0)) for i in (2, 3))
    qtbot.mousePress(grid.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(2, first.top() + 5))
    qtbot.mouseMove(grid.viewport(), QPoint(last.center().x(), last.top() + 5))
    qtbot.mouseRelease(grid.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(last.center().x(), last.top() + 5))
    assert sorted(i.row() for i in grid.selectedIndexes()) == [2, 3]


def test_results_take_the_faces_of_their_moment(qtbot):
    from app.gui.results import ResultsModel

    model = ResultsModel(lambda fingerprint, timestamp=None: Path("/nowhere.jpg"))
    model.remember_focus([{"media_id": 1, "path": "/v.mp4", "focus": (0.2, 0.3), "focus_at": {2.0: (0.2, 0.3),
                                                                                             4.0: (0.8, 0.6)}},
                          {"media_id": 2, "path": "/p.jpg", "focus": (0.5, 0.1)}, {"media_id": 3, "focus": None}])
    model.set_rows([{"media_id": 1, "path": "/v.mp4", "timestamp": 4.0}, {"media_id": 1, "path": "/v.mp4#2",
                                                                         "timestamp": 9.0},
                    {"media_id": 2, "path": "/p.jpg", "timestamp": None}, {"media_id": 3, "path": "/q.jpg"}])
    assert [r.get("focus") for r in model.rows] == [(0.8, 0.6), (0.2, 0.3), (0.5, 0.1), None]
