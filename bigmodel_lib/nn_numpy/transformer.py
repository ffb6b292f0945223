"""The Transformer's encoder and decoder layers (Vaswani et al., 2017), forward and backward in NumPy.

Each layer is a stack of *sublayers* -- self-attention, cross-attention (decoder only), a
position-wise feed-forward network -- each wrapped in a residual connection and a LayerNorm, in
one of two placements:

* post-LN (``norm_first=False``, the paper): ``x = LayerNorm(x + Dropout(Sublayer(x)))``;
* pre-LN (``norm_first=True``, GPT-2 and most large models): ``x = x + Dropout(Sublayer(LayerNorm(x)))``.

Backward follows the same graph in reverse: a residual connection ``y = x + f(x)`` adds the
gradient of its two paths, ``dL/dx = g + J_f^T g``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bigmodel_lib._checks import (
    check_array,
    check_features,
    check_positive_int,
    check_probability,
)
from bigmodel_lib.contracts.transformer import (  # noqa: F401 -- re-exported: the contracts both packages keep
    FFN_ACTIVATIONS,
    _activation_name,
    check_activation,
    check_decoder_inputs,
    check_encoder_inputs,
    check_layer_config,
    check_layer_mask,
    check_sequence,
    layer_config_from_pytorch,
    layer_state_from_pytorch,
)
from bigmodel_lib.nn_numpy.activations import GELU, ReLU
from bigmodel_lib.nn_numpy.attention import _split_grad
from bigmodel_lib.nn_numpy.dropout import Dropout
from bigmodel_lib.nn_numpy.functional import numpy_dtype_of, require_cache
from bigmodel_lib.nn_numpy.linear import Linear
from bigmodel_lib.nn_numpy.module import Module
from bigmodel_lib.nn_numpy.multihead import MultiHeadAttention
from bigmodel_lib.nn_numpy.normalization import LayerNorm

# -- checks and PyTorch conversion, shared with nn_torch.transformer ----------------------------------------


# -- the layers ------------------------------------------------------------------------------------------------


class PositionwiseFeedForward(Module):
    """``FFN(x) = Linear_2(Dropout(act(Linear_1(x))))``, applied to every position independently.

    With ``act = ReLU`` this is the paper's ``max(0, x W_1 + b_1) W_2 + b_2``, ``W_1: d_model -> d_ff``,
    ``W_2: d_ff -> d_model`` (``d_ff = 4 d_model`` is customary).
    ``activation="gelu"`` is the exact GELU, or its tanh approximation with ``gelu_approximate="tanh"``
    (GPT-2's; the two differ by less than 1e-3 for any input).

    Parameters (``state_dict`` keys, identical in ``nn_torch.PositionwiseFeedForward``):
    ``linear1.weight (d_ff, d_model)``, ``linear1.bias (d_ff,)``, ``linear2.weight (d_model, d_ff)``,
    ``linear2.bias (d_model,)`` (biases only when ``bias``).
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
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        where = "PositionwiseFeedForward"
        check_positive_int(where, "d_model", d_model)
        check_positive_int(where, "d_ff", d_ff)
        check_probability(where, "dropout", dropout)
        check_activation(where, activation, gelu_approximate)
        self.d_model, self.d_ff, self.activation_name = d_model, d_ff, activation
        self.gelu_approximate = gelu_approximate
        self.linear1 = Linear(d_model, d_ff, bias=bias, dtype=dtype, rng=rng)
        self.activation = ReLU() if activation == "relu" else GELU(approximate=gelu_approximate)
        self.dropout = Dropout(dropout, rng=rng)
        self.linear2 = Linear(d_ff, d_model, bias=bias, dtype=dtype, rng=rng)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array("PositionwiseFeedForward", "x", x)
        check_features("PositionwiseFeedForward", "x", x, self.d_model)
        h = self.linear1(x)  # (..., d_model) -> (..., d_ff)
        return self.linear2(self.dropout(self.activation(h)))  # (..., d_ff) -> (..., d_model)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        g = self.dropout.backward(self.linear2.backward(grad_out))  # (..., d_model) -> (..., d_ff)
        return self.linear1.backward(self.activation.backward(g))  # (..., d_ff) -> (..., d_model)

    def extra_repr(self) -> str:
        tanh = ", gelu_approximate='tanh'" if self.gelu_approximate == "tanh" else ""
        return f"d_model={self.d_model}, d_ff={self.d_ff}, activation={self.activation_name!r}{tanh}"


class TransformerEncoderLayer(Module):
    """One encoder layer: self-attention, then a feed-forward network, each with residual + LayerNorm.

    Post-LN (``norm_first=False``, the paper)::

        h = LayerNorm_1(x + Dropout(SelfAttn(x)))
        y = LayerNorm_2(h + Dropout(FFN(h)))

    Pre-LN (``norm_first=True``)::

        h = x + Dropout(SelfAttn(LayerNorm_1(x)))
        y = h + Dropout(FFN(LayerNorm_2(h)))

    Parameters (``state_dict`` keys, identical in ``nn_torch.TransformerEncoderLayer``; biases only
    when ``bias``):

    * ``self_attn.in_proj.weight (3 d_model, d_model)``, ``self_attn.in_proj.bias (3 d_model,)``,
      ``self_attn.out_proj.weight (d_model, d_model)``, ``self_attn.out_proj.bias (d_model,)``;
    * ``ffn.linear1.weight (d_ff, d_model)``, ``ffn.linear1.bias (d_ff,)``,
      ``ffn.linear2.weight (d_model, d_ff)``, ``ffn.linear2.bias (d_model,)``;
    * ``norm1.weight``, ``norm1.bias``, ``norm2.weight``, ``norm2.bias`` (each ``(d_model,)``).

    ``forward(x (B, L, d_model), mask=None, *, causal=False, need_weights=False)``: ``mask`` is bool,
    ``(L, L)`` or broadcastable to ``(B, heads, L, L)``, ``True`` = may attend (a key-padding mask
    is ``(B, 1, 1, L)``; torch's ``src_key_padding_mask`` is ``~mask[:, 0, 0, :]``). Returns
    ``y (B, L, d_model)``, or ``(y, weights (B, heads, L, L))``. ``backward(g)`` (or ``(g, g_weights)``)
    returns ``dx`` -- the self-attention's three paths summed, plus the residual path.
    ``dropout`` drops the attention weights, the FFN's hidden units and each sublayer's output.
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
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        check_layer_config("TransformerEncoderLayer", d_model, num_heads, d_ff, dropout, activation, gelu_approximate)
        self.d_model, self.num_heads, self.d_ff, self.norm_first = d_model, num_heads, d_ff, bool(norm_first)
        self.self_attn = MultiHeadAttention(d_model, num_heads, bias=bias, dropout=dropout, dtype=dtype, rng=rng)
        self.ffn = PositionwiseFeedForward(d_model, d_ff, dropout, activation, gelu_approximate=gelu_approximate,
                                          bias=bias, dtype=dtype, rng=rng)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout, rng=rng)
        self.dropout2 = Dropout(dropout, rng=rng)
        self._need_weights: bool | None = None

    def forward(
        self,
        x: np.ndarray,
        mask: np.ndarray | None = None,
        *,
        causal: bool = False,
        need_weights: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        where = "TransformerEncoderLayer"
        check_array(where, "x", x)
        if mask is not None:
            check_array(where, "mask", mask)
        check_encoder_inputs(where, self.d_model, self.num_heads, x, mask)

        def attend(h: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
            result = self.self_attn(h, mask=mask, causal=causal, need_weights=need_weights)
            a, w = result if need_weights else (result, None)
            return self.dropout1(a), w

        if self.norm_first:
            a, weights = attend(self.norm1(x))
            h = x + a  # h = x + Dropout(SelfAttn(LN_1(x)))
            y = h + self.dropout2(self.ffn(self.norm2(h)))  # y = h + Dropout(FFN(LN_2(h)))
        else:
            a, weights = attend(x)
            h = self.norm1(x + a)  # h = LN_1(x + Dropout(SelfAttn(x)))
            y = self.norm2(h + self.dropout2(self.ffn(h)))  # y = LN_2(h + Dropout(FFN(h)))
        self._need_weights = need_weights
        return (y, weights) if need_weights else y

    def backward(self, grad_out: np.ndarray | tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        need_weights = require_cache(self, self._need_weights)
        g, g_weights = _split_grad(grad_out)

        def attend_backward(g_a: np.ndarray) -> np.ndarray:
            g_a = self.dropout1.backward(g_a)
            return self.self_attn.backward(g_a if g_weights is None or not need_weights else (g_a, g_weights))

        if self.norm_first:
            g_h = g + self.norm2.backward(self.ffn.backward(self.dropout2.backward(g)))  # residual + FFN path
            return g_h + self.norm1.backward(attend_backward(g_h))  # residual + attention path
        g_s = self.norm2.backward(g)  # through LN_2: dL/d(h + FFN(h))
        g_h = g_s + self.ffn.backward(self.dropout2.backward(g_s))
        g_r = self.norm1.backward(g_h)  # through LN_1: dL/d(x + SelfAttn(x))
        return g_r + attend_backward(g_r)

    @classmethod
    def from_pytorch(cls, module: Any) -> TransformerEncoderLayer:
        """An equal NumPy layer built from a ``torch.nn.TransformerEncoderLayer`` (weights copied, dtype kept).

        Use it with ``batch_first=True`` inputs (the weights do not depend on that flag). Masks:
        ``src_key_padding_mask`` (True = ignore) becomes ``mask = ~src_key_padding_mask[:, None, None, :]``;
        a bool ``src_mask`` (True = not allowed) becomes ``~src_mask``; ``is_causal`` becomes ``causal=True``.
        """
        layer = cls(**layer_config_from_pytorch(module), dtype=numpy_dtype_of(module.linear1.weight))
        layer.load_state_dict(layer_state_from_pytorch(module))
        layer.train(module.training)
        return layer

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, num_heads={self.num_heads}, d_ff={self.d_ff}, norm_first={self.norm_first}"


class TransformerDecoderLayer(Module):
    """One decoder layer: masked self-attention, cross-attention over ``memory``, then a feed-forward network.

    Post-LN (``norm_first=False``, the paper), with ``m`` the encoder output (``memory``)::

        h_1 = LayerNorm_1(x + Dropout(SelfAttn(x)))             # causal: position i sees 0..i
        h_2 = LayerNorm_2(h_1 + Dropout(CrossAttn(h_1, m, m)))  # queries from the decoder, keys/values from m
        y   = LayerNorm_3(h_2 + Dropout(FFN(h_2)))

    Pre-LN (``norm_first=True``; ``memory`` itself is not normalized here)::

        h_1 = x + Dropout(SelfAttn(LayerNorm_1(x)))
        h_2 = h_1 + Dropout(CrossAttn(LayerNorm_2(h_1), m, m))
        y   = h_2 + Dropout(FFN(LayerNorm_3(h_2)))

    Parameters (``state_dict`` keys, identical in ``nn_torch.TransformerDecoderLayer``; biases only
    when ``bias``): ``self_attn.{in_proj,out_proj}.{weight,bias}`` and ``cross_attn.{in_proj,out_proj}.{weight,bias}``
    (shapes as in :class:`MultiHeadAttention`), ``ffn.linear1.weight (d_ff, d_model)``, ``ffn.linear1.bias (d_ff,)``,
    ``ffn.linear2.weight (d_model, d_ff)``, ``ffn.linear2.bias (d_model,)``, ``norm{1,2,3}.{weight,bias} (d_model,)``.

    ``forward(x (B, T, d_model), memory (B, S, d_model), tgt_mask=None, memory_mask=None, *, causal=True,
    need_weights=False)``: ``tgt_mask`` (``(T, T)`` or broadcastable to ``(B, heads, T, T)``) is combined
    with the causal mask; ``memory_mask`` (``(T, S)`` or broadcastable to ``(B, heads, T, S)``; memory
    padding: ``(B, 1, 1, S)``); ``True`` = may attend. Returns ``y (B, T, d_model)``, or
    ``(y, self_weights (B, heads, T, T), cross_weights (B, heads, T, S))``. ``backward(g)`` (or
    ``(g, g_self_weights, g_cross_weights)``) returns ``(dx, dmemory)``.
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
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        check_layer_config("TransformerDecoderLayer", d_model, num_heads, d_ff, dropout, activation, gelu_approximate)
        self.d_model, self.num_heads, self.d_ff, self.norm_first = d_model, num_heads, d_ff, bool(norm_first)
        self.self_attn = MultiHeadAttention(d_model, num_heads, bias=bias, dropout=dropout, dtype=dtype, rng=rng)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, bias=bias, dropout=dropout, dtype=dtype, rng=rng)
        self.ffn = PositionwiseFeedForward(d_model, d_ff, dropout, activation, gelu_approximate=gelu_approximate,
                                          bias=bias, dtype=dtype, rng=rng)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout, rng=rng)
        self.dropout2 = Dropout(dropout, rng=rng)
        self.dropout3 = Dropout(dropout, rng=rng)
        self._need_weights: bool | None = None

    def forward(
        self,
        x: np.ndarray,
        memory: np.ndarray,
        tgt_mask: np.ndarray | None = None,
        memory_mask: np.ndarray | None = None,
        *,
        causal: bool = True,
        need_weights: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]:
        where = "TransformerDecoderLayer"
        check_array(where, "x", x)
        check_array(where, "memory", memory)
        for name, m in (("tgt_mask", tgt_mask), ("memory_mask", memory_mask)):
            if m is not None:
                check_array(where, name, m)
        check_decoder_inputs(where, self.d_model, self.num_heads, x, memory, tgt_mask, memory_mask)

        def self_attend(q: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
            result = self.self_attn(q, mask=tgt_mask, causal=causal, need_weights=need_weights)
            a, w = result if need_weights else (result, None)
            return self.dropout1(a), w

        def cross_attend(q: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
            result = self.cross_attn(q, memory, mask=memory_mask, need_weights=need_weights)
            a, w = result if need_weights else (result, None)
            return self.dropout2(a), w

        if self.norm_first:
            a, w_self = self_attend(self.norm1(x))
            h1 = x + a  # h_1 = x + Dropout(SelfAttn(LN_1(x)))
            a, w_cross = cross_attend(self.norm2(h1))
            h2 = h1 + a  # h_2 = h_1 + Dropout(CrossAttn(LN_2(h_1), m))
            y = h2 + self.dropout3(self.ffn(self.norm3(h2)))  # y = h_2 + Dropout(FFN(LN_3(h_2)))
        else:
            a, w_self = self_attend(x)
            h1 = self.norm1(x + a)  # h_1 = LN_1(x + Dropout(SelfAttn(x)))
            a, w_cross = cross_attend(h1)
            h2 = self.norm2(h1 + a)  # h_2 = LN_2(h_1 + Dropout(CrossAttn(h_1, m)))
            y = self.norm3(h2 + self.dropout3(self.ffn(h2)))  # y = LN_3(h_2 + Dropout(FFN(h_2)))
        self._need_weights = need_weights
        return (y, w_self, w_cross) if need_weights else y

    def backward(
        self, grad_out: np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        need_weights = require_cache(self, self._need_weights)
        g_self_w = g_cross_w = None
        if isinstance(grad_out, tuple):
            if len(grad_out) != 3:
                raise ValueError(
                    "TransformerDecoderLayer.backward: expected grad_out or (grad_out, grad_self_weights, "
                    f"grad_cross_weights), got a tuple of {len(grad_out)}"
                )
            g, g_self_w, g_cross_w = grad_out
        else:
            g = grad_out

        def with_weights(g_a: np.ndarray, g_w: np.ndarray | None) -> Any:
            return (g_a, g_w) if need_weights and g_w is not None else g_a

        def self_backward(g_a: np.ndarray) -> np.ndarray:
            return self.self_attn.backward(with_weights(self.dropout1.backward(g_a), g_self_w))

        def cross_backward(g_a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            return self.cross_attn.backward(with_weights(self.dropout2.backward(g_a), g_cross_w))  # (dq, dmemory)

        if self.norm_first:
            g_h2 = g + self.norm3.backward(self.ffn.backward(self.dropout3.backward(g)))
            dq, d_memory = cross_backward(g_h2)
            g_h1 = g_h2 + self.norm2.backward(dq)
            dx = g_h1 + self.norm1.backward(self_backward(g_h1))
            return dx, d_memory
        g_s3 = self.norm3.backward(g)  # dL/d(h_2 + FFN(h_2))
        g_h2 = g_s3 + self.ffn.backward(self.dropout3.backward(g_s3))
        g_s2 = self.norm2.backward(g_h2)  # dL/d(h_1 + CrossAttn(h_1, m))
        dq, d_memory = cross_backward(g_s2)
        g_h1 = g_s2 + dq
        g_s1 = self.norm1.backward(g_h1)  # dL/d(x + SelfAttn(x))
        return g_s1 + self_backward(g_s1), d_memory

    @classmethod
    def from_pytorch(cls, module: Any) -> TransformerDecoderLayer:
        """An equal NumPy layer built from a ``torch.nn.TransformerDecoderLayer`` (weights copied, dtype kept).

        Use it with ``batch_first=True`` inputs. Masks: torch's ``tgt_is_causal=True`` with the square
        subsequent ``tgt_mask`` is our ``causal=True``; ``tgt_key_padding_mask`` /
        ``memory_key_padding_mask`` (True = ignore) become ``tgt_mask`` / ``memory_mask`` =
        ``~padding[:, None, None, :]``; a bool ``memory_mask`` (True = not allowed) becomes its negation.
        """
        layer = cls(**layer_config_from_pytorch(module), dtype=numpy_dtype_of(module.linear1.weight))
        layer.load_state_dict(layer_state_from_pytorch(module))
        layer.train(module.training)
        return layer

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, num_heads={self.num_heads}, d_ff={self.d_ff}, norm_first={self.norm_first}"
