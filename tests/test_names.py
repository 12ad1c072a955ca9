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


# -- names in any case -----------------------------------------------------------------------------------------------
CASE_BOOK = [(1, "Zofia Nowak", "Zofia Nowak", "name"), (2, "Ben Okafor", "Ben Okafor", "name"),
             (3, "Ben Lee", "Ben Lee", "name"), (4, "Rose Okafor", "Rose Okafor", "name"),
             (5, "Jean-Luc Moreau", "Jean-Luc Moreau", "name"), (6, "Aleksandra", "Aleksandra", "name"),
             (6, "Aleksandra", "Sasha", "alias"), (7, "Joseph", "Joseph", "name"), (7, "Joseph", "Grandpa Joe", "alias"),
             (8, "Łukasz Wiśniewski", "Łukasz Wiśniewski", "name"), (9, "May Lee", "May Lee", "name"),
             (10, "Sally Field", "Sally Field", "name"), (11, "An Nguyen", "An Nguyen", "name"),
             (12, "Anne-Marie", "Anne-Marie", "name"), (13, "Аня Петрова", "Аня Петрова", "name")]


def case(text):
    q = parse(text, CASE_BOOK, TODAY)
    return [m.name for m in q.people], q


@pytest.mark.parametrize("typed,who", [
    ("zofia", "Zofia Nowak"), ("ZOFIA", "Zofia Nowak"), ("zOFIA", "Zofia Nowak"),         # first name, any case
    ("nowak", "Zofia Nowak"), ("NOWAK", "Zofia Nowak"),                                    # last name
    ("zofia nowak", "Zofia Nowak"), ("ZOFIA NOWAK", "Zofia Nowak"),                        # full name
    ("sasha", "Aleksandra"), ("grandpa joe", "Joseph"), ("joe", "Joseph"),                 # aliases, and their parts
    ("lukasz", "Łukasz Wiśniewski"), ("wisniewski", "Łukasz Wiśniewski"),                  # the accent-free fallback
    ("аня", "Аня Петрова"), ("петрова", "Аня Петрова"), ("anya", "Аня Петрова"),           # other cased scripts
    ("jean", "Jean-Luc Moreau"), ("Jean", "Jean-Luc Moreau"), ("jean-luc", "Jean-Luc Moreau"),  # hyphenated given
    ("Jean Luc", "Jean-Luc Moreau"), ("jean luc moreau", "Jean-Luc Moreau"),
    ("Luc", "Jean-Luc Moreau"),                                  # a later part: only with its capital, one person's
    ("anne", "Anne-Marie"),                                      # a hyphenated single name's first part
    ("rose okafor", "Rose Okafor"), ("Rose", "Rose Okafor"),     # an everyday word: whole, or with its capital
])
def test_a_name_that_is_one_persons_is_found_in_any_case(typed, who):
    for template in ("{}", "{} at the beach", "a photo of {}", "{}'s birthday cake"):
        found, q = case(template.format(typed))
        assert found == [who], (template, typed)
        assert not q.notes and not q.unknown_names, (template, typed)
        allowed = {t.key for t in names.tokens(template.format("a person"))}
        assert {t.key for t in names.tokens(q.context)} <= allowed, (template, typed, q.context)


def test_a_lower_case_everyday_word_is_the_word_with_a_note():
    found, q = case("a rose in a vase")
    assert found == [] and q.context == "a rose in a vase"
    assert q.notes == ["rose: also the name of Rose Okafor — type Rose to search for them"]
    found, q = case("a Rose in a vase")
    assert found == ["Rose Okafor"] and not q.notes
    found, q = case("a field of poppies")
    assert found == [] and q.notes == ["field: also the name of Sally Field — type Field to search for them"]
    assert case("Sally Field in a field")[1].notes == []         # she is searched already: no note
    found, q = case("may at the lake")                            # a first name that is a word
    assert found == [] and q.notes == ["may: also the name of May Lee — type May to search for them"]
    found, q = case("roses and a rose")                           # one note, however often the word comes
    assert q.notes == ["rose: also the name of Rose Okafor — type Rose to search for them"]
    book = CASE_BOOK + [(25, "Sơn Nguyễn", "Sơn Nguyễn", "name")]  # an accent-free form that is a word
    q = parse("my son playing football", book, TODAY)
    assert q.people == [] and q.notes == ["son: also the name of Sơn Nguyễn — type Son to search for them"]
    assert [m.name for m in parse("Zofia and Son", book, TODAY).people] == ["Zofia Nowak", "Sơn Nguyễn"]


