"""Lifetime compute: training a model and then serving it, for a target loss under a Chinchilla law.

Training costs ``6 N D`` FLOPs (forward + backward, :func:`~bigmodel_lib.scale.flops.six_n_d`); serving costs about
``2 N`` FLOPs per generated or read token (a forward pass, attention left out as in ``6 N D``). A compute-optimal model
(Hoffmann et al. 2022) minimises the first term only. When a model will serve many tokens, a smaller model trained on
more tokens reaches the same loss for less lifetime compute: Sardana & Frankle (2023), "Beyond Chinchilla-Optimal:
Accounting for Inference in Language Model Scaling Laws" (arXiv:2401.00448), section 2. This module solves the law
for the tokens a size needs to reach a loss, and searches the size that minimises training + serving FLOPs.

::

    from bigmodel_lib.scale import CHINCHILLA_APPROACH_3
    from bigmodel_lib.scale.lifetime import cheapest_for_loss
    best = cheapest_for_loss(CHINCHILLA_APPROACH_3, loss=2.1, served_tokens=1e13)
    best.parameters, best.training_tokens, best.total_flops
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bigmodel_lib.scale._checks import positive_number
from bigmodel_lib.scale.laws import ChinchillaLaw

__all__ = ["LifetimePlan", "SERVING_FLOPS_PER_PARAMETER", "cheapest_for_loss", "lifetime_flops", "tokens_for_loss"]

#: Forward FLOPs per parameter per served token (a multiply-add = 2 FLOPs; attention left out as in 6ND).
SERVING_FLOPS_PER_PARAMETER = 2.0


def tokens_for_loss(law: ChinchillaLaw, n_params: float, loss: float) -> float:
    """Training tokens ``D`` at which a model of ``N`` parameters reaches ``loss`` under ``law``:
    solve ``E + A / N^alpha + B / D^beta = loss`` for ``D``, i.e. ``D = (B / (loss - E - A / N^alpha))^(1/beta)``.
    ``inf`` when ``N`` is too small to ever reach ``loss`` (its parameter term alone leaves it above)."""
    where = "tokens_for_loss"
    n = positive_number(where, "n_params", n_params)
    target = positive_number(where, "loss", loss)
    if target <= law.E:
        raise ValueError(f"{where}: 'loss' must be above the law's irreducible loss E = {law.E:g}, got {loss!r}")
    room = target - law.E - law.A / n**law.alpha
    return math.inf if room <= 0 else (law.B / room) ** (1.0 / law.beta)


def lifetime_flops(n_params: float, training_tokens: float, served_tokens: float) -> float:
    """``6 N D_train + 2 N D_served``: training (forward + backward) plus serving (forward) FLOPs."""
    where = "lifetime_flops"
    n = positive_number(where, "n_params", n_params)
    d = positive_number(where, "training_tokens", training_tokens)
    if not math.isfinite(served_tokens) or served_tokens < 0:
        raise ValueError(f"{where}: 'served_tokens' must be a finite number >= 0, got {served_tokens!r}")
    return 6.0 * n * d + SERVING_FLOPS_PER_PARAMETER * n * served_tokens


@dataclass(frozen=True)
class LifetimePlan:
    """The size and training tokens that reach a loss for the least training + serving FLOPs."""

    parameters: float
    training_tokens: float
    served_tokens: float
    training_flops: float
    serving_flops: float

    @property
    def total_flops(self) -> float:
        return self.training_flops + self.serving_flops

    @property
    def tokens_per_parameter(self) -> float:
        return self.training_tokens / self.parameters


def cheapest_for_loss(law: ChinchillaLaw, loss: float, served_tokens: float, *,
                      min_params: float = 1e6, max_params: float = 1e13, points: int = 2001) -> LifetimePlan:
    """The model size on a log grid of ``points`` sizes in ``[min_params, max_params]`` whose training tokens
    (:func:`tokens_for_loss`) reach ``loss`` for the least :func:`lifetime_flops` with ``served_tokens``."""
    where = "cheapest_for_loss"
    lo, hi = positive_number(where, "min_params", min_params), positive_number(where, "max_params", max_params)
    if not lo < hi:
        raise ValueError(f"{where}: 'min_params' must be below 'max_params', got {min_params!r} and {max_params!r}")
    if not isinstance(points, int) or points < 2:
        raise ValueError(f"{where}: 'points' must be an int >= 2, got {points!r}")
    best: LifetimePlan | None = None
    for n in np.geomspace(lo, hi, points):
        d = tokens_for_loss(law, float(n), loss)
        if not math.isfinite(d):
            continue
        plan = LifetimePlan(float(n), d, served_tokens, 6.0 * n * d, SERVING_FLOPS_PER_PARAMETER * n * served_tokens)
        if best is None or plan.total_flops < best.total_flops:
            best = plan
    if best is None:
        raise ValueError(f"{where}: no size up to {hi:g} parameters reaches loss {loss!r} under this law")
    lifetime_flops(best.parameters, best.training_tokens, served_tokens)  # validates served_tokens
    return best
