"""Where training memory goes, measured on the tensors themselves: model states and the activations saved for backward.

* :func:`model_state_bytes` -- bytes of the weights, of their gradients and of the optimizer's state
  (AdamW: ``exp_avg`` and ``exp_avg_sq``, two tensors the size of each parameter; Kingma & Ba 2015, Algorithm 1).
* :func:`measure_saved_tensors` -- bytes of the tensors autograd keeps for the backward pass while a function runs.
  Every tensor an operation saves passes through the pack hook of
  ``torch.autograd.graph.saved_tensors_hooks`` (PyTorch docs, "Autograd mechanics: hooks for saved tensors");
  we count each underlying storage once (views and repeats share one) and leave out the parameters, which are
  held anyway. This is what the backward pass needs on top of the model states, not the allocator's peak
  (temporary buffers freed inside the forward pass do not appear).
* :func:`gpt_loss` -- the course's GPT forward pass and cross-entropy, with each block optionally wrapped in
  ``torch.utils.checkpoint.checkpoint`` (activation checkpointing, Chen et al. 2016, "Training deep nets with
  sublinear memory cost"): a checkpointed block keeps only its input and runs its forward a second time during
  the backward pass, so its inner activations are never stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from bigmodel_lib._checks import check_tensor

__all__ = ["SavedTensors", "gpt_loss", "measure_saved_tensors", "model_state_bytes"]


def _storage_key(t: torch.Tensor) -> tuple[str, int]:
    storage = t.untyped_storage()
    return str(t.device), storage.data_ptr()


def model_state_bytes(model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict[str, int]:
    """``{"weights", "gradients", "optimizer_state"}`` in bytes: the parameters, their ``.grad`` (0 before the first
    backward), and every tensor in ``optimizer.state`` (0 before the first step, or without an optimizer).
    A tied parameter (the GPT's token table, also its output layer) is counted once."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model_state_bytes: 'model' must be a torch.nn.Module, got {type(model).__name__}")
    params = list(model.parameters())  # parameters() yields a shared tensor once
    state = 0
    if optimizer is not None:
        for per_param in optimizer.state.values():
            state += sum(v.numel() * v.element_size() for v in per_param.values()
                         if isinstance(v, torch.Tensor) and v.dim() > 0)  # a 0-d 'step' counter is not state
    return {"weights": sum(p.numel() * p.element_size() for p in params),
            "gradients": sum(p.grad.numel() * p.grad.element_size() for p in params if p.grad is not None),
            "optimizer_state": state}


@dataclass(frozen=True)
class SavedTensors:
    """What autograd saved for backward while a function ran: ``total_bytes`` over ``n_storages`` distinct
    storages (parameters left out), and the function's return value in ``result``."""

    total_bytes: int
    n_storages: int
    result: Any


def measure_saved_tensors(fn: Callable[[], Any], exclude: Iterable[torch.Tensor] = ()) -> SavedTensors:
    """Run ``fn()`` with a pack hook on every tensor saved for backward; sum the bytes of the distinct storages
    (``untyped_storage().nbytes()``), skipping those of ``exclude`` (pass ``model.parameters()``)."""
    if not callable(fn):
        raise TypeError(f"measure_saved_tensors: 'fn' must be callable, got {type(fn).__name__}")
    excluded = {_storage_key(t) for t in exclude}
    seen: dict[tuple[str, int], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        key = _storage_key(t)
        if key not in excluded:
            seen[key] = t.untyped_storage().nbytes()
        return t  # keep the tensor itself: the measurement changes nothing about the backward pass

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        result = fn()
    return SavedTensors(total_bytes=sum(seen.values()), n_storages=len(seen), result=result)


def gpt_loss(model: torch.nn.Module, idx: torch.Tensor, targets: torch.Tensor, *,
             checkpoint_blocks: bool = False) -> torch.Tensor:
    """Mean cross-entropy of :class:`bigmodel_lib.nn_torch.gpt.GPT` on ``idx, targets (B, T)``; the same forward
    pass as ``GPT.forward`` (embeddings, blocks, final LayerNorm, tied output layer). ``checkpoint_blocks=True``
    wraps each block in ``checkpoint(block, x, use_reentrant=False)``: same loss, same gradients, less memory,
    one more forward pass of every block during the backward."""
    where = "gpt_loss"
    for name, t in (("idx", idx), ("targets", targets)):
        check_tensor(where, name, t)
        if t.ndim != 2 or t.dtype != torch.int64:
            raise ValueError(f"{where}: '{name}' must be int64 (B, T), got {t.dtype} {tuple(t.shape)}")
    if idx.shape != targets.shape:
        raise ValueError(f"{where}: 'idx' {tuple(idx.shape)} and 'targets' {tuple(targets.shape)} differ in shape")
    config = model.config
    if idx.shape[1] > config.block_size:
        raise ValueError(f"{where}: sequences of {idx.shape[1]} tokens exceed block_size={config.block_size}")
    x = model.tok_emb(idx)  # (B, T, d)
    if config.position == "learned":
        x = x + model.pos_emb(torch.arange(idx.shape[1], device=idx.device))  # (B, T, d) + (T, d)
    x = model.dropout(x)
    for block in model.blocks:
        x = checkpoint(block, x, use_reentrant=False) if checkpoint_blocks else block(x)  # (B, T, d)
    logits = F.linear(model.norm_f(x), model.tok_emb.weight)  # (B, T, V)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))  # (B*T, V) vs (B*T,)
