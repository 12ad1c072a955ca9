"""Idlens beside its closest peer, rclip 3.3.0 (CLIP photo search from the command line, on ONNX Runtime): the same
jobs on the same machine in the same run: Idlens at int8 (its default towers) *and* at fp32 (rclip's precision),
faces on and off, beside rclip (fp32); every job at least 3 rounds, each round in its own random order (the seed
is printed); min, median and max of each figure.

  python -m bench peers [--quick] [--json] [--rounds 3] [--big-rounds 3] [--photos 100] [--seed N]
                        [--install | --no-install]

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


FIGURES = ("seconds", "first_result_s", "cpu_s", "peak_rss_mb")


def spread(runs: list[dict]) -> dict:
    """Median of each figure over the rounds, with its min and max ("seconds_min", "seconds_max", ...)."""
    out: dict = {"runs": runs, "n": len(runs)}
    for key in FIGURES:
        values = [r[key] for r in runs if r.get(key) is not None]
        out[key] = round(statistics.median(values), 3) if values else None
        out[f"{key}_min"] = min(values) if values else None
        out[f"{key}_max"] = max(values) if values else None
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

    def index(self, run: Path, photos: Path, faces: bool = True, precision: str = "int8") -> dict:
        """`idlens index` into a new library whose settings.json sets the faces and the towers' precision
        (`image_encoder`: onnx-int8, the default, or onnx-fp32, rclip's); other settings take their defaults."""
        (run / "lib").mkdir(parents=True, exist_ok=True)
        (run / "lib" / "settings.json").write_text(json.dumps({"faces": faces, "image_encoder": f"onnx-{precision}"}))
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

def compile_checkout() -> None:
    """Byte-compile this checkout's app/ and core/ as `pip install` compiles an installed package (rclip's venv has
    its .pyc files): with PYTHONDONTWRITEBYTECODE set, as on these machines, every run of the checkout compiled
    its ~130 modules again (67 ms of a 0.43 s cold search, cProfile). Python reads the files even so."""
    import compileall

    for folder in ("app", "core"):
        compileall.compile_dir(str(ROOT / folder), quiet=1)


def prepare_idlens(idlens: Idlens, tmp: Path, photos: Path) -> str:
    """Prepare the model outside the timed runs: `idlens model install` where it exists, else a warm-up index of
    one photo and a search in a throw-away library (which prepare whatever the first use prepares)."""
    how = "warm-up index"
    compile_checkout()
    if idlens.has_model_install(tmp / "prep"):
        idlens(tmp / "prep", "--model", IDLENS_MODEL, "model", "install")
        how = "idlens model install"
    one = photo_set(photos, 1, tmp / "prep-photos")
    for precision in ("int8", "fp32"):  # each precision's first load keeps its optimised graphs: not a timed run
        idlens.index(tmp / f"warm-{precision}", one, precision=precision)
        idlens.search(tmp / f"warm-{precision}")
    return how


TOOLS = ("idlens_int8", "idlens_fp32", "rclip")  # rclip runs fp32 only: its export has no int8 tower
PRECISION = {"idlens_int8": "int8", "idlens_fp32": "fp32", "rclip": "fp32"}


def run(quick: bool = False, rounds: int | None = None, big_rounds: int | None = None, photos: int | None = None,
        small: int = 8, install: bool | None = None, keep: bool = False, seed: int | None = None) -> dict:
    """Every job, every round, in an order shuffled per round (recorded, and repeatable with `seed`): Idlens at
    int8 and at fp32 (its `image_encoder` setting, both towers) beside rclip (fp32), faces on and off."""
    import random

    rounds = rounds or (1 if quick else 3)
    big_rounds = big_rounds or rounds
    big = photos or (16 if quick else 100)
    seed = random.SystemRandom().randrange(10**6) if seed is None else seed
    rng = random.Random(seed)
    out: dict = {"quick": quick, "rounds": rounds, "big_rounds": big_rounds, "query": QUERY, "top": TOP,
                 "seed": seed, "order": [], "precision": PRECISION,
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
        tools = [t for t in TOOLS if t != "rclip" or rclip]
        small_set = photo_set(source, small, tmp / "small")
        big_set = photo_set(source, big, tmp / "big")
        counter = iter(range(10**6))

        def fresh() -> Path:
            return tmp / f"run{next(counter)}"

        def shuffled(items: list) -> list:
            items = list(items)
            rng.shuffle(items)
            return items

        def small_job(tool: str) -> dict:
            r = fresh()
            if tool == "rclip":
                return rclip.search(r, small_set)  # rclip indexes the folder, then searches
            return chain(idlens.index(r, small_set, precision=PRECISION[tool]), idlens.search(r))

        _log(f"small job: {small} photos into an empty library, then a search; {rounds} round(s), shuffled")
        runs: dict = {t: [] for t in tools}
        for n in range(rounds):
            order = shuffled(tools)
            out["order"].append({"job": "small_job", "round": n, "order": order})
            for tool in order:
                runs[tool].append(small_job(tool))
        jobs["small_job"] = {t: spread(v) for t, v in runs.items()}

        variants = [(t, f) for t in tools if t != "rclip" for f in (False, True)] + ([("rclip", False)] if rclip
                                                                                   else [])
        _log(f"{big} photos: {len(variants)} variants; {big_rounds} round(s), shuffled")
        runs = {v: [] for v in variants}
        libraries: dict = {}  # the faces-off libraries of each tool, for the cold search
        for n in range(big_rounds):
            order = shuffled(variants)
            out["order"].append({"job": "index", "round": n, "order": [f"{t}{'+faces' if f else ''}"
                                                                       for t, f in order]})
            for tool, faces in order:
                r = fresh()
                if tool == "rclip":
                    runs[(tool, faces)].append(rclip.index(r, big_set))
                else:
                    runs[(tool, faces)].append(idlens.index(r, big_set, faces=faces, precision=PRECISION[tool]))
                if not faces:
                    libraries[tool] = r
        jobs["index_faces_off"] = {t: spread(runs[(t, False)]) for t in tools}
        jobs["index_faces_on"] = {t: spread(runs[(t, True)]) for t in tools if t != "rclip"}
        if rclip:  # rclip finds no faces: its one index is the reference of both
            jobs["index_faces_on"]["rclip"] = jobs["index_faces_off"]["rclip"]

        _log(f"cold search on the indexed {big}-photo libraries: 1 warm-up + {rounds} round(s) each, shuffled")
        runs = {t: [] for t in tools}
        for n in range(rounds + 1):
            order = shuffled(tools)
            if n:
                out["order"].append({"job": "cold_search", "round": n - 1, "order": order})
            for tool in order:
                got = (rclip.search(libraries[tool], big_set, index=False) if tool == "rclip"
                       else idlens.search(libraries[tool]))
                if n:  # the first of each only warms the page cache
                    runs[tool].append(got)
        jobs["cold_search"] = {t: spread(v) for t, v in runs.items()}
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
    ("small job: peak RSS, MB", "small_job", "peak_rss_mb"),
    ("{big} photos, faces off: s", "index_faces_off", "seconds"),
    ("{big} photos, faces off: CPU s", "index_faces_off", "cpu_s"),
    ("{big} photos, faces off: peak RSS, MB", "index_faces_off", "peak_rss_mb"),
    ("{big} photos, Idlens faces on (rclip none): s", "index_faces_on", "seconds"),
    ("{big} photos, Idlens faces on: CPU s", "index_faces_on", "cpu_s"),
    ("{big} photos, Idlens faces on: peak RSS, MB", "index_faces_on", "peak_rss_mb"),
]
INDEX_RSS_TARGET_MB = 1024
SEARCH_RSS_TARGET_MB = 200


def _ratio(a, b):
    return round(a / b, 2) if a is not None and b else None


def summarise(out: dict) -> dict:
    """Ratios of each Idlens precision to rclip (medians), and the targets of the speed issue, each with the
    precision it was measured at."""
    jobs = out["jobs"]
    for job in jobs.values():
        if "rclip" in job:
            job["ratio"] = {tool: {k: _ratio(job[tool][k], job["rclip"][k]) for k in FIGURES}
                            for tool in job if tool.startswith("idlens")}
    inst = out["install_mb"]
    inst["ratio"] = _ratio(inst.get("idlens"), inst.get("rclip"))

    def fig(job, tool, key):
        return jobs.get(job, {}).get(tool, {}).get(key)

    def target(name, value, limit, kind="ratio"):
        return {"target": name, kind: value, "met": None if value is None else value <= limit}

    targets = []
    for tool in ("idlens_int8", "idlens_fp32"):
        p = PRECISION[tool]
        targets += [
            target(f"cold search <= 0.5x rclip (Idlens {p})",
                   _ratio(fig("cold_search", tool, "first_result_s"), fig("cold_search", "rclip", "first_result_s")),
                   0.5),
            target(f"small job <= 0.7x rclip (Idlens {p})",
                   _ratio(fig("small_job", tool, "seconds"), fig("small_job", "rclip", "seconds")), 0.7),
            target(f"{out['photos']['big_job']} photos with faces <= {0.6 if p == 'int8' else 1.0}x rclip without "
                   f"(Idlens {p})", _ratio(fig("index_faces_on", tool, "seconds"),
                                           fig("index_faces_off", "rclip", "seconds")), 0.6 if p == "int8" else 1.0),
            target(f"indexing peak <= {INDEX_RSS_TARGET_MB} MB (Idlens {p}, faces on)",
                   fig("index_faces_on", tool, "peak_rss_mb"), INDEX_RSS_TARGET_MB, "value"),
            target(f"search peak <= {SEARCH_RSS_TARGET_MB} MB (Idlens {p})",
                   fig("cold_search", tool, "peak_rss_mb"), SEARCH_RSS_TARGET_MB, "value"),
        ]
    targets.append(target(f"default install <= {INSTALL_TARGET_MB} MB", inst.get("idlens"), INSTALL_TARGET_MB,
                          "value"))
    out["targets"] = targets
    out["cold_search_s"] = fig("cold_search", "idlens_int8", "first_result_s")
    out["cold_search_rclip_s"] = fig("cold_search", "rclip", "first_result_s")
    out["cold_search_vs_rclip"] = _ratio(out["cold_search_s"], out["cold_search_rclip_s"])
    out["search_rss_mb"] = fig("cold_search", "idlens_int8", "peak_rss_mb")
    out["small_job_s"] = fig("small_job", "idlens_int8", "seconds")
    for tool in ("idlens_int8", "idlens_fp32"):
        out[f"index_faces_on_vs_rclip_{PRECISION[tool]}"] = _ratio(fig("index_faces_on", tool, "seconds"),
                                                                    fig("index_faces_off", "rclip", "seconds"))
    out["index_faces_on_vs_rclip"] = out["index_faces_on_vs_rclip_int8"]
    out["install_idlens_mb"] = inst.get("idlens")
    return out


def _fmt(v) -> str:
    return "—" if v is None else (f"{v:.2f}" if isinstance(v, float) and abs(v) < 100 else f"{v:.0f}"
                                  if isinstance(v, float) else str(v))


def _cell(stats: dict | None, key: str) -> str:
    """median [min-max] of a figure over the rounds (the median alone after one round)."""
    if not stats or stats.get(key) is None:
        return "—"
    lo, hi = stats.get(f"{key}_min"), stats.get(f"{key}_max")
    if stats.get("n", 1) > 1 and lo is not None and hi is not None:
        return f"{_fmt(stats[key])} [{_fmt(lo)}-{_fmt(hi)}]"
    return _fmt(stats[key])


def table(out: dict) -> str:
    p = out["photos"]
    head = f"{'job':46} {'Idlens int8':>19} {'Idlens fp32':>19} {'rclip fp32':>19} {'int8/r':>6} {'fp32/r':>6}"
    lines = [head, "-" * len(head)]
    for label, job, key in ROWS:
        j = out["jobs"].get(job, {})
        i8, f32, r = j.get("idlens_int8"), j.get("idlens_fp32"), j.get("rclip")
        rv = (r or {}).get(key)
        lines.append(f"{label.format(small=p['small_job'], big=p['big_job']):46} {_cell(i8, key):>19} "
                     f"{_cell(f32, key):>19} {_cell(r, key):>19} {_fmt(_ratio((i8 or {}).get(key), rv)):>6} "
                     f"{_fmt(_ratio((f32 or {}).get(key), rv)):>6}")
    inst = out["install_mb"]
    lines.append(f"{'install: fresh venv, default deps, MB':46} {_fmt(inst.get('idlens')):>19} {'':>19} "
                 f"{_fmt(inst.get('rclip')):>19} {_fmt(inst.get('ratio')):>6}")
    lines.append("-" * len(head))
    lines.append("median [min-max] over the rounds; ratio = Idlens / rclip of the medians (< 1: Idlens faster or "
                 "smaller). rclip runs fp32 (its export); Idlens int8 = its default towers, fp32 = "
                 "image_encoder onnx-fp32")
    for t in out["targets"]:
        mark = {True: "met", False: "NOT met", None: "n/a"}[t["met"]]
        if t.get("ratio") is not None:
            detail = f"{t['ratio']}x"
        else:
            detail = f"{t['value']} MB" if t.get("value") is not None else "—"
        lines.append(f"  [{mark:7}] {t['target']}: {detail}")
    if not out["rclip"]["available"]:
        lines.append(f"rclip not measured: {out['rclip']['reason']}")
    if inst.get("reason"):
        lines.append(f"install size of Idlens: {inst['reason']}")
    lines.append(f"Idlens model prepared by {out['idlens_model_prep']} ({out['idlens_model_prep_s']} s, not timed); "
                 f"{out['machine']['cores']} cores; {out['rounds']} round(s) of the small job and cold search, "
                 f"{out['big_rounds']} of the {p['big_job']}-photo jobs, each round in its own shuffled order "
                 f"(seed {out.get('seed')}: `--seed` repeats it)")
    return "\n".join(lines)


def _log(msg: str) -> None:
    print(f"[peers] {msg}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench peers", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="16 photos for the big jobs, 1 round, install size "
                                                         "only when cached (a smoke run of a few minutes)")
    ap.add_argument("--rounds", type=int, help="rounds of the quick jobs (small job, cold search); default 3")
    ap.add_argument("--big-rounds", type=int, help="rounds of the 100-photo jobs; default: --rounds")
    ap.add_argument("--seed", type=int, help="the seed of the shuffled orders (printed by every run)")
    ap.add_argument("--photos", type=int, help="photos of the big jobs (default 100, --quick 16)")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--install", action="store_true", default=None,
                       help="measure the fresh-install size even with --quick")
    group.add_argument("--no-install", dest="install", action="store_false", help="never build the install venv")
    ap.add_argument("--keep", action="store_true", help="keep the last run's libraries (no photos) in the cache")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    out = run(args.quick, args.rounds, args.big_rounds, args.photos, install=args.install, keep=args.keep,
              seed=args.seed)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(table(out))
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
