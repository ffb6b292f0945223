"""Attention for long contexts in PyTorch: the sliding-window mask, linear attention, and GPT variants.

Same functions and contract as ``nn_numpy.long_context`` (read its docstring for the formulas and the
window convention: query ``i`` sees keys ``i - window + 1 .. i``); autograd gives the backward pass.
Linear attention is vectorised, with no Python loop over positions. The causal form is computed
**chunk by chunk** (the quadratic masked form inside chunks of :data:`CHUNK_SIZE` positions, a ``cumsum`` of
chunk states across them): the same numbers as the NumPy prefix sums (tested to 1e-12), several times faster
on a CPU than one ``(L, d, dv)`` prefix state per position, and lighter in memory.

PyTorch only (training needs autograd's speed): :class:`SlidingWindowSelfAttention` and
:class:`LinearSelfAttention` replace a GPT block's causal self-attention, with the same weights and
``state_dict`` keys, and :func:`with_attention` swaps them into an ``nn_torch.GPT``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bigmodel_lib._checks import check_tensor
from bigmodel_lib.contracts.long_context import (
    FEATURE_MAPS,
    check_linear_attention_inputs,
    check_linear_settings,
    check_mask_lengths,
    check_window,
)
from bigmodel_lib.nn_torch.gpt import GPT, CausalSelfAttention
from bigmodel_lib.nn_torch.module import Module

__all__ = [
    "FEATURE_MAPS", "LinearAttention", "LinearSelfAttention", "SlidingWindowSelfAttention", "linear_attention",
    "sliding_window_mask", "with_attention",
]


def sliding_window_mask(lq: int, lk: int, window: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``(Lq, Lk)`` bool, ``True`` where query ``i`` may see key ``j``: ``i - window < j <= i``."""
    where = "sliding_window_mask"
    check_mask_lengths(where, lq, lk)
    check_window(where, window)
    offset = torch.arange(lq, device=device)[:, None] - torch.arange(lk, device=device)[None, :]  # (Lq, Lk): i - j
    return (offset >= 0) & (offset < window)


def _feature_map(x: torch.Tensor, name: str) -> torch.Tensor:
    return F.elu(x) + 1 if name == "elu+1" else F.relu(x)


#: Positions per chunk of the causal form (see :func:`_causal_chunked`).
CHUNK_SIZE = 64


