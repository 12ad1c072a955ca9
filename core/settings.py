"""Where Idlens keeps its files, and the typed settings of one library.

Every option is declared once here (Picard's lesson): the CLI, the GUI and the engine read the same dataclass.
Settings belong to a library (``<library>/settings.json``) so that two libraries can use two models.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

log = logging.getLogger(__name__)

APP_NAME = "idlens"

# ViT-B-32 at 256 px trained on DataComp (open_clip's table: 72.8 % ImageNet zero-shot, level with the best B-32
# tag, datacomp_xl_s13b_b90k, at 72.7 %), and published as a ready ONNX export (rclip's model repository), so the
# default install needs no torch. 64 patches instead of 49: about 1.3x the image tower's work of a 224-px B-32.
DEFAULT_MODEL = "ViT-B-32-256:datacomp_s34b_b86k"


def default_library_dir() -> Path:
    return Path(os.environ.get("IDLENS_LIBRARY") or platformdirs.user_data_path(APP_NAME) / "library")


def cache_dir() -> Path:
    """Thumbnails live here: the OS may clear it, and Idlens rebuilds them from the media."""
    return Path(os.environ.get("IDLENS_CACHE") or platformdirs.user_cache_path(APP_NAME))


def models_dir() -> Path:
    """Downloaded CLIP weights, shared by all libraries of this user."""
    return Path(os.environ.get("IDLENS_MODELS") or platformdirs.user_data_path(APP_NAME) / "models")


@dataclass
class Settings:
    # "name:pretrained-tag", "name:/path/to/checkpoint.pt" or "tiny-test" (random weights, for tests only).
    model: str = DEFAULT_MODEL
    # Video sampling: one frame every `video_interval` seconds, plus scene changes, never more than
    # `video_max_frames` per video (a 2-hour film then gets one frame every ~24 s instead of 3600 frames).
    video_interval: float = 2.0
    video_max_frames: int = 300
    # A sampled frame whose content differs this much (0..1, mean absolute difference of a tiny grey image)
    # from the previous sample marks a scene change worth its own frame.
    video_scene_threshold: float = 0.12
    batch_size: int = 16
    # 0 = all cores. Decoding threads run beside the model threads.
    threads: int = 0
    decode_workers: int = 2
    # "onnx-int8": CLIP's towers with int8 weights where the model's install found them within cosine 0.99 of fp32
    # on the calibration set (the image tower 2.3x faster here); "onnx-fp32": always fp32.
    image_encoder: str = "onnx-int8"
    # Photos and video frames are decoded with their short side at least this (CLIP's input and the thumbnail are
    # made from that one decode; JPEG draft mode decodes no more pixels than this needs).
    decode_min_side: int = 256
    # Faces. Detection runs on a copy of each photo or frame whose long side is at most `face_detail`.
    faces: bool = True
    face_backend: str = "yunet-sface"  # detector + recogniser, by their name in core.registry
    face_detail: int = 1024
    # Names other apps (digiKam, Lightroom, Picasa, Windows) gave faces in XMP, read on every index (by ExifTool).
    read_face_regions: bool = True
    # A face founds or joins a person only if it is big, certain and sharp enough; others are kept (they still
    # show in their photo) but background crowds do not flood the people list. Measured on faces-dev: the blurred
    # bystanders of img54 have sharpness 5-10, the 12-px face of img55 score 0.69; every labelled face passes.
    face_min_size: float = 32.0        # short side of the box, in pixels of the detection image
    face_min_score: float = 0.75
    face_min_sharpness: float = 20.0   # variance of the Laplacian of the aligned 112x112 crop
    # SFace cosine similarities. faces-dev: same person 0.53-0.89, different people at most 0.35.
    face_match: float = 0.42           # a face joins a person whose nearest face is at least this similar
    face_cluster: float = 0.42         # average-linkage threshold when new people form
    face_min_cluster: int = 2          # faces needed before an unnamed person appears
    face_track_match: float = 0.5      # consecutive video frames: same track if at least this similar
    # Naming is stricter than grouping: a face joins a *named* person on its own only with strong evidence from the
    # faces the user confirmed as them (never from faces placed automatically). Measured by `python -m bench faces`
    # on every labelled face available offline: different people at most 0.38, the same person at least 0.52; a
    # stranger was seen at 0.45 on real photos. So: nearest confirmed face >= face_name_auto, and a second
    # confirmed face >= face_name_support (or, with a single confirmed face, >= face_name_sole), and a lead of
    # face_name_margin over anyone else. Weaker matches above face_suggest_floor are offered for review instead.
    face_name_auto: float = 0.50
    face_name_support: float = 0.40
    face_name_sole: float = 0.60
    face_name_margin: float = 0.10
    face_suggest_floor: float = 0.40   # above every impostor pair measured (0.38), below every genuine one (0.43)
    # Scanning stays inside the library's folders: a symbolic link (to a folder or a file) is followed only when its
    # target is inside one of them. True follows links anywhere (still never into /proc, /sys or /dev; each folder
    # once, so no loop).
    follow_links: bool = False
    # A trained Id-CLIP translator (idlens idclip use CKPT): queries naming people then also get an Id-CLIP score.
    idclip_checkpoint: str | None = None
    # Where the search vectors are cached (the catalog holds them all either way): "hnsw", an HNSW graph in RAM,
    # fastest and fine to a few million vectors (~2.2 KB a 512-d vector); "lance", a LanceDB table on disk with an
    # IVF-PQ index, for archives whose graph would not fit in RAM (needs `pip install 'idlens[archive]'`).
    # Changing it rebuilds the chosen store from the catalog on the next search.
    vector_store: str = "hnsw"

    @classmethod
    def load(cls, path: Path) -> "Settings":
        """The settings in `path`; missing ones take their defaults. A damaged file or a value of the wrong type is
        logged and replaced by the default: Idlens runs on defaults rather than not at all."""
        settings, problems = cls.read(path)
        for problem in problems:
            log.warning("%s", problem)
        return settings

    @classmethod
    def read(cls, path: Path) -> tuple["Settings", list[str]]:
        """The settings in `path` and what was wrong with them (`idlens doctor` lists it)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(), []
        except (OSError, ValueError) as e:
            return cls(), [f"ignoring unreadable settings {path}: {e}"]
        if not isinstance(data, dict):
            return cls(), [f"ignoring settings {path}: not a JSON object"]
        for old, new in RENAMED.items():
            if old in data and new not in data:
                data[new] = data.pop(old)
        settings = cls()
        problems = []
        for name, value in data.items():
            if name not in FIELDS:
                continue
            try:
                setattr(settings, name, _checked(name, value))
            except SettingsError as e:
                problems.append(f"{path}: {e}; using the default {getattr(settings, name)!r}")
        return settings, problems

    def validate(self) -> None:
        """Raise SettingsError naming the first value that has the wrong type or is out of range."""
        for name in FIELDS:
            _checked(name, getattr(self, name))

    def save(self, path: Path) -> None:
        self.validate()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(self), indent=2), encoding="utf-8")
        os.replace(tmp, path)


