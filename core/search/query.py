"""Understanding a search query: which of the user's people it names, which media type and dates it asks for,
and the rest, the context that CLIP scores ("Anna playing guitar in July 2023" -> Anna; July 2023; "a person
playing guitar").

People are found by their names and aliases in any script, compared in core.names' normal form: exactly first
(case-folded, apostrophes and dashes unified), then accent- and script-insensitively ("Zoe" finds Zoë, "Anya" Аня);
longest first, with possessives ("Anna's") and lists ("Anna, Ben and Carl"). A first or last name alone finds its
person, and so does the first part of a hyphenated given name ("Jean" for Jean-Luc Moreau); when it fits several,
all of them are searched and a note says so. Written in lower case ("zofia", "nowak"), a name counts only when it is
one person's and not an everyday or query word: "a red rose" is a rose (a note says Rose Okafor was not searched),
"ben" a word when there are two Bens, "an apple" no search for An Nguyen. A month or year after "in"/"from"/"during"
is a date even when someone has that name. Capitalised words that are nobody in the library are reported back whole
(`unknown_names`: "Tom Hanks", "Zebulon Quist") and stay in the context, where CLIP can still use them.
"""
from __future__ import annotations

import calendar
import datetime as dt
import logging
import re
from dataclasses import dataclass, field

from core import names
from core.names import Token

log = logging.getLogger(__name__)

NEUTRAL_ONE = "a person"
NEUTRAL_MANY = "people"
# Names that are also everyday words ("a red rose", "a field of wheat", "mark on the wall"). Written in lower case
# they are the word, with a note when someone in the library has that name; with a capital, the name.
WORD_NAMES = set("""
    rose will may june april august march bill mark pat sky summer autumn winter dawn grace hope joy faith charity
    iris lily daisy ivy jade ruby amber olive pearl violet hazel robin sunny sandy rich art frank rob sue chase
    brook river storm holly heather ginger honey melody harmony destiny star cherry penny jack coral cliff dale glen
    rocky wolf rusty misty dusty lucky buddy angel jay wren raven dove fern willow poppy sage jasmine rosemary basil
    laurel crystal diamond blossom carol ray drew guy rod bud dot kitty bunny candy cookie pepper echo miles reed
    king prince duke earl major bishop hunter archer piper sailor
    young white black brown green gray grey baker mason miller smith fisher cook page field hill wood woods stone
    bell bird bush rice bean fox lamb crane swan finch hawk price cash gold silver frost snow north west south east
    ford marsh moss moon lake pond brooks banks bank park long little small short strong good best love hart day
    knight pope hall house church castle tower mill wells bridge street lane ash oak birch carpenter cooper turner
    walker weaver porter potter butler barber farmer shepherd wall waters sands noble sharp wise song chin shin sun
    """.split())
MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
FULL_MONTHS = set(MONTHS)
MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
MONTHS["sept"] = 9
SEASONS = {"spring": (3, 5), "summer": (6, 8), "autumn": (9, 11), "fall": (9, 11), "winter": (12, 2)}
KIND_WORDS = {
    "video": "video", "videos": "video", "clip": "video", "clips": "video", "movie": "video", "movies": "video",
    "footage": "video", "photo": "image", "photos": "image", "picture": "image", "pictures": "image",
    "pics": "image", "image": "image", "images": "image", "snapshots": "image",
}
# Words that cannot start a name even when capitalised (sentence starts, query words).
NOT_NAMES = {"a", "an", "the", "and", "or", "of", "in", "on", "at", "with", "by", "to", "from", "for", "me", "my",
             "i", "we", "our", "show", "find", "all", "only", "just", "some", "every", "this", "that", "last",
             "next", "is", "are", "who", "where", "when", "what"}
CONNECT = {"and", "&", ",", "with"}
DATE_WORDS = {"in", "from", "during", "since"}
# Words a query is made of: never a name when written in lower case, and not worth a note ("an apple" is no search
# for An Nguyen, "he" none for He Jing, "do" none for Đỗ Hùng).
GRAMMAR_WORDS = NOT_NAMES | CONNECT | DATE_WORDS | set(KIND_WORDS) | set("""
    but into onto over under near up down out off about above below after before between through until while as
    than then there here it its he she him her his hers they them their us you your was were be been being am do
    does did have has had would can could should might must shall not no yes so too very also any each both few
    many more most other such own same these those which whom whose why how one two three four five six seven
    eight nine ten new old get got go going if like around behind inside outside together without against along
    across toward towards upon via per vs ago yet again ever never always today yesterday tonight
    """.split())
