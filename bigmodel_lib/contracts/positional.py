"""What ``nn_numpy.positional`` and ``nn_torch.positional`` share: input checks, configs and key maps.

Both packages import these, so a bad input fails the same way, with the same message, in NumPy and
in PyTorch; neither model package imports the other.
"""

from __future__ import annotations

from typing import Any

from bigmodel_lib._checks import check_floating, check_min_ndim, shape_str


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
