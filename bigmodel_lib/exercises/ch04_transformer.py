"""Chapter 04 exercises on the encoder-decoder Transformer (notebook 04.4).

::

    from bigmodel_lib.exercises import ch04_transformer
    print(ch04_transformer.encoder_layer_parameters.prompt)
    ch04_transformer.encoder_layer_parameters.check(my_answer)

The answers are computed with the library (``nn_numpy.transformer``, ``nn_numpy.positional``), never
typed in, and each checker recognises the usual slips and names them: the parameter count multiplied by
the number of heads or missing the LayerNorms, the causal mask transposed or in PyTorch's "True =
blocked" convention, the cross-attention matrix transposed, the positional encoding multiplied in (as in
source article 3's code) instead of added, the ``<bos>`` or ``<eos>`` forgotten when counting decoding steps ...
A slip is named only when its value differs from the right answer (beyond the tolerance, for numbers).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bigmodel_lib.exercises.core import (
    Exercise,
    Verdict,
    as_int,
    as_int_tuple,
    close_to_or_known_mistake,
    exact_or_known_mistake,
    on_success,
)
from bigmodel_lib.nn_numpy.positional import sinusoidal_positional_encoding
from bigmodel_lib.nn_numpy.transformer import TransformerDecoderLayer, TransformerEncoderLayer

__all__ = [
    "CAUSAL_LENGTH",
    "CROSS_BATCH",
    "CROSS_HEADS",
    "CROSS_REAL_SOURCE",
    "CROSS_SOURCE_PADDED",
    "CROSS_TARGET_CHARS",
    "DECODE_MAX_LEN",
    "DECODE_TARGET_CHARS",
    "ENC_D_FF",
    "ENC_D_MODEL",
    "ENC_HEADS",
    "INPUT_D_MODEL",
    "INPUT_EMBEDDING_ROW",
    "INPUT_POSITION",
    "causal_mask",
    "cross_attention_shape",
    "encoder_layer_parameters",
    "greedy_decoder_passes",
    "input_vector",
]


# -- 1. parameters of one encoder layer ------------------------------------------------------------------------

ENC_D_MODEL, ENC_HEADS, ENC_D_FF = 64, 8, 256


def _encoder_layer_parameters() -> int:
    return TransformerEncoderLayer(ENC_D_MODEL, ENC_HEADS, ENC_D_FF, rng=np.random.default_rng(0)).num_parameters()


def _decoder_layer_parameters() -> int:
    return TransformerDecoderLayer(ENC_D_MODEL, ENC_HEADS, ENC_D_FF, rng=np.random.default_rng(0)).num_parameters()


_d, _h, _f = ENC_D_MODEL, ENC_HEADS, ENC_D_FF
_ATTN = 4 * _d * _d + 4 * _d  # W_Q, W_K, W_V, W_O (d x d each) and their biases
_FFN = 2 * _d * _f + _f + _d  # d -> d_ff -> d, with biases
_NORMS = 2 * 2 * _d  # two LayerNorms, gain and bias each

encoder_layer_parameters = Exercise(
    key="ch04_transformer.encoder_layer_parameters",
    prompt=(
        f"How many trainable parameters has one encoder layer\n"
        f"nn_numpy.TransformerEncoderLayer(d_model={_d}, num_heads={_h}, d_ff={_f}) "
        "(biases on, like torch.nn.TransformerEncoderLayer)?\n"
        "An exact int -- count by hand from the formulas of 4.4.1, then confirm with .num_parameters()."
    ),
    checker=on_success(exact_or_known_mistake(
        _encoder_layer_parameters,
        {
            "the count does not depend on the number of heads: each head projects to d_model/num_heads "
            "dimensions, so the heads together use one d_model x d_model matrix each for Q, K and V":
                lambda: 3 * _h * _d * _d + _d * _d + 4 * _d + _FFN + _NORMS,
            "the two LayerNorms are missing: each has a gain and a bias of d_model numbers (4 d_model in all)":
                lambda: _ATTN + _FFN,
            "the biases are missing: 3 d_model (Q, K, V) + d_model (output) + d_ff + d_model (the FFN)":
                lambda: 4 * _d * _d + 2 * _d * _f + _NORMS,
            "the attention's output projection W_O (d_model x d_model, plus its bias) is missing":
                lambda: 3 * _d * _d + 3 * _d + _FFN + _NORMS,
            "the feed-forward network has two linear layers, d_model -> d_ff and d_ff -> d_model":
                lambda: _ATTN + _d * _f + _f + _NORMS,
            "that is a decoder layer (it adds cross-attention and a third LayerNorm); the question asks for an "
            "encoder layer": _decoder_layer_parameters,
        },
        as_int,
        what="parameter count",
    ), lambda: (f"{_encoder_layer_parameters():,} parameters, exactly: self-attention {_ATTN:,} + feed-forward "
                f"{_FFN:,} + two LayerNorms {_NORMS:,} (the number of heads does not enter)")),
    hints=[
        "Three parts: self-attention (in_proj: 3 d x d + 3 d, out_proj: d x d + d), the FFN "
        "(d x d_ff + d_ff, d_ff x d + d) and two LayerNorms (2 d each).",
        "The heads split d_model into num_heads slices of d_model / num_heads: they add no parameters.",
        f"4 d^2 + 4 d + 2 d d_ff + d_ff + d + 4 d with d = {_d}, d_ff = {_f}.",
    ],
    reference=_encoder_layer_parameters,
    solution_text=(
        f"attention 4*{_d}^2 + 4*{_d} = {_ATTN}, FFN 2*{_d}*{_f} + {_f} + {_d} = {_FFN}, LayerNorms 4*{_d} = "
        f"{_NORMS}: {_encoder_layer_parameters()} in all (the number of heads does not enter)."
    ),
)


# -- 2. the causal mask ------------------------------------------------------------------------------------------

CAUSAL_LENGTH = 5


def _causal_mask() -> np.ndarray:
    return np.tril(np.ones((CAUSAL_LENGTH, CAUSAL_LENGTH), dtype=bool))  # query i may see keys j <= i


_CAUSAL_SLIPS = {
    "True must sit on and BELOW the diagonal (row = query i, column = key j <= i): this mask lets each "
    "position see the future and not the past": lambda: np.triu(np.ones((CAUSAL_LENGTH, CAUSAL_LENGTH), bool)),
    "that is PyTorch's nn.Transformer convention (True = blocked); in this library a bool mask says "
    "True = may attend": lambda: ~_causal_mask(),
    "the diagonal is missing: a position may attend to itself (key j = query i)":
        lambda: np.tril(np.ones((CAUSAL_LENGTH, CAUSAL_LENGTH), bool), k=-1),
}


def _causal_checker(answer: Any) -> Verdict:
    if isinstance(answer, (str, bytes)) or np.isscalar(answer):
        raise TypeError(f"expected a {CAUSAL_LENGTH} x {CAUSAL_LENGTH} array, got {type(answer).__name__}")
    array = np.asarray(answer.detach().cpu().numpy() if hasattr(answer, "detach") else answer)
    shape = (CAUSAL_LENGTH, CAUSAL_LENGTH)
    if array.shape != shape:
        return False, f"the mask should have shape {shape} (queries x keys), got {array.shape}"
    if array.dtype.kind not in "biuf":
        raise TypeError(f"expected booleans (or 0/1), got dtype {array.dtype}")
    if array.dtype.kind == "f" and np.isinf(array).any():
        return False, ("that is an additive mask (0 where allowed, -inf where blocked); answer with booleans, "
                       "True = may attend")
    if not np.isin(array, (0, 1)).all():
        return False, "a boolean mask holds only True/False (or 1/0)"
    mask = array.astype(bool)
    if np.array_equal(mask, _causal_mask()):
        return True, "the causal mask is right: query i attends to keys 0..i"
    for feedback, wrong in _CAUSAL_SLIPS.items():
        if np.array_equal(mask, wrong()):
            return False, feedback
    return False, "not the causal pattern: row i (query) should be True in columns 0..i and False after"


causal_mask = Exercise(
    key="ch04_transformer.causal_mask",
    prompt=(
        f"Build the decoder's causal (look-ahead) mask for a target of length T = {CAUSAL_LENGTH}: a boolean array\n"
        f"of shape ({CAUSAL_LENGTH}, {CAUSAL_LENGTH}), rows = queries, columns = keys, in this library's "
        "convention True = may attend.\n(The decoder layers build it themselves with causal=True; "
        "here you write it out.)"
    ),
    checker=_causal_checker,
    hints=[
        "Query i (row i) writes token i + 1; it may look at positions 0 .. i of its input, not beyond.",
        "So row i is True in columns j <= i: the lower triangle, diagonal included -- np.tril.",
    ],
    reference=_causal_mask,
    solution_text=(
        f"np.tril(np.ones(({CAUSAL_LENGTH}, {CAUSAL_LENGTH}), dtype=bool)) -- True on and below the diagonal. "
        "torch.nn.Transformer wants the opposite (True = blocked, or -inf above the diagonal in a float mask)."
    ),
)


# -- 3. the shape of the cross-attention weights -----------------------------------------------------------------

CROSS_BATCH, CROSS_HEADS, CROSS_SOURCE_PADDED, CROSS_REAL_SOURCE, CROSS_TARGET_CHARS = 32, 4, 19, 14, 10
_T = CROSS_TARGET_CHARS + 1  # the decoder reads <bos> + 10 characters

cross_attention_shape = Exercise(
    key="ch04_transformer.cross_attention_shape",
    prompt=(
        f"The date model of 04.4 (num_heads={CROSS_HEADS}) is trained on a batch of {CROSS_BATCH} dates. The "
        f"sources are padded to S = {CROSS_SOURCE_PADDED} characters\n(the first date has {CROSS_REAL_SOURCE} "
        f"real ones); every target is {CROSS_TARGET_CHARS} characters, fed to the decoder with teacher forcing as "
        "tgt_in = <bos> + target.\nWhat is the shape of the cross-attention weights of one decoder layer, as "
        "capture_attention records them? A tuple of four ints."
    ),
    checker=on_success(exact_or_known_mistake(
        lambda: (CROSS_BATCH, CROSS_HEADS, _T, CROSS_SOURCE_PADDED),
        {
            "rows are the queries (decoder positions), columns the keys (source positions): (B, heads, T, S)":
                lambda: (CROSS_BATCH, CROSS_HEADS, CROSS_SOURCE_PADDED, _T),
            "the weights are kept per head: (B, heads, T, S)":
                lambda: (CROSS_BATCH, _T, CROSS_SOURCE_PADDED),
            "that is the decoder's self-attention (T x T); in cross-attention the keys are the encoder's S "
            "positions": lambda: (CROSS_BATCH, CROSS_HEADS, _T, _T),
            "that is the encoder's self-attention (S x S); cross-attention has the decoder's T positions as "
            "queries": lambda: (CROSS_BATCH, CROSS_HEADS, CROSS_SOURCE_PADDED, CROSS_SOURCE_PADDED),
            "the decoder reads <bos> + 10 characters = 11 positions; <eos> is only in the output it must write, "
            "so T = 11": lambda: (CROSS_BATCH, CROSS_HEADS, _T + 1, CROSS_SOURCE_PADDED),
            "<bos> is a decoder position too: T = 1 + 10 = 11": lambda: (CROSS_BATCH, CROSS_HEADS, _T - 1,
                                                                        CROSS_SOURCE_PADDED),
            "the padded positions still have columns (their weight is 0): the batch is padded to S = "
            f"{CROSS_SOURCE_PADDED}": lambda: (CROSS_BATCH, CROSS_HEADS, _T, CROSS_REAL_SOURCE),
        },
        as_int_tuple,
        what="shape",
    ), lambda: (f"the shape is (B, heads, T, S) = {(CROSS_BATCH, CROSS_HEADS, _T, CROSS_SOURCE_PADDED)}: "
                f"queries are the decoder's {_T} input positions, keys the {CROSS_SOURCE_PADDED} padded source "
                "positions")),
    hints=[
        "Attention weights are (batch, heads, queries, keys). Who asks, who is asked?",
        "In cross-attention the decoder asks (its T input positions) and the encoder's output is asked "
        "(S padded source positions).",
    ],
    reference=lambda: (CROSS_BATCH, CROSS_HEADS, _T, CROSS_SOURCE_PADDED),
    solution_text=(
        f"(B, heads, T, S) = ({CROSS_BATCH}, {CROSS_HEADS}, {_T}, {CROSS_SOURCE_PADDED}); each row sums to 1 "
        f"over the {CROSS_REAL_SOURCE} real characters of the first date, its padding columns hold 0."
    ),
)


# -- 4. the input of the first layer: add the positions, do not multiply ------------------------------------------

INPUT_D_MODEL = 4
INPUT_EMBEDDING_ROW = np.array([0.5, -0.25, 0.1, 0.3])  # E[id], the embedding table's row for the token
INPUT_POSITION = 1  # the second character: positions count from 0


def _pe(position: int, swap: bool = False) -> np.ndarray:
    row = sinusoidal_positional_encoding(position + 1, INPUT_D_MODEL, dtype=np.float64)[position]
    if swap:  # cos in the even columns, sin in the odd ones
        row = row.reshape(-1, 2)[:, ::-1].reshape(-1)
    return row


_SCALE = math.sqrt(INPUT_D_MODEL)

input_vector = Exercise(
    key="ch04_transformer.input_vector",
    prompt=(
        f"A model with d_model = {INPUT_D_MODEL}. The embedding table's row for a source character is\n"
        f"E[id] = {INPUT_EMBEDDING_ROW.tolist()} (ch04_transformer.INPUT_EMBEDDING_ROW), and the character is "
        f"the second of the source (position {INPUT_POSITION}; positions count from 0).\n"
        "What vector does the first encoder layer receive for it (no dropout)? An array of 4 numbers, each to "
        "3 decimal places\n(within 0.001) -- compute it with np.sin / np.cos, then compare with "
        "model.src_pos(model.src_embed(ids)) of a nn_numpy.Transformer."
    ),
    checker=on_success(close_to_or_known_mistake(
        lambda: _SCALE * INPUT_EMBEDDING_ROW + _pe(INPUT_POSITION),
        {
            "multiplied by the positional encoding, as in source article 3's code: the encoding is ADDED, "
            "x = sqrt(d_model) E[id] + PE[pos]": lambda: _SCALE * INPUT_EMBEDDING_ROW * _pe(INPUT_POSITION),
            "multiplied by the positional encoding (source article 3's code) and not scaled: x = sqrt(d_model) E[id] "
            "+ PE[pos]": lambda: INPUT_EMBEDDING_ROW * _pe(INPUT_POSITION),
            "the embedding is scaled by sqrt(d_model) = 2 before the encoding is added":
                lambda: INPUT_EMBEDDING_ROW + _pe(INPUT_POSITION),
            "the embedding is MULTIPLIED by sqrt(d_model), not divided":
                lambda: INPUT_EMBEDDING_ROW / _SCALE + _pe(INPUT_POSITION),
            "only the embedding is scaled by sqrt(d_model), not the positional encoding":
                lambda: _SCALE * (INPUT_EMBEDDING_ROW + _pe(INPUT_POSITION)),
            "that is position 0's encoding; the second character is at position 1":
                lambda: _SCALE * INPUT_EMBEDDING_ROW + _pe(0),
            "that is position 2's encoding; positions count from 0, so the second character is at position 1":
                lambda: _SCALE * INPUT_EMBEDDING_ROW + _pe(2),
            "sine and cosine are swapped: PE[pos, 2i] = sin(pos w_i) in the even features, cos in the odd ones":
                lambda: _SCALE * INPUT_EMBEDDING_ROW + _pe(INPUT_POSITION, swap=True),
        },
        rtol=0.0,
        atol=1e-3,
        what="input vector",
    ), lambda: f"x = sqrt({INPUT_D_MODEL}) E[id] + PE[{INPUT_POSITION}]: all 4 components within 0.001"),
    hints=[
        "x = sqrt(d_model) * E[id] + PE[pos] (Vaswani et al., 2017, sections 3.4 and 3.5).",
        "PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(pos / 10000^(2i/d)); for d = 4 the two "
        "frequencies are 1 and 1/100.",
        "PE[1] = [sin 1, cos 1, sin 0.01, cos 0.01].",
    ],
    reference=lambda: _SCALE * INPUT_EMBEDDING_ROW + _pe(INPUT_POSITION),
    solution_text=(
        f"2 * {INPUT_EMBEDDING_ROW.tolist()} + [sin 1, cos 1, sin 0.01, cos 0.01] = "
        f"{np.round(_SCALE * INPUT_EMBEDDING_ROW + _pe(INPUT_POSITION), 4).tolist()}"
    ),
)


# -- 5. how much work greedy decoding does -------------------------------------------------------------------------

DECODE_TARGET_CHARS, DECODE_MAX_LEN = 10, 11


def _passes(generated: int, first_prefix: int = 1) -> tuple[int, int]:
    """(decoder calls, positions read in all): call t reads a prefix of ``first_prefix + t - 1`` tokens."""
    return generated, sum(first_prefix + t for t in range(generated))


_GENERATED = DECODE_TARGET_CHARS + 1  # the characters and <eos>

greedy_decoder_passes = Exercise(
    key="ch04_transformer.greedy_decoder_passes",
    prompt=(
        f"Transformer.greedy_decode(src, bos_id, eos_id, max_len={DECODE_MAX_LEN}) translates a batch of dates; "
        f"the model writes every one right:\n{DECODE_TARGET_CHARS} characters, then <eos>. The encoder runs once. "
        "How many times does greedy_decode call the decoder (model.decode),\nand how many target positions do "
        "those calls process in all, per date? (The library keeps no key/value cache: each call reads the\n"
        "whole prefix so far.) Answer with a tuple of two exact ints (calls, positions)."
    ),
    checker=on_success(exact_or_known_mistake(
        lambda: _passes(_GENERATED),
        {
            "the <eos> is generated too, by its own decoder call: 10 characters + <eos> = 11 calls":
                lambda: _passes(DECODE_TARGET_CHARS),
            "the <bos> is given, not generated: the first call reads [<bos>] and writes the first character":
                lambda: _passes(_GENERATED + 1),
            "without a cache, call t re-reads the whole prefix of t tokens: 1 + 2 + ... + 11 positions":
                lambda: (_GENERATED, _GENERATED),
            "the prefix grows: call t reads <bos> and the t - 1 tokens written so far, t positions, not all 11":
                lambda: (_GENERATED, _GENERATED * _GENERATED),
            "call t reads t positions (<bos> plus t - 1 written tokens), so the first call reads just one":
                lambda: _passes(_GENERATED, first_prefix=2),
        },
        as_int_tuple,
        what="(calls, positions)",
    ), lambda: (f"{_passes(_GENERATED)}: one decoder call per generated token, <eos> included, each re-reading "
                f"the prefix so far")),
    hints=[
        "One decoder call per generated token; count the tokens the model writes, <eos> included.",
        "Call 1 reads [<bos>], call 2 reads [<bos>, y_1], ...: add up the prefix lengths.",
    ],
    reference=lambda: _passes(_GENERATED),
    solution_text=(
        f"{_GENERATED} calls (10 characters + <eos>), reading 1 + 2 + ... + {_GENERATED} = "
        f"{_passes(_GENERATED)[1]} positions; a key/value cache (notebook 04.5) would read each position once, "
        f"{_GENERATED} in all."
    ),
)
