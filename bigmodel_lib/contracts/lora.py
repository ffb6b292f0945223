"""What ``nn_numpy.lora`` and ``nn_torch.lora`` share: the argument checks of a LoRA layer, its scale, and the
counts a notebook compares (trainable parameters, optimizer-state bytes).

LoRA (Hu et al., 2021, "LoRA: Low-Rank Adaptation of Large Language Models") freezes a trained weight ``W (out, in)``
and learns a low-rank change ``Delta W = (alpha / r) B A`` with ``A (r, in)`` and ``B (out, r)``: ``r (in + out)``
trainable numbers instead of ``in * out``.
"""

from __future__ import annotations

import math
from typing import Any

from bigmodel_lib._checks import check_positive_int

__all__ = ["adamw_state_bytes", "check_lora_args", "lora_parameter_count", "lora_scale"]


def check_lora_args(where: str, in_features: int, out_features: int, rank: Any, alpha: Any) -> None:
    """``rank``: an int in ``[1, min(in, out)]`` (a larger rank is no longer low); ``alpha``: a finite number > 0."""
    check_positive_int(where, "rank", rank)
    if rank > min(in_features, out_features):
        raise ValueError(f"{where}: 'rank' must be at most min(in_features, out_features) = "
                         f"{min(in_features, out_features)}, got {rank}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not math.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"{where}: 'alpha' must be a finite number > 0, got {alpha!r}")


def lora_scale(rank: int, alpha: float) -> float:
    """``alpha / rank``: the factor of the low-rank path (Hu et al. keep ``alpha`` fixed when they vary ``r``)."""
    return float(alpha) / rank


def lora_parameter_count(in_features: int, out_features: int, rank: int) -> int:
    """Trainable numbers of one adapted ``Linear``: ``A`` has ``rank * in``, ``B`` has ``out * rank``."""
    return rank * (in_features + out_features)


def adamw_state_bytes(trainable_parameters: int, bytes_per_number: int = 4) -> int:
    """AdamW keeps two running moments (``exp_avg``, ``exp_avg_sq``) per trainable number: ``2 N`` floats.

    (PyTorch adds one scalar ``step`` per parameter tensor, a few bytes, left out here.)
    """
    return 2 * trainable_parameters * bytes_per_number
