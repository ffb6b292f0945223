"""Element-wise non-linearities and softmax, each with its derivative."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erf

from bigmodel_lib._checks import check_array, check_floating
from bigmodel_lib.nn_numpy.functional import check_grad_out, require_cache, softmax, softmax_backward
from bigmodel_lib.nn_numpy.module import Module


class _Elementwise(Module):
    """Shared plumbing: validate the input, cache, and check grad_out's shape."""

    def _check(self, x: np.ndarray) -> None:
        check_array(type(self).__name__, "x", x)
        check_floating(type(self).__name__, "x", x)

    def _grad(self, cached: np.ndarray | None, grad_out: np.ndarray) -> np.ndarray:
        cached = require_cache(self, cached)
        check_grad_out(type(self).__name__, grad_out, cached.shape)
        return cached


class ReLU(_Elementwise):
    """``max(0, x)``; derivative 1 where ``x > 0`` and 0 elsewhere (PyTorch's choice at 0)."""

    def __init__(self) -> None:
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check(x)
        self._x = x
        return np.maximum(x, 0)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        x = self._grad(self._x, grad_out)
        return grad_out * (x > 0)


class Tanh(_Elementwise):
    """``tanh(x)``; derivative ``1 - tanh(x)^2``, computed from the cached output."""

    def __init__(self) -> None:
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check(x)
        self._y = np.tanh(x)
        return self._y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        y = self._grad(self._y, grad_out)
        return grad_out * (1 - y * y)


class Sigmoid(_Elementwise):
    """``1 / (1 + exp(-x))``, written as ``(1 + tanh(x/2)) / 2`` so it never overflows.

    Derivative ``s (1 - s)`` from the cached output.
    """

    def __init__(self) -> None:
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check(x)
        self._y = 0.5 * (1 + np.tanh(0.5 * x))
        return self._y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        y = self._grad(self._y, grad_out)
        return grad_out * y * (1 - y)


class GELU(_Elementwise):
    """``x * Phi(x)`` with ``Phi`` the standard normal CDF (Hendrycks & Gimpel, 2016).

    ``approximate="none"``: ``Phi(x) = (1 + erf(x / sqrt 2)) / 2``, derivative ``Phi(x) + x phi(x)``.
    ``approximate="tanh"``: ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``, as in GPT-2.
    """

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: 'approximate' must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check(x)
        self._x = x
        if self.approximate == "tanh":
            inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
            return 0.5 * x * (1 + np.tanh(inner))
        return 0.5 * x * (1 + erf(x / math.sqrt(2)))

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        x = self._grad(self._x, grad_out)
        if self.approximate == "tanh":
            c = math.sqrt(2 / math.pi)
            t = np.tanh(c * (x + 0.044715 * x**3))
            d_inner = c * (1 + 3 * 0.044715 * x**2)
            return grad_out * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * d_inner)
        cdf = 0.5 * (1 + erf(x / math.sqrt(2)))
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return grad_out * (cdf + x * pdf)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softmax(_Elementwise):
    """``softmax(x)_i = exp(x_i) / sum_j exp(x_j)`` along ``dim`` (stable for huge logits).

    Backward is the vector-Jacobian product ``s * (g - sum(g * s))``.
    """

    def __init__(self, dim: int = -1) -> None:
        self.dim = dim
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check(x)
        if not -x.ndim <= self.dim < max(x.ndim, 1):
            raise ValueError(f"Softmax: dim={self.dim} is out of range for 'x' with {x.ndim} dims")
        self._y = softmax(x, axis=self.dim)
        return self._y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        y = self._grad(self._y, grad_out)
        return softmax_backward(y, grad_out, axis=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
