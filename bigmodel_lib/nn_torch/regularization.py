"""L1 and L2 penalties as differentiable tensors (autograd supplies their gradients)."""

from __future__ import annotations

from collections.abc import Iterable

import torch


class _Penalty:
    def __init__(self, strength: float) -> None:
        if strength < 0:
            raise ValueError(f"{type(self).__name__}: 'strength' must be >= 0, got {strength}")
        self.strength = strength


class L1Penalty(_Penalty):
    """``lambda * sum |w|``."""

    def __call__(self, params: Iterable[torch.Tensor]) -> torch.Tensor:
        return self.strength * sum(p.abs().sum() for p in params)


class L2Penalty(_Penalty):
    """``(lambda / 2) * sum w^2`` -- equal to SGD's ``weight_decay=lambda``."""

    def __call__(self, params: Iterable[torch.Tensor]) -> torch.Tensor:
        return 0.5 * self.strength * sum((p * p).sum() for p in params)
