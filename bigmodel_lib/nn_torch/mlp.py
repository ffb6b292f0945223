"""The multi-layer perceptron of source article 5, in PyTorch (same keys as ``nn_numpy.MLP``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from bigmodel_lib.contracts.mlp import check_mlp_sizes, mlp_layers
from bigmodel_lib.nn_torch.activations import GELU, ReLU, Tanh
from bigmodel_lib.nn_torch.container import Sequential
from bigmodel_lib.nn_torch.dropout import Dropout
from bigmodel_lib.nn_torch.linear import Linear
from bigmodel_lib.nn_torch.module import Module

ACTIVATIONS = {"relu": ReLU, "gelu": GELU, "tanh": Tanh}


class MLP(Module):
    """``Linear -> act -> ... -> Linear``; ``sizes=(1000, 500, 100, 1)`` is source article 5's model."""

    def __init__(
        self,
        sizes: Sequence[int] = (1000, 500, 100, 1),
        activation: str = "relu",
        dropout: float = 0.0,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.sizes = check_mlp_sizes(sizes)
        self.layers = Sequential(
            *mlp_layers(sizes, activation, dropout, Linear, ACTIVATIONS, Dropout, device=device, dtype=dtype)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