class SettingsError(ValueError):
    pass


FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
RENAMED = {"thumbnail_size": "decode_min_side"}  # settings.json written by older versions
_TYPES: dict[str, type | tuple[type, ...]] = {"str": str, "int": int, "float": float, "bool": bool,
                                              "str | None": (str, type(None))}
# Allowed ranges, inclusive (a float must also be finite: NaN and infinity are refused everywhere). Similarities
# are cosines read as 0..1; the caps keep a typo from sampling every frame of a video or exhausting memory.
_SIMILARITY = (0.0, 1.0)
_RANGES: dict[str, tuple[float, float]] = {
    "video_interval": (0.1, 86400.0), "video_max_frames": (1, 100_000), "video_scene_threshold": _SIMILARITY,
    "batch_size": (1, 1024), "threads": (0, 1024), "decode_workers": (1, 64), "decode_min_side": (1, 8192),
    "face_detail": (64, 16384), "face_min_size": (0.0, 10000.0), "face_min_score": _SIMILARITY,
    "face_min_sharpness": (0.0, 1e7), "face_match": _SIMILARITY, "face_cluster": _SIMILARITY,
    "face_min_cluster": (1, 100_000), "face_track_match": _SIMILARITY, "face_name_auto": _SIMILARITY,
    "face_name_support": _SIMILARITY, "face_name_sole": _SIMILARITY, "face_name_margin": _SIMILARITY,
    "face_suggest_floor": _SIMILARITY,
}
_CHOICES = {"image_encoder": ("onnx-int8", "onnx-fp32", "torch"),  # "torch": an older name for fp32
            "vector_store": ("hnsw", "lance")}  # core.clip.stores


def _checked(name: str, value):
    """`value` as setting `name` takes it (an int is a fine float), or SettingsError."""
    kind = _TYPES[str(FIELDS[name].type)]  # the annotation as written (annotations are strings here)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise SettingsError(f"setting {name} must be {FIELDS[name].type}, not {value!r}")
    low, high = _RANGES.get(name, (0, None))
    allowed = f"from {low:g} to {high:g}" if high is not None else f"{low:g} or more"
    if isinstance(value, float) and not math.isfinite(value):
        raise SettingsError(f"setting {name} must be a finite number {allowed}, not {value!r}")
    if (isinstance(value, (int, float)) and not isinstance(value, bool)
            and (value < low or (high is not None and value > high))):
        raise SettingsError(f"setting {name} must be {allowed}, not {value!r}")
    if name in _CHOICES and value not in _CHOICES[name]:
        raise SettingsError(f"setting {name} must be one of {', '.join(_CHOICES[name])}, not {value!r}")
    return value
