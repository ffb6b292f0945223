"""The learning-rate range test: train once while the learning rate grows, and read a good rate off the loss curve.

Smith (2017), "Cyclical Learning Rates for Training Neural Networks", §3.3 ("How can one estimate reasonable
minimum and maximum boundary values?"): run a short training in which the learning rate rises step by step from a
very small value to a very large one, and watch the loss. While the rate is too small the loss hardly moves; then it
falls; past some rate it turns up and the run diverges. Smith raises the rate linearly over a few epochs; the
variant used here (the one fastai's ``lr_find`` made common) raises it *exponentially*, the same factor every step,
so each decade of learning rates gets the same number of steps:

.. math::

    \\eta_i = \\eta_\\text{min} \\left(\\frac{\\eta_\\text{max}}{\\eta_\\text{min}}\\right)^{i / (n - 1)},
    \\qquad i = 0, \\dots, n - 1.

One batch's loss is noisy, so the curve is smoothed with a bias-corrected exponential moving average
(:func:`smooth_losses`), and the test stops early once the smoothed loss exceeds ``stop_factor`` times its minimum
(it has diverged; fastai's choice of 4 is the default). A rate is then *picked* by a stated rule
(:func:`pick_learning_rate`): the rate where the smoothed loss is lowest, divided by ``divisor`` (10 by default).
At the minimum the rate is already on the edge of instability -- the loss there is the lowest *of a run whose rate
kept rising*, not the best a fixed rate can reach -- so the pick stays a decade below it.

The test costs one short training run; the picked rate is a starting point to confirm with a few short runs
around it, not a proof of optimality.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from bigmodel_lib._checks import check_positive_int, check_probability
from bigmodel_lib.lm_training import optimizer_step
from bigmodel_lib.progress import progress as progress_bar

__all__ = ["RangeTestResult", "exponential_learning_rates", "lr_range_test", "pick_learning_rate", "smooth_losses"]


def exponential_learning_rates(lr_min: float, lr_max: float, steps: int) -> np.ndarray:
    """``steps`` rates from ``lr_min`` to ``lr_max`` (both included), each ``(lr_max / lr_min)^(1/(steps-1))``
    times the one before: equally spaced on a log axis."""
    check_positive_int("exponential_learning_rates", "steps", steps)
    if steps < 2:
        raise ValueError(f"exponential_learning_rates: 'steps' must be at least 2, got {steps}")
    if not 0 < lr_min < lr_max:
        raise ValueError(f"exponential_learning_rates: need 0 < lr_min < lr_max, got lr_min={lr_min}, lr_max={lr_max}")
    return lr_min * (lr_max / lr_min) ** (np.arange(steps) / (steps - 1))


def smooth_losses(losses: Sequence[float], beta: float = 0.9) -> np.ndarray:
    """Bias-corrected exponential moving average: ``a_i = beta a_{i-1} + (1 - beta) L_i`` from ``a_{-1} = 0``,
    returned as ``a_i / (1 - beta^(i+1))`` (the division removes the pull toward the starting 0, as in Adam).

    ``beta = 0`` returns the losses unchanged; ``beta = 0.9`` averages over about the last 10 steps.
    """
    check_probability("smooth_losses", "beta", beta)
    values = np.asarray(losses, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"smooth_losses: 'losses' must be 1-D, got shape {values.shape}")
    smoothed = np.empty_like(values)
    average = 0.0
    for i, loss in enumerate(values):
        average = beta * average + (1.0 - beta) * loss
        smoothed[i] = average / (1.0 - beta ** (i + 1))
    return smoothed


def pick_learning_rate(learning_rates: Sequence[float], smoothed_losses: Sequence[float],
                       divisor: float = 10.0) -> float:
    """The rule: the learning rate at the lowest (finite) smoothed loss, divided by ``divisor``."""
    rates = np.asarray(learning_rates, dtype=np.float64)
    losses = np.asarray(smoothed_losses, dtype=np.float64)
    if rates.ndim != 1 or rates.shape != losses.shape or rates.size == 0:
        raise ValueError(f"pick_learning_rate: 'learning_rates' and 'smoothed_losses' must be 1-D of the same "
                         f"non-zero length, got shapes {rates.shape} and {losses.shape}")
    if divisor <= 0:
        raise ValueError(f"pick_learning_rate: 'divisor' must be > 0, got {divisor}")
    finite = np.isfinite(losses)
    if not finite.any():
        raise ValueError("pick_learning_rate: no finite loss in 'smoothed_losses'")
    best = int(np.argmin(np.where(finite, losses, np.inf)))
    return float(rates[best] / divisor)


@dataclass
class RangeTestResult:
    """One range test: the rates run (fewer than asked if it stopped early), each step's loss, the smoothed
    loss, and whether it stopped because the smoothed loss exceeded ``stop_factor`` times its minimum."""

    learning_rates: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    stopped_early: bool

    @property
    def lr_at_minimum(self) -> float:
        """The learning rate where the smoothed loss was lowest."""
        return pick_learning_rate(self.learning_rates, self.smoothed, divisor=1.0)

    def suggestion(self, divisor: float = 10.0) -> float:
        """:func:`pick_learning_rate` on this curve: the rate at the smoothed minimum, divided by ``divisor``."""
        return pick_learning_rate(self.learning_rates, self.smoothed, divisor=divisor)


def _default_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of ``logits (..., C)`` against ``targets (...)`` (a language model's ``(B, T, V)``, ``(B, T)``)."""
    return F.cross_entropy(logits.flatten(0, -2).float(), targets.flatten())  # (B*T, V), (B*T,)


