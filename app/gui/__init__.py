"""The PySide6 desktop app. `core` does the work; this package is layout and the Qt adapter around it."""
from __future__ import annotations

import os
import sys


def build_main_window(library_dir: str, model: str | None = None, settings=None):
    from app.gui.main_window import MainWindow

    return MainWindow(library_dir, model, settings)


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
    app.setOrganizationName("Idlens")
    icon = os.path.join(os.path.dirname(__file__), "..", "..", "resources", "idlens.svg")
    if os.path.exists(icon):
        app.setWindowIcon(QIcon(icon))
    settings = QSettings("Idlens", "Idlens")
    library = library_dir or settings.value("library") or str(default_library_dir())
    from app.gui.recovery import ensure_healthy

    if not ensure_healthy(str(library)):
        return 1
    window = build_main_window(str(library), model, settings)
    window.show()
    return app.exec()
