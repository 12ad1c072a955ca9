"""Names that attack the terminal (issue 20, case 8): control characters, escape sequences, bidi overrides and
zero-widths never reach the catalog (core.names.clean removes them; a name longer than names.MAX_LENGTH is refused),
and whatever is printed — a name from an old catalog, a file name — never drives the terminal (names.printable).
Through the real `idlens` process, with the tiny-test model."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import names
from tests import media_factory
from tests.conftest import ROOT

FACES = ROOT / "tests" / "data" / "faces"
ATTACK = "\x1b[31m\x1b]0;pwned\x07\u202e\x08\x7f\x9b2J\u200b\ufeff\u2066"  # colour, title, RLO, BS, DEL, CSI, ZW
# Nothing of these may reach a terminal raw: C0 and C1 controls, DEL, bidi embeddings, overrides and isolates.
RAW = set(map(chr, [*range(0x09), *range(0x0b, 0x20), *range(0x7f, 0xa0)])) | set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

REAL_NAMES = [
    "محمد عبد الله",            # Arabic
    "דוד בן־גוריון",            # Hebrew, with a maqaf
    "مهدی\u200cزاده",            # Persian with ZWNJ
    "नरेन्द्र मोदी",              # Devanagari (virama)
    "क्\u200dष",                 # Devanagari half form with ZWJ
    "श्\u200cरी",                # Devanagari with ZWNJ
    "สมชาย ใจดี",               # Thai
    "李小龍", "宮崎 駿", "김연아",  # Chinese, Japanese, Korean
    "👩\u200d👩\u200d👧", "❤\ufe0f\u200d🔥 Zoë", "👍🏽 Sam",  # emoji ZWJ sequences, variation selector, skin tone
    "Nguyễn Thị Minh Khai", "Björk Guðmundsdóttir", "Σωκράτης", "Ngozi Okonjo-Iweala", "O'Brien", "Anne‐Marie",
    "Zoë", "Łukasz Żółć", "Аня", "Ꭰꮅꮝꭹ", "Mary-Kate O’Neill",
    "ශ්\u200dරී ලංකා",            # Sinhala with ZWJ
]


def idlens(*args, check=True):
    env = dict(os.environ, IDLENS_MODEL="tiny-test", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300, errors="surrogateescape", check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"idlens {args} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def people_json(library) -> list[dict]:
    return json.loads(idlens("--library", library, "people", "list", "--json").stdout)["people"]


def assert_no_raw(text: str) -> None:
    found = sorted({f"U+{ord(c):04X}" for c in text if c in RAW})
    assert not found, f"raw control characters printed: {found}\n{text!r}"


@pytest.fixture
def library(tmp_path):
    return str(tmp_path / "lib")


def test_names_typed_with_terminal_controls_are_stored_clean_and_printed_safely(library):
    """Naming, renaming and aliases through the CLI keep the visible name only; `people list` prints no control."""
    added = json.loads(idlens("--library", library, "people", "add", f"\x1b[31mAnna{ATTACK}\x1b[0m", "--photo",
                              str(FACES / "person_a_1.jpg"), "--json").stdout)["person"]
    assert added["name"] == "Anna"
    other = json.loads(idlens("--library", library, "people", "add", "\u202eBen\x07", "--photo",
                              str(FACES / "person_b_1.jpg"), "--json").stdout)["person"]
    assert other["name"] == "Ben"
    # a rename to a Persian name wrapped in attacks: the name itself, ZWNJ included, is kept exactly
    idlens("--library", library, "people", "name", str(other["id"]), "\u202b\x1b[2Jمهدی\u200cزاده\u200c\u202c")
    idlens("--library", library, "people", "alias", "Anna", "\x08\x08Mum\x1b[5m", "\u2067Annie\u2069\r\nx")
    by_id = {p["id"]: p for p in people_json(library)}
    assert by_id[added["id"]]["name"] == "Anna" and sorted(by_id[added["id"]]["aliases"]) == ["Annie x", "Mum"]
    assert by_id[other["id"]]["name"] == "مهدی\u200cزاده"
    listing = idlens("--library", library, "people", "list")
    assert_no_raw(listing.stdout + listing.stderr)
    assert "Anna" in listing.stdout and "also: Annie x, Mum" in listing.stdout
    # the decisions' summaries (history, undo) are made of the same clean names
    history = idlens("--library", library, "people", "history")
    assert_no_raw(history.stdout + history.stderr)
    # a name that is nothing but controls and invisibles is refused, in one line
    proc = idlens("--library", library, "people", "name", str(other["id"]), "\x1b[31m\u202e\u200b\x07", check=False)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert_no_raw(proc.stderr)
    assert {p["name"] for p in people_json(library)} == {"Anna", "مهدی\u200cزاده"}


def test_a_10000_character_name_is_refused_in_one_line(library):
    idlens("--library", library, "people", "add", "Anna", "--photo", str(FACES / "person_a_1.jpg"))
    for args in (["people", "name", "Anna", "A" * 10_000], ["people", "alias", "Anna", "B" * 10_000],
                 ["people", "add", "C" * 10_000, "--photo", str(FACES / "person_b_1.jpg")]):
        proc = idlens("--library", library, *args, check=False)
        assert proc.returncode == 1, (args[:2], proc.returncode, proc.stderr[-300:])
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("idlens: error:") and str(names.MAX_LENGTH) in lines[0], lines
        assert "Traceback" not in proc.stderr
    [anna] = people_json(library)
    assert anna["name"] == "Anna" and anna["aliases"] == []
    # the limit is on what is seen: 200 characters pass, even with controls around them
    long_ok = "D" * names.MAX_LENGTH
    idlens("--library", library, "people", "name", "Anna", f"\x1b[1m{long_ok}\x1b[0m")
    assert people_json(library)[0]["name"] == long_ok


def test_names_in_an_import_file_are_cleaned_and_limited(library, tmp_path):
    source = str(tmp_path / "source")
    idlens("--library", source, "people", "add", "Anna", "--photo", str(FACES / "person_a_1.jpg"))
    export = tmp_path / "people.json"
    idlens("--library", source, "people", "export", str(export))
    data = json.loads(export.read_text())
    data["people"][0]["name"] = "\x1b[31mEve\u202e\x1b]0;owned\x07"
    data["people"][0]["aliases"] = ["\x07Evie\x08", "\u2066Mum\u2069\u200b"]
    export.write_text(json.dumps(data))
    proc = idlens("--library", library, "people", "import", str(export))
    assert_no_raw(proc.stdout + proc.stderr)
    [eve] = people_json(library)
    assert eve["name"] == "Eve" and sorted(eve["aliases"]) == ["Evie", "Mum"]
    assert_no_raw(idlens("--library", library, "people", "list").stdout)

    # a 10,000-character name in the file: refused, in one line, and nothing of the file is written
    data["people"][0]["name"] = "Z" * 10_000
    export.write_text(json.dumps(data))
    proc = idlens("--library", library, "people", "import", str(export), check=False)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert [p["name"] for p in people_json(library)] == ["Eve"]


def test_controls_already_in_the_catalog_and_in_file_names_print_escaped(library, tmp_path):
    """A library made before names were cleaned (a row written raw) and files whose names hold ESC, BEL and an
    RLO: every listing prints them escaped; --json keeps them exact."""
    album = tmp_path / "album\x1b[41m"
    photo = album / "beach\x07\u202egpj.jpg"
    media_factory.photo(photo, seed=3)
    idlens("--library", library, "index", str(album))
    added = json.loads(idlens("--library", library, "people", "add", "Anna", "--photo",
                              str(FACES / "person_a_1.jpg"), "--json").stdout)["person"]
    raw_name = "Anna\x1b[2J\x1b]0;pwned\x07\u202eX"
    db = sqlite3.connect(Path(library) / "catalog.db")
    with db:
        db.execute("UPDATE people SET name = ? WHERE id = ?", [raw_name, added["id"]])
        db.execute("INSERT INTO aliases(person_id, alias, alias_key) VALUES (?, ?, ?)",
                   [added["id"], "Mum\x08\x08", names.key("Mum\x08\x08")])
    db.close()

    listing = idlens("--library", library, "people", "list")
    assert_no_raw(listing.stdout + listing.stderr)
    assert names.printable(raw_name) in listing.stdout and "\\x1b[2J" in listing.stdout
    assert "\\u202e" in listing.stdout and "Mum\\x08\\x08" in listing.stdout
    assert people_json(library)[0]["name"] == raw_name  # JSON: exact (json escapes what must be)

    for args in (["list"], ["status"], ["search", "a photo of a beach"], ["people", "faces", str(added["id"])],
                 ["people", "history"]):
        proc = idlens("--library", library, *args)
        assert_no_raw(proc.stdout + proc.stderr)
    shown = idlens("--library", library, "list").stdout
    assert names.printable(str(photo)) in shown and "album\\x1b[41m" in shown
    assert json.loads(idlens("--library", library, "list", "--json").stdout)["media"][0]["path"] == str(photo)
    found = idlens("--library", library, "search", "a photo of a beach").stdout
    assert "beach\\x07\\u202egpj.jpg" in found

    # an error that names the person is escaped too
    proc = idlens("--library", library, "people", "split", str(added["id"]), "99999", check=False)
    assert proc.returncode == 1 and names.printable(raw_name) in proc.stderr, proc.stderr
    assert_no_raw(proc.stderr)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=()), max_size=60)
       | st.lists(st.sampled_from(["\x1b[", "31m", "\x07", "\u202e", "\u200d", "\u200c", " ", "a", "ی", "👩", "\u0301",
                                   "\ufeff", "\x9b", "\u2068", "\n", "e", "्", "\ufe0f", "\x1b]", "\x1b\\"]),
                  max_size=30).map("".join))
def test_clean_leaves_no_control_and_is_idempotent(text):
    cleaned = names.clean(text)
    assert not any(c in RAW for c in cleaned), repr(cleaned)
    assert not any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in cleaned)
    assert not any(c in "\u200b\u200e\u200f\ufeff\u2060\u00ad" for c in cleaned)
    assert cleaned == cleaned.strip() and "  " not in cleaned
    assert not cleaned.startswith(("\u200c", "\u200d")) and not cleaned.endswith(("\u200c", "\u200d"))
    assert names.clean(cleaned) == cleaned
    assert unicodedata.is_normalized("NFC", cleaned)
    shown = names.printable(text)
    assert not any(c in RAW or unicodedata.category(c) in ("Cs", "Zl", "Zp") for c in shown)
    assert names.printable(cleaned) == cleaned  # a clean name prints as it is


@pytest.mark.parametrize("name", REAL_NAMES)
def test_real_names_in_every_script_survive_unchanged(name):
    assert names.clean(name) == name
    assert names.clean(f"\u202e\x1b[1m {name}\u200b\x07 \u2069\ufeff") == name  # the name, not what wrapped it
    assert names.printable(name) == name
    assert names.isolated(name) == (f"\u2068{name}\u2069" if any(
        unicodedata.bidirectional(c) in ("R", "AL") for c in name) else name)


def test_invisible_look_alikes_are_one_name():
    """Zero-widths between Latin letters, a BOM or an RLM only make a second "Anna" that looks the same."""
    for spoof in ("An\u200bna", "An\u200dna", "Anna\u200f", "\ufeffAnna", "An\u00adna", "Anna\u200c", "\u3164Anna"):
        assert names.clean(spoof) == "Anna", repr(spoof)
    assert names.clean("\x1b[31mAnna\x1b[0m") == "Anna"  # a whole escape sequence goes, not only its ESC
    assert names.clean("Anna\tMaria\nSmith") == "Anna Maria Smith"
    with pytest.raises(names.BadName, match=str(names.MAX_LENGTH)):
        names.clean("x" * (names.MAX_LENGTH + 1))
    assert names.printable("a\udcffb") == "a\\xffb"  # a file name's byte that is not UTF-8
