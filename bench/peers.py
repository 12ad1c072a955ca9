"""Idlens beside its closest peer, rclip 3.3.0 (CLIP photo search from the command line, on ONNX Runtime): the same
jobs on the same machine in the same run, the two tools alternating, medians.

  python -m bench peers [--quick] [--json] [--rounds 3] [--big-rounds 1] [--photos 100] [--install | --no-install]

Jobs (both CLIs run as new processes, as a user runs them):
  cold search    a text search on an indexed library, new process to the first result on stdout, and that
                 process's peak RSS (rclip: `rclip -n -t 20 QUERY` in the photo folder, -n = do not re-index)
  small job      8 photos into an empty library, then a search (Idlens: `index` then `search`, default settings,
                 faces on; rclip: `rclip -t 20 QUERY`, which indexes the folder then searches)
  100 photos     indexing, faces off: wall seconds and CPU seconds (rclip has no index-only command; its
                 `init_rclip()`, the indexing step of its CLI, runs alone in a new process)
  100 photos     Idlens with faces on beside rclip's time above: rclip finds no faces
  install_mb     a fresh venv + `pip install .` of this repo (no extras) beside a fresh venv + `pip install
                 rclip==3.3.0`; measured once per pyproject.toml (cached), `--install` builds it in --quick too

Models: both run ViT-B-32-256 with random weights (speed does not depend on the values; nothing is downloaded).
rclip gets an ONNX export in its own layout and names (scripts/convert_model.py of rclip: `visual.onnx` and
`textual.onnx`, opset 18, input "input" float32 [N,3,256,256] / int64 [N,77], output "output" [N,512]) in
RCLIP_DATADIR; Idlens gets `ViT-B-32-256:random`, prepared by `idlens model install` (or, without that command,
by a warm-up index) in a models folder of the run, so that no timed run prepares a model.

Photos: 12-MP JPEGs (4000x3000, ~3 MB: gradients, shapes, stripes, noise; every other one holds a face from
tests/data/faces), generated once into the bench cache (~/.cache/idlens-bench, or IDLENS_BENCH_CACHE). Every run
has its own library folder, cache folder and rclip data folder; nothing of the user's own folders is read or
written. rclip is installed into its own venv in the bench cache; if it cannot be, only Idlens is measured.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # tests.media_factory, in this process and the photo generator's workers
    sys.path.insert(0, str(ROOT))

RCLIP_VERSION = "3.3.0"
RCLIP_MODEL_SUBDIR = "ViT-B-32-256-datacomp_s34b_b86k"  # rclip/model_download.py MODEL_SUBDIR
RCLIP_TOKENIZER = "tokenizer/bpe_simple_vocab_16e6.txt.gz"
RCLIP_INDEX_ONLY = ("import os\nfrom rclip.main import init_rclip\n"
                    "rclip, model, db = init_rclip(os.getcwd(), 8)\nrclip.close(); model.close(); db.close()\n")
IDLENS_MODEL = "ViT-B-32-256:random"
QUERY = "a dog on the beach"
TOP = 20  # results asked of both (Idlens's default)
PHOTO_SIZE = (4000, 3000)
PHOTOS_VERSION = "v1"  # bump when the generated photos change
INSTALL_TARGET_MB = 1024
RSS_MARGIN_MB = 100


# ---------------------------------------------------------------------------------------------------------- setup

def cache_root() -> Path:
    return Path(os.environ.get("IDLENS_BENCH_CACHE") or Path.home() / ".cache" / "idlens-bench")


def _face_photos() -> list[Path]:
    return sorted((ROOT / "tests" / "data" / "faces").glob("*.jpg"))


def _photo(args: tuple[str, int, tuple[int, int]]) -> None:
    """One 12-MP photo: shapes and stripes of the seed (tests/media_factory) on a gradient, with grain, and on odd
    seeds a face photo pasted in. Written under a temporary name, then renamed: never half a file."""
    path, seed, (w, h) = args
    import numpy as np
    from PIL import Image

    from tests import media_factory as mf

    rng = np.random.default_rng(seed)
    base = mf.picture(seed, (w // 4, h // 4)).resize((w, h), Image.BILINEAR)
    faces = _face_photos()
    if seed % 2 and faces:
        face = Image.open(faces[(seed // 2) % len(faces)]).convert("RGB")
        fh = int(h * rng.uniform(0.25, 0.45))
        face = face.resize((max(1, face.width * fh // face.height), fh), Image.BICUBIC)
        base.paste(face, (int(rng.integers(0, max(1, w - face.width))), int(rng.integers(0, max(1, h - fh)))))
    gx = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    gy = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    grad = (gx * rng.uniform(-60, 60, 3).astype(np.float32) + gy * rng.uniform(-60, 60, 3).astype(np.float32))
    tile = rng.integers(-12, 13, (509, 617, 3), dtype=np.int16)  # grain: real photos' JPEGs are 2-5 MB, not 0.5
    noise = np.tile(tile, (h // 509 + 1, w // 617 + 1, 1))[:h, :w]
    img = np.asarray(base, dtype=np.int16) + grad.astype(np.int16) + noise
    tmp = Path(path).with_suffix(".part")
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(tmp, format="JPEG", quality=90)
    os.replace(tmp, path)


def ensure_photos(n: int, size: tuple[int, int] = PHOTO_SIZE) -> Path:
    """The cached folder holding at least `n` generated photos (made on first use, on every core)."""
    folder = cache_root() / f"photos-{PHOTOS_VERSION}-{size[0]}x{size[1]}"
    folder.mkdir(parents=True, exist_ok=True)
    todo = [(str(folder / f"IMG_{i:05}.jpg"), i, size) for i in range(n)
            if not (folder / f"IMG_{i:05}.jpg").is_file()]
    if todo:
        _log(f"generating {len(todo)} photos of {size[0]}x{size[1]} into {folder} (once)")
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            list(pool.map(_photo, todo))
    return folder


def photo_set(source: Path, n: int, dest: Path) -> Path:
    """A folder of the first `n` cached photos (hard links where the disk allows, else copies)."""
    dest.mkdir(parents=True)
    for i in range(n):
        src = source / f"IMG_{i:05}.jpg"
        try:
            os.link(src, dest / src.name)
        except OSError:
            shutil.copy2(src, dest / src.name)
    return dest


def _base_python() -> str:
    return getattr(sys, "_base_executable", None) or sys.executable


def du_mb(path: Path) -> float:
    """Disk usage in MiB, as `du -s` counts it (hard links once)."""
    try:
        out = subprocess.run(["du", "-sk", str(path)], capture_output=True, text=True, check=True).stdout
        return round(int(out.split()[0]) / 1024, 1)
    except (OSError, subprocess.CalledProcessError, ValueError):
        seen, total = set(), 0
        for p in Path(path).rglob("*"):
            st = p.lstat()
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
        return round(total / 2**20, 1)


def ensure_rclip() -> dict:
    """rclip in its own venv in the bench cache (reused when present): {"python", "rclip", "install_mb"}, or
    {"error": why}. install_mb is the fresh venv's size, measured right after `pip install`."""
    venv = cache_root() / f"rclip-{RCLIP_VERSION}-venv"
    marker = venv / "idlens-bench.json"
    if marker.is_file():
        info = json.loads(marker.read_text())
        if Path(info["rclip"]).is_file():
            return info
    shutil.rmtree(venv, ignore_errors=True)
    _log(f"installing rclip {RCLIP_VERSION} into {venv} (once)")
    try:
        subprocess.run([_base_python(), "-m", "venv", str(venv)], check=True, capture_output=True, text=True,
                       timeout=300)
        pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-input",
                              f"rclip=={RCLIP_VERSION}"], capture_output=True, text=True, timeout=1200)
    except (OSError, subprocess.SubprocessError) as e:
        shutil.rmtree(venv, ignore_errors=True)
        return {"error": f"could not create rclip's venv: {e}"}
    if pip.returncode != 0 or not (venv / "bin" / "rclip").is_file():
        shutil.rmtree(venv, ignore_errors=True)
        return {"error": f"pip install rclip=={RCLIP_VERSION} failed: {_tail(pip.stdout + pip.stderr, 600)}"}
    info = {"python": str(venv / "bin" / "python"), "rclip": str(venv / "bin" / "rclip"), "install_mb": du_mb(venv),
            "pip_python": platform.python_version()}
    versions = subprocess.run([info["python"], "-c", "import onnxruntime, numpy; "
                               "print(onnxruntime.__version__, numpy.__version__)"],
                              capture_output=True, text=True)
    if versions.returncode == 0:
        info["onnxruntime"], info["numpy"] = versions.stdout.split()
    marker.write_text(json.dumps(info, indent=1))
    return info


