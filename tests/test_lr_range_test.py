"""The learning-rate range test: exponential rates, the smoothing, the picking rule, and the test itself on a
least-squares problem whose stability limit is known (gradient descent on a quadratic diverges above 2 / lambda_max)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bigmodel_lib.lr_range_test import (
    RangeTestResult,
    exponential_learning_rates,
    lr_range_test,
    pick_learning_rate,
    smooth_losses,
)


def test_exponential_rates_run_from_min_to_max_by_a_constant_factor():
    rates = exponential_learning_rates(1e-5, 10.0, 150)
    assert rates.shape == (150,)
    assert rates[0] == pytest.approx(1e-5) and rates[-1] == pytest.approx(10.0)
    np.testing.assert_allclose(rates[1:] / rates[:-1], (1e6) ** (1 / 149))
    assert exponential_learning_rates(1.0, 100.0, 3) == pytest.approx([1.0, 10.0, 100.0])


@pytest.mark.parametrize(("lr_min", "lr_max", "steps", "words"), [
    (0.0, 1.0, 10, "0 < lr_min < lr_max"), (1.0, 0.5, 10, "0 < lr_min < lr_max"),
    (1e-3, 1.0, 1, "at least 2"), (1e-3, 1.0, 2.5, "positive int"),
])
def test_exponential_rates_refuse_bad_input(lr_min, lr_max, steps, words):
    with pytest.raises(ValueError, match=words):
        exponential_learning_rates(lr_min, lr_max, steps)


def test_smoothing_is_a_bias_corrected_moving_average():
    losses = [4.0, 2.0, 3.0, 1.0]
    np.testing.assert_allclose(smooth_losses(losses, beta=0.0), losses)
    np.testing.assert_allclose(smooth_losses([2.5] * 20, beta=0.9), 2.5)    # the correction removes the pull to 0
    beta, average, expected = 0.5, 0.0, []
    for i, loss in enumerate(losses):
        average = beta * average + (1 - beta) * loss
        expected.append(average / (1 - beta ** (i + 1)))
    np.testing.assert_allclose(smooth_losses(losses, beta=beta), expected)
    assert smooth_losses(losses, beta=0.5)[0] == 4.0                         # the first value is the first loss
    with pytest.raises(ValueError, match="beta"):
        smooth_losses(losses, beta=1.0)
    with pytest.raises(ValueError, match="1-D"):
        smooth_losses(np.ones((2, 2)))


def test_the_pick_is_the_rate_at_the_lowest_finite_loss_over_the_divisor():
    rates = [1e-3, 1e-2, 1e-1, 1.0, 10.0]
    losses = [3.0, 2.0, 1.5, 2.5, float("nan")]
    assert pick_learning_rate(rates, losses) == pytest.approx(1e-2)
    assert pick_learning_rate(rates, losses, divisor=1) == pytest.approx(1e-1)
    assert pick_learning_rate(rates, [3.0, float("inf"), 0.5, 2.0, 9.0], divisor=4) == pytest.approx(0.025)
    with pytest.raises(ValueError, match="same"):
        pick_learning_rate(rates, losses[:3])
    with pytest.raises(ValueError, match="no finite loss"):
        pick_learning_rate(rates[:2], [float("nan")] * 2)
    with pytest.raises(ValueError, match="divisor"):
        pick_learning_rate(rates, losses, divisor=0)


# -- the test itself, on least squares ---------------------------------------------------------------------------------

def _least_squares():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=generator)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]])  # (64, 1)
    # full-batch gradient descent on mean (x w - y)^2 diverges once lr > 2 / lambda_max(2 x^T x / n)
    lambda_max = float(torch.linalg.eigvalsh(2 * x.T @ x / len(x)).max())
    return x, y, 2 / lambda_max


def _run(rates, **kwargs):
    x, y, _ = _least_squares()

    def model_factory():
        torch.manual_seed(0)
        return torch.nn.Linear(4, 1, bias=False)

    return lr_range_test(model_factory, lambda model: torch.optim.SGD(model.parameters(), lr=0.1),
                         lambda step: (x, y), rates, loss_fn=torch.nn.functional.mse_loss, progress=False, **kwargs)


def test_the_loss_falls_then_diverges_past_the_stability_limit():
    _, _, limit = _least_squares()
    rates = exponential_learning_rates(1e-4, 100.0, 80)
    result = _run(rates)
    assert isinstance(result, RangeTestResult)
    assert result.stopped_early and len(result.losses) < len(rates)
    np.testing.assert_allclose(result.learning_rates, rates[:len(result.losses)])
    assert result.smoothed.min() < 0.1 * result.losses[0]                   # it learned ...
    assert result.learning_rates[-1] > limit                               # ... and stopped only past the limit
    # the loss keeps falling for a few steps past the limit (the error grows from nearly 0), so the minimum lags:
    # it lies within a decade of the limit, and the pick, a decade lower, is a stable rate
    assert limit / 10 < result.lr_at_minimum < 10 * limit
    assert result.suggestion() == pytest.approx(result.lr_at_minimum / 10)
    assert result.suggestion() < limit
    again = _run(rates)                                                    # deterministic
    np.testing.assert_array_equal(again.losses, result.losses)


def test_without_a_stop_factor_every_rate_is_run_and_clipping_is_applied():
    rates = exponential_learning_rates(1e-4, 1e-2, 20)
    result = _run(rates, stop_factor=None)
    assert len(result.losses) == 20 and not result.stopped_early
    clipped = _run(exponential_learning_rates(1e-2, 1.0, 20), grad_clip=1e-3, stop_factor=None)
    free = _run(exponential_learning_rates(1e-2, 1.0, 20), stop_factor=None)
    assert clipped.losses[-1] > free.losses[-1]                            # tiny clipped steps learn less
    assert all(math.isfinite(v) for v in clipped.losses)


@pytest.mark.parametrize(("rates", "kwargs", "words"), [
    ([1e-3], {}, "at least 2"), ([1e-3, -1.0], {}, "> 0"), ([1e-3, 1e-2], {"stop_factor": 1.0}, "stop_factor"),
    ([1e-3, 1e-2], {"beta": 1.5}, "beta"),
])
def test_the_range_test_refuses_bad_input(rates, kwargs, words):
    with pytest.raises(ValueError, match=words):
        _run(rates, **kwargs)
