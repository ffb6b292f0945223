"""Which inputs does an output depend on? Three answers: attention weights, input gradients, occlusion.

Each function explains a *score* (usually the log-probability of one output token) in terms of the input
positions, and returns one number per position:

* :func:`attention_rollout` -- the attention weights themselves, composed through the layers of a
  Transformer (Abnar & Zuidema, 2020). For one attention layer (the cross-attention of a sequence-to-sequence
  model) the raw weights are read straight from the model: no function is needed.
* :func:`input_gradients` -- the gradient of the score with respect to each input embedding, times the
  embedding (gradient x input; Shrikumar et al., 2016; Denil et al., 2014) or its L2 norm (saliency;
  Simonyan et al., 2013). A first-order Taylor estimate of what removing the input would do.
* :func:`occlusion` -- replace one input token by others and measure how the score changes (occlusion,
  Zeiler & Fergus, 2014; erasure, Li, Monroe & Jurafsky, 2016). Costs one forward pass per position and
  replacement, but measures the model's behaviour rather than estimating it.

Attention weights say where information is *read from*, not what the output *depends on*: Jain & Wallace
(2019, "Attention is not Explanation") and Wiegreffe & Pinter (2019, "Attention is not not Explanation")
compare them with gradient and ablation measures; notebook 6.6 does the same on the date model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from bigmodel_lib._checks import check_tensor

__all__ = ["attention_rollout", "input_gradients", "occlusion"]


def attention_rollout(attentions: Sequence[np.ndarray | torch.Tensor], *, residual: float = 0.5) -> np.ndarray:
    """Attention rollout through the layers: ``R = A'_L ... A'_2 A'_1`` with ``A'_l = r I + (1 - r) A_l``.

    ``attentions[l]``: the self-attention weights of layer ``l`` (first layer first), ``(L, L)`` or
    ``(H, L, L)`` (the heads are averaged), each row a distribution over the keys. The identity term stands
    for the residual connection, which carries each token's own representation past the attention
    (``residual = r = 0.5`` as in Abnar & Zuidema, 2020, "Quantifying Attention Flow in Transformers", §3).
    Returns ``R (L, L)``: row ``i`` says how much of position ``i``'s last-layer representation traces back to
    each input token; every row sums to 1.
    """
    if len(attentions) == 0:
        raise ValueError("attention_rollout: 'attentions' is empty")
    if not 0.0 <= residual <= 1.0:
        raise ValueError(f"attention_rollout: 'residual' must be in [0, 1], got {residual}")
    rollout: np.ndarray | None = None
    for layer, weights in enumerate(attentions):
        a = np.asarray(weights.detach().cpu().numpy() if isinstance(weights, torch.Tensor) else weights,
                       dtype=np.float64)
        if a.ndim == 3:
            a = a.mean(axis=0)  # (H, L, L) -> (L, L): heads averaged
        if a.ndim != 2 or a.shape[0] != a.shape[1]:
            raise ValueError(f"attention_rollout: layer {layer} must be (L, L) or (H, L, L), got {a.shape}")
        if rollout is not None and a.shape != rollout.shape:
            raise ValueError(f"attention_rollout: layer {layer} has shape {a.shape}, the layers before {rollout.shape}")
        if not np.allclose(a.sum(axis=-1), 1.0, atol=1e-4):
            raise ValueError(f"attention_rollout: the rows of layer {layer} must sum to 1 (softmax weights)")
        mixed = residual * np.eye(a.shape[0]) + (1.0 - residual) * a  # (L, L), rows still sum to 1
        rollout = mixed if rollout is None else mixed @ rollout  # later layers on the left
    assert rollout is not None
    return rollout


def input_gradients(
    score_fn: Callable[[], torch.Tensor], embedding: nn.Module, *, method: str = "grad_x_input"
) -> torch.Tensor:
    """Gradient attribution of each score to each input position: ``(K, S)`` for ``K`` scores and ``S`` inputs.

    ``score_fn()`` runs the model (which must call ``embedding`` exactly once, on one sequence or a batch of
    one) and returns ``K`` scalar scores ``(K,)``, e.g. the log-probabilities of the ``K`` output tokens.
    With ``e_i`` the embedding of input ``i`` (captured by a forward hook) and ``f_k`` score ``k``:

    * ``method="grad_x_input"``: ``a_ki = sum_j (df_k / de_ij) e_ij`` -- gradient x input (Shrikumar et al.
      2016, "Not Just a Black Box"; Denil et al. 2014), the first-order estimate of ``f_k(e) - f_k(0)``
      contributed by input ``i``; it has a sign.
    * ``method="grad_norm"``: ``a_ki = ||df_k / de_i||_2`` -- the saliency of Simonyan et al. (2013),
      "Deep Inside Convolutional Networks"
      (the size of the local sensitivity, never negative).

    The model's parameters get no gradient (``torch.autograd.grad`` is used, not ``backward``).
    """
    if method not in ("grad_x_input", "grad_norm"):
        raise ValueError(f"input_gradients: 'method' must be 'grad_x_input' or 'grad_norm', got {method!r}")
    if not isinstance(embedding, nn.Module):
        raise TypeError(f"input_gradients: 'embedding' must be a torch.nn.Module, got {type(embedding).__name__}")
    captured: list[torch.Tensor] = []

    def keep_output(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        captured.append(output)

    handle = embedding.register_forward_hook(keep_output)
    try:
        with torch.enable_grad():
            scores = score_fn()
    finally:
        handle.remove()
    check_tensor("input_gradients", "score_fn()", scores)
    if len(captured) != 1:
        raise ValueError("input_gradients: the embedding must run exactly once in score_fn(), "
                         f"it ran {len(captured)} times")
    embedded = captured[0]
    if embedded.ndim == 3:
        if embedded.shape[0] != 1:
            raise ValueError("input_gradients: explain one sequence at a time (batch of 1), "
                             f"got {tuple(embedded.shape)}")
        embedded_one = embedded[0]  # (1, S, E) -> (S, E)
    elif embedded.ndim == 2:
        embedded_one = embedded
    else:
        raise ValueError("input_gradients: expected an embedding output (S, E) or (1, S, E), "
                         f"got {tuple(embedded.shape)}")
    scores = scores.reshape(-1)  # (K,)
    if not embedded.requires_grad:
        raise ValueError("input_gradients: the embedding output does not require a gradient (is the model frozen "
                         "or run under torch.no_grad()?)")
    rows = []
    for k in range(scores.numel()):
        (grad,) = torch.autograd.grad(scores[k], embedded, retain_graph=k + 1 < scores.numel())
        grad_one = grad[0] if grad.ndim == 3 else grad  # (S, E)
        if method == "grad_x_input":
            rows.append((grad_one * embedded_one).sum(dim=-1))  # (S, E) -> (S,)
        else:
            rows.append(grad_one.norm(dim=-1))  # (S, E) -> (S,)
    return torch.stack(rows).detach()  # K x (S,) -> (K, S)


@torch.no_grad()
def occlusion(
    score_fn: Callable[[torch.Tensor], torch.Tensor],
    ids: torch.Tensor,
    replacement_ids: Sequence[int],
    *,
    positions: Sequence[int] | None = None,
) -> torch.Tensor:
    """Occlusion (ablation) attribution: ``a_ik = f_k(x) - mean_r f_k(x with x_i := r)``, ``(S, K)``.

    ``ids (S,)``: one input sequence of token ids; ``score_fn(batch (N, S)) -> (N, K)``: ``K`` scores for each
    of ``N`` input sequences (e.g. the log-probabilities of the ``K`` output tokens of the unchanged output,
    by teacher forcing). Position ``i`` is replaced in turn by every id of ``replacement_ids`` that differs
    from ``ids[i]``; the mean score drop is its attribution (positive: the output needed that token). Positions
    not in ``positions`` (default: all) get 0. All edited copies go through ``score_fn`` in one batch.
    Zeiler & Fergus (2014), "Visualizing and Understanding Convolutional Networks" (occluding image
    patches); Li, Monroe & Jurafsky (2016), "Understanding Neural Networks through Representation Erasure".
    """
    check_tensor("occlusion", "ids", ids)
    if ids.ndim != 1 or ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"occlusion: 'ids' must be a 1-D integer tensor (S,), got {ids.dtype} {tuple(ids.shape)}")
    replacements = [int(r) for r in replacement_ids]
    if not replacements:
        raise ValueError("occlusion: 'replacement_ids' is empty")
    length = ids.shape[0]
    chosen = list(range(length)) if positions is None else [int(p) for p in positions]
    bad = [p for p in chosen if not 0 <= p < length]
    if bad:
        raise ValueError(f"occlusion: positions {bad[:5]} are outside [0, {length})")
    edited, owner = [], []
    for position in chosen:
        for r in replacements:
            if r != int(ids[position]):
                copy = ids.clone()
                copy[position] = r
                edited.append(copy)
                owner.append(position)
    base = score_fn(ids[None])  # (1, K)
    check_tensor("occlusion", "score_fn(ids)", base)
    if base.ndim != 2 or base.shape[0] != 1:
        raise ValueError(f"occlusion: score_fn must return (N, K), got {tuple(base.shape)} for N = 1")
    result = torch.zeros(length, base.shape[1], dtype=base.dtype, device=base.device)  # (S, K)
    if not edited:
        return result
    scores = score_fn(torch.stack(edited))  # (N_edits, S) -> (N_edits, K)
    owners = torch.tensor(owner, device=base.device)  # (N_edits,)
    counts = torch.zeros(length, dtype=base.dtype, device=base.device).index_add_(
        0, owners, torch.ones(len(owner), dtype=base.dtype, device=base.device))  # (S,)
    drops = base - scores  # (1, K) - (N_edits, K) -> (N_edits, K)
    result.index_add_(0, owners, drops)  # summed per position
    return result / counts.clamp(min=1)[:, None]  # (S, K) / (S, 1): the mean over that position's replacements
