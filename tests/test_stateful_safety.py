"""Never lose a decision: a model-based stress test (Hypothesis stateful) of one library, through real processes.

The machine drives ONE library with
- the `idlens` command line as subprocesses (index, people name / move / reject / merge / alias / undo / recluster /
  export + import, forget, doctor --repair), some of them killed (SIGKILL) or stopped (SIGTERM) after a random short
  delay;
- the app: a long-lived process holding the real `app.gui.engine.Engine` (a writer and a reader thread, each with
  its own Library, as in the window), making decisions through `lib.people` on the writer thread, refreshing the
  people list on the reader thread, killed or quit between (and in the middle of) its decisions;
- the folders: moved or renamed (`mv`, then indexed at the new place), made unreachable (renamed away: offline) and
  brought back, a subfolder forgotten;
- the catalog destroyed (catalog.db, -wal and -shm deleted) and brought back by `idlens doctor --repair`,

against an oracle (`Truth`) of every decision made: the named people and their aliases, the faces confirmed for each,
the "not this person" answers, and a stack of states for undo. A decision whose process was killed may have
happened or not: the oracle learns which from the catalog's journal, and the invariant then holds it to all or
nothing. Faces are known by the file's name within the photo folder and the centre of their box, never by ids.
Naming a group confirms its core only (core.faces.rule): the oracle takes the faces the catalog confirmed by that
decision, which must all have been in the group the user named.

After every step the invariant reads the catalog read-only and checks: every person of the oracle exists with that
name and exactly those aliases (and no other named person); every face the oracle holds as confirmed for a person is
confirmed to that person (and no other face is confirmed); every rejection is there; no face rejected for P is under
P; the journal holds as many decisions to undo as the oracle's stack.

CI runs a short fixed seed (`test_stateful_safety`: 6 sequences of up to 15 steps, every rule at least once, about a
minute on 2 cores; IDLENS_STATEFUL_SHRINK=1 also shrinks a failure); `python -m bench safety --stateful N` runs N
sequences of many more steps and prints steps, kills, repairs and violations.
"""
from __future__ import annotations

import copy
import functools
import json
import os
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, Phase, seed, settings, strategies as st
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant, precondition, rule,
                                 run_state_machine_as_test)

ROOT = Path(__file__).resolve().parent.parent
FACES = ROOT / "tests" / "data" / "faces"
PHOTOS = ["person_a_1.jpg", "person_a_2.jpg", "person_b_1.jpg", "person_b_2.jpg", "impostor_1.jpg",
          "impostor_2.jpg"]
SUB = "sub"  # a subfolder of mirrored copies (other fingerprints, the same people): what `forget` takes away
SUB_PHOTOS = ["person_a_1.jpg", "person_b_1.jpg", "impostor_1.jpg"]

# `doctor --repair` brings back every decision: the fsynced decision log beside the backups
# (backups/decisions.jsonl, core.store.decision_log) is replayed onto the restored backup. Without it, destroying the
# catalog loses the decisions made after the newest backup (the app's, and those of killed commands): set False to
# leave the destroyed catalog out.
REPAIR_REPLAYS_JOURNAL = True
# The undo history comes back too: after a repair the journal holds exactly the decisions the oracle can still undo
# (a decision replayed from the log can be taken back; one undone in the app stays undone).
CHECK_UNDO_HISTORY = True

SEED = 20
NAMES = ["Anna", "Ben", "Cara", "Dev", "Emil", "Fay", "Gus", "Hana"]
ALIASES = ["Mum", "Sasha", "Bobby", "Kiki", "Tata", "Nan"]

# What a long run counts (bench.safety prints it); FOUND keeps every violation report, also when Hypothesis later
# calls the failure flaky (a kill that landed elsewhere on the replay).
STATS: Counter = Counter()
FOUND: list[str] = []

Key = tuple  # (path within the photo folder, x of the box centre, y of the box centre), rounded to pixels


def ci_settings() -> settings:
    phases = [Phase.explicit, Phase.generate]
    if os.environ.get("IDLENS_STATEFUL_SHRINK"):
        phases.append(Phase.shrink)
    return settings(max_examples=6, stateful_step_count=15, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck), phases=phases)


