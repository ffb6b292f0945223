"""Losses with the library's layout: features (classes) last, shapes checked."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bigmodel_lib._checks import (
    check_floating,
    check_integer,
    check_same_shape,
    check_tensor,
    format_shape,
    shape_str,
)
from bigmodel_lib.contracts.distillation import check_distillation_knobs
from bigmodel_lib.nn_torch.module import Module

_REDUCTIONS = ("mean", "sum")


class MSELoss(Module):
    """``mean((y - t)^2)``; refuses mismatched shapes instead of broadcasting them."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"MSELoss: 'reduction' must be one of {_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        for name, value in (("prediction", prediction), ("target", target)):
            check_tensor("MSELoss", name, value)
            check_floating("MSELoss", name, value)
        check_same_shape("MSELoss", "target", target, "prediction", prediction)
        return F.mse_loss(prediction, target, reduction=self.reduction)


class CrossEntropyLoss(Module):
    """Cross-entropy from logits ``(..., C)`` and integer targets ``(...)``, skipping ``ignore_index``.

    (PyTorch's own loss wants the class axis second, ``(N, C, ...)``; we flatten instead.)
    """

    def __init__(self, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"CrossEntropyLoss: 'reduction' must be one of {_REDUCTIONS}, got {reduction!r}")
        self.ignore_index = ignore_index
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_tensor("CrossEntropyLoss", "logits", logits)
        check_floating("CrossEntropyLoss", "logits", logits)
        check_tensor("CrossEntropyLoss", "target", target)
        check_integer("CrossEntropyLoss", "target", target)
        if logits.ndim < 1 or tuple(target.shape) != tuple(logits.shape[:-1]):
            raise ValueError(
                f"CrossEntropyLoss: 'target' expected shape {format_shape(logits.shape[:-1])} "
                f"(the shape of 'logits' {shape_str(logits)} without the class axis), got {shape_str(target)}"
            )
        num_classes = logits.shape[-1]
        return F.cross_entropy(
            logits.reshape(-1, num_classes),  # (..., C) -> (N, C)
            target.reshape(-1),  # (...) -> (N,)
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )


class DistillationLoss(Module):
    """``alpha T^2 KL(softmax(z_t/T) || softmax(z_s/T)) + (1 - alpha) CE(z_s, y)`` (Hinton et al., 2015).

    The twin of ``nn_numpy.DistillationLoss`` (formulas, the direction of the KL and the reason for ``T^2``
    there). ``F.kl_div(input, target)`` computes ``KL(target || input)`` with ``input`` in log space, so the
    student's log-probabilities go first; ``batchmean`` divides by the number of positions. The teacher's
    logits are detached: they are targets, not something to train.
    """

    def __init__(self, temperature: float = 2.0, alpha: float = 0.5) -> None:
        super().__init__()
        self.temperature, self.alpha = check_distillation_knobs("DistillationLoss", temperature, alpha)

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        for name, value in (("student_logits", student_logits), ("teacher_logits", teacher_logits)):
            check_tensor("DistillationLoss", name, value)
            check_floating("DistillationLoss", name, value)
        check_same_shape("DistillationLoss", "teacher_logits", teacher_logits, "student_logits", student_logits)
        check_tensor("DistillationLoss", "target", target)
        check_integer("DistillationLoss", "target", target)
        if tuple(target.shape) != tuple(student_logits.shape[:-1]):
            raise ValueError(
                f"DistillationLoss: 'target' expected shape {format_shape(student_logits.shape[:-1])} "
                f"(the shape of 'student_logits' {shape_str(student_logits)} without the class axis), "
                f"got {shape_str(target)}"
            )
        num_classes, t = student_logits.shape[-1], self.temperature
        student = student_logits.reshape(-1, num_classes)  # (..., C) -> (N, C)
        teacher = teacher_logits.detach().reshape(-1, num_classes).to(student.dtype)  # (..., C) -> (N, C)
        soft = F.kl_div(F.log_softmax(student / t, dim=-1), F.log_softmax(teacher / t, dim=-1),
                        log_target=True, reduction="batchmean")  # KL(teacher || student), mean over N
        hard = F.cross_entropy(student, target.reshape(-1))
        return self.alpha * t * t * soft + (1.0 - self.alpha) * hard

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, alpha={self.alpha}"
