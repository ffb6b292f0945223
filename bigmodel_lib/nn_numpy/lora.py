"""LoRA in NumPy: a frozen ``Linear`` plus a trainable low-rank path, forward and backward written out.

``LoRALinear(base, rank, alpha)`` computes (Hu et al., 2021)::

    y = base(x) + s * (x A^T) B^T,        s = alpha / rank,   A (rank, in),   B (out, rank)

``A`` starts random (as a Linear's weight: ``U(+-1/sqrt(in))``), ``B`` at zero, so the adapted layer starts
*equal* to the base layer and training moves it away. The base weight and bias are frozen: ``backward``
accumulates gradients into ``A`` and ``B`` only (and returns ``dL/dx``). :meth:`LoRALinear.merged` folds the
change into one plain ``Linear`` with ``W + s B A``: after training, the adapter costs nothing at inference.

The keys are those of ``nn_torch.LoRALinear``: ``lora_A``, ``lora_B``, ``base.weight``, ``base.bias``.
"""

from __future__ import annotations

import math

import numpy as np

from bigmodel_lib._checks import check_array, check_features
from bigmodel_lib.contracts.lora import check_lora_args, lora_scale
from bigmodel_lib.nn_numpy.functional import check_grad_out, require_cache
from bigmodel_lib.nn_numpy.linear import Linear
from bigmodel_lib.nn_numpy.module import Module, Parameter, uniform_init

__all__ = ["LoRALinear"]


class LoRALinear(Module):
    """A frozen :class:`Linear` ``base`` plus ``s B A``; only ``lora_A`` and ``lora_B`` are trained.

    Backward, with ``g = dL/dy`` as ``(N, out)``, ``x`` as ``(N, in)`` and ``h = x A^T`` as ``(N, rank)``::

        dL/dB = s g^T h        dL/dA = s (g B)^T x        dL/dx = g W + s (g B) A

    ``base.weight.grad`` and ``base.bias.grad`` stay zero (the base is frozen).
    """

    def __init__(self, base: Linear, rank: int, alpha: float = 1.0, *, rng: np.random.Generator | None = None) -> None:
        if not isinstance(base, Linear):
            raise TypeError(f"LoRALinear: 'base' must be an nn_numpy Linear, got {type(base).__name__}")
        check_lora_args("LoRALinear", base.in_features, base.out_features, rank, alpha)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.rank, self.alpha, self.scale = rank, float(alpha), lora_scale(rank, alpha)
        dtype = base.weight.data.dtype
        self.lora_A = uniform_init((rank, base.in_features), 1.0 / math.sqrt(base.in_features), dtype, rng)
        self.lora_B = Parameter(np.zeros((base.out_features, rank), dtype=dtype))
        self.base = base
        self._x: np.ndarray | None = None
        self._h: np.ndarray | None = None

    def trainable_parameters(self) -> list[Parameter]:
        """``[lora_A, lora_B]``: what an optimizer should update (the base is frozen)."""
        return [self.lora_A, self.lora_B]

    def delta_weight(self) -> np.ndarray:
        """``s B A``: ``(out, rank) @ (rank, in) -> (out, in)``, the change LoRA adds to the base weight."""
        return self.scale * (self.lora_B.data @ self.lora_A.data)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array("LoRALinear", "x", x)
        check_features("LoRALinear", "x", x, self.in_features)
        self._x = x
        self._h = x @ self.lora_A.data.T  # (..., in) @ (in, rank) -> (..., rank)
        y = x @ self.base.weight.data.T  # (..., in) @ (in, out) -> (..., out): the frozen path
        if self.base.bias is not None:
            y = y + self.base.bias.data
        return y + self.scale * (self._h @ self.lora_B.data.T)  # (..., rank) @ (rank, out) -> (..., out)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        x, h = require_cache(self, self._x), require_cache(self, self._h)
        check_grad_out("LoRALinear", grad_out, x.shape[:-1] + (self.out_features,))
        g2d = grad_out.reshape(-1, self.out_features)  # (..., out) -> (N, out)
        x2d = x.reshape(-1, self.in_features)  # (..., in) -> (N, in)
        h2d = h.reshape(-1, self.rank)  # (..., rank) -> (N, rank)
        grad_h = self.scale * (g2d @ self.lora_B.data)  # (N, out) @ (out, rank) -> (N, rank)
        self.lora_B.grad += self.scale * (g2d.T @ h2d)  # (out, N) @ (N, rank) -> (out, rank)
        self.lora_A.grad += grad_h.T @ x2d  # (rank, N) @ (N, in) -> (rank, in)
        grad_x = g2d @ self.base.weight.data + grad_h @ self.lora_A.data  # (N, in)
        return grad_x.reshape(x.shape)  # (N, in) -> (..., in)

    def merged(self) -> Linear:
        """A plain :class:`Linear` with weight ``W + s B A`` and the base bias: the same outputs, no extra path."""
        layer = Linear(self.in_features, self.out_features, bias=self.base.bias is not None,
                       dtype=self.base.weight.data.dtype, rng=np.random.default_rng(0))
        layer.weight.data = self.base.weight.data + self.delta_weight()
        if self.base.bias is not None:
            layer.bias.data = self.base.bias.data.copy()
        return layer

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, rank={self.rank}, "
                f"alpha={self.alpha:g}")
