"""The full encoder-decoder Transformer in PyTorch: the same formulas, arguments and keys as ``nn_numpy``.

``memory = Encoder(Dropout(sqrt(d) E_src[src] + PE[:S]), src_mask)``,
``logits = W_out Decoder(Dropout(sqrt(d) E_tgt[tgt_in] + PE[:T]), memory, src_mask) + b_out``,
``src_mask = (src != pad_id)[:, None, None, :]`` (True = may attend). Autograd supplies the backward
pass; without attention weights every attention takes the fused ``F.scaled_dot_product_attention``
path (flash / memory-efficient kernels on a GPU).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bigmodel_lib._checks import check_positive_int, check_tensor
from bigmodel_lib.contracts.transformer import check_sequence
from bigmodel_lib.contracts.transformer_model import check_model_config, check_same_batch, check_token_ids
from bigmodel_lib.nn_torch.dropout import Dropout
from bigmodel_lib.nn_torch.embedding import Embedding
from bigmodel_lib.nn_torch.linear import Linear
from bigmodel_lib.nn_torch.module import Module
from bigmodel_lib.nn_torch.normalization import LayerNorm
from bigmodel_lib.nn_torch.positional import SinusoidalPositionalEncoding
from bigmodel_lib.nn_torch.transformer import TransformerDecoderLayer, TransformerEncoderLayer


class TokenEmbedding(Embedding):
    """``y = sqrt(d_model) * E[ids]`` (Vaswani et al., 2017, §3.4); ``E ~ N(0, 1/d_model)``, key ``weight``."""

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        padding_idx: int | None = None,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        check_positive_int("TokenEmbedding", "vocab_size", vocab_size)
        check_positive_int("TokenEmbedding", "d_model", d_model)
        super().__init__(vocab_size, d_model, padding_idx=padding_idx, device=device, dtype=dtype)
        self.scale = math.sqrt(d_model)
        with torch.no_grad():
            nn.init.normal_(self.weight, std=d_model**-0.5)
            if self.padding_idx is not None:
                self.weight[self.padding_idx].zero_()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return super().forward(ids) * self.scale  # (B, L) -> (B, L, d_model)


class TransformerEncoder(Module):
    """``num_layers`` encoder layers, then a final LayerNorm when ``norm_first`` (keys ``layers.{l}.*``, ``norm.*``)."""

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int,
        num_layers: int,
        dropout: float = 0.0,
        activation: str = "relu",
        norm_first: bool = False,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_positive_int("TransformerEncoder", "num_layers", num_layers)
        factory = {"device": device, "dtype": dtype}
        self.layers = nn.ModuleList([
            TransformerEncoderLayer(d_model, num_heads, d_ff, dropout, activation, norm_first, **factory)
            for _ in range(num_layers)
        ])
        self.norm = LayerNorm(d_model, **factory) if norm_first else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, mask)  # (B, S, d) -> (B, S, d)
        return self.norm(x) if self.norm is not None else x


class TransformerDecoder(Module):
    """``num_layers`` causal decoder layers over ``memory``, then a final LayerNorm when ``norm_first``."""

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int,
        num_layers: int,
        dropout: float = 0.0,
        activation: str = "relu",
        norm_first: bool = False,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_positive_int("TransformerDecoder", "num_layers", num_layers)
        factory = {"device": device, "dtype": dtype}
        self.layers = nn.ModuleList([
            TransformerDecoderLayer(d_model, num_heads, d_ff, dropout, activation, norm_first, **factory)
            for _ in range(num_layers)
        ])
        self.norm = LayerNorm(d_model, **factory) if norm_first else None

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, memory, memory_mask=memory_mask, causal=True)  # (B, T, d) -> (B, T, d)
        return self.norm(x) if self.norm is not None else x


class Transformer(Module):
    """Encoder-decoder Transformer; see ``nn_numpy.Transformer`` for the formulas.

    ``forward(src_ids (B, S), tgt_in_ids (B, T)) -> logits (B, T, tgt_vocab)``; ``encode(src)``,
    ``decode(tgt_in, memory, src_mask)`` (logits) and ``greedy_decode(src, bos_id, eos_id, max_len)``.
    Keys: ``src_embed.weight``, ``tgt_embed.weight``, ``encoder.layers.{l}.*``, ``encoder.norm.*`` (pre-LN),
    ``decoder.layers.{l}.*``, ``decoder.norm.*`` (pre-LN), ``output_proj.{weight,bias}``. The positional
    tables are non-persistent buffers built in ``dtype`` (default: torch's default dtype), so a float64
    model has the exact float64 table that the NumPy twin adds.
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        d_model: int,
        num_heads: int,
        d_ff: int,
        num_encoder_layers: int,
        num_decoder_layers: int,
        dropout: float = 0.0,
        activation: str = "relu",
        norm_first: bool = False,
        max_len: int = 512,
        pad_id: int | None = 0,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_model_config("Transformer", src_vocab, tgt_vocab, d_model, num_heads, d_ff, num_encoder_layers,
                           num_decoder_layers, dropout, activation, max_len, pad_id)
        self.src_vocab, self.tgt_vocab, self.d_model, self.num_heads = src_vocab, tgt_vocab, d_model, num_heads
        self.max_len, self.pad_id, self.norm_first = max_len, pad_id, bool(norm_first)
        factory = {"device": device, "dtype": dtype}
        table_dtype = dtype or torch.get_default_dtype()
        self.src_embed = TokenEmbedding(src_vocab, d_model, pad_id, **factory)
        self.tgt_embed = TokenEmbedding(tgt_vocab, d_model, pad_id, **factory)
        self.src_pos = SinusoidalPositionalEncoding(d_model, max_len, device=device, dtype=table_dtype)
        self.tgt_pos = SinusoidalPositionalEncoding(d_model, max_len, device=device, dtype=table_dtype)
        self.src_dropout = Dropout(dropout)
        self.tgt_dropout = Dropout(dropout)
        self.encoder = TransformerEncoder(d_model, num_heads, d_ff, num_encoder_layers, dropout, activation,
                                          norm_first, **factory)
        self.decoder = TransformerDecoder(d_model, num_heads, d_ff, num_decoder_layers, dropout, activation,
                                          norm_first, **factory)
        self.output_proj = Linear(d_model, tgt_vocab, **factory)

    def _check_ids(self, where: str, name: str, ids: torch.Tensor, vocab: int) -> None:
        check_tensor(where, name, ids)
        check_token_ids(where, name, ids, vocab, self.max_len, check_range=ids.device.type == "cpu")

    def source_mask(self, src_ids: torch.Tensor) -> torch.Tensor | None:
        """``(B, 1, 1, S)`` bool, True where ``src_ids != pad_id`` (None when ``pad_id`` is None)."""
        if self.pad_id is None:
            return None
        return (src_ids != self.pad_id)[:, None, None, :]  # (B, S) -> (B, 1, 1, S)

    def encode(self, src_ids: torch.Tensor) -> torch.Tensor:
        """``memory (B, S, d)``."""
        self._check_ids("Transformer.encode", "src_ids", src_ids, self.src_vocab)
        x = self.src_dropout(self.src_pos(self.src_embed(src_ids)))  # (B, S) -> (B, S, d)
        return self.encoder(x, self.source_mask(src_ids))

    def decode(
        self, tgt_in_ids: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``logits (B, T, V)`` of the next target token at every position."""
        where = "Transformer.decode"
        self._check_ids(where, "tgt_in_ids", tgt_in_ids, self.tgt_vocab)
        check_tensor(where, "memory", memory)
        check_sequence(where, "memory", memory, self.d_model, batch=tgt_in_ids.shape[0], ref="tgt_in_ids")
        y = self.tgt_dropout(self.tgt_pos(self.tgt_embed(tgt_in_ids)))  # (B, T) -> (B, T, d)
        return self.output_proj(self.decoder(y, memory, src_mask))  # (B, T, d) -> (B, T, V)

    def forward(self, src_ids: torch.Tensor, tgt_in_ids: torch.Tensor) -> torch.Tensor:
        self._check_ids("Transformer", "src_ids", src_ids, self.src_vocab)
        self._check_ids("Transformer", "tgt_in_ids", tgt_in_ids, self.tgt_vocab)
        check_same_batch("Transformer", "tgt_in_ids", tgt_in_ids, "src_ids", src_ids)
        return self.decode(tgt_in_ids, self.encode(src_ids), self.source_mask(src_ids))

    @torch.no_grad()
    def greedy_decode(self, src_ids: torch.Tensor, bos_id: int, eos_id: int, max_len: int) -> torch.Tensor:
        """Greedy decoding as ``nn_numpy.Transformer.greedy_decode``: ``(B, L <= max_len)`` ids without BOS."""
        where = "Transformer.greedy_decode"
        self._check_ids(where, "src_ids", src_ids, self.src_vocab)
        for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
            if not (isinstance(value, int) and 0 <= value < self.tgt_vocab):
                raise ValueError(f"{where}: '{name}' must be an int in [0, {self.tgt_vocab}), got {value!r}")
        if not (isinstance(max_len, int) and 1 <= max_len < self.max_len):
            raise ValueError(f"{where}: 'max_len' must be an int in [1, {self.max_len}), got {max_len!r}")
        was_training = self.training
        self.eval()
        try:
            memory = self.encode(src_ids)
            src_mask = self.source_mask(src_ids)
            fill = self.pad_id if self.pad_id is not None else eos_id
            ys = torch.full((src_ids.shape[0], 1), bos_id, dtype=torch.long, device=src_ids.device)  # (B, 1)
            done = torch.zeros(src_ids.shape[0], dtype=torch.bool, device=src_ids.device)
            for _ in range(max_len):
                logits = self.decode(ys, memory, src_mask)  # (B, t, V)
                nxt = torch.where(done, torch.full_like(ys[:, 0], fill), logits[:, -1].argmax(dim=-1))  # (B,)
                ys = torch.cat([ys, nxt[:, None]], dim=1)  # (B, t) -> (B, t + 1)
                done |= nxt == eos_id
                if bool(done.all()):
                    break
        finally:
            self.train(was_training)
        return ys[:, 1:]

    def extra_repr(self) -> str:
        return (f"src_vocab={self.src_vocab}, tgt_vocab={self.tgt_vocab}, d_model={self.d_model}, "
                f"num_heads={self.num_heads}, norm_first={self.norm_first}, pad_id={self.pad_id}")
