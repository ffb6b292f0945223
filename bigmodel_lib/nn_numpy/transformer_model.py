"""The full encoder-decoder Transformer (Vaswani et al., 2017), forward and backward in NumPy.

Token ids in, next-token logits out::

    x_src  = Dropout(sqrt(d) E_src[src] + PE[:S])            # (B, S, d)
    memory = Encoder(x_src, key padding of src)                # N_enc layers (+ LayerNorm if pre-LN)
    x_tgt  = Dropout(sqrt(d) E_tgt[tgt_in] + PE[:T])         # (B, T, d)
    h      = Decoder(x_tgt, memory)                            # causal self-attn, cross-attn over memory
    logits = h W_out^T + b_out                                 # (B, T, V_tgt)

The source key-padding mask ``src != pad_id`` keeps every query (in the encoder's self-attention
and the decoder's cross-attention) from attending to padded source positions. Targets are padded
on the right, so the causal mask already keeps real target tokens from seeing the padding; padded
target positions are left out of the loss with ``CrossEntropyLoss(ignore_index=pad_id)``.

Backward runs the graph in reverse; ``memory`` feeds the cross-attention of *every* decoder
layer, so its gradient is the sum of their contributions, ``dL/dm = sum_l dL_l/dm``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bigmodel_lib._checks import check_array, check_positive_int
from bigmodel_lib.contracts.transformer_model import (  # noqa: F401 -- re-exported: the contracts both packages keep
    check_model_config,
    check_same_batch,
    check_token_ids,
)
from bigmodel_lib.nn_numpy.container import Sequential
from bigmodel_lib.nn_numpy.dropout import Dropout
from bigmodel_lib.nn_numpy.embedding import Embedding
from bigmodel_lib.nn_numpy.functional import require_cache
from bigmodel_lib.nn_numpy.linear import Linear
from bigmodel_lib.nn_numpy.module import Module
from bigmodel_lib.nn_numpy.normalization import LayerNorm
from bigmodel_lib.nn_numpy.positional import SinusoidalPositionalEncoding
from bigmodel_lib.nn_numpy.transformer import (
    TransformerDecoderLayer,
    TransformerEncoderLayer,
    check_sequence,
)
from bigmodel_lib.utils import get_numpy_rng

# -- checks shared with nn_torch.transformer_model ------------------------------------------------------------


# -- the parts --------------------------------------------------------------------------------------------------


class TokenEmbedding(Embedding):
    """``y = sqrt(d_model) * E[ids]``: a lookup table scaled as in Vaswani et al. (2017, §3.4).

    The positional encoding is *added* afterwards (``x = y + PE``); the scale ``sqrt(d_model)``
    brings the rows of ``E ~ N(0, 1/d_model)`` (norm ~1) to a size comparable with the
    positional encoding's (norm ``sqrt(d_model / 2)``). Backward: ``dL/dE[id] += sqrt(d_model) g``
    summed over every position holding ``id``; the padding row (if any) gets no gradient.

    Parameter (``state_dict`` key, as ``nn_torch.TokenEmbedding``): ``weight (vocab_size, d_model)``.
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        padding_idx: int | None = None,
        *,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__(vocab_size, d_model, padding_idx, dtype=dtype, rng=rng)
        self.weight.data *= self.weight.data.dtype.type(1.0 / math.sqrt(d_model))  # N(0, 1) -> N(0, 1/d)
        self.scale = math.sqrt(d_model)

    def forward(self, ids: np.ndarray) -> np.ndarray:
        return super().forward(ids) * self.scale  # (B, L) -> (B, L, d_model)

    def backward(self, grad_out: np.ndarray) -> None:
        return super().backward(grad_out * self.scale)


