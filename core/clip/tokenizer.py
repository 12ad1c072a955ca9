"""CLIP's text tokenizer without open_clip or torch, loading in milliseconds.

It is open_clip's `SimpleTokenizer` algorithm (the same cleaning, word pattern, byte-level BPE with `</w>` word ends,
`<start_of_text>` … `<end_of_text>`, cut to the context length with the end token kept last, padded with 0), so it
gives the same ids; tests/test_tokenizer.py checks a corpus of queries in many scripts, with emoji and odd spacing.
What differs is the storage: open_clip builds two Python dictionaries of ~50,000 entries from the merges file on
every start (~100 ms here; Hugging Face `tokenizers` needs ~400 ms for the same file). Here the merge ranks and the
vocabulary are sorted 64-bit hashes in `bpe.npz`, looked up with a binary search: a query costs a few hundred
lookups, the load a millisecond. The hashes are checked collision-free when the file is built.
"""
from __future__ import annotations

import gzip
import hashlib
import html
import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

SOT, EOT = "<start_of_text>", "<end_of_text>"
# open_clip's word pattern after its special tokens, applied to cleaned, lower-cased text (needs `regex`: \p{L}).
WORDS = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
_PLAIN = re.compile(r"[ -%'-~\t\n\r]*")   # printable ASCII except '&': what ftfy leaves as it is
_SPACES = re.compile(r"\s+")


def clean(text: str) -> str:
    """open_clip's 'lower' cleaning: ftfy.fix_text, html.unescape twice, whitespace collapsed, stripped, lower.
    ftfy (40-140 ms to import) is skipped for plain printable ASCII without '&', which it returns unchanged."""
    if not _PLAIN.fullmatch(text):
        import ftfy

        text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    return _SPACES.sub(" ", text).strip().lower()


@lru_cache(maxsize=1)
def _word_pattern():
    """The special tokens, then open_clip's words: compiled once, at the first query (`regex`: WORDS needs its
    Unicode classes)."""
    import regex

    return regex.compile(f"{re.escape(SOT)}|{re.escape(EOT)}|{WORDS}", regex.IGNORECASE)


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible map of bytes to printable characters (CLIP's BPE works on these)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def _table(keys: list[str], values: list[int]) -> tuple[np.ndarray, np.ndarray]:
    hashes = np.fromiter((_hash(k) for k in keys), dtype=np.uint64, count=len(keys))
    order = np.argsort(hashes, kind="stable")
    hashes, vals = hashes[order], np.asarray(values, dtype=np.int32)[order]
    if len(hashes) > 1 and (np.diff(hashes) == 0).any():
        raise ValueError("two BPE entries share a 64-bit hash; the table cannot be built")
    return hashes, vals


def build(merges: list[tuple[str, str]], out: Path, vocab: dict[str, int] | None = None) -> None:
    """Write `bpe.npz` from CLIP's merges (in rank order) and, for an export that ships one, its vocabulary
    (else built as open_clip builds it: 256 byte symbols, the same with `</w>`, one per merge, two specials)."""
    if vocab is None:
        symbols = list(bytes_to_unicode().values())
        tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + [SOT, EOT]
        vocab = {}
        for i, token in enumerate(tokens):  # a later duplicate wins, as in open_clip's dict(zip(...))
            vocab[token] = i
    vocab = dict(vocab)
    for hub_name, ours in (("<|startoftext|>", SOT), ("<|endoftext|>", EOT)):  # Hugging Face names them so
        if ours not in vocab and hub_name in vocab:
            vocab[ours] = vocab[hub_name]
    ranks: dict[str, int] = {}
    for rank, (a, b) in enumerate(merges):
        ranks.setdefault(f"{a} {b}", rank)
    pair_keys, pair_ranks = _table(list(ranks), list(ranks.values()))
    token_keys, token_ids = _table(list(vocab), list(vocab.values()))
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as f:
        np.savez(f, pair_keys=pair_keys, pair_ranks=pair_ranks, token_keys=token_keys, token_ids=token_ids)


def build_from_merges_file(bpe_merges_gz: Path, out: Path) -> None:
    """From CLIP's `bpe_simple_vocab_16e6.txt.gz` (open_clip ships it; rclip's model repository publishes it)."""
    lines = gzip.open(bpe_merges_gz).read().decode("utf-8").split("\n")
    build([_pair(m.split()) for m in lines[1:49152 - 256 - 2 + 1]], out)


def build_from_tokenizer_json(path: Path, out: Path) -> None:
    """From a Hugging Face `tokenizer.json` of CLIP's BPE (Immich's exports ship one)."""
    model = json.loads(Path(path).read_text(encoding="utf-8"))["model"]
    merges = [_pair(m.split(" ") if isinstance(m, str) else m) for m in model["merges"]]
    build(merges, out, model["vocab"])


def _pair(parts: list[str]) -> tuple[str, str]:
    """A merge rule: two symbols (anything else is not a BPE merges file)."""
    first, second = parts
    return first, second


class ClipTokenizer:
    def __init__(self, path: Path, context_length: int = 77):
        with np.load(path) as data:
            self._pair_keys, self._pair_ranks = data["pair_keys"], data["pair_ranks"]
            self._token_keys, self._token_ids = data["token_keys"], data["token_ids"]
        self.context_length = context_length
        self.sot, self.eot = self._id(SOT), self._id(EOT)
        self._bytes = bytes_to_unicode()
        self._cache: dict[str, list[int]] = {}

    @staticmethod
    def _find(keys: np.ndarray, values: np.ndarray, key: str) -> int | None:
        h = np.uint64(_hash(key))
        i = int(np.searchsorted(keys, h))
        return int(values[i]) if i < len(keys) and keys[i] == h else None

    def _id(self, token: str) -> int:
        found = self._find(self._token_keys, self._token_ids, token)
        if found is None:
            raise KeyError(f"token {token!r} is not in the vocabulary")
        return found

    def _bpe(self, word: str) -> list[int]:
        """open_clip's merge loop: always merge the pair of lowest rank, until none is left."""
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        parts = list(word[:-1]) + [word[-1] + "</w>"]
        ranks: dict[tuple[str, str], float] = {}
        while len(parts) > 1:
            best, best_rank = None, None
            for pair in zip(parts, parts[1:]):
                rank = ranks.get(pair)
                if rank is None:
                    found = self._find(self._pair_keys, self._pair_ranks, f"{pair[0]} {pair[1]}")
                    rank = ranks[pair] = float("inf") if found is None else found
                if best_rank is None or rank < best_rank:
                    best, best_rank = pair, rank
            if best_rank == float("inf"):
                break
            merged, i = [], 0
            while i < len(parts):
                if i < len(parts) - 1 and (parts[i], parts[i + 1]) == best:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        ids = [self._id(p) for p in parts]
        self._cache[word] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        ids = []
        for token in _word_pattern().findall(clean(text)):
            if token in (SOT, EOT):
                ids.append(self._id(token))
            else:
                ids.extend(self._bpe("".join(self._bytes[b] for b in token.encode("utf-8"))))
        return ids

    def __call__(self, texts: list[str]) -> np.ndarray:
        """Token ids, one row of `context_length` per text (int64, padded with 0)."""
        out = np.zeros((len(texts), self.context_length), dtype=np.int64)
        for row, text in enumerate(texts):
            ids = [self.sot] + self.encode(text) + [self.eot]
            if len(ids) > self.context_length:
                ids = ids[:self.context_length]
                ids[-1] = self.eot
            out[row, :len(ids)] = ids
        return out
