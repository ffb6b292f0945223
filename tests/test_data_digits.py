"""The digits split: sizes, dtypes, value range, determinism, stratification; mini-batches; shifts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from bigmodel_lib import seed_everything
from bigmodel_lib.data import iterate_minibatches, load_digits_split, random_shift


@pytest.fixture(scope="module")
def split():
    return load_digits_split()


def test_split_sizes_shapes_and_dtypes(split) -> None:
    assert split.x_train.shape == (1437, 1, 8, 8) and split.x_test.shape == (360, 1, 8, 8)
    assert split.y_train.shape == (1437,) and split.y_test.shape == (360,)
    assert split.x_train.dtype == split.x_test.dtype == np.float32
    assert split.y_train.dtype == split.y_test.dtype == np.int64
    assert split.x_train.flags["C_CONTIGUOUS"] and split.x_test.flags["C_CONTIGUOUS"]


def test_values_are_scaled_to_the_unit_interval(split) -> None:
    for x in (split.x_train, split.x_test):
        assert x.min() == 0.0 and x.max() == 1.0
    raw = load_digits()
    np.testing.assert_array_equal(np.unique(split.x_train * 16), np.unique(raw.images))  # counts 0..16, /16
    assert set(np.unique(split.y_train)) == set(range(10))


def test_split_is_a_partition_of_the_dataset(split) -> None:
    raw = load_digits()
    images = np.concatenate([split.x_train, split.x_test])[:, 0] * 16
    labels = np.concatenate([split.y_train, split.y_test])

    def sorted_rows(a, y):
        rows = np.concatenate([a.reshape(len(a), -1), y[:, None]], axis=1)
        return rows[np.lexsort(rows.T[::-1])]

    np.testing.assert_array_equal(sorted_rows(images, labels), sorted_rows(raw.images, raw.target))


def test_split_is_deterministic_and_depends_on_the_seed(split) -> None:
    again = load_digits_split()
    for name in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(split, name), getattr(again, name))
    other = load_digits_split(seed=1)
    assert not np.array_equal(other.y_test, split.y_test)


def test_split_is_stratified(split) -> None:
    total = np.bincount(np.concatenate([split.y_train, split.y_test]), minlength=10)
    test_counts = np.bincount(split.y_test, minlength=10)
    # every class is in the test set in proportion (20 %), to within one image
    assert np.all(np.abs(test_counts - 0.2 * total) <= 1)
    assert test_counts.sum() == 360


def test_test_size_is_validated() -> None:
    with pytest.raises(ValueError, match=r"'test_size' must be in \(0, 1\), got 1.5"):
        load_digits_split(test_size=1.5)
    assert len(load_digits_split(test_size=0.5).y_test) == 899


def test_minibatches_cover_every_example_once() -> None:
    x = np.arange(10)[:, None].astype(np.float32)
    y = np.arange(10)
    batches = list(iterate_minibatches(x, y, 4, rng=0))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    seen = np.concatenate([b[1] for b in batches])
    assert sorted(seen) == list(range(10)) and not np.array_equal(seen, np.arange(10))  # shuffled
    for xb, yb in batches:
        np.testing.assert_array_equal(xb[:, 0], yb)  # images stay with their labels
    assert [len(b[1]) for b in iterate_minibatches(x, y, 4, rng=0, drop_last=True)] == [4, 4]
    ordered = np.concatenate([b[1] for b in iterate_minibatches(x, y, 3, shuffle=False)])
    np.testing.assert_array_equal(ordered, np.arange(10))


def test_minibatches_are_reproducible_and_change_every_epoch() -> None:
    x, y = np.zeros((20, 1)), np.arange(20)
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    epoch1_a = [yb for _, yb in iterate_minibatches(x, y, 8, rng_a)]
    epoch1_b = [yb for _, yb in iterate_minibatches(x, y, 8, rng_b)]
    for a, b in zip(epoch1_a, epoch1_b):
        np.testing.assert_array_equal(a, b)
    epoch2_a = [yb for _, yb in iterate_minibatches(x, y, 8, rng_a)]
    assert not np.array_equal(np.concatenate(epoch1_a), np.concatenate(epoch2_a))
    seed_everything(3)
    first = np.concatenate([yb for _, yb in iterate_minibatches(x, y, 8)])
    seed_everything(3)
    np.testing.assert_array_equal(first, np.concatenate([yb for _, yb in iterate_minibatches(x, y, 8)]))


def test_minibatches_index_torch_tensors_too() -> None:
    x, y = torch.arange(12.0).reshape(6, 2), torch.arange(6)
    for xb, yb in iterate_minibatches(x, y, 4, rng=1):
        assert isinstance(xb, torch.Tensor)
        torch.testing.assert_close(xb[:, 0], 2.0 * yb)


def test_minibatches_refuse_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"'batch_size' must be a positive int, got 0"):
        next(iterate_minibatches(np.zeros(3), np.zeros(3), 0))
    with pytest.raises(ValueError, match=r"'x' and 'y' must have the same length, got 3 and 4"):
        next(iterate_minibatches(np.zeros(3), np.zeros(4), 2))


def test_random_shift_moves_each_image_by_at_most_one_pixel() -> None:
    x = np.random.default_rng(0).random((50, 3, 6, 5)).astype(np.float32)
    shifted = random_shift(x, 1, rng=1)
    assert shifted.shape == x.shape and shifted.dtype == x.dtype
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    offsets = set()
    for i in range(len(x)):
        matches = [(dy, dx) for dy in range(3) for dx in range(3)
                   if np.array_equal(shifted[i], padded[i, :, dy : dy + 6, dx : dx + 5])]
        assert len(matches) == 1  # every channel moved by the same offset
        offsets.add(matches[0])
    assert len(offsets) == 9  # all offsets occur
    np.testing.assert_array_equal(random_shift(x, 0), x)
    np.testing.assert_array_equal(random_shift(x, 1, rng=1), shifted)  # seeded: reproducible


def test_random_shift_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"'x' expected a NumPy array of shape \(N, C, H, W\)"):
        random_shift(np.zeros((8, 8)))
    with pytest.raises(ValueError, match=r"'max_shift' must be a non-negative int, got -1"):
        random_shift(np.zeros((1, 1, 8, 8)), -1)