# Name particles: never a first or last name on their own.
PARTICLES = {"de", "da", "di", "du", "del", "della", "der", "den", "van", "von", "la", "le", "bin", "ibn", "al", "el",
             "y", "e", "mc", "st"}
# Everyday photo words, which may start a query with a capital ("Beach at sunset"): not taken for a name there (nor
# for a first or last name: "Beach party" is no search for Grace Beach). Any other capitalised first word is (it is
# reported when nobody in the library has it: "Tom on the beach"). In lower case, like WORD_NAMES, they are words.
PHOTO_WORDS = set("""
    beach sea ocean lake river mountain mountains hill hills forest woods park garden city street road bridge
    house home room kitchen bedroom office school church castle tower museum station airport harbour harbor
    island desert field fields snow rain sun sunset sunrise sky clouds night morning evening day dusk dawn
    winter summer spring autumn fall holiday holidays vacation trip travel hike hiking camping picnic party
    birthday wedding christmas easter halloween dinner lunch breakfast food cake pizza coffee drink drinks wine
    beer dog dogs cat cats puppy kitten bird birds horse horses cow fish animal animals baby babies kid kids child
    son sons daughter daughters brother brothers sister sisters wife husband parents grandson granddaughter
    children family friends friend people person man men woman women boy boys girl girls group team crowd
    car cars bike bicycle boat boats train plane bus truck red blue green yellow orange purple pink black white
    grey gray brown golden dark bright old new big small little happy funny cute beautiful best first my our
    playing swimming running walking dancing singing reading cooking eating sleeping skiing surfing climbing
    fishing riding football soccer tennis basketball guitar piano music concert game games selfie portrait
    landscape view flowers flower tree trees fireworks lights candles sand waves pool water ice fire smoke
    graduation baptism anniversary festival market restaurant cafe bar zoo farm playground stadium
    some any more most
    """.split())
# Everyday words, in one place: a name written so in lower case is the word, and a note says whose name it also is.
EVERYDAY_WORDS = WORD_NAMES | PHOTO_WORDS
LOWER_CASE_WORDS = EVERYDAY_WORDS | GRAMMAR_WORDS  # never a name in lower case


class NothingToSearch(Exception):
    """The query keeps neither a person, a filter nor any words."""


@dataclass
class PersonMention:
    name: str           # as the library spells it (the first candidate)
    person_id: int
    text: str           # as written in the query
    match: str = "name"  # "name", "alias", "accent-insensitive" or "partial" (a first or last name alone)
    # Everyone the words may mean: [(person id, name)], this person first. More than one when a partial name fits
    # several people ("Ben": Ben Okafor or Ben Lee); search then takes any of them.
    candidates: list[tuple[int, str]] = field(default_factory=list)

    @property
    def person_ids(self) -> list[int]:
        return [pid for pid, _ in self.candidates] or [self.person_id]

    def to_json(self) -> dict:
        return {"name": self.name, "id": self.person_id, "text": self.text, "match": self.match,
                "alternatives": [{"id": pid, "name": n} for pid, n in self.candidates[1:]]}


@dataclass
class ParsedQuery:
    text: str
    people: list[PersonMention] = field(default_factory=list)
    unknown_names: list[str] = field(default_factory=list)
    kind: str | None = None                 # "image", "video" or None
    date_from: dt.datetime | None = None    # inclusive
    date_to: dt.datetime | None = None      # exclusive
    date_text: str | None = None
    month: int | None = None                # "in May": that month of any year
    only: bool = False                      # "only Anna": nobody else in the picture
    context: str = ""                       # for CLIP, people replaced by a neutral word; "" when nothing is left
    notes: list[str] = field(default_factory=list)  # readings the user should know about, in plain words

    @property
    def empty(self) -> bool:
        """Neither a person, a filter nor any words: nothing to search for."""
        return not (self.people or self.context or self.kind or self.date_from or self.date_to or self.month)

    def to_json(self) -> dict:
        return {"people": [p.to_json() for p in self.people],
                "unknown_names": self.unknown_names, "kind": self.kind,
                "date_from": self.date_from.isoformat() if self.date_from else None,
                "date_to": self.date_to.isoformat() if self.date_to else None, "month": self.month,
                "only": self.only, "context": self.context, "notes": self.notes}