def export_rclip_model(dest: Path) -> None:
    """ViT-B-32-256 with random weights, exported exactly as rclip's scripts/convert_model.py exports its model
    (TorchScript exporter, opset 18, input "input", output "output", dynamic batch), in rclip's data-dir layout:
    dest/ViT-B-32-256-datacomp_s34b_b86k/{visual,textual}.onnx and dest/tokenizer/bpe_simple_vocab_16e6.txt.gz."""
    import logging
    import warnings

    import open_clip
    import torch

    tmp = dest.with_name(dest.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / RCLIP_MODEL_SUBDIR).mkdir(parents=True)
    (tmp / "tokenizer").mkdir()
    logging.disable(logging.WARNING)  # open_clip: "no pretrained weights loaded", which is the point
    try:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model, _, _ = open_clip.create_model_and_transforms("ViT-B-32-256")
    finally:
        logging.disable(logging.NOTSET)
    model.eval()

    class Visual(torch.nn.Module):
        def __init__(self, visual):
            super().__init__()
            self.visual = visual

        def forward(self, x):
            return self.visual(x)

    class Textual(torch.nn.Module):
        def __init__(self, clip):
            super().__init__()
            self.clip_model = clip

        def forward(self, x):
            return self.clip_model.encode_text(x)

    common = dict(input_names=["input"], output_names=["output"], opset_version=18, dynamo=False,
                  dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    with warnings.catch_warnings():  # not under no_grad: that takes the fused attention ONNX cannot export
        warnings.simplefilter("ignore")
        torch.onnx.export(Visual(model.visual).eval(), (torch.randn(1, 3, 256, 256),),
                          str(tmp / RCLIP_MODEL_SUBDIR / "visual.onnx"), **common)
        torch.onnx.export(Textual(model).eval(), (torch.zeros(1, 77, dtype=torch.long),),
                          str(tmp / RCLIP_MODEL_SUBDIR / "textual.onnx"), **common)
    shutil.copy2(Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz", tmp / RCLIP_TOKENIZER)
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)


def ensure_rclip_model() -> Path:
    from importlib.metadata import version

    dest = cache_root() / f"rclip-model-random-open_clip{version('open_clip_torch')}"
    if not (dest / RCLIP_MODEL_SUBDIR / "textual.onnx").is_file():
        _log(f"exporting a random-weight ViT-B-32-256 in rclip's layout into {dest} (once)")
        proc = subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                               "from bench.peers import export_rclip_model; export_rclip_model(Path(sys.argv[1]))",
                               str(dest)], cwd=ROOT, env=dict(_clean_env(), PYTHONPATH=str(ROOT)),
                              capture_output=True, text=True)
        if proc.returncode != 0:  # in its own process: torch stays out of this one (and its memory)
            raise RuntimeError(_tail(proc.stderr, 600))
    return dest


