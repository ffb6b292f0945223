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
)
from bigmodel_lib.nn_numpy.attention import ScaledDotProductAttention, _split_grad, allowed_keys
from bigmodel_lib.nn_numpy.functional import numpy_dtype_of, require_cache
from bigmodel_lib.nn_numpy.linear import Linear
from bigmodel_lib.nn_numpy.module import Module, uniform_init


class MultiHeadAttention(Module):
    """``MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O``, ``head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)``.

    Each head attends in its own ``d_head = d_model / num_heads``-dim subspace, so ``h`` heads cost
    about as much as one full-width head. All heads are computed at once as a
    ``(B, heads, L, d_head)`` array.

    Parameters (``state_dict`` keys, identical in ``nn_torch.MultiHeadAttention``):

    * ``in_proj.weight (3 d_model, d_model)``: ``[W^Q; W^K; W^V]`` stacked by rows (torch's
      ``in_proj_weight``), ``in_proj.bias (3 d_model,)`` (when ``bias``);
    * ``out_proj.weight (d_model, d_model)``, ``out_proj.bias (d_model,)`` (when ``bias``).

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
        bias: bool = True,
        dropout: float = 0.0,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        check_mha_config("MultiHeadAttention", d_model, num_heads)
        check_probability("MultiHeadAttention", "dropout", dropout)
        self.d_model, self.num_heads, self.head_dim = d_model, num_heads, d_model // num_heads
        self.in_proj = Linear(d_model, 3 * d_model, bias=bias, dtype=dtype, rng=rng)
        self.in_proj.weight = uniform_init((3 * d_model, d_model), math.sqrt(6.0 / (4 * d_model)), dtype, rng)
        self.out_proj = Linear(d_model, d_model, bias=bias, dtype=dtype, rng=rng)
        for proj in (self.in_proj, self.out_proj):
            if proj.bias is not None:
                proj.bias.data[...] = 0
        self.attention = ScaledDotProductAttention(dropout, rng=rng)
        self._cache: tuple | None = None

    @property
    def dropout(self) -> float:
        return self.attention.dropout

    # -- the three input projections, as row blocks of in_proj ----------------------------------------
    def _project(self, x: np.ndarray, block: int) -> np.ndarray:
        """``x W_block^T + b_block`` with ``W_block = in_proj.weight[block d : (block + 1) d]``."""
        rows = slice(block * self.d_model, (block + 1) * self.d_model)
        y = x @ self.in_proj.weight.data[rows].T  # (B, L, d) @ (d, d) -> (B, L, d)
        if self.in_proj.bias is not None:
            y += self.in_proj.bias.data[rows]
        return y

    def _project_backward(self, x: np.ndarray, block: int, grad: np.ndarray) -> np.ndarray:
        rows = slice(block * self.d_model, (block + 1) * self.d_model)
        g2d = grad.reshape(-1, self.d_model)  # (B, L, d) -> (B*L, d)
        self.in_proj.weight.grad[rows] += g2d.T @ x.reshape(-1, self.d_model)  # (d, B*L) @ (B*L, d) -> (d, d)
        if self.in_proj.bias is not None:
            self.in_proj.bias.grad[rows] += g2d.sum(axis=0)
        return grad @ self.in_proj.weight.data[rows]  # (B, L, d) @ (d, d) -> (B, L, d)

    def _split_heads(self, x: np.ndarray) -> np.ndarray:
        b, length, _ = x.shape
        return x.reshape(b, length, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)  # (B, L, d) -> (B, h, L, dh)

    def _merge_heads(self, x: np.ndarray) -> np.ndarray:
        b, _, length, _ = x.shape
        return x.transpose(0, 2, 1, 3).reshape(b, length, self.d_model)  # (B, h, L, dh) -> (B, L, d)

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

        q = self._split_heads(self._project(query, 0))  # (B, Lq, d) -> (B, h, Lq, dh)
        k = self._split_heads(self._project(key, 1))  # (B, Lk, d) -> (B, h, Lk, dh)
        v = self._split_heads(self._project(value, 2))  # (B, Lk, d) -> (B, h, Lk, dh)
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
        d_query = self._project_backward(query, 0, self._merge_heads(dq))  # (B, h, Lq, dh) -> (B, Lq, d)
        d_key = self._project_backward(key, 1, self._merge_heads(dk))  # (B, h, Lk, dh) -> (B, Lk, d)
        d_value = self._project_backward(value, 2, self._merge_heads(dv))  # (B, h, Lk, dh) -> (B, Lk, d)
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
        return f"d_model={self.d_model}, num_heads={self.num_heads}, dropout={self.dropout}"


