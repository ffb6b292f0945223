"""Analytic counts, no timing: the FLOPs of a Transformer layer and the bytes of attention weights.

One convention for the whole course: a multiply-add is **2 FLOPs**, and every count says whether it is
the **forward** pass or **forward + backward** (training, 3 x the forward: the backward computes one
gradient for the input and one for the weight of every product). For a GPT with ``N`` non-embedding
parameters, ``n_layer`` layers of width ``d`` and context ``n_ctx``, per token::

    forward            = 2 N + 4 n_layer n_ctx d      (QK^T and PV over the full n_ctx: no causal discount)
    forward + backward = 6 N + 12 n_layer n_ctx d     (PaLM, Chowdhery et al. 2022, appendix B)

Kaplan et al. (2020) write the attention term as ``2 n_layer n_ctx d`` for the forward pass: ours
halved, the average over causal positions (query ``i`` sees ``i`` keys).
"""

from __future__ import annotations

from bigmodel_lib._checks import check_positive_int
from bigmodel_lib.scale.flops import TRAINING_OVER_FORWARD, gpt_forward_flops_per_token


def attention_weights_bytes(batch: int, heads: int, length: int, itemsize: int = 4, length_k: int | None = None) -> int:
    """Bytes of the materialised weights ``(B, h, Lq, Lk)``: ``B * h * Lq * Lk * itemsize`` (``Lk`` = ``Lq``)."""
    for name, value in (("batch", batch), ("heads", heads), ("length", length), ("itemsize", itemsize)):
        check_positive_int("attention_weights_bytes", name, value)
    length_k = length if length_k is None else length_k
    check_positive_int("attention_weights_bytes", "length_k", length_k)
    return int(batch) * int(heads) * int(length) * int(length_k) * int(itemsize)


def encoder_layer_flops(length: int, d_model: int, d_ff: int, batch: int = 1) -> dict[str, int]:
    """Forward FLOPs of one encoder layer, split into the part linear in L and the ``L^2`` part.

    ``linear = B (8 L d^2 + 4 L d d_ff)`` (Q, K, V, output projections; the two FFN matrices) and
    ``attention = B * 4 L^2 d`` (``Q K^T`` and ``P V``; a multiply-add counts 2). They are equal at
    ``L = 2 d + d_ff`` (``6 d`` for ``d_ff = 4 d``): beyond it, the quadratic part dominates.
    """
    for name, value in (("length", length), ("d_model", d_model), ("d_ff", d_ff), ("batch", batch)):
        check_positive_int("encoder_layer_flops", name, value)
    linear = batch * (8 * length * d_model**2 + 4 * length * d_model * d_ff)
    attention = batch * 4 * length**2 * d_model
    return {"linear": linear, "attention": attention}



def attention_layer_crossover(d_model: int, d_ff: int | None = None) -> int:
    """The length ``L = 2 d_model + d_ff`` where a layer's ``L^2`` attention FLOPs equal all its linear FLOPs.

    Per sequence, forward: ``4 L^2 d`` (``Q K^T``, ``P V``) against ``8 L d^2 + 4 L d d_ff`` (four
    projections, two FFN matrices); dividing by ``4 L d`` gives ``L = 2 d + d_ff`` (``6 d`` for the
    usual ``d_ff = 4 d``). Against the projections alone (no FFN) it would be ``L = 2 d``.
    The ratio is the same for forward + backward (both sides x 3).
    """
    d_ff = 4 * d_model if d_ff is None else d_ff
    check_positive_int("attention_layer_crossover", "d_model", d_model)
    check_positive_int("attention_layer_crossover", "d_ff", d_ff)
    return 2 * int(d_model) + int(d_ff)


def gpt_flops_per_token(non_embedding_params: int, n_layer: int, d_model: int, n_ctx: int, *,
                        training: bool = True) -> int:
    """FLOPs per token of a GPT: ``2 N + 4 n_layer n_ctx d`` forward; x 3 = ``6 N + 12 n_layer n_ctx d``
    for forward + backward (``training=True``, the default, as ``nn_torch.GPT.flops_per_token``).

    ``N``: the parameters in a matrix product per token (for the course's tied GPT, all but the position
    table: :meth:`bigmodel_lib.scale.ModelShape.matmul_parameters`). The formula itself lives in
    :func:`bigmodel_lib.scale.gpt_forward_flops_per_token`, the one source of it.
    """
    for name, value in (("non_embedding_params", non_embedding_params), ("n_layer", n_layer),
                        ("d_model", d_model), ("n_ctx", n_ctx)):
        check_positive_int("gpt_flops_per_token", name, value)
    forward = gpt_forward_flops_per_token(int(non_embedding_params), int(n_layer), int(n_ctx), int(d_model))
    return TRAINING_OVER_FORWARD * forward if training else forward
