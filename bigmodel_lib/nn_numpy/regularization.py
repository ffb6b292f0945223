"""L1 and L2 penalties on weights, with their gradients.

Use: ``loss = criterion(pred, y) + penalty(weights)``; after ``criterion.backward()`` and the
model's backward, call ``penalty.backward()`` to add the penalty's gradient to each ``.grad``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from bigmodel_lib.nn_numpy.module import Parameter


class _Penalty:
    def __init__(self, strength: float) -> None:
        if strength < 0:
            raise ValueError(f"{type(self).__name__}: 'strength' must be >= 0, got {strength}")
        self.strength = strength
        self._params: list[Parameter] | None = None

    def __call__(self, params: Iterable[Parameter]) -> float:
        self._params = list(params)
        return float(self.strength * sum(self._value(p.data) for p in self._params))

    def backward(self) -> None:
        if self._params is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before the penalty was computed")
        for p in self._params:
            p.grad += self.strength * self._grad(p.data)


class L1Penalty(_Penalty):
    """``lambda * sum |w|``; (sub)gradient ``lambda * sign(w)``. Pushes weights to exactly zero."""

    @staticmethod
    def _value(w: np.ndarray) -> float:
        return float(np.abs(w).sum())

    @staticmethod
    def _grad(w: np.ndarray) -> np.ndarray:
        return np.sign(w)


class L2Penalty(_Penalty):
    """``(lambda / 2) * sum w^2``; gradient ``lambda * w`` -- the same as SGD's ``weight_decay=lambda``."""

    @staticmethod
    def _value(w: np.ndarray) -> float:
        return 0.5 * float((w * w).sum())

    @staticmethod
    def _grad(w: np.ndarray) -> np.ndarray:
        return w
