"""A real window, as a person uses it: `idlens` started as a process on an X server (Xvfb), driven with the keyboard
and the mouse through xdotool, photographed with ImageMagick's `import` at each step. Skipped where those tools are
missing; `.ci/run` installs them. Screenshots go to $IDLENS_SCREENSHOTS (else the test's folder)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import media_factory as mf
from tests.conftest import ROOT
from tests.test_identity_search import scene

FACES = Path(__file__).parent / "data" / "faces"
TOOLS = ("Xvfb", "xdotool", "import")
pytestmark = pytest.mark.skipif(not all(shutil.which(t) for t in TOOLS),
                                reason="needs Xvfb, xdotool and ImageMagick (apt-get install xvfb xdotool imagemagick)")


def _idlens(env, *args):
    return subprocess.run([sys.executable, "-m", "app", *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          check=True, timeout=300)


@pytest.fixture
def display():
    number = 90 + os.getpid() % 9
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    yield f":{number}"
    server.terminate()
    server.wait(timeout=10)


def _xdo(display, *args, check=True):
    return subprocess.run(["xdotool", *args], env=dict(os.environ, DISPLAY=display), capture_output=True,
                          text=True, timeout=60, check=check)


def _shot(display, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    subprocess.run(["import", "-window", "root", str(path)], env=dict(os.environ, DISPLAY=display), check=True,
                   timeout=60)
    return path


def test_idlens_in_a_real_window(tmp_path, display):
    album = tmp_path / "album"
    scene(album / "ben-1.jpg", 3, ["person_b_1.jpg"])
    scene(album / "ben-2.jpg", 4, ["person_b_2.jpg"])
    mf.photo(album / "landscape.jpg", 9, size=(800, 600))
    mf.video_of_photos(album / "party.mp4", [mf.picture(3, (640, 360)), FACES / "person_b_2.jpg"],
                       seconds_each=2.0)
    library = str(tmp_path / "lib")
    env = dict(os.environ, PYTHONPATH=str(ROOT), IDLENS_MODEL="tiny-test")
    _idlens(env, "--library", library, "index", str(album))
    group = max(json.loads(_idlens(env, "--library", library, "people", "list", "--json").stdout)["people"],
                key=lambda p: p["faces"])
    _idlens(env, "--library", library, "people", "name", str(group["id"]), "Ben")

    shots = Path(os.environ.get("IDLENS_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    app_env = dict(env, DISPLAY=display, QT_QPA_PLATFORM="xcb", IDLENS_LIBRARY=library)
    app = subprocess.Popen([sys.executable, "-m", "app"], env=app_env, cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        found = _xdo(display, "search", "--sync", "--onlyvisible", "--name", "Idlens", check=False)
        deadline = time.time() + 60
        while not found.stdout.strip() and time.time() < deadline and app.poll() is None:
            time.sleep(0.5)
            found = _xdo(display, "search", "--onlyvisible", "--name", "Idlens", check=False)
        assert found.stdout.strip(), "no Idlens window appeared"
        window = found.stdout.split()[0]
        time.sleep(3)
        first = _shot(display, shots, "real-01-library")
        # No window manager on Xvfb: focus by clicking, as a person would, relative to where the window opened
        # (centred on the screen at first start).
        geometry = dict(line.split("=", 1) for line in
                        _xdo(display, "getwindowgeometry", "--shell", window).stdout.split())
        x0, y0 = int(geometry["X"]), int(geometry["Y"])
        assert x0 > 0 and y0 > 0, geometry  # centred, not in the corner
        _xdo(display, "windowfocus", "--sync", window, check=False)
        _xdo(display, "mousemove", str(x0 + 700), str(y0 + 33), "click", "1")          # the search field
        _xdo(display, "type", "--delay", "80", "Ben")
        time.sleep(0.5)
        _xdo(display, "key", "Return")
        time.sleep(3)
        searched = _shot(display, shots, "real-02-search-ben")
        _xdo(display, "mousemove", str(x0 + 345), str(y0 + 150), "click", "--repeat", "2", "--delay", "120",
             "1")  # the first result
        time.sleep(3)
        viewer = _shot(display, shots, "real-03-viewer")
        _xdo(display, "key", "Right")
        time.sleep(2)
        _shot(display, shots, "real-04-viewer-next")
        _xdo(display, "key", "Right")    # the video, paused on Ben's moment
        time.sleep(3)
        video = _shot(display, shots, "real-05-video")
        _xdo(display, "key", "space")    # plays
        time.sleep(2)
        _shot(display, shots, "real-06-video-playing")
        _xdo(display, "key", "Escape")
        time.sleep(1)
        back = _shot(display, shots, "real-07-back-to-results")
        assert app.poll() is None, app.stderr.read() if app.stderr else ""
        sizes = {p.name: p.read_bytes() for p in (first, searched, viewer, video, back)}
        assert len(set(sizes.values())) == 5, "the window did not change between the steps"
    finally:
        app.send_signal(signal.SIGTERM)
        try:
            _, err = app.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            app.kill()
            _, err = app.communicate()
    assert "Traceback" not in err, err