def rclip_datadir(model: Path, dest: Path) -> Path:
    """An empty rclip data dir (its db.sqlite3 goes here) whose model files link to the shared export."""
    dest.mkdir(parents=True)
    os.symlink(model / RCLIP_MODEL_SUBDIR, dest / RCLIP_MODEL_SUBDIR)
    os.symlink(model / "tokenizer", dest / "tokenizer")
    return dest


# ------------------------------------------------------------------------------------------------------ measuring

class RunFailed(RuntimeError):
    pass


def _tail(text: str, n: int = 1500) -> str:
    text = (text or "").strip()
    return text if len(text) <= n else "…" + text[-n:]


# The child is started by a small wrapper process, not by this one: Linux carries a process's peak RSS across
# exec, so a child forked (or vforked) from this process straight away would report at least this process's
# own peak (hundreds of MB once numpy and friends are in) instead of its own.
WRAPPER = """import json, os, subprocess, sys, time
start = time.time()
t = time.perf_counter()
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
seconds = time.perf_counter() - t
with open(sys.argv[1], "w") as f:
    json.dump({"start": start, "seconds": seconds, "rc": os.waitstatus_to_exitcode(status),
               "cpu_s": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss}, f)
"""


def measure(cmd: list[str], env: dict | None = None, cwd: Path | str | None = None, timeout: float = 1800) -> dict:
    """Run `cmd` as a new process: wall seconds, seconds to the first result line on stdout (a line naming a
    .jpg), CPU seconds (user + system) and peak RSS of the process (and of any children it waited for), from
    wait4's rusage. Raises RunFailed on a non-zero exit."""
    with tempfile.TemporaryFile("w+") as err, tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "rusage.json"
        proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", WRAPPER, str(report), *map(str, cmd)], env=env,
                                cwd=cwd, stdout=subprocess.PIPE, stderr=err, text=True, errors="replace",
                                start_new_session=True)
        first: list[float] = []
        out: list[str] = []

        def read():
            for line in proc.stdout:
                if not first and ".jpg" in line:
                    first.append(time.time())
                out.append(line)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)  # the wrapper and the tool under it
            proc.wait()
        reader.join(10)
        usage = json.loads(report.read_text()) if report.is_file() else None
        if proc.returncode != 0 or usage is None or usage["rc"] != 0:
            err.seek(0)
            raise RunFailed(f"{' '.join(map(str, cmd))} exited {usage['rc'] if usage else proc.returncode}: "
                            f"{_tail(err.read() + ''.join(out))}")
    return {"seconds": round(usage["seconds"], 3),
            "first_result_s": round(first[0] - usage["start"], 3) if first else None,
            "cpu_s": round(usage["cpu_s"], 2), "peak_rss_mb": round(usage["maxrss_kb"] / 1024, 1)}


