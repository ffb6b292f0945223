"""Notebook 5.1's exercises: the reference answers agree with an independent computation, answers rounded as
the prompts ask pass, and the usual slips fail with a message naming them (only where they differ from the
right answer by more than the tolerance)."""

import pytest

from bigmodel_lib.exercises import ch05_scaling
from bigmodel_lib.exercises.core import Exercise
from bigmodel_lib.scale import CHINCHILLA_APPROACH_3, compute_optimal_allocation

EXERCISES = [getattr(ch05_scaling, name) for name in ch05_scaling.__all__
             if isinstance(getattr(ch05_scaling, name), Exercise)]


def verdict(exercise, answer):
    return exercise.checker(answer)


def round_sig(x, figures):
    return float(f"{x:.{figures - 1}e}")


def test_every_exercise_is_listed_and_states_its_precision():
    assert {e.key for e in EXERCISES} == {"ch05_scaling.run_flops", "ch05_scaling.predicted_loss",
                                          "ch05_scaling.optimal_tokens", "ch05_scaling.better_allocation"}
    for exercise in EXERCISES:
        assert any(words in exercise.prompt for words in ("significant figures", "decimal places", "'a' or 'b'"))
        assert verdict(exercise, exercise.reference())[0], exercise.key


# -- FLOPs of a run -----------------------------------------------------------------------------------------

RUN_FLOPS = 6 * 1_200_000 * (2_500 * 64 * 128)


def test_run_flops_rounded_passes_and_slips_are_named():
    assert RUN_FLOPS == 147_456_000_000_000
    assert ch05_scaling.run_flops.reference() == pytest.approx(RUN_FLOPS)
    ok, feedback = verdict(ch05_scaling.run_flops, round_sig(RUN_FLOPS, 3))  # 1.47e14
    assert ok and "3 significant figures" in feedback
    assert not verdict(ch05_scaling.run_flops, 1.49e14)[0]
    ok, feedback = verdict(ch05_scaling.run_flops, RUN_FLOPS / 3)
    assert not ok and "forward pass only" in feedback
    ok, feedback = verdict(ch05_scaling.run_flops, 6 * 1_200_000 * 2_500)
    assert not ok and "not the number of steps" in feedback


# -- loss predicted by the law ------------------------------------------------------------------------------

LOSS = 1.69 + 406.4 / 7e9**0.34 + 410.7 / 2e12**0.28


def test_predicted_loss_rounded_to_3_decimals_passes():
    assert ch05_scaling.predicted_loss.reference() == pytest.approx(LOSS, rel=1e-12)
    assert verdict(ch05_scaling.predicted_loss, round(LOSS, 3))[0]
    assert verdict(ch05_scaling.predicted_loss, float(f"{LOSS:.3f}"))[0]
    assert not verdict(ch05_scaling.predicted_loss, round(LOSS, 3) + 0.002)[0]


@pytest.mark.parametrize(("wrong", "message"), [
    (LOSS - 1.69, "irreducible term"),
    (1.69 + 406.4 / 2e12**0.34 + 410.7 / 7e9**0.28, "not the other way round"),
])
def test_predicted_loss_names_the_slips(wrong, message):
    ok, feedback = verdict(ch05_scaling.predicted_loss, round(wrong, 3))
    assert not ok and message in feedback, feedback


# -- compute-optimal tokens for 1e9 parameters --------------------------------------------------------------


def test_optimal_tokens_is_where_1e9_parameters_is_optimal():
    tokens = ch05_scaling.optimal_tokens.reference()
    n_back, d_back = compute_optimal_allocation(6 * 1e9 * tokens, CHINCHILLA_APPROACH_3)
    assert n_back == pytest.approx(1e9, rel=1e-9) and d_back == pytest.approx(tokens, rel=1e-9)
    assert verdict(ch05_scaling.optimal_tokens, round_sig(tokens, 2))[0]  # 4.4e10
    assert not verdict(ch05_scaling.optimal_tokens, tokens * 1.1)[0]
    ok, feedback = verdict(ch05_scaling.optimal_tokens, 2e10)
    assert not ok and "rule of thumb" in feedback


# -- the better allocation ----------------------------------------------------------------------------------


def test_better_allocation_is_the_lower_loss_under_the_law():
    c = 1e21
    loss_a = CHINCHILLA_APPROACH_3.loss(5e8, c / (6 * 5e8))
    loss_b = CHINCHILLA_APPROACH_3.loss(5e9, c / (6 * 5e9))
    right = "a" if loss_a < loss_b else "b"
    wrong = "b" if right == "a" else "a"
    assert ch05_scaling.better_allocation.reference() == right
    ok, feedback = verdict(ch05_scaling.better_allocation, right.upper())
    assert ok and "checked against the law" in feedback
    assert not verdict(ch05_scaling.better_allocation, wrong)[0]
    assert not verdict(ch05_scaling.better_allocation, "c")[0]
    assert not verdict(ch05_scaling.better_allocation, 1)[0]
