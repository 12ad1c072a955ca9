"""The query parser: examples that pin its behaviour, and properties checked by hypothesis."""
import datetime as dt

from hypothesis import given, settings, strategies as st

from core.search.query import parse

NAMES = {"Anna": 1, "Ben Okafor": 2, "Rose": 3, "Ben": 4, "Zoë Martin": 5}
TODAY = dt.date(2026, 11, 29)


def p(text):
    return parse(text, NAMES, TODAY)


def test_person_and_context():
    q = p("Anna playing guitar on the beach")
    assert [m.name for m in q.people] == ["Anna"] and q.context == "a person playing guitar on the beach"


def test_lists_possessives_and_longest_names():
    q = p("Anna, Ben Okafor and Zoë Martin's dog")
    assert [m.person_id for m in q.people] == [1, 2, 5]
    assert q.context == "people dog"
    assert [m.name for m in p("anna and ben").people] == ["Anna", "Ben"]


def test_names_that_are_words_need_a_capital():
    q = p("a red rose in a vase")
    assert q.people == [] and q.context == "a red rose in a vase"
    assert q.notes == ["rose: also the name of Rose — type Rose to search for them"]
    assert [m.name for m in p("Rose at the park").people] == ["Rose"]


def test_a_first_or_last_name_of_one_person_in_lower_case():
    assert [m.name for m in p("zoe on a bike").people] == ["Zoë Martin"]
    assert [m.name for m in p("martin's bike").people] == ["Zoë Martin"]
    assert [m.name for m in p("okafor and anna").people] == ["Ben Okafor", "Anna"]
    assert [m.person_id for m in p("ben").people] == [4]   # a whole name wins over someone's first name


def test_media_type_and_dates():
    q = p("videos of Anna in July 2023")
    assert q.kind == "video" and [m.name for m in q.people] == ["Anna"] and q.context == ""
    assert (q.date_from, q.date_to) == (dt.datetime(2023, 7, 1), dt.datetime(2023, 8, 1))
    q = p("Anna in 2019")
    assert (q.date_from.year, q.date_to.year) == (2019, 2020) and q.context == ""
    q = p("photos from last summer at the lake")
    assert q.kind == "image" and (q.date_from, q.date_to) == (dt.datetime(2026, 6, 1), dt.datetime(2026, 9, 1))
    q = p("snow last winter")
    assert (q.date_from, q.date_to) == (dt.datetime(2025, 12, 1), dt.datetime(2026, 3, 1))
    assert p("pictures from the 90s").date_from == dt.datetime(1990, 1, 1)


def test_unknown_names_are_reported_not_dropped():
    q = p("Anna and Tom at the Eiffel Tower")
    assert [m.name for m in q.people] == ["Anna"]
    assert "Tom" in q.unknown_names and "Eiffel Tower" in q.unknown_names
    assert "Tom" in q.context and "Eiffel Tower" in q.context
    assert p("Tom's birthday").unknown_names == ["Tom"]
    assert p("Sunset over the sea").unknown_names == []  # a capital at the start is just a sentence


def test_only():
    q = p("only Anna and Ben")
    assert q.only and len(q.people) == 2 and q.context == ""


words = st.text(alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Nd", "Zs", "Po")), max_size=60)


@settings(max_examples=300, deadline=None)
@given(words)
def test_never_fails_and_ranges_are_ordered(text):
    q = parse(text, NAMES, TODAY)
    if q.date_from and q.date_to:
        assert q.date_from < q.date_to
    assert len({m.person_id for m in q.people}) == len(q.people)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(NAMES)), st.sampled_from(["{} at the beach", "a photo of {}", "{}'s cake",
                                                         "{} and a dog", "videos of {} in 2020", "only {}"]))
def test_every_known_name_is_found_and_leaves_the_context(name, template):
    q = parse(template.format(name), NAMES, TODAY)
    assert NAMES[name] in [m.person_id for m in q.people]
    for word in name.split():
        assert word.lower() not in q.context.lower().split()


@settings(max_examples=200, deadline=None)
@given(words)
def test_the_context_names_nobody(text):
    q = parse(text, NAMES, TODAY)
    again = parse(q.context, NAMES, TODAY)
    assert not {m.person_id for m in again.people} & {m.person_id for m in q.people}
