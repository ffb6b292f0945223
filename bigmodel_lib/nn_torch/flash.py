"""FlashAttention's tiled algorithm in PyTorch, as a ``torch.autograd.Function`` -- for reading and testing.

The same algorithm as ``nn_numpy.flash`` (FlashAttention-2, Dao 2023, Algorithms 1 and 2; the idea
from Dao et al. 2022): the forward walks over ``(block_q, block_k)`` tiles of the scores with a
running row maximum ``m`` and sum ``l`` (the online softmax) and saves only the output and the row
log-sum-exp ``L = m + log l``; the backward recomputes each tile ``P_ij = exp(S_ij - L_i)`` and uses
``D = rowsum(dO * O)``. Masks as ``nn_torch.scaled_dot_product_attention``: bool, ``True`` = may attend,
``causal`` top-left aligned, a query with no allowed key gives output 0 and gradient 0.

**Not for speed.** A Python loop over tiles launches many small kernels. To *use* flash attention, call
``torch.nn.functional.scaled_dot_product_attention`` (or ``nn_torch.scaled_dot_product_attention``):
on CUDA it dispatches to fused flash / memory-efficient kernels that keep each tile in on-chip SRAM,
and ``torch.nn.attention.sdpa_kernel`` chooses the backend. Device and dtype follow the inputs.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from bigmodel_lib._checks import check_positive_int, check_tensor
from bigmodel_lib.contracts.attention import check_attention_inputs, check_causal
from bigmodel_lib.nn_torch.module import Module


def _check_flash_inputs(
    where: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, causal: bool,
    block_q: int, block_k: int,
) -> None:
    for name, x in (("q", q), ("k", k), ("v", v)):
        check_tensor(where, name, x)
    if mask is not None:
        check_tensor(where, "mask", mask)
    check_attention_inputs(where, q, k, v, mask)
    check_causal(where, causal)
    check_positive_int(where, "block_q", block_q)
    check_positive_int(where, "block_k", block_k)


def _tile_allowed(mask: torch.Tensor | None, causal: bool, rows: slice, cols: slice,
                  device: torch.device) -> torch.Tensor | None:
    """The bool ``(..., rows, cols)`` tile of ``mask AND causal``; a mask axis of size 1 is kept whole."""
    allowed = None
    if mask is not None:
        row_part = rows if mask.shape[-2] != 1 else slice(None)
        col_part = cols if mask.shape[-1] != 1 else slice(None)
        allowed = mask[..., row_part, col_part]
    if causal:
        query_index = torch.arange(rows.start, rows.stop, device=device)[:, None]  # (rows, 1)
        key_index = torch.arange(cols.start, cols.stop, device=device)[None, :]  # (1, cols)
        tril = key_index <= query_index  # (rows, cols)
        allowed = tril if allowed is None else allowed & tril
    return allowed


def _tile_scores(q_scaled: torch.Tensor, k_tile: torch.Tensor, allowed: torch.Tensor | None) -> torch.Tensor:
    scores = q_scaled @ k_tile.transpose(-2, -1)  # (..., bq, d) @ (..., d, bk) -> (..., bq, bk)
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    return scores


def _flash_forward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, causal: bool,
                   block_q: int, block_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Tiled forward (FlashAttention-2, Algorithm 1): ``out (..., Lq, dv)`` and ``lse (..., Lq)`` (-inf: no key)."""
    lq, lk, dv = q.shape[-2], k.shape[-2], v.shape[-1]
    batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    if mask is not None:
        batch = torch.broadcast_shapes(batch, mask.shape[:-2])
    scale = 1.0 / math.sqrt(q.shape[-1])
    options: dict[str, Any] = {"dtype": q.dtype, "device": q.device}
    out = torch.zeros(*batch, lq, dv, **options)
    lse = torch.full((*batch, lq), float("-inf"), **options)
    for i0 in range(0, lq, block_q):
        rows = slice(i0, min(i0 + block_q, lq))
        q_scaled = q[..., rows, :] * scale  # (..., bq, d)
        n_rows = rows.stop - rows.start
        row_max = torch.full((*batch, n_rows, 1), float("-inf"), **options)  # m
        row_sum = torch.zeros(*batch, n_rows, 1, **options)  # l
        acc = torch.zeros(*batch, n_rows, dv, **options)
        stop = min(lk, rows.stop) if causal else lk  # causal: no key after the block's last query
        for j0 in range(0, stop, block_k):
            cols = slice(j0, min(j0 + block_k, lk))
            scores = _tile_scores(q_scaled, k[..., cols, :], _tile_allowed(mask, causal, rows, cols, q.device))
            new_max = torch.maximum(row_max, scores.amax(dim=-1, keepdim=True))  # (..., bq, 1)
            shift = new_max.masked_fill(new_max == float("-inf"), 0.0)  # no key seen yet: shift by 0
            probs = torch.exp(scores - shift)  # (..., bq, bk)
            rescale = torch.exp(row_max - shift)  # exp(m_old - m_new)
            row_sum = rescale * row_sum + probs.sum(dim=-1, keepdim=True)
            acc = rescale * acc + probs @ v[..., cols, :]  # (..., bq, bk) @ (..., bk, dv) -> (..., bq, dv)
            row_max = new_max
        empty = row_sum == 0  # (..., bq, 1)
        out[..., rows, :] = (acc / row_sum.masked_fill(empty, 1.0)).masked_fill(empty, 0.0)
        lse[..., rows] = (row_max + torch.log(row_sum))[..., 0]  # (..., bq, 1) -> (..., bq); log 0 = -inf
    return out, lse


