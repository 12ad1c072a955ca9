"""What a newcomer reads first is true: every default that `idlens … --help` names is the default the code uses,
read from the code (core.settings, the core jobs' own signatures, the options themselves), never from a copy here.
The README's numbers that are a constant of the code are checked against that constant too."""
from __future__ import annotations

import inspect
import os
import re
import signal

import click
import pytest
from click.testing import CliRunner

from app.cli import cli
from core.settings import DEFAULT_MODEL, Settings, default_library_dir
from tests.conftest import ROOT


def commands(group: click.Command = cli, path: tuple[str, ...] = ()):
    """(path, command) for `idlens` and every command and subcommand under it."""
    yield path, group
    if isinstance(group, click.Group):
        for name, sub in sorted(group.commands.items()):
            yield from commands(sub, path + (name,))


COMMANDS = list(commands())


@pytest.fixture(autouse=True)
def keep_sigterm():
    """`idlens COMMAND --help` runs the group's callback, which makes SIGTERM end a command like Ctrl-C: not for
    the test process after the test."""
    before = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, before)


def help_text(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="idlens")
    assert result.exit_code == 0, result.output
    return result.output


def flat(text: str) -> str:
    """Help text with its line wrapping undone."""
    return " ".join(text.split())


def squeezed(text: str) -> str:
    """Without any whitespace: click wraps long words at their hyphens too ("/tmp/pytest-of-" / "root/…")."""
    return "".join(text.split())


def says(text: str, part: str) -> bool:
    return squeezed(part) in squeezed(text)


def context_of(path: tuple[str, ...]) -> click.Context:
    ctx = click.Context(cli, info_name="idlens")
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
        ctx = click.Context(command, info_name=name, parent=ctx)
    return ctx


def options(command: click.Command):
    return [p for p in command.params if isinstance(p, click.Option) and p.name != "help"]


def shown_default(option: click.Option, ctx: click.Context) -> str | None:
    """What the option's help shows as its default ("[default: X; …]"), or None."""
    record = option.get_help_record(ctx)
    found = re.search(r"\[(?:[^\]]*; )?default: ([^;\]]+)", record[1]) if record else None
    return found.group(1).strip() if found else None


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(("idlens",) + p))
def test_every_help_page_opens_and_every_option_says_what_it_does(path):
    text = help_text(path)
    assert text.startswith(f"Usage: {' '.join(('idlens',) + path)}")
    command = context_of(path).command
    assert command.help and command.help.strip(), "a command without a sentence saying what it does"
    for option in options(command):
        assert option.help and option.help.strip(), f"{option.opts} has no help"


def test_the_default_model_named_is_the_one_a_new_library_uses(tmp_path, monkeypatch):
    from core.library import Library

    text = help_text(())
    assert says(text, f"else {DEFAULT_MODEL}.")
    # Any model named in the help at all is the default: no other tag can pass for it.
    assert set(re.findall(r"ViT-[\w-]+:[\w./-]+?(?=[.,;)]|$)", squeezed(text))) == {DEFAULT_MODEL}
    assert Settings().model == DEFAULT_MODEL
    monkeypatch.delenv("IDLENS_MODEL", raising=False)
    with Library(tmp_path / "lib") as lib:  # a new library, nothing asked for: what it will embed with
        assert lib.model_spec == DEFAULT_MODEL
        assert lib.settings.model == DEFAULT_MODEL


@pytest.mark.parametrize("env", [None, "named"])
def test_the_library_folder_shown_is_the_one_commands_use(tmp_path, monkeypatch, env):
    if env is None:
        monkeypatch.delenv("IDLENS_LIBRARY", raising=False)
    else:
        monkeypatch.setenv("IDLENS_LIBRARY", str(tmp_path / env))
    used = cli.make_context("idlens", ["status"]).params["library_dir"]
    assert used == str(default_library_dir())
    library = next(o for o in cli.params if o.name == "library_dir")
    assert isinstance(library, click.Option)
    shown = shown_default(library, context_of(()))
    assert shown is not None and os.path.expanduser(shown) == used
    assert says(help_text(()), f"[default: {shown}]")


