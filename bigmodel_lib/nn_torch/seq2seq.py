"""The encoder-decoder LSTM with Bahdanau attention in PyTorch (equations: ``nn_numpy.seq2seq``).

Same layers, argument names and state_dict keys as ``nn_numpy.Seq2Seq``. The encoder is the fused
``nn.LSTM`` (cuDNN on a GPU) run on a packed batch, so each source's final state is taken at its own
last character; the decoder is an ``nn.LSTMCell`` stepped in a Python loop, because each step needs
the context computed from the previous state. Autograd does backpropagation through time.

The key projection ``W_k h_j`` does not depend on the decoder step, so it is computed once per batch
(:meth:`Seq2Seq.encode`) rather than once per target step; each step then only projects its query.
The result is exactly ``AdditiveAttention.forward`` (tested), at a fraction of the cost.
"""

from __future__ import annotations

import torch

from bigmodel_lib._checks import check_positive_int, check_tensor
from bigmodel_lib.contracts.seq2seq import check_decode_args, check_source, check_target
from bigmodel_lib.nn_torch.attention import AdditiveAttention, _masked_softmax
from bigmodel_lib.nn_torch.embedding import Embedding
from bigmodel_lib.nn_torch.linear import Linear
from bigmodel_lib.nn_torch.lstm import LSTM, LSTMCell
from bigmodel_lib.nn_torch.module import Module


