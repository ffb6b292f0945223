"""Notebook 05.7's exercises: the reference answers agree with the library, answers rounded as the prompts ask
pass, and the usual slips fail with a message naming them (only where they differ from the right answer)."""

import numpy as np
import pytest

from bigmodel_lib.compression.quantization import dequantize, quantize
from bigmodel_lib.exercises import ch05_quantization as ex
from bigmodel_lib.exercises.core import Exercise

EXERCISES = [getattr(ex, name) for name in ex.__all__ if isinstance(getattr(ex, name), Exercise)]


def verdict(exercise, answer):
    return exercise.checker(answer)


def test_every_exercise_is_listed_and_its_reference_passes():
    assert {e.key for e in EXERCISES} == {"ch05_quantization.scale_and_zero_point",
                                          "ch05_quantization.int4_group_size_gb", "ch05_quantization.rounding_error"}
    for exercise in EXERCISES:
        ok, message = verdict(exercise, exercise.reference())
        assert ok and "checked" in message, exercise.key


# -- scale and zero point -------------------------------------------------------------------------------------------

def test_scale_and_zero_point_match_the_library():
    qt = quantize(np.array([list(ex.ASYMMETRIC_RANGE)]), 8, scheme="asymmetric")
    scale, zero_point = float(qt.scale[0]), int(qt.zero_point[0])
    assert verdict(ex.scale_and_zero_point, (scale, zero_point))[0]
    assert verdict(ex.scale_and_zero_point, (0.00702, -68))[0]           # rounded as asked
    assert verdict(ex.scale_and_zero_point, [0.00702, -68.0])[0]
    assert (scale, zero_point) == pytest.approx((1.79 / 255, -68))
    assert not verdict(ex.scale_and_zero_point, (0.00702, -67))[0]       # the zero point is exact
    assert not verdict(ex.scale_and_zero_point, (0.00703, -68))[0]       # off in the 3rd figure
    assert not verdict(ex.scale_and_zero_point, (0.00702,))[0]


@pytest.mark.parametrize(("answer", "words"), [
    ((0.00699, -68), "not / 256"),
    ((0.00702, 60), "unsigned"),
    ((0.00702, -188), "sign of min"),
    ((0.0108, -89), "symmetric scale"),
])
def test_scale_and_zero_point_name_the_slips(answer, words):
    ok, message = verdict(ex.scale_and_zero_point, answer)
    assert not ok and words in message, message


# -- int4 group-wise size ----------------------------------------------------------------------------------------------

def test_int4_size_matches_nbytes_packed_scaled_up():
    d, n_layer = ex.BIG_MODEL["d_model"], ex.BIG_MODEL["n_layer"]
    # one d x 128 slab of weights has the same bytes per weight as the whole model: nbytes_packed counts them
    slab = quantize(np.ones((8, 128), dtype=np.float32), 4, granularity="group", group_size=128)
    bytes_per_weight = slab.nbytes_packed / slab.q.size
    expected_gb = 12 * d * d * n_layer * bytes_per_weight / 1e9
    assert verdict(ex.int4_group_size_gb, expected_gb)[0]
    assert verdict(ex.int4_group_size_gb, 3.42)[0]
    assert not verdict(ex.int4_group_size_gb, 3.43)[0]


@pytest.mark.parametrize(("answer", "words"), [
    (3.22, "scales are missing"),
    (26.0, "half a byte"),
    (3.32, "not 2"),
])
def test_int4_size_names_the_slips(answer, words):
    ok, message = verdict(ex.int4_group_size_gb, answer)
    assert not ok and words in message, message


# -- rounding error --------------------------------------------------------------------------------------------------

def test_rounding_error_matches_the_library():
    qt = quantize(ex.INT4_ROW[None, :], 4)
    bound, largest = float(qt.scale[0]) / 2, float(np.abs(ex.INT4_ROW - dequantize(qt)[0]).max())
    assert largest <= bound
    assert verdict(ex.rounding_error, (bound, largest))[0]
    assert verdict(ex.rounding_error, (0.0629, 0.0586))[0]
    assert not verdict(ex.rounding_error, (0.0629, 0.0629))[0]


@pytest.mark.parametrize(("answer", "words"), [
    ((0.055, 0.04), "not / 8"),
    ((0.0293, 0.026), "not / 15"),
    ((0.126, 0.0586), "half a step"),
    ((0.0629, 0.07), "truncating"),
])
def test_rounding_error_names_the_slips(answer, words):
    ok, message = verdict(ex.rounding_error, answer)
    assert not ok and words in message, message