def _flash_backward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, causal: bool,
                    block_q: int, block_k: int, out: torch.Tensor, lse: torch.Tensor,
                    grad_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tiled backward (FlashAttention-2, Algorithm 2): recompute ``P_ij = exp(S_ij - L_i)``, ``D = rowsum(dO*O)``."""
    lq, lk = q.shape[-2], k.shape[-2]
    batch = out.shape[:-2]
    scale = 1.0 / math.sqrt(q.shape[-1])
    delta = (grad_out * out).sum(dim=-1, keepdim=True)  # (..., Lq, dv) -> (..., Lq, 1)
    lse_safe = lse.masked_fill(lse == float("-inf"), 0.0).unsqueeze(-1)  # (..., Lq) -> (..., Lq, 1)
    options: dict[str, Any] = {"dtype": q.dtype, "device": q.device}
    dq = torch.zeros(*batch, lq, q.shape[-1], **options)
    dk = torch.zeros(*batch, lk, k.shape[-1], **options)
    dv = torch.zeros(*batch, lk, v.shape[-1], **options)
    for j0 in range(0, lk, block_k):
        cols = slice(j0, min(j0 + block_k, lk))
        k_tile, v_tile = k[..., cols, :], v[..., cols, :]
        first_query = j0 if causal else 0
        for i0 in range((first_query // block_q) * block_q, lq, block_q):
            rows = slice(i0, min(i0 + block_q, lq))
            q_tile = q[..., rows, :]
            scores = _tile_scores(q_tile * scale, k_tile, _tile_allowed(mask, causal, rows, cols, q.device))
            probs = torch.exp(scores - lse_safe[..., rows, :])  # (..., bq, bk)
            g_tile = grad_out[..., rows, :]
            dv[..., cols, :] += probs.transpose(-2, -1) @ g_tile  # (..., bk, bq) @ (..., bq, dv) -> (..., bk, dv)
            d_probs = g_tile @ v_tile.transpose(-2, -1)  # (..., bq, dv) @ (..., dv, bk) -> (..., bq, bk)
            d_scores = probs * (d_probs - delta[..., rows, :]) * scale
            dq[..., rows, :] += d_scores @ k_tile  # (..., bq, bk) @ (..., bk, d) -> (..., bq, d)
            dk[..., cols, :] += d_scores.transpose(-2, -1) @ q_tile  # (..., bk, bq) @ (..., bq, d) -> (..., bk, d)
    return dq.sum_to_size(q.shape), dk.sum_to_size(k.shape), dv.sum_to_size(v.shape)


def _as_2d_mask(mask: torch.Tensor | None) -> torch.Tensor | None:
    if mask is None or mask.ndim >= 2:
        return mask
    return mask.view((1,) * (2 - mask.ndim) + tuple(mask.shape))  # () or (Lk,) -> (1, 1) or (1, Lk)


class _FlashAttentionFunction(torch.autograd.Function):
    """Forward saves ``q, k, v``, the output and the row log-sum-exp; backward recomputes the tiles."""

    @staticmethod
    def forward(ctx: Any, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
                causal: bool, block_q: int, block_k: int) -> torch.Tensor:
        out, lse = _flash_forward(q, k, v, mask, causal, block_q, block_k)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.mask, ctx.causal, ctx.blocks = mask, causal, (block_q, block_k)
        return out

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        q, k, v, out, lse = ctx.saved_tensors
        dq, dk, dv = _flash_backward(q, k, v, ctx.mask, ctx.causal, *ctx.blocks, out, lse, grad_out.contiguous())
        return dq, dk, dv, None, None, None, None


def flash_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    causal: bool = False,
    block_q: int = 64,
    block_k: int = 64,
) -> torch.Tensor:
    """``softmax(Q K^T / sqrt(d) + M) V`` tile by tile; the contract of ``nn_numpy.flash_attention``.

    ``q (..., Lq, d)``, ``k (..., Lk, d)``, ``v (..., Lk, dv)``; ``mask`` bool broadcastable to
    ``(..., Lq, Lk)`` (``True`` = may attend); ``causal``: query ``i`` sees keys ``j <= i``. Differentiable
    (a custom backward that recomputes the tiles). For speed use ``F.scaled_dot_product_attention``.
    """
    _check_flash_inputs("flash_attention", q, k, v, mask, causal, block_q, block_k)
    return _FlashAttentionFunction.apply(q, k, v, _as_2d_mask(mask), causal, int(block_q), int(block_k))


class FlashAttention(Module):
    """:func:`flash_attention` as a module (no parameters): ``forward(q, k, v, mask=None, causal=False)``."""

    def __init__(self, block_q: int = 64, block_k: int = 64) -> None:
        super().__init__()
        check_positive_int(type(self).__name__, "block_q", block_q)
        check_positive_int(type(self).__name__, "block_k", block_k)
        self.block_q, self.block_k = int(block_q), int(block_k)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None, *,
                causal: bool = False) -> torch.Tensor:
        _check_flash_inputs(type(self).__name__, q, k, v, mask, causal, self.block_q, self.block_k)
        return _FlashAttentionFunction.apply(q, k, v, _as_2d_mask(mask), causal, self.block_q, self.block_k)

    def extra_repr(self) -> str:
        return f"block_q={self.block_q}, block_k={self.block_k}"
