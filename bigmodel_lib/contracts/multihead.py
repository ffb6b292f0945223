"""What ``nn_numpy.multihead`` and ``nn_torch.multihead`` share: input checks, configs and key maps.

Both packages import these, so a bad input fails the same way, with the same message, in NumPy and
in PyTorch; neither model package imports the other.
"""

from __future__ import annotations

from typing import Any

from bigmodel_lib._checks import (
    check_features,
    check_ndim,
    check_positive_int,
    shape_str,
)
from bigmodel_lib.contracts.attention import check_mask


def check_mha_config(where: str, d_model: int, num_heads: int, num_kv_heads: int | None = None) -> int:
    """``d_model`` and ``num_heads`` positive, every head gets ``d_model / num_heads`` features, and
    ``num_kv_heads`` (``None`` = ``num_heads``) divides ``num_heads``. Returns the resolved ``num_kv_heads``.

    ``num_kv_heads < num_heads`` is grouped-query attention (Ainslie et al. 2023): each group of
    ``num_heads / num_kv_heads`` query heads shares one key head and one value head; ``1`` is multi-query
    attention (Shazeer 2019).
    """
    check_positive_int(where, "d_model", d_model)
    check_positive_int(where, "num_heads", num_heads)
    if d_model % num_heads:
        raise ValueError(
            f"{where}: 'd_model' expected a multiple of num_heads={num_heads} (each head gets d_model / "
            f"num_heads features), got d_model={d_model}"
        )
    return resolve_kv_heads(where, "num_kv_heads", num_heads, num_kv_heads)


def resolve_kv_heads(where: str, name: str, num_heads: int, num_kv_heads: int | None) -> int:
    """``num_kv_heads`` itself, ``num_heads`` for ``None``; a positive int dividing ``num_heads`` else ValueError."""
    if num_kv_heads is None:
        return num_heads
    check_positive_int(where, name, num_kv_heads)
    if num_heads % num_kv_heads:
        raise ValueError(
            f"{where}: '{name}' must divide the number of query heads {num_heads} (each key/value head serves a "
            f"group of query heads), got {name}={num_kv_heads}"
        )
    return num_kv_heads


def qkv_rows(d_model: int, kv_width: int) -> tuple[slice, slice, slice]:
    """Rows of ``in_proj.weight (d_model + 2 kv_width, d_model)`` holding ``W^Q``, ``W^K`` and ``W^V``.

    With as many key/value heads as query heads ``kv_width = d_model`` and the matrix is the classic
    ``(3 d_model, d_model)`` stack of torch's ``in_proj_weight``.
    """
    return slice(0, d_model), slice(d_model, d_model + kv_width), slice(d_model + kv_width, d_model + 2 * kv_width)

def check_mha_inputs(where: str, d_model: int, num_heads: int, query: Any, key: Any, value: Any, mask: Any) -> None:
    """Shapes of ``query (B, Lq, d_model)``, ``key``/``value (B, Lk, d_model)`` and a bool mask.

    Works on NumPy arrays and torch tensors (``nn_torch.MultiHeadAttention`` uses it too). The mask
    must have 2 dims ``(Lq, Lk)`` or 4 dims broadcastable to ``(B, heads, Lq, Lk)``: a 3-dim one
    would be ambiguous (its first axis would line up with the heads, not the batch).
    """
    check_ndim(where, "query", query, 3, f"(B, Lq, {d_model})")
    check_features(where, "query", query, d_model)
    b = query.shape[0]
    for name, x in (("key", key), ("value", value)):
        check_ndim(where, name, x, 3, f"({b}, Lk, {d_model})")
        check_features(where, name, x, d_model)
        if x.dtype != query.dtype:
            raise TypeError(f"{where}: '{name}' expected the dtype of 'query' ({query.dtype}), got {x.dtype}")
        if x.shape[0] != b:
            raise ValueError(
                f"{where}: '{name}' expected shape ({b}, Lk, {d_model}) (the batch size of 'query' "
                f"{shape_str(query)}), got {shape_str(x)}"
            )
    if tuple(value.shape) != tuple(key.shape):
        raise ValueError(f"{where}: 'value' expected the shape of 'key' {shape_str(key)}, got {shape_str(value)}")
    if mask is not None:
        target = (b, num_heads, query.shape[1], key.shape[1])
        if mask.ndim not in (2, 4):
            raise ValueError(
                f"{where}: 'mask' expected 2 dims (Lq, Lk) or 4 dims broadcastable to (B, heads, Lq, Lk) = "
                f"({', '.join(map(str, target))}) (key padding: (B, 1, 1, Lk)), got {shape_str(mask)}"
            )
        check_mask(where, mask, target, "(B, heads, Lq, Lk)")

def mha_state_from_pytorch(module: Any) -> dict[str, Any]:
    """Our ``state_dict`` keys mapped from a ``torch.nn.MultiheadAttention``'s parameters."""
    where = "MultiHeadAttention.from_pytorch"
    if not getattr(module, "_qkv_same_embed_dim", True):
        raise ValueError(
            f"{where}: expected kdim = vdim = embed_dim = {module.embed_dim}, "
            f"got kdim={module.kdim}, vdim={module.vdim}"
        )
    if getattr(module, "bias_k", None) is not None or getattr(module, "add_zero_attn", False):
        raise ValueError(f"{where}: expected add_bias_kv=False and add_zero_attn=False, got a module using them")
    state: dict[str, Any] = {"in_proj.weight": module.in_proj_weight, "out_proj.weight": module.out_proj.weight}
    if module.in_proj_bias is not None:
        if module.out_proj.bias is None:
            raise ValueError(f"{where}: expected out_proj.bias alongside in_proj_bias, got out_proj.bias=None")
        state["in_proj.bias"] = module.in_proj_bias
        state["out_proj.bias"] = module.out_proj.bias
    return state