def test_every_default_shown_is_the_value_the_command_gets():
    checked = 0
    for path, command in COMMANDS:
        ctx = context_of(path)
        text = help_text(path)
        for option in options(command):
            shown = shown_default(option, ctx)
            if shown is None:
                continue
            value = option.type_cast_value(ctx, option.get_default(ctx, call=True))
            assert os.path.expanduser(shown) == str(value), f"idlens {' '.join(path)} {option.opts[0]}"
            assert says(text, f"default: {shown}")
            checked += 1
    assert checked >= 10  # --library, search -k, people suggest -k, history -n, the idclip options…


# Every option or command whose own help text speaks of a default: what it says, read from the code.
def _text_width() -> str:
    return "the width of CLIP's text tower"


def _new_sidecar() -> str:
    from core.faces.sidecars import NEW_SIDECAR, STYLES

    return f"the sidecar a photo already has, else a {STYLES[NEW_SIDECAR][0].removesuffix(' sidecar')} one"


SAYS_DEFAULT = {
    ((), "model"): lambda: DEFAULT_MODEL,
    (("metadata", "write"), "style"): _new_sidecar,
    (("idclip", "train"), "hidden"): _text_width,  # what that width is: test_hidden_width_is_the_text_towers
}


def test_help_that_speaks_of_a_default_names_the_real_one():
    seen = set()
    for path, command in COMMANDS:
        assert "default" not in (command.help or "").lower(), f"idlens {' '.join(path)}: add it to SAYS_DEFAULT"
        for option in options(command):
            if "default" not in (option.help or "").lower():
                continue
            key = (path, option.name)
            assert key in SAYS_DEFAULT, f"idlens {' '.join(path)} {option.opts[0]} names a default: check it here"
            assert says(option.help or "", SAYS_DEFAULT[key]())
            seen.add(key)
    assert seen == set(SAYS_DEFAULT)


def test_the_idclip_commands_default_to_the_core_jobs_own_values():
    from core.idclip.adapt import adapt
    from core.idclip.evaluate import evaluate
    from core.idclip.train import train

    def core(job, name):
        return inspect.signature(job).parameters[name].default

    def cli_default(path, name):
        option = next(o for o in context_of(path).command.params if o.name == name)
        return option.default

    for name in ("epochs", "batch_size", "lr"):
        assert cli_default(("idclip", "train"), name) == core(train, name)
    assert cli_default(("idclip", "eval"), "split") == core(evaluate, "split")
    for name in ("epochs", "lr"):
        assert cli_default(("idclip", "adapt"), name) == core(adapt, name)


def test_hidden_width_is_the_text_towers():
    pytest.importorskip("torch")
    from core.clip.embedder import ClipEmbedder
    from core.idclip.model import IdClip
    from core.settings import models_dir

    embedder = ClipEmbedder("tiny-test", models_dir(), int8=False)
    made = IdClip.create(embedder, face_dim=128, face_backend="yunet-sface")  # --hidden not given
    assert made.config.hidden == made.config.width == embedder.torch_model.token_embedding.embedding_dim


def test_model_install_names_the_int8_rule_it_applies():
    from core.clip.install import FAITHFUL

    assert says(help_text(("model", "install")), f"within cosine {FAITHFUL} of fp32")


# -- the README's numbers that are constants of the code ---------------------------------------------------------
def readme() -> str:
    return flat((ROOT / "README.md").read_text(encoding="utf-8"))


def test_readme_names_the_default_model_the_code_uses():
    text = readme()
    assert f"The default is **`{DEFAULT_MODEL}`**" in text
    assert f"**The CLIP model** (`{DEFAULT_MODEL}` unless you choose another" in text
    assert "`idlens model install`" in text


