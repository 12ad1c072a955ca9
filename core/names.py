"""How people's names are written and compared: one normal form for stored names, aliases and queries alike.

- `clean(name)`: the name as shown — what the user typed, in NFC with its spaces tidied. Never transliterated. What
  cannot be seen or attacks a terminal is removed: control characters (ESC and its sequences, BEL, backspace, DEL,
  C1; line breaks and tabs become spaces), bidi embeddings, overrides, isolates and marks, zero-width spaces, the
  BOM, soft hyphens, Hangul fillers. ZWJ and ZWNJ stay where they join (Persian "مهدی‌زاده", Devanagari
  conjuncts, emoji such as 👩‍👩‍👧), never at an end or beside a space. Longer than `MAX_LENGTH` is refused
  (`BadName`); a name that ends up empty is for the caller to refuse.
- `isolated(name)`: a name to put in a sentence of the app, bidi-isolated when it is right-to-left.
- `printable(text)`: any text (a name from an old catalog, a file name) for a terminal: control characters, bidi
  controls and undecodable bytes shown as escapes (`\x1b`, `\u202e`), nothing else changed.
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
import re
import unicodedata
from dataclasses import dataclass

from anyascii import anyascii

log = logging.getLogger(__name__)

APOSTROPHES = "'’ʼ‛‘`´′"
DASHES = "-‐‑‒–—―−"
_UNIFY = {ord(c): "'" for c in APOSTROPHES} | {ord(c): "-" for c in DASHES}
INNER = "·‧・"  # middle dots inside a name: Catalan "Col·lecció", katakana "ジョン・スミス"
_JOIN_EMOJI = {"\u200d", "\ufe0f", "\ufe0e", "\u20e3"}  # ZWJ, variation selectors, keycap


MAX_LENGTH = 200  # characters, after cleaning: longer than any real name, short enough for every list and label


class BadName(ValueError):
    """A name that cannot be kept as typed (too long); the message says why."""


# Terminal escape sequences, removed whole so that "\x1b[31mAnna\x1b[0m" is "Anna": CSI (ESC [ or the 8-bit \x9b, then
# parameters and one final byte), OSC/DCS/APC/PM/SOS strings (ended by BEL or ESC \\), and ESC with one more byte.
_ESCAPES = re.compile(r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
                      r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
                      r"|\x1b[\x20-\x7e]?")
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")  # embeddings, overrides, isolates
_BIDI_MARKS = frozenset("\u200e\u200f\u061c")  # LRM, RLM, ALM: invisible, and make "Anna" and "Anna\u200f" two names
# Invisible and never part of a name: zero-width space, word joiner and invisible operators, BOM, soft hyphen,
# Mongolian vowel separator, Hangul fillers (a "blank" name), interlinear annotation marks.
_INVISIBLE = frozenset("\u200b\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad\u180e\u3164\uffa0\ufff9\ufffa\ufffb")
_JOINERS = frozenset("\u200c\u200d")  # ZWNJ, ZWJ: needed in Persian, Indic scripts and emoji sequences


def _dropped(c: str) -> bool:
    if c in BIDI_CONTROLS or c in _BIDI_MARKS or c in _INVISIBLE:
        return True
    cat = unicodedata.category(c)
    return cat in ("Cc", "Cs") or (cat == "Cf" and "\u2066" <= c <= "\u206f")  # controls, lone surrogates, deprecated


def _joins(before: str, after: str) -> bool:
    """Whether a ZWJ/ZWNJ between these two characters does something: both letters, marks, digits or symbols, and
    the first not a cased letter (Latin, Greek, Cyrillic have no joining forms: there it only makes look-alikes)."""
    def joinable(c: str) -> bool:
        return unicodedata.category(c)[0] in "LMNS"
    return joinable(before) and joinable(after) and before.lower() == before.upper()


def _clean_once(text: str) -> str:
    text = _ESCAPES.sub("", unicodedata.normalize("NFC", text))
    text = "".join(" " if c.isspace() else c for c in text if c.isspace() or not _dropped(c))
    text = " ".join(text.split())
    kept: list[str] = []
    for i, c in enumerate(text):
        if c in _JOINERS:
            before, after = (kept[-1] if kept else ""), text[i + 1:i + 2]
            if not before or not after or before in _JOINERS or not _joins(before, after):
                continue
        kept.append(c)
    return unicodedata.normalize("NFC", "".join(kept))


def clean(name: str) -> str:
    """The name as shown: NFC, single spaces, no spaces at the ends, nothing invisible or that controls a terminal
    (see the module's notes). Refuses (BadName) a name longer than MAX_LENGTH characters; returns "" for a name with
    nothing visible, which the callers refuse or skip."""
    text = _clean_once(name)
    while True:  # removing a character can let NFC compose its neighbours, or leave a joiner at an end
        again = _clean_once(text)
        if again == text:
            break
        text = again
    if len(text) > MAX_LENGTH:
        raise BadName(f"a name can have at most {MAX_LENGTH} characters (this one has {len(text)})")
    return text


def printable(text) -> str:
    """`text` safe to print on a terminal: control characters (ESC, BEL, backspace, DEL, C1, line breaks), bidi
    embeddings, overrides and isolates, and undecodable bytes of a file name (surrogate escapes) shown as escapes —
    `\\x1b`, `\\u202e`, `\\xff` — so that a name or a path can neither move the cursor, recolour, retitle nor reorder
    what is printed around it. Everything visible is unchanged."""
    text = str(text)
    if text.isprintable() and not any(c in BIDI_CONTROLS for c in text):
        return text  # the common case, fast
    out = []
    for c in text:
        o = ord(c)
        if 0xDC80 <= o <= 0xDCFF:
            out.append(f"\\x{o - 0xDC00:02x}")  # a byte that is not UTF-8 in a file name
        elif c in BIDI_CONTROLS or unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp"):
            out.append(f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}")
        else:
            out.append(c)
    return "".join(out)


def isolated(text: str) -> str:
    """A name inside a sentence of the app ("Is this محمد?"): without control or bidi control characters (a name
    from an old catalog may have them), and, when it has right-to-left letters, wrapped in FSI…PDI (U+2068, U+2069)
    so that it reads right and cannot reorder the words around it. A left-to-right name is returned as it is."""
    text = "".join(c for c in str(text) if c not in BIDI_CONTROLS and unicodedata.category(c) != "Cc")
    if any(unicodedata.bidirectional(c) in ("R", "AL") for c in text):
        return f"\u2068{text}\u2069"
    return text

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
    for label, person in entries:
        lab = loose(label)
        if lab.startswith(want):
            rank = 0 if label == person else 1
        elif any(w.startswith(want) for w in lab.split()):
            rank = 2 if label == person else 3
        else:
            continue
        ranked[person] = min(ranked.get(person, 9), rank)
    return sorted(ranked, key=lambda p: (ranked[p], key(p)))[:limit]
