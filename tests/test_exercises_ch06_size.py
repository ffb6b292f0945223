"""Notebook 6.2's exercises: the reference answers agree with the library, answers rounded as the prompts ask
pass, and the usual slips fail with a message naming them (only where they differ from the right answer)."""

import pytest
import torch

from bigmodel_lib.early_stopping import EarlyStopping
from bigmodel_lib.exercises import ch06_size as ex
from bigmodel_lib.exercises.core import Exercise
from bigmodel_lib.nn_torch.gpt import GPT, GPTConfig
from bigmodel_lib.scale import ModelShape, gpt_forward_flops_per_token

EXERCISES = [getattr(ex, name) for name in ex.__all__ if isinstance(getattr(ex, name), Exercise)]


def test_every_exercise_is_listed_and_its_reference_passes():
    assert {e.key for e in EXERCISES} == {"ch06_size.non_embedding_parameters", "ch06_size.training_flops_per_token",
                                          "ch06_size.early_stopping_steps"}
    for exercise in EXERCISES:
        ok, message = exercise.checker(exercise.reference())
        assert ok and "checked" in message, exercise.key


def test_non_embedding_parameters_match_the_estimator_and_the_model():
    size = ex.GPT_SIZE
    shape = ModelShape(**size)
    model = GPT(GPTConfig(vocab_size=size["vocab_size"], block_size=size["context"], n_layer=size["n_layer"],
                          n_head=size["n_head"], d_model=size["d_model"]))
    tables = model.tok_emb.weight.numel() + model.pos_emb.weight.numel()
    assert shape.non_embedding_parameters() == model.num_parameters() - tables == 4_739_072
    assert ex.non_embedding_parameters.checker(4_739_072)[0]
    assert not ex.non_embedding_parameters.checker(4_739_073)[0]


@pytest.mark.parametrize(("answer", "words"), [
    (4_725_248, "biases are missing"), (4_732_928, "LayerNorms are missing"), (4_738_560, "final LayerNorm"),
])
def test_non_embedding_parameters_name_the_slips(answer, words):
    ok, message = ex.non_embedding_parameters.checker(answer)
    assert not ok and words in message, message


def test_training_flops_match_the_convention():
    m = ex.FLOP_MODEL
    exact = 3 * gpt_forward_flops_per_token(m["matmul_params"], m["n_layer"], m["context"], m["d_model"])
    assert exact == 6_372_864
    assert ex.training_flops_per_token.checker(exact)[0]
    assert ex.training_flops_per_token.checker(6.37e6)[0]       # rounded as asked
    assert not ex.training_flops_per_token.checker(6.38e6)[0]


@pytest.mark.parametrize(("answer", "words"), [
    (2.12e6, "forward pass only"), (4.80e6, "attention products are missing"), (5.59e6, "Kaplan"),
])
def test_training_flops_name_the_slips(answer, words):
    ok, message = ex.training_flops_per_token.checker(answer)
    assert not ok and words in message, message


def test_early_stopping_steps_follow_the_rule():
    assert ex.early_stopping_steps.reference() == (700, 400)
    assert ex.early_stopping_steps.checker((700, 400))[0]
    assert ex.early_stopping_steps.checker([700.0, 400.0])[0]
    assert not ex.early_stopping_steps.checker((700, 600))[0]
    stopper = EarlyStopping(patience=3, min_delta=0.02)  # by hand: the stopper says stop at the 8th evaluation
    decisions = [stopper.update(100 * i, loss, torch.nn.Linear(1, 1)) for i, loss in enumerate(ex.VALIDATION_CURVE)]
    assert decisions.index(True) == 7


@pytest.mark.parametrize(("answer", "words"), [((900, 600), "min_delta matters"), ((800, 400), "patience 3")])
def test_early_stopping_steps_name_the_slips(answer, words):
    ok, message = ex.early_stopping_steps.checker(answer)
    assert not ok and words in message, message
