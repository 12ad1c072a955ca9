"""Names in any script and spelling: the normal form (core.names), query understanding with real people's names,
and the same through the real CLI. Table-driven over many scripts; hypothesis for any name `people name` accepts."""
from __future__ import annotations

import datetime as dt
import json
import unicodedata

import pytest
from hypothesis import given, settings, strategies as st

from core import names
from core.search.query import parse
from tests.test_cli import idlens

TODAY = dt.date(2026, 11, 29)

# name, a spelling without accents / in Latin letters that must also find them (None: none expected)
NAMES = [
    ("Łukasz", "Lukasz"),            # Polish: ł does not decompose
    ("Zoë", "Zoe"),                  # diaeresis
    ("O'Brien", "OBrien"),           # apostrophe inside the name
    ("Søren", "Soren"),              # Danish ø
    ("Đorđe", "Dorde"),              # Serbian đ
    ("Çağla", "Cagla"),              # Turkish
    ("İlknur", "Ilknur"),            # Turkish dotted capital I
    ("Jiří", "Jiri"),                # Czech
    ("Аня", "Anya"),                 # Cyrillic
    ("Σοφία", "Sofia"),              # Greek
    ("محمد", None),                  # Arabic (no case)
    ("דוד", None),                   # Hebrew
    ("王芳", None),                  # Chinese
    ("さくら", None),                # Japanese
    ("김민준", None),                # Korean
    ("Nguyễn", "Nguyen"),            # Vietnamese: stacked diacritics
    ("Anne-Marie", "Anne Marie"),    # hyphenated
    ("Straße", "Strasse"),           # German ß
]
BOOK = [(i + 1, n, n, "name") for i, (n, _) in enumerate(NAMES)]


def people_of(text):
    return [m.name for m in parse(text, BOOK, TODAY).people]


def spellings(name: str) -> list[str]:
    """The same name as people type it: as is, decomposed (macOS, pastes), lower case, upper case."""
    return [name, unicodedata.normalize("NFD", name), name.lower(), name.upper(),
            name.replace("'", "’").replace("-", "‐")]


@pytest.mark.parametrize("name,plain", NAMES)
def test_each_name_is_found_in_every_spelling(name, plain):
    for typed in spellings(name) + ([plain] if plain else []):
        for template in ("{}", "{} at the beach", "a photo of {}", "{}'s birthday cake"):
            q = parse(template.format(typed), BOOK, TODAY)
            assert [m.name for m in q.people] == [name], (template, typed)
            assert names.loose(typed) not in [t.loose for t in names.tokens(q.context)], (template, typed)
            assert q.unknown_names == []


def test_normal_form():
    assert names.key("O’BRIEN") == names.key("o'brien") == "o'brien"
    assert names.key("Zoe\u0308") == names.key("ZOË") == "zoë"
    assert names.loose("Łukasz") == "lukasz" and names.loose("Straße") == "strasse" and names.loose("Ærø") == "aero"
    assert names.clean("  Zoe\u0308   Martin ") == "Zoë Martin"  # shown as typed, in NFC
    assert not names.has_letter("2019") and not names.has_letter("!?") and names.has_letter("王")


def test_exact_spelling_wins_over_the_accent_free_one():
    book = [(1, "Anna", "Anna", "name"), (2, "Анна", "Анна", "name"), (3, "Zoë", "Zoë", "name"),
            (4, "Zoe", "Zoe", "name")]
    assert [m.person_id for m in parse("Anna", book, TODAY).people] == [1]
    assert [m.person_id for m in parse("Анна", book, TODAY).people] == [2]
    assert [m.person_id for m in parse("zoë", book, TODAY).people] == [3]
    assert [m.person_id for m in parse("Zoe", book, TODAY).people] == [4]


def test_partial_names_and_alternatives():
    book = [(1, "Ben Okafor", "Ben Okafor", "name"), (2, "Ben Lee", "Ben Lee", "name"),
            (3, "Zoë Martin", "Zoë Martin", "name"), (4, "Ludwig van Beethoven", "Ludwig van Beethoven", "name")]
    q = parse("Okafor at the beach", book, TODAY)
    assert [m.name for m in q.people] == ["Ben Okafor"] and q.people[0].match == "partial" and not q.notes
    q = parse("Zoe on a bike", book, TODAY)
    assert [m.name for m in q.people] == ["Zoë Martin"] and q.context == "a person on a bike"
    q = parse("Ben at the beach", book, TODAY)
    assert len(q.people) == 1 and set(q.people[0].person_ids) == {1, 2}
    assert q.notes == ["Ben: Ben Okafor or Ben Lee — type the full name to choose"]
    assert q.to_json()["people"][0]["alternatives"] == [{"id": 2, "name": "Ben Lee"}]
    assert [m.person_id for m in parse("Ben Lee", book, TODAY).people] == [2]
    assert parse("van der Berg", book, TODAY).people == []        # particles are nobody's first or last name
    assert parse("ben at the beach", book, TODAY).people == []    # a first name alone is written as a name