class TransformerEncoder(Module):
    """``num_layers`` encoder layers, then (pre-LN only) a final LayerNorm.

    ``h_0 = x``, ``h_l = EncoderLayer_l(h_{l-1}, mask)``, ``y = LayerNorm(h_N)`` when ``norm_first``
    (pre-LN layers leave their residual stream un-normalized) else ``y = h_N``.
    Keys: ``layers.{l}.*`` (as :class:`TransformerEncoderLayer`), ``norm.{weight,bias}`` (pre-LN only).
    """

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
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        check_positive_int("TransformerEncoder", "num_layers", num_layers)
        self.d_model = d_model
        self.layers = Sequential(*[
            TransformerEncoderLayer(d_model, num_heads, d_ff, dropout, activation, norm_first, dtype=dtype, rng=rng)
            for _ in range(num_layers)
        ])
        self.norm = LayerNorm(d_model, dtype=dtype) if norm_first else None

    def forward(self, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        for layer in self.layers:
            x = layer(x, mask)  # (B, S, d) -> (B, S, d)
        return self.norm(x) if self.norm is not None else x

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        g = self.norm.backward(grad_out) if self.norm is not None else grad_out
        for layer in reversed(list(self.layers)):
            g = layer.backward(g)
        return g


class TransformerDecoder(Module):
    """``num_layers`` decoder layers over the same ``memory``, then (pre-LN only) a final LayerNorm.

    ``h_l = DecoderLayer_l(h_{l-1}, m, memory_mask)`` (causal self-attention), ``y = LayerNorm(h_N)``
    when ``norm_first``. Backward returns ``(dL/dx, dL/dm)`` with ``dL/dm = sum_l dL_l/dm``.
    Keys: ``layers.{l}.*`` (as :class:`TransformerDecoderLayer`), ``norm.{weight,bias}`` (pre-LN only).
    """

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
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        check_positive_int("TransformerDecoder", "num_layers", num_layers)
        self.d_model = d_model
        self.layers = Sequential(*[
            TransformerDecoderLayer(d_model, num_heads, d_ff, dropout, activation, norm_first, dtype=dtype, rng=rng)
            for _ in range(num_layers)
        ])
        self.norm = LayerNorm(d_model, dtype=dtype) if norm_first else None

    def forward(self, x: np.ndarray, memory: np.ndarray, memory_mask: np.ndarray | None = None) -> np.ndarray:
        for layer in self.layers:
            x = layer(x, memory, memory_mask=memory_mask, causal=True)  # (B, T, d) -> (B, T, d)
        return self.norm(x) if self.norm is not None else x

    def backward(self, grad_out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        g = self.norm.backward(grad_out) if self.norm is not None else grad_out
        d_memory = None
        for layer in reversed(list(self.layers)):
            g, dm = layer.backward(g)
            d_memory = dm if d_memory is None else d_memory + dm  # memory feeds every layer
        return g, d_memory


class Transformer(Module):
    """The encoder-decoder Transformer: source ids and shifted target ids in, target logits out.

    ``forward(src_ids (B, S), tgt_in_ids (B, T)) -> logits (B, T, tgt_vocab)``, with::

        memory = Encoder(Dropout(sqrt(d) E_src[src] + PE[:S]), src_mask)
        logits = W_out Decoder(Dropout(sqrt(d) E_tgt[tgt_in] + PE[:T]), memory, src_mask) + b_out
        src_mask[b, 0, 0, j] = (src[b, j] != pad_id)          # True = may attend

    For teacher forcing, ``tgt_in = [BOS, y_1, ..., y_{T-1}]`` and the loss compares the logits with
    ``[y_1, ..., y_T]`` (``CrossEntropyLoss(ignore_index=pad_id)``). ``norm_first=True`` uses pre-LN
    layers and adds a final LayerNorm after each stack. ``backward(grad_logits)`` accumulates every
    parameter's gradient and returns ``(None, None)``: integer inputs get no gradient. It needs the
    cache of ``forward`` (not of ``encode`` / ``decode`` called on their own).

    Parameters (``state_dict`` keys, identical in ``nn_torch.Transformer``):

    * ``src_embed.weight (src_vocab, d)``, ``tgt_embed.weight (tgt_vocab, d)``;
    * ``encoder.layers.{l}.*`` (keys of :class:`TransformerEncoderLayer`), ``encoder.norm.*`` (pre-LN);
    * ``decoder.layers.{l}.*`` (keys of :class:`TransformerDecoderLayer`), ``decoder.norm.*`` (pre-LN);
    * ``output_proj.weight (tgt_vocab, d)``, ``output_proj.bias (tgt_vocab,)``.

    The sinusoidal tables are not parameters (float64, cast to the compute dtype when added).
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
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        check_model_config("Transformer", src_vocab, tgt_vocab, d_model, num_heads, d_ff, num_encoder_layers,
                           num_decoder_layers, dropout, activation, max_len, pad_id)
        rng = rng if rng is not None else get_numpy_rng()
        self.src_vocab, self.tgt_vocab, self.d_model, self.num_heads = src_vocab, tgt_vocab, d_model, num_heads
        self.max_len, self.pad_id, self.norm_first = max_len, pad_id, bool(norm_first)
        self.src_embed = TokenEmbedding(src_vocab, d_model, pad_id, dtype=dtype, rng=rng)
        self.tgt_embed = TokenEmbedding(tgt_vocab, d_model, pad_id, dtype=dtype, rng=rng)
        self.src_pos = SinusoidalPositionalEncoding(d_model, max_len)
        self.tgt_pos = SinusoidalPositionalEncoding(d_model, max_len)
        self.src_dropout = Dropout(dropout, rng=rng)
        self.tgt_dropout = Dropout(dropout, rng=rng)
        self.encoder = TransformerEncoder(d_model, num_heads, d_ff, num_encoder_layers, dropout, activation,
                                          norm_first, dtype=dtype, rng=rng)
        self.decoder = TransformerDecoder(d_model, num_heads, d_ff, num_decoder_layers, dropout, activation,
                                          norm_first, dtype=dtype, rng=rng)
        self.output_proj = Linear(d_model, tgt_vocab, dtype=dtype, rng=rng)
        self._cached: bool | None = None

    # -- the three passes ------------------------------------------------------------------------------
    def source_mask(self, src_ids: np.ndarray) -> np.ndarray | None:
        """``(B, 1, 1, S)`` bool, True where ``src_ids != pad_id`` (None when ``pad_id`` is None)."""
        if self.pad_id is None:
            return None
        return (src_ids != self.pad_id)[:, None, None, :]  # (B, S) -> (B, 1, 1, S)

    def encode(self, src_ids: np.ndarray) -> np.ndarray:
        """``memory (B, S, d) = Encoder(Dropout(sqrt(d) E_src[src] + PE[:S]), src_mask)``."""
        check_array("Transformer.encode", "src_ids", src_ids)
        check_token_ids("Transformer.encode", "src_ids", src_ids, self.src_vocab, self.max_len)
        self._cached = None
        x = self.src_dropout(self.src_pos(self.src_embed(src_ids)))  # (B, S) -> (B, S, d)
        return self.encoder(x, self.source_mask(src_ids))

    def decode(self, tgt_in_ids: np.ndarray, memory: np.ndarray, src_mask: np.ndarray | None = None) -> np.ndarray:
        """``logits (B, T, V) = W_out Decoder(Dropout(sqrt(d) E_tgt[tgt_in] + PE[:T]), memory, src_mask) + b``.

        ``src_mask`` is :meth:`source_mask` of the source (None: attend to every memory position).
        """
        where = "Transformer.decode"
        check_array(where, "tgt_in_ids", tgt_in_ids)
        check_token_ids(where, "tgt_in_ids", tgt_in_ids, self.tgt_vocab, self.max_len)
        check_array(where, "memory", memory)
        check_sequence(where, "memory", memory, self.d_model, batch=tgt_in_ids.shape[0], ref="tgt_in_ids")
        self._cached = None
        y = self.tgt_dropout(self.tgt_pos(self.tgt_embed(tgt_in_ids)))  # (B, T) -> (B, T, d)
        h = self.decoder(y, memory, src_mask)  # (B, T, d)
        return self.output_proj(h)  # (B, T, d) -> (B, T, V)

    def forward(self, src_ids: np.ndarray, tgt_in_ids: np.ndarray) -> np.ndarray:
        where = "Transformer"
        check_array(where, "src_ids", src_ids)
        check_array(where, "tgt_in_ids", tgt_in_ids)
        check_token_ids(where, "src_ids", src_ids, self.src_vocab, self.max_len)
        check_token_ids(where, "tgt_in_ids", tgt_in_ids, self.tgt_vocab, self.max_len)
        check_same_batch(where, "tgt_in_ids", tgt_in_ids, "src_ids", src_ids)
        memory = self.encode(src_ids)
        logits = self.decode(tgt_in_ids, memory, self.source_mask(src_ids))
        self._cached = True
        return logits

    def backward(self, grad_out: np.ndarray) -> tuple[None, None]:
        """Given ``dL/dlogits (B, T, V)``, accumulate every parameter gradient; ids get none."""
        require_cache(self, self._cached)
        g = self.decoder_backward(grad_out)
        self.src_embed.backward(self.src_pos.backward(self.src_dropout.backward(self.encoder.backward(g))))
        return None, None

    def decoder_backward(self, grad_out: np.ndarray) -> np.ndarray:
        """Backward through the output projection, decoder and target embedding; returns ``dL/dmemory``."""
        g, d_memory = self.decoder.backward(self.output_proj.backward(grad_out))  # (B, T, V) -> (B, T, d)
        self.tgt_embed.backward(self.tgt_pos.backward(self.tgt_dropout.backward(g)))
        return d_memory

    # -- inference ------------------------------------------------------------------------------------------
    def greedy_decode(self, src_ids: np.ndarray, bos_id: int, eos_id: int, max_len: int) -> np.ndarray:
        """Greedy decoding: ``y_t = argmax_v logits(src, [BOS, y_1, ..., y_{t-1}])_v`` for ``t = 1..max_len``.

        Runs in eval mode (dropout off; the mode is restored after). Stops early once every row has
        produced ``eos_id``. Returns ``(B, L)`` ids without BOS, ``L <= max_len``, each row ending with
        its EOS and padded with ``pad_id`` (or ``eos_id`` when ``pad_id`` is None) after it.
        """
        where = "Transformer.greedy_decode"
        check_array(where, "src_ids", src_ids)
        check_token_ids(where, "src_ids", src_ids, self.src_vocab, self.max_len)
        for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
            if not (isinstance(value, (int, np.integer)) and 0 <= value < self.tgt_vocab):
                raise ValueError(f"{where}: '{name}' must be an int in [0, {self.tgt_vocab}), got {value!r}")
        if not (isinstance(max_len, (int, np.integer)) and 1 <= max_len < self.max_len):
            raise ValueError(f"{where}: 'max_len' must be an int in [1, {self.max_len}), got {max_len!r}")
        was_training = self.training
        self.eval()
        try:
            memory = self.encode(src_ids)
            src_mask = self.source_mask(src_ids)
            batch = src_ids.shape[0]
            fill = self.pad_id if self.pad_id is not None else eos_id
            ys = np.full((batch, 1), bos_id, dtype=np.int64)  # (B, 1): BOS
            done = np.zeros(batch, dtype=bool)
            for _ in range(max_len):
                logits = self.decode(ys, memory, src_mask)  # (B, t, V)
                nxt = np.where(done, fill, logits[:, -1].argmax(axis=-1))  # (B,)
                ys = np.concatenate([ys, nxt[:, None]], axis=1)  # (B, t) -> (B, t + 1)
                done |= nxt == eos_id
                if done.all():
                    break
        finally:
            self.train(was_training)
        return ys[:, 1:]

    def extra_repr(self) -> str:
        return (f"src_vocab={self.src_vocab}, tgt_vocab={self.tgt_vocab}, d_model={self.d_model}, "
                f"num_heads={self.num_heads}, norm_first={self.norm_first}, pad_id={self.pad_id}")
