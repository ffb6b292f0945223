"""Fully connected layer: ``y = x W^T + b`` (PyTorch's layout, so weights load either way)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bigmodel_lib._checks import check_array, check_features, check_positive_int
from bigmodel_lib.nn_numpy.functional import check_grad_out, numpy_dtype_of, require_cache
from bigmodel_lib.nn_numpy.module import Module, uniform_init


class Linear(Module):
    """``y = x W^T + b`` with ``W: (out_features, in_features)`` and ``b: (out_features,)``.

    Backward, with ``g = dL/dy`` flattened to ``(N, out)`` and ``x`` to ``(N, in)``::

        dL/dW = g^T x        dL/db = sum_n g        dL/dx = g W

    Initialised as PyTorch does: ``W, b ~ U(-1/sqrt(in), 1/sqrt(in))``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        check_positive_int("Linear", "in_features", in_features)
        check_positive_int("Linear", "out_features", out_features)
        self.in_features = in_features
        self.out_features = out_features
        bound = 1.0 / math.sqrt(in_features)
        self.weight = uniform_init((out_features, in_features), bound, dtype, rng)
        self.bias = uniform_init((out_features,), bound, dtype, rng) if bias else None
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array("Linear", "x", x)
        check_features("Linear", "x", x, self.in_features)
        self._x = x
        y = x @ self.weight.data.T  # (..., in) @ (in, out) -> (..., out)
        if self.bias is not None:
            y = y + self.bias.data
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        x = require_cache(self, self._x)
        check_grad_out("Linear", grad_out, x.shape[:-1] + (self.out_features,))
        g2d = grad_out.reshape(-1, self.out_features)  # (..., out) -> (N, out)
        x2d = x.reshape(-1, self.in_features)  # (..., in) -> (N, in)
        self.weight.grad += g2d.T @ x2d  # (out, N) @ (N, in) -> (out, in)
        if self.bias is not None:
            self.bias.grad += g2d.sum(axis=0)
        return grad_out @ self.weight.data  # (..., out) @ (out, in) -> (..., in)

    @classmethod
    def from_pytorch(cls, module: Any) -> Linear:
        """An equal NumPy layer built from a ``torch.nn.Linear`` (weights copied, dtype kept)."""
        layer = cls(
            module.in_features,
            module.out_features,
            bias=module.bias is not None,
            dtype=numpy_dtype_of(module.weight),
        )
        layer.load_state_dict(module.state_dict())
        return layer

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
