"""Counts in words, for the messages core and the command line print ("1 file", "3 files"). The desktop app uses
Qt's tr() plural forms instead, so its text can be translated."""
from __future__ import annotations


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {words or word + 's'}"
