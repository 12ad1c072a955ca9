"""The PySide6 desktop app. `core` does the work; this package is layout and the Qt adapter around it."""
from __future__ import annotations

import os
import sys

_windows: list = []  # the open main windows (Qt does not keep a Python reference to a top-level window)
_translators: list = []


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

    from core.settings import default_library_dir

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("Idlens")
    install_translations(app)
    app.setOrganizationName("Idlens")
    icon = os.path.join(os.path.dirname(__file__), "..", "..", "resources", "idlens.svg")
    if os.path.exists(icon):
        app.setWindowIcon(QIcon(icon))
    from app.gui import libraries

    settings = QSettings("Idlens", "Idlens")
    library = library_dir or libraries.last(settings) or str(default_library_dir())
    if open_window(str(library), model, settings) is None:
        return 1
    return app.exec()
