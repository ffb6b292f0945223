"""What ``nn_numpy.positional`` and ``nn_torch.positional`` share: input checks, configs and key maps.

Both packages import these, so a bad input fails the same way, with the same message, in NumPy and
in PyTorch; neither model package imports the other.
"""

from __future__ import annotations

from typing import Any

from bigmodel_lib._checks import check_floating, check_min_ndim, check_positive_int, shape_str

ROPE_BASE = 10000.0  # RoFormer's and LLaMA-1/2's base; LLaMA-3 uses 500000 for longer contexts


def check_positions(where: str, x: Any, max_len: int, d_model: int) -> None:
    """``x`` must be ``(..., L, d_model)`` with ``L <= max_len`` (shared with ``nn_torch``)."""
    check_floating(where, "x", x)
    check_min_ndim(where, "x", x, 2, f"(B, L, {d_model})")
    if x.shape[-1] != d_model:
        raise ValueError(f"{where}: 'x' expected shape (B, L, {d_model}), got {shape_str(x)}")
    if x.shape[-2] > max_len:
        raise ValueError(
            f"{where}: 'x' expected a sequence length L <= max_len={max_len}, got L={x.shape[-2]} in shape "
            f"{shape_str(x)} (build the layer with a larger max_len)"
        )


def check_rotary_config(where: str, head_dim: int, base: float) -> None:
    """RoPE turns pairs of features, so ``head_dim`` must be a positive even int; ``base > 1``."""
    check_positive_int(where, "head_dim", head_dim)
    if head_dim % 2:
        raise ValueError(f"{where}: 'head_dim' must be even (RoPE rotates pairs of features), got {head_dim}")
    if isinstance(base, bool) or not isinstance(base, (int, float)) or not base > 1:
        raise ValueError(f"{where}: 'base' must be a number > 1, got {base!r}")


def check_rotary_input(where: str, x: Any, head_dim: int, positions_len: int | None = None) -> None:
    """``x (..., L, head_dim)`` floating; the positions, when given, one per row ``L``."""
    check_floating(where, "x", x)
    check_min_ndim(where, "x", x, 2, f"(..., L, {head_dim})")
    if x.shape[-1] != head_dim:
        raise ValueError(f"{where}: 'x' expected shape (..., L, {head_dim}), got {shape_str(x)}")
    if positions_len is not None and positions_len != x.shape[-2]:
        raise ValueError(f"{where}: 'positions' expected {x.shape[-2]} entries (one per row L of 'x' "
                         f"{shape_str(x)}), got {positions_len}")