def test_aliases_find_their_person():
    book = [(1, "Aleksandra", "Aleksandra", "name"), (1, "Aleksandra", "Sasha", "alias"),
            (2, "Joseph", "Grandpa Joe", "alias"), (2, "Joseph", "Joseph", "name")]
    q = parse("Sasha and Grandpa Joe at dinner", book, TODAY)
    assert [(m.name, m.match) for m in q.people] == [("Aleksandra", "alias"), ("Joseph", "alias")]
    assert q.context == "people at dinner"


def test_unknown_names_are_reported_whole():
    assert parse("Zebulon Quist at the beach", BOOK, TODAY).unknown_names == ["Zebulon Quist"]
    assert parse("photos of Tom Hanks", BOOK, TODAY).unknown_names == ["Tom Hanks"]
    assert parse("Tom on the beach", BOOK, TODAY).unknown_names == ["Tom"]
    assert parse("Tom", BOOK, TODAY).unknown_names == ["Tom"]
    assert parse("Tom's cake", BOOK, TODAY).unknown_names == ["Tom"]
    assert parse("Beach at sunset", BOOK, TODAY).unknown_names == []   # an everyday word starting a query
    assert parse("Łukasz and Jan Nowak", BOOK, TODAY).unknown_names == ["Jan Nowak"]


def test_names_versus_dates():
    book = [(1, "Zoë", "Zoë", "name"), (2, "May", "May", "name"), (3, "June Carter", "June Carter", "name")]
    q = parse("Zoë in May", book, TODAY)
    assert [m.name for m in q.people] == ["Zoë"] and q.month == 5 and q.context == ""
    assert any("read as a date" in n and "May" in n for n in q.notes)
    q = parse("Zoë and May at the lake", book, TODAY)
    assert [m.name for m in q.people] == ["Zoë", "May"] and q.month is None
    q = parse("photos from June 2021", book, TODAY)
    assert q.people == [] and q.date_from == dt.datetime(2021, 6, 1)
    assert [m.name for m in parse("June Carter singing", book, TODAY).people] == ["June Carter"]
    jan = [(1, "Jan", "Jan", "name")]
    q = parse("Anna in Jan's garden", jan, TODAY)
    assert [m.name for m in q.people] == ["Jan"] and q.month is None   # an abbreviation alone is no month


def test_emoji_are_words_and_nothing_is_nothing():
    q = parse("🐶 🎂", BOOK, TODAY)
    assert q.context == "🐶 🎂" and not q.empty
    assert parse("!!! ...", BOOK, TODAY).empty
    assert parse("👨‍👩‍👧 at the beach", BOOK, TODAY).context == "👨‍👩‍👧 at the beach"


def test_completion_uses_the_same_normal_form():
    entries = [("Zoë Martin", "Zoë Martin"), ("Łukasz", "Łukasz"), ("Mum", "Aleksandra"),
               ("Aleksandra", "Aleksandra"), ("Аня", "Аня")]
    assert names.complete("zoe", entries) == ["Zoë Martin"]
    assert names.complete("mar", entries) == ["Zoë Martin"]       # a last name offers its person
    assert names.complete("lu", entries) == ["Łukasz"]
    assert names.complete("mu", entries) == ["Aleksandra"]        # an alias offers its person
    assert names.complete("ан", entries) == ["Аня"] and names.complete("any", entries) == ["Аня"]


# Names people may give: at least one letter, any script, with spaces, apostrophes and hyphens inside.
letters = st.characters(whitelist_categories=("Lu", "Ll", "Lo", "Lt", "Mn"), blacklist_characters="\u0345")
word = st.builds(lambda first, rest: first + rest,
                 st.characters(whitelist_categories=("Lu", "Ll", "Lo")), st.text(letters, max_size=8))
person_name = st.builds(lambda ws, sep: sep.join(ws), st.lists(word, min_size=1, max_size=3),
                        st.sampled_from([" ", "-", "'"]))


@settings(max_examples=300, deadline=None, derandomize=True)  # the same examples in CI as here
@given(person_name, st.sampled_from(["NFC", "NFD", "NFKC"]), st.sampled_from([str, str.lower, str.upper]),
       st.sampled_from(["{} at the beach", "a photo of {}", "{}"]))
def test_any_accepted_name_is_found_in_any_form_and_case(name, form, case, template):
    name = names.clean(name)
    if not names.has_letter(name) or names.key(name) in {"a", "an", "the", "in", "of", "and", "with", "only"}:
        return
    book = [(7, name, name, "name")]
    typed = case(unicodedata.normalize(form, name))
    q = parse(template.format(typed), book, TODAY)
    assert [m.person_id for m in q.people] == [7], (name, typed)
    # Nothing of the name is left for CLIP: the context holds only the template's own words and "a person".
    allowed = {t.key for t in names.tokens(template.format("a person"))}
    assert {t.key for t in names.tokens(q.context)} <= allowed, (name, q.context)


