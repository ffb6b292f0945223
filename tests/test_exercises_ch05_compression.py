"""Notebook 05.8's exercises: the reference answers agree with the library, answers rounded as the prompts ask
pass, and the usual slips fail with a message naming them."""

import numpy as np
import pytest
import torch

from bigmodel_lib import nn_numpy
from bigmodel_lib.compression import pruning
from bigmodel_lib.exercises import ch05_compression as ex
from bigmodel_lib.exercises.core import Exercise
from bigmodel_lib.nn_torch.gpt import GPT, GPTConfig

EXERCISES = [getattr(ex, name) for name in ex.__all__ if isinstance(getattr(ex, name), Exercise)]


def test_every_exercise_is_listed_and_its_reference_passes():
    assert {e.key for e in EXERCISES} == {"ch05_compression.pruned_parameters", "ch05_compression.soft_gradient",
                                          "ch05_compression.soft_target_entropy"}
    for exercise in EXERCISES:
        assert exercise.checker(exercise.reference())[0], exercise.key


def test_pruned_parameters_equal_a_real_pruned_model():
    c = ex.PRUNE_CASE
    config = GPTConfig(vocab_size=50, block_size=8, n_layer=c["n_layer"], n_head=c["n_head"], d_model=c["d_model"])
    assert config.d_ff == c["d_ff"]
    torch.manual_seed(0)
    model = GPT(config)
    keep_heads = [list(range(c["n_head"] - c["heads"]))] * c["n_layer"]
    keep_neurons = [list(range(c["d_ff"] - c["neurons"]))] * c["n_layer"]
    pruned = pruning.remove_heads_and_neurons(model, keep_heads=keep_heads, keep_neurons=keep_neurons)
    removed = model.num_parameters() - sum(p.numel() for p in pruned.parameters())
    assert ex.pruned_parameters.reference() == removed
    assert ex.pruned_parameters.checker(float(removed))[0]
    assert not ex.pruned_parameters.checker(removed + 1)[0]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"w_o": False}, "output projection W_O"),
    ({"w_2": False}, "column of W_2"),
    ({"biases": False}, "biases are missing"),
])
def test_pruned_parameters_name_the_usual_slips(kwargs, message):
    ok, feedback = ex.pruned_parameters.checker(ex._removed(**kwargs))
    assert not ok and message in feedback, feedback


def test_soft_gradient_equals_the_library_loss_and_accepts_rounding():
    c = ex.SOFT_GRADIENT_CASE
    loss = nn_numpy.DistillationLoss(c["temperature"], alpha=1.0)
    student, teacher = np.array([c["student"]]), np.array([c["teacher"]])  # one position: (1, 5)
    loss(student, teacher, np.array([0]))
    exact = loss.backward()[0]
    np.testing.assert_allclose(ex._soft_gradient(), exact, rtol=1e-12, atol=1e-15)
    assert ex.soft_gradient.checker(np.round(exact, 4))[0]
    assert ex.soft_gradient.checker(list(np.round(exact, 4)))[0]
    assert not ex.soft_gradient.checker(np.round(exact, 4) + np.array([0, 0, 0, 0, 1e-3]))[0]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"scale_power": 0}, "T^2 is missing"),
    ({"chain": False}, "1/T is missing"),
    ({"sign": -1.0}, "sign is flipped"),
])
def test_soft_gradient_names_the_usual_slips(kwargs, message):
    ok, feedback = ex.soft_gradient.checker(np.round(ex._soft_gradient(**kwargs), 4))
    assert not ok and message in feedback, feedback


def test_soft_target_entropy_accepts_rounding_and_names_slips():
    exact = ex._entropy()
    assert np.log(6) > exact > ex._entropy(temperature=1.0)  # softening moves it toward uniform
    assert ex.soft_target_entropy.checker(round(exact, 3))[0]
    assert not ex.soft_target_entropy.checker(round(exact, 3) + 0.002)[0]
    slips = [({"temperature": 1.0}, "T = 1"), ({"base": 2.0}, "bits"), ({"multiply": True}, "multiplied")]
    for kwargs, message in slips:
        ok, feedback = ex.soft_target_entropy.checker(round(ex._entropy(**kwargs), 3))
        assert not ok and message in feedback, feedback
