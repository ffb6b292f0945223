"""Chapter 05 exercises on GQA and RoPE: references agree with the library; rounded answers pass; slips are named."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bigmodel_lib.exercises import ch05_gqa_rope as ex
from bigmodel_lib.exercises.core import Exercise
from bigmodel_lib.nn_numpy.positional import rotary_cos_sin
from bigmodel_lib.nn_torch.gpt import GPT, GPTConfig
from bigmodel_lib.scale import ModelShape

EXERCISES = [getattr(ex, name) for name in ex.__all__ if isinstance(getattr(ex, name), Exercise)]


def test_every_exercise_of_the_notebook_is_listed():
    assert len(EXERCISES) == 4 and len({e.key for e in EXERCISES}) == 4


def test_cache_bytes_equal_the_estimator_and_a_real_cache():
    s = ex.CACHE_SHAPE
    shape = ModelShape(vocab_size=128, n_layer=s["n_layer"], d_model=s["d_model"], n_head=s["n_head"],
                       n_kv_head=s["n_kv_head"], context=s["context"])
    expected = shape.kv_cache_bytes(batch=s["batch"], bytes_per_value=2)
    assert ex.kv_cache_bytes.checker(expected)[0]
    small = GPTConfig(vocab_size=11, block_size=s["context"], n_layer=2, n_head=s["n_head"], d_model=s["d_model"],
                      n_kv_head=s["n_kv_head"])
    cache = GPT(small, device="meta", dtype=torch.bfloat16).new_cache(s["batch"])  # shapes only, no memory
    assert cache.nbytes * s["n_layer"] // 2 == expected
    for wrong, slip in [(4 * expected, "query heads share"), (expected // 2, "two tensors"),
                        (2 * expected, "2 bytes")]:
        ok, feedback = ex.kv_cache_bytes.checker(wrong)
        assert not ok and slip in feedback


def test_parameters_saved_equal_the_difference_of_two_models():
    s = ex.PROJECTION_SHAPE
    shapes = [ModelShape(vocab_size=128, n_layer=s["n_layer"], d_model=s["d_model"], n_head=s["n_head"],
                         n_kv_head=kv, context=16, bias=False) for kv in (s["n_head"], s["n_kv_head"])]
    saved = shapes[0].num_parameters() - shapes[1].num_parameters()
    assert ex.gqa_parameters_saved.checker(saved)[0]
    ok, feedback = ex.gqa_parameters_saved.checker(saved // s["n_layer"])
    assert not ok and "32 layers" in feedback
    ok, feedback = ex.gqa_parameters_saved.checker(saved // 2)
    assert not ok and "W_V" in feedback


def test_rope_angle_equals_the_librarys_and_4_figures_pass():
    s = ex.ROPE_ANGLE
    cos, sin = rotary_cos_sin(np.array([s["m"]]), s["d_head"], s["base"])
    library = float(np.arctan2(sin[0, s["i"]], cos[0, s["i"]]))  # reduced to (-pi, pi]
    exact = s["m"] * s["base"] ** (-2 * s["i"] / s["d_head"])
    assert math.isclose(library % (2 * math.pi), exact % (2 * math.pi), rel_tol=1e-12)
    assert ex.rope_angle.checker(float(f"{exact:.4g}"))[0]
    assert ex.rope_angle.checker(exact)[0]
    ok, feedback = ex.rope_angle.checker(round(math.degrees(exact), 1))
    assert not ok and "radians" in feedback
    ok, feedback = ex.rope_angle.checker(round(s["m"] * s["base"] ** (-s["i"] / s["d_head"]), 2))
    assert not ok and "2i / d_head" in feedback
    assert not ex.rope_angle.checker(exact + 0.05)[0]  # beyond 4 significant figures


@pytest.mark.parametrize(("answer", "slip"), [(62832, "base^(-14/16)"), (3162, "2 pi / theta"),
                                               (6.283, "fastest pair")])
def test_wavelength_rounded_passes_and_slips_are_named(answer, slip):
    exact = 2 * math.pi * 10000 ** (14 / 16)
    assert ex.rope_longest_wavelength.checker(float(f"{exact:.3g}"))[0]
    assert ex.rope_longest_wavelength.checker(exact)[0]
    assert not ex.rope_longest_wavelength.checker(exact * 1.01)[0]  # beyond 3 significant figures
    ok, feedback = ex.rope_longest_wavelength.checker(answer)
    assert not ok and slip in feedback