def lr_range_test(
    model_factory: Callable[[], torch.nn.Module],
    optimizer_factory: Callable[[torch.nn.Module], torch.optim.Optimizer],
    batch_fn: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
    learning_rates: Sequence[float],
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    grad_clip: float | None = None,
    beta: float = 0.9,
    stop_factor: float | None = 4.0,
    progress: bool = True,
    desc: str = "LR range test",
) -> RangeTestResult:
    """Train a fresh ``model_factory()`` for one step per rate of ``learning_rates``, recording each step's loss.

    ``optimizer_factory(model)`` builds the optimizer (its own ``lr`` is overwritten at every step);
    ``batch_fn(step)`` returns the ``(inputs, targets)`` of step ``step``; ``loss_fn(model(inputs), targets)``
    defaults to the cross-entropy over the last axis of the logits. Gradients are clipped to a global norm of
    ``grad_clip`` when it is given (use what the real training uses). The test stops after the first step whose
    smoothed loss (:func:`smooth_losses` with ``beta``) is not finite or exceeds ``stop_factor`` times the lowest
    smoothed loss so far (``stop_factor=None``: never stop early).
    """
    rates = np.asarray(learning_rates, dtype=np.float64)
    if rates.ndim != 1 or rates.size < 2:
        raise ValueError(f"lr_range_test: 'learning_rates' must be 1-D with at least 2 rates, got shape {rates.shape}")
    if not np.all(rates > 0):
        raise ValueError("lr_range_test: every learning rate must be > 0")
    check_probability("lr_range_test", "beta", beta)
    if stop_factor is not None and stop_factor <= 1:
        raise ValueError(f"lr_range_test: 'stop_factor' must be > 1 or None, got {stop_factor}")
    loss_fn = loss_fn or _default_loss
    model = model_factory()
    model.train()
    optimizer = optimizer_factory(model)
    losses: list[float] = []
    average, best = 0.0, math.inf
    stopped = False
    bar = progress_bar(range(rates.size), desc=desc) if progress else None  # no empty notebook output when off
    for step in bar if bar is not None else range(rates.size):
        for group in optimizer.param_groups:
            group["lr"] = float(rates[step])
        inputs, targets = batch_fn(step)
        loss = loss_fn(model(inputs), targets)
        optimizer_step(model, optimizer, loss, grad_clip=grad_clip)
        losses.append(loss.item())
        average = beta * average + (1.0 - beta) * losses[-1]
        smoothed = average / (1.0 - beta ** (step + 1))
        best = min(best, smoothed)
        if bar is not None:
            bar.set_postfix(lr=f"{rates[step]:.1e}", loss=f"{smoothed:.3f}")
        if not math.isfinite(smoothed) or (stop_factor is not None and smoothed > stop_factor * best):
            stopped = step < rates.size - 1
            break
    if bar is not None:
        bar.close()
    n = len(losses)
    return RangeTestResult(learning_rates=rates[:n], losses=np.asarray(losses),
                           smoothed=smooth_losses(losses, beta), stopped_early=stopped)
