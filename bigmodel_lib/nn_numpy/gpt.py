"""A small GPT (decoder-only Transformer, Radford et al. 2018/2019), forward and backward in NumPy.

Token ids in, next-token logits out::

    x_0    = E[idx] + P[:T]                         # token embedding + learned position embedding (B, T, d)
                                                    # (position="rope": x_0 = E[idx], positions rotate q, k)
    x_l    = Block_l(x_{l-1})                       # l = 1..n_layer, each a pre-LN layer with CAUSAL self-attention
    h      = LayerNorm_f(x_L)                       # (B, T, d)
    logits = h E^T                                  # weight tying: the output layer IS the embedding (B, T, V)

where ``Block(x) = h + FFN(LN_2(h))`` with ``h = x + CausalSelfAttn(LN_1(x))``. That block is exactly a
pre-LN :class:`~bigmodel_lib.nn_numpy.transformer.TransformerEncoderLayer` (GELU feed-forward of width
``4 d``) called with ``causal=True``: a GPT is the encoder stack of the Transformer with a causal mask
and no encoder-decoder split. Position ``t`` sees tokens ``0..t`` only, so the logits at ``t`` are a
prediction of token ``t + 1`` and one forward pass trains on all ``T`` predictions of a window at once.

Backward: tying makes the embedding matrix receive two gradients that are summed,
``dL/dE = g_logits^T h`` (output use) ``+ scatter(dL/dx_0)`` (lookup use). The PyTorch twin
(``nn_torch.gpt``) has the same ``state_dict`` keys and adds the optimized pieces: SDPA with
``is_causal``, a key/value cache for generation, AdamW parameter groups.

``GPTConfig(n_kv_head=..., position="rope")`` swaps each block's attention for one with grouped-query attention
and/or RoPE (:class:`~bigmodel_lib.nn_numpy.multihead.MultiHeadAttention`'s ``num_kv_heads``, ``rope_base``);
with RoPE there is no ``pos_emb`` and ``forward`` accepts any length.

``GPT.from_gpt2(state_dict, n_head=12)`` (both packages) builds the model from Hugging Face GPT-2 weights:
the same network, with the tanh GELU (``GPTConfig.gelu_approximate="tanh"``) and GPT-2's names, mapped by
:func:`bigmodel_lib.contracts.gpt.gpt2_key_map`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bigmodel_lib._checks import check_array, shape_str
from bigmodel_lib.contracts.gpt import (  # noqa: F401 -- re-exported: the contracts both packages keep
    GPTConfig,
    check_gpt_config,
    check_gpt_ids,
    gpt2_config_from_state,
    gpt2_init_std,
    gpt2_state_to_ours,
)
from bigmodel_lib.nn_numpy.container import Sequential
from bigmodel_lib.nn_numpy.dropout import Dropout
from bigmodel_lib.nn_numpy.embedding import Embedding
from bigmodel_lib.nn_numpy.functional import numpy_dtype_of, require_cache
from bigmodel_lib.nn_numpy.module import Module
from bigmodel_lib.nn_numpy.multihead import MultiHeadAttention
from bigmodel_lib.nn_numpy.normalization import LayerNorm
from bigmodel_lib.nn_numpy.transformer import TransformerEncoderLayer
from bigmodel_lib.utils import get_numpy_rng

__all__ = ["GPT", "GPTConfig", "check_gpt_config", "check_gpt_ids", "gpt2_init_std"]


class GPT(Module):
    """Decoder-only Transformer language model; see the module docstring for the formulas.

    ``forward(idx (B, T) ints) -> logits (B, T, vocab_size)``; ``backward(dL/dlogits)`` accumulates every
    parameter's gradient (and returns None: token ids have no gradient).

    Keys (as ``nn_torch.GPT``): ``tok_emb.weight (V, d)``, ``pos_emb.weight (block_size, d)`` (learned positions only),
    ``blocks.{l}.self_attn.in_proj.*``, ``blocks.{l}.self_attn.out_proj.*``, ``blocks.{l}.ffn.linear{1,2}.*``,
    ``blocks.{l}.norm{1,2}.*``, ``norm_f.*``. There is no ``lm_head`` key: the output layer is ``tok_emb``.
    Initialization as GPT-2: ``N(0, 0.02^2)`` weights, ``N(0, (0.02 / sqrt(2 n_layer))^2)`` for the two
    projections that write into the residual stream, zero biases.
    """

    def __init__(self, config: GPTConfig, *, dtype: Any = np.float32, rng: np.random.Generator | None = None) -> None:
        check_gpt_config("GPT", config)
        self.config = config
        rng = rng if rng is not None else get_numpy_rng()
        d = config.d_model
        self.tok_emb = Embedding(config.vocab_size, d, dtype=dtype, rng=rng)
        if config.position == "learned":  # with RoPE the positions enter inside attention: no table
            self.pos_emb = Embedding(config.block_size, d, dtype=dtype, rng=rng)
        self.dropout = Dropout(config.dropout, rng=rng)
        self.blocks = Sequential(*[
            TransformerEncoderLayer(d, config.n_head, config.d_ff, config.dropout, "gelu", norm_first=True,
                                    layer_norm_eps=config.layer_norm_eps, gelu_approximate=config.gelu_approximate,
                                    bias=config.bias, dtype=dtype, rng=rng)
            for _ in range(config.n_layer)
        ])
        if config.kv_heads != config.n_head or config.position == "rope":
            # grouped-query attention or RoPE: the layer's attention swapped for one built with them (same keys;
            # every weight is drawn again just below). The default config keeps the exact draws it always had.
            rope_base = config.rope_base if config.position == "rope" else None
            for block in self.blocks:
                block.self_attn = MultiHeadAttention(d, config.n_head, num_kv_heads=config.n_kv_head,
                                                     rope_base=rope_base, bias=config.bias, dropout=config.dropout,
                                                     dtype=dtype, rng=rng)
        self.norm_f = LayerNorm(d, eps=config.layer_norm_eps, bias=config.bias, dtype=dtype)
        for name, param in self.named_parameters():
            std = gpt2_init_std(name, config.n_layer)
            if std is not None:  # biases were built 0 and LayerNorm gains 1: they stay so
                param.data[...] = std * rng.standard_normal(param.data.shape)
        self._h: np.ndarray | None = None

    @classmethod
    def from_gpt2(
        cls, state_dict: Any, *, n_head: int, layer_norm_eps: float = 1e-5, dropout: float = 0.0, dtype: Any = None,
    ) -> GPT:
        """The course's GPT holding the weights of a Hugging Face GPT-2 ``state_dict`` (arrays or tensors).

        Keys with or without the ``transformer.`` prefix (``GPT2LMHeadModel.state_dict()`` / the hub's
        ``model.safetensors``); ``lm_head.weight``, if present, must be the tied ``wte.weight``; the mask
        buffers of older checkpoints are skipped. Sizes come from the shapes, ``n_head`` from you (it is in no
        shape). The four ``Conv1D`` weights (``c_attn``, ``c_proj``, ``c_fc``, ``mlp.c_proj``, stored ``(in, out)``)
        are transposed; the table is :func:`~bigmodel_lib.contracts.gpt.gpt2_key_map`, shared with ``nn_torch``.
        ``dtype``: that of ``wte.weight`` unless given.
        """
        config = gpt2_config_from_state(state_dict, n_head=n_head, layer_norm_eps=layer_norm_eps, dropout=dropout,
                                        where="GPT.from_gpt2")
        state = gpt2_state_to_ours(state_dict, config, where="GPT.from_gpt2")
        dtype = dtype if dtype is not None else numpy_dtype_of(state["tok_emb.weight"])
        model = cls(config, dtype=dtype, rng=np.random.default_rng(0))  # random start, overwritten just below
        model.load_state_dict(state)
        return model

    def forward(self, idx: np.ndarray) -> np.ndarray:
        check_array("GPT", "idx", idx)
        check_gpt_ids("GPT", idx, self.config)
        t = idx.shape[1]
        x = self.tok_emb(idx)  # (B, T, d)
        if self.config.position == "learned":
            x = x + self.pos_emb(np.arange(t))  # (B, T, d) + (T, d) -> (B, T, d)
        x = self.dropout(x)
        for block in self.blocks:
            x = block(x, causal=True)  # (B, T, d) -> (B, T, d)
        h = self.norm_f(x)
        self._h = h
        return h @ self.tok_emb.weight.data.T  # (B, T, d) @ (d, V) -> (B, T, V)

    def backward(self, grad_out: np.ndarray) -> None:
        h = require_cache(self, self._h)
        expected = h.shape[:-1] + (self.config.vocab_size,)
        if grad_out.shape != expected:
            raise ValueError(f"GPT.backward: 'grad_out' expected shape {expected}, got shape {shape_str(grad_out)}")
        w = self.tok_emb.weight
        w.grad += np.einsum("btv,btd->vd", grad_out, h)  # output use of the tied matrix: g^T h (V, d)
        g = self.norm_f.backward(grad_out @ w.data)  # (B, T, V) @ (V, d) -> (B, T, d)
        for block in reversed(list(self.blocks)):
            g = block.backward(g)
        g = self.dropout.backward(g)
        self.tok_emb.backward(g)  # lookup use of the tied matrix, added to the output use
        if self.config.position == "learned":
            self.pos_emb.backward(g.sum(axis=0))  # every sequence uses positions 0..T-1: (B, T, d) -> (T, d)
        return None

    def extra_repr(self) -> str:
        c = self.config
        extra = "" if c.n_kv_head is None else f", n_kv_head={c.n_kv_head}"
        extra += "" if c.position == "learned" else f", position={c.position!r}"
        return f"vocab_size={c.vocab_size}, block_size={c.block_size}, n_layer={c.n_layer}, " \
               f"n_head={c.n_head}{extra}, d_model={c.d_model}"
