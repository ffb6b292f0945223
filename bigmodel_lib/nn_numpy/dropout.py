"""Inverted dropout (Srivastava et al., 2014): active in ``train()``, the identity in ``eval()``."""

from __future__ import annotations

import numpy as np

from bigmodel_lib._checks import check_array, check_floating, check_probability
from bigmodel_lib.nn_numpy.functional import check_grad_out, require_cache
from bigmodel_lib.nn_numpy.module import Module
from bigmodel_lib.utils import get_numpy_rng


class Dropout(Module):
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)``.

    The scaling keeps ``E[y] = x``, so nothing changes at evaluation time. Backward multiplies by
    the same mask: ``dL/dx = g * mask / (1 - p)``.
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | None = None) -> None:
        check_probability("Dropout", "p", p)
        self.p = float(p)
        self._rng = rng
        self._scale: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array("Dropout", "x", x)
        check_floating("Dropout", "x", x)
        if not self.training or self.p == 0.0:
            self._scale = np.ones((1,) * x.ndim, dtype=x.dtype)  # identity, broadcast in backward
            return x
        rng = self._rng if self._rng is not None else get_numpy_rng()
        keep = rng.random(x.shape) >= self.p
        self._scale = keep.astype(x.dtype) / (1.0 - self.p)
        return x * self._scale

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        scale = require_cache(self, self._scale)
        check_array("Dropout", "grad_out", grad_out)
        if scale.size > 1:
            check_grad_out("Dropout", grad_out, scale.shape)
        return grad_out * scale

    def extra_repr(self) -> str:
        return f"p={self.p}"
