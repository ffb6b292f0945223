"""The on-machine text corpus (Python's own documentation), its tokenizer and its split."""

from __future__ import annotations

import numpy as np
import pytest

from bigmodel_lib.data.text_corpus import CharTokenizer, corpus_summary, load_python_docs, split_ids


def test_corpus_is_large_deterministic_english_text():
    text = load_python_docs()
    summary = corpus_summary(text)
    assert summary["bytes"] >= 500_000
    assert load_python_docs.__wrapped__() == text  # rebuilt from scratch: the same text
    assert "assignment_stmt" in text and "Return a new" in text  # help topics and docstrings
    assert 60 <= summary["distinct_characters"] <= 200


def test_tokenizer_round_trip_and_unknown_characters():
    tok = CharTokenizer.from_text("hello world")
    assert tok.chars == (" ", "d", "e", "h", "l", "o", "r", "w") and tok.vocab_size == 8
    ids = tok.encode("hello")
    assert ids.dtype == np.int64 and tok.decode(ids) == "hello"
    with pytest.raises(ValueError, match=r"\['x', 'y', 'z'\]"):
        tok.encode("xyzzy z")


def test_split_is_disjoint_contiguous_chunks_spread_over_the_stream():
    ids = np.arange(1000)
    train, val = split_ids(ids, val_fraction=0.1, num_chunks=20)
    assert len(train) + len(val) == 1000 and len(val) == 100
    assert not set(train) & set(val)
    assert set(val[::50]) == {450, 950}  # chunks 9 and 19 of 20: spread over the stream
    assert np.all(np.diff(val)[np.diff(val) != 1] > 1)  # increasing, in pieces
    with pytest.raises(ValueError, match="val_fraction"):
        split_ids(ids, 1.0)
    with pytest.raises(ValueError, match="num_chunks"):
        split_ids(ids, 0.1, num_chunks=1)


def test_corpus_does_not_depend_on_what_the_running_program_patched(monkeypatch):
    """IPython replaces inspect.getfile; the corpus is read from source files, so it does not notice."""
    import inspect

    before = load_python_docs.__wrapped__()

    def patched_getfile(obj):
        """A replacement with a different docstring."""
        return ""

    monkeypatch.setattr(inspect, "getfile", patched_getfile)
    assert load_python_docs.__wrapped__() == before
