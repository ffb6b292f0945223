"""Attention in PyTorch: the fused kernel when weights are not needed, the formula when they are.

``scaled_dot_product_attention`` has the contract of ``nn_numpy.scaled_dot_product_attention``:
``softmax(Q K^T / sqrt(d) + M) V`` with a bool mask (``True`` = may attend), ``causal`` (top-left
aligned), and zeros -- never NaN -- for a query with no allowed key.

* ``need_weights=False``: ``torch.nn.functional.scaled_dot_product_attention`` (flash /
  memory-efficient kernels on a GPU, a fused kernel on the CPU). Not every backend returns 0 for
  a fully masked row (some give NaN), so such rows are let attend to every key -- finite -- and
  their output is then multiplied by 0; that costs one ``any`` over the mask and one multiply.
* ``need_weights=True``: the explicit formula. float16/bfloat16 scores and softmax are computed
  in float32 and cast back, so large logits cannot overflow.

Autograd gives every backward pass; ``nn_numpy.attention`` writes them out.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from bigmodel_lib._checks import (
    check_floating,
    check_ndim,
    check_positive_int,
    check_probability,
    check_tensor,
)
from bigmodel_lib.contracts.attention import (
    _check_same_batch,
    check_additive_inputs,
    check_attention_inputs,
    check_causal,
    check_mask,
)
from bigmodel_lib.nn_torch.linear import Linear
from bigmodel_lib.nn_torch.module import Module

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def causal_mask(lq: int, lk: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``(Lq, Lk)`` bool, ``True`` where key ``j <= i`` (top-left aligned, as ``is_causal``)."""
    return torch.ones(lq, lk, dtype=torch.bool, device=device).tril()


def allowed_keys(
    mask: torch.Tensor | None, causal: bool, lq: int, lk: int, device: torch.device
) -> torch.Tensor | None:
    """The combined bool mask ``mask AND causal`` (``None`` when every key is allowed), at least 2-dim.

    (``F.scaled_dot_product_attention`` wants ``attn_mask`` with a query axis: ``(Lk,)`` -> ``(1, Lk)``.)
    """
    if mask is not None and mask.ndim < 2:
        mask = mask.view((1,) * (2 - mask.ndim) + tuple(mask.shape))  # () or (Lk,) -> (1, 1) or (1, Lk)
    if not causal:
        return mask
    tril = causal_mask(lq, lk, device)
    return tril if mask is None else mask & tril


