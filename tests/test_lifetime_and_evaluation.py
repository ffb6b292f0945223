"""Lifetime compute under a Chinchilla law (scale.lifetime) and test-set precision (evaluation)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bigmodel_lib.evaluation import examples_for_margin, wilson_interval, z_value
from bigmodel_lib.scale import CHINCHILLA_APPROACH_3 as LAW
from bigmodel_lib.scale import chinchilla_optimal
from bigmodel_lib.scale.laws import compute_optimal_allocation
from bigmodel_lib.scale.lifetime import cheapest_for_loss, lifetime_flops, tokens_for_loss


def test_tokens_for_loss_inverts_the_law() -> None:
    for n in (1e8, 7e10):
        for d in (1e10, 1.4e12):
            loss = float(LAW.loss(n, d))
            assert tokens_for_loss(LAW, n, loss) == pytest.approx(d, rel=1e-9)
    assert tokens_for_loss(LAW, 1e6, 1.8) == math.inf  # a million parameters never reach 1.8 nats


def test_without_serving_the_cheapest_plan_is_the_compute_optimal_one() -> None:
    flops = 5.76e23
    n_opt, d_opt = compute_optimal_allocation(flops, LAW)
    plan = cheapest_for_loss(LAW, float(LAW.loss(n_opt, d_opt)), 0.0, points=4001)
    assert plan.parameters == pytest.approx(n_opt, rel=0.01)
    assert plan.total_flops == pytest.approx(flops, rel=1e-4)


def test_serving_more_tokens_makes_the_cheapest_model_smaller_and_longer_trained() -> None:
    loss = float(LAW.loss(*chinchilla_optimal(1e23)))
    plans = [cheapest_for_loss(LAW, loss, served) for served in (0.0, 1e12, 1e13, 1e14)]
    sizes = [p.parameters for p in plans]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > 2 * sizes[-1]
    assert all(a.tokens_per_parameter < b.tokens_per_parameter for a, b in zip(plans, plans[1:]))


def test_lifetime_flops_and_bad_input() -> None:
    assert lifetime_flops(1e9, 2e10, 5e10) == 6 * 1e9 * 2e10 + 2 * 1e9 * 5e10
    with pytest.raises(ValueError, match="served_tokens"):
        lifetime_flops(1e9, 1e10, -1.0)
    with pytest.raises(ValueError, match="irreducible loss"):
        tokens_for_loss(LAW, 1e9, 1.5)
    with pytest.raises(ValueError, match="min_params"):
        cheapest_for_loss(LAW, 2.0, 0.0, min_params=1e9, max_params=1e8)


def test_wilson_interval_matches_the_formula_and_covers_at_the_stated_rate() -> None:
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    lo, hi = wilson_interval(90, 100)
    assert (lo, hi) == pytest.approx((0.8256343, 0.9447709), abs=1e-6)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0, abs=1e-12)
    rng = np.random.default_rng(0)
    hits = [wilson_interval(int(k), 400)[0] <= 0.9 <= wilson_interval(int(k), 400)[1]
            for k in rng.binomial(400, 0.9, size=2000)]
    assert 0.93 < np.mean(hits) < 0.97


def test_examples_for_margin() -> None:
    assert examples_for_margin(0.9, 0.01) == 3458
    assert examples_for_margin(0.5, 0.05) == 385
    with pytest.raises(ValueError, match="margin"):
        examples_for_margin(0.9, 0.0)
    with pytest.raises(ValueError, match="correct <= total"):
        wilson_interval(5, 4)
    with pytest.raises(ValueError, match="confidence"):
        z_value(95)