# -- through the real CLI --------------------------------------------------------------------------------------------
def test_cli_names_aliases_and_reports(tmp_path):
    from tests.test_identity_search import scene

    lib = str(tmp_path / "lib")
    album = tmp_path / "album"
    scene(album / "a1.jpg", 1, ["person_a_1.jpg"])
    scene(album / "a2.jpg", 2, ["person_a_2.jpg"])
    scene(album / "b1.jpg", 3, ["person_b_1.jpg"])
    scene(album / "b2.jpg", 4, ["person_b_2.jpg"])
    idlens("--library", lib, "index", str(album))
    groups = json.loads(idlens("--library", lib, "people", "list", "--json").stdout)["people"]
    assert len(groups) == 2
    idlens("--library", lib, "people", "name", str(groups[0]["id"]), "Łukasz O'Brien",
           str(groups[1]["id"]), "Аня Zoë")

    def found(query):
        out = json.loads(idlens("--library", lib, "search", query, "--json").stdout)
        return {p["name"] for p in out["understood"]["people"]}, out

    for query, who in [("ŁUKASZ O’BRIEN", "Łukasz O'Brien"), ("lukasz obrien", "Łukasz O'Brien"),
                       ("O'Brien", "Łukasz O'Brien"), ("Zoe", "Аня Zoë"), ("Anya at the beach", "Аня Zoë"),
                       ("Аня", "Аня Zoë")]:
        assert found(query)[0] == {who}, query

    # Aliases: added, listed, searched, refused for someone else, removed; carried by export/import.
    idlens("--library", lib, "people", "alias", "Аня Zoë", "Mum", "Sasha")
    listed = idlens("--library", lib, "people", "list").stdout
    assert "also: Mum, Sasha" in listed
    assert found("Mum at the beach")[0] == {"Аня Zoë"}
    refused = idlens("--library", lib, "people", "alias", "Łukasz O'Brien", "mum", check=False)
    assert refused.returncode == 1 and "already an alias of Аня Zoë" in refused.stderr
    assert idlens("--library", lib, "people", "name", str(groups[0]["id"]), "2019", check=False).returncode == 1
    export = tmp_path / "names.json"
    idlens("--library", lib, "people", "export", str(export))
    idlens("--library", lib, "people", "alias", "Аня Zoë", "Sasha", "--remove")
    assert found("Sasha")[0] == set()
    other = str(tmp_path / "other")
    idlens("--library", other, "index", str(album))
    idlens("--library", other, "people", "import", str(export))
    assert "also: Mum, Sasha" in idlens("--library", other, "people", "list").stdout

    # Unknown names whole, on stderr and in --json; nothing to search is one line and exit 1.
    res = idlens("--library", lib, "search", "Zebulon Quist at the beach")
    assert "not a person in your library: Zebulon Quist" in res.stderr
    assert found("photos of Tom Hanks")[1]["understood"]["unknown_names"] == ["Tom Hanks"]
    nothing = idlens("--library", lib, "search", "?!", check=False)
    assert nothing.returncode == 1 and nothing.stderr.count("\n") == 1 and "nothing to search" in nothing.stderr
    assert idlens("--library", lib, "search", "🐶").returncode == 0

    # Giving a named person another person's name asks first too (here: refuses without --yes).
    renamed = idlens("--library", lib, "people", "name", str(groups[0]["id"]), "аня zoë", check=False)
    assert renamed.returncode == 2 and "--yes" in renamed.stderr
    # Merging two named people asks first (here: refuses without --yes), then says what became of each name.
    asked = idlens("--library", lib, "people", "merge", "Аня Zoë", "Łukasz O'Brien", check=False)
    assert asked.returncode == 2 and "--yes" in asked.stderr
    merged = idlens("--library", lib, "people", "merge", "Аня Zoë", "Łukasz O'Brien", "--yes").stdout
    assert "Łukasz O'Brien merged into Аня Zoë" in merged and "alias" in merged
    assert found("lukasz obrien")[0] == {"Аня Zoë"}   # the merged name, now an alias


def test_date_wordings_and_a_trailing_only():
    book = [(1, "Zoë", "Zoë", "name"), (2, "Ben Okafor", "Ben Okafor", "name"), (2, "Ben Okafor", "Ben Carter", "alias")]
    q = parse("Zoë since 2017", book, TODAY)
    assert q.date_from == dt.datetime(2017, 1, 1) and q.date_to is None and q.context == ""
    assert parse("Zoë in sept 2018", book, TODAY).date_from == dt.datetime(2018, 9, 1)
    q = parse("Zoë in the summer of 2016", book, TODAY)
    assert (q.date_from, q.date_to, q.context) == (dt.datetime(2016, 6, 1), dt.datetime(2016, 9, 1), "")
    q = parse("Zoë only", book, TODAY)
    assert q.only and q.context == ""
    assert [m.name for m in parse("Carter at the beach", book, TODAY).people] == ["Ben Okafor"]  # an alias's last name
