"""FlashAttention's idea in NumPy: attention in tiles with the online softmax, forward and backward.

Plain attention builds the ``(Lq, Lk)`` score matrix ``S = Q K^T / sqrt(d)`` and its softmax ``P``;
their memory grows like ``L^2``. FlashAttention (Dao et al. 2022, "FlashAttention: Fast and
Memory-Efficient Exact Attention with IO-Awareness"; here in the form of FlashAttention-2, Dao 2023,
Algorithms 1 and 2) computes the **same** output block by block and never holds more than one
``(block_q, block_k)`` tile of ``S``.

Forward (FlashAttention-2, Algorithm 1), for one block of queries ``Q_i`` and every key block ``j``::

    S_ij  = Q_i K_j^T / sqrt(d)                    one tile, (block_q, block_k); masked entries -> -inf
    m_new = max(m, rowmax(S_ij))                    running row maximum
    P~_ij = exp(S_ij - m_new)                       unnormalised probabilities of this tile
    l     = exp(m - m_new) l + rowsum(P~_ij)        running row sum, rescaled to the new maximum
    acc   = exp(m - m_new) acc + P~_ij V_j          running numerator, rescaled the same way
    m     = m_new

then ``O_i = acc / l`` and the row log-sum-exp ``L_i = m + log l`` are all that is kept: ``O(L)`` numbers.
FlashAttention-1 (Dao et al. 2022, Algorithm 1) rescales the normalised output after every tile
instead; FlashAttention-2 divides once at the end -- the same result, fewer operations.

Backward (FlashAttention-2, Algorithm 2) recomputes every tile of ``P`` from ``Q``, ``K`` and the stored
``L`` instead of storing it, with ``D = rowsum(dO * O)`` (equal to ``rowsum(P * dP)``)::

    P_ij  = exp(S_ij - L_i)             dV_j += P_ij^T dO_i          dP_ij = dO_i V_j^T
    dS_ij = P_ij * (dP_ij - D_i)        dQ_i += dS_ij K_j / sqrt(d)   dK_j += dS_ij^T Q_i / sqrt(d)

Masks follow :func:`~bigmodel_lib.nn_numpy.attention.scaled_dot_product_attention`: a bool ``mask``
broadcastable to ``(..., Lq, Lk)``, ``True`` = may attend; ``causal=True`` lets query ``i`` see keys
``j <= i`` (top-left aligned when ``Lq != Lk``, as torch's ``is_causal``). A query with no allowed
key gets output 0 and gradient 0, never NaN. Everything is computed in the input dtype.

The Python loop over tiles makes this much slower than one big matrix product on a CPU: it is here to
be read and measured (memory), not to be fast. On a GPU the fused kernels behind
``torch.nn.functional.scaled_dot_product_attention`` do the same in on-chip memory.
"""

from __future__ import annotations

import math

import numpy as np

from bigmodel_lib._checks import check_array, check_positive_int
from bigmodel_lib.contracts.attention import check_attention_inputs, check_causal
from bigmodel_lib.nn_numpy.attention import _unbroadcast
from bigmodel_lib.nn_numpy.functional import check_grad_out, require_cache
from bigmodel_lib.nn_numpy.module import Module


def _check_flash_inputs(
    where: str, q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None, causal: bool,
    block_q: int, block_k: int,
) -> tuple[int, ...]:
    """The checks of ``scaled_dot_product_attention`` plus positive block sizes; returns the batch shape."""
    for name, x in (("q", q), ("k", k), ("v", v)):
        check_array(where, name, x)
    if mask is not None:
        check_array(where, "mask", mask)
    batch = check_attention_inputs(where, q, k, v, mask)
    check_causal(where, causal)
    check_positive_int(where, "block_q", block_q)
    check_positive_int(where, "block_k", block_k)
    return batch


def _as_2d_mask(mask: np.ndarray | None) -> np.ndarray | None:
    """A mask with at least a query and a key axis: ``()`` -> ``(1, 1)``, ``(Lk,)`` -> ``(1, Lk)``."""
    if mask is None or mask.ndim >= 2:
        return mask
    return mask.reshape((1,) * (2 - mask.ndim) + mask.shape)  # () or (Lk,) -> (1, 1) or (1, Lk)


def _tile_allowed(
    mask: np.ndarray | None, causal: bool, rows: slice, cols: slice
) -> np.ndarray | None:
    """The bool ``(..., rows, cols)`` tile of ``mask AND causal`` (``None``: every key allowed).

    A mask axis of size 1 (broadcast over queries or keys) is kept whole instead of sliced.
    """
    allowed = None
    if mask is not None:
        row_part = rows if mask.shape[-2] != 1 else slice(None)
        col_part = cols if mask.shape[-1] != 1 else slice(None)
        allowed = mask[..., row_part, col_part]
    if causal:
        query_index = np.arange(rows.start, rows.stop)[:, None]  # (rows, 1)
        key_index = np.arange(cols.start, cols.stop)[None, :]  # (1, cols)
        tril = key_index <= query_index  # (rows, cols): key j visible to query i when j <= i
        allowed = tril if allowed is None else allowed & tril
    return allowed


