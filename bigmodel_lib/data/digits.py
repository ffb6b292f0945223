"""scikit-learn's handwritten digits as ``(N, 1, 8, 8)`` images with a fixed, stratified split.

The 1,797 images of ``sklearn.datasets.load_digits`` (UCI "Optical Recognition of Handwritten
Digits": 32x32 bitmaps counted in 4x4 blocks, so each of the 8x8 pixels is an integer 0..16) ship
inside scikit-learn, so nothing is downloaded. They are the offline stand-in for MNIST's 28x28
images in chapter 04.

    split = load_digits_split()                 # 1,437 train / 360 test, stratified, seed 0
    for xb, yb in iterate_minibatches(split.x_train, split.y_train, 64, rng):
        ...
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bigmodel_lib._checks import check_positive_int
from bigmodel_lib.utils import get_numpy_rng

IMAGE_SHAPE = (1, 8, 8)
NUM_CLASSES = 10
MAX_PIXEL = 16.0  # load_digits stores counts 0..16 per pixel


@dataclass(frozen=True)
class DigitsSplit:
    """Train and test images ``(N, 1, 8, 8)`` float32 in [0, 1] and labels ``(N,)`` int64 in 0..9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def __repr__(self) -> str:
        return (f"DigitsSplit(train: x {self.x_train.shape} {self.x_train.dtype}, y {self.y_train.shape}; "
                f"test: x {self.x_test.shape}, y {self.y_test.shape})")


def load_digits_split(test_size: float = 0.2, seed: int = 0) -> DigitsSplit:
    """The digits, scaled to [0, 1], split ``1 - test_size : test_size`` with every class in proportion.

    Stratified: each digit makes up the same share of the training and the test set (within one
    image). Deterministic: the same ``seed`` gives the same split on every machine.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < float(test_size) < 1.0:
        raise ValueError(f"load_digits_split: 'test_size' must be in (0, 1), got {test_size!r}")
    digits = load_digits()
    images = (digits.images / MAX_PIXEL).astype(np.float32)[:, None]  # (N, 8, 8) -> (N, 1, 8, 8)
    labels = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_size, random_state=seed, stratify=labels
    )
    return DigitsSplit(*(np.ascontiguousarray(a) for a in (x_train, y_train, x_test, y_test)))


def iterate_minibatches(
    x: Any,
    y: Any,
    batch_size: int,
    rng: np.random.Generator | int | None = None,
    *,
    shuffle: bool = True,
    drop_last: bool = False,
) -> Iterator[tuple[Any, Any]]:
    """Yield ``(x[idx], y[idx])`` batches covering the data once (one epoch).

    ``rng``: a ``np.random.Generator`` (pass the same one every epoch: each epoch gets a new order,
    the whole run stays reproducible), an int seed, or ``None`` for the library's generator
    (:func:`~bigmodel_lib.utils.get_numpy_rng`, seeded by ``seed_everything``). Works for NumPy arrays and torch tensors
    alike (they are indexed with a NumPy integer array). The last batch is smaller unless ``drop_last``.
    """
    check_positive_int("iterate_minibatches", "batch_size", batch_size)
    n = len(x)
    if len(y) != n:
        raise ValueError(f"iterate_minibatches: 'x' and 'y' must have the same length, got {n} and {len(y)}")
    if shuffle:
        if isinstance(rng, np.random.Generator):
            generator = rng
        else:  # None: the library's generator, which seed_everything seeds
            generator = get_numpy_rng() if rng is None else np.random.default_rng(rng)
        order = generator.permutation(n)
    else:
        order = np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size]
        yield x[idx], y[idx]


def random_shift(x: np.ndarray, max_shift: int = 1, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Move each image of ``(N, C, H, W)`` by its own random offset of up to ``max_shift`` pixels.

    Offsets ``dy, dx`` are drawn uniformly from ``-max_shift..max_shift``; pixels moved in from
    outside are 0 (background). A digit shifted by a pixel is the same digit, so this *data
    augmentation* shows the network more writing positions than the 1,437 training images hold.
    ``rng`` as in :func:`iterate_minibatches`.
    """
    if not isinstance(x, np.ndarray) or x.ndim != 4:
        raise ValueError(f"random_shift: 'x' expected a NumPy array of shape (N, C, H, W), got "
                         f"{type(x).__name__} of shape {getattr(x, 'shape', None)}")
    if not isinstance(max_shift, (int, np.integer)) or isinstance(max_shift, bool) or max_shift < 0:
        raise ValueError(f"random_shift: 'max_shift' must be a non-negative int, got {max_shift!r}")
    if max_shift == 0:
        return x.copy()
    generator = rng if isinstance(rng, np.random.Generator) else (
        get_numpy_rng() if rng is None else np.random.default_rng(rng))
    n, _, h, w = x.shape
    m = int(max_shift)
    padded = np.pad(x, ((0, 0), (0, 0), (m, m), (m, m)))  # (N, C, H, W) -> (N, C, H+2m, W+2m)
    crops = sliding_window_view(padded, (h, w), axis=(2, 3))  # -> (N, C, 2m+1, 2m+1, H, W), a view
    top, left = generator.integers(0, 2 * m + 1, size=(2, n))  # crop corner; m is "no shift"
    return crops[np.arange(n), :, top, left]  # -> (N, C, H, W): image i cropped at (top[i], left[i])