# -- the oracle -----------------------------------------------------------------------------------------------------
@dataclass
class Truth:
    """Every decision made, as the user made it."""
    people: dict = field(default_factory=dict)      # name -> set of aliases
    confirmed: dict = field(default_factory=dict)   # face key -> name
    rejected: set = field(default_factory=set)      # (face key, name)

    def copy(self) -> "Truth":
        return copy.deepcopy(self)

    def rename(self, old: str, new: str) -> None:
        self.people[new] = self.people.pop(old)
        self.confirmed = {k: (new if n == old else n) for k, n in self.confirmed.items()}
        self.rejected = {(k, new if n == old else n) for k, n in self.rejected}

    def move(self, key: Key, name: str) -> None:
        self.people.setdefault(name, set())
        self.confirmed[key] = name
        self.rejected.discard((key, name))

    def reject(self, key: Key, name: str) -> None:
        self.rejected.add((key, name))
        if self.confirmed.get(key) == name:
            del self.confirmed[key]

    def merge(self, target: str, source: str) -> None:
        """`source` joins `target`: its faces, answers and aliases; its name stays as an alias; a face either of
        them said was not them leaves the merged person."""
        self.people[target] |= self.people.pop(source) | {source}
        self.confirmed = {k: (target if n == source else n) for k, n in self.confirmed.items()}
        self.rejected = {(k, target if n == source else n) for k, n in self.rejected}
        for k in [k for k, n in self.confirmed.items() if n == target and (k, target) in self.rejected]:
            del self.confirmed[k]

    def confirm(self, keys, name: str) -> None:
        self.people.setdefault(name, set())
        for k in keys:
            if (k, name) not in self.rejected:
                self.confirmed[k] = name

    def drop_under(self, prefix: str) -> None:
        """The files under `prefix` left the library: what was decided about their faces went with them."""
        inside = lambda k: k[0].startswith(prefix)  # noqa: E731
        self.confirmed = {k: n for k, n in self.confirmed.items() if not inside(k)}
        self.rejected = {(k, n) for k, n in self.rejected if not inside(k)}

    def names(self) -> set[str]:
        return set(self.people) | {a for aliases in self.people.values() for a in aliases}


# -- the catalog, read-only -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FaceRow:
    id: int
    key: Key | None   # None: not under the photo folder where the oracle expects the library's files
    path: str
    status: str
    person_id: int | None
    confirmed: bool


class Snap:
    """The catalog as it is now, read through a read-only connection in one read transaction."""

    def __init__(self, db: Path, root: Path):
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30, isolation_level=None)
        try:
            conn.execute("BEGIN")
            self.people = dict(conn.execute("SELECT id, name FROM people"))
            self.aliases: dict[int, set[str]] = {}
            for pid, alias in conn.execute("SELECT person_id, alias FROM aliases"):
                self.aliases.setdefault(pid, set()).add(alias)
            rows = conn.execute("SELECT f.id, m.path, m.status, f.x, f.y, f.w, f.h, f.person_id, f.confirmed "
                                "FROM faces f JOIN media m ON m.id = f.media_id").fetchall()
            self.rejections = set(conn.execute("SELECT face_id, person_id FROM rejections"))
            self.journal = dict(conn.execute("SELECT id, undone FROM decisions"))
            conn.execute("COMMIT")
        finally:
            conn.close()
        prefix = str(root) + os.sep
        self.faces: list[FaceRow] = []
        self.by_key: dict[Key, FaceRow] = {}
        self.by_id: dict[int, FaceRow] = {}
        self.duplicates: list[Key] = []
        for fid, path, status, x, y, w, h, pid, confirmed in rows:
            key = (path[len(prefix):], round(x + w / 2), round(y + h / 2)) if path.startswith(prefix) else None
            face = FaceRow(fid, key, path, status, pid, bool(confirmed))
            self.faces.append(face)
            self.by_id[fid] = face
            if key is not None:
                if key in self.by_key:
                    self.duplicates.append(key)
                self.by_key[key] = face
        self.named = {name: pid for pid, name in self.people.items() if name is not None}

    @property
    def done(self) -> list[int]:
        return sorted(i for i, undone in self.journal.items() if not undone)

    def keys(self) -> list[Key]:
        return sorted(self.by_key)

    def groups(self) -> list[int]:
        """Unnamed groups with a face under the photo folder."""
        return sorted({f.person_id for f in self.by_key.values()
                       if f.person_id is not None and self.people.get(f.person_id, "") is None})


# -- the processes --------------------------------------------------------------------------------------------------
@dataclass
class Ran:
    what: str
    rc: int | None
    out: str = ""
    err: str = ""
    interrupted: str | None = None   # "KILL" / "TERM" when a signal was sent while it ran

    @property
    def ok(self) -> bool:
        return self.rc == 0

    @property
    def json(self) -> dict | None:
        try:
            return json.loads(self.out)
        except ValueError:
            return None

    def describe(self) -> str:
        tail = (self.err.strip().splitlines() or [""])[-1][:200]
        sig = f", {self.interrupted} sent" if self.interrupted else ""
        return f"{self.what} -> rc {self.rc}{sig}{': ' + tail if tail and not self.ok else ''}"


