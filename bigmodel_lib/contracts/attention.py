"""What ``nn_numpy.attention`` and ``nn_torch.attention`` share: input checks, configs and key maps.

Both packages import these, so a bad input fails the same way, with the same message, in NumPy and
in PyTorch; neither model package imports the other.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bigmodel_lib._checks import (
    check_features,
    check_floating,
    check_ndim,
    shape_str,
)


def _is_bool(x: Any) -> bool:
    return str(x.dtype).replace("torch.", "") == "bool"

def _shape_tuple_str(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"

def check_mask(where: str, mask: Any, target: tuple[int, ...], layout: str) -> None:
    """``mask`` must be bool and broadcast to ``target`` (``layout`` names its axes in the message)."""
    if not _is_bool(mask):
        raise TypeError(
            f"{where}: 'mask' must have dtype bool (True = may attend), got {mask.dtype}; "
            "convert with mask != 0 (torch's key_padding_mask is the opposite: pass ~key_padding_mask)"
        )
    try:
        fits = mask.ndim <= len(target) and np.broadcast_shapes(tuple(mask.shape), target) == target
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{where}: 'mask' expected a shape broadcastable to {layout} = {_shape_tuple_str(target)}, "
            f"got {shape_str(mask)}"
        )

def check_causal(where: str, causal: Any) -> None:
    """``causal`` must be a real bool: ``causal=1`` or a tensor would silently mean something else."""
    if not isinstance(causal, bool):
        raise TypeError(f"{where}: 'causal' must be a bool (True or False), got {causal!r} ({type(causal).__name__})")


def check_attention_inputs(
    where: str, q: Any, k: Any, v: Any, mask: Any = None, names: tuple[str, str, str] = ("q", "k", "v")
) -> tuple[int, ...]:
    """Check ``q (..., Lq, d)``, ``k (..., Lk, d)``, ``v (..., Lk, dv)`` and a bool ``mask``.

    Works on NumPy arrays and torch tensors alike. Returns the broadcast batch shape ``(...)``.
    """
    qn, kn, vn = names
    for name, x, layout in ((qn, q, "(..., Lq, d)"), (kn, k, "(..., Lk, d)"), (vn, v, "(..., Lk, dv)")):
        check_floating(where, name, x)
        if x.ndim < 2:
            raise ValueError(f"{where}: '{name}' expected shape {layout} (at least 2 dims), got {shape_str(x)}")
    for name, x in ((kn, k), (vn, v)):
        if x.dtype != q.dtype:
            raise TypeError(f"{where}: '{name}' expected the dtype of '{qn}' ({q.dtype}), got {x.dtype}")
    d, lk = q.shape[-1], k.shape[-2]
    if k.shape[-1] != d:
        raise ValueError(
            f"{where}: '{kn}' expected shape (..., Lk, {d}) (the feature size of '{qn}' {shape_str(q)}), "
            f"got {shape_str(k)}"
        )
    if v.shape[-2] != lk:
        raise ValueError(
            f"{where}: '{vn}' expected shape (..., {lk}, dv) (one row per key of '{kn}' {shape_str(k)}), "
            f"got {shape_str(v)}"
        )
    try:
        batch = np.broadcast_shapes(tuple(q.shape[:-2]), tuple(k.shape[:-2]), tuple(v.shape[:-2]))
    except ValueError:
        raise ValueError(
            f"{where}: the leading (batch) dims of '{qn}' {shape_str(q)}, '{kn}' {shape_str(k)} and "
            f"'{vn}' {shape_str(v)} expected to broadcast together, but they do not"
        ) from None
    if mask is not None:
        check_mask(where, mask, tuple(batch) + (q.shape[-2], lk), "(..., Lq, Lk)")
    return tuple(batch)

def _check_same_batch(where: str, query: Any, keys: Any, values: Any) -> None:
    """The batch sizes of ``query``, ``keys``, ``values`` (all ``(B, L, .)``) must be equal."""
    b = query.shape[0]
    for name, x in (("keys", keys), ("values", values)):
        if x.shape[0] != b:
            raise ValueError(
                f"{where}: '{name}' expected batch size {b} (that of 'query' {shape_str(query)}), got {shape_str(x)}"
            )

def check_additive_inputs(where: str, query_dim: int, key_dim: int, query: Any, keys: Any, values: Any) -> None:
    """Shapes of ``query (B, Lq, query_dim)``, ``keys (B, Lk, key_dim)``, ``values (B, Lk, dv)``.

    Works on NumPy arrays and torch tensors (``nn_torch.AdditiveAttention`` uses it too).
    """
    for name, x, layout in (
        ("query", query, f"(B, Lq, {query_dim})"),
        ("keys", keys, f"(B, Lk, {key_dim})"),
        ("values", values, "(B, Lk, dv)"),
    ):
        check_ndim(where, name, x, 3, layout)
    check_features(where, "query", query, query_dim)
    check_features(where, "keys", keys, key_dim)
    check_floating(where, "values", values)
    _check_same_batch(where, query, keys, values)
    if values.shape[1] != keys.shape[1]:
        raise ValueError(
            f"{where}: 'values' expected shape ({keys.shape[0]}, {keys.shape[1]}, dv) (one row per key of "
            f"'keys' {shape_str(keys)}), got {shape_str(values)}"
        )
