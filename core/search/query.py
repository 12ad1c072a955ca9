"""Understanding a search query: which of the user's people it names, which media type and dates it asks for,
and the rest, the context that CLIP scores ("Anna playing guitar in July 2023" -> Anna; July 2023; "a person
playing guitar").

Names are matched case-insensitively, longest first, with possessives ("Anna's") and lists ("Anna, Ben and Carl").
A name that is also an ordinary word ("Rose", "Will", "May") counts only when capitalised. Capitalised words that
are not people in the library are reported back as `unknown_names` and stay in the context, where CLIP can still
use them ("Eiffel Tower").
"""
from __future__ import annotations

import calendar
import datetime as dt
import logging
import re
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

NEUTRAL_ONE = "a person"
NEUTRAL_MANY = "people"
# Names that are also everyday words: matched only when written with a capital.
WORD_NAMES = {
    "rose", "will", "may", "june", "april", "august", "bill", "mark", "pat", "sky", "summer", "autumn", "dawn",
    "grace", "hope", "joy", "faith", "iris", "lily", "daisy", "ivy", "jade", "ruby", "amber", "olive", "pearl",
    "violet", "hazel", "robin", "sunny", "sandy", "rich", "art", "frank", "rob", "sue", "chase", "brook", "river",
    "storm", "holly", "heather", "ginger", "honey", "melody", "harmony", "destiny", "star", "cherry", "penny",
}
MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
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


@dataclass
class PersonMention:
    name: str           # as the library spells it
    person_id: int
    text: str           # as written in the query


@dataclass
class ParsedQuery:
    text: str
    people: list[PersonMention] = field(default_factory=list)
    unknown_names: list[str] = field(default_factory=list)
    kind: str | None = None                 # "image", "video" or None
    date_from: dt.datetime | None = None    # inclusive
    date_to: dt.datetime | None = None      # exclusive
    date_text: str | None = None
    only: bool = False                      # "only Anna": nobody else in the picture
    context: str = ""                       # for CLIP, people replaced by a neutral word; "" when nothing is left

    def to_json(self) -> dict:
        return {"people": [{"name": p.name, "id": p.person_id} for p in self.people],
                "unknown_names": self.unknown_names, "kind": self.kind,
                "date_from": self.date_from.isoformat() if self.date_from else None,
                "date_to": self.date_to.isoformat() if self.date_to else None,
                "only": self.only, "context": self.context}


_TOKEN = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ0-9][\w\-]*(?:'s|’s|')?|&|,")


def parse(text: str, names: dict[str, int], today: dt.date | None = None) -> ParsedQuery:
    """`names`: the library's person names -> person ids."""
    today = today or dt.date.today()
    q = ParsedQuery(text=text)
    tokens = _TOKEN.findall(text)
    used = [False] * len(tokens)

    _find_dates(tokens, used, q, today)
    _find_kind(tokens, used, q)
    _find_people(tokens, used, q, names)
    _find_unknown(tokens, used, q, names)
    _build_context(tokens, used, q)
    return q


def _word(token: str) -> str:
    return re.sub(r"(?:'s|’s|')$", "", token).lower()


def _find_dates(tokens, used, q: ParsedQuery, today: dt.date) -> None:
    lower = [t.lower() for t in tokens]
    n = len(tokens)
    for i in range(n):
        if used[i]:
            continue
        w = lower[i]
        span = None
        if w in MONTHS and i + 1 < n and re.fullmatch(r"(19|20)\d\d", lower[i + 1]) and (
                w not in WORD_NAMES or tokens[i][0].isupper() or w in ("july", "june", "august", "may", "april")):
            year, month = int(lower[i + 1]), MONTHS[w]
            start = dt.datetime(year, month, 1)
            span, q.date_from, q.date_to = (i, i + 2), start, _add_months(start, 1)
        elif w in SEASONS and i + 1 < n and re.fullmatch(r"(19|20)\d\d", lower[i + 1]):
            span = (i, i + 2)
            q.date_from, q.date_to = _season(w, int(lower[i + 1]))
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
        if span:
            start, end = span
            if start > 0 and lower[start - 1] == "the" and not used[start - 1]:
                start -= 1
            if start > 0 and lower[start - 1] in ("in", "during", "from", "of") and not used[start - 1]:
                start -= 1
            for k in range(start, end):
                used[k] = True
            q.date_text = " ".join(tokens[start:end])
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
    lower = [t.lower() for t in tokens]
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


