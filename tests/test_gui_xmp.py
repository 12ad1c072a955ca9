"""File › Write names to XMP… in a real window (offscreen): a photo named in a digiKam sidecar becomes a person on
index, the dialog writes the name into a Lightroom sidecar, and the report says what was done and what was left
alone, and why. Screenshots go to /tmp/shots-xmp/."""
from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QDialog

from app.gui import open_window
from app.gui import xmp_dialog
from core.faces.regions import read_regions
from core.media.images import stored_geometry
from tests.test_regions import FACES, _sidecar_naming_the_face, digest, needs_exiftool

SHOTS = Path("/tmp/shots-xmp")
WAIT = 120_000


@needs_exiftool
def test_file_menu_writes_the_names_into_sidecars_and_says_what_it_left_alone(qtbot, tmp_path, monkeypatch):
    album = tmp_path / "album"
    album.mkdir()
    shutil.copy(FACES / "person_a_1.jpg", album / "zoe.jpg")
    _sidecar_naming_the_face(album / "zoe.jpg", "Zoë Kowalski")
    shutil.copy(FACES / "person_b_1.jpg", album / "dima.jpg")
    _sidecar_naming_the_face(album / "dima.jpg", "Дмитрий Иванов")
    shutil.copy(FACES / "impostor_1.jpg", album / "dima.cr2")  # a raw beside it: dima.xmp would be both's
    photos = {p.name: digest(p) for p in album.glob("*.jpg")}
    settings = QSettings(str(tmp_path / "app.ini"), QSettings.Format.IniFormat)
    w = open_window(str(tmp_path / "lib"), "tiny-test", settings)
    qtbot.addWidget(w)
    w.resize(1100, 700)
    w.show()
    qtbot.waitExposed(w)
    with qtbot.waitSignal(w.engine.indexFinished, timeout=WAIT):
        w.engine.index([str(album)])
    qtbot.waitUntil(lambda: {p.name for p in w.people.model.people} == {"Zoë Kowalski", "Дмитрий Иванов"},
                    timeout=WAIT)

    SHOTS.mkdir(parents=True, exist_ok=True)
    # The info panel says where a name came from.
    qtbot.waitUntil(lambda: w.model.rowCount() == 2, timeout=WAIT)
    row = next(r for r in range(2) if w.model.index(r).data(Qt.ItemDataRole.ToolTipRole) and
               "zoe" in str(w.model.index(r).data(Qt.ItemDataRole.ToolTipRole)))
    w.open_index(w.model.index(row))
    qtbot.waitUntil(lambda: "Zoë Kowalski (from XMP: digiKam sidecar)" in w.viewer_page.info.text(), timeout=WAIT)
    w.grab().save(str(SHOTS / "xmp-00-info-panel.png"))
    w.close_viewer()

    dialog = xmp_dialog.WriteNamesDialog(w)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.grab().save(str(SHOTS / "xmp-01-dialog.png"))
    dialog.close()

    def answer(self):
        self.sidecars.setCurrentIndex(2)  # Lightroom: photo.xmp
        return QDialog.DialogCode.Accepted
    monkeypatch.setattr(xmp_dialog.WriteNamesDialog, "exec", answer)
    [action] = [a for a in w.menuBar().actions()[0].menu().actions() if a.text() == "Write names to XMP…"]
    action.trigger()
    qtbot.waitUntil(lambda: getattr(w, "names_report", None) is not None, timeout=WAIT)
    box = w.names_report
    qtbot.waitExposed(box)
    box.grab().save(str(SHOTS / "xmp-02-report.png"))
    assert box.text() == "2 photos: 1 new sidecar, 1 left alone"
    assert "dima.jpg: dima.xmp would be shared with dima.cr2" in box.detailedText()
    assert w.message.text() == box.text()
    [region] = read_regions(album / "zoe.jpg", *stored_geometry(str(album / "zoe.jpg")))
    assert region.name == "Zoë Kowalski" and region.source == "digiKam sidecar"  # still its own sidecar first
    assert [r.name for r in read_regions(album / "zoe.xmp", *stored_geometry(str(album / "zoe.jpg")))] == [
        "Zoë Kowalski"]
    assert not (album / "dima.xmp").exists()
    assert {p.name: digest(p) for p in album.glob("*.jpg")} == photos
    box.close()
    w.close()
