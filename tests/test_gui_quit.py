"""The app quits cleanly with a large-ish library (issue 20, case 9: "Fatal Python error: none_dealloc" at exit,
with 2,000 files, in 5 of 6 closes). The real app process (`app.cli.main([])`, as `idlens` runs it), on 2,000
indexed photos, closed by its window after the library has loaded: right away, and after scrolling the whole grid
(a thumbnail load and signal per visible photo) and opening People. Each must exit 0 with no fatal error.

The crash was PySide6 6.12.0's (pyproject.toml excludes it): each Python override that returns None (the results
model's data() for a role it does not serve, thousands of calls with 2,000 rows) drops a reference to None, and each
Signal.emit one to True; the count reaches zero at exit. With PYTHONPATH pointing at a 6.12.0 install this test fails
(exit -6, none_dealloc); with 6.11.3 it passes."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import media_factory as mf
from tests.conftest import ROOT

FACES = Path(__file__).parent / "data" / "faces"
FILES = 2000

# The app as `idlens` starts it; a timer closes the main window once the grid holds every photo (SCROLL: after
# scrolling through the grid, then opening People).
DRIVER = r"""
import os, sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

qt = QApplication(sys.argv[:1])
want, scroll, start = int(sys.argv[1]), sys.argv[2] == "scroll", time.monotonic()

def poll():
    import app.gui as gui
    if time.monotonic() - start > 120:
        print("driver: the library did not load", file=sys.stderr)
        os._exit(3)
    w = gui._windows[0] if gui._windows else None
    if w is None or len(w.model.rows) < want:
        return QTimer.singleShot(100, poll)
    bar = w.grid.verticalScrollBar()
    if scroll and bar.value() < bar.maximum():
        bar.setValue(min(bar.maximum(), bar.value() + 2 * bar.pageStep()))
        return QTimer.singleShot(20, poll)
    if scroll:
        print(f"driver: thumbnails asked {w.model.requests}", file=sys.stderr)
        w.people_action.trigger()
    print(f"driver: closing with {len(w.model.rows)} rows", file=sys.stderr)
    QTimer.singleShot(200, w.close)

QTimer.singleShot(100, poll)
from app.cli import main
main([])
"""


def _env(tmp_path: Path) -> dict:
    path = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(ROOT)) if p)  # a PySide6 to try first
    return dict(os.environ, IDLENS_MODEL="tiny-test", IDLENS_LIBRARY=str(tmp_path / "lib"), PYTHONPATH=path,
                QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"), PYTHONFAULTHANDLER="1")


@pytest.fixture
def big_library(tmp_path):
    """2,000 small photos (one in 20 a real face), indexed by `idlens index` (about 20 s here)."""
    faces = sorted(FACES.glob("person_*.jpg"))
    photos = tmp_path / "photos"
    for i in range(FILES):
        path = photos / f"d{i // 200}" / f"p{i:05d}.jpg"
        if i % 20 == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(faces[(i // 20) % len(faces)], path)
        else:
            mf.photo(path, seed=i, size=(96, 72), quality=70)
    proc = subprocess.run([sys.executable, "-m", "app", "index", str(photos)], env=_env(tmp_path), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"indexed {FILES} files" in proc.stdout, proc.stdout
    return tmp_path


@pytest.mark.parametrize("runs", [["load", "load", "scroll"]])
def test_the_app_quits_cleanly_with_2000_files(big_library, runs):
    outcomes = []
    for how in runs:
        proc = subprocess.run([sys.executable, "-c", DRIVER, str(FILES), how], env=_env(big_library), cwd=ROOT,
                              capture_output=True, text=True, timeout=240)
        outcomes.append((how, proc.returncode, proc.stderr))
    for how, code, stderr in outcomes:
        assert f"closing with {FILES} rows" in stderr, stderr
        assert code == 0 and "Fatal Python error" not in stderr, f"{how}: exit {code}\n{stderr[-3000:]}"
    log = (Path(os.environ["IDLENS_LOG_DIR"]) / "idlens.log").read_text()
    assert log.count("app closed (0)") == len(runs)
    scrolled = next(stderr for how, _, stderr in outcomes if how == "scroll")
    asked = int(scrolled.split("thumbnails asked ")[1].split()[0])
    assert asked > 500  # the grid really loaded thumbnails (a signal from a pool thread for each)