def test_readme_idclip_defaults_are_the_commands():
    """`idlens idclip train DATASET --out idclip.pt [--epochs 10 --batch 32 --lr 5e-5 --vpt 0]` names the defaults."""
    found = re.search(r"\[--epochs (\S+) --batch (\S+) --lr (\S+) --vpt (\S+)\]", readme())
    assert found, "the README's idclip train line"
    train = context_of(("idclip", "train")).command
    defaults = {o.name: o.default for o in train.params}
    assert [float(v) for v in found.groups()] == [defaults["epochs"], defaults["batch_size"], defaults["lr"],
                                                   defaults["vpt_tokens"]]


NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


def test_readme_numbers_are_the_code_constants():
    from core.clip import vector_index
    from core.clip.install import FAITHFUL
    from core.faces import quality
    from core.media import video
    from core.search import ranking
    from core.store import backups

    s, text = Settings(), readme()
    regular = int(s.video_max_frames * (1 - video.SCENE_BUDGET))
    film = 2 * 3600 / regular
    expected = [
        f"a frame every {s.video_interval:g} s",
        f"at most {s.video_max_frames} frames",
        f"a 2-hour film: one every {film:g} s",
        f"M={vector_index.M}",
        f"up to {vector_index.EXACT_MAX // 1000}k vectors",
        f"{ranking.MIN_Z:g} standard deviations",
        f"the best {NUMBER_WORDS[ranking.MIN_KEEP]} are always shown",
        f"newest {backups.KEEP_DAILY} daily and {backups.KEEP_BEFORE} pre-operation copies",
        f"the copy is at least {backups.REFRESH // 60} minutes old",
        f"within cosine {FAITHFUL} of fp32",
        f"grouped by average linkage at {s.face_cluster:.2f}",
        f"at least {s.face_suggest_floor:.2f} like one of theirs",
        f"small (< {s.face_min_size:g} px), uncertain (score < {s.face_min_score:g}), blurred (Laplacian variance "
        f"< {s.face_min_sharpness:g}",
        f"a *good* face (at least {quality.GOOD_SIZE:g} px, detector score {quality.GOOD_SCORE:.2f}, sharpness "
        f"{quality.GOOD_SHARPNESS:g})",
        f"needs {quality.BAND_RULES['good'].auto:.2f} to one confirmed face (or {quality.BAND_RULES['good'].auto:.2f} "
        f"and {quality.BAND_RULES['good'].support:.2f} to two), a lead of {quality.BAND_RULES['good'].margin:.2f}",
    ]
    missing = [e for e in expected if e not in text]
    assert not missing, missing


def test_readme_the_backup_and_lock_sentences_match_the_code():
    """The promises about backups, the decision log and the write lock, as the code keeps them."""
    from core import lock
    from core.store import backups, decision_log

    text = readme()
    assert backups.CLOSING == 0  # "renewed whenever a command or the app closes after a change"
    assert "whenever a command or the app closes after a change" in text
    assert f"`backups/{decision_log.FILE}`" in text
    assert f"`{lock.LOCK_FILE}` only names its holder" in text


def test_readme_lists_every_error_code_json_reports():
    import errno
    import sqlite3

    from app.cli_common import ERROR_CODES, NotFound, classify

    samples = [click.UsageError("x"), NotFound("x"), click.ClickException("x"), KeyboardInterrupt(),
               sqlite3.DatabaseError("database disk image is malformed"),
               sqlite3.OperationalError("attempt to write a readonly database"),
               sqlite3.OperationalError("unable to open database file"),
               sqlite3.OperationalError("database or disk is full"), sqlite3.OperationalError("database is locked"),
               sqlite3.DatabaseError("something else"), OSError(errno.ENOSPC, "full"), OSError(errno.EACCES, "no"),
               OSError(errno.EROFS, "ro"), OSError(errno.EIO, "io")]
    codes = {classify(e)[0] for e in samples} | {code for _, code in ERROR_CODES}
    listed = re.search(r"`code` is one of `([^`]+)`", readme())
    assert listed, "the README's list of error codes"
    assert set(listed.group(1).replace(" ", "").split(",")) == codes
