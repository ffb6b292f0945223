"""Multi-head attention in PyTorch: one fused QKV matmul, the fused SDPA kernel unless weights are asked for."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bigmodel_lib._checks import check_parameter_dtype, check_probability, check_tensor
from bigmodel_lib.contracts.multihead import check_mha_config, check_mha_inputs, mha_state_from_pytorch
from bigmodel_lib.contracts.positional import check_rotary_config
from bigmodel_lib.nn_torch.attention import _attend
from bigmodel_lib.nn_torch.linear import Linear
from bigmodel_lib.nn_torch.module import Module
from bigmodel_lib.nn_torch.positional import rotary_embedding


class MultiHeadAttention(Module):
    """``Concat(head_1, ..., head_h) W^O``, ``head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)``.

    Same contract and ``state_dict`` keys as ``nn_numpy.MultiHeadAttention``: ``in_proj.weight
    (d_model + 2 kv, d_model)`` = ``[W^Q; W^K; W^V]`` (``kv = num_kv_heads * d_head``; ``(3 d_model, d_model)``
    by default), ``in_proj.bias (d_model + 2 kv,)``, ``out_proj.weight (d_model, d_model)``, ``out_proj.bias
    (d_model,)`` (biases only when ``bias``). ``num_kv_heads`` < ``num_heads``: grouped-query attention (query
    head ``j`` uses key/value head ``j // group``, as ``F.scaled_dot_product_attention(..., enable_gqa=True)``);
    ``rope_base``: queries and keys rotated by RoPE at positions ``0..L-1``.

    Speed: self-attention (``key``/``value`` omitted or the very same tensor as ``query``) projects
    Q, K and V with **one** matmul; ``key is value`` (cross-attention on a memory) with two. Heads
    are views of the projection (no copies) handed to ``F.scaled_dot_product_attention``; the
    explicit formula runs only when ``need_weights=True``.

    Subclasses (the GPT's causal attention, the long-context variants) build on three steps:
    :meth:`_qkv` (project and split into heads), :meth:`_rotate` (RoPE) and :meth:`_share_kv` (GQA).
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
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.num_kv_heads = check_mha_config("MultiHeadAttention", d_model, num_heads, num_kv_heads)
        check_probability("MultiHeadAttention", "dropout", dropout)
        self.d_model, self.num_heads, self.head_dim = d_model, num_heads, d_model // num_heads
        if rope_base is not None:
            check_rotary_config("MultiHeadAttention", self.head_dim, rope_base)
        self.rope_base = None if rope_base is None else float(rope_base)
        self.kv_width = self.num_kv_heads * self.head_dim
        self.dropout = float(dropout)
        self.in_proj = Linear(d_model, d_model + 2 * self.kv_width, bias=bias, device=device, dtype=dtype)
        self.out_proj = Linear(d_model, d_model, bias=bias, device=device, dtype=dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """As ``torch.nn.MultiheadAttention``: Xavier-uniform ``in_proj.weight``, zero biases."""
        nn.init.xavier_uniform_(self.in_proj.weight)
        self.out_proj.reset_parameters()
        for proj in (self.in_proj, self.out_proj):
            if proj.bias is not None:
                nn.init.zeros_(proj.bias)

    @property
    def group_size(self) -> int:
        """Query heads per key/value head."""
        return self.num_heads // self.num_kv_heads

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """A projection ``(B, L, heads * dh)`` as a view ``(B, heads, L, dh)``."""
        b, length, width = x.shape
        return x.view(b, length, width // self.head_dim, self.head_dim).transpose(1, 2)  # (B, L, w) -> (B, n, L, dh)

    def _qkv(self, x: torch.Tensor, which: str = "qkv") -> tuple[torch.Tensor, ...]:
        """The projections of ``x`` named by ``which`` ("qkv", "q", "kv", "k" or "v"), split into heads.

        One matmul for all the blocks asked: ``in_proj`` rows ``[Q (d); K (kv); V (kv)]``.
        """
        d, kv = self.d_model, self.kv_width
        rows = {"q": (0, d), "k": (d, d + kv), "v": (d + kv, d + 2 * kv)}
        start, end = rows[which[0]][0], rows[which[-1]][1]
        b = self.in_proj.bias
        y = F.linear(x, self.in_proj.weight[start:end], None if b is None else b[start:end])  # (B, L, width)
        sizes = [rows[part][1] - rows[part][0] for part in which]
        return tuple(self._split(part) for part in y.split(sizes, dim=-1))  # each (B, heads, L, dh)

    def _rotate(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """RoPE on heads ``(B, n, L, dh)`` at positions ``start..start+L-1`` (the identity without ``rope_base``)."""
        if self.rope_base is None:
            return x
        positions = torch.arange(start, start + x.shape[-2], device=x.device)
        return rotary_embedding(x, positions, base=self.rope_base)

    def _share_kv(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, h_kv, L, dh) -> (B, h, L, dh)``: each key/value head repeated for its group of query heads."""
        return x if self.group_size == 1 else x.repeat_interleave(self.group_size, dim=1)

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
        if key is query and value is query:  # self-attention: one matmul for Q, K and V
            q, k, v = self._qkv(query, "qkv")  # (B, L, d) -> (B, h, L, dh), 2 x (B, h_kv, L, dh)
        elif key is value:  # attending to a memory: Q, then K and V together
            (q,) = self._qkv(query, "q")  # (B, Lq, d) -> (B, h, Lq, dh)
            k, v = self._qkv(key, "kv")  # (B, Lk, d) -> 2 x (B, h_kv, Lk, dh)
        else:
            (q,), (k,), (v,) = self._qkv(query, "q"), self._qkv(key, "k"), self._qkv(value, "v")
        q, k = self._rotate(q), self._rotate(k)
        k, v = self._share_kv(k), self._share_kv(v)  # (B, h_kv, Lk, dh) -> (B, h, Lk, dh)

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
        extra = "" if self.num_kv_heads == self.num_heads else f", num_kv_heads={self.num_kv_heads}"
        extra += "" if self.rope_base is None else f", rope_base={self.rope_base}"
        return f"d_model={self.d_model}, num_heads={self.num_heads}{extra}, dropout={self.dropout}"
