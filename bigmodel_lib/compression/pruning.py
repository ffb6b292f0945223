"""Pruning a trained GPT: zero its smallest weights (unstructured) or cut whole heads and neurons (structured).

* **Unstructured magnitude pruning** (Han et al., 2015): remove the fraction ``s`` of weights with the smallest
  ``|w|``, either over all pruned matrices at once (*global*: one threshold) or in each matrix separately
  (*per layer*: each loses exactly ``s``). :func:`magnitude_masks` does it in NumPy; :func:`torch_prune_linears`
  does it with ``torch.nn.utils.prune`` (``l1_unstructured`` / ``global_unstructured``, then ``prune.remove``).
  Both keep ``round(s n)`` weights out of ``n`` and give the same masks on the same weights (tested). The
  matrices keep their shape: a dense matmul does as much work with the zeros as without them.
* **Structured pruning** removes whole attention heads or feed-forward neurons, so the matrices shrink.
  :func:`taylor_importance` scores each head and neuron by the first-order Taylor estimate of the loss change when
  it is removed, ``|dL/d xi|`` for a gate ``xi = 1`` on its output (Michel et al., 2019, for heads; Molchanov et
  al., 2017, for neurons); :func:`weight_norm_importance` is the cheap score from the weights alone.
  :func:`remove_heads_and_neurons` returns a smaller copy of the model.

The library's ``PositionwiseFeedForward`` accepts any width ``d_ff``, so a pruned FFN is that same layer,
narrower. Its ``MultiHeadAttention`` ties ``heads x d_head = d_model``, so a layer with fewer heads is
:class:`PrunedSelfAttention` below (queries, keys and values of the kept heads only; output ``(h' d_head) -> d``).
A pruned model's blocks differ in width, which one ``GPTConfig`` cannot describe: it is used as a module, and
saved with ``torch.save`` of the module or rebuilt from the kept indices.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

from bigmodel_lib.lm_training import train_step
from bigmodel_lib.nn_torch.linear import Linear
from bigmodel_lib.nn_torch.transformer import PositionwiseFeedForward

__all__ = [
    "PrunedSelfAttention",
    "apply_masks_",
    "forward_flops_per_token",
    "head_parameters",
    "magnitude_masks",
    "masked_train_step",
    "model_nbytes",
    "neuron_parameters",
    "prunable_linears",
    "remove_heads_and_neurons",
    "sparsity_of",
    "taylor_importance",
    "torch_prune_linears",
    "weight_norm_importance",
]

SCOPES = ("global", "layer")


def _check_fraction(where: str, name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{where}: '{name}' must be a number in [0, 1], got {value!r}")
    return float(value)


def _check_scope(where: str, scope: str) -> str:
    if scope not in SCOPES:
        raise ValueError(f"{where}: 'scope' must be one of {SCOPES}, got {scope!r}")
    return scope


# -- unstructured: NumPy ---------------------------------------------------------------------------------------------

def _smallest_mask(magnitudes: np.ndarray, amount: int) -> np.ndarray:
    """``True`` everywhere except at the ``amount`` smallest entries of the flat array ``magnitudes``."""
    keep = np.ones(magnitudes.size, dtype=bool)
    if amount > 0:
        keep[np.argpartition(magnitudes, amount - 1)[:amount]] = False  # the amount smallest, in any order
    return keep


def magnitude_masks(
    weights: Mapping[str, np.ndarray], sparsity: float, *, scope: str = "global"
) -> dict[str, np.ndarray]:
    """Boolean masks (``True`` = kept) removing the fraction ``sparsity`` of smallest-magnitude weights.

    ``scope="global"``: one ranking over all arrays together (``round(sparsity x total)`` removed, unevenly
    spread); ``"layer"``: ``round(sparsity x size)`` removed from each array. The count is rounded as
    ``torch.nn.utils.prune`` rounds it (Python's ``round``). Ties at the threshold are broken arbitrarily (real
    weights have none).
    """
    sparsity = _check_fraction("magnitude_masks", "sparsity", sparsity)
    _check_scope("magnitude_masks", scope)
    arrays = {name: np.asarray(w) for name, w in weights.items()}
    if scope == "layer":
        return {name: _smallest_mask(np.abs(w).ravel(), round(sparsity * w.size)).reshape(w.shape)
                for name, w in arrays.items()}
    flat = np.concatenate([np.abs(w).ravel() for w in arrays.values()])  # (total,)
    keep = _smallest_mask(flat, round(sparsity * flat.size))
    masks, start = {}, 0
    for name, w in arrays.items():
        masks[name] = keep[start:start + w.size].reshape(w.shape)
        start += w.size
    return masks


def sparsity_of(arrays: Iterable[np.ndarray | torch.Tensor]) -> float:
    """Fraction of exact zeros over all the arrays (or tensors) together."""
    zeros = total = 0
    for a in arrays:
        a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
        zeros += int(np.count_nonzero(a == 0))
        total += a.size
    return zeros / max(total, 1)


# -- unstructured: PyTorch -------------------------------------------------------------------------------------------

def prunable_linears(model: nn.Module) -> dict[str, nn.Linear]:
    """The Linear layers inside the Transformer blocks (attention and FFN), by name: what pruning touches.

    The token embedding (also the tied output layer) and the LayerNorms are left alone, as in most pruning work.
    """
    return {name: module for name, module in model.named_modules()
            if isinstance(module, nn.Linear) and name.startswith("blocks.")}


def torch_prune_linears(model: nn.Module, sparsity: float, *, scope: str = "global") -> dict[str, torch.Tensor]:
    """Magnitude-prune :func:`prunable_linears` in place with ``torch.nn.utils.prune``; return the masks.

    ``"global"``: ``prune.global_unstructured(..., pruning_method=prune.L1Unstructured)``, one threshold;
    ``"layer"``: ``prune.l1_unstructured`` on each weight. Then ``prune.remove`` makes the zeros permanent
    (the ``weight_orig`` / ``weight_mask`` pair and the forward hook go away; ``weight`` is a plain parameter
    again). The returned masks (``True`` = kept) let a fine-tune keep the pruned weights at zero
    (:func:`apply_masks_`).
    """
    sparsity = _check_fraction("torch_prune_linears", "sparsity", sparsity)
    _check_scope("torch_prune_linears", scope)
    linears = prunable_linears(model)
    if scope == "global":
        prune.global_unstructured([(m, "weight") for m in linears.values()], pruning_method=prune.L1Unstructured,
                                  amount=sparsity)
    else:
        for module in linears.values():
            prune.l1_unstructured(module, "weight", amount=sparsity)
    masks = {}
    for name, module in linears.items():
        masks[f"{name}.weight"] = module.weight_mask.detach().bool().clone()
        prune.remove(module, "weight")
    return masks


@torch.no_grad()
def apply_masks_(model: nn.Module, masks: Mapping[str, torch.Tensor]) -> None:
    """Zero the pruned weights again (``weight *= mask``): call after each optimizer step of a fine-tune."""
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        params[name].mul_(mask.to(params[name].dtype))


def masked_train_step(masks: Mapping[str, torch.Tensor]) -> Callable[..., torch.Tensor]:
    """A ``step_fn`` for ``lm_training.train_language_model`` that fine-tunes a pruned model: the usual
    ``train_step``, then :func:`apply_masks_`, so the pruned weights stay zero (AdamW would regrow them)."""

    def step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
             **kwargs: object) -> torch.Tensor:
        loss = train_step(model, optimizer, x, y, **kwargs)
        apply_masks_(model, masks)
        return loss

    return step


# -- structured: scores ----------------------------------------------------------------------------------------------

def _blocks(model: nn.Module) -> Sequence[nn.Module]:
    blocks = getattr(model, "blocks", None)
    if blocks is None:
        raise TypeError(f"expected a GPT with .blocks, got {type(model).__name__}")
    return blocks


def taylor_importance(model: nn.Module, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, np.ndarray]:
    """First-order Taylor importance of every head and FFN neuron: ``I = mean over batches |dL / d xi|``.

    A gate ``xi`` (all ones, so the model is unchanged) multiplies each head's output before ``out_proj`` and each
    neuron's activation before ``linear2``; ``L(xi = 0) - L(xi = 1) ~ -dL/dxi``, so ``|dL/dxi|`` estimates how
    much the loss moves when that head or neuron is cut (Michel et al., 2019, "Are Sixteen Heads Really Better
    than One?", §4.1, who take the expectation of ``|A_h^T dL/dA_h|`` over examples; here over batches).
    Returns ``{"heads": (n_layer, n_head), "neurons": (n_layer, d_ff)}``. Parameter gradients are left zeroed.
    """
    blocks = _blocks(model)
    ref = next(model.parameters())
    head_gates = [torch.ones(b.self_attn.num_heads, device=ref.device, dtype=ref.dtype, requires_grad=True)
                  for b in blocks]
    neuron_gates = [torch.ones(b.ffn.d_ff, device=ref.device, dtype=ref.dtype, requires_grad=True) for b in blocks]
    hooks = []
    for block, hg, ng in zip(blocks, head_gates, neuron_gates):
        d_head = block.self_attn.head_dim

        def gate_heads(module, args, gate=hg, d_head=d_head):
            return (args[0] * gate.repeat_interleave(d_head),)  # (B, T, h dh) * (h dh,): head h scaled by gate[h]

        def gate_neurons(module, args, gate=ng):
            return (args[0] * gate,)  # (B, T, d_ff) * (d_ff,)

        hooks.append(block.self_attn.out_proj.register_forward_pre_hook(gate_heads))
        hooks.append(block.ffn.linear2.register_forward_pre_hook(gate_neurons))
    heads = np.zeros((len(blocks), blocks[0].self_attn.num_heads))
    neurons = np.zeros((len(blocks), blocks[0].ffn.d_ff))
    was_training = model.training
    model.eval()
    try:
        for x, y in batches:
            logits = model(x)  # (B, T, V)
            loss = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())
            grads = torch.autograd.grad(loss, head_gates + neuron_gates)
            for layer in range(len(blocks)):
                heads[layer] += grads[layer].abs().double().cpu().numpy()
                neurons[layer] += grads[len(blocks) + layer].abs().double().cpu().numpy()
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return {"heads": heads / len(batches), "neurons": neurons / len(batches)}


@torch.no_grad()
def weight_norm_importance(model: nn.Module) -> dict[str, np.ndarray]:
    """The cheap score from the weights alone: for head ``h`` the Frobenius norm of its rows of ``W_Q, W_K, W_V``
    times that of its columns of ``W_O``; for neuron ``j`` ``||W_1[j, :]|| ||W_2[:, j]||``. Same layout as
    :func:`taylor_importance`."""
    heads, neurons = [], []
    for block in _blocks(model):
        attn = block.self_attn
        h, dh, d = attn.num_heads, attn.head_dim, attn.d_model
        w_in = attn.in_proj.weight.double().view(3, h, dh, d)  # (3 d, d) -> (Q/K/V, h, dh, d)
        w_out = attn.out_proj.weight.double().view(d, h, dh)  # (d, h dh) -> (d, h, dh)
        heads.append((w_in.pow(2).sum(dim=(0, 2, 3)).sqrt() * w_out.pow(2).sum(dim=(0, 2)).sqrt()).cpu().numpy())
        ffn = block.ffn
        neuron_norms = ffn.linear1.weight.double().norm(dim=1) * ffn.linear2.weight.double().norm(dim=0)  # (d_ff,)
        neurons.append(neuron_norms.cpu().numpy())
    return {"heads": np.stack(heads), "neurons": np.stack(neurons)}


# -- structured: the smaller model -----------------------------------------------------------------------------------

class PrunedSelfAttention(nn.Module):
    """Causal self-attention keeping ``n_head`` of the original heads: ``in_proj (3 h' dh, d)``, ``out_proj (d, h' dh)``
    (``h'`` = ``n_head`` kept heads, ``dh`` = ``head_dim``).

    Built by :meth:`from_attention` from a library ``CausalSelfAttention`` (learned positions, one key/value head
    per query head) and a list of heads to keep; with the same heads it computes the same function. With no head
    left the layer outputs ``out_proj``'s bias: the residual stream passes through. Training and scoring only:
    no KV cache (``cache`` must be ``None``).
    """

    def __init__(self, d_model: int, n_head: int, head_dim: int, *, bias: bool = True, dropout: float = 0.0,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.d_model, self.num_heads, self.head_dim, self.dropout = d_model, n_head, head_dim, dropout
        inner = n_head * head_dim
        with warnings.catch_warnings():  # no head left: zero-size matrices, whose random init PyTorch warns about
            warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
            self.in_proj = Linear(d_model, 3 * inner, bias=bias, **factory)
            self.out_proj = Linear(inner, d_model, bias=bias, **factory)

    @classmethod
    @torch.no_grad()
    def from_attention(cls, attention: nn.Module, keep_heads: Sequence[int]) -> PrunedSelfAttention:
        h, dh, d = attention.num_heads, attention.head_dim, attention.d_model
        if getattr(attention, "num_kv_heads", h) != h or getattr(attention, "rope", None) is not None:
            raise ValueError("PrunedSelfAttention.from_attention: only multi-head attention with learned positions "
                             "(n_kv_head = n_head, no RoPE) is supported")
        keep = sorted(set(int(i) for i in keep_heads))
        if any(not 0 <= i < h for i in keep):
            raise ValueError(f"PrunedSelfAttention.from_attention: 'keep_heads' must be in [0, {h}), got {keep}")
        ref = attention.in_proj.weight
        bias = attention.in_proj.bias is not None
        pruned = cls(d, len(keep), dh, bias=bias, dropout=attention.dropout, device=ref.device, dtype=ref.dtype)
        rows = torch.tensor([part * d + i * dh + j for part in range(3) for i in keep for j in range(dh)],
                            dtype=torch.long, device=ref.device)  # kept rows of [W_Q; W_K; W_V]
        cols = rows[: len(keep) * dh]  # the same heads' columns of W_O
        pruned.in_proj.weight.copy_(attention.in_proj.weight[rows])
        pruned.out_proj.weight.copy_(attention.out_proj.weight[:, cols])
        if bias:
            pruned.in_proj.bias.copy_(attention.in_proj.bias[rows])
            pruned.out_proj.bias.copy_(attention.out_proj.bias)
        return pruned

    def forward_causal(self, x: torch.Tensor, cache: object = None, layer: int = 0) -> torch.Tensor:
        if cache is not None:
            raise ValueError("PrunedSelfAttention: no KV cache; call the model without 'cache'")
        b, t, _ = x.shape
        if self.num_heads == 0:
            out = torch.zeros(b, t, self.d_model, device=x.device, dtype=x.dtype)
            return out if self.out_proj.bias is None else out + self.out_proj.bias
        qkv = self.in_proj(x).view(b, t, 3, self.num_heads, self.head_dim)  # (B, T, 3 h' dh) -> (B, T, 3, h', dh)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # 3 x (B, h', T, dh)
        dropout_p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)  # (B, h', T, dh)
        y = y.transpose(1, 2).reshape(b, t, self.num_heads * self.head_dim)  # (B, h', T, dh) -> (B, T, h' dh)
        return self.out_proj(y)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, num_heads={self.num_heads}, head_dim={self.head_dim}"


@torch.no_grad()
def _narrower_ffn(ffn: PositionwiseFeedForward, keep: Sequence[int]) -> PositionwiseFeedForward:
    ref = ffn.linear1.weight
    bias = ffn.linear1.bias is not None
    new = PositionwiseFeedForward(ffn.d_model, len(keep), ffn.dropout.p, ffn.activation_name,
                                  gelu_approximate=ffn.gelu_approximate, bias=bias, device=ref.device, dtype=ref.dtype)
    index = torch.as_tensor(sorted(keep), dtype=torch.long, device=ref.device)
    new.linear1.weight.copy_(ffn.linear1.weight[index])  # rows of W_1: (d_ff', d)
    new.linear2.weight.copy_(ffn.linear2.weight[:, index])  # columns of W_2: (d, d_ff')
    if bias:
        new.linear1.bias.copy_(ffn.linear1.bias[index])
        new.linear2.bias.copy_(ffn.linear2.bias)
    return new


def remove_heads_and_neurons(model: nn.Module, *, keep_heads: Sequence[Sequence[int]] | None = None,
                             keep_neurons: Sequence[Sequence[int]] | None = None) -> nn.Module:
    """A pruned deep copy of ``model``: layer ``l`` keeps heads ``keep_heads[l]`` and FFN neurons
    ``keep_neurons[l]`` (``None``: all of them). The original model is left untouched."""
    blocks = _blocks(model)
    for name, keep in (("keep_heads", keep_heads), ("keep_neurons", keep_neurons)):
        if keep is not None and len(keep) != len(blocks):
            raise ValueError(f"remove_heads_and_neurons: '{name}' needs one list per layer ({len(blocks)}), "
                             f"got {len(keep)}")
    pruned = copy.deepcopy(model)
    for layer, block in enumerate(_blocks(pruned)):
        if keep_heads is not None:
            block.self_attn = PrunedSelfAttention.from_attention(block.self_attn, keep_heads[layer])
        if keep_neurons is not None:
            if any(not 0 <= int(j) < block.ffn.d_ff for j in keep_neurons[layer]):
                raise ValueError(f"remove_heads_and_neurons: 'keep_neurons[{layer}]' must be in [0, {block.ffn.d_ff})")
            block.ffn = _narrower_ffn(block.ffn, keep_neurons[layer])
    return pruned


# -- counts ----------------------------------------------------------------------------------------------------------

def head_parameters(d_model: int, head_dim: int, *, bias: bool = True) -> int:
    """Parameters one attention head owns: ``dh`` rows of ``W_Q, W_K, W_V`` (``3 dh d``, ``+ 3 dh`` biases) and
    ``dh`` columns of ``W_O`` (``d dh``); ``W_O``'s bias belongs to the layer, not to a head."""
    return 4 * d_model * head_dim + (3 * head_dim if bias else 0)


def neuron_parameters(d_model: int, *, bias: bool = True) -> int:
    """Parameters one FFN neuron owns: a row of ``W_1`` and its bias, a column of ``W_2``: ``2 d (+ 1)``."""
    return 2 * d_model + (1 if bias else 0)


def model_nbytes(model: nn.Module, *, sparse: bool = False) -> int:
    """Bytes of the model's parameters (the tied matrix once). ``sparse=True``: the :func:`prunable_linears`
    weights stored in CSR form instead, ``4 nnz`` for the values, ``4 nnz`` for int32 column indices and
    ``4 (rows + 1)`` for the row offsets; every other parameter dense. A dense matrix with half its entries
    zero takes as many bytes as before; in CSR it saves only once more than half are zero (8 bytes per kept
    float32 value)."""
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    if sparse:
        for module in prunable_linears(model).values():
            w = module.weight
            nnz = int(torch.count_nonzero(w))
            total += nnz * (w.element_size() + 4) + 4 * (w.shape[0] + 1) - w.numel() * w.element_size()
    return total


def forward_flops_per_token(model: nn.Module, seq_len: int) -> int:
    """Forward FLOPs per token of a (pruned) GPT at context ``seq_len``: ``2 N + 4 seq_len sum_l h_l dh``.

    The course's convention (a multiply-add = 2 FLOPs; ``N`` = parameters without the position table, the tied
    output layer counted once; the attention matmuls ``QK^T`` and ``AV`` over all ``seq_len`` keys). For an
    unpruned GPT it is a third of ``GPT.flops_per_token`` (tested); zeros left by unstructured pruning still count,
    since a dense matmul multiplies them.
    """
    n = sum(p.numel() for p in model.parameters())
    pos = getattr(model, "pos_emb", None)
    if pos is not None:
        n -= pos.weight.numel()
    attention_width = sum(b.self_attn.num_heads * b.self_attn.head_dim for b in _blocks(model))
    return 2 * n + 4 * seq_len * attention_width