class NameBook:
    """The library's names and aliases, ready for matching: by exact key, by loose form, by first or last name
    alone, and by a part of a hyphenated name."""

    def __init__(self, entries):
        # entries: (person id, name, what may be typed, "name" | "alias"); a plain {name: id} dict also works.
        if isinstance(entries, dict):
            entries = [(pid, name, name, "name") for name, pid in entries.items()]
        self.exact: dict[str, list[tuple[int, str, str]]] = {}
        self.loose: dict[str, list[tuple[int, str, str]]] = {}
        self.partial: dict[str, list[tuple[int, str]]] = {}
        self.partial_loose: dict[str, list[tuple[int, str]]] = {}
        self.part: dict[str, list[tuple[int, str]]] = {}        # "Luc" of Jean-Luc: with its capital, one person
        self.part_loose: dict[str, list[tuple[int, str]]] = {}
        self.longest = 1
        for pid, name, label, kind in entries:
            self.exact.setdefault(names.key(label), []).append((pid, name, kind))
            self.loose.setdefault(names.loose(label), []).append((pid, name, kind))
            self.longest = max(self.longest, len(names.loose(label).split()), len(names.tokens(label)))
            words = [t for t in names.tokens(label) if t.is_word]
            if not words:
                continue
            first, last = words[0].key, words[-1].key
            partial = {first, last} if len(words) > 1 else set()  # "Carter" for Ben Carter (an alias too)
            # Hyphenated names: the first part of the given name is a first name ("Jean" for Jean-Luc Moreau, "Anne"
            # for Anne-Marie); the other parts ("Luc", "Smith" of Smith-Jones) only find someone as parts do.
            given = first.split("-")
            if len(given) > 1:
                partial.add(given[0])
            parts = ({*given[1:], *last.split("-")[1 if first == last else 0:]} if "-" in first + last else set())
            for table, loose_table, keys in ((self.partial, self.partial_loose, partial - PARTICLES),
                                             (self.part, self.part_loose, parts - partial - PARTICLES)):
                for w in keys:
                    table.setdefault(w, []).append((pid, name))
                    loose_table.setdefault(names.loose(w), []).append((pid, name))

    def knows(self, phrase: str) -> bool:
        """Someone's name or alias, or a first or last name or part of one: not a name to report unknown."""
        words = names.tokens(phrase)
        return names.key(phrase) in self.exact or names.loose(phrase) in self.loose or bool(words and self.find(words))

    def find(self, span: list[Token]) -> tuple[str, list[tuple[int, str]], str] | None:
        """(how it matched, [(person id, name)], "whole" | "partial" | "part") for these words, however they are
        written; `lookup` says whether they count as written."""
        forms = [(" ".join(t.key for t in span), " ".join(t.loose for t in span))]
        if span[-1].possessive:  # a name that itself ends in 's ("Jan's" as typed may be the name, or Jan's)
            forms.insert(0, (" ".join([t.key for t in span[:-1]] + [names.key(span[-1].text)]),
                             " ".join([t.loose for t in span[:-1]] + [names.loose(span[-1].text)])))
        for table, tier in ((self.exact, None), (self.loose, "accent-insensitive")):
            for exact, loose in forms:
                hits = table.get(exact if tier is None else loose)
                if hits:
                    how = tier or ("name" if any(kind == "name" for _, _, kind in hits) else "alias")
                    return how, _unique((pid, name) for pid, name, _ in hits), "whole"
        word_key, word_loose = forms[-1]
        # A first or last name alone; several words only for a hyphenated given name typed with spaces ("Jean Luc").
        people = (self.partial.get(word_key) if len(span) == 1 else None) or self.partial_loose.get(word_loose)
        if people:
            return "partial", _unique(people), "partial"
        if len(span) == 1:
            people = self.part.get(word_key) or self.part_loose.get(word_loose)
            if people:
                return "partial", _unique(people), "part"
        return None

    def lookup(self, span: list[Token], first_word: bool) -> tuple[str, list[tuple[int, str]]] | None:
        """(how it matched, [(person id, name)]) for these query words as written, or None."""
        found = self.find(span)
        if not found:
            return None
        how, candidates, tier = found
        lower = any(_lower_case(t) for t in span)
        word = span[0]
        if len(span) == 1 and lower and word.key in LOWER_CASE_WORDS:
            return None  # "a red rose" is no search for Rose, "an apple" none for An
        if tier == "whole":
            return how, candidates
        # A first or last name alone, in lower case only when it is one person's ("zofia"; "ben" is a word when
        # there are two Bens); a later part of a hyphenated name only with its capital and when it is one person's
        # ("Luc" for the one Jean-Luc, never "luc"); and never an everyday word starting the query ("Beach party"
        # is no search for Grace Beach).
        if tier == "part" and (lower or len(candidates) > 1):
            return None
        if lower and len(candidates) > 1:
            return None
        if first_word and len(span) == 1 and word.key in PHOTO_WORDS:
            return None
        return how, candidates


