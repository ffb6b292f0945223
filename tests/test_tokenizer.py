"""Byte-level BPE: exact round trip for any string, training equal to the naive algorithm, files, GPT-2 format."""

import json
from collections import Counter
from functools import lru_cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bigmodel_lib.tokenizer import BPETokenizer, bytes_to_unicode, merge_pair, split_into_chunks

SAMPLE_TEXT = (
    "The attention mechanism lets every position look at every other one. It's the heart of the Transformer; "
    "attention weights sum to 1.\n\n    def attention(q, k, v):\n        return softmax(q @ k.T / 8.0) @ v\n"
    "注意力机制让每个位置都能看到其他位置。注意力是 Transformer 的核心。 Emoji: 😀🚀, tabs\tand\r\nCRLF. "
) * 3


@lru_cache(maxsize=1)
def sample_tokenizer() -> BPETokenizer:
    return BPETokenizer.train(SAMPLE_TEXT, vocab_size=400)


def naive_train(text: str, vocab_size: int) -> dict[tuple[int, int], int]:
    """The textbook algorithm: recount every pair of every chunk before each merge."""
    chunks = [list(c.encode("utf-8")) for c in split_into_chunks(text)]
    merges = {}
    for new_id in range(256, vocab_size):
        counts = Counter(pair for ids in chunks for pair in zip(ids, ids[1:]))
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))  # most frequent; ties to the smallest pair
        merges[best] = new_id
        chunks = [merge_pair(ids, best, new_id) for ids in chunks]
    return merges


def test_incremental_training_equals_the_naive_algorithm():
    for vocab_size in (256, 300, 400):
        assert BPETokenizer.train(SAMPLE_TEXT, vocab_size).merges == naive_train(SAMPLE_TEXT, vocab_size)


@settings(max_examples=30, deadline=None)
@given(st.text(max_size=200), st.integers(256, 320))
def test_incremental_training_equals_the_naive_algorithm_on_any_text(text, vocab_size):
    assert BPETokenizer.train(text, vocab_size).merges == naive_train(text, vocab_size)


def test_vocabulary_and_ids():
    tok = sample_tokenizer()
    assert tok.vocab_size == 400 and len(tok.vocab) == 400 and len(tok.merges) == 144
    ids = tok.encode("注意力 attention")
    assert all(isinstance(i, int) and 0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == "注意力 attention"
    assert len(ids) < len("注意力 attention".encode())  # merges learned from the text shorten it
    for (a, b), new_id in tok.merges.items():  # every merged token is the bytes of its two parts
        assert tok.vocab[new_id] == tok.vocab[a] + tok.vocab[b]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_round_trip_is_exact_for_any_string(text):
    tok = sample_tokenizer()
    ids = tok.encode(text)
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == text
    assert "".join(split_into_chunks(text)) == text


@pytest.mark.parametrize("text", ["", "\x00\x01\x1b\x7f", "😀👍🏽", "注意力", "a\u0301", "\U0010ffff", " \n\t "])
def test_round_trip_of_special_strings(text):
    tok = sample_tokenizer()
    assert tok.decode(tok.encode(text)) == text
    assert tok.encode("") == [] and tok.decode([]) == ""


@settings(max_examples=30, deadline=None)
@given(st.text(min_size=0, max_size=300))
def test_training_on_any_text_gives_an_exact_round_trip(text):
    tok = BPETokenizer.train(text, vocab_size=300)
    assert tok.decode(tok.encode(text)) == text
    assert tok.decode(tok.encode(SAMPLE_TEXT)) == SAMPLE_TEXT


def test_save_and_load(tmp_path):
    tok = sample_tokenizer()
    path = tmp_path / "tok.json"
    tok.save(path)
    loaded = BPETokenizer.load(path)
    assert loaded.vocab == tok.vocab and list(loaded.merges.items()) == list(tok.merges.items())
    assert loaded.encode(SAMPLE_TEXT) == tok.encode(SAMPLE_TEXT)
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValueError, match="not a file written by BPETokenizer.save"):
        BPETokenizer.load(tmp_path / "other.json")