def _find_people(tokens, used, q: ParsedQuery, names: dict[str, int]) -> None:
    by_words = sorted(((n.lower().split(), n, pid) for n, pid in names.items()), key=lambda x: -len(x[0]))
    lower = [_word(t) for t in tokens]
    i = 0
    while i < len(tokens):
        if used[i]:
            i += 1
            continue
        match = None
        for words, name, pid in by_words:
            k = len(words)
            if lower[i:i + k] != words or any(used[i:i + k]):
                continue
            # A possessive may only end the name; word-names need their capital letter.
            if any(tokens[j].endswith(("'s", "’s", "'")) for j in range(i, i + k - 1)):
                continue
            if k == 1 and words[0] in WORD_NAMES and not tokens[i][0].isupper():
                continue
            match = (k, name, pid)
            break
        if match:
            k, name, pid = match
            if pid not in {p.person_id for p in q.people}:
                q.people.append(PersonMention(name, pid, " ".join(tokens[i:i + k])))
            for j in range(i, i + k):
                used[j] = True
            if i > 0 and tokens[i - 1].lower() in ("only", "just") and not used[i - 1]:
                q.only, used[i - 1] = True, True
            i += k
        else:
            i += 1
    # The words joining names in a list ("Anna, Ben and Carl") belong to the people part, not the context.
    for i, t in enumerate(tokens):
        if not used[i] and t.lower() in CONNECT and 0 < i < len(tokens) - 1:
            if _person_token(tokens, used, q, i - 1) and _person_token(tokens, used, q, i + 1):
                used[i] = True


def _person_token(tokens, used, q: ParsedQuery, i: int) -> bool:
    return used[i] and any(_word(tokens[i]) in p.text.lower().split() for p in q.people)


def _find_unknown(tokens, used, q: ParsedQuery, names: dict[str, int]) -> None:
    """Capitalised words that look like names of people but are not in the library."""
    i = 0
    while i < len(tokens):
        t = tokens[i]
        first_word = all(used[j] or tokens[j] in CONNECT for j in range(i))  # the query's first free word
        looks_like_name = (not used[i] and t[:1].isupper() and t.lower() not in NOT_NAMES
                           and not t.isupper() and t.lower() not in KIND_WORDS)
        possessive = t.endswith(("'s", "’s"))
        if looks_like_name and (not first_word or possessive or _next_to_person(tokens, used, i, q)):
            j = i + 1
            while j < len(tokens) and not used[j] and tokens[j][:1].isupper() and tokens[j].lower() not in NOT_NAMES:
                j += 1
            phrase = " ".join(_strip_possessive(tokens[k]) for k in range(i, j))
            if phrase.lower() not in {n.lower() for n in names} and phrase not in q.unknown_names:
                q.unknown_names.append(phrase)
            i = j
        else:
            i += 1


def _next_to_person(tokens, used, i: int, q: ParsedQuery) -> bool:
    """'Anna and Tom': a capitalised word joined to a known person by 'and' is a person too."""
    for j in (i - 1, i + 1):
        if 0 <= j < len(tokens) and tokens[j].lower() in CONNECT:
            k = j - 1 if j < i else j + 1
            if 0 <= k < len(tokens) and used[k] and q.people:
                return True
    return False


def _strip_possessive(token: str) -> str:
    return re.sub(r"(?:'s|’s|')$", "", token)


def _build_context(tokens, used, q: ParsedQuery) -> None:
    words: list[str] = []
    placed = False
    for t, u in zip(tokens, used):
        if u:
            if not placed and any(_word(t) in p.text.lower().split() for p in q.people):
                words.append(NEUTRAL_ONE if len(q.people) == 1 else NEUTRAL_MANY)
                placed = True
            continue
        words.append(t)
    # Drop connecting words left hanging at either end ("with", "of", "in"...).
    while words and words[-1].lower() in NOT_NAMES | CONNECT:
        words.pop()
    while words and words[0].lower() in NOT_NAMES - {"a", "an", "the"} | CONNECT:
        words.pop(0)
    context = " ".join(words).replace(" ,", ",")
    if context.lower() in (NEUTRAL_ONE, NEUTRAL_MANY):
        context = ""
    q.context = context