def test_everyday_words_are_one_list():
    from core.search import query
    assert query.EVERYDAY_WORDS == query.WORD_NAMES | query.PHOTO_WORDS
    for word in ("rose", "may", "bill", "will", "mark", "grace", "summer", "june", "sky", "river", "dawn", "joy",
                 "faith", "hope", "ivy", "lily", "daisy", "pat", "sue", "rob", "jack", "frank", "art", "amber",
                 "coral", "ruby", "pearl", "brook", "cliff", "dale", "glen", "heather", "holly", "iris", "jade",
                 "olive", "penny", "robin", "rocky", "sandy", "violet", "wolf", "young", "king", "white", "black",
                 "brown", "green", "baker", "hunter", "mason", "miller", "smith", "fisher", "cook", "page", "field",
                 "hill", "wood", "stone", "march", "august", "beach", "park"):
        assert word in query.LOWER_CASE_WORDS, word
    assert not query.EVERYDAY_WORDS & {"zofia", "ben", "mum", "dad", "grandpa", "martin", "jan"}


def test_an_everyday_word_starting_the_query_is_a_word_either_way():
    book = CASE_BOOK + [(20, "Grace Beach", "Grace Beach", "name")]
    for text in ("beach party", "Beach party"):
        q = parse(text, book, TODAY)
        assert q.people == [] and q.notes == [] and q.unknown_names == [], text
    q = parse("a dog on the beach", book, TODAY)                  # elsewhere the capital would find her
    assert q.people == [] and q.notes == ["beach: also the name of Grace Beach — type Beach to search for them"]
    assert [m.name for m in parse("Zofia and Beach", book, TODAY).people] == ["Zofia Nowak", "Grace Beach"]


def test_a_lower_case_name_of_several_people_is_a_word():
    found, q = case("ben at the beach")
    assert found == [] and q.context == "ben at the beach"
    assert q.notes == ["ben: also the name of Ben Okafor and Ben Lee — type Ben to search for them"]
    found, q = case("okafor")
    assert found == [] and q.notes == ["okafor: also the name of Ben Okafor and Rose Okafor — type Okafor to search "
                                       "for them"]
    found, q = case("Ben at the beach")                           # with its capital: all of them, as before
    assert len(q.people) == 1 and set(q.people[0].person_ids) == {2, 3}
    assert q.notes == ["Ben: Ben Okafor or Ben Lee — type the full name to choose"]
    assert q.to_json()["people"][0]["alternatives"] == [{"id": 3, "name": "Ben Lee"}]
    assert case("ben lee")[0] == ["Ben Lee"]                      # the full name chooses, in any case


def test_later_parts_of_hyphenated_names():
    book = CASE_BOOK + [(21, "Jean-Luc Picard", "Jean-Luc Picard", "name"), (22, "Ann Smith-Jones", "Ann Smith-Jones",
                                                                              "name")]
    found, q = parse("luc", CASE_BOOK, TODAY).people, parse("luc", CASE_BOOK, TODAY)
    assert found == [] and q.notes == ["luc: also the name of Jean-Luc Moreau — type Luc to search for them"]
    q = parse("Luc on a boat", book, TODAY)                       # a part that fits two people finds nobody
    assert q.people == [] and q.unknown_names == [] and q.context == "Luc on a boat"
    assert q.notes == ["Luc: also the name of Jean-Luc Moreau and Jean-Luc Picard — type the full name to choose"]
    q = parse("luc", book, TODAY)
    assert q.people == [] and q.notes == ["luc: also the name of Jean-Luc Moreau and Jean-Luc Picard — type the full "
                                          "name to choose"]
    q = parse("Jean on a boat", book, TODAY)                      # the first part is a first name: all of them
    assert set(q.people[0].person_ids) == {5, 21} and q.notes == [
        "Jean: Jean-Luc Moreau or Jean-Luc Picard — type the full name to choose"]
    assert parse("jean on a boat", book, TODAY).people == []      # in lower case, only one person's
    assert [m.name for m in parse("smith-jones", book, TODAY).people] == ["Ann Smith-Jones"]  # the whole last name
    assert [m.name for m in parse("Jones", book, TODAY).people] == ["Ann Smith-Jones"]
    assert parse("jones", book, TODAY).people == []


