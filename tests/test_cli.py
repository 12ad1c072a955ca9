"""The `idlens` command as a user runs it: a real process, real files, the tiny-test model."""
import datetime
import json
import os
import subprocess
import sys

import pytest
from pathlib import Path

from tests import media_factory as mf
from tests.conftest import ROOT


def idlens(*args, env_extra=None, check=True):
    env = dict(os.environ, IDLENS_MODEL="tiny-test", PYTHONPATH=str(ROOT))
    env.update(env_extra or {})
    proc = subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"idlens {args} exited {proc.returncode}:\n{proc.stderr}")
    return proc


@pytest.fixture
def library_dir(tmp_path):
    return str(tmp_path / "lib")


def test_index_search_list_status_errors_forget(library_dir, photos, tmp_path):
    (photos / "bad.png").write_bytes(b"not a png")
    mf.video(photos / "clip.mp4", [7, 8], scene_seconds=2.0)
    file_date = int(datetime.datetime(2020, 2, 2, 12, 0, 0).timestamp())
    os.utime(photos / "photo2.jpg", (file_date, file_date))   # no EXIF: dated by its file
    out = json.loads(idlens("--library", library_dir, "index", str(photos), "--json").stdout)
    assert out["schema"] == 1 and out["new"] == 8 and out["indexed"] == 7 and out["errors"] == 1

    res = json.loads(idlens("--library", library_dir, "search", "--image", str(photos / "photo2.jpg"), "-k", "3",
                            "--json").stdout)
    top = res["results"][0]
    assert top["path"] == str(photos / "photo2.jpg") and top["kind"] == "image"
    assert top["timestamp"] is None and top["score"] == pytest.approx(1.0, abs=1e-3)
    assert (top["captured_at"], top["date"], top["dated_by"]) == (None, "2020-02-02T12:00:00", "file")
    assert len(res["results"]) == 3

    res = json.loads(idlens("--library", library_dir, "search", "people at a party", "--json").stdout)
    assert res["results"] and all({"path", "kind", "timestamp", "score", "why"} <= r.keys() for r in res["results"])
    assert res["cut_off"] is not None and res["understood"]["context"] == "people at a party"
    res = json.loads(idlens("--library", library_dir, "search", "videos of a party", "--json").stdout)
    assert [r["kind"] for r in res["results"]] == ["video"] and res["understood"]["kind"] == "video"
    video = res["results"][0]
    assert isinstance(video["timestamp"], float) and video["moments"]

    listing = json.loads(idlens("--library", library_dir, "list", "--json").stdout)["media"]
    assert len(listing) == 8 and {m["status"] for m in listing} == {"indexed", "error"}
    assert all({"path", "kind", "status", "captured_at", "date", "dated_by"} <= m.keys() for m in listing)
    dated = next(m for m in listing if m["path"] == str(photos / "photo2.jpg"))
    assert (dated["captured_at"], dated["date"], dated["dated_by"]) == (None, "2020-02-02T12:00:00", "file")

    status = json.loads(idlens("--library", library_dir, "status", "--json").stdout)
    assert status["media"]["image"] == {"indexed": 6, "error": 1} and status["test_model"] is True
    assert status["vectors"] >= 8 and status["roots"] == [str(photos)]

    errors = json.loads(idlens("--library", library_dir, "errors", "--json").stdout)["errors"]
    assert [e["path"] for e in errors] == [str(photos / "bad.png")]
    assert errors[0]["error"] == "not a photo Idlens can read (it is a text file)"
    assert "cannot identify image file" in errors[0]["detail"]
    assert "bad.png: not a photo Idlens can read (it is a text file)" in idlens("--library", library_dir,
                                                                                  "errors").stdout

    forgot = json.loads(idlens("--library", library_dir, "forget", str(photos / "clip.mp4"), "--json").stdout)
    assert forgot == {"schema": 1, "forgotten": 1}
    assert (photos / "clip.mp4").exists()

    # Re-scan of the remembered folders: nothing new to embed; and the output is plain when piped.
    again = idlens("--library", library_dir, "index")
    assert "indexed 0 files" in again.stdout and "\r" not in again.stderr