def _masked_softmax(scores: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    """Softmax over the last dim, allowed entries only; in float32 for float16/bfloat16 scores."""
    compute = torch.float32 if scores.dtype in _LOW_PRECISION else scores.dtype
    if allowed is None:
        return torch.softmax(scores, dim=-1, dtype=compute).to(scores.dtype)
    has_key = allowed.any(dim=-1, keepdim=True)  # (..., Lq, 1): False for a row with nothing allowed
    # Such a row keeps all its scores (finite softmax, no NaN in forward or backward), then gets 0.
    scores = scores.masked_fill(has_key & ~allowed, float("-inf"))
    weights = torch.softmax(scores, dim=-1, dtype=compute) * has_key
    return weights.to(scores.dtype)


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``softmax`` over the last dim restricted to ``mask`` (bool, ``True`` = keep); all-masked rows are 0."""
    check_tensor("masked_softmax", "scores", scores)
    check_floating("masked_softmax", "scores", scores)
    if mask is not None:
        check_tensor("masked_softmax", "mask", mask)
        check_mask("masked_softmax", mask, tuple(scores.shape), "the shape of 'scores'")
    return _masked_softmax(scores, mask)


def _fused(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None, *,
           dropout_p: float, is_causal: bool, scale: float | None) -> torch.Tensor:
    """``F.scaled_dot_product_attention``, with 3-D inputs given a heads axis of 1.

    On the CPU, PyTorch runs its fused (flash) kernel only for 4-D ``(B, h, L, d)`` inputs; 3-D ones
    fall back to the unfused math kernel, which builds the whole ``L x L`` matrix.
    """
    if q.ndim == 3 and k.ndim == 3 and v.ndim == 3 and (attn_mask is None or attn_mask.ndim <= 3):
        if attn_mask is not None and attn_mask.ndim == 3:
            attn_mask = attn_mask.unsqueeze(1)  # (B, Lq, Lk) -> (B, 1, Lq, Lk)
        q, k, v = q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1)  # (B, L, d) -> (B, 1, L, d)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal,
                                             scale=scale)
        return out.squeeze(1)  # (B, 1, Lq, dv) -> (B, Lq, dv)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal,
                                          scale=scale)


def _attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    causal: bool,
    need_weights: bool,
    dropout_p: float,
    scale: float | None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The attention itself, inputs already checked (``MultiHeadAttention`` calls this directly)."""
    check_causal("attention", causal)
    lq, lk = q.shape[-2], k.shape[-2]
    if not need_weights:
        if mask is None:  # causal alone never empties a row (query i always sees key 0)
            return _fused(q, k, v, None, dropout_p=dropout_p, is_causal=causal, scale=scale)
        allowed = allowed_keys(mask, causal, lq, lk, q.device)
        has_key = allowed.any(dim=-1, keepdim=True)  # (..., Lq, 1)
        out = _fused(q, k, v, allowed | ~has_key, dropout_p=dropout_p, is_causal=False, scale=scale)
        return out * has_key  # rows with no allowed key -> 0

    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    compute = torch.float32 if q.dtype in _LOW_PRECISION else q.dtype
    scores = (q.to(compute) * scale) @ k.to(compute).transpose(-2, -1)  # (..., Lq, d) @ (..., d, Lk) -> (..., Lq, Lk)
    weights = _masked_softmax(scores, allowed_keys(mask, causal, lq, lk, q.device)).to(q.dtype)
    if dropout_p > 0:
        weights = F.dropout(weights, p=dropout_p)
    return weights @ v, weights  # (..., Lq, Lk) @ (..., Lk, dv) -> (..., Lq, dv)


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    causal: bool = False,
    need_weights: bool = False,
    dropout_p: float = 0.0,
    scale: float | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """``softmax(Q K^T / sqrt(d) + M) V``; the same contract as ``nn_numpy.scaled_dot_product_attention``.

    ``q (..., Lq, d)``, ``k (..., Lk, d)``, ``v (..., Lk, dv)``; ``mask``: bool broadcastable to
    ``(..., Lq, Lk)``, ``True`` = may attend; ``causal``: query ``i`` sees keys ``j <= i``.
    ``scale`` defaults to ``1/sqrt(d)``; ``dropout_p`` is always applied (pass 0 to evaluate).
    Returns ``out``, or ``(out, weights)`` with ``need_weights`` (the explicit, slower path).
    """
    where = "scaled_dot_product_attention"
    for name, x in (("q", q), ("k", k), ("v", v)):
        check_tensor(where, name, x)
    if mask is not None:
        check_tensor(where, "mask", mask)
    check_attention_inputs(where, q, k, v, mask)
    check_probability(where, "dropout_p", dropout_p)
    return _attend(q, k, v, mask, causal, need_weights, dropout_p, scale)


class ScaledDotProductAttention(Module):
    """:func:`scaled_dot_product_attention` as a module; ``dropout`` on the weights in ``train()`` only."""

    def __init__(self, dropout: float = 0.0) -> None:
        super().__init__()
        check_probability(type(self).__name__, "dropout", dropout)
        self.dropout = float(dropout)

    def forward(
        self,
        q: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        mask: torch.Tensor | None = None,
        *,
        causal: bool = False,
        need_weights: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        where = type(self).__name__
        for name, x in (("q", q), ("k", k), ("v", v)):
            check_tensor(where, name, x)
        if mask is not None:
            check_tensor(where, "mask", mask)
        check_attention_inputs(where, q, k, v, mask)
        dropout_p = self.dropout if self.training else 0.0
        return _attend(q, k, v, mask, causal, need_weights, dropout_p, None)

    def extra_repr(self) -> str:
        return f"dropout={self.dropout}"


class DotProductAttention(ScaledDotProductAttention):
    """Dot-product scoring ``q . k / sqrt(d)`` (``scaled=False``: ``q . k``) on ``(B, L, d)`` inputs."""

    def __init__(self, scaled: bool = True, dropout: float = 0.0) -> None:
        super().__init__(dropout)
        self.scaled = bool(scaled)

    def forward(  # type: ignore[override]
        self,
        query: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        mask: torch.Tensor | None = None,
        *,
        need_weights: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        where = type(self).__name__
        names = ("query", "keys", "values")
        for name, x, layout in zip(names, (query, keys, values), ("(B, Lq, d)", "(B, Lk, d)", "(B, Lk, dv)")):
            check_tensor(where, name, x)
            check_ndim(where, name, x, 3, layout)
        if mask is not None:
            check_tensor(where, "mask", mask)
        _check_same_batch(where, query, keys, values)
        check_attention_inputs(where, query, keys, values, mask, names=names)
        dropout_p = self.dropout if self.training else 0.0
        scale = None if self.scaled else 1.0
        return _attend(query, keys, values, mask, False, need_weights, dropout_p, scale)

    def extra_repr(self) -> str:
        return f"scaled={self.scaled}, dropout={self.dropout}"


class AdditiveAttention(Module):
    """Bahdanau additive attention ``a(s_i, h_j) = w_v^T tanh(W_q s_i + W_k h_j)``.

    Keys ``W_q.weight (hidden, query_dim)``, ``W_k.weight (hidden, key_dim)``, ``w_v.weight (1, hidden)``
    -- the same as ``nn_numpy.AdditiveAttention``.
    """

    def __init__(
        self,
        query_dim: int,
        key_dim: int,
        hidden_dim: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("query_dim", query_dim), ("key_dim", key_dim), ("hidden_dim", hidden_dim)):
            check_positive_int("AdditiveAttention", name, value)
        self.query_dim, self.key_dim, self.hidden_dim = query_dim, key_dim, hidden_dim
        self.W_q = Linear(query_dim, hidden_dim, bias=False, device=device, dtype=dtype)
        self.W_k = Linear(key_dim, hidden_dim, bias=False, device=device, dtype=dtype)
        self.w_v = Linear(hidden_dim, 1, bias=False, device=device, dtype=dtype)

    def forward(
        self,
        query: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        mask: torch.Tensor | None = None,
        *,
        need_weights: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        where = "AdditiveAttention"
        for name, x in (("query", query), ("keys", keys), ("values", values)):
            check_tensor(where, name, x)
        check_additive_inputs(where, self.query_dim, self.key_dim, query, keys, values)
        if mask is not None:
            check_tensor(where, "mask", mask)
            check_mask(where, mask, (query.shape[0], query.shape[1], keys.shape[1]), "(B, Lq, Lk)")
        q_hidden = self.W_q(query).unsqueeze(2)  # (B, Lq, query_dim) -> (B, Lq, 1, hidden)
        k_hidden = self.W_k(keys).unsqueeze(1)  # (B, Lk, key_dim) -> (B, 1, Lk, hidden)
        features = torch.tanh(q_hidden + k_hidden)  # -> (B, Lq, Lk, hidden)
        scores = features @ self.w_v.weight[0]  # (B, Lq, Lk, hidden) @ (hidden,) -> (B, Lq, Lk)
        weights = _masked_softmax(scores, mask)
        out = weights @ values  # (B, Lq, Lk) @ (B, Lk, dv) -> (B, Lq, dv)
        return (out, weights) if need_weights else out

    def extra_repr(self) -> str:
        return f"query_dim={self.query_dim}, key_dim={self.key_dim}, hidden_dim={self.hidden_dim}"
