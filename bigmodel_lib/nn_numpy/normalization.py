"""Layer normalization (Ba, Kiros & Hinton, 2016) over the trailing feature dimensions."""

from __future__ import annotations

from typing import Any

import numpy as np

from bigmodel_lib._checks import check_array, check_floating, shape_str
from bigmodel_lib.nn_numpy.functional import check_grad_out, numpy_dtype_of, require_cache
from bigmodel_lib.nn_numpy.module import Module, Parameter


class LayerNorm(Module):
    """``y = (x - mean) / sqrt(var + eps) * gamma + beta`` over the last ``len(normalized_shape)`` dims.

    ``var`` is the biased (population) variance, as in PyTorch. With ``x_hat`` the normalized input,
    ``r = 1/sqrt(var + eps)`` and ``d = dL/dx_hat = g * gamma``, the backward pass is::

        dL/dx = r * (d - mean(d) - x_hat * mean(d * x_hat))
    """

    def __init__(
        self,
        normalized_shape: int | tuple[int, ...],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        *,
        dtype: Any = np.float32,
    ) -> None:
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        if not shape or any(int(s) <= 0 for s in shape):
            raise ValueError(f"LayerNorm: 'normalized_shape' must be positive sizes, got {normalized_shape!r}")
        self.normalized_shape = tuple(int(s) for s in shape)
        self.eps = eps
        self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype)) if elementwise_affine and bias else None
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def _axes(self) -> tuple[int, ...]:
        return tuple(range(-len(self.normalized_shape), 0))

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array("LayerNorm", "x", x)
        check_floating("LayerNorm", "x", x)
        k = len(self.normalized_shape)
        if x.ndim < k or tuple(x.shape[-k:]) != self.normalized_shape:
            expected = "(..., " + ", ".join(map(str, self.normalized_shape)) + ")"
            raise ValueError(f"LayerNorm: 'x' expected shape {expected}, got {shape_str(x)}")
        mean = x.mean(axis=self._axes, keepdims=True)
        var = x.var(axis=self._axes, keepdims=True)
        rstd = 1.0 / np.sqrt(var + self.eps)
        x_hat = (x - mean) * rstd
        self._cache = (x_hat, rstd)
        y = x_hat
        if self.weight is not None:
            y = y * self.weight.data
        if self.bias is not None:
            y = y + self.bias.data
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        x_hat, rstd = require_cache(self, self._cache)
        check_grad_out("LayerNorm", grad_out, x_hat.shape)
        batch_axes = tuple(range(grad_out.ndim - len(self.normalized_shape)))
        if self.weight is not None:
            self.weight.grad += (grad_out * x_hat).sum(axis=batch_axes)
        if self.bias is not None:
            self.bias.grad += grad_out.sum(axis=batch_axes)
        d = grad_out * self.weight.data if self.weight is not None else grad_out
        mean_d = d.mean(axis=self._axes, keepdims=True)
        mean_dx = (d * x_hat).mean(axis=self._axes, keepdims=True)
        return rstd * (d - mean_d - x_hat * mean_dx)

    @classmethod
    def from_pytorch(cls, module: Any) -> LayerNorm:
        """An equal NumPy layer built from a ``torch.nn.LayerNorm``."""
        ref = module.weight if module.weight is not None else None
        layer = cls(
            module.normalized_shape,
            eps=module.eps,
            elementwise_affine=module.elementwise_affine,
            bias=module.bias is not None,
            dtype=numpy_dtype_of(ref) if ref is not None else np.float32,
        )
        layer.load_state_dict(module.state_dict())
        return layer

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.weight is not None}"