def _lower_case(t: Token) -> bool:
    """Written in lower case, in a script that has capitals ("zofia"; not "Zofia", "ZOFIA", "王芳", "2019")."""
    first = t.text[:1]
    return first.lower() != first.upper() and not t.capitalised


def _unique(pairs) -> list[tuple[int, str]]:
    seen: dict[int, str] = {}
    for pid, name in pairs:
        seen.setdefault(pid, name)
    return list(seen.items())


def parse(text: str, people, today: dt.date | None = None) -> ParsedQuery:
    """`people`: the library's name entries (People.name_entries()), or a plain {name: person id} dict."""
    today = today or dt.date.today()
    book = people if isinstance(people, NameBook) else NameBook(people)
    q = ParsedQuery(text=text)
    tokens = names.tokens(text)
    used = [False] * len(tokens)

    _find_dates(tokens, used, q, today, book)
    _find_kind(tokens, used, q)
    _find_people(tokens, used, q, book)
    _find_unknown(tokens, used, q, book)
    _build_context(tokens, used, q)
    return q


def _find_dates(tokens, used, q: ParsedQuery, today: dt.date, book: NameBook) -> None:
    lower = [t.key for t in tokens]
    n = len(tokens)
    for i in range(n):
        if used[i]:
            continue
        w = lower[i]
        span = None
        if w in MONTHS and i + 1 < n and re.fullmatch(r"(19|20)\d\d", lower[i + 1]):  # "may 2020" in any case
            year, month = int(lower[i + 1]), MONTHS[w]
            start = dt.datetime(year, month, 1)
            span, q.date_from, q.date_to = (i, i + 2), start, _add_months(start, 1)
        elif w in FULL_MONTHS and i > 0 and lower[i - 1] in DATE_WORDS and not tokens[i].possessive:
            # Full month names only: "in Jan's garden" is Jan's garden.
            span, q.month = (i, i + 1), MONTHS[w]  # "in May": May of any year
        elif w in SEASONS and i + 1 < n and re.fullmatch(r"(19|20)\d\d", lower[i + 1]):
            span = (i, i + 2)
            q.date_from, q.date_to = _season(w, int(lower[i + 1]))
        elif w in SEASONS and i + 2 < n and lower[i + 1] == "of" and re.fullmatch(r"(19|20)\d\d", lower[i + 2]):
            span = (i, i + 3)  # "the summer of 2016"
            q.date_from, q.date_to = _season(w, int(lower[i + 2]))
        elif w in ("last", "this") and i + 1 < n and lower[i + 1] in SEASONS | {"year": 0, "month": 0}:
            unit = lower[i + 1]
            span = (i, i + 2)
            if unit == "year":
                year = today.year - (w == "last")
                q.date_from, q.date_to = dt.datetime(year, 1, 1), dt.datetime(year + 1, 1, 1)
            elif unit == "month":
                start = dt.datetime(today.year, today.month, 1)
                q.date_from = _add_months(start, -1) if w == "last" else start
                q.date_to = _add_months(q.date_from, 1)
            else:
                year = today.year
                start, end = _season(unit, year)
                if w == "last" and end.date() > today:  # "last summer" is the most recent one that has ended
                    start, end = _season(unit, year - 1)
                q.date_from, q.date_to = start, end
        elif re.fullmatch(r"(19|20)\d\d", w):
            year = int(w)
            span, q.date_from, q.date_to = (i, i + 1), dt.datetime(year, 1, 1), dt.datetime(year + 1, 1, 1)
        elif re.fullmatch(r"(19|20)?\d0s", w):  # "1990s", "90s"
            year = int(w[:-1]) if len(w) == 5 else 1900 + int(w[:2])
            span, q.date_from, q.date_to = (i, i + 1), dt.datetime(year, 1, 1), dt.datetime(year + 10, 1, 1)
        if span and span[0] > 0 and lower[span[0] - 1] == "since" and q.date_from:
            q.date_to = None  # "since 2017": from then until now
        if span:
            first, stop = span  # the words taken, with a "the" or "in" before them
            if first > 0 and lower[first - 1] == "the" and not used[first - 1]:
                first -= 1
            if first > 0 and lower[first - 1] in DATE_WORDS | {"of"} and not used[first - 1]:
                first -= 1
            for k in range(first, stop):
                used[k] = True
            q.date_text = " ".join(t.text for t in tokens[first:stop])
            for t in tokens[span[0]:span[1]]:
                if book.lookup([t], first_word=False):  # as written, it would name someone ("May", not "may")
                    q.notes.append(f"“{q.date_text}” is read as a date, not as the person {t.bare} (write the name "
                                   "without “in” to search for them)")
                    break
            return


