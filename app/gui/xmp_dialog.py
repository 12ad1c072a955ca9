"""File › Write names to XMP…: the library's names for other apps (core.faces.sidecars), asked and reported."""
from __future__ import annotations

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QMessageBox,
                               QVBoxLayout, QWidget)

from core.wording import plural

STYLES = [("The one each photo has (else digiKam's)", None), ("digiKam: photo.jpg.xmp", "digikam"),
          ("Lightroom: photo.xmp", "lightroom")]


class WriteNamesDialog(QDialog):
    """Which sidecars, and whether the faces Idlens named on its own go too; Write or Cancel."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Write names to XMP")
        intro = QLabel("Writes the names of the faces in your photos into XMP sidecar files beside them, which "
                       "digiKam, Lightroom and other apps read. Your photos are not changed, and every other tag "
                       "in a sidecar stays as it is.")
        intro.setWordWrap(True)
        self.sidecars = QComboBox()
        for text, value in STYLES:
            self.sidecars.addItem(text, value)
        self.automatic = QCheckBox("Also faces Idlens named on its own (not only the ones you confirmed)")
        form = QFormLayout()
        form.addRow("Sidecars:", self.sidecars)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.write_button = buttons.addButton("Write", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.automatic)
        layout.addWidget(buttons)

    def chosen(self) -> tuple[str | None, bool]:
        return self.sidecars.currentData(), self.automatic.isChecked()


def report_words(report: list) -> tuple[str, str]:
    """(one line for people, the details: a line a photo that was skipped, with why) of core.faces.sidecars's
    report."""
    if not report:
        return "No photo has a named face to write yet.", ""
    counts = {r: sum(1 for w in report if w.result == r) for r in ("written", "updated", "unchanged", "skipped")}
    words = {"written": lambda n: plural(n, "new sidecar"), "updated": lambda n: f"{n} updated",
             "unchanged": lambda n: f"{n} already up to date", "skipped": lambda n: f"{n} left alone"}
    line = f"{plural(len(report), 'photo')}: " + ", ".join(words[r](n) for r, n in counts.items() if n)  # no videos
    details = "\n".join(f"{w.path}: {w.reason}" for w in report if w.result == "skipped")
    return line, details


def show_report(parent: QWidget, report: list) -> QMessageBox:
    line, details = report_words(report)
    box = QMessageBox(QMessageBox.Icon.Information, "Names written to XMP", line, QMessageBox.StandardButton.Ok,
                      parent)
    if details:
        box.setInformativeText("Some photos were left alone; Show Details… says why.")
        box.setDetailedText(details)
    box.open()
    return box
