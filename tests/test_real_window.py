"""A real window, as a person uses it: `idlens` started as a process on an X server (Xvfb), driven with the keyboard
and the mouse through xdotool, photographed with ImageMagick's `import` at each step. Skipped where those tools are
missing; `.ci/run` installs them. Screenshots go to $IDLENS_SCREENSHOTS (else the test's folder).

Every wait has a deadline: a window that freezes fails its test in seconds, it never hangs the run. What a test checks
on the screen it measures in the screenshot's pixels (what changed, where the sidebar ends, where tiles are)."""
from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests import hub_factory
from tests import media_factory as mf
from tests.conftest import ROOT
from tests.test_identity_search import scene

FACES = Path(__file__).parent / "data" / "faces"
TOOLS = ("Xvfb", "xdotool", "import")
pytestmark = [pytest.mark.skipif(not all(shutil.which(t) for t in TOOLS),
                                 reason="needs Xvfb, xdotool and ImageMagick (apt-get install xvfb xdotool imagemagick)"),
              pytest.mark.timeout(150)]  # a last guard: every wait below has its own, shorter deadline
SCREEN = (1400, 900)
PUBLISHED_SPEC, PUBLISHED_REPO = "ViT-B-32:openai", "immich-app/ViT-B-32__openai"  # core.clip.hub.PUBLISHED