def _season(name: str, year: int) -> tuple[dt.datetime, dt.datetime]:
    first, last = SEASONS[name]
    if first > last:  # winter spans the new year: December of `year` to February of the next
        return dt.datetime(year, first, 1), dt.datetime(year + 1, last + 1, 1)
    return dt.datetime(year, first, 1), _add_months(dt.datetime(year, last, 1), 1)


def _add_months(d: dt.datetime, months: int) -> dt.datetime:
    m = d.month - 1 + months
    return d.replace(year=d.year + m // 12, month=m % 12 + 1)


def _find_kind(tokens, used, q: ParsedQuery) -> None:
    lower = [t.key for t in tokens]
    for i, w in enumerate(lower):
        if used[i] or w not in KIND_WORDS:
            continue
        q.kind = KIND_WORDS[w]
        used[i] = True
        if i + 1 < len(tokens) and lower[i + 1] in ("of", "with", "from") and not used[i + 1]:
            used[i + 1] = True
        if i > 0 and lower[i - 1] in ("all", "my", "the", "some", "only") and not used[i - 1]:
            used[i - 1] = True
        return


def _find_people(tokens, used, q: ParsedQuery, book: NameBook) -> None:
    i = 0
    while i < len(tokens):
        if used[i] or not tokens[i].is_word:
            i += 1
            continue
        first_word = not any(not used[j] and tokens[j].is_word for j in range(i))
        match = None
        for k in range(min(book.longest, len(tokens) - i), 0, -1):
            span = tokens[i:i + k]
            if any(used[i:i + k]) or not all(t.is_word for t in span):
                continue
            if any(t.possessive for t in span[:-1]):  # a possessive may only end the name
                continue
            found = book.lookup(span, first_word)
            if found:
                match = (k, *found)
                break
        if match:
            k, how, candidates = match
            text = " ".join(t.bare if j == k - 1 else t.text for j, t in enumerate(tokens[i:i + k]))
            if candidates[0][0] not in {p.person_id for p in q.people}:
                q.people.append(PersonMention(candidates[0][1], candidates[0][0], text, how, candidates))
                if len(candidates) > 1:
                    q.notes.append(f"{text}: {' or '.join(n for _, n in candidates)} — type the full name to choose")
            for j in range(i, i + k):
                used[j] = True
            if i > 0 and tokens[i - 1].key in ("only", "just") and not used[i - 1]:
                q.only, used[i - 1] = True, True
            after = i + k
            if after < len(tokens) and tokens[after].key == "only" and not used[after] and (
                    after + 1 == len(tokens) or not tokens[after + 1].is_word):
                q.only, used[after] = True, True  # "Anna only"
            i += k
        else:
            i += 1
    _note_names_as_words(tokens, used, q, book)
    # The words joining names in a list ("Anna, Ben and Carl") belong to the people part, not the context.
    for i, t in enumerate(tokens):
        if not used[i] and t.key in CONNECT and 0 < i < len(tokens) - 1:
            if _person_token(tokens, used, q, i - 1) and _person_token(tokens, used, q, i + 1):
                used[i] = True


def _note_names_as_words(tokens, used, q: ParsedQuery, book: NameBook) -> None:
    """A word left as a word that names someone not already searched: say so. In lower case, when its capital would
    find them ("rose: also the name of Rose Okafor — type Rose to search for them"; not for the words a query is
    made of, "an", "he", nor for an everyday word starting the query, which even its capital keeps a word); and a
    part of hyphenated names that fits several people ("Luc: also the name of Jean-Luc Moreau and Jean-Luc Picard —
    type the full name to choose")."""
    found = {pid for m in q.people for pid in m.person_ids}
    for i, t in enumerate(tokens):
        if used[i] or not t.is_word:
            continue
        hit = book.find([t])
        if not hit:
            continue
        parts = hit[2] == "part" and len(hit[1]) > 1
        first_word = not any(not used[j] and tokens[j].is_word for j in range(i))
        if not parts and (not _lower_case(t) or t.key in GRAMMAR_WORDS
                          or (hit[2] != "whole" and first_word and t.key in PHOTO_WORDS)):
            continue
        candidates = [n for pid, n in hit[1] if pid not in found]
        if candidates:
            who = candidates[0] if len(candidates) == 1 else ", ".join(candidates[:-1]) + " and " + candidates[-1]
            advice = "the full name to choose" if parts else f"{t.bare[:1].upper() + t.bare[1:]} to search for them"
            note = f"{t.bare}: also the name of {who} — type {advice}"
            if note not in q.notes:
                q.notes.append(note)


def _person_token(tokens, used, q: ParsedQuery, i: int) -> bool:
    return used[i] and any(tokens[i].key in names.key(p.text).split() for p in q.people)


def _name_like(t: Token) -> bool:
    return (t.is_word and t.capitalised and t.key not in NOT_NAMES and t.key not in KIND_WORDS
            and not (len(t.bare) > 1 and t.bare.isupper()) and not t.bare.isdigit())


def _find_unknown(tokens, used, q: ParsedQuery, book: NameBook) -> None:
    """Runs of capitalised words that look like names of people but are nobody in the library, reported whole
    ("Tom Hanks", "Zebulon Quist"). The first word of a query is capitalised by habit, so there a single word
    counts only when it is not an everyday word ("Beach at sunset" reports nothing; "Tom on the beach" reports
    Tom)."""
    i = 0
    while i < len(tokens):
        if used[i] or not _name_like(tokens[i]):
            i += 1
            continue
        j = i + 1
        while j < len(tokens) and not used[j] and not tokens[j - 1].possessive and _name_like(tokens[j]):
            j += 1
        run = tokens[i:j]
        first_word = not any(not used[k] and tokens[k].is_word for k in range(i))
        if first_word and len(run) == 1 and run[0].key in PHOTO_WORDS:
            i = j
            continue
        phrase = " ".join(t.bare for t in run)
        if not book.knows(phrase) and phrase not in q.unknown_names:
            q.unknown_names.append(phrase)
        i = j


def _build_context(tokens, used, q: ParsedQuery) -> None:
    words: list[str] = []
    placed = False
    for t, u in zip(tokens, used):
        if u:
            if not placed and any(t.key in names.key(p.text).split() for p in q.people):
                words.append(NEUTRAL_ONE if len(q.people) == 1 else NEUTRAL_MANY)
                placed = True
            continue
        words.append(t.text)
    # Drop connecting words left hanging at either end ("with", "of", "in"...).
    while words and names.key(words[-1]) in NOT_NAMES | CONNECT:
        words.pop()
    while words and names.key(words[0]) in NOT_NAMES - {"a", "an", "the"} | CONNECT:
        words.pop(0)
    context = " ".join(words).replace(" ,", ",")
    if context.lower() in (NEUTRAL_ONE, NEUTRAL_MANY):
        context = ""
    q.context = context
