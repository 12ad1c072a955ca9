"""How people's names are written and compared: one normal form for stored names, aliases and queries alike.

- `clean(name)`: the name as shown — what the user typed, in NFC with its spaces tidied. Never transliterated.
- `key(text)`: exact comparison — NFKC, case folding (Unicode's, so "Straße" = "STRASSE", "Аня" = "аня"), and the
  apostrophe and dash variants made one (O'Brien = O’Brien = Oʼbrien; Anne-Marie = Anne‐Marie = Anne–Marie).
- `loose(text)`: accent- and script-insensitive comparison — `key`, then transliterated to ASCII with anyascii
  (ł→l, ø→o, đ→d, ß→ss, æ→ae, Аня→anya, Zoë→zoe), apostrophes dropped and dashes read as spaces.
- `tokens(text)`: words by Unicode letter classes (letters, digits and combining marks, with apostrophes and dashes
  inside a word), plus `&`, `,` and symbols (emoji), each with its possessive ("Anna's", "James'") noted.

A query word matches a name exactly first; the loose form is the fallback, so "Zoe" finds Zoë, and "Anya" finds Аня,
while "Anna" never finds "Анна" when someone is called Anna.
"""
from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass

from anyascii import anyascii

log = logging.getLogger(__name__)

APOSTROPHES = "'’ʼ‛‘`´′"
DASHES = "-‐‑‒–—―−"
_UNIFY = {ord(c): "'" for c in APOSTROPHES} | {ord(c): "-" for c in DASHES}
INNER = "·‧・"  # middle dots inside a name: Catalan "Col·lecció", katakana "ジョン・スミス"
_JOIN_EMOJI = {"\u200d", "\ufe0f", "\ufe0e", "\u20e3"}  # ZWJ, variation selectors, keycap


def clean(name: str) -> str:
    """The name as shown: NFC, single spaces, no spaces at the ends."""
    return " ".join(unicodedata.normalize("NFC", name).split())


def key(text: str) -> str:
    # NFKC, not NFC, so that compatibility forms meet too: "Ｚｏë" (full width), "ﬁ" ligatures, "Ŀ" = "L·".
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(folded.translate(_UNIFY).split())


def loose(text: str) -> str:
    ascii_text = anyascii(key(text)).casefold().replace("'", "").replace("-", " ")
    return " ".join("".join(c for c in ascii_text if c.isalnum() or c == " ").split())


def has_letter(text: str) -> bool:
    return any(unicodedata.category(c).startswith("L") for c in text)


def _is_word_char(c: str) -> bool:
    return unicodedata.category(c)[0] in "LNM"


def _is_symbol(c: str) -> bool:
    return unicodedata.category(c) in ("So", "Sk") and c not in "`´"


@dataclass
class Token:
    text: str            # as typed (NFC)
    possessive: bool = False

    @property
    def bare(self) -> str:
        """The word without its possessive ending, as typed."""
        if not self.possessive:
            return self.text
        return self.text[:-2] if key(self.text).endswith("'s") else self.text[:-1]

    @property
    def key(self) -> str:
        return key(self.bare)

    @property
    def loose(self) -> str:
        return loose(self.bare)

    @property
    def capitalised(self) -> bool:
        first = self.text[:1]
        return first.isupper() or first.istitle()

    @property
    def is_word(self) -> bool:
        return bool(self.text) and _is_word_char(self.text[0])


def tokens(text: str) -> list[Token]:
    text = unicodedata.normalize("NFC", text)  # "Zoe\u0308" (decomposed, as macOS types it) is one word, Zoë
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if _is_word_char(c):
            j = i + 1
            while j < n:
                if _is_word_char(text[j]):
                    j += 1
                elif text[j] in APOSTROPHES + DASHES + INNER and j + 1 < n and _is_word_char(text[j + 1]):
                    j += 2  # O'Brien, Anne-Marie, Anna's
                else:
                    break
            word = text[i:j]
            possessive = key(word).endswith("'s") and len(word) > 2
            if not possessive and j < n and text[j] in APOSTROPHES and word[-1:] in "sS" and \
                    (j + 1 == n or not _is_word_char(text[j + 1])):
                word, j, possessive = text[i:j + 1], j + 1, True  # James'
            out.append(Token(word, possessive))
            i = j
        elif c in "&,":
            out.append(Token(c))
            i += 1
        elif _is_symbol(c):
            j = i + 1
            while j < n and (text[j] in _JOIN_EMOJI or unicodedata.category(text[j]) in ("Sk", "Mn")
                             or (text[j - 1] == "\u200d" and _is_symbol(text[j]))):
                j += 1
            out.append(Token(text[i:j]))
            i = j
        else:
            i += 1
    return out


def complete(typed: str, entries: list[tuple[str, str]], limit: int = 12) -> list[str]:
    """Names to offer while `typed` is being written: `entries` are (what may be typed: a name or an alias, the
    person's name to offer). A match is a prefix of the entry or of one of its words, in the loose form, so "zoe"
    offers Zoë, "lu" offers Łukasz, and "mum" offers the person whose alias is Mum. Best first: names before
    aliases' people, whole-entry prefixes before word prefixes."""
    want = loose(typed)
    if not want:
        return []
    ranked: dict[str, int] = {}
    for i, (label, person) in enumerate(entries):
        lab = loose(label)
        if lab.startswith(want):
            rank = 0 if label == person else 1
        elif any(w.startswith(want) for w in lab.split()):
            rank = 2 if label == person else 3
        else:
            continue
        ranked[person] = min(ranked.get(person, 9), rank)
    return sorted(ranked, key=lambda p: (ranked[p], key(p)))[:limit]
