"""Fully connected layer: ``torch.nn.Linear`` with the library's input checks and NumPy interop."""

from __future__ import annotations

import torch
from torch import nn

from bigmodel_lib._checks import check_features, check_parameter_dtype, check_tensor
from bigmodel_lib.nn_torch.module import Module


class Linear(Module, nn.Linear):
    """``y = x W^T + b``, ``W: (out_features, in_features)`` -- the same keys as ``nn_numpy.Linear``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("Linear", "x", x)
        check_features("Linear", "x", x, self.in_features)
        check_parameter_dtype("Linear", "x", x, self.weight)
        return super().forward(x)

    @classmethod
    def from_pytorch(cls, module: nn.Linear) -> Linear:
        layer = cls(module.in_features, module.out_features, bias=module.bias is not None,
                    device=module.weight.device, dtype=module.weight.dtype)
        layer.load_state_dict(module.state_dict())
        return layer