def chain(*runs: dict) -> dict:
    """Runs one after the other as one job: times and CPU add up, memory is the largest; the first result is
    the last run's, counted from the start of the first."""
    before = sum(r["seconds"] for r in runs[:-1])
    last = runs[-1]["first_result_s"]
    return {"seconds": round(sum(r["seconds"] for r in runs), 3),
            "first_result_s": round(before + last, 3) if last is not None else None,
            "cpu_s": round(sum(r["cpu_s"] for r in runs), 2), "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}


def medians(runs: list[dict]) -> dict:
    out: dict = {"runs": runs}
    for key in ("seconds", "first_result_s", "cpu_s", "peak_rss_mb"):
        values = [r[key] for r in runs if r.get(key) is not None]
        out[key] = round(statistics.median(values), 3) if values else None
    return out


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("IDLENS_", "RCLIP_")) and k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["HF_HUB_OFFLINE"] = "1"  # neither tool may download anything: a missing model file fails loudly
    return env


class Idlens:
    """The `idlens` CLI (`python -m app` of this checkout), every run in folders of its own."""

    def __init__(self, models: Path):
        self.models = models

    def env(self, run: Path) -> dict:
        env = _clean_env()
        env.update(PYTHONPATH=str(ROOT), IDLENS_LIBRARY=str(run / "lib"), IDLENS_CACHE=str(run / "cache"),
                   IDLENS_MODELS=str(self.models), HF_HOME=str(run / "hf"))
        return env

    def __call__(self, run: Path, *args: str) -> dict:
        return measure([sys.executable, "-m", "app", *args], env=self.env(run), cwd=ROOT)

    def has_model_install(self, run: Path) -> bool:
        proc = subprocess.run([sys.executable, "-m", "app", "--help"], env=self.env(run), cwd=ROOT,
                              capture_output=True, text=True)
        if proc.returncode != 0 or "model " not in proc.stdout:
            return False
        proc = subprocess.run([sys.executable, "-m", "app", "model", "--help"], env=self.env(run), cwd=ROOT,
                              capture_output=True, text=True)
        return proc.returncode == 0 and "install" in proc.stdout

    def index(self, run: Path, photos: Path, faces: bool = True) -> dict:
        if not faces:  # a library's settings.json; missing settings take their defaults
            (run / "lib").mkdir(parents=True, exist_ok=True)
            (run / "lib" / "settings.json").write_text(json.dumps({"faces": False}))
        return self(run, "--model", IDLENS_MODEL, "index", str(photos))

    def search(self, run: Path) -> dict:
        return self(run, "search", QUERY, "-k", str(TOP))


