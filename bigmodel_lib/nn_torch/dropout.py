"""Inverted dropout: ``torch.nn.Dropout`` under the library's name."""

from __future__ import annotations

from torch import nn

from bigmodel_lib._checks import check_probability
from bigmodel_lib.nn_torch.module import Module


class Dropout(Module, nn.Dropout):
    """Zero each element with probability ``p`` in training, scale the rest by ``1/(1-p)``."""

    def __init__(self, p: float = 0.5) -> None:
        check_probability("Dropout", "p", p)
        super().__init__(p=p)
