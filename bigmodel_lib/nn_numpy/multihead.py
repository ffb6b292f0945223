"""Multi-head attention (Vaswani et al., 2017), forward and backward, no loops over batch or heads."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bigmodel_lib._checks import (
    check_array,
    check_probability,
)
from bigmodel_lib.contracts.multihead import (  # noqa: F401 -- re-exported: the contracts both packages keep
    check_mha_config,
    check_mha_inputs,
    mha_state_from_pytorch,
    qkv_rows,
)
from bigmodel_lib.contracts.positional import check_rotary_config
from bigmodel_lib.nn_numpy.attention import ScaledDotProductAttention, _split_grad, allowed_keys
from bigmodel_lib.nn_numpy.functional import numpy_dtype_of, require_cache
from bigmodel_lib.nn_numpy.linear import Linear
from bigmodel_lib.nn_numpy.module import Module, uniform_init
from bigmodel_lib.nn_numpy.positional import rotary_embedding


class MultiHeadAttention(Module):
    """``MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O``, ``head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)``.

    Each head attends in its own ``d_head = d_model / num_heads``-dim subspace, so ``h`` heads cost
    about as much as one full-width head. All heads are computed at once as a
    ``(B, heads, L, d_head)`` array.

    Parameters (``state_dict`` keys, identical in ``nn_torch.MultiHeadAttention``), with
    ``kv = num_kv_heads * d_head`` (``= d_model`` by default):

    * ``in_proj.weight (d_model + 2 kv, d_model)``: ``[W^Q; W^K; W^V]`` stacked by rows (by default
      ``(3 d_model, d_model)``, torch's ``in_proj_weight``), ``in_proj.bias (d_model + 2 kv,)`` (when ``bias``);
    * ``out_proj.weight (d_model, d_model)``, ``out_proj.bias (d_model,)`` (when ``bias``).

    ``num_kv_heads`` (``None`` = ``num_heads``) must divide ``num_heads``: grouped-query attention, query
    head ``j`` uses key/value head ``j // (num_heads / num_kv_heads)`` (``repeat_interleave`` order, as
    PyTorch's ``enable_gqa``); ``1`` is multi-query attention. ``rope_base``: when given, queries and keys
    are rotated by RoPE (:func:`~bigmodel_lib.nn_numpy.positional.rotary_embedding`, positions ``0..L-1``)
    after the projection; no extra parameters.

    Initialised as ``torch.nn.MultiheadAttention``: Xavier-uniform ``in_proj.weight``,
    ``U(+-1/sqrt(d_model))`` ``out_proj.weight``, zero biases.

    ``forward(query (B, Lq, d), key=None, value=None, mask=None, *, causal=False, need_weights=False)``:
    ``key`` defaults to ``query`` and ``value`` to ``key``. ``mask``: bool, ``(Lq, Lk)`` or
    broadcastable to ``(B, heads, Lq, Lk)``, ``True`` = may attend -- a key-padding mask is
    ``(B, 1, 1, Lk)``. ``dropout`` drops attention weights in ``train()`` mode.
    ``backward(g)`` (or ``(g, g_weights)`` after ``need_weights=True``) returns one gradient per
    array given to forward: ``(dq, dk, dv)``, ``(dq, dk)`` or, for self-attention called with the
    query alone, a single ``dx`` (the sum over the query, key and value paths).
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        *,
        num_kv_heads: int | None = None,
        rope_base: float | None = None,
        bias: bool = True,
        dropout: float = 0.0,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.num_kv_heads = check_mha_config("MultiHeadAttention", d_model, num_heads, num_kv_heads)
        check_probability("MultiHeadAttention", "dropout", dropout)
        self.d_model, self.num_heads, self.head_dim = d_model, num_heads, d_model // num_heads
        if rope_base is not None:
            check_rotary_config("MultiHeadAttention", self.head_dim, rope_base)
        self.rope_base = None if rope_base is None else float(rope_base)
        self.kv_width = self.num_kv_heads * self.head_dim
        self._rows = qkv_rows(d_model, self.kv_width)
        rows = d_model + 2 * self.kv_width
        self.in_proj = Linear(d_model, rows, bias=bias, dtype=dtype, rng=rng)
        self.in_proj.weight = uniform_init((rows, d_model), math.sqrt(6.0 / (d_model + rows)), dtype, rng)
        self.out_proj = Linear(d_model, d_model, bias=bias, dtype=dtype, rng=rng)
        for proj in (self.in_proj, self.out_proj):
            if proj.bias is not None:
                proj.bias.data[...] = 0
        self.attention = ScaledDotProductAttention(dropout, rng=rng)
        self._cache: tuple | None = None

    @property
    def dropout(self) -> float:
        return self.attention.dropout

    @property
    def group_size(self) -> int:
        """Query heads per key/value head."""
        return self.num_heads // self.num_kv_heads

    # -- the three input projections, as row blocks of in_proj ----------------------------------------
    def _project(self, x: np.ndarray, block: int) -> np.ndarray:
        """``x W_block^T + b_block`` with ``W_block = in_proj.weight[rows of Q, K or V]``."""
        rows = self._rows[block]
        y = x @ self.in_proj.weight.data[rows].T  # (B, L, d) @ (d, width) -> (B, L, width)
        if self.in_proj.bias is not None:
            y += self.in_proj.bias.data[rows]
        return y

    def _project_backward(self, x: np.ndarray, block: int, grad: np.ndarray) -> np.ndarray:
        rows = self._rows[block]
        g2d = grad.reshape(-1, grad.shape[-1])  # (B, L, width) -> (B*L, width)
        self.in_proj.weight.grad[rows] += g2d.T @ x.reshape(-1, self.d_model)  # (width, B*L) @ (B*L, d)
        if self.in_proj.bias is not None:
            self.in_proj.bias.grad[rows] += g2d.sum(axis=0)
        return grad @ self.in_proj.weight.data[rows]  # (B, L, width) @ (width, d) -> (B, L, d)

    def _split_heads(self, x: np.ndarray) -> np.ndarray:
        b, length, width = x.shape
        heads = width // self.head_dim
        return x.reshape(b, length, heads, self.head_dim).transpose(0, 2, 1, 3)  # (B, L, w) -> (B, heads, L, dh)

    def _merge_heads(self, x: np.ndarray) -> np.ndarray:
        b, heads, length, _ = x.shape
        return x.transpose(0, 2, 1, 3).reshape(b, length, heads * self.head_dim)  # (B, heads, L, dh) -> (B, L, w)

    def _share_kv(self, x: np.ndarray) -> np.ndarray:
        """Key/value heads repeated for their query groups: ``(B, h_kv, L, dh) -> (B, h, L, dh)``."""
        return x if self.group_size == 1 else np.repeat(x, self.group_size, axis=1)

    def _share_kv_backward(self, grad: np.ndarray) -> np.ndarray:
        """The gradients of the copies of one key/value head summed: ``(B, h, L, dh) -> (B, h_kv, L, dh)``."""
        if self.group_size == 1:
            return grad
        b, _, length, dh = grad.shape
        return grad.reshape(b, self.num_kv_heads, self.group_size, length, dh).sum(axis=2)  # (B, h_kv, g, L, dh)

    def _rotate(self, x: np.ndarray, inverse: bool = False) -> np.ndarray:
        return x if self.rope_base is None else rotary_embedding(x, base=self.rope_base, inverse=inverse)

    def forward(
        self,
        query: np.ndarray,
        key: np.ndarray | None = None,
        value: np.ndarray | None = None,
        mask: np.ndarray | None = None,
        *,
        causal: bool = False,
        need_weights: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        where = "MultiHeadAttention"
        given = 1 + (key is not None) + (value is not None)
        if key is None and value is not None:
            raise ValueError(f"{where}: 'value' was given without 'key'; pass key too (or neither)")
        key = query if key is None else key
        value = key if value is None else value
        for name, x in (("query", query), ("key", key), ("value", value)):
            check_array(where, name, x)
        if mask is not None:
            check_array(where, "mask", mask)
        check_mha_inputs(where, self.d_model, self.num_heads, query, key, value, mask)

        q = self._rotate(self._split_heads(self._project(query, 0)))  # (B, Lq, d) -> (B, h, Lq, dh)
        k = self._rotate(self._split_heads(self._project(key, 1)))  # (B, Lk, d) -> (B, h_kv, Lk, dh)
        v = self._split_heads(self._project(value, 2))  # (B, Lk, d) -> (B, h_kv, Lk, dh)
        k, v = self._share_kv(k), self._share_kv(v)  # (B, h_kv, Lk, dh) -> (B, h, Lk, dh)
        allowed = allowed_keys(mask, causal, query.shape[1], key.shape[1])
        result = self.attention._forward(q, k, v, allowed, 1.0 / math.sqrt(self.head_dim), need_weights)
        heads, weights = result if need_weights else (result, None)
        out = self.out_proj(self._merge_heads(heads))  # (B, h, Lq, dh) -> (B, Lq, d) -> (B, Lq, d)
        self._cache = (query, key, value, given)
        return (out, weights) if need_weights else out

    def backward(self, grad_out: np.ndarray | tuple[np.ndarray, np.ndarray]) -> np.ndarray | tuple[np.ndarray, ...]:
        query, key, value, given = require_cache(self, self._cache)
        g, g_weights = _split_grad(grad_out)
        g_heads = self._split_heads(self.out_proj.backward(g))  # (B, Lq, d) -> (B, h, Lq, dh)
        dq, dk, dv = self.attention.backward(g_heads if g_weights is None else (g_heads, g_weights))
        dq = self._rotate(dq, inverse=True)  # RoPE's backward: the inverse rotation
        dk = self._rotate(self._share_kv_backward(dk), inverse=True)  # (B, h, Lk, dh) -> (B, h_kv, Lk, dh)
        dv = self._share_kv_backward(dv)  # (B, h, Lk, dh) -> (B, h_kv, Lk, dh)
        d_query = self._project_backward(query, 0, self._merge_heads(dq))  # (B, h, Lq, dh) -> (B, Lq, d)
        d_key = self._project_backward(key, 1, self._merge_heads(dk))  # (B, h_kv, Lk, dh) -> (B, Lk, d)
        d_value = self._project_backward(value, 2, self._merge_heads(dv))  # (B, h_kv, Lk, dh) -> (B, Lk, d)
        if given == 1:  # self-attention on query alone: x fed all three paths
            return d_query + d_key + d_value
        if given == 2:  # value defaulted to key
            return d_query, d_key + d_value
        return d_query, d_key, d_value

    @classmethod
    def from_pytorch(cls, module: Any) -> MultiHeadAttention:
        """An equal NumPy layer built from a ``torch.nn.MultiheadAttention`` (weights copied, dtype kept).

        Use it with ``batch_first=True`` inputs (the weights do not depend on that flag). Modules
        with ``kdim``/``vdim`` other than ``embed_dim``, ``add_bias_kv`` or ``add_zero_attn`` are
        refused. Torch's ``key_padding_mask`` (True = ignore) becomes our
        ``mask = ~key_padding_mask[:, None, None, :]`` (True = attend).
        """
        state = mha_state_from_pytorch(module)
        layer = cls(
            module.embed_dim,
            module.num_heads,
            bias=module.in_proj_bias is not None,
            dropout=module.dropout,
            dtype=numpy_dtype_of(module.in_proj_weight),
        )
        layer.load_state_dict(state)
        layer.train(module.training)
        return layer

    def extra_repr(self) -> str:
        extra = "" if self.num_kv_heads == self.num_heads else f", num_kv_heads={self.num_kv_heads}"
        extra += "" if self.rope_base is None else f", rope_base={self.rope_base}"
        return f"d_model={self.d_model}, num_heads={self.num_heads}{extra}, dropout={self.dropout}"


