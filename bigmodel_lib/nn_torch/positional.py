"""Positional information in PyTorch: the same tables and keys as ``nn_numpy.positional``.

``PE[pos, 2i] = sin(pos / 10000^(2i/d_model))``, ``PE[pos, 2i+1] = cos(pos / 10000^(2i/d_model))``.

RoPE (:func:`rotary_embedding`, :class:`RotaryEmbedding`): rotate-half pairing, as ``nn_numpy.positional``
(whose docstring explains the choice).
"""

from __future__ import annotations

import torch
from torch import nn

from bigmodel_lib._checks import check_positive_int, check_tensor
from bigmodel_lib.contracts.positional import ROPE_BASE, check_positions, check_rotary_config, check_rotary_input
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


def rotary_cos_sin(
    positions: torch.Tensor, head_dim: int, base: float = ROPE_BASE, *, dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``cos``, ``sin`` of ``m theta_i`` (``theta_i = base^(-2i/head_dim)``), each ``(L, head_dim)``, halves repeated.

    Computed in float64 (float32 on Apple's MPS, which has no float64) on ``positions``' device, returned in
    ``dtype``: float32 tensors get the very numbers of ``nn_numpy.positional.rotary_cos_sin`` rounded once.
    """
    work = torch.float32 if positions.device.type == "mps" else torch.float64
    inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=work, device=positions.device) / head_dim)  # (d/2,)
    angles = positions.to(work)[:, None] * inv_freq  # (L, 1) * (d/2,) -> (L, d/2)
    angles = torch.cat([angles, angles], dim=-1)  # (L, d/2) -> (L, d)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    """``[x1, x2] -> [-x2, x1]``."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def rotary_embedding(
    x: torch.Tensor, positions: torch.Tensor | None = None, *, base: float = ROPE_BASE, inverse: bool = False,
) -> torch.Tensor:
    """RoPE on ``x (..., L, head_dim)``: ``x cos + rotate_half(x) sin`` (see ``nn_numpy.positional``).

    ``positions``: ``(L,)`` ints, default ``0..L-1`` (on ``x``'s device); ``inverse=True`` rotates back.
    """
    where = "rotary_embedding"
    check_tensor(where, "x", x)
    head_dim = x.shape[-1] if x.ndim else 0
    check_rotary_config(where, head_dim, base)
    if positions is None:
        positions = torch.arange(x.shape[-2], device=x.device)
    check_rotary_input(where, x, head_dim, positions.shape[0])  # not len(): it would freeze the length when exported
    cos, sin = rotary_cos_sin(positions.to(x.device), head_dim, base, dtype=x.dtype)
    if inverse:
        sin = -sin
    return x * cos + _rotate_half(x) * sin  # (..., L, d) * (L, d)


class RotaryEmbedding(Module):
    """RoPE as a layer, ``forward(x (..., L, head_dim), start=0)``: row ``l`` rotated by position ``start + l``.

    No parameters and no buffers (``state_dict()`` is empty, as the NumPy twin's); the angles are computed on
    the fly for the positions asked, so there is no maximum length. Backward is autograd's.
    """

    def __init__(self, head_dim: int, base: float = ROPE_BASE) -> None:
        super().__init__()
        check_rotary_config("RotaryEmbedding", head_dim, base)
        self.head_dim, self.base = head_dim, float(base)

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        check_tensor("RotaryEmbedding", "x", x)
        check_rotary_input("RotaryEmbedding", x, self.head_dim)
        positions = torch.arange(start, start + x.shape[-2], device=x.device)
        return rotary_embedding(x, positions, base=self.base)

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, base={self.base}"