def test_query_words_in_lower_case_name_nobody_and_say_nothing():
    book = CASE_BOOK + [(23, "He Jing", "He Jing", "name"), (24, "Đỗ Hùng", "Đỗ Hùng", "name")]
    for text in ("an apple on a table", "where he smiles", "what do we eat"):
        q = parse(text, book, TODAY)
        assert q.people == [] and q.notes == [], text
    assert [m.name for m in parse("Zofia and An", book, TODAY).people] == ["Zofia Nowak", "An Nguyen"]
    assert [m.name for m in parse("He and Do", book, TODAY).people] == ["He Jing", "Đỗ Hùng"]


def test_names_in_scripts_without_capitals_are_unaffected():
    book = [(1, "王芳", "王芳", "name"), (2, "محمد علي", "محمد علي", "name"), (3, "محمد حسن", "محمد حسن", "name"),
            (4, "דוד לוי", "דוד לוי", "name"), (5, "さくら", "さくら", "name")]
    assert [m.name for m in parse("王芳 at the beach", book, TODAY).people] == ["王芳"]
    assert [m.name for m in parse("さくら", book, TODAY).people] == ["さくら"]
    assert [m.name for m in parse("דוד", book, TODAY).people] == ["דוד לוי"]
    assert [m.name for m in parse("علي", book, TODAY).people] == ["محمد علي"]
    q = parse("محمد", book, TODAY)                                # no capitals: counts as written with one
    assert set(q.people[0].person_ids) == {2, 3} and q.notes == ["محمد: محمد علي or محمد حسن — type the full name to "
                                                                 "choose"]
    assert parse("王", book, TODAY).people == []                  # a whole name only, never a piece of one


def test_lower_case_names_with_others_and_dates():
    found, q = case("zofia and ben okafor on the beach")
    assert found == ["Zofia Nowak", "Ben Okafor"] and q.context == "people on the beach" and not q.notes
    found, q = case("zofia in may")                               # a date word still wins
    assert found == ["Zofia Nowak"] and q.month == 5 and q.notes == [] and q.context == ""
    found, q = case("Zofia in May")
    assert found == ["Zofia Nowak"] and q.month == 5 and any("not as the person May" in n for n in q.notes)
    found, q = case("zofia and May")
    assert found == ["Zofia Nowak", "May Lee"] and q.month is None
    q = case("zofia march 2020")[1]
    assert q.date_from == dt.datetime(2020, 3, 1) and [m.name for m in q.people] == ["Zofia Nowak"]


two_words = st.builds(lambda a, b: f"{a} {b}", word, word)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(two_words, st.booleans(), st.sampled_from([str.lower, str.upper, str]))
def test_a_first_or_last_name_of_one_person_is_found_in_any_case(name, last, case_of):
    from core.search.query import LOWER_CASE_WORDS, PARTICLES
    name = names.clean(name)
    part = names.tokens(name)[-1 if last else 0]
    if len(names.tokens(name)) != 2 or not part.is_word or part.key in LOWER_CASE_WORDS | PARTICLES or \
            not names.has_letter(part.text) or names.loose(part.text) == "":
        return
    q = parse(f"{case_of(part.text)} at the beach", [(7, name, name, "name")], TODAY)
    assert [m.person_id for m in q.people] == [7], (name, part.text)


def test_the_people_list_keeps_its_columns_for_names_in_any_script():
    """`idlens people list` pads by terminal columns: 李小龙 takes six, Zoë (with a combining accent) three."""
    from app.cli_common import columns, padded

    assert columns("李小龙") == 6 and columns("Zoe\u0308") == 3 and columns("Αθηνά") == 5
    for name in ("李小龙", "Zoe\u0308", "Seán O'Brien", "Αθηνά"):
        assert columns(padded(name, 30)) == 30
