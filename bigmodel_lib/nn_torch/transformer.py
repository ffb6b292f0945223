"""The Transformer's encoder and decoder layers in PyTorch, built on the library's fused MultiHeadAttention.

Same formulas, constructor arguments and ``state_dict`` keys as ``nn_numpy.transformer`` (see there);
autograd supplies the backward pass. Attention runs through ``F.scaled_dot_product_attention``
(flash / memory-efficient kernels on a GPU) unless ``need_weights=True``.
"""

from __future__ import annotations

import torch
from torch import nn

from bigmodel_lib._checks import check_positive_int, check_probability, check_tensor
from bigmodel_lib.contracts.transformer import (
    check_activation,
    check_decoder_inputs,
    check_encoder_inputs,
    check_layer_config,
    layer_config_from_pytorch,
    layer_state_from_pytorch,
)
from bigmodel_lib.nn_torch.activations import GELU, ReLU
from bigmodel_lib.nn_torch.dropout import Dropout
from bigmodel_lib.nn_torch.linear import Linear
from bigmodel_lib.nn_torch.module import Module
from bigmodel_lib.nn_torch.multihead import MultiHeadAttention
from bigmodel_lib.nn_torch.normalization import LayerNorm


class PositionwiseFeedForward(Module):
    """``FFN(x) = Linear_2(Dropout(act(Linear_1(x))))``, ``act`` ReLU or GELU (exact, or
    ``gelu_approximate="tanh"`` as in GPT-2).

    Keys as ``nn_numpy.PositionwiseFeedForward``: ``linear1.weight (d_ff, d_model)``, ``linear1.bias (d_ff,)``,
    ``linear2.weight (d_model, d_ff)``, ``linear2.bias (d_model,)``.
    """

    def __init__(
        self,
        d_model: int,
        d_ff: int,
        dropout: float = 0.0,
        activation: str = "relu",
        *,
        gelu_approximate: str = "none",
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        where = "PositionwiseFeedForward"
        check_positive_int(where, "d_model", d_model)
        check_positive_int(where, "d_ff", d_ff)
        check_probability(where, "dropout", dropout)
        check_activation(where, activation, gelu_approximate)
        self.d_model, self.d_ff, self.activation_name = d_model, d_ff, activation
        self.gelu_approximate = gelu_approximate
        self.linear1 = Linear(d_model, d_ff, bias=bias, device=device, dtype=dtype)
        self.activation = ReLU() if activation == "relu" else GELU(approximate=gelu_approximate)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(d_ff, d_model, bias=bias, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("PositionwiseFeedForward", "x", x)
        return self.linear2(self.dropout(self.activation(self.linear1(x))))  # (..., d) -> (..., d_ff) -> (..., d)

    def extra_repr(self) -> str:
        tanh = ", gelu_approximate='tanh'" if self.gelu_approximate == "tanh" else ""
        return f"d_model={self.d_model}, d_ff={self.d_ff}, activation={self.activation_name!r}{tanh}"


class TransformerEncoderLayer(Module):
    """Self-attention then FFN, each with residual + LayerNorm (post-LN, or pre-LN with ``norm_first``).

    ``norm_first=False``: ``h = LN_1(x + Drop(SelfAttn(x)))``, ``y = LN_2(h + Drop(FFN(h)))``.
    ``norm_first=True``: ``h = x + Drop(SelfAttn(LN_1(x)))``, ``y = h + Drop(FFN(LN_2(h)))``.

    Keys as ``nn_numpy.TransformerEncoderLayer``: ``self_attn.in_proj.{weight,bias}``,
    ``self_attn.out_proj.{weight,bias}``, ``ffn.linear1.{weight,bias}``, ``ffn.linear2.{weight,bias}``,
    ``norm1.{weight,bias}``, ``norm2.{weight,bias}``.

    ``forward(x (B, L, d), mask=None, *, causal=False, need_weights=False)``: ``mask`` bool, True = may
    attend. Returns ``y`` or ``(y, weights (B, heads, L, L))``; without weights the self-attention
    takes the fused SDPA path.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        activation: str = "relu",
        norm_first: bool = False,
        *,
        layer_norm_eps: float = 1e-5,
        gelu_approximate: str = "none",
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_layer_config("TransformerEncoderLayer", d_model, num_heads, d_ff, dropout, activation, gelu_approximate)
        self.d_model, self.num_heads, self.d_ff, self.norm_first = d_model, num_heads, d_ff, bool(norm_first)
        factory = {"device": device, "dtype": dtype}
        self.self_attn = MultiHeadAttention(d_model, num_heads, bias=bias, dropout=dropout, **factory)
        self.ffn = PositionwiseFeedForward(d_model, d_ff, dropout, activation, gelu_approximate=gelu_approximate,
                                          bias=bias, **factory)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        *,
        causal: bool = False,
        need_weights: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        where = "TransformerEncoderLayer"
        check_tensor(where, "x", x)
        if mask is not None:
            check_tensor(where, "mask", mask)
        check_encoder_inputs(where, self.d_model, self.num_heads, x, mask)

        def attend(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
            result = self.self_attn(h, mask=mask, causal=causal, need_weights=need_weights)
            a, w = result if need_weights else (result, None)
            return self.dropout1(a), w

        if self.norm_first:
            a, weights = attend(self.norm1(x))
            h = x + a
            y = h + self.dropout2(self.ffn(self.norm2(h)))
        else:
            a, weights = attend(x)
            h = self.norm1(x + a)
            y = self.norm2(h + self.dropout2(self.ffn(h)))
        return (y, weights) if need_weights else y

    @classmethod
    def from_pytorch(cls, module: nn.TransformerEncoderLayer) -> TransformerEncoderLayer:
        """An equal model built from a ``torch.nn.TransformerEncoderLayer`` (see the NumPy twin for masks)."""
        ref = module.linear1.weight
        layer = cls(**layer_config_from_pytorch(module), device=ref.device, dtype=ref.dtype)
        layer.load_state_dict(layer_state_from_pytorch(module))
        layer.train(module.training)
        return layer

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, num_heads={self.num_heads}, d_ff={self.d_ff}, norm_first={self.norm_first}"


class TransformerDecoderLayer(Module):
    """Causal self-attention, cross-attention over ``memory``, FFN; each with residual + LayerNorm.

    ``norm_first=False``: ``h_1 = LN_1(x + Drop(SelfAttn(x)))``, ``h_2 = LN_2(h_1 + Drop(CrossAttn(h_1, m)))``,
    ``y = LN_3(h_2 + Drop(FFN(h_2)))``; ``norm_first=True``: ``h_1 = x + Drop(SelfAttn(LN_1(x)))``,
    ``h_2 = h_1 + Drop(CrossAttn(LN_2(h_1), m))``, ``y = h_2 + Drop(FFN(LN_3(h_2)))``.

    Keys as ``nn_numpy.TransformerDecoderLayer``: ``self_attn.*``, ``cross_attn.*`` (each
    ``in_proj.{weight,bias}``, ``out_proj.{weight,bias}``), ``ffn.linear1.*``, ``ffn.linear2.*``,
    ``norm1.*``, ``norm2.*``, ``norm3.*``.

    ``forward(x (B, T, d), memory (B, S, d), tgt_mask=None, memory_mask=None, *, causal=True,
    need_weights=False)`` -> ``y`` or ``(y, self_weights, cross_weights)``. The cross-attention
    projects K and V of ``memory`` with one matmul; both attentions use fused SDPA without weights.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        activation: str = "relu",
        norm_first: bool = False,
        *,
        layer_norm_eps: float = 1e-5,
        gelu_approximate: str = "none",
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_layer_config("TransformerDecoderLayer", d_model, num_heads, d_ff, dropout, activation, gelu_approximate)
        self.d_model, self.num_heads, self.d_ff, self.norm_first = d_model, num_heads, d_ff, bool(norm_first)
        factory = {"device": device, "dtype": dtype}
        self.self_attn = MultiHeadAttention(d_model, num_heads, bias=bias, dropout=dropout, **factory)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, bias=bias, dropout=dropout, **factory)
        self.ffn = PositionwiseFeedForward(d_model, d_ff, dropout, activation, gelu_approximate=gelu_approximate,
                                          bias=bias, **factory)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **factory)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        *,
        causal: bool = True,
        need_weights: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        where = "TransformerDecoderLayer"
        check_tensor(where, "x", x)
        check_tensor(where, "memory", memory)
        for name, m in (("tgt_mask", tgt_mask), ("memory_mask", memory_mask)):
            if m is not None:
                check_tensor(where, name, m)
        check_decoder_inputs(where, self.d_model, self.num_heads, x, memory, tgt_mask, memory_mask)

        def self_attend(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
            result = self.self_attn(q, mask=tgt_mask, causal=causal, need_weights=need_weights)
            a, w = result if need_weights else (result, None)
            return self.dropout1(a), w

        def cross_attend(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
            result = self.cross_attn(q, memory, mask=memory_mask, need_weights=need_weights)
            a, w = result if need_weights else (result, None)
            return self.dropout2(a), w

        if self.norm_first:
            a, w_self = self_attend(self.norm1(x))
            h1 = x + a
            a, w_cross = cross_attend(self.norm2(h1))
            h2 = h1 + a
            y = h2 + self.dropout3(self.ffn(self.norm3(h2)))
        else:
            a, w_self = self_attend(x)
            h1 = self.norm1(x + a)
            a, w_cross = cross_attend(h1)
            h2 = self.norm2(h1 + a)
            y = self.norm3(h2 + self.dropout3(self.ffn(h2)))
        return (y, w_self, w_cross) if need_weights else y

    @classmethod
    def from_pytorch(cls, module: nn.TransformerDecoderLayer) -> TransformerDecoderLayer:
        """An equal model built from a ``torch.nn.TransformerDecoderLayer`` (see the NumPy twin for masks)."""
        ref = module.linear1.weight
        layer = cls(**layer_config_from_pytorch(module), device=ref.device, dtype=ref.dtype)
        layer.load_state_dict(layer_state_from_pytorch(module))
        layer.train(module.training)
        return layer

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, num_heads={self.num_heads}, d_ff={self.d_ff}, norm_first={self.norm_first}"
