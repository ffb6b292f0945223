"""Losses: mean squared error and cross-entropy from logits.

A loss is a module whose ``forward(prediction, target)`` returns a 0-d array and whose
``backward(grad_out=1.0)`` returns ``dL/d(prediction)`` (targets get no gradient).
"""

from __future__ import annotations

import numpy as np

from bigmodel_lib._checks import (
    check_array,
    check_floating,
    check_integer,
    check_same_shape,
    format_shape,
    shape_str,
)
from bigmodel_lib.nn_numpy.functional import log_softmax, require_cache
from bigmodel_lib.nn_numpy.module import Module

_REDUCTIONS = ("mean", "sum")


def _check_reduction(where: str, reduction: str) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{where}: 'reduction' must be one of {_REDUCTIONS}, got {reduction!r}")
    return reduction


class MSELoss(Module):
    """``L = mean((y - t)^2)`` (or the sum); ``dL/dy = 2 (y - t) / N`` for the mean over N elements."""

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = _check_reduction("MSELoss", reduction)
        self._diff: np.ndarray | None = None

    def forward(self, prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
        for name, value in (("prediction", prediction), ("target", target)):
            check_array("MSELoss", name, value)
            check_floating("MSELoss", name, value)
        # Same shape required: (N, 1) against (N,) would silently broadcast to (N, N).
        check_same_shape("MSELoss", "target", target, "prediction", prediction)
        self._diff = prediction - target
        total = np.sum(self._diff**2)
        return total / self._diff.size if self.reduction == "mean" else total

    def backward(self, grad_out: float | np.ndarray = 1.0) -> np.ndarray:
        diff = require_cache(self, self._diff)
        scale = 2.0 / diff.size if self.reduction == "mean" else 2.0
        # Cast grad_out (default: the Python float 1.0) so a float32 pass stays float32.
        return np.asarray(grad_out, dtype=diff.dtype) * scale * diff


class CrossEntropyLoss(Module):
    """Cross-entropy of integer targets under ``softmax(logits)``, from the logits.

    ``L = -mean_n log softmax(z_n)[t_n]`` over the positions whose target is not ``ignore_index``.
    Logits are ``(..., C)`` (features last, as everywhere in this library), targets ``(...)``.
    Computed with log-softmax, so logits of 1e4 give the exact answer instead of ``inf``/``nan``.
    Backward: ``dL/dz_n = (softmax(z_n) - onehot(t_n)) / N``.
    """

    def __init__(self, ignore_index: int = -100, reduction: str = "mean") -> None:
        self.ignore_index = ignore_index
        self.reduction = _check_reduction("CrossEntropyLoss", reduction)
        self._cache: tuple[np.ndarray, np.ndarray, np.ndarray, int] | None = None

    def forward(self, logits: np.ndarray, target: np.ndarray) -> np.ndarray:
        check_array("CrossEntropyLoss", "logits", logits)
        check_floating("CrossEntropyLoss", "logits", logits)
        check_array("CrossEntropyLoss", "target", target)
        check_integer("CrossEntropyLoss", "target", target)
        if logits.ndim < 1 or tuple(target.shape) != tuple(logits.shape[:-1]):
            raise ValueError(
                f"CrossEntropyLoss: 'target' expected shape {format_shape(logits.shape[:-1])} "
                f"(the shape of 'logits' {shape_str(logits)} without the class axis), got {shape_str(target)}"
            )
        num_classes = logits.shape[-1]
        valid = target != self.ignore_index
        if np.any((target[valid] < 0) | (target[valid] >= num_classes)):
            raise ValueError(f"CrossEntropyLoss: 'target' values must be in [0, {num_classes}) or ignore_index")
        log_probs = log_softmax(logits, axis=-1)
        safe_target = np.where(valid, target, 0)
        picked = np.take_along_axis(log_probs, safe_target[..., None], axis=-1)[..., 0]  # (...)
        count = max(int(valid.sum()), 1) if self.reduction == "mean" else 1
        self._cache = (log_probs, safe_target, valid, count)
        return -np.sum(picked * valid) / count

    def backward(self, grad_out: float | np.ndarray = 1.0) -> np.ndarray:
        log_probs, safe_target, valid, count = require_cache(self, self._cache)
        grad = np.exp(log_probs)  # softmax
        np.put_along_axis(grad, safe_target[..., None], np.take_along_axis(grad, safe_target[..., None], -1) - 1, -1)
        return np.asarray(grad_out, dtype=grad.dtype) * grad * valid[..., None] / grad.dtype.type(count)
