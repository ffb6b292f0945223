"""``Sequential``: ``torch.nn.Sequential`` that also loads NumPy state dicts."""

from __future__ import annotations

from torch import nn

from bigmodel_lib.nn_torch.module import Module


class Sequential(Module, nn.Sequential):
    """Children named ``"0"``, ``"1"``, ... -- the same keys as ``nn_numpy.Sequential``."""
