"""The multi-layer perceptron of source article 5 (1000 -> 500 -> 100 -> 1, ReLU)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bigmodel_lib.contracts.mlp import (  # noqa: F401 -- re-exported: the contracts both packages keep
    check_mlp_sizes,
    mlp_layers,
)
from bigmodel_lib.nn_numpy.activations import GELU, ReLU, Tanh
from bigmodel_lib.nn_numpy.container import Sequential
from bigmodel_lib.nn_numpy.dropout import Dropout
from bigmodel_lib.nn_numpy.linear import Linear
from bigmodel_lib.nn_numpy.module import Module

ACTIVATIONS = {"relu": ReLU, "gelu": GELU, "tanh": Tanh}


class MLP(Module):
    """``Linear -> act -> Linear -> act -> ... -> Linear``; ``sizes=(1000, 500, 100, 1)`` is source article 5's.

    Parameters: ``sum_i (n_i * n_{i+1} + n_{i+1})`` -- 550,701 for source article 5's sizes.
    """

    def __init__(
        self,
        sizes: Sequence[int] = (1000, 500, 100, 1),
        activation: str = "relu",
        dropout: float = 0.0,
        *,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.sizes = check_mlp_sizes(sizes)
        self.layers = Sequential(
            *mlp_layers(sizes, activation, dropout, Linear, ACTIVATIONS, Dropout, dtype=dtype, rng=rng)
        )

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.layers(x)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return self.layers.backward(grad_out)
