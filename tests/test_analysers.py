"""The index's analysers (core.analysers): each picture decoded once and handed to every registered analyser; an
analyser that fails on a file costs that file only this analyser's result, never its place in search or the other
analysers' results. Real photos with faces (tests/data/faces), a real PyAV video, the real face backend."""
from __future__ import annotations

import shutil
from contextlib import nullcontext

import core.indexer as indexer
from core.analysers import Faces, Outcome
from core.indexer import IndexJob
from core.store import INDEXED
from tests import media_factory as mf
from tests.conftest import ROOT

FACES = ROOT / "tests" / "data" / "faces"


class Broken:
    """An analyser of the registry's shape that fails on every file, a photo's or a video's, at a different step."""
    name = "broken"
    detail = 640  # asks for a detailed picture too: the decode serves the largest any analyser asks for

    def __init__(self):
        self.stored: dict[str, Outcome] = {}
        self.frames = 0

    def wants(self, media):
        return True

    def running(self):
        return nullcontext()

    def photo(self, media, image):
        assert max(image.detail.size) <= 1024  # the faces' detail (larger than ours) was decoded once, for both
        raise ValueError("no regions here")

    def video(self, media):
        analyser = self

        class Hooks:
            def frame(self, t, image):
                analyser.frames += 1

            def sample(self, frame):
                pass

            def finish(self, video):
                raise RuntimeError("lost the sidecar")

            def cancel(self):
                pass

        return Hooks()

    def store(self, media, outcome):
        self.stored[media.path] = outcome
        return {}


def test_a_failing_analyser_costs_only_its_own_result(make_library, tmp_path, monkeypatch):
    folder = tmp_path / "media"
    folder.mkdir()
    for name in ("person_a_1.jpg", "person_b_1.jpg"):
        shutil.copy(FACES / name, folder / name)
    video = mf.video(folder / "clip.mp4", [1, 2], scene_seconds=2.0, fps=5, size=(320, 240))
    broken = Broken()
    registered = indexer.analysers_for
    monkeypatch.setattr(indexer, "analysers_for", lambda lib, stage: [*registered(lib, stage), broken])
    decodes = []
    real = indexer.decode_image
    monkeypatch.setattr(indexer, "decode_image", lambda path, *a, **k: decodes.append(path) or real(path, *a, **k))
    lib = make_library()
    job = IndexJob(lib, [str(folder)])
    for _ in job.run():
        pass

    rows = {m.path: m for m in lib.catalog.media.all()}
    assert len(rows) == 3 and all(m.status == INDEXED and m.error is None for m in rows.values())
    assert len(lib.index.labels) == len(lib.catalog.items.labels_of(rows[str(video)].id)) + 2  # all searchable
    # The other analysers' results are all there: thumbnails, and every photo's faces with no face error.
    for m in rows.values():
        assert lib.thumbnails.get(m.fingerprint) is not None
        assert m.faces_backend == lib.face_backend.name and m.faces_error is None
    assert all(lib.catalog.faces.in_media(rows[str(folder / n)].id) for n in ("person_a_1.jpg", "person_b_1.jpg"))
    # The failure is the broken analyser's outcome for each file, in its own words; each photo decoded once.
    assert sorted(broken.stored) == sorted(rows)
    assert all(o.value is None and o.error for o in broken.stored.values())
    assert broken.stored[str(video)].detail == "RuntimeError: lost the sidecar" and broken.frames > 0
    assert broken.stored[str(folder / "person_a_1.jpg")].detail == "ValueError: no regions here"
    assert sorted(decodes) == sorted(str(folder / n) for n in ("person_a_1.jpg", "person_b_1.jpg"))
    assert job.report.face_errors == 0 and job.report.errors == 0


def test_faces_are_one_analyser_among_others(make_library):
    lib = make_library()
    names = [a.name for a in indexer.analysers_for(lib, lambda name: nullcontext())]
    # Thumbnails first (a grid fills while faces are still looked for); the names other apps wrote after the faces,
    # whose boxes they are matched to.
    assert names == ["thumbnails", "faces", "regions"]
    assert isinstance(indexer.analysers_for(lib, lambda name: nullcontext())[1], Faces)
