"""Notebook 6.6's exercises: the reference answers agree with bigmodel_lib.interpret, answers rounded as the prompts
ask pass, and the usual slips fail with a message naming them."""

import numpy as np
import pytest
import torch

from bigmodel_lib.exercises import ch06_interpret as ex
from bigmodel_lib.exercises.core import Exercise
from bigmodel_lib.interpret import attention_rollout, input_gradients, occlusion

EXERCISES = [getattr(ex, name) for name in ex.__all__ if isinstance(getattr(ex, name), Exercise)]


def verdict(exercise, answer):
    return exercise.checker(answer)


def test_every_exercise_is_listed_and_its_reference_passes():
    assert {e.key for e in EXERCISES} == {"ch06_interpret.rollout_two_layers", "ch06_interpret.gradient_x_input_linear",
                                          "ch06_interpret.occlusion_linear"}
    for exercise in EXERCISES:
        ok, message = verdict(exercise, exercise.reference())
        assert ok and "checked" in message, exercise.key


def test_rollout_matches_the_library_and_names_the_slips():
    exact = attention_rollout([ex.LAYER_1, ex.LAYER_2])
    assert verdict(ex.rollout_two_layers, exact)[0]
    assert verdict(ex.rollout_two_layers, np.round(exact, 3))[0]
    assert not verdict(ex.rollout_two_layers, np.round(exact, 3) + [[0.001, 0], [0, 0]])[0]
    swapped = attention_rollout([ex.LAYER_2, ex.LAYER_1])
    ok, message = verdict(ex.rollout_two_layers, np.round(swapped, 3))
    assert not ok and "wrong order" in message, message
    ok, message = verdict(ex.rollout_two_layers, np.round(ex.LAYER_2 @ ex.LAYER_1, 3))
    assert not ok and "residual" in message, message


def test_gradient_x_input_matches_autograd():
    embeddings = torch.tensor(ex.EMBEDDINGS, requires_grad=True)
    weight = torch.tensor(ex.WEIGHT)
    embed = torch.nn.Identity()
    result = input_gradients(lambda: ((embed(embeddings) @ weight).sum() ** 2)[None], embed)  # (1, 3)
    exact = result[0].numpy()
    assert verdict(ex.gradient_x_input_linear, exact)[0]
    assert verdict(ex.gradient_x_input_linear, np.round(exact, 3))[0]
    ok, message = verdict(ex.gradient_x_input_linear, np.round(ex.EMBEDDINGS @ ex.WEIGHT, 3))
    assert not ok and "chain rule" in message, message
    u = float(ex.WEIGHT @ ex.EMBEDDINGS.sum(axis=0))
    ok, message = verdict(ex.gradient_x_input_linear, [round(2 * u * float(np.linalg.norm(ex.WEIGHT)), 3)] * 3)
    assert not ok and "saliency" in message, message


def test_occlusion_matches_the_library_and_names_the_slips():
    table = torch.tensor(ex.SCORE_TABLE)
    ids = torch.tensor(ex.INPUT_IDS)
    result = occlusion(lambda batch: table[batch, torch.arange(3)].sum(dim=1, keepdim=True), ids, [0, 1, 2, 3])
    exact = result[:, 0].numpy()
    assert verdict(ex.occlusion_linear, exact)[0]
    assert verdict(ex.occlusion_linear, np.round(exact, 3))[0]
    ok, message = verdict(ex.occlusion_linear, np.round(exact * 3 / 4, 3))
    assert not ok and "other" in message, message
    ok, message = verdict(ex.occlusion_linear, np.round(-exact, 3))
    assert not ok and "sign" in message, message


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.key)
def test_wrong_sizes_fail_without_raising(exercise):
    assert not verdict(exercise, [1.0])[0]