def _idlens(env, *args, check=True):
    return subprocess.run([sys.executable, "-m", "app", *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          check=check, timeout=300)


# -- the X server, the app, the screen --------------------------------------------------------------------------------
@pytest.fixture
def display():
    """A fresh X server on a display number it picks itself (-displayfd: no clash with another run's)."""
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24",
                               "-nolisten", "tcp"], pass_fds=(write,), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    os.close(write)
    number = b""
    deadline = time.time() + 20
    while not number.endswith(b"\n") and time.time() < deadline:
        ready, _, _ = select.select([read], [], [], 1.0)
        if ready:
            chunk = os.read(read, 32)
            if not chunk:
                break
            number += chunk
    os.close(read)
    assert number.strip(), "Xvfb did not start"
    yield f":{number.decode().strip()}"
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("IDLENS_SCREENSHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Screen:
    """What is on the X server, as an array of RGB pixels (rows, columns, 3)."""

    def __init__(self, pixels: np.ndarray, path: Path | None = None):
        self.pixels, self.path = pixels, path

    def region(self, box) -> np.ndarray:
        x0, y0, x1, y1 = box
        return self.pixels[y0:y1, x0:x1].astype(np.int16)

    def differs(self, other: Screen, box, at_least: int = 300) -> int:
        """How many of the box's pixels changed (by more than a little) from `other`, if at least `at_least` (a
        blinking text cursor is fewer); else 0."""
        changed = int((np.abs(self.region(box) - other.region(box)).max(axis=2) > 24).sum())
        return changed if changed >= at_least else 0


class App:
    """One `idlens` window on `display`, driven with xdotool. Its output goes to files (a full pipe would block
    it); `close()` ends it whatever state it is in."""

    def __init__(self, display: str, env: dict, shots: Path, logs: Path):
        self.display, self.shots = display, shots
        self.tolerated = ""  # why a traceback on stderr is known and reported, if it is
        self.log_path = Path(env["IDLENS_LOG_DIR"]) / "idlens.log" if env.get("IDLENS_LOG_DIR") else None
        self.xenv = dict(os.environ, DISPLAY=display)
        logs.mkdir(parents=True, exist_ok=True)
        self.out_path, self.err_path = logs / "app.out", logs / "app.err"
        self.process = subprocess.Popen([sys.executable, "-m", "app"], env=dict(env, DISPLAY=display,
                                                                                 QT_QPA_PLATFORM="xcb"),
                                        cwd=ROOT, stdout=open(self.out_path, "w"), stderr=open(self.err_path, "w"))
        self.window = self._find_window()
        self.geometry()

    def _find_window(self, timeout: float = 60) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline and self.process.poll() is None:
            found = self.xdo("search", "--onlyvisible", "--name", "^Idlens", check=False)
            for window in found.stdout.split():
                geometry = self._geometry_of(window)
                if geometry and geometry[2] > 200:  # the main window, not a 1x1 helper
                    return window
            time.sleep(0.5)
        self.alive()
        raise AssertionError(f"no Idlens window appeared in {timeout:.0f} s\n{self.stderr()}")

    def _geometry_of(self, window: str):
        out = self.xdo("getwindowgeometry", "--shell", window, check=False).stdout.split()
        values = dict(line.split("=", 1) for line in out if "=" in line)
        if not values:
            return None
        return int(values["X"]), int(values["Y"]), int(values["WIDTH"]), int(values["HEIGHT"])

    def geometry(self) -> tuple[int, int, int, int]:
        """(x, y, width, height) of the window on the screen; also kept as self.x0, self.y0, self.box."""
        x, y, w, h = self._geometry_of(self.window)
        self.x0, self.y0, self.box = x, y, (x, y, x + w, y + h)
        return x, y, w, h

    def xdo(self, *args, check=True, timeout=30):
        return subprocess.run(["xdotool", *args], env=self.xenv, capture_output=True, text=True, timeout=timeout,
                              check=check)

    def focus(self) -> None:
        self.xdo("windowfocus", "--sync", self.window, check=False)

    def key(self, *keys: str) -> None:
        self.xdo("key", "--delay", "60", *keys)

    def type(self, text: str) -> None:
        self.xdo("type", "--delay", "60", text)

    def click(self, x: int, y: int, times: int = 1, then: tuple[str, ...] = ()) -> None:
        """Click at (x, y) of the window; `then`: more xdotool commands in the same breath (no pause between)."""
        self.xdo("mousemove", str(self.x0 + x), str(self.y0 + y), "click", "--repeat", str(times), "--delay", "120",
                 "1", *then)

    def park_mouse(self) -> None:
        """The pointer out of the window, so no hover effect shows in a screenshot."""
        self.xdo("mousemove", str(SCREEN[0] - 2), str(SCREEN[1] - 2))

    def grab(self) -> Screen:
        raw = subprocess.run(["import", "-window", "root", "-depth", "8", "rgb:-"], env=self.xenv,
                             capture_output=True, check=True, timeout=30).stdout
        return Screen(np.frombuffer(raw, np.uint8).reshape(SCREEN[1], SCREEN[0], 3))

    def shot(self, name: str) -> Screen:
        path = self.shots / f"{name}.png"
        subprocess.run(["import", "-window", "root", str(path)], env=self.xenv, check=True, timeout=30)
        import cv2

        return Screen(cv2.imread(str(path))[:, :, ::-1].copy(), path)

    def wait_change(self, before: Screen, box=None, timeout: float = 15, what: str = "the screen to change",
                    settle: float = 0.6) -> Screen:
        """The screen once it differs from `before` inside `box` (the window by default) and has stopped changing
        for `settle` seconds; fails after `timeout` s (a frozen window never changes)."""
        box = box or self.box
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.alive()
            now = self.grab()
            if now.differs(before, box):
                return self.settled(now, box, min(deadline, time.time() + 5), settle) if settle else now
            time.sleep(0.2)
        raise AssertionError(f"waited {timeout:.0f} s for {what}; the window did not change\n{self.stderr()}")

    def settled(self, now: Screen, box, deadline: float, settle: float = 0.6) -> Screen:
        still = time.time()
        while time.time() < deadline:
            time.sleep(0.2)
            again = self.grab()
            if again.differs(now, box):
                now, still = again, time.time()
            elif time.time() - still >= settle:
                break
        return now

    def wait_for(self, condition, timeout: float, what: str, every: float = 0.3):
        deadline = time.time() + timeout
        while time.time() < deadline:
            self.alive()
            value = condition()
            if value:
                return value
            time.sleep(every)
        raise AssertionError(f"waited {timeout:.0f} s for {what}\n{self.stderr()}")

    def alive(self) -> None:
        assert self.process.poll() is None, f"the app ended (exit {self.process.returncode})\n{self.stderr()}"

    def stderr_all(self) -> str:
        return self.err_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")[-4000:] if self.err_path.exists() else ""

    def quit(self, timeout: float = 10) -> float:
        """Ctrl+Q, as a person quits; the seconds it took the process to end (fails past `timeout`)."""
        self.focus()
        start = time.time()
        self.key("ctrl+q")
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"Ctrl+Q: the app was still running {timeout:.0f} s later\n{self.stderr()}") from None
        return time.time() - start

    def close(self) -> str:
        """End the app if it still runs (SIGTERM, then SIGKILL) and give its stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=8)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        return self.err_path.read_text(errors="replace")


@pytest.fixture
def launch(display, shots, tmp_path):
    """launch(env) -> App; every app started is closed after the test, and none may have printed a traceback."""
    started: list[App] = []

    def _launch(env: dict) -> App:
        app = App(display, env, shots, tmp_path / f"app{len(started)}")
        started.append(app)
        time.sleep(1.0)
        app.focus()
        return app

    yield _launch
    errors = [(app, app.close()) for app in started]
    for app, err in errors:
        assert app.tolerated or "Traceback" not in err, err
        log = app.log_path.read_text(errors="replace") if app.log_path and app.log_path.exists() else ""
        assert "unexpected error" not in log, log[-4000:]  # an exception in a slot: logged, to the file only


def _app_env(tmp_path: Path, library: str, **extra) -> dict:
    """The app's environment: its own settings file (QSettings under XDG_CONFIG_HOME: window size, recent
    libraries and searches), never the user's."""
    return dict(os.environ, PYTHONPATH=str(ROOT), IDLENS_LIBRARY=library, XDG_CONFIG_HOME=str(tmp_path / "config"),
                **extra)