def test_bad_input_is_refused_clearly():
    tok = sample_tokenizer()
    with pytest.raises(ValueError, match="vocab_size"):
        BPETokenizer.train("abc", vocab_size=255)
    with pytest.raises(ValueError, match="vocab_size"):
        BPETokenizer.train("abc", vocab_size=300.0)
    with pytest.raises(TypeError, match="must be a str"):
        BPETokenizer.train(b"abc", vocab_size=300)
    with pytest.raises(TypeError, match="must be a str"):
        tok.encode(["abc"])
    with pytest.raises(ValueError, match="not valid Unicode"):
        tok.encode("lone surrogate \ud800")
    for bad in (400, -1, 2.0, "3"):
        with pytest.raises(ValueError, match=r"not in the vocabulary .*\[0, 400\)"):
            tok.decode([65, bad])


def tiny_gpt2_files(folder):
    """A GPT-2-format vocab.json and merges.txt, written by hand: the 256 byte tokens, five merges, <|endoftext|>."""
    as_text = bytes_to_unicode()
    vocab = {as_text[b]: i for i, b in enumerate(sorted(range(256), key=lambda b: as_text[b]))}  # not byte order
    merge_lines = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a"]
    for line in merge_lines:
        vocab["".join(line.split(" "))] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merge_lines) + "\n", encoding="utf-8")
    return folder / "vocab.json", folder / "merges.txt", vocab


def test_gpt2_files_written_by_hand(tmp_path):
    vocab_path, merges_path, vocab = tiny_gpt2_files(tmp_path)
    tok = BPETokenizer.from_gpt2_files(vocab_path, merges_path)
    assert tok.vocab_size == 262 and tok.special_tokens == {"<|endoftext|>": 261}
    ids = tok.encode("the theme in a\nthe")
    expected = ["t", "he", "Ġthe", "m", "e", "Ġ", "in", "Ġa", "Ċ", "t", "he"]  # GPT-2's spelling of the tokens
    assert ids == [vocab[t] for t in expected]
    assert tok.decode(ids + [261]) == "the theme in a\nthe<|endoftext|>"
    (tmp_path / "bad.txt").write_text("Ġ zz\n", encoding="utf-8")
    with pytest.raises(ValueError, match="missing from the vocabulary"):
        BPETokenizer.from_gpt2_files(vocab_path, tmp_path / "bad.txt")


def test_gpt2_format_round_trip(tmp_path):
    tok = sample_tokenizer()
    vocab_path, merges_path = tok.save_gpt2_files(tmp_path)
    again = BPETokenizer.from_gpt2_files(vocab_path, merges_path)
    assert again.encode(SAMPLE_TEXT) == tok.encode(SAMPLE_TEXT)


STRINGS = ["Hello world! It's 2024.", "注意力 attention", "  multiple   spaces\n\n  newlines\t", "emoji 😀 ok",
           "def f(x):\n    return x_1 + 3.14", "The don't we'll THEY'RE", SAMPLE_TEXT]


def test_same_ids_as_transformers_gpt2_tokenizer(tmp_path):
    transformers = pytest.importorskip("transformers")
    for vocab_path, merges_path in [tiny_gpt2_files(tmp_path)[:2], sample_tokenizer().save_gpt2_files(tmp_path / "s")]:
        ours = BPETokenizer.from_gpt2_files(vocab_path, merges_path)
        theirs = transformers.GPT2Tokenizer(str(vocab_path), str(merges_path))
        for text in STRINGS:
            assert ours.encode(text) == theirs.encode(text), text
        # and Hugging Face's one-file format, tokenizer.json, written by the same tokenizer
        backend = getattr(theirs, "backend_tokenizer", None)
        if backend is not None:
            backend.save(str(tmp_path / "tokenizer.json"))
            from_json = BPETokenizer.from_gpt2_files(tmp_path / "tokenizer.json")
            for text in STRINGS:
                assert from_json.encode(text) == ours.encode(text), text