def _models_dir() -> str:
    """The converted tiny-test model: the session's under pytest (conftest), else one folder kept between runs."""
    return os.environ.get("IDLENS_MODELS") or str(Path(tempfile.gettempdir()) / "idlens-stateful-models")


HOLDER = "import sys; from tests.test_stateful_safety import _holder_main; _holder_main(sys.argv[1])"


def _holder_main(library: str) -> None:
    """The app: the real Engine, whose writer thread makes each decision asked for on stdin (one JSON line each, the
    answer one line on stdout) and whose reader thread refreshes the people list after it, as the window does.
    {"op": "quit"} shuts the engine down as the window's close does (its libraries closed: today's backup)."""
    import threading

    from PySide6.QtCore import QCoreApplication

    from app.gui.engine import Engine
    from core import services

    qapp = QCoreApplication([])
    engine = Engine(library)
    engine.read("refresh", lambda lib: (services.status(lib, model_files=False), lib.people.list())).result()

    def reply(obj) -> None:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    def serve() -> None:
        reply({"ready": True, "pid": os.getpid()})
        for line in sys.stdin:
            request = json.loads(line)
            if request["op"] == "quit":
                engine.shutdown()
                reply({"ok": True})
                os._exit(0)
            call, args = request["call"], request["args"]

            def decide(lib, call=call, args=args):
                try:
                    getattr(lib.people, call)(*args)
                    return {"ok": True}
                except Exception as e:  # the window shows it; here it is the answer
                    return {"ok": False, "error": f"{type(e).__name__}: {e}"}
            result = engine.write(call, decide).result()
            engine.read("people", lambda lib: lib.people.list()).result()
            reply(result or {"ok": False, "error": "the engine's task failed (see its log)"})
        engine.shutdown()
        os._exit(0)

    threading.Thread(target=serve, daemon=True).start()
    qapp.exec()


class AppHolder:
    """The app's process, started on first use, restarted after it died."""

    def __init__(self, machine: "SafetyMachine"):
        self.m = machine
        self.proc: subprocess.Popen | None = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        with open(self.m.base / "app.stderr", "ab") as err:
            self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(self.m.lib)], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=err, env=self.m.env, cwd=ROOT)
        line = self._read(120)
        if not line or not json.loads(line).get("ready"):
            self.kill(signal.SIGKILL)
            raise AssertionError(f"the app did not start: {self.stderr_tail()}")
        STATS["app_starts"] += 1

    def stderr_tail(self) -> str:
        try:
            return (self.m.base / "app.stderr").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def _read(self, timeout: float) -> bytes | None:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline() if ready else None

    def call(self, call: str, args: list, interrupt=None) -> Ran:
        what = f"app: people.{call}{tuple(args)}"
        if not self.alive():
            self.start()
        self.proc.stdin.write((json.dumps({"op": "decide", "call": call, "args": args}) + "\n").encode())
        self.proc.stdin.flush()
        if interrupt is not None:
            sig, delay = interrupt
            line = self._read(delay * 0.15)  # a decision takes tens of milliseconds in a warm process
            if not line:
                self.kill(_signal(sig))
                STATS["app_" + sig.lower()] += 1
                return Ran(what, None, interrupted=sig)
        else:
            line = self._read(180)
        if not line:
            code = self.proc.poll()
            return Ran(what, 1, err=f"the app gave no answer (exit {code}): {self.stderr_tail()}")
        answer = json.loads(line)
        return Ran(what, 0 if answer.get("ok") else 1, err=answer.get("error") or "")

    def quit(self) -> None:
        if not self.alive():
            return
        self.proc.stdin.write(b'{"op": "quit"}\n')
        self.proc.stdin.flush()
        try:
            self.proc.wait(120)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)
            raise AssertionError("the app did not quit within 120 s") from None
        self.proc = None

    def kill(self, sig) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(60)
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        self.proc = None


def _signal(name: str):
    return signal.SIGKILL if name == "KILL" else signal.SIGTERM


def make_album(folder: Path) -> None:
    from PIL import Image, ImageOps

    folder.mkdir(parents=True)
    for name in PHOTOS:
        shutil.copy(FACES / name, folder / name)
    (folder / SUB).mkdir()
    for name in SUB_PHOTOS:
        ImageOps.mirror(Image.open(FACES / name)).save(folder / SUB / name.replace(".jpg", "_m.jpg"), quality=92)


def variant(source: Path, target: Path, scale: float) -> None:
    """A new photo of the same face: smaller and mirrored (another fingerprint)."""
    from PIL import Image, ImageOps

    img = ImageOps.mirror(Image.open(source))
    img.resize((max(1, int(img.width * scale)), max(1, int(img.height * scale)))).save(target, quality=90)


