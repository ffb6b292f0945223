"""Notebook 05.6's exercises: the reference answers agree with the library's estimators, answers rounded as
the prompts ask pass, and each named slip is recognised (and differs from the answer beyond the tolerance)."""

import pytest

from bigmodel_lib.exercises import ch05_distributed as ex
from bigmodel_lib.exercises.core import Exercise
from bigmodel_lib.scale import all_reduce_bytes_per_device, pipeline_bubble_fraction, zero_memory_per_device

EXERCISES = [getattr(ex, name) for name in ex.__all__ if isinstance(getattr(ex, name), Exercise)]


def verdict(exercise, answer):
    return exercise.checker(answer)


def test_every_exercise_is_listed_and_its_reference_passes():
    assert {e.key for e in EXERCISES} == {"ch05_distributed.zero_memory", "ch05_distributed.pipeline_bubble",
                                          "ch05_distributed.ring_traffic"}
    for exercise in EXERCISES:
        assert verdict(exercise, exercise.reference())[0], exercise.key


def zero_gb(stage):
    r = ex.ZERO_RUN
    return zero_memory_per_device(r["params"], stage, r["gpus"], "mixed-bf16").total / 1e9


def test_zero_memory_agrees_with_the_estimator_and_accepts_3_significant_figures():
    assert "3 significant figures" in ex.zero_memory.prompt
    exact = zero_gb(2)
    assert exact == pytest.approx(31.6875) and ex.zero_memory.reference() == pytest.approx(exact)
    for answer in (exact, 31.7, 31.69):
        ok, feedback = verdict(ex.zero_memory, answer)
        assert ok and "3 significant figures" in feedback, (answer, feedback)
    for answer in (31.6, 31.8, 32.0):
        assert not verdict(ex.zero_memory, answer)[0], answer


@pytest.mark.parametrize(("stage", "message"), [(1, "ZeRO stage 1"), (3, "ZeRO stage 3"), (0, "plain data")])
def test_zero_memory_names_the_other_stages(stage, message):
    wrong = zero_gb(stage)
    assert abs(wrong - zero_gb(2)) > ex.ZERO_RTOL * zero_gb(2)
    for answer in (wrong, float(f"{wrong:.3g}")):
        ok, feedback = verdict(ex.zero_memory, answer)
        assert not ok and message in feedback, (answer, feedback)


def test_pipeline_bubble_agrees_with_the_formula_and_accepts_3_decimals():
    r = ex.PIPELINE_RUN
    exact = pipeline_bubble_fraction(r["stages"], r["batch"] // r["micro_batch"])
    assert exact == pytest.approx(7 / 39)
    for answer in (exact, round(exact, 3), round(exact, 4)):
        assert verdict(ex.pipeline_bubble, answer)[0], answer
    assert "3 decimal places" in verdict(ex.pipeline_bubble, exact)[1]
    for answer in (0.178, 0.181, 0.2):
        assert not verdict(ex.pipeline_bubble, answer)[0], answer


@pytest.mark.parametrize(("wrong", "message"), [(7 / 71, "not sequences"), (7 / 32, "(p - 1)/m is the bubble")])
def test_pipeline_bubble_names_the_slips(wrong, message):
    assert abs(wrong - 7 / 39) > ex.PIPELINE_TOLERANCE
    for answer in (wrong, round(wrong, 3)):
        ok, feedback = verdict(ex.pipeline_bubble, answer)
        assert not ok and message in feedback, (answer, feedback)


def test_ring_traffic_agrees_with_the_estimator_and_accepts_3_significant_figures():
    r = ex.RING_RUN
    exact = all_reduce_bytes_per_device(r["params"] * r["bytes"], r["gpus"]) / 1e9
    assert exact == pytest.approx(5.625) and ex.ring_traffic.reference() == pytest.approx(exact)
    for answer in (exact, 5.63, 5.62, 5.625):
        assert verdict(ex.ring_traffic, answer)[0], answer
    for answer in (5.6, 5.66, 6.0):
        assert not verdict(ex.ring_traffic, answer)[0], answer


@pytest.mark.parametrize(("answers", "message"), [((2.8125, 2.81), "one phase only"), ((11.25,), "2 bytes per value")])
def test_ring_traffic_names_the_slips(answers, message):
    # 11.25 rounded to 11.2 or 11.3 is 0.4 % away: beyond the tolerance, so only the exact slip is named
    for answer in answers:
        ok, feedback = verdict(ex.ring_traffic, answer)
        assert not ok and message in feedback, (answer, feedback)
