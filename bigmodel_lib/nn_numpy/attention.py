"""Attention: similarity -> softmax -> weighted sum, with every backward pass written out.

Scaled dot-product attention (Vaswani et al., 2017)::

    S = Q K^T / sqrt(d)          scores, (..., Lq, Lk)
    P = softmax(S + M)           M = 0 where a key may be attended, -inf where it may not
    O = P V                      (..., Lq, dv)

A mask is a **bool** array broadcastable to ``(..., Lq, Lk)``, ``True`` = may attend (the
convention of ``torch.nn.functional.scaled_dot_product_attention``). ``causal=True`` lets query
``i`` see keys ``j <= i`` (top-left aligned when ``Lq != Lk``, as torch's ``is_causal``). A query
row with no allowed key gets weights 0 and output 0 -- never NaN.

Backward, with ``G = dL/dO``::

    dV = P^T G       dP = G V^T       dS = P * (dP - sum_j dP * P)       dQ = dS K / sqrt(d)
    dK = dS^T Q / sqrt(d)

Also here: :class:`DotProductAttention` (optionally unscaled) and Bahdanau's
:class:`AdditiveAttention`, ``a(s, h) = v^T tanh(W_q s + W_k h)``.

The input checks (:func:`check_attention_inputs`) only look at shapes and dtypes, so
``nn_torch.attention`` uses them too and both packages fail with the same messages.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bigmodel_lib._checks import (
    check_array,
    check_floating,
    check_ndim,
    check_positive_int,
    check_probability,
    shape_str,
)
from bigmodel_lib.contracts.attention import (
    _check_same_batch,
    _shape_tuple_str,
    check_additive_inputs,
    check_attention_inputs,
    check_causal,  # noqa: F401 -- re-exported: the contracts both packages keep
    check_mask,
)
from bigmodel_lib.nn_numpy.functional import check_grad_out, require_cache, softmax_backward
from bigmodel_lib.nn_numpy.linear import Linear
from bigmodel_lib.nn_numpy.module import Module
from bigmodel_lib.utils import get_numpy_rng

# -- input checks shared with nn_torch --------------------------------------------------------------


# -- the math ---------------------------------------------------------------------------------------


def causal_mask(lq: int, lk: int) -> np.ndarray:
    """``(Lq, Lk)`` bool, ``True`` where key ``j <= i`` (top-left aligned, as torch's ``is_causal``)."""
    return np.tril(np.ones((lq, lk), dtype=bool))


def allowed_keys(mask: np.ndarray | None, causal: bool, lq: int, lk: int) -> np.ndarray | None:
    """The combined bool mask ``mask AND causal`` (``None`` when every key is allowed)."""
    check_causal("attention", causal)
    if not causal:
        return mask
    tril = causal_mask(lq, lk)
    return tril if mask is None else mask & tril


def _masked_exp_(scores: np.ndarray, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Softmax's numerator and denominator **in place**: ``e = exp(s - max s)`` (0 where masked), ``sum e``.

    A row with no allowed key gets ``e = 0`` and a denominator of 1, so its weights stay 0.
    """
    if allowed is not None:
        np.copyto(scores, -np.inf, where=~allowed)  # masked scores -> -inf, so exp() gives exactly 0
    row_max = scores.max(axis=-1, keepdims=True, initial=-np.inf)  # (..., Lq, 1)
    np.copyto(row_max, 0.0, where=row_max == -np.inf)  # a row with no allowed key: avoid -inf - -inf
    scores -= row_max  # the largest logit becomes 0: exp never overflows, even for logits like 1e4
    np.exp(scores, out=scores)
    total = scores.sum(axis=-1, keepdims=True)  # (..., Lq, 1); 0 only for a row with no allowed key
    np.copyto(total, 1.0, where=total == 0)
    return scores, total


def _masked_softmax_(scores: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """Softmax over the last axis **in place**, over allowed entries only (the others get 0)."""
    e, total = _masked_exp_(scores, allowed)
    e *= np.reciprocal(total)
    return e


def masked_softmax(scores: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """``softmax`` over the last axis restricted to ``mask`` (bool, ``True`` = keep).

    ``p_j = exp(s_j) / sum_{k allowed} exp(s_k)`` for allowed ``j``, ``p_j = 0`` otherwise; a row
    with nothing allowed is all zeros. Its backward is :func:`softmax_backward` unchanged (masked
    entries have ``p = 0``, so they get no gradient).
    """
    check_array("masked_softmax", "scores", scores)
    check_floating("masked_softmax", "scores", scores)
    if mask is not None:
        check_array("masked_softmax", "mask", mask)
        check_mask("masked_softmax", mask, tuple(scores.shape), "the shape of 'scores'")
    return _masked_softmax_(scores.copy(), mask)


def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched, back to ``shape``."""
    if grad.shape == shape:
        return grad
    grad = grad.sum(axis=tuple(range(grad.ndim - len(shape))))
    stretched = tuple(i for i, s in enumerate(shape) if s == 1 and grad.shape[i] != 1)
    return grad.sum(axis=stretched, keepdims=True) if stretched else grad


def _dropout_scale(shape: tuple[int, ...], p: float, dtype: Any, rng: np.random.Generator | None) -> np.ndarray:
    """Inverted dropout's multiplier: ``keep / (1 - p)`` with ``keep ~ Bernoulli(1 - p)``."""
    rng = rng if rng is not None else get_numpy_rng()
    keep = rng.random(shape, dtype=np.float32) >= p
    return keep.astype(dtype) * np.asarray(1.0 / (1.0 - p), dtype=dtype)


def _scores(q: np.ndarray, k: np.ndarray, scale: float) -> np.ndarray:
    """``scale Q K^T``, scaling Q (Lq x d numbers) rather than the scores (Lq x Lk)."""
    q_scaled = q * np.asarray(scale, dtype=q.dtype)  # a 0-dim array keeps float32 float32
    return q_scaled @ np.swapaxes(k, -1, -2)  # (..., Lq, d) @ (..., d, Lk) -> (..., Lq, Lk)


def _attend(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    allowed: np.ndarray | None,
    scale: float,
    drop: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``O = dropout(softmax(scale Q K^T, allowed)) V``; returns ``(O, P, P_applied)``."""
    weights = _masked_softmax_(_scores(q, k, scale), allowed)
    applied = weights if drop is None else weights * drop
    out = applied @ v  # (..., Lq, Lk) @ (..., Lk, dv) -> (..., Lq, dv)
    return out, weights, applied


def _attend_backward(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    weights: np.ndarray,
    drop: np.ndarray | None,
    scale: float,
    grad_out: np.ndarray,
    grad_weights: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The backward of :func:`_attend` (``grad_weights``: a gradient on the returned weights)."""
    applied = weights if drop is None else weights * drop
    dv = np.swapaxes(applied, -1, -2) @ grad_out  # (..., Lk, Lq) @ (..., Lq, dv) -> (..., Lk, dv)
    d_applied = grad_out @ np.swapaxes(v, -1, -2)  # (..., Lq, dv) @ (..., dv, Lk) -> (..., Lq, Lk)
    if grad_weights is not None:
        d_applied = d_applied + grad_weights
    d_weights = d_applied if drop is None else d_applied * drop
    d_scores = softmax_backward(weights, d_weights)  # masked entries: weights 0 -> gradient 0
    d_scores *= scale
    dq = d_scores @ k  # (..., Lq, Lk) @ (..., Lk, d) -> (..., Lq, d)
    dk = np.swapaxes(d_scores, -1, -2) @ q  # (..., Lk, Lq) @ (..., Lq, d) -> (..., Lk, d)
    return _unbroadcast(dq, q.shape), _unbroadcast(dk, k.shape), _unbroadcast(dv, v.shape)


def _split_grad(grad_out: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """``backward`` takes ``g`` or, after ``need_weights=True``, ``(g, g_weights)``."""
    if isinstance(grad_out, tuple):
        if len(grad_out) != 2:
            raise ValueError(f"backward: expected grad_out or (grad_out, grad_weights), got a tuple of {len(grad_out)}")
        return grad_out[0], grad_out[1]
    return grad_out, None


def scaled_dot_product_attention(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    causal: bool = False,
    need_weights: bool = False,
    dropout_p: float = 0.0,
    scale: float | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """``softmax(Q K^T / sqrt(d) + M) V`` -- the formula, in the dtype it is given.

    ``q (..., Lq, d)``, ``k (..., Lk, d)``, ``v (..., Lk, dv)`` (leading dims broadcast);
    ``mask``: bool, broadcastable to ``(..., Lq, Lk)``, ``True`` = may attend; ``causal``: key
    ``j`` visible to query ``i`` only if ``j <= i``. ``scale`` defaults to ``1/sqrt(d)``.
    ``dropout_p`` drops attention weights (always, as torch's functional does: pass 0 to evaluate).
    Returns ``out (..., Lq, dv)``, or ``(out, weights (..., Lq, Lk))`` with ``need_weights``; with
    dropout the weights are the dropped-out ones actually applied to ``v`` (as in torch's MHA).
    A query with no allowed key gets output 0 and weights 0.
    """
    where = "scaled_dot_product_attention"
    for name, x in (("q", q), ("k", k), ("v", v)):
        check_array(where, name, x)
    if mask is not None:
        check_array(where, "mask", mask)
    check_attention_inputs(where, q, k, v, mask)
    check_probability(where, "dropout_p", dropout_p)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    allowed = allowed_keys(mask, causal, q.shape[-2], k.shape[-2])
    if not need_weights and dropout_p == 0:
        # Only the output is wanted: divide the (Lq, dv) output by the softmax's denominator instead
        # of the (Lq, Lk) weights -- one pass less over the biggest array (flash attention does the same).
        e, total = _masked_exp_(_scores(q, k, scale), allowed)
        out = e @ v  # (..., Lq, Lk) @ (..., Lk, dv) -> (..., Lq, dv)
        out *= np.reciprocal(total)
        return out
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2])
    drop = _dropout_scale(batch + (q.shape[-2], k.shape[-2]), dropout_p, q.dtype, None) if dropout_p > 0 else None
    out, _, applied = _attend(q, k, v, allowed, scale, drop)
    return (out, applied) if need_weights else out


# -- modules ----------------------------------------------------------------------------------------


class ScaledDotProductAttention(Module):
    """:func:`scaled_dot_product_attention` as a layer with a backward pass; no parameters.

    ``dropout`` (on the attention weights) is active in ``train()`` mode only; its mask is kept
    for ``backward``. ``backward(g)`` returns ``(dq, dk, dv)``; after ``need_weights=True`` it also
    accepts ``(g, g_weights)``, a gradient on the returned weights.
    """

    def __init__(self, dropout: float = 0.0, *, rng: np.random.Generator | None = None) -> None:
        check_probability(type(self).__name__, "dropout", dropout)
        self.dropout = float(dropout)
        self._rng = rng
        self._cache: tuple | None = None

    def _forward(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        allowed: np.ndarray | None,
        scale: float,
        need_weights: bool,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        drop = None
        if self.training and self.dropout > 0:
            batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2])
            drop = _dropout_scale(batch + (q.shape[-2], k.shape[-2]), self.dropout, q.dtype, self._rng)
        out, weights, applied = _attend(q, k, v, allowed, scale, drop)
        self._cache = (q, k, v, weights, drop, scale, out.shape, applied.shape)
        return (out, applied) if need_weights else out

    def forward(
        self,
        q: np.ndarray,
        k: np.ndarray,
        v: np.ndarray,
        mask: np.ndarray | None = None,
        *,
        causal: bool = False,
        need_weights: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        where = type(self).__name__
        for name, x in (("q", q), ("k", k), ("v", v)):
            check_array(where, name, x)
        if mask is not None:
            check_array(where, "mask", mask)
        check_attention_inputs(where, q, k, v, mask)
        allowed = allowed_keys(mask, causal, q.shape[-2], k.shape[-2])
        return self._forward(q, k, v, allowed, 1.0 / math.sqrt(q.shape[-1]), need_weights)

    def backward(self, grad_out: np.ndarray | tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, ...]:
        q, k, v, weights, drop, scale, out_shape, weights_shape = require_cache(self, self._cache)
        g, g_weights = _split_grad(grad_out)
        check_grad_out(type(self).__name__, g, out_shape)
        if g_weights is not None:
            check_array(type(self).__name__, "grad_weights", g_weights)
            if g_weights.shape != weights_shape:
                raise ValueError(
                    f"{type(self).__name__}.backward: 'grad_weights' expected the weights' shape "
                    f"{_shape_tuple_str(weights_shape)}, got {shape_str(g_weights)}"
                )
        return _attend_backward(q, k, v, weights, drop, scale, g, g_weights)

    def extra_repr(self) -> str:
        return f"dropout={self.dropout}"


class DotProductAttention(ScaledDotProductAttention):
    """Dot-product scoring ``a(q, k) = q . k / sqrt(d)`` (``scaled=False``: ``q . k``), as a layer.

    ``forward(query (B, Lq, d), keys (B, Lk, d), values (B, Lk, dv), mask=None)`` with a bool
    mask broadcastable to ``(B, Lq, Lk)`` (e.g. key padding ``(B, 1, Lk)``). Without the scale,
    the scores' variance grows like ``d`` and the softmax saturates -- the reason for ``1/sqrt(d)``.
    """

    def __init__(self, scaled: bool = True, dropout: float = 0.0, *, rng: np.random.Generator | None = None) -> None:
        super().__init__(dropout, rng=rng)
        self.scaled = bool(scaled)

    def forward(  # type: ignore[override]
        self,
        query: np.ndarray,
        keys: np.ndarray,
        values: np.ndarray,
        mask: np.ndarray | None = None,
        *,
        need_weights: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        where = type(self).__name__
        names = ("query", "keys", "values")
        for name, x, layout in zip(names, (query, keys, values), ("(B, Lq, d)", "(B, Lk, d)", "(B, Lk, dv)")):
            check_array(where, name, x)
            check_ndim(where, name, x, 3, layout)
        if mask is not None:
            check_array(where, "mask", mask)
        _check_same_batch(where, query, keys, values)
        check_attention_inputs(where, query, keys, values, mask, names=names)
        scale = 1.0 / math.sqrt(query.shape[-1]) if self.scaled else 1.0
        return self._forward(query, keys, values, mask, scale, need_weights)

    def extra_repr(self) -> str:
        return f"scaled={self.scaled}, dropout={self.dropout}"


class AdditiveAttention(Module):
    """Bahdanau et al. (2015) additive attention: ``a(s_i, h_j) = w_v^T tanh(W_q s_i + W_k h_j)``.

    ``forward(query (B, Lq, query_dim), keys (B, Lk, key_dim), values (B, Lk, dv), mask=None)``;
    weights ``= masked softmax_j a(s_i, h_j)``, output ``= weights @ values``. Queries and keys
    may have different sizes: each is projected to ``hidden_dim`` first. Parameters (state_dict
    keys, the same in ``nn_torch``): ``W_q.weight (hidden, query_dim)``, ``W_k.weight (hidden,
    key_dim)``, ``w_v.weight (1, hidden)`` -- no biases, as in the paper.

    Backward, with ``F = tanh(W_q s_i + W_k h_j)`` and ``dA = dL/da`` (through the softmax)::

        dw_v = sum_{b,i,j} dA_ij F_ij       dZ = dA_ij w_v (1 - F_ij^2)
        d(W_q s_i) = sum_j dZ_ij            d(W_k h_j) = sum_i dZ_ij
    """

    def __init__(
        self,
        query_dim: int,
        key_dim: int,
        hidden_dim: int,
        *,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        for name, value in (("query_dim", query_dim), ("key_dim", key_dim), ("hidden_dim", hidden_dim)):
            check_positive_int("AdditiveAttention", name, value)
        self.query_dim, self.key_dim, self.hidden_dim = query_dim, key_dim, hidden_dim
        self.W_q = Linear(query_dim, hidden_dim, bias=False, dtype=dtype, rng=rng)
        self.W_k = Linear(key_dim, hidden_dim, bias=False, dtype=dtype, rng=rng)
        self.w_v = Linear(hidden_dim, 1, bias=False, dtype=dtype, rng=rng)
        self._cache: tuple | None = None

    def forward(
        self,
        query: np.ndarray,
        keys: np.ndarray,
        values: np.ndarray,
        mask: np.ndarray | None = None,
        *,
        need_weights: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        where = "AdditiveAttention"
        for name, x in (("query", query), ("keys", keys), ("values", values)):
            check_array(where, name, x)
        check_additive_inputs(where, self.query_dim, self.key_dim, query, keys, values)
        b, lq, lk = query.shape[0], query.shape[1], keys.shape[1]
        if mask is not None:
            check_array(where, "mask", mask)
            check_mask(where, mask, (b, lq, lk), "(B, Lq, Lk)")
        q_hidden = self.W_q(query)  # (B, Lq, query_dim) -> (B, Lq, hidden)
        k_hidden = self.W_k(keys)  # (B, Lk, key_dim) -> (B, Lk, hidden)
        features = np.tanh(q_hidden[:, :, None, :] + k_hidden[:, None, :, :])  # -> (B, Lq, Lk, hidden)
        scores = features @ self.w_v.weight.data[0]  # (B, Lq, Lk, hidden) @ (hidden,) -> (B, Lq, Lk)
        weights = _masked_softmax_(scores, mask)
        out = weights @ values  # (B, Lq, Lk) @ (B, Lk, dv) -> (B, Lq, dv)
        self._cache = (features, weights, values, out.shape)
        return (out, weights) if need_weights else out

    def backward(self, grad_out: np.ndarray | tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, ...]:
        features, weights, values, out_shape = require_cache(self, self._cache)
        g, g_weights = _split_grad(grad_out)
        check_grad_out("AdditiveAttention", g, out_shape)
        d_values = np.swapaxes(weights, 1, 2) @ g  # (B, Lk, Lq) @ (B, Lq, dv) -> (B, Lk, dv)
        d_weights = g @ np.swapaxes(values, 1, 2)  # (B, Lq, dv) @ (B, dv, Lk) -> (B, Lq, Lk)
        if g_weights is not None:
            check_grad_out("AdditiveAttention", g_weights, weights.shape)
            d_weights = d_weights + g_weights
        d_scores = softmax_backward(weights, d_weights)  # (B, Lq, Lk)
        w_v = self.w_v.weight.data[0]  # (1, hidden) -> (hidden,)
        flat_d_scores = d_scores.reshape(-1)  # (B, Lq, Lk) -> (B*Lq*Lk,)
        flat_features = features.reshape(-1, self.hidden_dim)  # (B, Lq, Lk, hidden) -> (B*Lq*Lk, hidden)
        self.w_v.weight.grad[0] += flat_d_scores @ flat_features  # sum_{b,i,j} dA_ij F_ij -> (hidden,)
        d_pre = (d_scores[..., None] * w_v) * (1 - features * features)  # (B, Lq, Lk, hidden): through tanh
        d_query = self.W_q.backward(d_pre.sum(axis=2))  # (B, Lq, hidden) -> (B, Lq, query_dim)
        d_keys = self.W_k.backward(d_pre.sum(axis=1))  # (B, Lk, hidden) -> (B, Lk, key_dim)
        return d_query, d_keys, d_values

    def extra_repr(self) -> str:
        return f"query_dim={self.query_dim}, key_dim={self.key_dim}, hidden_dim={self.hidden_dim}"