def _tile_scores(
    q_scaled: np.ndarray, k_tile: np.ndarray, allowed: np.ndarray | None
) -> np.ndarray:
    """``S_ij = (Q_i / sqrt(d)) K_j^T`` with masked entries set to ``-inf``: one ``(..., bq, bk)`` tile."""
    scores = q_scaled @ np.swapaxes(k_tile, -1, -2)  # (..., bq, d) @ (..., d, bk) -> (..., bq, bk)
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)  # masked scores -> -inf, so exp() gives exactly 0
    return scores


def _key_blocks(lk: int, block_k: int, causal: bool, last_query: int) -> range:
    """Starts of the key blocks a query block must visit: with ``causal``, none past its last query."""
    stop = min(lk, last_query + 1) if causal else lk
    return range(0, stop, block_k)


def flash_forward(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: np.ndarray | None,
    causal: bool,
    block_q: int,
    block_k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The tiled forward on checked inputs: returns ``out (..., Lq, dv)`` and the row log-sum-exp ``(..., Lq)``.

    ``lse`` is ``-inf`` for a query with no allowed key (the log of an empty sum); its output is 0.
    """
    mask = _as_2d_mask(mask)
    lq, lk, d, dv = q.shape[-2], k.shape[-2], q.shape[-1], v.shape[-1]
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    if mask is not None:
        batch = np.broadcast_shapes(batch, mask.shape[:-2])
    dtype = q.dtype
    scale = np.asarray(1.0 / math.sqrt(d), dtype=dtype)  # a 0-dim array keeps float32 float32
    out = np.zeros(batch + (lq, dv), dtype=dtype)
    lse = np.full(batch + (lq,), -np.inf, dtype=dtype)
    for i0 in range(0, lq, block_q):
        rows = slice(i0, min(i0 + block_q, lq))
        q_scaled = q[..., rows, :] * scale  # (..., bq, d)
        n_rows = rows.stop - rows.start
        row_max = np.full(batch + (n_rows, 1), -np.inf, dtype=dtype)  # m: running maximum
        row_sum = np.zeros(batch + (n_rows, 1), dtype=dtype)  # l: running sum of exp(s - m)
        acc = np.zeros(batch + (n_rows, dv), dtype=dtype)  # running sum of exp(s - m) v
        for j0 in _key_blocks(lk, block_k, causal, rows.stop - 1):
            cols = slice(j0, min(j0 + block_k, lk))
            scores = _tile_scores(q_scaled, k[..., cols, :], _tile_allowed(mask, causal, rows, cols))
            new_max = np.maximum(row_max, scores.max(axis=-1, keepdims=True))  # (..., bq, 1)
            # A row that has seen no allowed key yet keeps m = -inf; shift it by 0 to avoid -inf - -inf.
            shift = np.where(new_max == -np.inf, np.zeros((), dtype=dtype), new_max)
            probs = np.exp(scores - shift)  # P~_ij, (..., bq, bk); masked entries exactly 0
            rescale = np.exp(row_max - shift)  # exp(m_old - m_new) <= 1; 0 while m_old = -inf
            row_sum = rescale * row_sum + probs.sum(axis=-1, keepdims=True)
            acc = rescale * acc + probs @ v[..., cols, :]  # (..., bq, bk) @ (..., bk, dv) -> (..., bq, dv)
            row_max = new_max
        empty = row_sum == 0  # (..., bq, 1): no allowed key in this row -> output 0, lse -inf
        out[..., rows, :] = np.where(empty, np.zeros((), dtype=dtype), acc / np.where(empty, 1, row_sum))
        with np.errstate(divide="ignore"):  # log(0) = -inf for an empty row, on purpose
            lse[..., rows] = (row_max + np.log(row_sum))[..., 0]  # (..., bq, 1) -> (..., bq)
    return out, lse


def flash_backward(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: np.ndarray | None,
    causal: bool,
    block_q: int,
    block_k: int,
    out: np.ndarray,
    lse: np.ndarray,
    grad_out: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tiled backward: ``(dq, dk, dv)`` from ``q, k, v``, the output, its row log-sum-exp and ``dO``.

    Each tile of ``P`` is recomputed as ``exp(S_ij - L_i)``; nothing of size ``Lq x Lk`` is stored.
    """
    mask = _as_2d_mask(mask)
    lq, lk, d = q.shape[-2], k.shape[-2], q.shape[-1]
    batch = out.shape[:-2]
    dtype = q.dtype
    scale = np.asarray(1.0 / math.sqrt(d), dtype=dtype)
    # D_i = rowsum(dO_i * O_i) = rowsum(P_i * dP_i): the softmax backward's subtracted term, O(L) numbers.
    delta = np.sum(grad_out * out, axis=-1, keepdims=True)  # (..., Lq, dv) -> (..., Lq, 1)
    # exp(S - L) with L = -inf (an empty row, all S = -inf) would be NaN; shifting by 0 gives P = 0.
    lse_safe = np.where(lse == -np.inf, np.zeros((), dtype=dtype), lse)[..., None]  # (..., Lq) -> (..., Lq, 1)
    dq = np.zeros(batch + (lq, d), dtype=dtype)
    dk = np.zeros(batch + (lk, d), dtype=dtype)
    dv = np.zeros(batch + (lk, v.shape[-1]), dtype=dtype)
    for j0 in range(0, lk, block_k):  # outer loop over keys: dK_j and dV_j accumulate in one place
        cols = slice(j0, min(j0 + block_k, lk))
        k_tile, v_tile = k[..., cols, :], v[..., cols, :]
        first_query = j0 if causal else 0  # causal: queries before key j0 see no key of this block
        for i0 in range((first_query // block_q) * block_q, lq, block_q):
            rows = slice(i0, min(i0 + block_q, lq))
            q_tile = q[..., rows, :]
            scores = _tile_scores(q_tile * scale, k_tile, _tile_allowed(mask, causal, rows, cols))
            probs = np.exp(scores - lse_safe[..., rows, :])  # P_ij recomputed, (..., bq, bk)
            g_tile = grad_out[..., rows, :]
            dv[..., cols, :] += np.swapaxes(probs, -1, -2) @ g_tile  # (..., bk, bq) @ (..., bq, dv) -> (..., bk, dv)
            d_probs = g_tile @ np.swapaxes(v_tile, -1, -2)  # (..., bq, dv) @ (..., dv, bk) -> (..., bq, bk)
            d_scores = probs * (d_probs - delta[..., rows, :]) * scale  # dS_ij / sqrt(d) folded in
            dq[..., rows, :] += d_scores @ k_tile  # (..., bq, bk) @ (..., bk, d) -> (..., bq, d)
            dk[..., cols, :] += np.swapaxes(d_scores, -1, -2) @ q_tile  # (..., bk, bq) @ (..., bq, d) -> (..., bk, d)
    return _unbroadcast(dq, q.shape), _unbroadcast(dk, k.shape), _unbroadcast(dv, v.shape)


def flash_attention(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    causal: bool = False,
    block_q: int = 64,
    block_k: int = 64,
) -> np.ndarray:
    """``softmax(Q K^T / sqrt(d) + M) V`` computed tile by tile with the online softmax.

    ``q (..., Lq, d)``, ``k (..., Lk, d)``, ``v (..., Lk, dv)`` (leading dims broadcast); ``mask``:
    bool, broadcastable to ``(..., Lq, Lk)``, ``True`` = may attend; ``causal``: query ``i`` sees keys
    ``j <= i``. ``block_q``, ``block_k``: the tile's rows and columns (any positive ints; they need not
    divide the lengths). Equal to :func:`~bigmodel_lib.nn_numpy.scaled_dot_product_attention` up to
    rounding; at most one ``(..., block_q, block_k)`` tile of scores exists at a time.
    Returns ``out (..., Lq, dv)``; a query with no allowed key gets 0.
    """
    _check_flash_inputs("flash_attention", q, k, v, mask, causal, block_q, block_k)
    out, _ = flash_forward(q, k, v, mask, causal, block_q, block_k)
    return out


class FlashAttention(Module):
    """:func:`flash_attention` as a layer with the recomputing backward; no parameters.

    ``forward(q, k, v, mask=None, causal=False)`` keeps only ``q, k, v``, the output and the row
    log-sum-exp ``lse`` (``O(L)`` numbers, no ``L x L`` array); ``backward(grad_out)`` returns
    ``(dq, dk, dv)``, recomputing each tile of the attention weights from them.
    """

    def __init__(self, block_q: int = 64, block_k: int = 64) -> None:
        check_positive_int(type(self).__name__, "block_q", block_q)
        check_positive_int(type(self).__name__, "block_k", block_k)
        self.block_q, self.block_k = int(block_q), int(block_k)
        self._cache: tuple | None = None

    def forward(
        self, q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None = None, *, causal: bool = False
    ) -> np.ndarray:
        _check_flash_inputs(type(self).__name__, q, k, v, mask, causal, self.block_q, self.block_k)
        out, lse = flash_forward(q, k, v, mask, causal, self.block_q, self.block_k)
        self._cache = (q, k, v, mask, causal, out, lse)
        return out

    def backward(self, grad_out: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        q, k, v, mask, causal, out, lse = require_cache(self, self._cache)
        check_grad_out(type(self).__name__, grad_out, out.shape)
        return flash_backward(q, k, v, mask, causal, self.block_q, self.block_k, out, lse, grad_out)

    def extra_repr(self) -> str:
        return f"block_q={self.block_q}, block_k={self.block_k}"
