"""An encoder-decoder (sequence-to-sequence) LSTM with Bahdanau attention, forward and backward in NumPy.

Sutskever et al. (2014) read the source with one RNN and wrote the target with another, passing a
single vector between them. Bahdanau, Cho & Bengio (2015) let the decoder look back at *every*
encoder state at every step, through additive attention. Per target step ``t`` (``s_{t-1}`` = the
decoder's state, ``h_1 .. h_S`` = the encoder's outputs, ``y_{t-1}`` = the previous target token)::

    e_tj = w_v^T tanh(W_q s_{t-1} + W_k h_j)        scores, only over real (unpadded) source positions
    a_t  = softmax_j(e_tj)                          the alignment (attention weights), sums to 1
    c_t  = sum_j a_tj h_j                           the context vector
    s_t  = LSTMCell([E y_{t-1}; c_t], s_{t-1})      the decoder is fed the previous token AND the context
    logits_t = W_o [s_t; c_t] + b_o

The decoder starts from the encoder's final state (at each source's own last character).
``use_attention=False`` replaces ``c_t`` by that final state ``h_S`` at every step (Cho et al., 2014):
the whole source has to squeeze through one vector -- the comparison of notebook 04.3.

Training uses **teacher forcing**: ``forward(src, tgt_in, src_mask)`` feeds the true previous token
``tgt_in[:, t]`` and returns ``logits (B, T, V)`` and ``weights (B, T, S)``. Inference uses
:meth:`Seq2Seq.greedy_decode`, which feeds back its own argmax.

Layers and their state_dict keys (identical in ``nn_torch.seq2seq``): ``src_embed`` (Embedding),
``encoder`` (LSTM: ``weight_ih_l0`` ...), ``tgt_embed`` (Embedding), ``attention``
(AdditiveAttention: ``W_q``, ``W_k``, ``w_v``; absent without attention), ``decoder`` (LSTMCell:
``weight_ih (4H, E + H)`` ...), ``out`` (Linear ``2H -> V``).

The same decoder cell and attention layer serve every target step. A NumPy layer keeps only the
cache of its last call, so the decoder keeps one cache per step: the cell's explicitly
(:meth:`LSTMCell.step`), the attention layer's by saving its cache after each step and putting it back
before that step's backward (:func:`save_caches` / :func:`restore_caches`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bigmodel_lib._checks import check_array, check_positive_int
from bigmodel_lib.contracts.seq2seq import (  # noqa: F401 -- re-exported: the contracts both packages keep
    check_decode_args,
    check_source,
    check_target,
)
from bigmodel_lib.nn_numpy.attention import AdditiveAttention, _split_grad
from bigmodel_lib.nn_numpy.embedding import Embedding
from bigmodel_lib.nn_numpy.functional import check_grad_out, require_cache
from bigmodel_lib.nn_numpy.linear import Linear
from bigmodel_lib.nn_numpy.lstm import LSTM, LSTMCell
from bigmodel_lib.nn_numpy.module import Module, Parameter

# -- checks shared with nn_torch.seq2seq (shapes and dtypes only) ------------------------------------------


# -- keeping one cache per time step ---------------------------------------------------------------------------


def _modules(module: Module) -> list[Module]:
    found = [module]
    for _, child in module.named_children():
        found.extend(_modules(child))
    return found


def save_caches(module: Module) -> list[tuple[Module, dict[str, Any]]]:
    """The caches (attributes whose name starts with ``_``) of ``module`` and every layer inside it."""
    return [
        (m, {k: v for k, v in vars(m).items() if k.startswith("_") and not isinstance(v, (Parameter, Module))})
        for m in _modules(module)
    ]


def restore_caches(saved: list[tuple[Module, dict[str, Any]]]) -> None:
    """Put back what :func:`save_caches` returned, so the matching ``backward`` can run."""
    for m, attributes in saved:
        vars(m).update(attributes)


# -- the model ----------------------------------------------------------------------------------------------------


class Seq2Seq(Module):
    """LSTM encoder, LSTM-cell decoder with additive attention (module docstring for the equations).

    Parameters
    ----------
    src_vocab_size, tgt_vocab_size : sizes of the two vocabularies (ids ``0 .. size-1``).
    embed_dim : width of the character embeddings ``E``.
    hidden_size : width ``H`` of the encoder's and the decoder's states.
    attention_dim : width of additive attention's hidden layer (default ``H``).
    use_attention : ``False`` feeds the encoder's final state as the context at every step.
    pad_id : the padding id of both vocabularies (its embedding rows stay zero).
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        embed_dim: int = 32,
        hidden_size: int = 64,
        *,
        attention_dim: int | None = None,
        use_attention: bool = True,
        pad_id: int = 0,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        for name, value in (("src_vocab_size", src_vocab_size), ("tgt_vocab_size", tgt_vocab_size),
                            ("embed_dim", embed_dim), ("hidden_size", hidden_size)):
            check_positive_int("Seq2Seq", name, value)
        attention_dim = hidden_size if attention_dim is None else attention_dim
        check_positive_int("Seq2Seq", "attention_dim", attention_dim)
        self.src_vocab_size, self.tgt_vocab_size = src_vocab_size, tgt_vocab_size
        self.embed_dim, self.hidden_size, self.attention_dim = embed_dim, hidden_size, attention_dim
        self.use_attention, self.pad_id = bool(use_attention), pad_id
        self.src_embed = Embedding(src_vocab_size, embed_dim, padding_idx=pad_id, dtype=dtype, rng=rng)
        self.encoder = LSTM(embed_dim, hidden_size, dtype=dtype, rng=rng)
        self.tgt_embed = Embedding(tgt_vocab_size, embed_dim, padding_idx=pad_id, dtype=dtype, rng=rng)
        self.attention = (
            AdditiveAttention(hidden_size, hidden_size, attention_dim, dtype=dtype, rng=rng) if use_attention else None
        )
        self.decoder = LSTMCell(embed_dim + hidden_size, hidden_size, dtype=dtype, rng=rng)
        self.out = Linear(2 * hidden_size, tgt_vocab_size, dtype=dtype, rng=rng)
        self._cache: tuple | None = None

    # -- the pieces ------------------------------------------------------------------------------------------
    def _encode(self, src: np.ndarray, src_mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, tuple]:
        """``(encoder outputs (B, S, H), attention mask (B, 1, S), final state ((B, H), (B, H)))``."""
        mask = np.ones(src.shape, dtype=bool) if src_mask is None else src_mask
        embedded = self.src_embed(src)  # (B, S) -> (B, S, E)
        enc_out, (h_n, c_n) = self.encoder(embedded, lengths=mask.sum(axis=1))  # (B, S, H), 2 x (1, B, H)
        return enc_out, mask[:, None, :], (h_n[0], c_n[0])  # (B, S) -> (B, 1, S); (1, B, H) -> (B, H)

    def _context(
        self, h: np.ndarray, enc_out: np.ndarray, attn_mask: np.ndarray, final_h: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``c_t`` (B, H) and the weights (B, S) for the query ``s_{t-1} = h``."""
        if self.attention is None:
            return final_h, None
        context, weights = self.attention(h[:, None, :], enc_out, enc_out, attn_mask, need_weights=True)
        return context[:, 0], weights[:, 0]  # (B, 1, H) -> (B, H); (B, 1, S) -> (B, S)

    # -- teacher forcing -------------------------------------------------------------------------------------
    def forward(
        self, src: np.ndarray, tgt_in: np.ndarray, src_mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``logits (B, T, V)`` and attention ``weights (B, T, S)`` (``None`` without attention)."""
        for name, value in (("src", src), ("tgt_in", tgt_in)):
            check_array("Seq2Seq", name, value)
        if src_mask is not None:
            check_array("Seq2Seq", "src_mask", src_mask)
        check_source("Seq2Seq", src, src_mask)
        check_target("Seq2Seq", tgt_in, src.shape[0])
        enc_out, attn_mask, (h, c) = self._encode(src, src_mask)
        final_h = h
        embedded = self.tgt_embed(tgt_in)  # (B, T) -> (B, T, E)
        batch, steps = tgt_in.shape
        states = np.empty((batch, steps, self.hidden_size), dtype=enc_out.dtype)  # s_t
        contexts = np.empty_like(states)  # c_t
        weights = None if self.attention is None else np.empty((batch, steps, src.shape[1]), dtype=enc_out.dtype)
        step_caches = []
        for t in range(steps):
            context, w = self._context(h, enc_out, attn_mask, final_h)
            attention_cache = None if self.attention is None else save_caches(self.attention)
            h, c, cell_cache = self.decoder.step(np.concatenate([embedded[:, t], context], axis=1), h, c)  # [E y; c]
            states[:, t], contexts[:, t] = h, context
            if weights is not None:
                weights[:, t] = w
            step_caches.append((cell_cache, attention_cache))
        logits = self.out(np.concatenate([states, contexts], axis=2))  # (B, T, 2H) -> (B, T, V)
        self._cache = (step_caches, enc_out.shape, logits.shape, None if weights is None else weights.shape)
        return logits, weights

    def backward(self, grad_out: Any) -> None:
        """Backpropagation through the decoder's steps, the attention, the encoder and the embeddings.

        ``grad_out``: ``dL/d logits`` or ``(dL/d logits, dL/d weights)``. The inputs are token ids,
        which get no gradient: returns ``None``.
        """
        step_caches, enc_shape, logits_shape, weights_shape = require_cache(self, self._cache)
        grad_logits, grad_weights = _split_grad(grad_out)
        check_grad_out("Seq2Seq", grad_logits, logits_shape)
        if grad_weights is not None:
            if weights_shape is None:
                raise ValueError("Seq2Seq.backward: got a gradient for the attention weights, "
                                 "but the model has no attention")
            check_grad_out("Seq2Seq", grad_weights, weights_shape)
        hidden, embed = self.hidden_size, self.embed_dim
        grad_features = self.out.backward(grad_logits)  # (B, T, V) -> (B, T, 2H)
        grad_states, grad_contexts = grad_features[..., :hidden], grad_features[..., hidden:]
        batch, steps = grad_logits.shape[:2]
        grad_h = np.zeros((batch, hidden), dtype=grad_features.dtype)  # dL/ds_t arriving from step t + 1
        grad_c = np.zeros_like(grad_h)
        grad_enc_out = np.zeros(enc_shape, dtype=grad_features.dtype)
        grad_final_h = np.zeros_like(grad_h)  # without attention, the context is the encoder's final h
        grad_embedded = np.zeros((batch, steps, embed), dtype=grad_features.dtype)
        for t in reversed(range(steps)):
            cell_cache, attention_cache = step_caches[t]
            grad_x, grad_h, grad_c = self.decoder.step_backward(cell_cache, grad_h + grad_states[:, t], grad_c)
            grad_embedded[:, t] = grad_x[:, :embed]
            grad_context = grad_x[:, embed:] + grad_contexts[:, t]  # [E y; c] and [s; c] both used c_t
            if self.attention is None:
                grad_final_h += grad_context
                continue
            restore_caches(attention_cache)
            g_w = None if grad_weights is None else grad_weights[:, t : t + 1]  # (B, 1, S)
            grad_query, grad_keys, grad_values = self.attention.backward((grad_context[:, None, :], g_w))
            grad_h = grad_h + grad_query[:, 0]  # the query was s_{t-1}
            grad_enc_out += grad_keys + grad_values  # keys and values are both the encoder outputs
        self.tgt_embed.backward(grad_embedded)
        # The decoder started from the encoder's final state: grad_h, grad_c now hold dL/ds_0, dL/dc_0.
        grad_h_n = (grad_h + grad_final_h)[None]  # (B, H) -> (1, B, H)
        grad_src = self.encoder.backward((grad_enc_out, (grad_h_n, grad_c[None])))
        self.src_embed.backward(grad_src)
        return None

    # -- inference ---------------------------------------------------------------------------------------------
    def greedy_decode(
        self,
        src: np.ndarray,
        max_len: int,
        bos: int,
        eos: int,
        src_mask: np.ndarray | None = None,
        *,
        need_weights: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray | None]:
        """Feed back the most likely token until every row has written ``eos`` or ``max_len`` tokens.

        Returns ``tokens (B, L)`` int64 (``L <= max_len``; after a row's ``eos`` come ``pad_id``), and
        with ``need_weights`` also ``weights (B, L, S)`` (``None`` without attention). The layers'
        caches are left as they were, so a pending ``backward`` is not disturbed.
        """
        check_array("Seq2Seq.greedy_decode", "src", src)
        if src_mask is not None:
            check_array("Seq2Seq.greedy_decode", "src_mask", src_mask)
        check_source("Seq2Seq.greedy_decode", src, src_mask)
        check_decode_args("Seq2Seq.greedy_decode", max_len, bos, eos, self.tgt_vocab_size)
        saved = save_caches(self)
        try:
            enc_out, attn_mask, (h, c) = self._encode(src, src_mask)
            final_h = h
            batch = src.shape[0]
            token = np.full(batch, bos, dtype=np.int64)
            done = np.zeros(batch, dtype=bool)
            tokens, all_weights = [], []
            for _ in range(max_len):
                context, w = self._context(h, enc_out, attn_mask, final_h)
                x = np.concatenate([self.tgt_embed.weight.data[token], context], axis=1)  # (B, E + H)
                h, c, _ = self.decoder.step(x, h, c)
                features = np.concatenate([h, context], axis=1)  # (B, 2H)
                logits = features @ self.out.weight.data.T + self.out.bias.data  # (B, 2H) @ (2H, V) -> (B, V)
                token = np.where(done, self.pad_id, logits.argmax(axis=1))
                done |= token == eos
                tokens.append(token)
                all_weights.append(w)
                if done.all():
                    break
        finally:
            restore_caches(saved)
        out = np.stack(tokens, axis=1)  # L x (B,) -> (B, L)
        if not need_weights:
            return out
        return out, (None if self.attention is None else np.stack(all_weights, axis=1))  # L x (B, S) -> (B, L, S)

    def extra_repr(self) -> str:
        return f"use_attention={self.use_attention}"
