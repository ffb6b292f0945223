"""Notebook 04.6's exercises: the reference answers pass, answers rounded as the prompts ask pass, and the
usual slips fail with a message naming them (only where they differ from the right answer)."""

import pytest

from bigmodel_lib.benchmarks import counts, hardware
from bigmodel_lib.exercises import ch04_performance
from bigmodel_lib.exercises.core import Exercise

EXERCISES = [getattr(ch04_performance, name) for name in ch04_performance.__all__
             if isinstance(getattr(ch04_performance, name), Exercise)]


def verdict(exercise, answer):
    return exercise.checker(answer)


def test_every_exercise_is_listed_and_its_reference_passes():
    assert {e.key for e in EXERCISES} == {"ch04_performance.attention_memory",
                                          "ch04_performance.model_flops_utilization"}
    for exercise in EXERCISES:
        assert verdict(exercise, exercise.reference())[0], exercise.key


# -- memory of the attention weights ---------------------------------------------------------------------------

def exact_bytes():
    s = ch04_performance.MEMORY_SHAPE
    return counts.attention_weights_bytes(s["batch"], s["heads"], s["length"], s["bytes"])


def test_attention_memory_is_the_exact_integer_the_prompt_asks_for():
    assert "exact integer" in ch04_performance.attention_memory.prompt
    assert exact_bytes() == 8 * 12 * 4096 * 4096 * 2 == 3_221_225_472
    assert verdict(ch04_performance.attention_memory, exact_bytes())[0]
    assert verdict(ch04_performance.attention_memory, float(exact_bytes()))[0]
    assert not verdict(ch04_performance.attention_memory, exact_bytes() + 1)[0]


@pytest.mark.parametrize(("wrong", "message"), [
    (lambda b: 2 * b, "2 bytes per number"),
    (lambda b: b // 12, "multiply by the 12 heads"),
    (lambda b: b // 4096, "L squared"),
])
def test_attention_memory_names_the_usual_slips(wrong, message):
    ok, feedback = verdict(ch04_performance.attention_memory, wrong(exact_bytes()))
    assert not ok and message in feedback, feedback


# -- MFU --------------------------------------------------------------------------------------------------------

def mfu_with(flops_per_token, peak_factor=1.0):
    r = ch04_performance.MFU_RUN
    return hardware.mfu(r["tokens_per_s"], flops_per_token, peak_factor * r["dense_peak"])


def training_flops():
    r = ch04_performance.MFU_RUN
    return counts.gpt_flops_per_token(r["N"], r["n_layer"], r["d_model"], r["seq_len"], training=True)


def test_mfu_answer_rounded_to_two_decimals_passes():
    prompt = ch04_performance.model_flops_utilization.prompt
    assert "2 decimal places" in prompt and "forward + backward" in prompt
    exact = mfu_with(training_flops())
    assert exact == pytest.approx(0.34671, abs=1e-5)
    for answer in (exact, round(exact, 2), round(exact, 3), round(exact, 4), 0.35):
        ok, feedback = verdict(ch04_performance.model_flops_utilization, answer)
        assert ok, (answer, feedback)
        assert "2 decimal places" in feedback  # the success message says what was checked
    for answer in (0.34, 0.36, 0.25):
        assert not verdict(ch04_performance.model_flops_utilization, answer)[0], answer


def test_mfu_names_the_usual_slips():
    r = ch04_performance.MFU_RUN
    forward = counts.gpt_flops_per_token(r["N"], r["n_layer"], r["d_model"], r["seq_len"], training=False)
    no_attention = 6 * r["N"]
    cases = [
        (mfu_with(forward), "counts only the forward pass; training (forward + backward) is three times"),
        (mfu_with(2 * r["N"]), "2 N counts only the forward pass, and the attention term is missing"),
        (mfu_with(no_attention), "attention term 12 n_layer d_model T is missing"),
        (mfu_with(training_flops(), peak_factor=2.0), "sparse peak"),
    ]
    for wrong, message in cases:
        for answer in (wrong, round(wrong, 2)):  # rounded as asked, the slip is still recognised
            ok, feedback = verdict(ch04_performance.model_flops_utilization, answer)
            assert not ok and message in feedback, (answer, feedback)


def test_every_named_mfu_slip_differs_from_the_answer_beyond_the_tolerance():
    exact = mfu_with(training_flops())
    r = ch04_performance.MFU_RUN
    forward = counts.gpt_flops_per_token(r["N"], r["n_layer"], r["d_model"], r["seq_len"], training=False)
    slips = [mfu_with(forward), mfu_with(2 * r["N"]), mfu_with(6 * r["N"]), mfu_with(training_flops(), 2.0)]
    tolerance = 0.5 * 10 ** -ch04_performance.MFU_DECIMALS
    assert all(abs(slip - exact) > tolerance for slip in slips)
    assert all(abs(a - b) > 2 * tolerance for i, a in enumerate(slips) for b in slips[i + 1:])
