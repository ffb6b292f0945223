"""A small GPT in optimized PyTorch: the same model and ``state_dict`` keys as ``nn_numpy.gpt``.

What makes it fast, and where it lives in this file:

* **fused QKV**: one ``(d -> 3d)`` matmul for queries, keys and values (:class:`CausalSelfAttention`);
* **fused attention**: ``F.scaled_dot_product_attention(..., is_causal=True)`` -- flash or
  memory-efficient kernels on a GPU, no ``(T, T)`` mask tensor built;
* **weight tying**: the output layer is the token embedding, ``logits = h E^T`` (``V d`` fewer
  parameters, and the gradient of ``E`` gets both uses);
* **a key/value cache** for generation (:class:`KVCache`): each new token computes its own
  ``q, k, v`` once and attends to the stored keys and values, instead of re-running the whole prefix;
* **AdamW parameter groups** (:meth:`GPT.configure_optimizer`): weight decay on matrices only.

Training-loop pieces (warm-up + cosine schedule, gradient clipping, bf16 autocast, ``torch.compile``)
are in :mod:`bigmodel_lib.lm_training`.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bigmodel_lib._checks import check_tensor
from bigmodel_lib.contracts.gpt import (
    GPTConfig,
    check_gpt_config,
    check_gpt_ids,
    gpt2_config_from_state,
    gpt2_init_std,
    gpt2_state_to_ours,
)
from bigmodel_lib.decoding import top_k_filter, top_p_filter
from bigmodel_lib.nn_torch.dropout import Dropout
from bigmodel_lib.nn_torch.embedding import Embedding
from bigmodel_lib.nn_torch.module import Module
from bigmodel_lib.nn_torch.multihead import MultiHeadAttention
from bigmodel_lib.nn_torch.normalization import LayerNorm
from bigmodel_lib.nn_torch.transformer import PositionwiseFeedForward

__all__ = ["GPT", "GPTConfig", "KVCache", "CausalSelfAttention", "GPTBlock"]


class KVCache:
    """Keys and values of every layer for the tokens seen so far, in preallocated buffers.

    ``keys[l]``, ``values[l]``: ``(B, n_kv_head, block_size, d_head)``; the first ``length`` positions are
    filled. Memory: ``2 n_layer B block_size n_kv_head d_head`` numbers (:attr:`nbytes`), ``n_head / n_kv_head``
    times less with grouped-query attention. With RoPE the keys are stored already rotated. The model
    advances ``length`` after each forward pass.
    """

    def __init__(self, config: GPTConfig, batch_size: int, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        shape = (batch_size, config.kv_heads, config.block_size, config.d_head)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layer)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layer)]
        self.batch_size, self.length = batch_size, 0

    @property
    def nbytes(self) -> int:
        """Bytes held by the key and value buffers (the whole capacity, filled or not)."""
        return sum(t.numel() * t.element_size() for t in self.keys + self.values)

    def store(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write ``k, v (B, h_kv, T, dh)`` at positions ``length..length+T-1``; return all keys/values so far."""
        end = self.length + k.shape[-2]
        self.keys[layer][:, :, self.length:end] = k
        self.values[layer][:, :, self.length:end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]  # (B, h_kv, end, dh) views


class CausalSelfAttention(MultiHeadAttention):
    """Masked multi-head self-attention with an optional :class:`KVCache`.

    Weights and keys are :class:`MultiHeadAttention`'s (``in_proj`` = ``[W^Q; W^K; W^V]``, ``out_proj``),
    grouped-query attention and RoPE included. Without a cache (training): one fused SDPA call with
    ``is_causal=True`` (``enable_gqa`` when key/value heads are shared: no copies of K and V). With a cache
    holding ``P`` tokens and ``T`` new ones: query ``i`` (absolute position ``P + i``, which is also its RoPE
    angle) may see keys ``0..P + i``.
    """

    def forward_causal(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self._qkv(x, "qkv")  # (B, T, d) -> (B, h, T, dh), 2 x (B, h_kv, T, dh)
        past = 0 if cache is None else cache.length
        q, k = self._rotate(q, past), self._rotate(k, past)  # RoPE at positions past..past+T-1
        if cache is not None:
            k, v = cache.store(layer, k, v)  # (B, h_kv, P+T, dh)
        dropout_p = self.dropout if self.training else 0.0
        gqa = {"enable_gqa": True} if self.group_size > 1 else {}
        if past == 0:  # training, or the prompt of a generation: the plain causal mask
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True, **gqa)
        elif t == 1:  # one new token: it may see every cached key, no mask at all
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, **gqa)
        else:  # a chunk after a cached prefix: the causal mask shifted by P
            allowed = torch.ones(t, past + t, dtype=torch.bool, device=x.device).tril(diagonal=past)  # (T, P+T)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=dropout_p, **gqa)
        y = y.transpose(1, 2).reshape(b, t, d)  # (B, h, T, dh) -> (B, T, h, dh) -> (B, T, d)
        return self.out_proj(y)


