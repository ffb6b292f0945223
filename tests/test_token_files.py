"""bigmodel_lib.data.token_files: token files written once, memory-mapped, read as the same windows as the text."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from bigmodel_lib.data.text_corpus import CharTokenizer
from bigmodel_lib.data.token_files import (
    MemmapWindows,
    TextWindows,
    open_token_file,
    read_batch,
    token_dtype,
    window_starts,
    write_token_file,
)

TEXT = "the quick brown fox jumps over the lazy dog. " * 40


def test_token_dtype_is_the_smallest_unsigned_type():
    assert token_dtype(256) == np.uint16
    assert token_dtype(50257) == np.uint16
    assert token_dtype(65536) == np.uint16
    assert token_dtype(65537) == np.uint32
    assert token_dtype(128256) == np.uint32
    with pytest.raises(ValueError, match="positive int"):
        token_dtype(0)


def test_write_and_open_round_trip(tmp_path):
    ids = np.array([0, 5, 65535, 7], dtype=np.int64)
    path = write_token_file(ids, tmp_path / "sub" / "train.bin", vocab_size=65536)
    assert path.stat().st_size == 4 * 2
    tokens = open_token_file(path, 65536)
    assert isinstance(tokens, np.memmap) and tokens.dtype == np.uint16
    np.testing.assert_array_equal(tokens, ids)
    with pytest.raises(ValueError, match=r"\[0, 100\)"):
        write_token_file(ids, tmp_path / "bad.bin", vocab_size=100)
    with pytest.raises(TypeError, match="integers"):
        write_token_file(np.array([0.5]), tmp_path / "bad.bin", vocab_size=100)
    with pytest.raises(ValueError, match="no token file"):
        open_token_file(tmp_path / "missing.bin", 100)
    (tmp_path / "odd.bin").write_bytes(b"abc")
    with pytest.raises(ValueError, match="multiple of 2"):
        open_token_file(tmp_path / "odd.bin", 100)


def test_window_starts_fit_and_repeat_with_the_seed():
    starts = window_starts(1000, 64, 500, seed=3)
    assert starts.dtype == np.int64 and starts.min() >= 0 and starts.max() + 64 < 1000
    np.testing.assert_array_equal(starts, window_starts(1000, 64, 500, seed=3))
    with pytest.raises(ValueError, match="must exceed"):
        window_starts(64, 64, 1)


def test_memmap_and_text_windows_give_the_same_batches(tmp_path):
    tokenizer = CharTokenizer.from_text(TEXT)
    ids = tokenizer.encode(TEXT)
    path = write_token_file(ids, tmp_path / "train.bin", tokenizer.vocab_size)
    starts = window_starts(len(ids), 16, 24, seed=0)
    from_file = MemmapWindows(path, tokenizer.vocab_size, starts, 16)
    from_text = TextWindows(TEXT, tokenizer, starts, 16)
    x, y = from_file[3]
    s = int(starts[3])
    assert x.dtype == torch.int64 and x.shape == (16,)
    np.testing.assert_array_equal(x.numpy(), ids[s:s + 16])
    np.testing.assert_array_equal(y.numpy(), ids[s + 1:s + 17])
    bx, by = read_batch(open_token_file(path, tokenizer.vocab_size), starts[:8], 16)
    assert bx.dtype == torch.int64 and bx.shape == (8, 16)
    rx, ry = read_batch(ids, starts[:8], 16)  # an array in memory gives the same
    assert torch.equal(bx, rx) and torch.equal(by, ry)
    loaders = [DataLoader(from_text, batch_size=8), DataLoader(from_file, batch_size=8),
               DataLoader(from_file, batch_size=8, num_workers=2)]
    batches = [list(loader) for loader in loaders]
    for other in batches[1:]:
        for (xa, ya), (xb, yb) in zip(batches[0], other, strict=True):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert torch.equal(batches[0][0][0], bx) and torch.equal(batches[0][0][1], by)


def test_windows_reject_starts_that_do_not_fit(tmp_path):
    tokenizer = CharTokenizer.from_text(TEXT)
    path = write_token_file(tokenizer.encode(TEXT), tmp_path / "t.bin", tokenizer.vocab_size)
    with pytest.raises(ValueError, match="must be in"):
        MemmapWindows(path, tokenizer.vocab_size, np.array([len(TEXT) - 16]), 16)
    with pytest.raises(ValueError, match="1-D array of ints"):
        TextWindows(TEXT, tokenizer, np.array([0.5]), 16)
    with pytest.raises(ValueError, match="1-D"):
        read_batch(np.zeros((2, 50), dtype=np.uint16), np.array([0]), 16)
    with pytest.raises(TypeError, match="str"):
        TextWindows(b"bytes", tokenizer, np.array([0]), 16)
