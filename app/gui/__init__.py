"""The PySide6 desktop app. `core` does the work; this package is layout and the Qt adapter around it."""
from __future__ import annotations

import logging
import os
import sys

_windows: list = []  # the open main windows (Qt does not keep a Python reference to a top-level window)
_translators: list = []
_hooks: list = []  # the sys.excepthook that logs uncaught exceptions, once installed


def install_translations(app) -> None:
    """Qt's translations of the app's texts: English first (it holds the plural forms: "1 file", "2 files"), then
    the user's language where there is a translation for it."""
    from PySide6.QtCore import QLocale, QTranslator

    if _translators:  # once per process
        return
    folder = os.path.join(os.path.dirname(__file__), "i18n")
    for name in ("idlens_en", f"idlens_{QLocale.system().name()}"):
        translator = QTranslator(app)
        if translator.load(os.path.join(folder, name + ".qm")):
            app.installTranslator(translator)
            _translators.append(translator)


def build_main_window(library_dir: str, model: str | None = None, settings=None):
    from PySide6.QtWidgets import QApplication

    from app.gui.main_window import MainWindow

    install_translations(QApplication.instance())
    return MainWindow(library_dir, model, settings)


def open_window(library_dir: str, model: str | None = None, settings=None):
    """A main window on this library (after offering a repair if its catalog is damaged), or None."""
    from app.gui.recovery import ensure_healthy

    if not ensure_healthy(str(library_dir)):
        return None
    window = build_main_window(str(library_dir), model, settings)
    window.libraryRequested.connect(lambda folder: _switch(window, folder, model, settings))
    _windows.append(window)
    window.destroyed.connect(lambda *_: _windows.remove(window) if window in _windows else None)
    window.show()
    return window


def _switch(old, folder: str, model, settings) -> None:
    from app.gui import libraries

    settings = settings or old.qsettings
    if open_window(folder, model, settings) is None:  # refused (a damaged catalog the user did not repair)
        libraries.remember(settings, old.library_dir)


def run_gui(library_dir: str | None = None, model: str | None = None) -> int:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                                                 or os.environ.get("QT_QPA_PLATFORM")):
        print("idlens: error: no display to open the app on; use the command line (idlens --help)", file=sys.stderr)
        return 1
    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from core import logs
    from core.settings import default_library_dir

    logs.ensure()  # the log file (the command line configured it already when the app starts from `idlens`)
    _log_uncaught()
    from PySide6 import __version__ as pyside_version

    if pyside_version == "6.12.0":  # excluded in pyproject.toml; a wheel installed by hand can still bring it
        logging.getLogger(__name__).warning(
            "PySide6 6.12.0 miscounts references (True on each signal, None on each Qt method of ours that returns "
            "None) and the app may abort when it closes; install another version: "
            "pip install 'PySide6-Essentials!=6.12.0' 'PySide6-Addons!=6.12.0'")
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("Idlens")
    install_translations(app)
    app.setOrganizationName("Idlens")
    icon = os.path.join(os.path.dirname(__file__), "..", "..", "resources", "idlens.svg")
    if os.path.exists(icon):
        QApplication.setWindowIcon(QIcon(icon))  # static: the icon of every window of the process
    from app.gui import libraries

    settings = QSettings("Idlens", "Idlens")
    library = library_dir or libraries.last(settings) or str(default_library_dir())
    logging.getLogger(__name__).info("app started on %s", library)
    if open_window(str(library), model, settings) is None:
        return 1
    status = app.exec()
    logging.getLogger(__name__).info("app closed (%s)", status)
    return status


def _log_uncaught() -> None:
    """An exception in a slot or a callback ends up in sys.excepthook (Qt carries on): the log file keeps it, then
    it is printed as before."""
    previous = sys.excepthook
    if previous in _hooks:  # once per process
        return

    def hook(kind, value, tb):
        logging.getLogger(__name__).error("unexpected error", exc_info=(kind, value, tb), extra={"file_only": True})
        previous(kind, value, tb)

    _hooks.append(hook)
    sys.excepthook = hook
