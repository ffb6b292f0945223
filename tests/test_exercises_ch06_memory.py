"""Notebook 6.4's exercises: the reference answers agree with the library, answers rounded as the prompts ask
pass, and the usual slips fail with a message naming them (only where they differ from the right answer)."""

import numpy as np
import pytest

from bigmodel_lib.data.token_files import token_dtype
from bigmodel_lib.exercises import ch06_memory as ex
from bigmodel_lib.exercises.core import Exercise
from bigmodel_lib.scale import ModelShape, zero_memory_per_device

EXERCISES = [getattr(ex, name) for name in ex.__all__ if isinstance(getattr(ex, name), Exercise)]


def verdict(exercise, answer):
    return exercise.checker(answer)


def test_every_exercise_is_listed_and_its_reference_passes():
    assert {e.key for e in EXERCISES} == {"ch06_memory.zero2_memory", "ch06_memory.checkpointed_activations",
                                          "ch06_memory.token_file_size"}
    for exercise in EXERCISES:
        ok, message = verdict(exercise, exercise.reference())
        assert ok and "checked" in message, exercise.key


def test_zero2_matches_the_estimator_and_accepts_the_rounded_answer():
    exact = zero_memory_per_device(ex.ZERO2_RUN["n_params"], 2, ex.ZERO2_RUN["n_devices"], "mixed-bf16").total / 1e9
    assert verdict(ex.zero2_memory, exact)[0]
    assert verdict(ex.zero2_memory, 37.4)[0]
    assert not verdict(ex.zero2_memory, 37.5)[0]


@pytest.mark.parametrize(("answer", "words"), [(61.8, "stage 1"), (13.0, "stage 3"), (208.0, "stage 0")])
def test_zero2_names_the_slips(answer, words):
    ok, message = verdict(ex.zero2_memory, answer)
    assert not ok and words in message, message


def test_checkpointed_activations_match_the_full_recompute_estimate():
    r = ex.CHECKPOINT_RUN
    shape = ModelShape(vocab_size=50257, n_layer=r["n_layer"], d_model=r["d_model"], n_head=48, context=r["context"])
    exact = shape.activation_bytes(r["batch"], recompute="full", bytes_per_value=r["bytes_per_value"]) / 1e9
    assert verdict(ex.checkpointed_activations, exact)[0]
    assert verdict(ex.checkpointed_activations, 4.83)[0]
    assert not verdict(ex.checkpointed_activations, 4.84)[0]


@pytest.mark.parametrize(("answer", "words"), [(9.66, "not 4"), (1.21, "multiply by the batch"),
                                               (0.101, "48 blocks")])
def test_checkpointed_activations_name_the_slips(answer, words):
    ok, message = verdict(ex.checkpointed_activations, answer)
    assert not ok and words in message, message


def test_token_file_size_uses_the_library_dtype():
    dtype = token_dtype(ex.TOKEN_CORPUS["vocab_size"])
    assert dtype == np.uint32
    assert verdict(ex.token_file_size, ex.TOKEN_CORPUS["tokens"] * dtype.itemsize / 1e12)[0]
    assert verdict(ex.token_file_size, 60.0)[0] and verdict(ex.token_file_size, 60)[0]
    assert not verdict(ex.token_file_size, 60.2)[0]


@pytest.mark.parametrize(("answer", "words"), [(30.0, "65,536"), (31.9, "17-bit"), (120.0, "uint64")])
def test_token_file_size_names_the_slips(answer, words):
    ok, message = verdict(ex.token_file_size, answer)
    assert not ok and words in message, message
