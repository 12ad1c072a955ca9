"""Settings: the CLIP model (with its size and speed), the library location, video sampling and face thresholds."""
from __future__ import annotations

import logging

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox, QWidget)

from core.clip.hub import published

log = logging.getLogger(__name__)

# Ready-made ONNX exports (no conversion needed), each with its download size (core.clip.hub) and its speed in
# photos per second on two cores: the default's measured here, the others estimated from their compute — to help
# choose, not promises.
_CHOICES = [
    ("ViT-B-32-256:datacomp_s34b_b86k", "ViT-B/32-256 DataComp (default)", "~15 photos/s on 2 cores, measured"),
    ("ViT-B-32:laion2b_s34b_b79k", "ViT-B/32 LAION-2B", "~18 photos/s on 2 cores, estimated"),
    ("ViT-B-32:openai", "ViT-B/32 OpenAI", "~18 photos/s on 2 cores, estimated"),
    ("ViT-B-16:openai", "ViT-B/16 OpenAI", "~5 photos/s on 2 cores, estimated; finds more"),
    ("ViT-L-14:openai", "ViT-L/14 OpenAI", "~1 photo/s on 2 cores, estimated; for a GPU or patience"),
]


def _size(spec: str) -> str:
    source = published(spec)
    mb = source.megabytes if source else 0
    return f"about {mb / 1000:.1f} GB" if mb >= 1000 else f"about {mb} MB"


def model_name(spec: str) -> str:
    """A model as people read it ("ViT-B/32-256 DataComp"), its id in Settings' list of choices; else the id."""
    return next((name.replace(" (default)", "") for s, name, _ in _CHOICES if s == spec), spec)


MODELS = [(spec, f"{name} — {_size(spec)}, {speed}") for spec, name, speed in _CHOICES] + [
    ("tiny-test", "tiny-test — random weights: for tests only, useless for search")]


def _research_tools() -> bool:
    """Whether torch and open_clip are installed (`pip install 'idlens[research]'`), without importing them."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("torch", "open_clip"))


class SettingsDialog(QDialog):
    def __init__(self, settings, library_dir: str, model_spec: str, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Idlens settings")
        self.settings = settings
        form = QFormLayout(self)
        self.model = QComboBox(self)
        self.model.setEditable(True)
        for spec, label in MODELS:
            if spec == "tiny-test" and not _research_tools():
                continue  # made by converting a random open_clip model: needs the research extra (torch)
            self.model.addItem(label, spec)
        i = self.model.findData(model_spec)
        if i >= 0:
            self.model.setCurrentIndex(i)
        else:
            self.model.setEditText(model_spec)
        form.addRow("CLIP model", self.model)
        form.addRow("", QLabel("Weights download once, on first use, into your data folder.\n"
                               "Changing the model re-embeds the library (names and faces stay)."))
        row = QWidget(self)
        h = QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        self.library = QLineEdit(library_dir, self)
        browse = QPushButton("Choose…", self)
        browse.clicked.connect(self._choose)
        h.addWidget(self.library, 1)
        h.addWidget(browse)
        form.addRow("Library folder", row)
        self.interval = QDoubleSpinBox(self, minimum=0.5, maximum=60.0, singleStep=0.5, suffix=" s")
        self.interval.setValue(settings.video_interval)
        form.addRow("Video: one frame every", self.interval)
        self.max_frames = QSpinBox(self, minimum=10, maximum=5000)
        self.max_frames.setValue(settings.video_max_frames)
        form.addRow("Video: at most frames", self.max_frames)
        self.face_size = QDoubleSpinBox(self, minimum=8, maximum=400, decimals=0, suffix=" pixels")
        self.face_size.setValue(settings.face_min_size)
        self.face_size.setToolTip("Faces smaller than this (the short side of the face, in the photo) are left out: "
                                  "too small to tell who they are.")
        form.addRow("Faces: ignore smaller than", self.face_size)
        self.face_match = QDoubleSpinBox(self, minimum=0.2, maximum=0.9, singleStep=0.02, decimals=2)
        self.face_match.setValue(settings.face_match)
        self.face_match.setToolTip("How alike two faces must be to be put together as one person (0.2 loose – 0.9 "
                                   f"strict; default {type(settings)().face_match:.2f}). Stricter: fewer wrong "
                                   "people, more faces left for you to review.")
        form.addRow("Faces: how alike for one person", self.face_match)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _choose(self):
        folder = QFileDialog.getExistingDirectory(self, "Library folder", self.library.text())
        if folder:
            self.library.setText(folder)

    def model_spec(self) -> str:
        data = self.model.currentData()
        text = self.model.currentText()
        return data if data and self.model.itemText(self.model.currentIndex()) == text else text.strip()

    def apply(self) -> None:
        s = self.settings
        s.video_interval = self.interval.value()
        s.video_max_frames = self.max_frames.value()
        s.face_min_size = self.face_size.value()
        s.face_match = s.face_cluster = self.face_match.value()
