"""Idlens's tokenizer gives open_clip's token ids, without open_clip: on queries in many scripts, with names, emoji,
HTML entities, odd spacing, special-token look-alikes and texts longer than the context."""
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from core.clip.tokenizer import ClipTokenizer, build_from_merges_file, build_from_tokenizer_json
from tests.test_names import NAMES

open_clip_tokenizer = pytest.importorskip("open_clip.tokenizer")

CORPUS = [
    "Anna playing guitar on the beach", "videos of Anna and Ben in 2019", "a dog", "", " ", "A", "x" * 400,
    " ".join(["word"] * 100), "Łukasz and Zoë at the café", "Аня в парке", "Σοφία στη θάλασσα", "ΟΔΟΣ",
    "محمد في الحديقة", "דוד בים", "王芳在海边", "さくらと花見", "김민준 생일 파티", "Nguyễn Văn An", "İstanbul",
    "Straße", "O'Brien's dog", "O’Brien’s dog", "don't can't we'll I'M", "birthday 🎂 cake 🎉", "👨‍👩‍👧 family",
    "🏳️‍🌈 flag", "  lots   of\tspace\n here ", "&amp; fish &amp;amp; chips &lt;b&gt;", "<start_of_text> hi",
    "hi <end_of_text> there", "HELLO World", "ﬁsh ﬂowers (ligatures)", "ＡＢＣ full width", "½ ² Ⅻ ① numbers",
    "snake_case-words__x", "123 456.78 2019-07-04", "Ãcole mojibake", "tab\tand\u00a0nbsp", "e\u0301 combining",
    "a\x07bell\x00nul", "नमस्ते दुनिया", "สวัสดี", "გამარჯობა", "Ελλάδα!!!???", "C++ & C# — “quotes”",
]


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bpe")
    build_from_merges_file(Path(open_clip_tokenizer.default_bpe()), folder / "bpe.npz")
    return ClipTokenizer(folder / "bpe.npz"), open_clip_tokenizer.SimpleTokenizer()


def test_same_ids_as_open_clip_on_the_corpus(tokenizers):
    ours, theirs = tokenizers
    texts = CORPUS + [f"{name} playing guitar" for name in NAMES] + [f"photos of {n} and {m}" for n, m in
                                                                   zip(NAMES, reversed(NAMES))]
    mine, reference = ours(texts), theirs(texts).numpy()
    different = [t for t, a, b in zip(texts, mine, reference) if not np.array_equal(a, b)]
    assert not different
    assert mine.dtype == np.int64 and mine.shape == (len(texts), 77)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(min_size=0, max_size=60))
def test_same_ids_as_open_clip_on_any_text(tokenizers, text):
    ours, theirs = tokenizers
    assert np.array_equal(ours([text]), theirs([text]).numpy())


def test_a_hub_tokenizer_json_gives_the_same_ids(tmp_path, tokenizers):
    """Immich's exports ship Hugging Face's tokenizer.json (specials named <|startoftext|>): the same vocabulary."""
    theirs = tokenizers[1]
    vocab = {token: i for token, i in theirs.encoder.items()}
    for ours, hub in (("<start_of_text>", "<|startoftext|>"), ("<end_of_text>", "<|endoftext|>")):
        vocab[hub] = vocab.pop(ours)
    merges = [f"{a} {b}" for (a, b), _ in sorted(theirs.bpe_ranks.items(), key=lambda kv: kv[1])]
    (tmp_path / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE", "vocab": vocab, "merges": merges}}))
    build_from_tokenizer_json(tmp_path / "tokenizer.json", tmp_path / "bpe.npz")
    ours = ClipTokenizer(tmp_path / "bpe.npz")
    assert np.array_equal(ours(CORPUS), theirs(CORPUS).numpy())


def test_the_tokenizer_is_small_and_has_no_heavy_imports(tokenizers, tmp_path):
    import subprocess
    import sys

    build_from_merges_file(Path(open_clip_tokenizer.default_bpe()), tmp_path / "bpe.npz")
    assert (tmp_path / "bpe.npz").stat().st_size < 2_000_000
    code = ("import sys; from pathlib import Path; from core.clip.tokenizer import ClipTokenizer; "
            f"t = ClipTokenizer(Path({str(tmp_path / 'bpe.npz')!r})); t(['Łukasz playing guitar']); "
            "print(sorted(m for m in ('torch', 'open_clip', 'tokenizers', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "[]"