class Rclip:
    """The `rclip` CLI of its venv; its database lives in RCLIP_DATADIR, one per run, and it indexes its cwd."""

    def __init__(self, info: dict, model: Path):
        self.info, self.model = info, model

    def env(self, run: Path) -> dict:
        data = run / "rclip-data"
        if not data.exists():
            rclip_datadir(self.model, data)
        env = _clean_env()
        env.update(RCLIP_DATADIR=str(data), HF_HOME=str(run / "hf"))
        return env

    def search(self, run: Path, photos: Path, index: bool = True) -> dict:
        return measure([self.info["rclip"], *([] if index else ["-n"]), "-t", str(TOP), QUERY],
                       env=self.env(run), cwd=photos)

    def index(self, run: Path, photos: Path) -> dict:
        return measure([self.info["python"], "-c", RCLIP_INDEX_ONLY], env=self.env(run), cwd=photos)


# ----------------------------------------------------------------------------------------------------- the bench

def prepare_idlens(idlens: Idlens, tmp: Path, photos: Path) -> str:
    """Prepare the model outside the timed runs: `idlens model install` where it exists, else a warm-up index of
    one photo and a search in a throw-away library (which prepare whatever the first use prepares)."""
    how = "warm-up index"
    if idlens.has_model_install(tmp / "prep"):
        idlens(tmp / "prep", "--model", IDLENS_MODEL, "model", "install")
        how = "idlens model install"
    one = photo_set(photos, 1, tmp / "prep-photos")
    idlens.index(tmp / "warm", one)
    idlens.search(tmp / "warm")
    return how