# -- the machine ----------------------------------------------------------------------------------------------------
def counted(fn):
    """A rule, counted in STATS by name (what a run covered)."""
    @functools.wraps(fn)
    def run(self, *args, **kwargs):
        STATS["rule " + fn.__name__] += 1
        return fn(self, *args, **kwargs)
    return run


VIA = st.sampled_from(["cli", "app"])
# A signal after a delay spread evenly over a command's life (a CLI decision takes about 0.4 s; an index is given
# three times as long, the app's decisions 0.15 of it): a third of the commands are interrupted.
DELAY = st.integers(0, 30).map(lambda i: round(i * 0.02, 2))
INTERRUPT = st.one_of(st.none(), st.none(), st.tuples(st.sampled_from(["KILL", "TERM"]), DELAY))


class SafetyMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        STATS["examples"] += 1
        self.base = Path(tempfile.mkdtemp(prefix="idlens-stateful-"))
        self.lib = self.base / "library"
        self.root = self.base / "photos" / "album"
        self.away = self.base / "away" / "album"
        make_album(self.root)
        self.env = dict(os.environ, IDLENS_MODEL="tiny-test", PYTHONPATH=str(ROOT), IDLENS_MODELS=_models_dir(),
                        IDLENS_CACHE=str(self.base / "cache"), IDLENS_LOG_DIR=str(self.base / "logs"),
                        IDLENS_LIBRARY=str(self.lib), HF_ENDPOINT="https://127.0.0.1:9",
                        IDLENS_HUB="https://127.0.0.1:9", QT_QPA_PLATFORM="offscreen")
        self.truth = Truth()
        self.stack: list[Truth] = []   # the oracle's state before each decision the journal can undo
        self.app = AppHolder(self)
        self.started = False
        self.plugged = True
        self.sub_forgotten = False
        self.history_lost = False  # after a repair that did not bring the undo history back (CHECK_UNDO_HISTORY off)
        self.moves = 0
        self.added = 0
        self.problems: list[str] = []
        self.log: list[str] = []

    def teardown(self):
        try:
            self.app.kill(signal.SIGKILL)
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    # -- helpers ------------------------------------------------------------------------------------------------
    def note(self, line: str) -> None:
        self.log.append(line)

    def problem(self, line: str) -> None:
        self.note("PROBLEM: " + line)
        self.problems.append(line)

    def snap(self) -> Snap:
        return Snap(self.lib / "catalog.db", self.root)

    def cli(self, *args: str, interrupt=None, timeout: float = 300) -> Ran:
        cmd = [sys.executable, "-m", "app", "--library", str(self.lib), *args]
        what = "idlens " + " ".join(a.replace(str(self.base), "…") for a in args)
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=self.env, cwd=ROOT)
        sent = None
        try:
            if interrupt is not None:
                sig, delay = interrupt
                try:
                    out, err = proc.communicate(timeout=delay)
                except subprocess.TimeoutExpired:
                    proc.send_signal(_signal(sig))
                    sent = sig
                    STATS["cli_" + sig.lower()] += 1
                    out, err = proc.communicate(timeout=timeout)
            else:
                out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            self.problem(f"{what} ran past {timeout} s")
        return Ran(what, proc.returncode, out, err, sent)

    def must(self, ran: Ran) -> Ran:
        self.note(ran.describe())
        if not ran.ok and not ran.interrupted:
            self.problem(f"{ran.what} failed (exit {ran.rc}): {ran.err.strip()[-600:]}")
        return ran

    def free_names(self) -> list[str]:
        taken = {n.casefold() for n in self.truth.names()}
        return [n for n in NAMES if n.casefold() not in taken]

    def free_aliases(self) -> list[str]:
        taken = {n.casefold() for n in self.truth.names()}
        return [a for a in ALIASES if a.casefold() not in taken]

    def decide(self, run, predict) -> None:
        """One decision: `run()` makes it (a Ran), `predict(truth, before, after)` is what it does to the oracle. The
        catalog's journal says whether it happened (a killed process: either); the invariant then holds the
        catalog to all of it or none of it."""
        before = self.snap()
        ran = run()
        after = self.snap()
        new = [i for i in after.done if before.journal.get(i) != 0]  # ids of undone decisions are reused
        predicted = self.truth.copy()
        predict(predicted, before, after)
        if new:
            if len(new) > 1:
                self.problem(f"{ran.what} left {len(new)} decisions in the journal")
            self.stack.append(self.truth)
            self.truth = predicted
        elif ran.ok and predicted != self.truth:
            self.problem(f"{ran.what} said it was done, but the journal holds no decision")
        if ran.interrupted:
            STATS["interrupted_" + ("happened" if new else "not_happened")] += 1
        self.note(ran.describe() + f" [{'happened' if new else 'nothing recorded'}]")
        if not ran.ok and not ran.interrupted:
            self.problem(f"{ran.what} failed (exit {ran.rc}): {ran.err.strip()[-600:]}")

    def via(self, how: str, cli_args: list[str], call: str, args: list, interrupt):
        if how == "app":
            return lambda: self.app.call(call, args, interrupt)
        return lambda: self.cli("people", *cli_args, interrupt=interrupt)

    # -- setting up -----------------------------------------------------------------------------------------------
    @initialize()
    def start(self):
        ran = self.must(self.cli("index", str(self.root), "--json"))
        if not ran.ok:
            raise AssertionError(f"the first index failed: {ran.err}")
        self.started = True

    # -- indexing -------------------------------------------------------------------------------------------------
    @rule(add=st.one_of(st.none(), st.tuples(st.integers(0, len(PHOTOS) - 1), st.sampled_from([0.9, 0.7]))),
          interrupt=INTERRUPT, plain=st.booleans())
    @counted
    def index(self, add, interrupt, plain):
        if add is not None and self.plugged:
            self.added += 1
            name = f"new_{self.added}.jpg"
            variant(FACES / PHOTOS[add[0]], self.root / name, add[1])
            self.note(f"added {name} (a copy of {PHOTOS[add[0]]}, scaled {add[1]})")
        if interrupt is not None:
            interrupt = (interrupt[0], interrupt[1] * 3)  # an index takes a few seconds
        args = ["index", "--json"] if plain or not self.plugged else ["index", str(self.root), "--json"]
        self.must(self.cli(*args, interrupt=interrupt))

    # -- decisions ------------------------------------------------------------------------------------------------
    @rule(data=st.data(), how=VIA, interrupt=INTERRUPT)
    @counted
    def name_group(self, data, how, interrupt):
        before = self.snap()
        groups = before.groups()
        if not groups:
            self.note("name a group: no unnamed group")
            return
        group = data.draw(st.sampled_from(groups), label="group")
        existing = sorted(self.truth.people)
        name = data.draw(st.sampled_from(self.free_names() + existing[:2]), label="name")
        group_keys = {f.key for f in before.by_key.values() if f.person_id == group}

        def predict(truth, b, a):
            newly = {f.key for f in a.by_key.values() if f.confirmed and a.people.get(f.person_id) == name
                     and not (f.key in b.by_key and b.by_key[f.key].confirmed
                              and b.people.get(b.by_key[f.key].person_id) == name)}
            if newly - group_keys:
                self.problem(f"naming group {group} {name} confirmed faces that were not in it: "
                             f"{sorted(newly - group_keys)}")
            truth.confirm(newly & group_keys, name)
        self.decide(self.via(how, ["name", str(group), name, "--json"], "name", [group, name], interrupt), predict)

    @precondition(lambda self: self.truth.people and self.free_names())
    @rule(data=st.data(), how=VIA)
    @counted
    def rename(self, data, how):
        old = data.draw(st.sampled_from(sorted(self.truth.people)), label="person")
        new = data.draw(st.sampled_from(self.free_names()), label="new name")
        pid = self.snap().named.get(old)
        if pid is None:
            self.note(f"rename {old}: not in the catalog")
            return
        self.decide(self.via(how, ["name", str(pid), new, "--json"], "name", [pid, new], None),
                    lambda truth, b, a: truth.rename(old, new))

    @rule(data=st.data(), how=VIA, interrupt=INTERRUPT)
    @counted
    def move_face(self, data, how, interrupt):
        before = self.snap()
        if not before.keys():
            self.note("move a face: no face")
            return
        key = data.draw(st.sampled_from(before.keys()), label="face")
        name = data.draw(st.sampled_from(sorted(self.truth.people) + self.free_names()[:1]), label="to")
        face = before.by_key[key].id
        person = before.named.get(name, name) if how == "app" else name
        self.decide(self.via(how, ["move", str(face), name, "--json"], "move", [face, person], interrupt),
                    lambda truth, b, a: truth.move(key, name))

    @precondition(lambda self: self.truth.people)
    @rule(data=st.data(), how=VIA)
    @counted
    def reject_face(self, data, how):
        before = self.snap()
        if not before.keys():
            self.note("reject a face: no face")
            return
        name = data.draw(st.sampled_from(sorted(self.truth.people)), label="person")
        # mostly a face that is under them now (the review's "no"), else any face
        pid = before.named.get(name)
        theirs = [k for k in before.keys() if pid is not None and before.by_key[k].person_id == pid]
        key = data.draw(st.sampled_from(theirs or before.keys()), label="face")
        face, pid = before.by_key[key].id, (pid if pid is not None else name)
        self.decide(self.via(how, ["reject", str(face), name, "--json"], "reject", [face, pid], None),
                    lambda truth, b, a: truth.reject(key, name))

    @precondition(lambda self: len(self.truth.people) >= 2)
    @rule(data=st.data(), how=VIA)
    @counted
    def merge_named(self, data, how):
        target = data.draw(st.sampled_from(sorted(self.truth.people)), label="target")
        source = data.draw(st.sampled_from(sorted(set(self.truth.people) - {target})), label="source")
        named = self.snap().named
        args = [named.get(target, target), named.get(source, source)]
        self.decide(self.via(how, ["merge", target, source, "--yes", "--json"], "merge", args, None),
                    lambda truth, b, a: truth.merge(target, source))

    @precondition(lambda self: self.truth.people and self.free_aliases())
    @rule(data=st.data(), how=VIA)
    @counted
    def add_alias(self, data, how):
        name = data.draw(st.sampled_from(sorted(self.truth.people)), label="person")
        alias = data.draw(st.sampled_from(self.free_aliases()), label="alias")
        pid = self.snap().named.get(name, name)
        self.decide(self.via(how, ["alias", name, alias, "--json"], "alias", [pid, [alias]], None),
                    lambda truth, b, a: truth.people[name].add(alias))

    @precondition(lambda self: any(self.truth.people.values()))
    @rule(data=st.data(), how=VIA)
    @counted
    def remove_alias(self, data, how):
        pairs = sorted((n, a) for n, aliases in self.truth.people.items() for a in aliases)
        name, alias = data.draw(st.sampled_from(pairs), label="alias")
        pid = self.snap().named.get(name, name)
        self.decide(self.via(how, ["alias", name, alias, "--remove", "--json"], "alias", [pid, [alias], True], None),
                    lambda truth, b, a: truth.people[name].discard(alias))

    @precondition(lambda self: not self.history_lost)
    @rule(how=VIA, interrupt=INTERRUPT)
    @counted
    def undo(self, how, interrupt):
        before = self.snap()
        ran = (self.app.call("undo", [], interrupt) if how == "app"
               else self.cli("people", "undo", "--json", interrupt=interrupt))
        after = self.snap()
        undone = [i for i in before.done if after.journal.get(i) == 1]
        if undone:
            if undone != before.done[-1:]:
                self.problem(f"undo took back {undone}, not the last decision {before.done[-1:]}")
            if self.stack:
                self.truth = self.stack.pop()
            else:
                self.problem("undo took back a decision the oracle never made")
        elif ran.ok and self.stack:
            self.problem(f"undo said it was done, but decision {before.done[-1:]} is not undone")
        if ran.interrupted:
            STATS["interrupted_" + ("happened" if undone else "not_happened")] += 1
        self.note(ran.describe() + f" [{'undone' if undone else 'nothing undone'}]")
        if not ran.ok and not ran.interrupted:
            self.problem(f"{ran.what} failed (exit {ran.rc}): {ran.err.strip()[-600:]}")

    @rule()
    @counted
    def recluster(self):
        before = self.snap()
        self.must(self.cli("people", "recluster", "--json"))
        if self.snap().journal != before.journal:
            self.problem("recluster changed the journal")

    @rule()
    @counted
    def export_import(self):
        """An export imported back: nothing changes (it may count as one decision, or none when nothing did)."""
        exported = self.base / "people.json"
        self.decide(lambda: self._export_import(exported), lambda truth, b, a: None)

    def _export_import(self, exported: Path) -> Ran:
        ran = self.cli("people", "export", str(exported))
        if not ran.ok:
            return ran
        return self.cli("people", "import", str(exported), "--json")

    # -- folders --------------------------------------------------------------------------------------------------
    @precondition(lambda self: not self.sub_forgotten)
    @rule()
    @counted
    def forget_sub(self):
        ran = self.must(self.cli("forget", str(self.root / SUB), "--json"))
        if ran.ok:
            self.sub_forgotten = True
            for state in [self.truth, *self.stack]:
                state.drop_under(SUB + os.sep)

    @precondition(lambda self: self.plugged)
    @rule(rename_only=st.booleans(), rescan_first=st.booleans(), forget_old=st.booleans())
    @counted
    def move_album(self, rename_only, rescan_first, forget_old):
        """`mv` the photo folder, then index the new place: every decision comes along (the files are known by their
        content)."""
        self.moves += 1
        old = self.root
        new = old.with_name(f"album-{self.moves}") if rename_only else self.base / f"place{self.moves}" / "album"
        new.parent.mkdir(parents=True, exist_ok=True)
        os.rename(old, new)
        self.note(f"mv {old.relative_to(self.base)} {new.relative_to(self.base)}")
        STATS["moves"] += 1
        if rescan_first:
            self.must(self.cli("index", "--json"))
        ran = self.must(self.cli("index", str(new), "--json"))
        if ran.json:
            self.note(f"  moved {ran.json.get('moved')}, new {ran.json.get('new')}, missing {ran.json.get('missing')}")
        self.root = new
        self.sub_forgotten = False  # the new place's subfolder is in the library again (its files as new ones)
        if forget_old:
            ran = self.cli("forget", str(old), "--json")
            self.note(ran.describe())
            code = ((ran.json or {}).get("error") or {}).get("code")
            if not ran.ok and code != "not_in_library":
                self.problem(f"forgetting the old place failed: {ran.err.strip()[-300:]}")

    @precondition(lambda self: self.plugged)
    @rule()
    @counted
    def unplug(self):
        """The folder cannot be reached (renamed away: an unplugged drive): its files go offline, nothing is lost."""
        self.away.parent.mkdir(parents=True, exist_ok=True)
        os.rename(self.root, self.away)
        self.plugged = False
        ran = self.must(self.cli("index", "--json"))
        if ran.ok and str(self.root) not in (ran.json or {}).get("offline_folders", {}):
            self.problem(f"the unplugged folder is not reported offline: {ran.json and ran.json.get('offline_folders')}")
        STATS["unplugs"] += 1

    @precondition(lambda self: not self.plugged)
    @rule()
    @counted
    def plug_back(self):
        os.rename(self.away, self.root)
        self.plugged = True
        ran = self.must(self.cli("index", "--json"))
        if ran.ok and str(self.root) in (ran.json or {}).get("offline_folders", {}):
            self.problem("the folder is back, yet still reported offline")

    # -- the app's life ---------------------------------------------------------------------------------------------
    @precondition(lambda self: self.app.alive())
    @rule(sig=st.sampled_from(["KILL", "TERM"]))
    @counted
    def app_dies(self, sig):
        self.app.kill(_signal(sig))
        STATS["app_" + sig.lower()] += 1
        self.note(f"app: {sig} between decisions")

    @precondition(lambda self: self.app.alive())
    @rule()
    @counted
    def app_quits(self):
        self.app.quit()
        self.note("app: quit")

    # -- losing the catalog -----------------------------------------------------------------------------------------
    @precondition(lambda self: REPAIR_REPLAYS_JOURNAL)
    @rule(app_end=st.sampled_from(["quit", "KILL"]), kill_repair=st.one_of(st.none(), st.integers(0, 20).map(lambda i: i * 0.1)))
    @counted
    def destroy_and_repair(self, app_end, kill_repair):
        """The catalog is lost (catalog.db, -wal, -shm deleted); `doctor --repair` brings back every decision."""
        if self.app.alive():
            (self.app.quit() if app_end == "quit" else self.app.kill(signal.SIGKILL))
            self.note(f"app: {app_end} before the catalog is lost")
        for suffix in ("", "-wal", "-shm"):
            (self.lib / f"catalog.db{suffix}").unlink(missing_ok=True)
        self.note("deleted catalog.db, -wal, -shm")
        if kill_repair is not None:
            self.note(self.cli("doctor", "--repair", "--json", interrupt=("KILL", kill_repair)).describe())
        ran = self.must(self.cli("doctor", "--repair", "--json"))
        STATS["repairs"] += 1
        report = ran.json or {}
        self.note(f"  restored from {(report.get('restored_from') or {}).get('reason')} "
                  f"(age {(report.get('restored_from') or {}).get('age_s')} s), empty {report.get('started_empty')}, "
                  f"scan {report.get('scan')}, people {report.get('people')}")
        scan = report.get("scan") or {}
        if scan.get("new") or scan.get("changed"):
            self.must(self.cli("index", "--json"))
        if not CHECK_UNDO_HISTORY and len(self.snap().done) != len(self.stack):
            self.history_lost = True  # what `people undo` takes back is no longer the oracle's: no more undo
            self.note("  the undo history did not come back: undo is left out from here")

    # -- the invariant ----------------------------------------------------------------------------------------------
    @invariant()
    def every_decision_is_in_the_catalog(self):
        if not self.started:
            return
        STATS["steps"] += 1
        found = self.problems + self.violations(self.snap())
        self.problems = []
        if found:
            STATS["violations"] += len(found)
            report = ("\n  - ".join(["violations:", *found]) + "\nlast steps:\n    "
                      + "\n    ".join(self.log[-30:]))
            FOUND.append(report)
            raise AssertionError(report)

    def violations(self, snap: Snap) -> list[str]:
        out = []
        t = self.truth
        for name, aliases in sorted(t.people.items()):
            pid = snap.named.get(name)
            if pid is None:
                out.append(f"person {name} is not in the catalog")
            elif snap.aliases.get(pid, set()) != aliases:
                out.append(f"{name}'s aliases are {sorted(snap.aliases.get(pid, set()))}, not {sorted(aliases)}")
        for name in sorted(set(snap.named) - set(t.people)):
            out.append(f"the catalog has a person {name} whom no decision made (or an undo took back)")
        for key, name in sorted(t.confirmed.items()):
            face = snap.by_key.get(key)
            if face is None:
                out.append(f"face {_k(key)}, confirmed as {name}, is not in the catalog")
            elif not face.confirmed or snap.people.get(face.person_id) != name:
                who = snap.people.get(face.person_id) if face.person_id else None
                out.append(f"face {_k(key)} is confirmed as {name}, but the catalog has it "
                           f"{'confirmed' if face.confirmed else 'unconfirmed'} under {who or face.person_id}")
        for key, face in sorted(snap.by_key.items()):
            if face.confirmed and key not in t.confirmed:
                out.append(f"face {_k(key)} is confirmed as {snap.people.get(face.person_id)} in the catalog, "
                           "though no decision (left) says so")
        for key, name in sorted(t.rejected):
            face, pid = snap.by_key.get(key), snap.named.get(name)
            if face is None:
                out.append(f"face {_k(key)}, rejected for {name}, is not in the catalog")
            elif pid is not None and (face.id, pid) not in snap.rejections:
                out.append(f"the catalog lost the answer \"face {_k(key)} is not {name}\"")
            if face is not None and pid is not None and face.person_id == pid:
                out.append(f"stranger: face {_k(key)}, rejected for {name}, is under {name} "
                           f"({'confirmed' if face.confirmed else 'placed automatically'})")
        names = {pid: n for n, pid in snap.named.items()}
        for face_id, pid in sorted(snap.rejections):
            face = snap.by_id.get(face_id)
            if face is not None and face.key is not None and pid in names and (face.key, names[pid]) not in t.rejected:
                out.append(f"the catalog says face {_k(face.key)} is not {names[pid]}; no decision (left) says so")
        if snap.duplicates:
            out.append(f"faces found twice in the catalog: {[_k(k) for k in snap.duplicates]}")
        if CHECK_UNDO_HISTORY and len(snap.done) != len(self.stack):
            out.append(f"undo history: the catalog's journal holds {len(snap.done)} decisions that `people undo` "
                       f"would take back, the oracle {len(self.stack)}")
        return out


