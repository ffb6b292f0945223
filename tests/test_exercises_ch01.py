"""Chapter 01 exercises: the reference answers agree with an independent computation from the tables,
answers rounded as asked pass, and the usual slips fail with a message naming them."""

import math

import pytest

from bigmodel_lib.data.landmark_models import ACCELERATOR_GENERATIONS, landmark_model
from bigmodel_lib.exercises import ch01
from bigmodel_lib.exercises.core import Exercise

EXERCISES = [getattr(ch01, name) for name in ch01.__all__ if isinstance(getattr(ch01, name), Exercise)]


def verdict(exercise, answer):
    return exercise.checker(answer)


def test_every_prompt_states_the_precision_it_wants():
    assert len(EXERCISES) == 3
    for exercise in EXERCISES:
        assert "significant figures" in exercise.prompt, exercise.key


def test_compute_doubling_time():
    transformer, gpt3 = landmark_model("Transformer (big)"), landmark_model("GPT-3 175B")
    months = 12 * (2020 - 2017) / math.log2(3.14e23 / 2.3e19)
    assert (transformer.year, gpt3.year) == (2017, 2020)
    assert ch01.compute_doubling_time.reference() == pytest.approx(months, rel=1e-12)
    assert round(months, 2) == 2.62
    for answer in (2.62, months):
        assert verdict(ch01.compute_doubling_time, answer)[0]
    for wrong, message in [(months / 12, "in years"), (36 / math.log10(3.14e23 / 2.3e19), "base-10"),
                           (36 / math.log(3.14e23 / 2.3e19), "natural logarithm"), (2.6, "off by")]:
        ok, feedback = verdict(ch01.compute_doubling_time, wrong)
        assert not ok and message in feedback, feedback


def test_annual_growth_factor():
    factor = (540.35e9 / 60e6) ** (1 / 10)
    assert ch01.annual_growth_factor.reference() == pytest.approx(factor, rel=1e-12)
    assert round(factor, 2) == 2.49
    assert verdict(ch01.annual_growth_factor, 2.49)[0]
    for wrong, message in [(540.35e9 / 60e6 / 10, "divided by the number of years"),
                           (540.35e9 / 60e6, "overall factor itself"), (2.47, "off by")]:
        ok, feedback = verdict(ch01.annual_growth_factor, wrong)
        assert not ok and message in feedback, feedback


def test_years_to_tenfold_peak():
    v100, h100 = (next(g for g in ACCELERATOR_GENERATIONS if g.name == name) for name in ("V100 SXM2", "H100 SXM"))
    years = 5 * math.log(10) / math.log(989.5 / 125)
    assert (v100.year, h100.year) == (2017, 2022)
    assert ch01.years_to_tenfold_peak.reference() == pytest.approx(years, rel=1e-12)
    assert round(years, 1) == 5.6
    assert verdict(ch01.years_to_tenfold_peak, 5.6)[0]
    ok, feedback = verdict(ch01.years_to_tenfold_peak, 5 * math.log(10) / math.log(67 / 15.7))
    assert not ok and "fp32" in feedback, feedback
    ok, feedback = verdict(ch01.years_to_tenfold_peak, 6.0)
    assert not ok and "off by" in feedback
