"""Peak memory of the desktop app showing a grid of N results: `python -m bench.gui_memory N` prints MB."""
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(n: int) -> float:
    import tempfile

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app.gui import build_main_window

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        window = build_main_window(os.path.join(tmp, "lib"), "tiny-test",
                                   QSettings(os.path.join(tmp, "q.ini"), QSettings.Format.IniFormat))
        window.resize(1280, 800)
        window.show()
        window.query = "synthetic"
        window.model.set_rows([{"path": f"/photos/{i // 1000:04}/IMG_{i:06}.jpg", "kind": "image",
                                "fingerprint": f"{i:032x}", "timestamp": None, "duration": None, "why": {},
                                "score": 0.3, "media_id": i} for i in range(n)])
        window.stack.setCurrentWidget(window.grid)
        for _ in range(20):
            app.processEvents()
        window.grid.scrollToBottom()
        for _ in range(20):
            app.processEvents()
        with open("/proc/self/status") as f:
            peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
        window.close()
    return peak


if __name__ == "__main__":
    print(round(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000), 1))
