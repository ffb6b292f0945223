"""What ``nn_numpy.moe`` and ``nn_torch.moe`` share: the mixture-of-experts config, its checks, the expert
capacity, and the parameter / FLOP counts of a MoE GPT.

Both packages import these, so a bad argument fails the same way in NumPy and in PyTorch, and the capacity
``C`` is computed by one formula.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from bigmodel_lib._checks import check_features, check_ndim, check_positive_int
from bigmodel_lib.scale.flops import TRAINING_OVER_FORWARD, gpt_forward_flops_per_token


@dataclass(frozen=True)
class MoEConfig:
    """The mixture-of-experts feed-forward layer of a MoE GPT (see :class:`~bigmodel_lib.nn_torch.moe.MoE`).

    num_experts: ``E``, the expert FFNs per layer; top_k: how many each token uses; d_ff: width of one expert
    (``None``: the GPT's ``4 d_model``); capacity_factor: ``None`` (no token dropped) or ``> 0``;
    normalize_gates: ``True`` = softmax over the ``top_k`` chosen logits (Mixtral), ``False`` = the chosen
    experts' probabilities under the softmax over all ``E`` logits (Switch Transformer).
    """

    num_experts: int = 4
    top_k: int = 1
    d_ff: int | None = None
    capacity_factor: float | None = None
    normalize_gates: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_moe_arguments(where: str, d_model: Any, d_ff: Any, num_experts: Any, top_k: Any,
                        capacity_factor: Any, normalize_gates: Any) -> None:
    """Sizes positive ints, ``1 <= top_k <= num_experts``, ``capacity_factor`` ``None`` or a number ``> 0``."""
    for name, value in (("d_model", d_model), ("d_ff", d_ff), ("num_experts", num_experts), ("top_k", top_k)):
        check_positive_int(where, name, value)
    if top_k > num_experts:
        raise ValueError(f"{where}: 'top_k' must be <= num_experts={num_experts} (a token cannot use more experts "
                         f"than there are), got {top_k}")
    if capacity_factor is not None:
        if isinstance(capacity_factor, bool) or not isinstance(capacity_factor, (int, float)) \
                or not math.isfinite(capacity_factor) or capacity_factor <= 0:
            raise ValueError(f"{where}: 'capacity_factor' must be None (no capacity) or a number > 0, "
                             f"got {capacity_factor!r}")
    if not isinstance(normalize_gates, bool):
        raise TypeError(f"{where}: 'normalize_gates' must be a bool, got {normalize_gates!r}")


def check_moe_input(where: str, x: Any, d_model: int) -> None:
    """``x`` a float array or tensor of shape ``(B, T, d_model)``."""
    check_ndim(where, "x", x, 3, f"(B, T, {d_model})")
    check_features(where, "x", x, d_model)


def expert_capacity(num_tokens: int, num_experts: int, top_k: int, capacity_factor: float | None) -> int | None:
    """``C = ceil(capacity_factor * num_tokens * top_k / num_experts)``: the most token assignments one expert
    takes in a forward pass (Fedus et al. 2021, section 2.2, "expert capacity"; times ``top_k`` because each
    token makes ``top_k`` assignments). ``None`` without a capacity factor: no limit."""
    if capacity_factor is None:
        return None
    return math.ceil(capacity_factor * num_tokens * top_k / num_experts)


def moe_parameter_counts(shape: Any, num_experts: int, top_k: int) -> dict[str, float]:
    """Parameters and FLOPs per token of a GPT whose every MLP is a mixture of ``num_experts`` copies of
    ``shape``'s MLP, ``top_k`` of them used per token, plus a router ``(d_model -> E)`` without bias.

    ``shape`` is a :class:`~bigmodel_lib.scale.ModelShape` (the dense model with one MLP per layer). Returns
    ``total`` (every parameter), ``active`` (those one token uses: the shared parts, the router and ``top_k``
    experts), ``forward_flops_per_token`` and ``training_flops_per_token`` (forward + backward), both from the
    course's convention ``2 N + 4 n_layer n_ctx d`` with ``N`` the *active* matrix parameters: a token
    multiplies only by the experts it is routed to.
    """
    check_positive_int("moe_parameter_counts", "num_experts", num_experts)
    check_positive_int("moe_parameter_counts", "top_k", top_k)
    if top_k > num_experts:
        raise ValueError(f"moe_parameter_counts: 'top_k' must be <= num_experts={num_experts}, got {top_k}")
    mlp = shape.layer_parameters()["mlp"]
    router = shape.d_model * num_experts
    total = shape.num_parameters() + shape.n_layer * ((num_experts - 1) * mlp + router)
    active = shape.num_parameters() + shape.n_layer * ((top_k - 1) * mlp + router)
    active_matmul = shape.matmul_parameters() + shape.n_layer * ((top_k - 1) * mlp + router)
    forward = float(gpt_forward_flops_per_token(active_matmul, shape.n_layer, shape.context, shape.attention_width))
    return {"total": total, "active": active, "forward_flops_per_token": forward,
            "training_flops_per_token": TRAINING_OVER_FORWARD * forward}
