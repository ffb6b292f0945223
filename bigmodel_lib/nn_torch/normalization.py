"""Layer normalization: ``torch.nn.LayerNorm`` with input checks and NumPy interop."""

from __future__ import annotations

import torch
from torch import nn

from bigmodel_lib._checks import check_floating, check_parameter_dtype, check_tensor, shape_str
from bigmodel_lib.nn_torch.module import Module


class LayerNorm(Module, nn.LayerNorm):
    """``(x - mean) / sqrt(var + eps) * gamma + beta`` over the trailing ``normalized_shape``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("LayerNorm", "x", x)
        check_floating("LayerNorm", "x", x)
        k = len(self.normalized_shape)
        if x.ndim < k or tuple(x.shape[-k:]) != tuple(self.normalized_shape):
            expected = "(..., " + ", ".join(map(str, self.normalized_shape)) + ")"
            raise ValueError(f"LayerNorm: 'x' expected shape {expected}, got {shape_str(x)}")
        if self.weight is not None:
            check_parameter_dtype("LayerNorm", "x", x, self.weight)
        return super().forward(x)

    @classmethod
    def from_pytorch(cls, module: nn.LayerNorm) -> LayerNorm:
        ref = module.weight
        layer = cls(module.normalized_shape, eps=module.eps, elementwise_affine=module.elementwise_affine,
                    bias=module.bias is not None,
                    device=ref.device if ref is not None else None, dtype=ref.dtype if ref is not None else None)
        layer.load_state_dict(module.state_dict())
        return layer
