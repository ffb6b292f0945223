"""LoRA in PyTorch: ``LoRALinear`` (the same model and keys as ``nn_numpy.lora``) and the helpers that put it
into a GPT, count what is trained, and merge it back.

``LoRALinear(base, rank, alpha)``: ``y = base(x) + (alpha / rank) (x A^T) B^T`` with the base frozen
(``requires_grad=False``), ``A (rank, in)`` random, ``B (out, rank)`` zero (Hu et al., 2021).

One detail of this library: the fused QKV projection of :class:`~bigmodel_lib.nn_torch.multihead.MultiHeadAttention`
does not *call* ``in_proj``, it reads row blocks of ``in_proj.weight`` (``F.linear(x, W[rows])``). So a
``LoRALinear`` also exposes :attr:`LoRALinear.weight` and :attr:`LoRALinear.bias`: the *effective* weight
``W + s B A`` (computed afresh, differentiable in ``A`` and ``B``) and the base bias. Either way the layer computes
the same function and the gradients reach ``A`` and ``B`` only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bigmodel_lib._checks import check_features, check_parameter_dtype, check_tensor
from bigmodel_lib.contracts.lora import check_lora_args, lora_scale
from bigmodel_lib.nn_torch.linear import Linear
from bigmodel_lib.nn_torch.module import Module

__all__ = ["DEFAULT_LORA_TARGETS", "LoRALinear", "apply_lora", "count_parameters", "merge_lora",
           "optimizer_state_bytes"]

#: The Linear layers LoRA adapts by default in the course's GPT: the attention input (fused Q, K, V) and output
#: projections of every block (Hu et al. adapt W_q and W_v; the fused layout makes Q, K and V one matrix here).
DEFAULT_LORA_TARGETS = ("self_attn.in_proj", "self_attn.out_proj")


class LoRALinear(Module):
    """A frozen ``nn.Linear`` ``base`` plus the trainable low-rank path ``s B A`` (``s = alpha / rank``).

    State-dict keys: ``lora_A``, ``lora_B``, ``base.weight``, ``base.bias`` (as ``nn_numpy.LoRALinear``).
    """

    def __init__(self, base: nn.Linear, rank: int, alpha: float = 1.0) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRALinear: 'base' must be a torch.nn.Linear, got {type(base).__name__}")
        check_lora_args("LoRALinear", base.in_features, base.out_features, rank, alpha)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.rank, self.alpha, self.scale = rank, float(alpha), lora_scale(rank, alpha)
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        bound = 1.0 / math.sqrt(base.in_features)  # as a Linear's weight, and as nn_numpy.LoRALinear
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, **factory).uniform_(-bound, bound))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, **factory))
        self.base = base
        self.base.requires_grad_(False)

    @property
    def weight(self) -> torch.Tensor:
        """The effective weight ``W + s B A`` ``(out, in)``, for code that reads ``layer.weight`` directly."""
        return self.base.weight + self.delta_weight()

    @property
    def bias(self) -> torch.Tensor | None:
        return self.base.bias

    def delta_weight(self) -> torch.Tensor:
        return self.scale * (self.lora_B @ self.lora_A)  # (out, rank) @ (rank, in) -> (out, in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("LoRALinear", "x", x)
        check_features("LoRALinear", "x", x, self.in_features)
        check_parameter_dtype("LoRALinear", "x", x, self.lora_A)
        low_rank = F.linear(F.linear(x, self.lora_A), self.lora_B)  # (..., in) -> (..., rank) -> (..., out)
        return self.base(x) + self.scale * low_rank

    @torch.no_grad()
    def merged(self) -> Linear:
        """A plain :class:`Linear` with weight ``W + s B A`` and the base bias: the same outputs, no extra path."""
        ref = self.base.weight
        layer = Linear(self.in_features, self.out_features, bias=self.base.bias is not None,
                       device=ref.device, dtype=ref.dtype)
        layer.weight.copy_(self.weight)
        if self.base.bias is not None:
            layer.bias.copy_(self.base.bias)
        return layer

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, rank={self.rank}, "
                f"alpha={self.alpha:g}")


def _replace(model: nn.Module, dotted_name: str, new: nn.Module) -> None:
    parent_name, _, child_name = dotted_name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child_name, new)


def apply_lora(model: nn.Module, rank: int, alpha: float = 1.0,
               targets: tuple[str, ...] = DEFAULT_LORA_TARGETS) -> list[str]:
    """Freeze every parameter of ``model``, then replace each ``nn.Linear`` whose dotted name ends with one of
    ``targets`` by a :class:`LoRALinear` around it (in place). Returns the names replaced.

    Only the new ``lora_A``/``lora_B`` then have ``requires_grad=True``; the model computes exactly what it
    computed before (``B = 0``) until it is trained.
    """
    model.requires_grad_(False)
    names = [name for name, module in model.named_modules()
             if isinstance(module, nn.Linear) and any(name == t or name.endswith("." + t) for t in targets)]
    if not names:
        raise ValueError(f"apply_lora: no nn.Linear of the model ends with one of 'targets' = {targets}")
    for name in names:
        _replace(model, name, LoRALinear(model.get_submodule(name), rank, alpha))
    return names


def merge_lora(model: nn.Module) -> int:
    """Replace every :class:`LoRALinear` of ``model`` by its :meth:`~LoRALinear.merged` Linear (in place);
    returns how many were merged."""
    names = [name for name, module in model.named_modules() if isinstance(module, LoRALinear)]
    for name in names:
        _replace(model, name, model.get_submodule(name).merged())
    return len(names)


def count_parameters(model: nn.Module) -> dict[str, int]:
    """``{"trainable": ..., "frozen": ..., "total": ...}`` numbers (a tied matrix counted once)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return {"trainable": trainable, "frozen": total - trainable, "total": total}


def optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes held in ``optimizer.state``, measured from its tensors (AdamW: ``exp_avg``, ``exp_avg_sq`` and a
    scalar ``step`` per parameter that has taken a step)."""
    return sum(value.numel() * value.element_size()
               for state in optimizer.state.values() for value in state.values() if torch.is_tensor(value))
