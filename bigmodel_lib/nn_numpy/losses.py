"""Losses: mean squared error, cross-entropy from logits, and the distillation loss.

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
from bigmodel_lib.contracts.distillation import check_distillation_knobs
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


class DistillationLoss(Module):
    """Knowledge distillation as Hinton et al. (2015) define it, from the student's and the teacher's logits:

    ``L = alpha T^2 KL(p_T || q_T) + (1 - alpha) CE(z_s, y)``, with ``p_T = softmax(z_t / T)`` (teacher),
    ``q_T = softmax(z_s / T)`` (student), ``KL(p || q) = sum_c p_c (log p_c - log q_c)`` averaged over the
    positions (PyTorch's ``reduction="batchmean"``), and ``CE`` the plain cross-entropy at ``T = 1``.

    The KL runs from the teacher to the student, ``KL(teacher || student)``: the expectation is taken under the
    teacher's distribution, so it equals the cross-entropy of the student against the soft targets ``p_T`` minus
    the teacher's entropy (a constant for the student). Its gradient is ``dKL/dz_s = (q_T - p_T) / T`` per
    position: for large ``T`` about ``(z_s - z_t) / (C T^2)`` (logits of mean zero over ``C`` classes), so
    the factor ``T^2`` keeps the soft term's gradients the same size whatever ``T``, and ``alpha`` means the same
    mix at every temperature. ``T = 1, alpha = 0`` is plain cross-entropy. Logits ``(..., C)``, targets ``(...)``;
    ``backward`` returns ``dL/dz_s`` (the teacher and the targets get no gradient).
    """

    def __init__(self, temperature: float = 2.0, alpha: float = 0.5) -> None:
        self.temperature, self.alpha = check_distillation_knobs("DistillationLoss", temperature, alpha)
        self.cross_entropy = CrossEntropyLoss()
        self._cache: tuple[np.ndarray, np.ndarray, int] | None = None

    def forward(self, student_logits: np.ndarray, teacher_logits: np.ndarray, target: np.ndarray) -> np.ndarray:
        for name, value in (("student_logits", student_logits), ("teacher_logits", teacher_logits)):
            check_array("DistillationLoss", name, value)
            check_floating("DistillationLoss", name, value)
        check_same_shape("DistillationLoss", "teacher_logits", teacher_logits, "student_logits", student_logits)
        hard = self.cross_entropy.forward(student_logits, target)  # checks the targets too
        t = student_logits.dtype.type(self.temperature)
        log_q = log_softmax(student_logits / t, axis=-1)  # student, softened: (..., C)
        log_p = log_softmax(np.asarray(teacher_logits, dtype=student_logits.dtype) / t, axis=-1)  # teacher
        p = np.exp(log_p)
        positions = max(student_logits.size // student_logits.shape[-1], 1)
        kl = np.sum(p * (log_p - log_q)) / positions  # KL(p || q), mean over positions
        self._cache = (log_q, p, positions)
        return self.alpha * self.temperature**2 * kl + (1.0 - self.alpha) * hard

    def backward(self, grad_out: float | np.ndarray = 1.0) -> np.ndarray:
        log_q, p, positions = require_cache(self, self._cache)
        soft_grad = (np.exp(log_q) - p) / (self.temperature * positions)  # dKL/dz_s = (q - p) / T, per position
        grad = self.alpha * self.temperature**2 * soft_grad + (1.0 - self.alpha) * self.cross_entropy.backward()
        return (np.asarray(grad_out, dtype=log_q.dtype) * grad).astype(log_q.dtype, copy=False)