class GPTBlock(Module):
    """``h = x + Drop(CausalSelfAttn(LN_1(x)))``, ``y = h + Drop(FFN(LN_2(h)))`` (pre-LN, GELU FFN of width 4d).

    The same keys as a pre-LN ``TransformerEncoderLayer``: ``self_attn.*``, ``ffn.*``, ``norm1.*``, ``norm2.*``.
    """

    def __init__(self, config: GPTConfig, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        d = config.d_model
        rope_base = config.rope_base if config.position == "rope" else None
        self.self_attn = CausalSelfAttention(d, config.n_head, num_kv_heads=config.n_kv_head, rope_base=rope_base,
                                             bias=config.bias, dropout=config.dropout, **factory)
        self.ffn = PositionwiseFeedForward(d, config.d_ff, config.dropout, "gelu",
                                           gelu_approximate=config.gelu_approximate, bias=config.bias, **factory)
        self.norm1 = LayerNorm(d, eps=config.layer_norm_eps, bias=config.bias, **factory)
        self.norm2 = LayerNorm(d, eps=config.layer_norm_eps, bias=config.bias, **factory)
        self.dropout1 = Dropout(config.dropout)
        self.dropout2 = Dropout(config.dropout)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        h = x + self.dropout1(self.self_attn.forward_causal(self.norm1(x), cache, layer))
        return h + self.dropout2(self.ffn(self.norm2(h)))


class GPT(Module):
    """Decoder-only Transformer language model (see ``nn_numpy.gpt`` for the formulas and keys).

    ``forward(idx (B, T), cache=None) -> logits (B, T, vocab_size)``. With a :class:`KVCache` from
    :meth:`new_cache`, ``idx`` holds only the tokens *after* those already cached, and the logits equal
    those of the uncached model at the same positions (tested).
    """

    def __init__(self, config: GPTConfig, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        check_gpt_config("GPT", config)
        self.config = config
        factory = {"device": device, "dtype": dtype}
        self.tok_emb = Embedding(config.vocab_size, config.d_model, **factory)
        if config.position == "learned":  # with RoPE the positions enter inside attention: no table
            self.pos_emb = Embedding(config.block_size, config.d_model, **factory)
        self.dropout = Dropout(config.dropout)
        self.blocks = nn.ModuleList([GPTBlock(config, **factory) for _ in range(config.n_layer)])
        self.norm_f = LayerNorm(config.d_model, eps=config.layer_norm_eps, bias=config.bias, **factory)
        self.reset_parameters()

    @classmethod
    def from_gpt2(
        cls, state_dict: Mapping[str, Any], *, n_head: int, layer_norm_eps: float = 1e-5, dropout: float = 0.0,
        device: torch.device | str | None = None, dtype: torch.dtype | None = None,
    ) -> GPT:
        """The course's GPT holding the weights of a Hugging Face GPT-2 ``state_dict`` (tensors or arrays).

        As ``nn_numpy.GPT.from_gpt2`` (one key table for both: ``contracts.gpt.gpt2_key_map``): with or
        without the ``transformer.`` prefix, ``Conv1D`` weights transposed, sizes from the shapes, ``n_head``
        given. ``dtype``: that of ``wte.weight`` unless given.
        """
        config = gpt2_config_from_state(state_dict, n_head=n_head, layer_norm_eps=layer_norm_eps, dropout=dropout,
                                        where="GPT.from_gpt2")
        mapped = gpt2_state_to_ours(state_dict, config, where="GPT.from_gpt2")
        state = {k: torch.as_tensor(v) for k, v in mapped.items()}  # NumPy arrays too (e.g. safetensors.numpy)
        model = cls(config, device=device, dtype=dtype if dtype is not None else state["tok_emb.weight"].dtype)
        model.load_state_dict(state)
        return model

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """GPT-2's initialization (as the NumPy twin): N(0, 0.02^2), residual projections / sqrt(2 n_layer)."""
        for name, param in self.named_parameters():
            std = gpt2_init_std(name, self.config.n_layer)
            if std is None:
                nn.init.zeros_(param) if name.endswith("bias") else nn.init.ones_(param)
            else:
                nn.init.normal_(param, mean=0.0, std=std)

    def new_cache(self, batch_size: int) -> KVCache:
        ref = self.tok_emb.weight
        return KVCache(self.config, batch_size, device=ref.device, dtype=ref.dtype)

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        check_tensor("GPT", "idx", idx)
        start = 0 if cache is None else cache.length
        check_gpt_ids("GPT", idx, self.config, start=start, check_range=idx.device.type == "cpu",
                      cached=cache is not None)
        if cache is not None and cache.batch_size != idx.shape[0]:
            raise ValueError(f"GPT: 'idx' has batch size {idx.shape[0]}, the cache was made for {cache.batch_size}")
        t = idx.shape[1]
        x = self.tok_emb(idx)  # (B, T, d)
        if self.config.position == "learned":
            positions = torch.arange(start, start + t, device=idx.device)  # (T,)
            x = x + self.pos_emb(positions)  # (B, T, d) + (T, d) -> (B, T, d)
        x = self.dropout(x)
        for layer, block in enumerate(self.blocks):
            x = block(x, cache, layer)  # (B, T, d) -> (B, T, d)
        if cache is not None:
            cache.length += t
        return F.linear(self.norm_f(x), self.tok_emb.weight)  # tied output layer: (B, T, d) -> (B, T, V)

    def num_parameters(self) -> int:
        """Trainable numbers; the tied matrix is counted once (``parameters()`` yields it once)."""
        return sum(p.numel() for p in self.parameters())

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token, forward + backward: ``6 N + 12 n_layer d T``.

        The course's one convention (PaLM, Chowdhery et al. 2022, App. B; a multiply-add = 2 FLOPs).
        ``6 N``: every weight does one multiply-add forward and two backward; the position table is a
        lookup, not a matmul, so it is left out of ``N``. ``12 n_layer d T``: the attention scores and
        the weighted sum, ``2 * 2 T d`` per token per layer forward, times 3 with the backward. The
        forward alone is a third, ``2 N + 4 n_layer d T``, with all ``T`` keys counted (no causal
        discount); Kaplan et al. (2020) write ``2 n_layer d T``, the average over causal positions.
        """
        n = self.num_parameters() - (self.pos_emb.weight.numel() if self.config.position == "learned" else 0)
        return 6.0 * n + 12.0 * self.config.n_layer * self.config.d_model * seq_len

    def configure_optimizer(
        self,
        learning_rate: float,
        weight_decay: float = 0.1,
        betas: tuple[float, float] = (0.9, 0.95),
        eps: float = 1e-8,
    ) -> torch.optim.AdamW:
        """AdamW with two groups: weight decay on every matrix (``ndim >= 2``: Linear weights, embeddings),
        none on biases and LayerNorm gains (decaying those toward 0 only hurts). Fused kernel on CUDA."""
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
        ]
        use_fused = self.tok_emb.weight.is_cuda and "fused" in inspect.signature(torch.optim.AdamW).parameters
        extra = {"fused": True} if use_fused else {}
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, eps=eps, **extra)

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        use_cache: bool = True,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Append ``max_new_tokens`` sampled tokens to ``idx (B, T)``; ``temperature=0`` means greedy.

        With ``use_cache`` the prompt is run once and each new token costs one single-token forward pass,
        while the context fits in ``block_size``; beyond it the learned positions would all shift (and the cache
        is full, RoPE or not), so each step re-runs the last ``block_size`` tokens (as the uncached path always does).
        """
        if not (isinstance(max_new_tokens, int) and max_new_tokens >= 0):
            raise ValueError(f"GPT.generate: 'max_new_tokens' must be an int >= 0, got {max_new_tokens!r}")
        if temperature < 0:
            raise ValueError(f"GPT.generate: 'temperature' must be >= 0, got {temperature!r}")
        was_training = self.training
        self.eval()
        try:
            block = self.config.block_size
            cache = self.new_cache(idx.shape[0]) if use_cache and idx.shape[1] < block else None
            step_input = idx[:, -block:]
            for _ in range(max_new_tokens):
                if cache is not None and cache.length + step_input.shape[1] > block:
                    cache = None  # positions would run past the table: fall back to cropping
                if cache is None:
                    step_input = idx[:, -block:]
                logits = self(step_input, cache)[:, -1, :].float()  # (B, V) logits of the next token
                if temperature == 0:
                    nxt = logits.argmax(dim=-1, keepdim=True)  # (B, 1)
                else:
                    logits = logits / temperature
                    if top_k is not None:
                        logits = top_k_filter(logits, top_k)
                    if top_p is not None:
                        logits = top_p_filter(logits, top_p)
                    probs = torch.softmax(logits, dim=-1)
                    nxt = torch.multinomial(probs, 1, generator=generator)  # (B, 1)
                idx = torch.cat([idx, nxt], dim=1)  # (B, T) -> (B, T + 1)
                step_input = nxt
        finally:
            self.train(was_training)
        return idx

    def extra_repr(self) -> str:
        c = self.config
        extra = "" if c.n_kv_head is None else f", n_kv_head={c.n_kv_head}"
        extra += "" if c.position == "learned" else f", position={c.position!r}"
        return f"vocab_size={c.vocab_size}, block_size={c.block_size}, n_layer={c.n_layer}, " \
               f"n_head={c.n_head}{extra}, d_model={c.d_model}"