# -- measuring the screen ---------------------------------------------------------------------------------------------
def _runs(mask: np.ndarray, at_least: int = 1) -> list[tuple[int, int]]:
    """(start, end) of each run of True in a 1-d mask, end excluded, at least `at_least` long."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]) if b - a >= at_least]


def panels(screen: Screen, app: App) -> list[tuple[int, int]]:
    """The white panels (the sidebar's list, the grid) crossed by a line across the window at 85 % of its height,
    where no tile is: (left, right) in screen columns, left to right."""
    x0, y0, x1, y1 = app.box
    y = y0 + int((y1 - y0) * 0.85)
    white = (screen.pixels[y, x0:x1] >= 250).all(axis=1)
    return [(x0 + a, x0 + b) for a, b in _runs(white, at_least=40)]


def tiles(screen: Screen, grid: tuple[int, int], top: int, bottom: int) -> list[tuple[int, int, int, int]]:
    """The tiles showing in the grid panel's columns `grid` between rows top and bottom: bands of rows at least 60
    px tall that hold something other than the panel's white (a month's name above a row is shorter), then in each
    band the runs of such columns (tiles stand 4 px apart)."""
    area = screen.pixels[top:bottom, grid[0]:grid[1]]
    ink = (area < 245).any(axis=2)
    boxes = []
    for c, d in _runs(ink.any(axis=1), at_least=60):
        for a, b in _runs(ink[c:d].any(axis=0), at_least=60):
            boxes.append((grid[0] + a, top + c, grid[0] + b, top + d))
    return boxes


def buttons(screen: Screen, box) -> list[tuple[int, int, int, int]]:
    """Push buttons inside `box`, found by their outline: a dark line 40-400 px long with the same line 18-40 px
    below it, the same length. Left to right, then top to bottom."""
    x0, y0, x1, y1 = box
    area = screen.pixels[y0:y1, x0:x1].astype(np.int16)
    grey = (area.max(axis=2) - area.min(axis=2) < 12) & (area.max(axis=2) < 200)
    lines = {y: [r for r in _runs(grey[y], 40) if r[1] - r[0] <= 400] for y in range(grey.shape[0])}
    found = []
    for y, runs in lines.items():
        for run in runs:
            for dy in range(18, 41):
                if run in lines.get(y + dy, []):
                    found.append((x0 + run[0], y0 + y, x0 + run[1], y0 + y + dy))
                    break
    found = [b for b in found if not any(o[0] == b[0] and o[2] == b[2] and o[1] < b[1] <= o[3] for o in found)]
    return sorted(found, key=lambda b: (b[1] // 10, b[0]))


def _centre(box) -> tuple[int, int]:
    return (box[0] + box[2]) // 2, (box[1] + box[3]) // 2


# -- libraries ---------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def album_library(tmp_path_factory, shared_models):
    """Two photos of Ben, a landscape and a video with Ben in it, indexed with the tiny model, Ben named; the
    library is shared by the tests that only read it (each window has its own settings)."""
    pytest.importorskip("open_clip")  # the tiny model is converted from open_clip's config (the test extras)
    base = tmp_path_factory.mktemp("album-library")
    album = base / "album"
    scene(album / "ben-1.jpg", 3, ["person_b_1.jpg"])
    scene(album / "ben-2.jpg", 4, ["person_b_2.jpg"])
    mf.photo(album / "landscape.jpg", 9, size=(800, 600))
    mf.video_of_photos(album / "party.mp4", [mf.picture(3, (640, 360)), FACES / "person_b_2.jpg"],
                       seconds_each=2.0)
    library = str(base / "lib")
    env = dict(os.environ, PYTHONPATH=str(ROOT), IDLENS_MODEL="tiny-test", IDLENS_MODELS=str(shared_models),
               IDLENS_CACHE=str(base / "cache"), IDLENS_LOG_DIR=str(base / "logs"))
    _idlens(env, "--library", library, "index", str(album))
    group = max(json.loads(_idlens(env, "--library", library, "people", "list", "--json").stdout)["people"],
                key=lambda p: p["faces"])
    _idlens(env, "--library", library, "people", "name", str(group["id"]), "Ben")
    return library, env


def _search(app: App, text: str, before: Screen) -> Screen:
    """Ctrl+F, the words, Return: the screen once the results show."""
    app.focus()
    app.key("ctrl+f", "ctrl+a")
    app.type(text)
    app.key("Return")
    return app.wait_change(before, what=f"the results of {text!r}")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _layout(app: App, screen: Screen):
    """(sidebar, grid) panels as (left, right) columns, and the grid's top row: where the white of its leftmost
    column (a tile's margin, never covered) begins above the line that found the panels."""
    found = panels(screen, app)
    assert len(found) >= 2, f"expected the sidebar and the grid side by side, found white panels at {found}"
    sidebar, grid = found[0], found[-1]
    line = int((app.box[3] - app.y0) * 0.85)
    column = (screen.pixels[app.y0:app.box[3], grid[0]] >= 250).all(axis=1)
    top = app.y0 + next(a for a, b in _runs(column) if a <= line < b)
    return sidebar, grid, top


def _tiles_now(app: App, screen: Screen) -> list[tuple[int, int, int, int]]:
    _, grid, top = _layout(app, screen)
    return tiles(screen, (grid[0] + 2, grid[1] - 2), top, app.box[3] - 40)


# -- the tests ---------------------------------------------------------------------------------------------------------
def test_idlens_in_a_real_window(album_library, launch, tmp_path):
    """Search by a name, open the first result with a double-click, step to a photo and to the video (paused on
    Ben's moment), play it, and go back."""
    app = launch(_album_env(album_library, tmp_path))
    x0, y0, _, _ = app.geometry()
    assert x0 > 0 and y0 > 0, (x0, y0)  # centred at first start, not in the corner
    app.park_mouse()
    first = app.settled(app.grab(), app.box, time.time() + 10)
    first = app.shot("real-01-library")
    assert len(_tiles_now(app, first)) == 4, "the library's four files in the grid"
    searched = _search(app, "Ben", first)
    searched = app.shot("real-02-search-ben")
    found = _tiles_now(app, searched)
    assert len(found) == 3, f"three results for Ben (two photos, the video), found tiles {found}"
    cx, cy = _centre(found[0])
    app.click(cx - app.x0, cy - app.y0, times=2)
    viewer = app.wait_change(searched, what="the viewer")
    viewer = app.shot("real-03-viewer")
    app.key("Right")
    step = app.wait_change(viewer, what="the next result")
    app.shot("real-04-viewer-next")
    app.key("Right")    # the video, paused on Ben's moment
    video = app.wait_change(step, what="the video")
    video = app.shot("real-05-video")
    app.key("space")    # plays
    playing = app.wait_change(video, timeout=10, what="the video to play", settle=0.0)
    app.shot("real-06-video-playing")
    app.key("Escape")
    back = app.wait_change(playing, what="the grid again")
    back = app.shot("real-07-back-to-results")
    assert len(_tiles_now(app, back)) == 3
    assert app.quit() < 10


def _album_env(album_library, tmp_path) -> dict:
    library, env = album_library
    return _app_env(tmp_path, library, IDLENS_LOG_DIR=str(tmp_path / "logs"),
                    **{k: env[k] for k in ("IDLENS_MODEL", "IDLENS_MODELS", "IDLENS_CACHE")})


def _grid_showing(app: App, screen: Screen) -> list:
    """The tiles, where the grid shows (the sidebar and the grid's white panel side by side), else []."""
    if len(panels(screen, app)) < 2:
        return []
    return _tiles_now(app, screen)


def _wait_grid(app: App, what: str, count: int | None = None, timeout: float = 10) -> Screen:
    """The screen once the grid shows (with `count` tiles, if given); fails after `timeout` s."""
    def showing():
        screen = app.grab()
        shown = _grid_showing(app, screen)
        return screen if shown and (count is None or len(shown) == count) else None
    return app.wait_for(showing, timeout, what)


def _start(app: App) -> Screen:
    app.park_mouse()
    return app.settled(app.grab(), app.box, time.time() + 10)


def test_leaving_an_unplayed_video_at_once_leaves_the_window_working(album_library, launch, tmp_path):
    """Issue 21, case 1, in a real window: a video opened and left before it ever plays — by Escape once it shows,
    by Escape and by ← Back in the same breath as the double-click that opened it. The window must go on answering:
    a new search shows its results, and Ctrl+Q ends the app in a few seconds."""
    app = launch(_album_env(album_library, tmp_path))
    results = _search(app, "videos of Ben", _start(app))
    results = app.shot("real-10-videos-of-ben")
    found = _tiles_now(app, results)
    assert len(found) == 1, f"one result, the video: tiles {found}"
    sidebar, grid, top = _layout(app, results)
    cx, cy = (c - o for c, o in zip(_centre(found[0]), (app.x0, app.y0)))

    app.click(cx, cy, times=2)
    viewer = app.wait_change(results, what="the video's viewer")
    viewer = app.shot("real-11-video-opened-paused")
    assert not _grid_showing(app, viewer), "a double-click on the video opens it"
    bar = [b for b in buttons(viewer, (sidebar[1] + 2, top - 10, app.box[2], top + 60))]
    assert bar, "the viewer's bar (← Back, ◀, ▶) was not found"
    back = _centre(bar[0])  # ← Back, leftmost
    # Each open of the video shows in the player's own output (FFmpeg names the file it opens); where the first one
    # does, the two at once must too: proof that they opened the viewer before leaving it.
    opened = app.stderr_all().count("party.mp4':")
    app.key("Escape")
    _wait_grid(app, "Escape to bring the grid back", count=1)
    app.shot("real-12-escape-after-it-showed")

    app.click(cx, cy, times=2, then=("key", "Escape"))   # open and leave at once
    time.sleep(1.0)
    _wait_grid(app, "the grid after open+Escape", count=1)
    app.shot("real-13-escape-at-once")
    app.click(cx, cy, times=2, then=("mousemove", str(back[0]), str(back[1]), "click", "1"))  # open, ← Back
    time.sleep(1.0)
    grid_again = _wait_grid(app, "the grid after open+← Back", count=1)
    app.shot("real-14-back-at-once")

    assert app.stderr_all().count("party.mp4':") == 3 * opened, "an open at once did not open the video"
    app.park_mouse()
    again = _search(app, "Ben", grid_again)  # still answering: a new search shows its results
    again = app.shot("real-15-new-search-after-leaving")
    assert len(_tiles_now(app, again)) == 3, "the new search's three results"
    assert app.quit(timeout=10) < 5, "Ctrl+Q took more than a few seconds"


def test_keyboard_only_walk(album_library, launch, tmp_path):
    """Ctrl+F, a query, Return; Tab to the grid; Right moves; Return opens the viewer; Right steps; Escape comes
    back to the grid on the item the viewer showed (Left from there lands where Right had been: the same picture)."""
    app = launch(_album_env(album_library, tmp_path))
    start = _start(app)
    app.key("Tab")  # out of the search field (where the window opens) into the grid: Ctrl+F must bring it back
    start = app.wait_change(start, timeout=5, what="Tab to leave the search field")
    app.key("ctrl+f")
    app.type("Ben")
    app.key("Return")
    results = app.wait_change(start, what="the results")
    results = app.shot("real-20-kbd-results")
    found = _tiles_now(app, results)
    assert len(found) == 3, found
    _, grid, top = _layout(app, results)
    grid_box = (grid[0], top, grid[1], app.box[3] - 40)
    app.key("Tab")
    tabbed = app.wait_change(results, box=found[0], timeout=5, what="Tab to mark the first tile")
    tabbed = app.shot("real-21-kbd-tab-to-grid")
    app.key("Right")
    moved = app.wait_change(tabbed, box=found[1], timeout=5, what="Right to move to the second tile")
    moved = app.shot("real-22-kbd-right")
    assert moved.differs(tabbed, found[0]), "the first tile lost its mark"
    app.key("Return")
    second = app.wait_change(moved, what="Return to open the viewer")
    second = app.shot("real-23-kbd-viewer")
    assert not _grid_showing(app, second)
    app.key("Right")
    app.wait_change(second, what="Right to step to the next result")
    app.shot("real-24-kbd-viewer-next")
    app.key("Escape")
    back = _wait_grid(app, "Escape to bring the grid back", count=3)
    back = app.settled(back, app.box, time.time() + 5)
    back = app.shot("real-25-kbd-escape-back")
    assert back.differs(moved, found[2]), "the third tile (the item the viewer showed) is not marked"
    app.key("Left")
    time.sleep(1.0)
    left = app.settled(app.grab(), app.box, time.time() + 5)
    app.shot("real-26-kbd-left")
    assert not left.differs(moved, grid_box), "Left from the grid's place did not land on the second tile"


def test_a_narrow_window_keeps_the_sidebar_and_shows_tiles(album_library, launch, tmp_path):
    """800 px wide: the sidebar keeps at least its 180 px, the grid beside it still shows whole tiles. Measured in
    the screenshot: the window's width on the screen, the sidebar's white list (plus its 1-px frame each side), the
    grid's white panel and the tiles in it."""
    app = launch(_album_env(album_library, tmp_path))
    wide = _start(app)
    wide_sidebar = panels(wide, app)[0]
    _, _, _, height = app.geometry()
    app.xdo("windowsize", app.window, "800", str(height))
    narrow = app.wait_change(wide, box=(0, 0, *SCREEN), what="the window to become narrower")
    x, y, width, _ = app.geometry()
    narrow = app.settled(app.grab(), app.box, time.time() + 5)
    narrow = app.shot("real-30-800px-wide")
    row = narrow.pixels[y + height // 2]
    on_screen = next(b - a for a, b in _runs(row.max(axis=1) > 0) if a <= x + 5 < b)
    assert width == 800 and abs(on_screen - 800) <= 2, (width, on_screen)
    sidebar, grid, top = _layout(app, narrow)
    widths = {"sidebar at 1260 px": wide_sidebar[1] - wide_sidebar[0] + 2, "sidebar at 800 px":
              sidebar[1] - sidebar[0] + 2, "grid at 800 px": grid[1] - grid[0] + 2}
    assert widths["sidebar at 800 px"] >= 180, widths
    assert widths["sidebar at 800 px"] <= widths["sidebar at 1260 px"], widths
    shown = tiles(narrow, (grid[0] + 2, grid[1] - 2), top, app.box[3] - 40)
    whole = [t for t in shown if t[2] - t[0] >= 100 and t[3] - t[1] >= 100 and t[2] <= grid[1]]
    assert whole, f"no whole tile in the grid ({grid}): {shown}"
    print("measured:", widths, f"{len(whole)} whole tiles")


# -- first run: the model from a local hub ---------------------------------------------------------------------------
@pytest.fixture
def slow_hub(tmp_path, shared_models):
    """The tiny model in Immich's layout under the name of a published repository, served at about 3 MB/s (its
    16 MB then take about 5 s: long enough to see the bytes, the rate and the time left)."""
    pytest.importorskip("open_clip")
    root = hub_factory.build(tmp_path / "hub", hub_factory.tiny_package(shared_models), rclip=None,
                             immich=PUBLISHED_REPO)
    server = hub_factory.serve(root, rate=3e6)
    server.total = sum(f.stat().st_size for f in (root / PUBLISHED_REPO).rglob("*") if f.is_file())
    yield server
    server.shutdown()


def _first_run_env(tmp_path, hub_url: str) -> dict:
    return _app_env(tmp_path, str(tmp_path / "lib"), IDLENS_MODEL=PUBLISHED_SPEC,
                    IDLENS_MODELS=str(tmp_path / "fresh-models"), IDLENS_HUB=hub_url,
                    IDLENS_CACHE=str(tmp_path / "cache"), IDLENS_LOG_DIR=str(tmp_path / "logs"))


def _photos(folder: Path) -> Path:
    for i in range(3):
        mf.photo(folder / f"photo{i}.jpg", 60 + i, size=(640, 480))
    return folder


def _empty_page_buttons(app: App, screen: Screen) -> list:
    """The empty page's buttons (Add folder…, then Download the CLIP model now / Try again), left to right."""
    sidebar = panels(screen, app)[0]
    return buttons(screen, (sidebar[1] + 4, app.y0 + 80, app.box[2] - 4, app.box[3] - 40))


def _add_folder(app: App, folder: Path, before: Screen, shot: str) -> None:
    """File › Add folder… (Ctrl+O): Qt's folder dialog; the path typed into its Directory field, Return."""
    app.key("ctrl+o")
    dialog = app.wait_change(before, what="the folder dialog")
    app.type(str(folder))
    time.sleep(0.5)
    app.shot(shot)
    app.key("Return")
    app.wait_change(dialog, what="the dialog to close", settle=0)
    app.focus()  # no window manager gives the focus back to the main window, as a desktop's would


def _watch_download(app: App, hub, name: str, before: Screen) -> Screen:
    """A screenshot while the model downloads: once a third has come, and checked to be before the end."""
    app.wait_for(lambda: hub.served >= hub.total / 3, 30, "the download to start")
    shot = app.shot(name)
    assert hub.served < hub.total, "the screenshot came after the download ended; it shows no progress"
    status = (app.x0, app.box[3] - 30, app.box[2], app.box[3])
    assert shot.differs(before, status), "the status line did not change while the model downloads"
    time.sleep(1.2)
    later = app.grab()
    assert hub.served < hub.total and later.differs(shot, status, at_least=20), \
        "the status line did not count on while the model downloads"
    return shot


def _indexed_and_searchable(app: App, tmp_path: Path, prefix: str) -> None:
    from core.clip.install import installed

    app.wait_for(lambda: installed(PUBLISHED_SPEC, tmp_path / "fresh-models"), 60, "the model to be installed")
    filled = _wait_grid(app, "the three photos in the grid", count=3, timeout=60)
    filled = app.settled(filled, app.box, time.time() + 10)
    filled = app.shot(f"{prefix}-indexed")
    app.park_mouse()
    searched = _search(app, "a red car", filled)
    searched = app.shot(f"{prefix}-searched")
    assert _grid_showing(app, searched), "the search showed no results"
    return searched


def test_first_run_download_button_then_a_folder(slow_hub, launch, tmp_path):
    """A newcomer presses "Download the CLIP model now": the status line counts the bytes, the rate and the time
    left; then they add a folder, it is indexed, and a search finds its photos."""
    album = _photos(tmp_path / "album")
    app = launch(_first_run_env(tmp_path, slow_hub.url))
    first = app.shot("real-40-first-run")
    found = _empty_page_buttons(app, first)
    assert len(found) == 2, f"expected Add folder… and Download the CLIP model now, found {found}"
    x, y = _centre(found[1])
    app.click(x - app.x0, y - app.y0)
    _watch_download(app, slow_hub, "real-41-downloading-after-button", first)
    from core.clip.install import installed

    app.wait_for(lambda: installed(PUBLISHED_SPEC, tmp_path / "fresh-models"), 60, "the model to be installed")
    ready = app.settled(app.grab(), app.box, time.time() + 10)
    ready = app.shot("real-42-model-ready")
    assert len(_empty_page_buttons(app, ready)) == 1, "once the model is ready, only Add folder… is offered"
    app.park_mouse()
    _add_folder(app, album, ready, "real-42b-add-folder-dialog")
    _indexed_and_searchable(app, tmp_path, "real-43")


def test_first_run_a_folder_added_downloads_the_model_itself(slow_hub, launch, tmp_path):
    """A newcomer adds a folder without pressing Download: the model downloads first (bytes, rate, time left in
    the status line), then the folder is indexed and a search works."""
    album = _photos(tmp_path / "album")
    app = launch(_first_run_env(tmp_path, slow_hub.url))
    first = _start(app)
    _add_folder(app, album, first, "real-44-add-folder-dialog")
    _watch_download(app, slow_hub, "real-45-downloading-after-add-folder", first)
    _indexed_and_searchable(app, tmp_path, "real-46")


def test_first_run_offline_says_so_in_plain_words(launch, tmp_path):
    """No connection to the hub (a closed port): Download ends in the plain-words message on the page, and the
    button offers to try again (it becomes "Try again": narrower)."""
    app = launch(_first_run_env(tmp_path, f"http://127.0.0.1:{_closed_port()}"))
    first = _start(app)
    before = _empty_page_buttons(app, first)
    assert len(before) == 2, before
    x, y = _centre(before[1])
    app.click(x - app.x0, y - app.y0)
    app.park_mouse()
    failed = app.wait_change(first, what="the page to say the download failed")
    failed = app.settled(app.grab(), app.box, time.time() + 5)
    failed = app.shot("real-48-offline")
    after = _empty_page_buttons(app, failed)
    assert len(after) == 2 and after[1][2] - after[1][0] < before[1][2] - before[1][0], (before, after)
    log = (tmp_path / "logs" / "idlens.log").read_text(errors="replace")
    assert "Idlens needs to download its CLIP model once" in log, log[-2000:]
    # KNOWN (reported): the engine logs this expected failure with its whole traceback, on stderr too.
    app.tolerated = "an offline download's traceback on stderr"
