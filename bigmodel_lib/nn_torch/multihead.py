"""Multi-head attention in PyTorch: one fused QKV matmul, the fused SDPA kernel unless weights are asked for."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bigmodel_lib._checks import check_parameter_dtype, check_probability, check_tensor
from bigmodel_lib.contracts.multihead import check_mha_config, check_mha_inputs, mha_state_from_pytorch
from bigmodel_lib.nn_torch.attention import _attend
from bigmodel_lib.nn_torch.linear import Linear
from bigmodel_lib.nn_torch.module import Module


class MultiHeadAttention(Module):
    """``Concat(head_1, ..., head_h) W^O``, ``head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)``.

    Same contract and ``state_dict`` keys as ``nn_numpy.MultiHeadAttention``: ``in_proj.weight
    (3 d_model, d_model)`` = ``[W^Q; W^K; W^V]``, ``in_proj.bias (3 d_model,)``, ``out_proj.weight
    (d_model, d_model)``, ``out_proj.bias (d_model,)`` (biases only when ``bias``).

    Speed: self-attention (``key``/``value`` omitted or the very same tensor as ``query``) projects
    Q, K and V with **one** matmul; ``key is value`` (cross-attention on a memory) with two. Heads
    are views of the projection (no copies) handed to ``F.scaled_dot_product_attention``; the
    explicit formula runs only when ``need_weights=True``.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        *,
        bias: bool = True,
        dropout: float = 0.0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_mha_config("MultiHeadAttention", d_model, num_heads)
        check_probability("MultiHeadAttention", "dropout", dropout)
        self.d_model, self.num_heads, self.head_dim = d_model, num_heads, d_model // num_heads
        self.dropout = float(dropout)
        self.in_proj = Linear(d_model, 3 * d_model, bias=bias, device=device, dtype=dtype)
        self.out_proj = Linear(d_model, d_model, bias=bias, device=device, dtype=dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """As ``torch.nn.MultiheadAttention``: Xavier-uniform ``in_proj.weight``, zero biases."""
        nn.init.xavier_uniform_(self.in_proj.weight)
        self.out_proj.reset_parameters()
        for proj in (self.in_proj, self.out_proj):
            if proj.bias is not None:
                nn.init.zeros_(proj.bias)

    def _heads(self, x: torch.Tensor, parts: int) -> tuple[torch.Tensor, ...]:
        """Split a projection ``(B, L, parts * d)`` into ``parts`` views ``(B, h, L, dh)``."""
        b, length, _ = x.shape
        x = x.view(b, length, parts, self.num_heads, self.head_dim)  # (B, L, parts*d) -> (B, L, parts, h, dh)
        return x.permute(2, 0, 3, 1, 4).unbind(0)  # -> parts x (B, h, L, dh)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        *,
        causal: bool = False,
        need_weights: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        where = "MultiHeadAttention"
        if key is None and value is not None:
            raise ValueError(f"{where}: 'value' was given without 'key'; pass key too (or neither)")
        key = query if key is None else key
        value = key if value is None else value
        for name, x in (("query", query), ("key", key), ("value", value)):
            check_tensor(where, name, x)
        if mask is not None:
            check_tensor(where, "mask", mask)
        check_mha_inputs(where, self.d_model, self.num_heads, query, key, value, mask)
        check_parameter_dtype(where, "query", query, self.in_proj.weight)

        d = self.d_model
        w, b = self.in_proj.weight, self.in_proj.bias
        if key is query and value is query:  # self-attention: one matmul for Q, K and V
            q, k, v = self._heads(F.linear(query, w, b), 3)  # (B, L, d) -> (B, L, 3d) -> 3 x (B, h, L, dh)
        elif key is value:  # attending to a memory: Q, then K and V together
            b_q, b_kv = (None, None) if b is None else (b[:d], b[d:])
            (q,) = self._heads(F.linear(query, w[:d], b_q), 1)  # (B, Lq, d) -> (B, h, Lq, dh)
            k, v = self._heads(F.linear(key, w[d:], b_kv), 2)  # (B, Lk, d) -> (B, Lk, 2d) -> 2 x (B, h, Lk, dh)
        else:
            w_q, w_k, w_v = w.chunk(3)  # (3d, d) -> 3 x (d, d)
            b_q, b_k, b_v = (None, None, None) if b is None else b.chunk(3)  # (3d,) -> 3 x (d,)
            (q,) = self._heads(F.linear(query, w_q, b_q), 1)  # (B, Lq, d) -> (B, h, Lq, dh)
            (k,) = self._heads(F.linear(key, w_k, b_k), 1)  # (B, Lk, d) -> (B, h, Lk, dh)
            (v,) = self._heads(F.linear(value, w_v, b_v), 1)  # (B, Lk, d) -> (B, h, Lk, dh)

        dropout_p = self.dropout if self.training else 0.0
        result = _attend(q, k, v, mask, causal, need_weights, dropout_p, None)
        heads, weights = result if need_weights else (result, None)
        merged = heads.transpose(1, 2).reshape(query.shape[0], query.shape[1], d)  # (B, h, Lq, dh) -> (B, Lq, d)
        out = F.linear(merged, self.out_proj.weight, self.out_proj.bias)  # (B, Lq, d) -> (B, Lq, d)
        return (out, weights) if need_weights else out

    @classmethod
    def from_pytorch(cls, module: nn.MultiheadAttention) -> MultiHeadAttention:
        """An equal model built from a ``torch.nn.MultiheadAttention`` (see the NumPy twin for the rules)."""
        state = mha_state_from_pytorch(module)
        layer = cls(
            module.embed_dim,
            module.num_heads,
            bias=module.in_proj_bias is not None,
            dropout=module.dropout,
            device=module.in_proj_weight.device,
            dtype=module.in_proj_weight.dtype,
        )
        layer.load_state_dict(state)
        layer.train(module.training)
        return layer

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, num_heads={self.num_heads}, dropout={self.dropout}"