class Seq2Seq(Module):
    """LSTM encoder, LSTM-cell decoder fed ``[E y_{t-1}; c_t]``, additive attention, output ``W_o [s_t; c_t]``.

    ``forward(src (B, S), tgt_in (B, T), src_mask (B, S) = None) -> (logits (B, T, V), weights (B, T, S))``
    (teacher forcing; ``weights`` is ``None`` with ``use_attention=False``);
    ``greedy_decode(src, max_len, bos, eos, src_mask=None, *, need_weights=False)`` for inference.
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
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("src_vocab_size", src_vocab_size), ("tgt_vocab_size", tgt_vocab_size),
                            ("embed_dim", embed_dim), ("hidden_size", hidden_size)):
            check_positive_int("Seq2Seq", name, value)
        attention_dim = hidden_size if attention_dim is None else attention_dim
        check_positive_int("Seq2Seq", "attention_dim", attention_dim)
        self.src_vocab_size, self.tgt_vocab_size = src_vocab_size, tgt_vocab_size
        self.embed_dim, self.hidden_size, self.attention_dim = embed_dim, hidden_size, attention_dim
        self.use_attention, self.pad_id = bool(use_attention), pad_id
        factory = {"device": device, "dtype": dtype}
        self.src_embed = Embedding(src_vocab_size, embed_dim, padding_idx=pad_id, **factory)
        self.encoder = LSTM(embed_dim, hidden_size, **factory)
        self.tgt_embed = Embedding(tgt_vocab_size, embed_dim, padding_idx=pad_id, **factory)
        self.attention = (
            AdditiveAttention(hidden_size, hidden_size, attention_dim, **factory) if use_attention else None
        )
        self.decoder = LSTMCell(embed_dim + hidden_size, hidden_size, **factory)
        self.out = Linear(2 * hidden_size, tgt_vocab_size, **factory)

    # -- the pieces ------------------------------------------------------------------------------------------
    def encode(self, src: torch.Tensor, src_mask: torch.Tensor | None) -> dict[str, torch.Tensor | None]:
        """Run the encoder once: its outputs, final state, the attention mask and the projected keys."""
        mask = torch.ones_like(src, dtype=torch.bool) if src_mask is None else src_mask
        embedded = self.src_embed(src)  # (B, S) -> (B, S, E)
        enc_out, (h_n, c_n) = self.encoder(embedded, lengths=mask.sum(dim=1))  # (B, S, H), 2 x (1, B, H)
        keys = None if self.attention is None else self.attention.W_k(enc_out)  # (B, S, H) -> (B, S, A), once
        return {"enc_out": enc_out, "keys": keys, "mask": mask.unsqueeze(1), "h": h_n[0], "c": c_n[0]}

    def attend(self, h: torch.Tensor, memory: dict[str, torch.Tensor | None]) -> tuple[torch.Tensor, torch.Tensor]:
        """Additive attention of the query ``s_{t-1} = h (B, H)``: ``(context (B, H), weights (B, S))``."""
        if self.attention is None:
            raise RuntimeError("Seq2Seq.attend: this model was built with use_attention=False")
        query = self.attention.W_q(h).unsqueeze(1)  # (B, H) -> (B, 1, A)
        features = torch.tanh(query + memory["keys"])  # (B, 1, A) + (B, S, A) -> (B, S, A)
        scores = (features @ self.attention.w_v.weight[0]).unsqueeze(1)  # (B, S, A) @ (A,) -> (B, S) -> (B, 1, S)
        weights = _masked_softmax(scores, memory["mask"])  # (B, 1, S); padded positions get 0
        context = weights @ memory["enc_out"]  # (B, 1, S) @ (B, S, H) -> (B, 1, H)
        return context[:, 0], weights[:, 0]

    def _step(
        self, token_embedding: torch.Tensor, h: torch.Tensor, c: torch.Tensor, memory: dict, final_h: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """One decoder step: ``(s_t, cell_t, features [s_t; c_t] (B, 2H), weights (B, S) or None)``."""
        context, weights = (final_h, None) if self.attention is None else self.attend(h, memory)
        h, c = self.decoder(torch.cat([token_embedding, context], dim=1), (h, c))  # [E y_{t-1}; c_t] -> s_t
        return h, c, torch.cat([h, context], dim=1), weights

    def _check(self, where: str, src: torch.Tensor, src_mask: torch.Tensor | None) -> None:
        check_tensor(where, "src", src)
        if src_mask is not None:
            check_tensor(where, "src_mask", src_mask)
        check_source(where, src, src_mask)

    # -- teacher forcing -------------------------------------------------------------------------------------
    def forward(
        self, src: torch.Tensor, tgt_in: torch.Tensor, src_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        self._check("Seq2Seq", src, src_mask)
        check_tensor("Seq2Seq", "tgt_in", tgt_in)
        check_target("Seq2Seq", tgt_in, src.shape[0])
        memory = self.encode(src, src_mask)
        h, c = memory["h"], memory["c"]
        final_h = h
        embedded = self.tgt_embed(tgt_in)  # (B, T) -> (B, T, E)
        features, weights = [], []
        for t in range(tgt_in.shape[1]):
            h, c, feature, w = self._step(embedded[:, t], h, c, memory, final_h)
            features.append(feature)
            weights.append(w)
        logits = self.out(torch.stack(features, dim=1))  # T x (B, 2H) -> (B, T, 2H) -> (B, T, V)
        return logits, (None if self.attention is None else torch.stack(weights, dim=1))  # (B, T, S)

    # -- inference ---------------------------------------------------------------------------------------------
    @torch.no_grad()
    def greedy_decode(
        self,
        src: torch.Tensor,
        max_len: int,
        bos: int,
        eos: int,
        src_mask: torch.Tensor | None = None,
        *,
        need_weights: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
        """Feed back the argmax until every row has written ``eos`` or ``max_len`` tokens (see NumPy twin)."""
        self._check("Seq2Seq.greedy_decode", src, src_mask)
        check_decode_args("Seq2Seq.greedy_decode", max_len, bos, eos, self.tgt_vocab_size)
        memory = self.encode(src, src_mask)
        h, c = memory["h"], memory["c"]
        final_h = h
        token = torch.full((src.shape[0],), bos, dtype=torch.long, device=src.device)
        done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
        tokens, all_weights = [], []
        for _ in range(max_len):
            h, c, feature, w = self._step(self.tgt_embed(token), h, c, memory, final_h)
            token = self.out(feature).argmax(dim=1).masked_fill(done, self.pad_id)  # (B, V) -> (B,)
            done |= token == eos
            tokens.append(token)
            all_weights.append(w)
            if bool(done.all()):  # one device sync per step; decoding is short
                break
        out = torch.stack(tokens, dim=1)  # L x (B,) -> (B, L)
        if not need_weights:
            return out
        return out, (None if self.attention is None else torch.stack(all_weights, dim=1))  # (B, L, S)

    def extra_repr(self) -> str:
        return f"use_attention={self.use_attention}"

