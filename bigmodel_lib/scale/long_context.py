"""Cost of one attention layer on a long sequence: full softmax, sliding-window and linear attention.

Counted per layer and per sequence of ``L`` tokens, for ``h`` heads of width ``d_h`` (values as wide as
keys), with the course's FLOP convention (a multiply-add is 2 FLOPs; only the matrix products are counted,
as in :mod:`bigmodel_lib.scale.flops`; row sums, exponentials and normalisers are lower order)::

    forward FLOPs                        full       4 L^2 h d_h       (Q K^T and A V, all L keys; no causal discount)
                                         window     4 L min(w, L) h d_h   (each query: at most w keys)
                                         linear     4 L h d_h^2       (phi(K)^T V or its prefix sums, then phi(Q) S)

    numbers the forward keeps            full       h L^2             (the attention weights)
    for the backward                     window     h L min(w, L)     (a banded kernel keeps only the band)
                                         linear     h L d_h (d_h + 1) causal: every prefix state S_i, z_i
                                                    h d_h (d_h + 1)   non-causal: one S and one z

    numbers kept while generating        full       2 L h d_h         (the key/value cache)
    (per layer, per sequence)            window     2 min(w, L) h d_h (a rolling buffer of the last w keys/values)
                                         linear     h d_h (d_h + 1)   (the state S and z: constant in L)

Full and linear attention cost the same forward FLOPs at ``L = d_h``; beyond it linear attention is
cheaper. Sources: Katharopoulos et al. (2020), "Transformers are RNNs", sections 3.2-3.4 (cost, causal masking,
the RNN view);
Mistral 7B (Jiang et al. 2023), section 2 (sliding window, rolling buffer cache).
"""

from __future__ import annotations

from bigmodel_lib.scale._checks import one_of, positive_int

ATTENTION_KINDS = ("full", "window", "linear")


def _sizes(where: str, kind: str, seq_len: int, n_head: int, d_head: int, window: int | None) -> tuple[int, ...]:
    one_of(where, "kind", kind, ATTENTION_KINDS)
    length = positive_int(where, "seq_len", seq_len)
    heads = positive_int(where, "n_head", n_head)
    width = positive_int(where, "d_head", d_head)
    if kind == "window":
        if window is None:
            raise ValueError(f"{where}: kind='window' needs 'window' (keys per query), got None")
        keys = min(positive_int(where, "window", window), length)
    else:
        keys = length
    return length, heads, width, keys


def attention_forward_flops(kind: str, seq_len: int, n_head: int, d_head: int, window: int | None = None) -> int:
    """Forward FLOPs of the attention products of one layer on one sequence (see the module's table)."""
    length, heads, width, keys = _sizes("attention_forward_flops", kind, seq_len, n_head, d_head, window)
    if kind == "linear":
        return 4 * length * heads * width * width
    return 4 * length * keys * heads * width


def attention_saved_numbers(kind: str, seq_len: int, n_head: int, d_head: int, window: int | None = None, *,
                            causal: bool = True) -> int:
    """Numbers the forward of one layer keeps for its backward (weights, or linear attention's states)."""
    length, heads, width, keys = _sizes("attention_saved_numbers", kind, seq_len, n_head, d_head, window)
    if kind == "linear":
        return (length if causal else 1) * heads * width * (width + 1)
    return heads * length * keys


def decoding_state_numbers(kind: str, seq_len: int, n_head: int, d_head: int, window: int | None = None) -> int:
    """Numbers one layer keeps per sequence while generating after ``seq_len`` tokens (KV cache or state)."""
    length, heads, width, keys = _sizes("decoding_state_numbers", kind, seq_len, n_head, d_head, window)
    if kind == "linear":
        return heads * width * (width + 1)
    return 2 * keys * heads * width