def _k(key: Key) -> str:
    return f"{key[0]}@({key[1]},{key[2]})"


seed(SEED)(SafetyMachine)


def test_stateful_safety():
    """The short run CI makes: a fixed seed, 6 sequences of up to 15 steps (about a minute on 2 cores)."""
    STATS.clear()
    try:
        run_state_machine_as_test(SafetyMachine, settings=ci_settings())
    finally:
        print("stateful safety:", dict(STATS))


def run(examples: int, steps: int, seed_value: int, shrink: bool = False) -> dict:
    """The long run (`python -m bench safety --stateful N`): `examples` sequences of `steps` steps. A failing sequence
    is reported (shrunk to its shortest form with `shrink`) and the run goes on with the next seed until `examples`
    sequences have run. Returns the counts and every violation report."""
    STATS.clear()
    FOUND.clear()
    failures = []
    t = time.perf_counter()
    attempt = 0
    while STATS["examples"] < examples:
        phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if shrink else [])
        config = settings(max_examples=examples - STATS["examples"], stateful_step_count=steps, deadline=None,
                          database=None, suppress_health_check=list(HealthCheck), phases=phases)
        SafetyMachine._hypothesis_internal_use_seed = seed_value + attempt
        attempt += 1
        try:
            run_state_machine_as_test(SafetyMachine, settings=config)
        except BaseException as e:  # an invariant violated (or flaky on replay): record it, go on
            if isinstance(e, KeyboardInterrupt):
                raise
            failures.append({"seed": seed_value + attempt - 1, "error": f"{type(e).__name__}: {e}"[:4000]})
    SafetyMachine._hypothesis_internal_use_seed = SEED
    return {"examples": STATS["examples"], "steps": STATS["steps"], "seconds": round(time.perf_counter() - t, 1),
            "kills": STATS["cli_kill"] + STATS["app_kill"], "terms": STATS["cli_term"] + STATS["app_term"],
            "interrupted_happened": STATS["interrupted_happened"],
            "interrupted_not_happened": STATS["interrupted_not_happened"], "app_starts": STATS["app_starts"],
            "repairs": STATS["repairs"], "moves": STATS["moves"], "unplugs": STATS["unplugs"],
            "violations": STATS["violations"], "failing_sequences": len(failures), "failures": failures,
            "reports": list(FOUND)}
