"""Attention for long contexts: a sliding-window mask, and linear attention with its backward pass.

**Sliding window.** Query ``i`` may attend to keys ``i - window + 1 .. i``: causal, and at most
``window`` keys, its own position included (``window=1``: a token sees only itself). This is the
causal, one-sided form of Longformer's local window (Beltagy et al. 2020, section 3.1, where ``w``
tokens surround a position on both sides) and the window of Mistral 7B (Jiang et al. 2023, section 2:
"position i ... attends to all hidden states from the previous layer with positions between i - W and
i"; read as a window of ``W`` tokens ending at ``i``). The mask works with
:func:`~bigmodel_lib.nn_numpy.attention.scaled_dot_product_attention` (``mask=``). Stacked, ``n`` such
layers let position ``i`` depend on positions back to ``i - n (window - 1)``.

**Linear attention** (Katharopoulos et al. 2020, "Transformers are RNNs": section 3.2 linearized attention,
3.3 causal masking, 3.4 the RNN view).
Replace ``exp(q . k)`` by ``phi(q) . phi(k)`` with a positive feature map ``phi(x) = elu(x) + 1``::

    non-causal:  out_i = phi(q_i)^T S / (phi(q_i)^T z + eps),     S = sum_j phi(k_j) v_j^T   (d, dv)
                                                                  z = sum_j phi(k_j)          (d,)
    causal:      the same with prefix sums S_i = sum_{j<=i} phi(k_j) v_j^T,  z_i = sum_{j<=i} phi(k_j)

The cost is ``O(L d dv)`` instead of ``O(L^2 d)``; the causal form keeps every prefix state
``(L, d, dv)`` for the backward (a recurrent form keeps only the last one while generating). No
``1/sqrt(d)`` scale (the paper has none). Backward, with ``G = dL/d out``, ``D_i = phi(q_i)^T z_i + eps``::

    dnum_i = G_i / D_i            dD_i = -(G_i . out_i) / D_i
    dphi(q_i) = S_i dnum_i + z_i dD_i
    R_j = sum_{i>=j} phi(q_i) dnum_i^T,   r_j = sum_{i>=j} phi(q_i) dD_i       (reverse prefix sums;
    dphi(k_j) = R_j v_j + r_j,            dv_j = R_j^T phi(k_j)                  all i when non-causal)
    dq = dphi(q) * phi'(q)                phi'(x) = 1 if x > 0 else exp(x)      (elu + 1)
"""

from __future__ import annotations

import numpy as np

from bigmodel_lib._checks import check_array
from bigmodel_lib.contracts.long_context import (
    FEATURE_MAPS,
    check_linear_attention_inputs,
    check_linear_settings,
    check_mask_lengths,
    check_window,
)
from bigmodel_lib.nn_numpy.attention import _unbroadcast
from bigmodel_lib.nn_numpy.functional import check_grad_out, require_cache
from bigmodel_lib.nn_numpy.module import Module

__all__ = ["FEATURE_MAPS", "LinearAttention", "linear_attention", "sliding_window_mask"]


def sliding_window_mask(lq: int, lk: int, window: int) -> np.ndarray:
    """``(Lq, Lk)`` bool, ``True`` where query ``i`` may see key ``j``: ``i - window < j <= i``.

    Causal (top-left aligned, as :func:`~bigmodel_lib.nn_numpy.attention.causal_mask`) and at most
    ``window`` keys per query, the query's own position included. ``window >= Lk`` gives the causal mask.
    """
    where = "sliding_window_mask"
    check_mask_lengths(where, lq, lk)
    check_window(where, window)
    offset = np.arange(lq)[:, None] - np.arange(lk)[None, :]  # (Lq, 1) - (1, Lk) -> (Lq, Lk): i - j
    return (offset >= 0) & (offset < window)