def run(quick: bool = False, rounds: int | None = None, big_rounds: int | None = None, photos: int | None = None,
        small: int = 8, install: bool | None = None, keep: bool = False) -> dict:
    rounds = rounds or (1 if quick else 3)
    big_rounds = big_rounds or 1
    big = photos or (16 if quick else 100)
    out: dict = {"quick": quick, "rounds": rounds, "big_rounds": big_rounds, "query": QUERY, "top": TOP,
                 "photos": {"size": list(PHOTO_SIZE), "small_job": small, "big_job": big,
                            "faces": "one pasted face photo in every other photo"},
                 "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                             "cpu": platform.processor() or platform.machine()},
                 "idlens_model": IDLENS_MODEL, "rclip_model": f"ViT-B-32-256 random weights, {RCLIP_MODEL_SUBDIR}"}
    source = ensure_photos(max(big, small))
    rinfo = ensure_rclip()
    rclip = None
    if "error" not in rinfo:
        try:
            rclip = Rclip(rinfo, ensure_rclip_model())
        except Exception as e:  # torch/open_clip missing or the export failed: Idlens alone
            rinfo = {"error": f"could not export rclip's model: {type(e).__name__}: {e}"}
    out["rclip"] = {"version": RCLIP_VERSION, "available": rclip is not None, "reason": rinfo.get("error"),
                    "onnxruntime": rinfo.get("onnxruntime")}
    jobs: dict = {}
    out["jobs"] = jobs
    with tempfile.TemporaryDirectory(prefix="idlens-peers-") as tmp_name:
        tmp = Path(os.path.realpath(tmp_name))
        idlens = Idlens(tmp / "idlens-models")
        _log("preparing Idlens's model (not timed)")
        t = time.perf_counter()
        out["idlens_model_prep"] = prepare_idlens(idlens, tmp, source)
        out["idlens_model_prep_s"] = round(time.perf_counter() - t, 1)
        if rclip is not None:  # a warm-up of the same kind, and proof that rclip runs on the exported model
            try:
                rclip.search(tmp / "rclip-warm", photo_set(source, 1, tmp / "rclip-warm-photos"))
            except RunFailed as e:
                out["rclip"].update(available=False, reason=str(e))
                rclip = None
        tools = ["idlens"] + (["rclip"] if rclip else [])
        small_set = photo_set(source, small, tmp / "small")
        big_set = photo_set(source, big, tmp / "big")
        counter = iter(range(10**6))

        def fresh() -> Path:
            return tmp / f"run{next(counter)}"

        _log(f"small job: {small} photos into an empty library, then a search; {rounds} round(s)")
        runs: dict = {t: [] for t in tools}
        for _ in range(rounds):
            r = fresh()
            runs["idlens"].append(chain(idlens.index(r, small_set), idlens.search(r)))
            if rclip:
                runs["rclip"].append(rclip.search(fresh(), small_set))
        jobs["small_job"] = {t: medians(v) for t, v in runs.items()}

        _log(f"{big} photos: Idlens faces off, rclip, Idlens faces on; {big_rounds} round(s)")
        runs = {"idlens": [], "idlens_faces": [], "rclip": []}
        libraries = {}
        for _ in range(big_rounds):
            libraries["idlens"] = fresh()
            runs["idlens"].append(idlens.index(libraries["idlens"], big_set, faces=False))
            if rclip:
                libraries["rclip"] = fresh()
                runs["rclip"].append(rclip.index(libraries["rclip"], big_set))
            runs["idlens_faces"].append(idlens.index(fresh(), big_set, faces=True))
        jobs["index_faces_off"] = {"idlens": medians(runs["idlens"])}
        jobs["index_faces_on"] = {"idlens": medians(runs["idlens_faces"])}
        if rclip:
            jobs["index_faces_off"]["rclip"] = jobs["index_faces_on"]["rclip"] = medians(runs["rclip"])

        _log(f"cold search on the indexed {big}-photo libraries: 1 warm-up + {rounds} round(s) each")
        runs = {t: [] for t in tools}
        for i in range(rounds + 1):
            got = {"idlens": idlens.search(libraries["idlens"])}
            if rclip:
                got["rclip"] = rclip.search(libraries["rclip"], big_set, index=False)
            if i:  # the first of each only warms the page cache
                for t, v in got.items():
                    runs[t].append(v)
        jobs["cold_search"] = {t: medians(v) for t, v in runs.items()}
        if keep:
            kept = cache_root() / "last-run"
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(tmp, kept, symlinks=True, ignore=shutil.ignore_patterns("*.jpg", "idlens-models"))

    build = (not quick) if install is None else install
    out["install_mb"] = install_sizes(rinfo, build)
    return summarise(out)


def _install_key() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + platform.python_version().encode()).hexdigest()[:16]


INSTALL_SKIP = {".git", "tests", "bench", "packaging", "build", "dist", ".venv", "__pycache__", ".pytest_cache",
                ".hypothesis", "screenshots", ".whl", ".gl"}


