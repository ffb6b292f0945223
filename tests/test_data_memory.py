"""The long-range memory task: shapes, the answer is the first symbol, distractors never look like it."""

from __future__ import annotations

import numpy as np
import pytest

from bigmodel_lib.data.memory_task import MemoryTask, make_memory_batch


def test_sequences_hold_the_symbol_then_distractors_only():
    task = MemoryTask(delay=12, num_symbols=3, num_distractors=5)
    ids, targets = task.sample(200, np.random.default_rng(0))
    assert ids.shape == (200, 13) and targets.shape == (200,)
    assert ids.dtype == np.int64 and targets.dtype == np.int64
    np.testing.assert_array_equal(ids[:, 0], targets)
    assert targets.min() >= 0 and targets.max() < 3
    assert ids[:, 1:].min() >= 3 and ids[:, 1:].max() < 8  # a separate alphabet
    assert set(np.unique(targets)) == {0, 1, 2} and len(np.unique(ids[:, 1:])) == 5
    assert task.vocab_size == 8 and task.seq_len == 13 and task.chance == pytest.approx(1 / 3)


def test_the_answer_is_independent_of_everything_after_the_first_step():
    """No shortcut: the distractors carry no information about the target."""
    task = MemoryTask(delay=5, num_symbols=2, num_distractors=2)
    ids, targets = task.sample(20_000, np.random.default_rng(1))
    for t in range(1, 6):
        for symbol in (0, 1):
            share = (ids[targets == symbol, t] == 2).mean()
            assert abs(share - 0.5) < 0.03


def test_sampling_is_reproducible_and_one_hot_is_exact():
    task = MemoryTask(delay=4)
    a = task.sample(8, np.random.default_rng(5))
    b = task.sample(8, np.random.default_rng(5))
    np.testing.assert_array_equal(a[0], b[0])
    x = task.one_hot(a[0])
    assert x.shape == (8, 5, task.vocab_size) and x.dtype == np.float32
    np.testing.assert_array_equal(x.sum(axis=-1), 1.0)
    np.testing.assert_array_equal(x.argmax(axis=-1), a[0])
    x64, y = make_memory_batch(8, 4, seed=5)
    np.testing.assert_array_equal(x64, x)
    np.testing.assert_array_equal(y, a[1])
    assert MemoryTask(delay=0).sample(3, np.random.default_rng(0))[0].shape == (3, 1)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: MemoryTask(delay=-1), r"'delay' must be an int >= 0, got -1"),
        (lambda: MemoryTask(delay=3, num_symbols=1), r"'num_symbols' must be an int >= 2, got 1"),
        (lambda: MemoryTask(delay=2.5), r"'delay' must be an int >= 0, got 2.5"),
        (lambda: MemoryTask(delay=3).sample(0, np.random.default_rng(0)), r"'batch_size' must be an int >= 1"),
        (lambda: MemoryTask(delay=3).one_hot(np.array([[9]])), r"'ids' must be in \[0, 8\), got values in \[9, 9\]"),
    ],
)
def test_bad_arguments_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_sample_needs_a_generator():
    with pytest.raises(TypeError, match="'rng' must be a numpy.random.Generator, got int"):
        MemoryTask(delay=3).sample(2, 0)
    with pytest.raises(TypeError, match="'ids' must have an integer dtype"):
        MemoryTask(delay=3).one_hot(np.zeros((1, 2)))
