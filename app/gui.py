"""The desktop app. Until the desktop-app work lands this is a small window that shows the library's state and
points to the command line; it already runs the way the real app will (Qt only here, the engine in `core`)."""
from __future__ import annotations

import sys


def build_window(library_dir: str, model: str | None = None):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QLabel, QMainWindow, QVBoxLayout, QWidget

    from core.catalog import Catalog
    from core.library import CATALOG_FILE

    window = QMainWindow()
    window.setWindowTitle("Idlens")
    window.resize(720, 420)
    body = QWidget()
    layout = QVBoxLayout(body)
    layout.addStretch(1)
    title = QLabel("<h2>Idlens</h2>")
    title.setAlignment(Qt.AlignmentFlag.AlignCenter)
    layout.addWidget(title)
    from pathlib import Path

    from core.embedder import ModelSpec

    db = Path(library_dir) / CATALOG_FILE
    library_model = None
    if db.exists():
        catalog = Catalog(db)
        counts = catalog.counts()
        library_model = catalog.library_model
        catalog.close()
        summary = ", ".join(f"{sum(v.values())} {k}s" for k, v in sorted(counts.items())) or "no files yet"
    else:
        summary = "an empty library"
    spec = model or library_model
    model_line = ""
    if spec:
        model_line = f"<br>Model: {spec}"
        if ModelSpec.parse(spec).is_test_model:
            model_line += " <b>(random weights: useless for real search, tests only)</b>"
    text = QLabel(
        f"Library: {library_dir}<br>Holds {summary}.{model_line}<br><br>"
        "The desktop app is on its way. Meanwhile, index and search from a terminal:<br>"
        "<code>idlens index ~/Pictures</code><br><code>idlens search \"a dog on the beach\"</code>"
    )
    text.setObjectName("summary")
    text.setAlignment(Qt.AlignmentFlag.AlignCenter)
    text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    layout.addWidget(text)
    layout.addStretch(1)
    window.setCentralWidget(body)
    return window


def run_gui(library_dir: str | None = None, model: str | None = None) -> int:
    import os

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                                                 or os.environ.get("QT_QPA_PLATFORM")):
        print("idlens: error: no display to open the app on; use the command line (idlens --help)", file=sys.stderr)
        return 1
    from PySide6.QtWidgets import QApplication

    from core.settings import default_library_dir

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("Idlens")
    window = build_window(library_dir or str(default_library_dir()), model)
    window.show()
    return app.exec()
