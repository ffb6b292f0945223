"""Notebook 05.2's exercises: the reference answers agree with the library, answers rounded as the prompts
ask pass, and each named slip is named only where it differs from the right answer."""

import numpy as np
import pytest

from bigmodel_lib import nn_numpy
from bigmodel_lib.exercises import ch05_flash
from bigmodel_lib.exercises.core import Exercise, half_unit
from bigmodel_lib.nn_numpy import flash as flash_module

EXERCISES = [getattr(ch05_flash, name) for name in ch05_flash.__all__
             if isinstance(getattr(ch05_flash, name), Exercise)]


def verdict(exercise, answer):
    return exercise.checker(answer)


def test_every_exercise_is_listed_and_its_reference_passes():
    assert {e.key for e in EXERCISES} == {"ch05_flash.online_softmax_step", "ch05_flash.causal_tiles",
                                          "ch05_flash.kv_bytes_read"}
    for exercise in EXERCISES:
        ok, feedback = verdict(exercise, exercise.reference())
        assert ok, (exercise.key, feedback)


# -- the online softmax step ---------------------------------------------------------------------------------

def running_sum_from_scratch():
    """A first block with running state (m = 2, l = 3) -- three scores equal to 2 -- then the new scores."""
    s = ch05_flash.ONLINE_STEP
    first_block = np.full(3, s["running_max"])
    assert np.exp(first_block - first_block.max()).sum() == s["running_sum"]
    scores = np.concatenate([first_block, s["new_scores"]])
    return float(np.exp(scores - scores.max()).sum())


def test_online_step_reference_is_the_softmax_denominator_of_all_scores():
    assert ch05_flash.online_softmax_step.reference() == pytest.approx(running_sum_from_scratch(), rel=1e-12)
    assert ch05_flash.online_softmax_step.reference() == pytest.approx(1.8236724, abs=1e-7)


def test_online_step_accepts_four_significant_figures_and_no_other():
    exercise = ch05_flash.online_softmax_step
    assert "4 significant figures" in exercise.prompt
    for answer in (1.824, 1.8237, 1.82367):
        ok, feedback = verdict(exercise, answer)
        assert ok and "4 significant figures" in feedback, (answer, feedback)
    for answer in (1.823, 1.825, 1.82):
        assert not verdict(exercise, answer)[0], answer


@pytest.mark.parametrize(("answer", "message"), [
    (4.418, "multiply it by exp(m_old - m_new)"),
    (23.58, "not exp(m_new - m_old)"),
    (13.48, "relative to the old maximum"),
])
def test_online_step_names_the_usual_slips_rounded_as_asked(answer, message):
    ok, feedback = verdict(ch05_flash.online_softmax_step, answer)
    assert not ok and message in feedback, feedback


def test_online_step_slips_differ_from_the_answer_beyond_the_tolerance():
    expected = ch05_flash.online_softmax_step.reference()
    for slip in ch05_flash.STEP_SLIPS.values():
        assert abs(slip() - expected) > 10 * half_unit(expected, ch05_flash.STEP_SIGNIFICANT_FIGURES)


# -- tiles of a causal pass ----------------------------------------------------------------------------------------

def tiles_the_library_visits(length, block, monkeypatch):
    """Count the (query block, key block) tiles the NumPy flash forward computes, by running it."""
    calls = []
    original = flash_module._tile_scores

    def counting(*args):
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(flash_module, "_tile_scores", counting)
    x = np.zeros((length, 2))
    nn_numpy.flash_attention(x, x, x, causal=True, block_q=block, block_k=block)
    return len(calls)


def test_causal_tiles_matches_the_library_forward(monkeypatch):
    t = ch05_flash.CAUSAL_TILING
    assert ch05_flash.causal_tiles.reference() == tiles_the_library_visits(t["length"], t["block"], monkeypatch) == 36
    assert "exact int" in ch05_flash.causal_tiles.prompt
    assert verdict(ch05_flash.causal_tiles, 36)[0] and verdict(ch05_flash.causal_tiles, 36.0)[0]
    assert not verdict(ch05_flash.causal_tiles, 37)[0]


@pytest.mark.parametrize(("answer", "message"), [
    (64, "counts every tile"),
    (28, "round the number of blocks up"),
    (32, "ON the diagonal"),
])
def test_causal_tiles_names_the_usual_slips(answer, message):
    ok, feedback = verdict(ch05_flash.causal_tiles, answer)
    assert not ok and message in feedback, feedback


# -- bytes of K and V read ---------------------------------------------------------------------------------------------

def test_kv_bytes_is_the_exact_int():
    t = ch05_flash.KV_TRAFFIC
    exact = (t["length"] // t["block_q"]) * 2 * t["length"] * t["d_head"] * t["bytes"]
    assert ch05_flash.kv_bytes_read.reference() == exact == 268_435_456
    assert "exact int" in ch05_flash.kv_bytes_read.prompt
    ok, feedback = verdict(ch05_flash.kv_bytes_read, exact)
    assert ok and "exact" in feedback
    assert not verdict(ch05_flash.kv_bytes_read, exact + 1)[0]


@pytest.mark.parametrize(("factor", "message"), [
    (1 / 64, "every query block reads all of them again"),
    (1 / 2, "not only K"),
    (2, "2 bytes per number"),
    (4, "number of QUERY blocks"),
])
def test_kv_bytes_names_the_usual_slips(factor, message):
    ok, feedback = verdict(ch05_flash.kv_bytes_read, round(268_435_456 * factor))
    assert not ok and message in feedback, feedback