def install_sizes(rinfo: dict, build: bool) -> dict:
    """The size of a fresh default Idlens environment (venv + `pip install .`, no extras), cached per
    pyproject.toml and Python version, beside rclip's fresh venv. The Idlens venv is deleted once measured."""
    cache = cache_root() / "install-sizes.json"
    known = json.loads(cache.read_text()) if cache.is_file() else {}
    key = _install_key()
    out = {"rclip": rinfo.get("install_mb"), "idlens": None, "key": key}
    if key in known:
        out.update(idlens=known[key]["idlens_mb"], cached=True, packages=known[key].get("packages"))
        return out
    if not build:
        out["reason"] = "not measured for this pyproject.toml yet (run without --quick, or with --install)"
        return out
    _log("measuring a fresh default install of Idlens (venv + pip install ., once per pyproject.toml)")
    cache_root().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_root(), prefix="install-") as tmp_name:
        tmp = Path(tmp_name)
        src = tmp / "src"
        src.mkdir()
        for item in ROOT.iterdir():  # the repo as `pip install .` sees it, without tests, benchmarks or git
            if item.name in INSTALL_SKIP or item.name.endswith(".egg-info"):
                continue
            if item.is_dir():
                shutil.copytree(item, src / item.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(item, src / item.name)
        venv = tmp / "venv"
        try:
            subprocess.run([_base_python(), "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
            pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-input", str(src)],
                                 capture_output=True, text=True, timeout=3600)
        except (OSError, subprocess.SubprocessError) as e:
            out["reason"] = f"could not build the venv: {e}"
            return out
        if pip.returncode != 0:
            out["reason"] = f"pip install . failed: {_tail(pip.stdout + pip.stderr, 600)}"
            return out
        out["idlens"] = du_mb(venv)
        freeze = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=freeze"],
                                capture_output=True, text=True).stdout.split()
        out["packages"] = len(freeze)
        out["heaviest"] = _heaviest(venv)
    out["cached"] = False
    known[key] = {"idlens_mb": out["idlens"], "packages": out["packages"], "heaviest": out["heaviest"],
                  "measured": time.strftime("%Y-%m-%d %H:%M")}
    cache.write_text(json.dumps(known, indent=1))
    return out


def _heaviest(venv: Path, n: int = 5) -> dict:
    site = next(venv.glob("lib/python*/site-packages"), None)
    if site is None:
        return {}
    sizes = {p.name: du_mb(p) for p in site.iterdir() if p.is_dir() and not p.name.endswith(".dist-info")}
    return dict(sorted(sizes.items(), key=lambda kv: -kv[1])[:n])


# ------------------------------------------------------------------------------------------------------ reporting

ROWS = [  # (label, job, figure)
    ("cold search: new process to 1st result, s", "cold_search", "first_result_s"),
    ("cold search: peak RSS, MB", "cold_search", "peak_rss_mb"),
    ("small job: {small} photos + a search, s", "small_job", "seconds"),
    ("{big} photos, faces off: s", "index_faces_off", "seconds"),
    ("{big} photos, faces off: CPU s", "index_faces_off", "cpu_s"),
    ("{big} photos, faces off: peak RSS, MB", "index_faces_off", "peak_rss_mb"),
    ("{big} photos, Idlens faces on (rclip none): s", "index_faces_on", "seconds"),
    ("{big} photos, Idlens faces on: CPU s", "index_faces_on", "cpu_s"),
]


def _ratio(a, b):
    return round(a / b, 2) if a is not None and b else None


def summarise(out: dict) -> dict:
    jobs = out["jobs"]
    for job in jobs.values():
        if "rclip" in job:
            job["ratio"] = {k: _ratio(job["idlens"][k], job["rclip"][k])
                            for k in ("seconds", "first_result_s", "cpu_s", "peak_rss_mb")}
    inst = out["install_mb"]
    inst["ratio"] = _ratio(inst.get("idlens"), inst.get("rclip"))

    def fig(job, tool, key):
        return jobs.get(job, {}).get(tool, {}).get(key)

    def verdict(value, limit):
        return None if value is None or limit is None else value <= limit

    cold_i, cold_r = fig("cold_search", "idlens", "first_result_s"), fig("cold_search", "rclip", "first_result_s")
    rss_i, rss_r = fig("cold_search", "idlens", "peak_rss_mb"), fig("cold_search", "rclip", "peak_rss_mb")
    small_i, small_r = fig("small_job", "idlens", "seconds"), fig("small_job", "rclip", "seconds")
    faces_i, index_r = fig("index_faces_on", "idlens", "seconds"), fig("index_faces_off", "rclip", "seconds")
    out["targets"] = [
        {"target": "cold search <= 1.0x rclip", "ratio": _ratio(cold_i, cold_r), "met": verdict(cold_i, cold_r)},
        {"target": "small job <= 1.0x rclip", "ratio": _ratio(small_i, small_r), "met": verdict(small_i, small_r)},
        {"target": "photos with faces <= 1.0x rclip without faces", "ratio": _ratio(faces_i, index_r),
         "met": verdict(faces_i, index_r)},
        {"target": f"search peak memory <= rclip's + {RSS_MARGIN_MB} MB",
         "difference_mb": round(rss_i - rss_r, 1) if rss_i is not None and rss_r is not None else None,
         "met": verdict(rss_i, rss_r + RSS_MARGIN_MB if rss_r is not None else None)},
        {"target": f"default install <= {INSTALL_TARGET_MB} MB", "value": inst.get("idlens"),
         "met": verdict(inst.get("idlens"), INSTALL_TARGET_MB)},
    ]
    out["cold_search_s"] = cold_i
    out["cold_search_rclip_s"] = cold_r
    out["cold_search_vs_rclip"] = _ratio(cold_i, cold_r)
    out["search_rss_mb"] = rss_i
    out["small_job_s"] = small_i
    out["index_faces_on_vs_rclip"] = _ratio(faces_i, index_r)
    out["install_idlens_mb"] = inst.get("idlens")
    return out


def _fmt(v) -> str:
    return "—" if v is None else (f"{v:.2f}" if isinstance(v, float) and abs(v) < 100 else f"{v:.0f}"
                                  if isinstance(v, float) else str(v))


def table(out: dict) -> str:
    p = out["photos"]
    lines = [f"{'job':48} {'Idlens':>9} {'rclip':>9} {'ratio':>7}", "-" * 76]
    for label, job, key in ROWS:
        j = out["jobs"].get(job, {})
        i, r = j.get("idlens", {}).get(key), j.get("rclip", {}).get(key)
        lines.append(f"{label.format(small=p['small_job'], big=p['big_job']):48} {_fmt(i):>9} {_fmt(r):>9} "
                     f"{_fmt(_ratio(i, r)):>7}")
    inst = out["install_mb"]
    lines.append(f"{'install: fresh venv, default deps, MB':48} {_fmt(inst.get('idlens')):>9} "
                 f"{_fmt(inst.get('rclip')):>9} {_fmt(inst.get('ratio')):>7}")
    lines.append("-" * 76)
    lines.append("ratio = Idlens / rclip (< 1: Idlens faster or smaller)")
    for t in out["targets"]:
        mark = {True: "met", False: "NOT met", None: "n/a"}[t["met"]]
        if t.get("ratio") is not None:
            detail = f"{t['ratio']}x"
        elif t.get("difference_mb") is not None:
            detail = f"{t['difference_mb']:+} MB"
        else:
            detail = f"{t['value']} MB" if t.get("value") is not None else "—"
        lines.append(f"  [{mark:7}] {t['target']}: {detail}")
    if not out["rclip"]["available"]:
        lines.append(f"rclip not measured: {out['rclip']['reason']}")
    if inst.get("reason"):
        lines.append(f"install size of Idlens: {inst['reason']}")
    lines.append(f"Idlens model prepared by {out['idlens_model_prep']} ({out['idlens_model_prep_s']} s, not timed); "
                 f"{out['machine']['cores']} cores; medians of {out['rounds']} round(s), "
                 f"{out['big_rounds']} for the {p['big_job']}-photo jobs")
    return "\n".join(lines)


def _log(msg: str) -> None:
    print(f"[peers] {msg}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench peers", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="16 photos for the big jobs, 1 round, install size "
                                                         "only when cached (a smoke run of a few minutes)")
    ap.add_argument("--rounds", type=int, help="rounds of the quick jobs (small job, cold search); default 3")
    ap.add_argument("--big-rounds", type=int, help="rounds of the 100-photo jobs; default 1")
    ap.add_argument("--photos", type=int, help="photos of the big jobs (default 100, --quick 16)")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--install", action="store_true", default=None,
                       help="measure the fresh-install size even with --quick")
    group.add_argument("--no-install", dest="install", action="store_false", help="never build the install venv")
    ap.add_argument("--keep", action="store_true", help="keep the last run's libraries (no photos) in the cache")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    out = run(args.quick, args.rounds, args.big_rounds, args.photos, install=args.install, keep=args.keep)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(table(out))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
