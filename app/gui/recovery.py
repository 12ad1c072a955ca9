"""The app's answer to a damaged catalog: say so before anything opens it, and offer the repair `idlens doctor
--repair` does (the damaged file is moved aside, never deleted; the newest good backup comes back)."""
from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from core import doctor
from core.store import Backups

log = logging.getLogger(__name__)


class DamagedCatalogBox(QMessageBox):
    def __init__(self, library_dir: str, problem: str, parent=None):
        super().__init__(parent)
        self.library_dir = library_dir
        self.setIcon(QMessageBox.Icon.Warning)
        self.setWindowTitle("Idlens — the library needs a repair")
        self.setText(f"The catalog of the library in {library_dir} is damaged: {problem}.")
        backup, _ = Backups(doctor.backup_folder(library_dir)).newest_good()
        if backup is not None:
            when = doctor.describe_backup(backup)
            info = (f"Nothing was changed. Repair moves the damaged file aside and restores the backup of {when}; "
                    "names and other decisions made after it cannot be brought back.")
        else:
            info = ("Nothing was changed. There is no backup to restore: Repair moves the damaged file aside and "
                    "starts an empty catalog, and your folders are indexed again.")
        self.setInformativeText(info)
        self.repair_button = self.addButton("Repair", QMessageBox.ButtonRole.AcceptRole)
        self.quit_button = self.addButton("Quit", QMessageBox.ButtonRole.RejectRole)
        self.setDefaultButton(self.repair_button)


def ensure_healthy(library_dir: str, parent=None, ask=None) -> bool:
    """True when the library can be opened (now or after a repair the user chose). `ask(box)` shows the box and
    returns the button clicked (tests pass their own)."""
    problem = doctor.catalog_problem(library_dir)
    if problem is None:
        return True
    box = DamagedCatalogBox(library_dir, problem, parent)
    clicked = ask(box) if ask else (box.exec(), box.clickedButton())[1]
    if clicked is not box.repair_button:
        return False
    QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
    try:
        report = doctor.repair(library_dir)
    except Exception as e:  # the repair itself failed: say so, keep the app closed
        log.exception("repair failed")
        QApplication.restoreOverrideCursor()
        QMessageBox.critical(parent, "Idlens", f"The repair failed: {e}\nRun `idlens doctor` for details.")
        return False
    QApplication.restoreOverrideCursor()
    done = QMessageBox(QMessageBox.Icon.Information if report.healthy else QMessageBox.Icon.Warning, "Idlens",
                       "The library was repaired." if report.healthy else "The library is still not healthy.",
                       parent=parent)
    done.setInformativeText("\n".join(f"• {a[:1].upper()}{a[1:]}." for a in report.actions))
    if ask:
        ask(done)
    else:
        done.exec()
    return report.healthy
