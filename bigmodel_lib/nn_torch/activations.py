"""Element-wise non-linearities and softmax (PyTorch's own, under the library's class names)."""

from __future__ import annotations

from torch import nn

from bigmodel_lib.nn_torch.module import Module


class ReLU(Module, nn.ReLU):
    """``max(0, x)``."""


class Tanh(Module, nn.Tanh):
    """``tanh(x)``."""


class Sigmoid(Module, nn.Sigmoid):
    """``1 / (1 + exp(-x))``."""


class GELU(Module, nn.GELU):
    """``x * Phi(x)``; ``approximate="tanh"`` for the GPT-2 approximation."""


class Softmax(Module, nn.Softmax):
    """``exp(x_i) / sum_j exp(x_j)`` along ``dim`` (default: the last one, features-last)."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__(dim=dim)
