"""Megatron-style tensor parallelism (Shoeybi et al. 2019, "Megatron-LM", section 3), simulated in NumPy.

Weights use ``Linear``'s layout, ``W (out, in)``, ``y = x W^T + b``, as the course's layers store them.

**MLP** ``y = GELU(x W_1^T + b_1) W_2^T + b_2``. Split ``W_1`` by *output* rows (a column split of the
matrix ``W_1^T``): rank ``i`` computes its own ``d_ff / t`` hidden units ``h_i = GELU(x W_{1,i}^T + b_{1,i})``
-- GELU acts element by element, so no communication is needed. Split ``W_2`` by *input* columns (a row
split of ``W_2^T``): rank ``i`` computes ``h_i W_{2,i}^T``, a partial sum. One all-reduce adds the ``t``
partial sums, then ``b_2`` is added once. Forward: one all-reduce of ``(B, T, d)``; backward: one more
(the gradient of ``x`` is also a sum over ranks): Megatron's ``g`` and ``f`` operators.

**Attention**: the same pattern with whole heads. Rank ``i`` owns heads ``i h/t .. (i+1) h/t - 1``: the
rows of ``W_Q, W_K, W_V`` that produce them (a column split), runs attention on its heads alone (heads
never mix), and multiplies by the columns of ``W_O`` that read those heads (a row split). One all-reduce
adds the partial outputs. Per Transformer layer: 2 all-reduces forward, 2 backward.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU, ``x Phi(x)`` (as the course's feed-forward layers with ``approximate="none"``)."""
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def _check_divides(where: str, what: str, size: int, t: int) -> None:
    if not isinstance(t, int) or t < 1:
        raise ValueError(f"{where}: 'tp' must be an int >= 1, got {t!r}")
    if size % t:
        raise ValueError(f"{where}: {what} ({size}) must be divisible by tp={t}")


def split_mlp(state: dict[str, Any], tp: int) -> list[dict[str, np.ndarray]]:
    """The ``tp`` shards of an MLP's weights (keys ``linear1.weight (d_ff, d)``, ``linear1.bias (d_ff,)``,
    ``linear2.weight (d, d_ff)``, ``linear2.bias (d,)``): rank ``i`` gets rows of ``linear1`` and columns of
    ``linear2``; ``linear2.bias`` goes to rank 0 alone (added once, after the sum)."""
    w1, w2 = np.asarray(state["linear1.weight"]), np.asarray(state["linear2.weight"])
    _check_divides("split_mlp", "d_ff", w1.shape[0], tp)
    b1 = np.asarray(state.get("linear1.bias", np.zeros(w1.shape[0], w1.dtype)))
    b2 = np.asarray(state.get("linear2.bias", np.zeros(w2.shape[0], w2.dtype)))
    rows = np.array_split(np.arange(w1.shape[0]), tp)
    return [{"linear1.weight": w1[r], "linear1.bias": b1[r], "linear2.weight": w2[:, r],  # (d_ff/t, d), (d, d_ff/t)
             "linear2.bias": b2 if i == 0 else np.zeros_like(b2)} for i, r in enumerate(rows)]


def tensor_parallel_mlp(x: np.ndarray, shards: list[dict[str, np.ndarray]]) -> tuple[np.ndarray, list[np.ndarray]]:
    """``(y, partials)``: each rank's partial output ``GELU(x W_{1,i}^T + b_{1,i}) W_{2,i}^T (+ b_2 on rank 0)``
    and their sum ``y`` -- the all-reduce (``x (..., d)`` is replicated on every rank)."""
    partials = []
    for shard in shards:
        hidden = _gelu(x @ shard["linear1.weight"].T + shard["linear1.bias"])  # (..., d) -> (..., d_ff/t)
        partials.append(hidden @ shard["linear2.weight"].T + shard["linear2.bias"])  # (..., d_ff/t) -> (..., d)
    return np.sum(partials, axis=0), partials


def split_attention(state: dict[str, Any], num_heads: int, tp: int) -> list[dict[str, np.ndarray]]:
    """The ``tp`` shards of a multi-head attention's weights (keys ``in_proj.weight (3d, d)`` = ``[W_Q; W_K;
    W_V]``, ``in_proj.bias (3d,)``, ``out_proj.weight (d, d)``, ``out_proj.bias (d,)``): rank ``i`` gets the
    Q, K, V rows of its ``num_heads / tp`` heads and the matching columns of ``out_proj``."""
    w_in, w_out = np.asarray(state["in_proj.weight"]), np.asarray(state["out_proj.weight"])
    d = w_out.shape[0]
    _check_divides("split_attention", "num_heads", num_heads, tp)
    b_in = np.asarray(state.get("in_proj.bias", np.zeros(3 * d, w_in.dtype)))
    b_out = np.asarray(state.get("out_proj.bias", np.zeros(d, w_out.dtype)))
    cols = np.array_split(np.arange(d), tp)  # rank i's slice of the d = heads * d_head features
    shards = []
    for i, c in enumerate(cols):
        qkv_rows = np.concatenate([c, d + c, 2 * d + c])  # its rows of W_Q, of W_K and of W_V
        shards.append({"in_proj.weight": w_in[qkv_rows], "in_proj.bias": b_in[qkv_rows],  # (3d/t, d)
                       "out_proj.weight": w_out[:, c],  # (d, d/t)
                       "out_proj.bias": b_out if i == 0 else np.zeros_like(b_out),
                       "num_heads": num_heads // tp})
    return shards


def _attention_heads(x: np.ndarray, w_in: np.ndarray, b_in: np.ndarray, heads: int, causal: bool) -> np.ndarray:
    """Softmax attention of ``heads`` heads on ``x (B, T, d)``; returns the heads concatenated ``(B, T, w)``."""
    b, t, _ = x.shape
    q, k, v = np.split(x @ w_in.T + b_in, 3, axis=-1)  # (B, T, 3w) -> 3 x (B, T, w)
    dh = q.shape[-1] // heads
    q, k, v = (a.reshape(b, t, heads, dh).transpose(0, 2, 1, 3) for a in (q, k, v))  # (B, h, T, dh)
    scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(dh)  # (B, h, T, T)
    if causal:
        scores = np.where(np.tril(np.ones((t, t), dtype=bool)), scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    return (weights @ v).transpose(0, 2, 1, 3).reshape(b, t, heads * dh)  # (B, h, T, dh) -> (B, T, w)


def tensor_parallel_attention(x: np.ndarray, shards: list[dict[str, Any]], *, causal: bool = False
                              ) -> tuple[np.ndarray, list[np.ndarray]]:
    """``(y, partials)``: each rank runs attention on its own heads of ``x (B, T, d)`` and multiplies by its
    columns of ``out_proj``; ``y`` is the sum of the partial outputs (the all-reduce)."""
    partials = []
    for shard in shards:
        heads = _attention_heads(x, shard["in_proj.weight"], shard["in_proj.bias"], shard["num_heads"], causal)
        partials.append(heads @ shard["out_proj.weight"].T + shard["out_proj.bias"])  # (B, T, d/t) -> (B, T, d)
    return np.sum(partials, axis=0), partials
