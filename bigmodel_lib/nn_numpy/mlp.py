"""The multi-layer perceptron of the seed on training (1000 -> 500 -> 100 -> 1, ReLU)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bigmodel_lib.nn_numpy.activations import GELU, ReLU, Tanh
from bigmodel_lib.nn_numpy.container import Sequential
from bigmodel_lib.nn_numpy.dropout import Dropout
from bigmodel_lib.nn_numpy.linear import Linear
from bigmodel_lib.nn_numpy.module import Module

ACTIVATIONS = {"relu": ReLU, "gelu": GELU, "tanh": Tanh}


def mlp_layers(sizes: Sequence[int], activation: str, dropout: float, linear: Any, activations: dict,
               dropout_layer: Any, **linear_kwargs: Any) -> list:
    """The layer list ``Linear, act, [Dropout,] Linear, ...`` shared by the NumPy and PyTorch MLPs."""
    if len(sizes) < 2:
        raise ValueError(f"MLP: 'sizes' needs at least an input and an output size, got {tuple(sizes)}")
    if activation not in activations:
        raise ValueError(f"MLP: 'activation' must be one of {sorted(activations)}, got {activation!r}")
    layers: list = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(linear(fan_in, fan_out, **linear_kwargs))
        if i < len(sizes) - 2:  # no activation after the output layer
            layers.append(activations[activation]())
            if dropout > 0:
                layers.append(dropout_layer(dropout))
    return layers


class MLP(Module):
    """``Linear -> act -> Linear -> act -> ... -> Linear``; ``sizes=(1000, 500, 100, 1)`` is the seed's.

    Parameters: ``sum_i (n_i * n_{i+1} + n_{i+1})`` -- 550,701 for the seed's sizes.
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
        self.sizes = tuple(sizes)
        self.layers = Sequential(
            *mlp_layers(sizes, activation, dropout, Linear, ACTIVATIONS, Dropout, dtype=dtype, rng=rng)
        )

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.layers(x)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return self.layers.backward(grad_out)
