"""Positional information in PyTorch: the same tables and keys as ``nn_numpy.positional``.

``PE[pos, 2i] = sin(pos / 10000^(2i/d_model))``, ``PE[pos, 2i+1] = cos(pos / 10000^(2i/d_model))``.
"""

from __future__ import annotations

import torch
from torch import nn

from bigmodel_lib._checks import check_positive_int, check_tensor
from bigmodel_lib.contracts.positional import check_positions
from bigmodel_lib.nn_torch.module import Module


def sinusoidal_positional_encoding(
    max_len: int,
    d_model: int,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The ``(max_len, d_model)`` sinusoidal table, computed in float64 and returned in ``dtype``."""
    check_positive_int("sinusoidal_positional_encoding", "max_len", max_len)
    check_positive_int("sinusoidal_positional_encoding", "d_model", d_model)
    position = torch.arange(max_len, dtype=torch.float64, device=device).unsqueeze(1)  # (max_len,) -> (max_len, 1)
    exponent = torch.arange(0, d_model, 2, dtype=torch.float64, device=device) / d_model  # (ceil(d/2),): 2i/d
    angles = position * 10000.0 ** (-exponent)  # (max_len, 1) * (ceil(d/2),) -> (max_len, ceil(d/2))
    pe = torch.empty(max_len, d_model, dtype=torch.float64, device=device)
    pe[:, 0::2] = torch.sin(angles)  # even columns 2i
    pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])  # odd columns 2i + 1
    return pe.to(dtype)


class SinusoidalPositionalEncoding(Module):
    """``y = x + PE[:L]`` for ``x (B, L, d_model)``.

    The table is a *non-persistent* buffer: it follows ``.to(device)`` but stays out of
    ``state_dict()``, which is empty -- as the NumPy twin's. Built in ``dtype``: float32 by default
    (Apple's MPS has no float64), so for float64 work build it with ``dtype=torch.float64`` -- a
    later ``.double()`` cannot restore digits the float32 table never had.
    """

    def __init__(
        self,
        d_model: int,
        max_len: int = 5000,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.d_model, self.max_len = d_model, max_len
        table = sinusoidal_positional_encoding(max_len, d_model, dtype=dtype or torch.float32, device=device)
        self.register_buffer("pe", table, persistent=False)  # (max_len, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("SinusoidalPositionalEncoding", "x", x)
        check_positions("SinusoidalPositionalEncoding", x, self.max_len, self.d_model)
        return x + self.pe[: x.shape[-2]].to(x.dtype)  # (B, L, d) + (L, d)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}"


class LearnedPositionalEmbedding(Module):
    """``y = x + weight[:L]`` with a trainable ``weight (max_len, d_model) ~ N(0, 0.02^2)`` (key ``weight``)."""

    def __init__(
        self,
        max_len: int,
        d_model: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_positive_int("LearnedPositionalEmbedding", "max_len", max_len)
        check_positive_int("LearnedPositionalEmbedding", "d_model", d_model)
        self.max_len, self.d_model = max_len, d_model
        self.weight = nn.Parameter(torch.empty(max_len, d_model, device=device, dtype=dtype))
        nn.init.normal_(self.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("LearnedPositionalEmbedding", "x", x)
        check_positions("LearnedPositionalEmbedding", x, self.max_len, self.d_model)
        return x + self.weight[: x.shape[-2]]  # (B, L, d) + (L, d)

    @classmethod
    def from_pytorch(cls, module: nn.Module) -> LearnedPositionalEmbedding:
        """An equal layer from a ``torch.nn.Embedding`` used as a position table (e.g. GPT-2's ``wpe``)."""
        max_len, d_model = module.weight.shape
        layer = cls(max_len, d_model, device=module.weight.device, dtype=module.weight.dtype)
        layer.load_state_dict({"weight": module.weight})
        return layer

    def extra_repr(self) -> str:
        return f"max_len={self.max_len}, d_model={self.d_model}"