def _feature_map(x: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``phi(x)`` and its derivative ``phi'(x)``, element by element."""
    positive = x > 0
    if name == "elu+1":
        exp_part = np.exp(np.minimum(x, 0))  # exp of the negative part only: never overflows
        return np.where(positive, x + 1, exp_part), np.where(positive, 1, exp_part).astype(x.dtype)
    return np.where(positive, x, 0).astype(x.dtype), positive.astype(x.dtype)  # relu


def _states(phi_k: np.ndarray, v: np.ndarray, causal: bool) -> tuple[np.ndarray, np.ndarray]:
    """``S`` and ``z``: sums over keys (prefix sums when causal) of ``phi(k_j) v_j^T`` and ``phi(k_j)``."""
    if causal:
        outer = phi_k[..., :, :, None] * v[..., :, None, :]  # (..., L, d, 1) * (..., L, 1, dv) -> (..., L, d, dv)
        return np.cumsum(outer, axis=-3), np.cumsum(phi_k, axis=-2)  # (..., L, d, dv), (..., L, d)
    state = np.swapaxes(phi_k, -1, -2) @ v  # (..., d, Lk) @ (..., Lk, dv) -> (..., d, dv)
    return state, phi_k.sum(axis=-2)  # (..., d, dv), (..., d)


def _linear_forward(q, k, v, causal, feature_map, eps):
    """The forward pass; returns ``out`` and what the backward needs."""
    phi_q, dphi_q = _feature_map(q, feature_map)
    phi_k, dphi_k = _feature_map(k, feature_map)
    state, norm = _states(phi_k, v, causal)
    if causal:
        numerator = (phi_q[..., :, None, :] @ state)[..., 0, :]  # (..., L, 1, d) @ (..., L, d, dv) -> (..., L, dv)
        denominator = (phi_q * norm).sum(axis=-1, keepdims=True) + eps  # (..., L, 1)
    else:
        numerator = phi_q @ state  # (..., Lq, d) @ (..., d, dv) -> (..., Lq, dv)
        denominator = phi_q @ norm[..., :, None] + eps  # (..., Lq, d) @ (..., d, 1) -> (..., Lq, 1)
    out = numerator / denominator
    return out, (phi_q, dphi_q, phi_k, dphi_k, v, state, norm, denominator, out)


def _linear_backward(cache, grad_out, causal):
    phi_q, dphi_q, phi_k, dphi_k, v, state, norm, denominator, out = cache
    d_numerator = grad_out / denominator  # (..., Lq, dv)
    d_denominator = -(grad_out * out).sum(axis=-1, keepdims=True) / denominator  # (..., Lq, 1)
    if causal:
        d_phi_q = (state @ d_numerator[..., :, :, None])[..., 0] + norm * d_denominator  # (..., L, d)
        outer = phi_q[..., :, :, None] * d_numerator[..., :, None, :]  # (..., L, d, dv): phi(q_i) dnum_i^T
        reverse = np.cumsum(outer[..., ::-1, :, :], axis=-3)[..., ::-1, :, :]  # R_j = sum_{i>=j}, (..., L, d, dv)
        reverse_norm = np.cumsum((phi_q * d_denominator)[..., ::-1, :], axis=-2)[..., ::-1, :]  # r_j, (..., L, d)
        d_phi_k = (reverse @ v[..., :, :, None])[..., 0] + reverse_norm  # (.., L, d, dv) @ (.., L, dv, 1) -> (.., L, d)
        dv = (phi_k[..., :, None, :] @ reverse)[..., 0, :]  # (..., L, 1, d) @ (..., L, d, dv) -> (..., L, dv)
    else:
        d_phi_q = d_numerator @ np.swapaxes(state, -1, -2) + d_denominator * norm[..., None, :]  # (..., Lq, d)
        reverse = np.swapaxes(phi_q, -1, -2) @ d_numerator  # (..., d, Lq) @ (..., Lq, dv) -> (..., d, dv)
        reverse_norm = (phi_q * d_denominator).sum(axis=-2)  # (..., d)
        d_phi_k = v @ np.swapaxes(reverse, -1, -2) + reverse_norm[..., None, :]  # (..., Lk, dv) @ (..., dv, d)
        dv = phi_k @ reverse  # (..., Lk, d) @ (..., d, dv) -> (..., Lk, dv)
    return d_phi_q * dphi_q, d_phi_k * dphi_k, dv


def _check(where: str, q, k, v, causal, feature_map, eps) -> None:
    for name, x in (("q", q), ("k", k), ("v", v)):
        check_array(where, name, x)
    check_linear_attention_inputs(where, q, k, v, causal=causal, feature_map=feature_map, eps=eps)


def linear_attention(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    *,
    causal: bool = False,
    feature_map: str = "elu+1",
    eps: float = 1e-6,
) -> np.ndarray:
    """``out_i = phi(q_i)^T S / (phi(q_i)^T z + eps)`` (see the module docstring), in the dtype given.

    ``q (..., Lq, d)``, ``k (..., Lk, d)``, ``v (..., Lk, dv)``, leading dims broadcast; ``causal=True``
    needs ``Lq == Lk`` and uses prefix sums, so query ``i`` sees keys ``0..i``. Returns ``(..., Lq, dv)``.
    """
    _check("linear_attention", q, k, v, causal, feature_map, eps)
    return _linear_forward(q, k, v, causal, feature_map, eps)[0]


class LinearAttention(Module):
    """:func:`linear_attention` as a layer with a backward pass; no parameters.

    ``forward(q, k, v, *, causal=False)`` caches what ``backward(grad_out)`` needs; ``backward`` returns
    ``(dq, dk, dv)``, summed back over broadcast leading dims.
    """

    def __init__(self, feature_map: str = "elu+1", eps: float = 1e-6) -> None:
        check_linear_settings(type(self).__name__, feature_map, eps)
        self.feature_map, self.eps = feature_map, eps
        self._cache: tuple | None = None

    def forward(self, q: np.ndarray, k: np.ndarray, v: np.ndarray, *, causal: bool = False) -> np.ndarray:
        _check(type(self).__name__, q, k, v, causal, self.feature_map, self.eps)
        out, saved = _linear_forward(q, k, v, causal, self.feature_map, self.eps)
        self._cache = (saved, causal, q.shape, k.shape, v.shape)
        return out

    def backward(self, grad_out: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        saved, causal, q_shape, k_shape, v_shape = require_cache(self, self._cache)
        out = saved[-1]
        check_grad_out(type(self).__name__, grad_out, out.shape)
        dq, dk, dv = _linear_backward(saved, grad_out, causal)
        return _unbroadcast(dq, q_shape), _unbroadcast(dk, k_shape), _unbroadcast(dv, v_shape)

    def extra_repr(self) -> str:
        return f"feature_map={self.feature_map!r}, eps={self.eps}"