def test_unusable_arguments_fail_in_one_line(library_dir, tmp_path):
    for args, code in [(("index", str(tmp_path / "nope")), 1), (("search",), 2), (("frobnicate",), 2),
                       (("search", "x", "-k", "0"), 2), (("search", "--image", str(tmp_path / "nope.jpg")), 1)]:
        proc = idlens("--library", library_dir, *args, check=False)
        assert proc.returncode == code, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("idlens: error:"), proc.stderr
        assert "Traceback" not in proc.stderr


def test_missing_weights_offline_give_one_clear_message(library_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    idlens("--library", library_dir, "index", str(tmp_path / "empty"))  # a library, no model chosen by vectors yet
    proc = idlens("--library", library_dir, "--model", "ViT-B-32:datacomp_xl_s13b_b90k", "search", "a dog",
                  env_extra={"IDLENS_MODEL": ""}, check=False)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "not downloaded yet" in proc.stderr and "Traceback" not in proc.stderr


def test_model_mismatch_is_refused(library_dir, photos):
    idlens("--library", library_dir, "index", str(photos))
    proc = idlens("--library", library_dir, "--model", "ViT-B-32:laion2b_s34b_b79k", "search", "x", check=False)
    assert proc.returncode == 1 and "reembed" in proc.stderr and "Traceback" not in proc.stderr


def test_ctrl_c_stops_cleanly_and_keeps_what_is_done(library_dir, tmp_path):
    import signal
    import sqlite3
    import time

    folder = tmp_path / "many"
    for i in range(400):
        mf.photo(folder / f"p{i:03}.jpg", 2000 + i, size=(640, 480))
    env = dict(os.environ, IDLENS_MODEL="tiny-test", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "app", "--library", library_dir, "index", str(folder)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    db = os.path.join(library_dir, "catalog.db")
    deadline = time.time() + 120
    indexed = 0
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(db):
            try:
                conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
                indexed = conn.execute("SELECT count(*) FROM media WHERE status='indexed'").fetchone()[0]
                conn.close()
            except sqlite3.OperationalError:
                pass
        if indexed:
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.02)
    out, err = proc.communicate(timeout=120)
    assert indexed, "indexing never started"
    assert proc.returncode == 130, err  # saved, and said so by the exit status
    assert "Traceback" not in err and "stopped early" in err
    status = json.loads(idlens("--library", library_dir, "status", "--json").stdout)["media"]["image"]
    kept = status.get("indexed", 0)
    assert 0 < kept < 400 and kept + status.get("pending", 0) == 400
    report = json.loads(idlens("--library", library_dir, "index", "--json").stdout)
    assert report["indexed"] == 400 - kept
    final = json.loads(idlens("--library", library_dir, "status", "--json").stdout)
    assert final["media"]["image"] == {"indexed": 400} and final["vectors"] == 400


def test_people_commands_end_to_end(library_dir, tmp_path):
    import shutil

    faces = ROOT / "tests" / "data" / "faces"
    album = tmp_path / "album"
    shutil.copytree(faces, album, ignore=shutil.ignore_patterns("*.md"))
    idlens("--library", library_dir, "index", str(album))
    people = json.loads(idlens("--library", library_dir, "people", "list", "--json").stdout)["people"]
    assert len(people) == 2 and all(p["name"] is None and p["media"] == 2 for p in people)

    # Name one group from a reference photo kept outside the library, the other by id.
    added = json.loads(idlens("--library", library_dir, "people", "add", "Jacinda Ardern", "--photo",
                              str(faces / "person_b_2.jpg"), "--json").stdout)
    assert added["person"]["name"] == "Jacinda Ardern" and added["person"]["media"] == 2
    other = next(p for p in json.loads(idlens("--library", library_dir, "people", "list", "--json").stdout)["people"]
                 if p["name"] is None)
    idlens("--library", library_dir, "people", "name", str(other["id"]), "Emmanuel")
    # The same man years apart (0.54) may be below the bar of naming a group's core: then he is the first face
    # offered for review, and the user says yes.
    emmanuel = json.loads(idlens("--library", library_dir, "people", "list", "--json").stdout)["people"]
    if next(p for p in emmanuel if p["name"] == "Emmanuel")["media"] == 1:
        offered = json.loads(idlens("--library", library_dir, "people", "suggest", "Emmanuel", "--json").stdout)
        idlens("--library", library_dir, "people", "move", str(offered["suggestions"][0]["face_id"]), "Emmanuel")

    res = json.loads(idlens("--library", library_dir, "search", "jacinda ardern", "--json").stdout)
    assert [Path(r["path"]).name for r in res["results"]][:2] in (
        ["person_b_2.jpg", "person_b_1.jpg"], ["person_b_1.jpg", "person_b_2.jpg"])
    assert len(res["results"]) == 2 and res["results"][0]["kind"] == "image"

    faces_of = json.loads(idlens("--library", library_dir, "people", "faces", "Emmanuel", "--json").stdout)["faces"]
    face = faces_of[0]["id"]
    idlens("--library", library_dir, "people", "reject", str(face), "Emmanuel")
    assert json.loads(idlens("--library", library_dir, "people", "list", "--json").stdout)["people"][0]["media"] == 1
    suggestions = json.loads(idlens("--library", library_dir, "people", "suggest", "Emmanuel", "--json").stdout)
    assert face not in [s["face_id"] for s in suggestions["suggestions"]]

    export = tmp_path / "people.json"
    idlens("--library", library_dir, "people", "export", str(export))
    data = json.loads(export.read_text())
    assert {p["name"] for p in data["people"]} == {"Emmanuel", "Jacinda Ardern"}

    bad = idlens("--library", library_dir, "people", "merge", "Nobody", "Emmanuel", check=False)
    assert bad.returncode == 1 and bad.stderr.startswith("idlens: error: no person")
    human = idlens("--library", library_dir, "people", "list").stdout
    assert "Emmanuel" in human and "Jacinda Ardern" in human


def test_a_second_writer_is_refused_with_a_message_and_readers_keep_working(library_dir, photos):
    from core.lock import WriteLock

    idlens("--library", library_dir, "index", str(photos))
    with WriteLock(Path(library_dir), "indexing (the desktop app)"):  # another program holds the library
        busy = idlens("--library", library_dir, "index", str(photos), check=False)
        assert busy.returncode == 1 and "another Idlens is indexing (the desktop app)" in busy.stderr
        assert len(busy.stderr.strip().splitlines()) == 1
        naming = idlens("--library", library_dir, "people", "recluster", check=False)
        assert naming.returncode == 1 and "another Idlens" in naming.stderr
        reader = idlens("--library", library_dir, "search", "--image", str(photos / "photo1.jpg"), "--json")
        assert json.loads(reader.stdout)["results"][0]["path"].endswith("photo1.jpg")
        assert idlens("--library", library_dir, "status", "--json").returncode == 0
    idlens("--library", library_dir, "index")  # free again


def test_a_text_search_loads_no_image_or_video_decoder(library_dir, photos):
    """A cold search is what a user waits for most often: it must not import Pillow and libheif (34 ms), FFmpeg
    (70 ms) or OpenCV, which only decoding and face analysis need. Read from the real process's -X importtime."""
    idlens("--library", library_dir, "index", str(photos))
    proc = idlens("--library", library_dir, "search", "a beach", "-k", "6", env_extra={"PYTHONPROFILEIMPORTTIME": "1"})
    assert "beach.png" in proc.stdout  # it did search (all six photos listed)
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "core.search.ranking" in imported and "onnxruntime" in imported  # the log is read right
    assert not {m.split(".")[0] for m in imported} & {"PIL", "pillow_heif", "av", "cv2"}
