"""Token files: tokenize a corpus once, write the ids to a flat binary file, read training windows from a memory map.

This is how nanoGPT feeds its GPT (``data/shakespeare_char/prepare.py`` writes ``train.bin`` with
``np.array(ids, dtype=np.uint16).tofile(...)``; ``train.py``'s ``get_batch`` opens it with
``np.memmap(path, dtype=np.uint16, mode="r")`` and slices random windows). The file holds nothing but the ids,
``n_tokens x itemsize`` bytes: 2 bytes a token while the vocabulary has at most 65,536 ids, 4 bytes above that.
A memory map reads only the pages a window touches (the operating system caches them), so the corpus never has to
fit in the process's memory, and any number of reader processes share one copy of the cached pages.

* :func:`token_dtype` -- the smallest unsigned dtype that holds every id of a vocabulary.
* :func:`write_token_file` / :func:`open_token_file` -- write once, then memory-map.
* :func:`window_starts` -- the start offsets of random training windows (one seeded generator, so every loader
  below reads the same windows).
* :func:`read_batch` -- a whole batch of windows in one indexing operation (nanoGPT's ``get_batch``), from a
  memory map or from an array in memory alike.
* :class:`MemmapWindows` -- a ``torch.utils.data.Dataset`` of windows read from the token file, one at a time.
* :class:`TextWindows` -- the same windows, tokenized from the text at every read (what the token file saves).

A window at start ``s`` is ``x = ids[s : s + T]``, ``y = ids[s + 1 : s + T + 1]`` (the target is the input shifted
by one token), both ``int64 (T,)``, as :func:`bigmodel_lib.lm_training.get_batch` makes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from bigmodel_lib._checks import check_positive_int

__all__ = ["MemmapWindows", "TextWindows", "open_token_file", "read_batch", "token_dtype", "window_starts",
           "write_token_file"]


class CharEncoder(Protocol):
    """What :class:`TextWindows` needs: one id per character (e.g. :class:`bigmodel_lib.data.text_corpus.
    CharTokenizer`), so that token ``i`` of the stream is character ``i`` of the text."""

    def encode(self, text: str) -> np.ndarray: ...


def token_dtype(vocab_size: int) -> np.dtype:
    """``uint16`` for a vocabulary of at most ``2**16 = 65,536`` ids (GPT-2's 50,257 fits), else ``uint32``."""
    check_positive_int("token_dtype", "vocab_size", vocab_size)
    if vocab_size > 2**32:
        raise ValueError(f"token_dtype: 'vocab_size' must be at most 2**32, got {vocab_size}")
    return np.dtype(np.uint16 if vocab_size <= 2**16 else np.uint32)


def write_token_file(ids: Sequence[int] | np.ndarray, path: str | Path, vocab_size: int) -> Path:
    """Write ``ids`` (1-D, each in ``[0, vocab_size)``) to ``path`` as raw :func:`token_dtype` values, no header;
    the file has ``len(ids) x itemsize`` bytes. Parent folders are created. Returns the path."""
    where = "write_token_file"
    array = np.asarray(ids)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{where}: 'ids' must be a non-empty 1-D sequence of token ids, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{where}: 'ids' must hold integers, got dtype {array.dtype}")
    dtype = token_dtype(vocab_size)
    low, high = int(array.min()), int(array.max())
    if low < 0 or high >= vocab_size:
        raise ValueError(f"{where}: every id must be in [0, {vocab_size}), got ids from {low} to {high}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    array.astype(dtype).tofile(path)
    return path


def open_token_file(path: str | Path, vocab_size: int) -> np.memmap:
    """A read-only ``np.memmap`` of a file written by :func:`write_token_file` with the same ``vocab_size``
    (which fixes the dtype: the file itself does not record it)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"open_token_file: no token file at {path}")
    dtype = token_dtype(vocab_size)
    if path.stat().st_size % dtype.itemsize:
        raise ValueError(f"open_token_file: {path} has {path.stat().st_size} bytes, not a multiple of "
                         f"{dtype.itemsize} ({dtype.name}): was it written for another vocabulary size?")
    return np.memmap(path, dtype=dtype, mode="r")


def window_starts(n_tokens: int, block_size: int, n_windows: int, seed: int = 0) -> np.ndarray:
    """``int64 (n_windows,)``: start offsets drawn uniformly from ``[0, n_tokens - block_size)``, so that each
    window of ``block_size + 1`` tokens (input and shifted target) fits in the stream."""
    where = "window_starts"
    for name, value in (("n_tokens", n_tokens), ("block_size", block_size), ("n_windows", n_windows)):
        check_positive_int(where, name, value)
    if n_tokens <= block_size:
        raise ValueError(f"{where}: 'n_tokens' ({n_tokens}) must exceed 'block_size' ({block_size})")
    return np.random.default_rng(seed).integers(0, n_tokens - block_size, size=n_windows, dtype=np.int64)


def _check_windows(where: str, starts: np.ndarray, block_size: int, n_tokens: int) -> np.ndarray:
    check_positive_int(where, "block_size", block_size)
    starts = np.asarray(starts)
    if starts.ndim != 1 or not np.issubdtype(starts.dtype, np.integer):
        raise ValueError(f"{where}: 'starts' must be a 1-D array of ints, got shape {starts.shape}, "
                         f"dtype {starts.dtype}")
    if starts.size and (starts.min() < 0 or starts.max() + block_size >= n_tokens):
        raise ValueError(f"{where}: every start must be in [0, {n_tokens - block_size}) so that a window of "
                         f"{block_size + 1} tokens fits in {n_tokens} tokens, got {starts.min()}..{starts.max()}")
    return starts.astype(np.int64)


def read_batch(tokens: np.ndarray, starts: np.ndarray, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``x, y`` int64 ``(B, T)`` for the ``B = len(starts)`` windows of ``tokens`` (a memory map or any 1-D array of
    ids) in one fancy-indexing read: ``x[b] = tokens[s_b : s_b + T]``, ``y[b] = tokens[s_b + 1 : s_b + T + 1]``."""
    tokens = np.asarray(tokens) if not isinstance(tokens, np.ndarray) else tokens
    if tokens.ndim != 1:
        raise ValueError(f"read_batch: 'tokens' must be 1-D, got shape {tokens.shape}")
    starts = _check_windows("read_batch", starts, block_size, len(tokens))
    offsets = starts[:, None] + np.arange(block_size + 1)  # (B, 1) + (T+1,) -> (B, T+1)
    window = torch.from_numpy(tokens[offsets].astype(np.int64))  # (B, T+1): reads only the pages touched
    return window[:, :-1], window[:, 1:]  # (B, T) each


def _pair(window: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.from_numpy(np.asarray(window, dtype=np.int64))  # (T+1,)
    return ids[:-1], ids[1:]  # x (T,), y (T,)


class MemmapWindows(Dataset):
    """Windows ``(x, y)`` read from a token file: item ``i`` starts at ``starts[i]``.

    The memory map is opened on first use in each process (nanoGPT re-opens it at every batch for the same
    reason): a ``DataLoader`` worker then maps the file itself instead of inheriting a map.
    """

    def __init__(self, path: str | Path, vocab_size: int, starts: np.ndarray, block_size: int) -> None:
        self.path, self.vocab_size = Path(path), vocab_size
        n_tokens = len(open_token_file(self.path, vocab_size))  # checks the file now, not in a worker
        self.starts = _check_windows("MemmapWindows", starts, block_size, n_tokens)
        self.block_size = block_size
        self._tokens: np.memmap | None = None

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._tokens is None:
            self._tokens = open_token_file(self.path, self.vocab_size)
        start = int(self.starts[i])
        return _pair(self._tokens[start:start + self.block_size + 1])  # copies T+1 ids out of the map

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_tokens": None}  # a worker opens its own map


class TextWindows(Dataset):
    """The same windows as :class:`MemmapWindows`, tokenized from ``text`` at every read: item ``i`` encodes the
    characters ``text[s : s + T + 1]``, ``s = starts[i]``, with a character-level ``tokenizer``."""

    def __init__(self, text: str, tokenizer: CharEncoder, starts: np.ndarray, block_size: int) -> None:
        if not isinstance(text, str):
            raise TypeError(f"TextWindows: 'text' must be a str, got {type(text).__name__}")
        self.text, self.tokenizer = text, tokenizer
        self.starts = _check_windows("TextWindows", starts, block_size, len(text))
        self.block_size = block_size

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        start = int(self.starts[i])
        return _pair(self.tokenizer.encode(self.text[start:start + self.block_size + 1]))
