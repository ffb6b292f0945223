"""Notebook 6.1's exercises: the reference answers agree with the library, answers rounded as the prompts ask
pass, and the usual slips fail with a message naming them (only where they differ from the right answer)."""

import math

import numpy as np
import pytest

from bigmodel_lib.exercises import ch06_recipe as ex
from bigmodel_lib.exercises.core import Exercise
from bigmodel_lib.lr_range_test import exponential_learning_rates

EXERCISES = [getattr(ex, name) for name in ex.__all__ if isinstance(getattr(ex, name), Exercise)]


def verdict(exercise, answer):
    return exercise.checker(answer)


def test_every_exercise_is_listed_and_its_reference_passes():
    assert {e.key for e in EXERCISES} == {"ch06_recipe.range_test_rate", "ch06_recipe.noise_scale",
                                          "ch06_recipe.scaled_batch"}
    for exercise in EXERCISES:
        ok, message = verdict(exercise, exercise.reference())
        assert ok and "checked" in message, exercise.key


# -- the range test's rates ------------------------------------------------------------------------------------------

def test_range_test_rate_matches_the_library():
    t = ex.RANGE_TEST
    rates = exponential_learning_rates(t["lr_min"], t["lr_max"], t["steps"])
    exact = (float(rates[t["asked_step"]]), float(rates[1] / rates[0]))
    assert verdict(ex.range_test_rate, exact)[0]
    assert verdict(ex.range_test_rate, (0.00415, 1.072))[0]            # rounded as asked
    assert verdict(ex.range_test_rate, [4.15e-3, 1.072])[0]
    assert not verdict(ex.range_test_rate, (0.00416, 1.072))[0]        # off in the 3rd figure
    assert not verdict(ex.range_test_rate, (0.00415, 1.07))[0]         # the factor is asked to 4 figures
    assert not verdict(ex.range_test_rate, (0.00415,))[0]


@pytest.mark.parametrize(("answer", "words"), [
    ((0.00398, 1.072), "199 steps"),
    ((0.603, 5026), "linear ramp"),
])
def test_range_test_rate_names_the_slips(answer, words):
    ok, message = verdict(ex.range_test_rate, answer)
    assert not ok and words in message, message


# -- the gradient noise scale ----------------------------------------------------------------------------------------

def test_noise_scale_solves_the_two_equations():
    m = ex.NOISE_MEASUREMENT
    true_sq, trace, b_noise = ex.noise_scale.reference()
    for batch, sq_norm in ((m["small_batch"], m["small_sq_norm"]), (m["big_batch"], m["big_sq_norm"])):
        assert true_sq + trace / batch == pytest.approx(sq_norm)       # E|G_B|^2 = |G|^2 + tr(Sigma) / B
    assert b_noise == pytest.approx(trace / true_sq)
    assert verdict(ex.noise_scale, (0.2, 9.6, 48))[0]
    assert verdict(ex.noise_scale, np.array([0.200, 9.60, 48.0]))[0]
    assert not verdict(ex.noise_scale, (0.2, 9.6, 48.5))[0]


@pytest.mark.parametrize(("answer", "words"), [
    ((0.35, 9.6, 27.4), "still holds noise"),
    ((0.2, 9.6, 21.5), "not by |G|"),
    ((0.2, -9.6, -48), "positive"),
])
def test_noise_scale_names_the_slips(answer, words):
    ok, message = verdict(ex.noise_scale, answer)
    assert not ok and words in message, message


# -- learning rate and steps at a new batch size ---------------------------------------------------------------------

def test_scaled_batch_rate_and_steps():
    s = ex.SCALED_BATCH
    lr, steps = ex.scaled_batch.reference()
    assert lr == pytest.approx(s["lr"] * math.sqrt(s["new_batch"] / s["batch"]))
    assert (steps - 1) * s["new_batch"] * s["tokens_per_window"] < s["tokens"] <= steps * s["new_batch"] * 64
    assert verdict(ex.scaled_batch, (0.016, 3052))[0]
    assert verdict(ex.scaled_batch, (1.60e-2, 3052.0))[0]
    assert not verdict(ex.scaled_batch, (0.0161, 3052))[0]


@pytest.mark.parametrize(("answer", "words"), [
    ((0.064, 3052), "linear rule"),
    ((0.016, 195313), "256 x 64"),
    ((0.016, 3051), "round up"),
    ((0.016, 48829), "not the old 16"),
])
def test_scaled_batch_names_the_slips(answer, words):
    ok, message = verdict(ex.scaled_batch, answer)
    assert not ok and words in message, message
