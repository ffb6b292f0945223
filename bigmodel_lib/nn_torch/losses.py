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