def _causal_chunked(phi_q: torch.Tensor, phi_k: torch.Tensor, v: torch.Tensor,
                    chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Numerator ``(..., L, dv)`` and normaliser ``(..., L, 1)`` of causal linear attention, chunk by chunk.

    Inside a chunk of ``C`` positions: the masked quadratic form ``tril(phi(Q_c) phi(K_c)^T)``. Across chunks:
    the state ``S`` and ``z`` of all earlier chunks (an exclusive ``cumsum`` over chunk states). Exact, and it
    keeps ``(L/C) d dv + L C`` numbers instead of the ``L d dv`` of one prefix state per position.
    """
    length = phi_q.shape[-2]
    pad = -length % chunk  # zeros appended at the end: they come after every real position, so nothing sees them
    if pad:
        phi_q, phi_k, v = (F.pad(x, (0, 0, 0, pad)) for x in (phi_q, phi_k, v))
    n = phi_q.shape[-2] // chunk
    phi_q, phi_k, v = (x.unflatten(-2, (n, chunk)) for x in (phi_q, phi_k, v))  # (..., L, f) -> (..., n, C, f)
    local = (phi_q @ phi_k.transpose(-1, -2)).tril()  # (..., n, C, d) @ (..., n, d, C) -> (..., n, C, C), j <= i
    chunk_state = phi_k.transpose(-1, -2) @ v  # (..., n, d, C) @ (..., n, C, dv) -> (..., n, d, dv)
    chunk_norm = phi_k.sum(dim=-2)  # (..., n, d)
    earlier_state = torch.cumsum(chunk_state, dim=-3) - chunk_state  # sum over earlier chunks only
    earlier_norm = torch.cumsum(chunk_norm, dim=-2) - chunk_norm  # (..., n, d)
    numerator = local @ v + phi_q @ earlier_state  # (..., n, C, dv)
    denominator = local.sum(dim=-1, keepdim=True) + phi_q @ earlier_norm.unsqueeze(-1)  # (..., n, C, 1)
    numerator, denominator = numerator.flatten(-3, -2), denominator.flatten(-3, -2)  # (..., n, C, f) -> (..., L, f)
    return numerator[..., :length, :], denominator[..., :length, :]


_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, feature_map: str,
                      eps: float) -> torch.Tensor:
    """The formula, inputs already checked; float16/bfloat16 (or autocast) computed in float32, cast back.

    The sums over keys (``S``, ``z``) add up ``L`` positive terms: in 8 bits of mantissa they would lose
    the small ones, so they are kept in float32, as the softmax of ``nn_torch.attention`` is.
    """
    if q.dtype in _LOW_PRECISION or torch.is_autocast_enabled(q.device.type):
        with torch.autocast(q.device.type, enabled=False):
            out = _linear_attention_float(q.float(), k.float(), v.float(), causal, feature_map, eps)
        return out.to(q.dtype)
    return _linear_attention_float(q, k, v, causal, feature_map, eps)


def _linear_attention_float(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, feature_map: str,
                            eps: float) -> torch.Tensor:
    phi_q, phi_k = _feature_map(q, feature_map), _feature_map(k, feature_map)
    if causal:
        batch = torch.broadcast_shapes(phi_q.shape[:-2], phi_k.shape[:-2], v.shape[:-2])
        phi_q, phi_k = phi_q.expand(batch + phi_q.shape[-2:]), phi_k.expand(batch + phi_k.shape[-2:])
        numerator, denominator = _causal_chunked(phi_q, phi_k, v.expand(batch + v.shape[-2:]), CHUNK_SIZE)
    else:
        state = phi_k.transpose(-1, -2) @ v  # (..., d, Lk) @ (..., Lk, dv) -> (..., d, dv)
        numerator = phi_q @ state  # (..., Lq, d) @ (..., d, dv) -> (..., Lq, dv)
        denominator = phi_q @ phi_k.sum(dim=-2).unsqueeze(-1)  # (..., Lq, d) @ (..., d, 1) -> (..., Lq, 1)
    return numerator / (denominator + eps)


def linear_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    causal: bool = False,
    feature_map: str = "elu+1",
    eps: float = 1e-6,
) -> torch.Tensor:
    """``out_i = phi(q_i)^T S / (phi(q_i)^T z + eps)`` (Katharopoulos et al. 2020); ``(..., Lq, dv)``.

    Same contract as ``nn_numpy.linear_attention``: leading dims broadcast, ``causal=True`` needs
    ``Lq == Lk`` and uses prefix sums (query ``i`` sees keys ``0..i``).
    """
    where = "linear_attention"
    for name, x in (("q", q), ("k", k), ("v", v)):
        check_tensor(where, name, x)
    check_linear_attention_inputs(where, q, k, v, causal=causal, feature_map=feature_map, eps=eps)
    return _linear_attention(q, k, v, causal, feature_map, eps)


class LinearAttention(Module):
    """:func:`linear_attention` as a layer (no parameters): ``forward(q, k, v, *, causal=False)``."""

    def __init__(self, feature_map: str = "elu+1", eps: float = 1e-6) -> None:
        super().__init__()
        check_linear_settings(type(self).__name__, feature_map, eps)
        self.feature_map, self.eps = feature_map, eps

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, causal: bool = False) -> torch.Tensor:
        where = type(self).__name__
        for name, x in (("q", q), ("k", k), ("v", v)):
            check_tensor(where, name, x)
        check_linear_attention_inputs(where, q, k, v, causal=causal, feature_map=self.feature_map, eps=self.eps)
        return _linear_attention(q, k, v, causal, self.feature_map, self.eps)

    def extra_repr(self) -> str:
        return f"feature_map={self.feature_map!r}, eps={self.eps}"


# -- GPT variants ---------------------------------------------------------------------------------------------


class _SelfAttentionVariant(CausalSelfAttention):
    """A GPT block's causal self-attention with another attention in the middle; same weights and keys.

    Projections, RoPE and shared key/value heads are the block's own (``_qkv``, ``_rotate``, ``_share_kv``).
    """

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_causal(self, x: torch.Tensor, cache: object = None, layer: int = 0) -> torch.Tensor:
        if cache is not None:
            raise ValueError(f"{type(self).__name__}: a KV cache is not supported here; generate with cache=None")
        b, t, d = x.shape
        q, k, v = self._qkv(x, "qkv")  # (B, T, d) -> (B, h, T, dh), 2 x (B, h_kv, T, dh)
        q, k = self._rotate(q), self._rotate(k)  # RoPE at positions 0..T-1 when the model uses it
        y = self._attend(q, self._share_kv(k), self._share_kv(v))  # shared K/V heads repeated: (B, h, T, dh)
        y = y.transpose(1, 2).reshape(b, t, d)  # (B, h, T, dh) -> (B, T, h, dh) -> (B, T, d)
        return self.out_proj(y)


class SlidingWindowSelfAttention(_SelfAttentionVariant):
    """Causal self-attention where position ``i`` sees only ``i - window + 1 .. i`` (a bool mask, fused SDPA)."""

    def __init__(self, *args: object, window: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        check_window(type(self).__name__, window)
        self.window = window

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        allowed = sliding_window_mask(q.shape[-2], k.shape[-2], self.window, device=q.device)  # (T, T)
        dropout_p = self.dropout if self.training else 0.0
        return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=dropout_p)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", window={self.window}"


class LinearSelfAttention(_SelfAttentionVariant):
    """Causal linear attention (``phi = elu + 1``, prefix sums) in place of softmax attention; no dropout."""

    feature_map: str = "elu+1"
    eps: float = 1e-6

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return _linear_attention(q, k, v, True, self.feature_map, self.eps)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", feature_map={self.feature_map!r}"


def with_attention(model: GPT, kind: str, *, window: int | None = None) -> GPT:
    """Switch every block of ``model`` to ``kind`` attention, in place; returns ``model``.

    ``kind``: ``"softmax"`` (the GPT's own), ``"window"`` (``window`` keys per query) or ``"linear"``.
    Only the class of each ``self_attn`` changes: the weights stay, so a model trained with one attention
    can be evaluated or fine-tuned with another, and checkpoints load either way.
    """
    kinds = {"softmax": CausalSelfAttention, "window": SlidingWindowSelfAttention, "linear": LinearSelfAttention}
    if kind not in kinds:
        raise ValueError(f"with_attention: 'kind' must be one of {tuple(kinds)}, got {kind!r}")
    if kind == "window":
        check_window("with_attention", window)
    elif window is not None:
        raise ValueError(f"with_attention: 'window' is only for kind='window', got window={window!r} with {kind!r}")
    for block in model.blocks:
        block.self_attn.__class__ = kinds[kind]  # same attributes and parameters, another forward_causal
        if kind == "window":
            block.self_attn.window = window
    return model
