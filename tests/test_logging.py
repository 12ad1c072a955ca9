"""The log file (core/logs.py): the command line and the app write to a rotating file in the user's data folder
(IDLENS_LOG_DIR in the tests, see conftest), --verbose shows debug lines, Help › Show log points at the file."""
import logging
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from core import logs
from tests.conftest import ROOT


def idlens(*args, env_extra=None):
    env = dict(os.environ, IDLENS_MODEL="tiny-test", PYTHONPATH=str(ROOT))
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120)


@pytest.fixture(autouse=True)
def restore_logging():
    """configure() changes the process's root logger; put back what the other tests had."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in logs.OURS}
    yield
    for h in root.handlers:
        if h not in handlers:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)
    for name, lvl in levels.items():
        logging.getLogger(name).setLevel(lvl)


def test_log_folder_is_in_the_user_data_folder(monkeypatch):
    import platformdirs

    monkeypatch.delenv("IDLENS_LOG_DIR")
    assert logs.log_file() == platformdirs.user_data_path("idlens") / "logs" / "idlens.log"


def test_a_failing_command_is_in_the_log_file_and_stderr_is_unchanged(tmp_path):
    missing = tmp_path / "no-library"
    proc = idlens("--library", str(missing), "status")
    assert proc.returncode != 0
    # stderr says the error once, in one line: no log lines on it without --verbose
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and proc.stderr.startswith("idlens: error:")
    text = logs.log_file().read_text()
    assert "INFO app.cli: idlens " in text and ": status" in text
    assert f"idlens status failed: NoLibrary: no library at {missing}" in text
    assert "DEBUG" not in text  # INFO by default
    assert not missing.exists()


def test_a_crash_keeps_its_traceback_in_the_log(tmp_path):
    """An unexpected error (a bug): Python prints the traceback as before, and the log file has it too."""
    code = ("import app.cli as c\n"
            "class Broken:\n"
            "    def __init__(self, *a): raise RuntimeError('kaboom')\n"
            "c.Context = Broken\n"
            "c.main(['status'])\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert proc.returncode == 1 and "RuntimeError: kaboom" in proc.stderr
    assert proc.stderr.count("kaboom") == 1 and "failed" not in proc.stderr  # the traceback only, no log line
    text = logs.log_file().read_text()
    assert "idlens status failed: RuntimeError: kaboom" in text and "Traceback (most recent call last)" in text


@pytest.mark.parametrize("flag", ["--verbose", "-v"])
def test_verbose_shows_debug_lines_on_stderr_and_in_the_file(tmp_path, flag):
    proc = idlens(flag, "--library", str(tmp_path / "none"), "status")
    assert proc.returncode != 0
    assert "DEBUG app.cli: library " in proc.stderr and "INFO app.cli: idlens status failed" in proc.stderr
    assert proc.stderr.rstrip().endswith("(create one with `idlens index FOLDER`, or check --library / "
                                         "IDLENS_LIBRARY)")
    assert "DEBUG app.cli: library " in logs.log_file().read_text()


def test_repeated_invocations_in_one_process_add_no_second_handler(tmp_path, monkeypatch):
    from app.cli import cli

    runner = CliRunner()
    for _ in range(3):
        result = runner.invoke(cli, ["--library", str(tmp_path / "none"), "status"])
        assert result.exit_code != 0
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_idlens_handler", False)]
    assert sorted(type(h).__name__ for h in ours) == ["RotatingFileHandler", "_Stderr"]
    lines = logs.log_file().read_text().splitlines()
    assert sum(": status" in line and "INFO app.cli: idlens" in line for line in lines) == 3  # once each

    result = runner.invoke(cli, ["-v", "--library", str(tmp_path / "none"), "status"])
    assert "DEBUG app.cli: library" in result.stderr
    assert result.stderr.count("DEBUG app.cli: library") == 1

    monkeypatch.setenv("IDLENS_LOG_DIR", str(tmp_path / "elsewhere"))  # a new folder: the file follows
    runner.invoke(cli, ["--library", str(tmp_path / "none"), "status"])
    assert (tmp_path / "elsewhere" / "idlens.log").exists()
    assert len([h for h in logging.getLogger().handlers if getattr(h, "_idlens_handler", False)]) == 2


def test_the_file_rotates_at_its_size_and_keeps_three(tmp_path, monkeypatch):
    monkeypatch.setattr(logs, "MAX_BYTES", 2_000)
    path = logs.configure()
    for i in range(200):
        logging.getLogger("core.test").info("line %d %s", i, "x" * 50)
    assert path == logs.log_file()
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["idlens.log", "idlens.log.1", "idlens.log.2", "idlens.log.3"]
    assert all(p.stat().st_size <= 2_200 for p in path.parent.iterdir())
    assert "line 199" in logs.tail(1)


def test_other_libraries_debug_lines_stay_out(tmp_path):
    path = logs.configure(verbose=True)
    logging.getLogger("PIL.PngImagePlugin").debug("STREAM b'IHDR'")
    logging.getLogger("PIL.PngImagePlugin").warning("a real problem")
    logging.getLogger("core.x").debug("ours")
    text = path.read_text()
    assert "STREAM" not in text and "a real problem" in text and "DEBUG core.x: ours" in text


def test_an_unwritable_log_folder_never_stops_a_command(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    proc = idlens("--library", str(tmp_path / "lib"), "index", str(tmp_path),
                  env_extra={"IDLENS_LOG_DIR": str(blocker / "logs")})
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "logs" not in proc.stderr


def test_help_show_log_points_at_the_file_and_opens_it(qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QDesktopServices
    from PySide6.QtWidgets import QLabel, QPlainTextEdit, QPushButton

    from app.gui import build_main_window

    logs.configure()
    logging.getLogger("app.gui.test").info("something to show")
    settings = QSettings(str(tmp_path / "qsettings.ini"), QSettings.Format.IniFormat)
    w = build_main_window(str(tmp_path / "lib"), "tiny-test", settings)
    qtbot.addWidget(w)
    w.show()
    help_menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&Help")
    action = next(a for a in help_menu.actions() if a.text() == "Show log")
    assert action is w.show_log_action and action.statusTip() == str(logs.log_file())

    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url) or True))
    action.trigger()
    dialog = w.log_dialog
    qtbot.waitUntil(dialog.isVisible)
    assert any(str(logs.log_file()) in label.text() for label in dialog.findChildren(QLabel))
    assert "something to show" in dialog.findChild(QPlainTextEdit).toPlainText()
    button = next(b for b in dialog.findChildren(QPushButton) if b.text() == "Open log file")
    button.click()
    assert [u.toLocalFile() for u in opened] == [str(logs.log_file())]
    dialog.close()
    w.close()
