"""``Sequential``: chain layers; backward runs them in reverse (the chain rule, literally)."""

from __future__ import annotations

from typing import Any

import numpy as np

from bigmodel_lib.nn_numpy.module import Module


class Sequential(Module):
    """``y = f_n(... f_2(f_1(x)))``; children are named ``"0"``, ``"1"``, ... as in PyTorch.

    Backward applies each layer's backward from last to first:
    ``dL/dx = J_1^T (J_2^T (... J_n^T g))``.
    """

    def __init__(self, *layers: Module) -> None:
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: layer {i} must be a nn_numpy Module, got {type(layer).__name__}")
            setattr(self, str(i), layer)

    def __len__(self) -> int:
        return sum(1 for _ in self.named_children())

    def __getitem__(self, index: int) -> Module:
        return getattr(self, str(index % len(self)))

    def __iter__(self):
        return (child for _, child in self.named_children())

    def forward(self, x: Any) -> Any:
        for layer in self:
            x = layer(x)
        return x

    def backward(self, grad_out: np.ndarray) -> Any:
        for layer in reversed(list(self)):
            grad_out = layer.backward(grad_out)
        return grad_out
