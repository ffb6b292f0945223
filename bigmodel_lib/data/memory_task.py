"""A long-range memory task: remember the first symbol through ``delay`` steps of distractors.

    input   s  d d d d ... d     (one of ``num_symbols`` symbols, then ``delay`` random distractors)
    target  s                    (read out after the last input step)

Nothing after the first step says anything about the answer, so a recurrent network has to carry the
symbol in its state for ``delay`` steps, and the training signal has to travel back through all of
them (backpropagation through time). The vanilla RNN's gradient shrinks geometrically along that
path, so as ``delay`` grows it falls to chance, ``1 / num_symbols``; an LSTM's additive cell state
keeps it alive (Hochreiter & Schmidhuber, 1997, section 5 used tasks of this kind).

Ids: symbols are ``0 .. num_symbols-1``, distractors ``num_symbols .. num_symbols+num_distractors-1``
(a separate alphabet, so a distractor can never be mistaken for the answer).

    task = MemoryTask(delay=40)
    ids, targets = task.sample(64, np.random.default_rng(0))     # (64, 41) int64, (64,) int64
    x = task.one_hot(ids)                                          # (64, 41, 8) float32
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MemoryTask", "make_memory_batch"]


def _check_int(name: str, value: object, minimum: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"MemoryTask: '{name}' must be an int >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class MemoryTask:
    """Sequences of length ``delay + 1``: a symbol to remember, then ``delay`` distractors."""

    delay: int
    num_symbols: int = 4
    num_distractors: int = 4

    def __post_init__(self) -> None:
        _check_int("delay", self.delay, 0)
        _check_int("num_symbols", self.num_symbols, 2)
        _check_int("num_distractors", self.num_distractors, 1)

    @property
    def vocab_size(self) -> int:
        """Number of distinct input ids (the one-hot width)."""
        return self.num_symbols + self.num_distractors

    @property
    def seq_len(self) -> int:
        return self.delay + 1

    @property
    def chance(self) -> float:
        """The accuracy of guessing: ``1 / num_symbols``."""
        return 1.0 / self.num_symbols

    def sample(self, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``(ids (B, delay + 1) int64, targets (B,) int64)``; ``targets == ids[:, 0]``."""
        _check_int("batch_size", batch_size, 1)
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"MemoryTask.sample: 'rng' must be a numpy.random.Generator, got {type(rng).__name__}")
        targets = rng.integers(0, self.num_symbols, size=batch_size)
        distractors = rng.integers(self.num_symbols, self.vocab_size, size=(batch_size, self.delay))
        ids = np.concatenate([targets[:, None], distractors], axis=1)  # (B, 1) + (B, delay) -> (B, delay + 1)
        return ids.astype(np.int64), targets.astype(np.int64)

    def one_hot(self, ids: np.ndarray, dtype: type = np.float32) -> np.ndarray:
        """``(B, L)`` ids -> ``(B, L, vocab_size)`` one-hot vectors (the RNN's input)."""
        ids = np.asarray(ids)
        if not np.issubdtype(ids.dtype, np.integer):
            raise TypeError(f"MemoryTask.one_hot: 'ids' must have an integer dtype, got {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"MemoryTask.one_hot: 'ids' must be in [0, {self.vocab_size}), "
                             f"got values in [{ids.min()}, {ids.max()}]")
        return np.eye(self.vocab_size, dtype=dtype)[ids]  # (B, L) -> (B, L, V)


def make_memory_batch(
    batch_size: int, delay: int, *, num_symbols: int = 4, num_distractors: int = 4, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """One batch as float32 one-hot inputs ``(B, delay + 1, V)`` and int64 targets ``(B,)``, from ``seed``."""
    task = MemoryTask(delay, num_symbols, num_distractors)
    ids, targets = task.sample(batch_size, np.random.default_rng(seed))
    return task.one_hot(ids), targets
