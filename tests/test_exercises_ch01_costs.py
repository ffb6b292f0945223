"""Notebooks 1.2 and 1.3's exercises: the reference answers agree with an independent computation, answers
rounded as the prompts ask pass, and the usual slips fail with a message naming them (only where they differ
from the right answer by more than the tolerance)."""

import pytest

from bigmodel_lib.exercises import ch01_costs
from bigmodel_lib.exercises.core import Exercise

EXERCISES = [getattr(ch01_costs, name) for name in ch01_costs.__all__
             if isinstance(getattr(ch01_costs, name), Exercise)]


def verdict(exercise, answer):
    return exercise.checker(answer)


def round_sig(x, figures):
    return float(f"{x:.{figures - 1}e}")


def test_every_exercise_is_listed_and_states_its_precision():
    assert {e.key for e in EXERCISES} == {"ch01_costs.parameter_count", "ch01_costs.training_flops",
                                          "ch01_costs.training_days", "ch01_costs.tokens_in_an_hour"}
    for exercise in EXERCISES:
        assert "exact integer" in exercise.prompt or "significant figures" in exercise.prompt, exercise.key
        assert verdict(exercise, exercise.reference())[0], exercise.key


# -- parameters -------------------------------------------------------------------------------------------

V, L, D, T = 32_000, 24, 2048, 2048
EXACT_PARAMETERS = V * D + T * D + L * (12 * D * D + 13 * D) + 2 * D


def test_parameter_count_is_the_exact_integer():
    assert EXACT_PARAMETERS == 1_278_332_928
    assert ch01_costs.parameter_count.reference() == EXACT_PARAMETERS
    ok, feedback = verdict(ch01_costs.parameter_count, EXACT_PARAMETERS)
    assert ok and "exact" in feedback
    assert verdict(ch01_costs.parameter_count, float(EXACT_PARAMETERS))[0]
    assert not verdict(ch01_costs.parameter_count, EXACT_PARAMETERS + 1)[0]


@pytest.mark.parametrize(("wrong", "message"), [
    (EXACT_PARAMETERS - T * D, "position table"),
    (EXACT_PARAMETERS + V * D, "count that matrix once"),
    (EXACT_PARAMETERS - L * 13 * D - 2 * D, "biases and the LayerNorm"),
])
def test_parameter_count_names_the_usual_slips(wrong, message):
    ok, feedback = verdict(ch01_costs.parameter_count, wrong)
    assert not ok and message in feedback, feedback


# -- training FLOPs ---------------------------------------------------------------------------------------

N_MATMUL = EXACT_PARAMETERS - T * D
FLOPS = 50e9 * (6 * N_MATMUL + 12 * L * T * D)


def test_training_flops_rounded_to_three_figures_passes():
    assert ch01_costs.training_flops.reference() == pytest.approx(FLOPS, rel=1e-12)
    for answer in (FLOPS, round_sig(FLOPS, 3), round_sig(FLOPS, 4)):
        ok, feedback = verdict(ch01_costs.training_flops, answer)
        assert ok and "3 significant figures" in feedback, (answer, feedback)
    assert not verdict(ch01_costs.training_flops, FLOPS * 1.01)[0]


@pytest.mark.parametrize(("wrong", "message"), [
    (FLOPS / 3, "forward pass only"),
    (50e9 * 6 * N_MATMUL, "attention term 12 n_layer n_ctx d_model is missing"),
    (50e9 * (6 * N_MATMUL + 6 * L * T * D), "halves the attention term"),
])
def test_training_flops_names_the_usual_slips(wrong, message):
    ok, feedback = verdict(ch01_costs.training_flops, wrong)
    assert not ok and message in feedback, feedback


# -- days -------------------------------------------------------------------------------------------------

DAYS = 2.0e23 / (1024 * 312e12 * 0.35) / 86_400


def test_training_days_rounded_to_three_figures_passes():
    assert ch01_costs.training_days.reference() == pytest.approx(DAYS, rel=1e-12)
    assert round(DAYS, 2) == 20.70
    for answer in (DAYS, round_sig(DAYS, 3), 20.7):
        assert verdict(ch01_costs.training_days, answer)[0], answer
    for answer in (20.5, 21.0):
        assert not verdict(ch01_costs.training_days, answer)[0], answer


@pytest.mark.parametrize(("wrong", "message"), [
    (DAYS / 2, "sparse peak"),
    (DAYS * 0.35, "divide by the MFU"),
    (DAYS * 24, "in hours"),
    (DAYS * 1024, "GPU-days"),
])
def test_training_days_names_the_usual_slips(wrong, message):
    ok, feedback = verdict(ch01_costs.training_days, wrong)
    assert not ok and message in feedback, feedback


# -- tokens in an hour ------------------------------------------------------------------------------------

TOKENS = 20e12 * 0.3 * 3600 / (6 * 50e6)


def test_tokens_in_an_hour_rounded_to_two_figures_passes():
    assert ch01_costs.tokens_in_an_hour.reference() == pytest.approx(TOKENS, rel=1e-12)
    assert TOKENS == pytest.approx(7.2e7)
    for answer in (TOKENS, 7.2e7, 7.0e7 * 1.03):
        assert verdict(ch01_costs.tokens_in_an_hour, answer)[0], answer
    assert not verdict(ch01_costs.tokens_in_an_hour, 8.0e7)[0]


@pytest.mark.parametrize(("wrong", "message"), [
    (TOKENS * 3, "forward pass only"),
    (TOKENS / 0.3, "multiply the peak by the MFU"),
    (TOKENS / 3600, "one second"),
])
def test_tokens_in_an_hour_names_the_usual_slips(wrong, message):
    ok, feedback = verdict(ch01_costs.tokens_in_an_hour, wrong)
    assert not ok and message in feedback, feedback
