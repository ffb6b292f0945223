"""Notebook 05.5's exercises: the reference answers agree with the library, answers rounded as the prompts ask
pass, and the usual slips fail with a message naming them (only where they differ from the right answer)."""

import math

import numpy as np
import pytest

from bigmodel_lib.contracts.gpt import GPTConfig
from bigmodel_lib.exercises import ch05_moe
from bigmodel_lib.exercises.core import Exercise
from bigmodel_lib.nn_numpy.moe import MoE, route_tokens
from bigmodel_lib.nn_torch.moe import MoEConfig, MoEGPT

EXERCISES = [getattr(ch05_moe, name) for name in ch05_moe.__all__ if isinstance(getattr(ch05_moe, name), Exercise)]


def verdict(exercise, answer):
    return exercise.checker(answer)


def test_every_exercise_is_listed_and_its_reference_passes():
    assert {e.key for e in EXERCISES} == {"ch05_moe.active_parameters", "ch05_moe.balancing_loss",
                                          "ch05_moe.capacity_and_drops", "ch05_moe.training_flops_per_token"}
    for exercise in EXERCISES:
        assert verdict(exercise, exercise.reference())[0], exercise.key


# -- total and active parameters: against a real MoE GPT built on the meta device ---------------------------------

def exercise_model():
    m = ch05_moe.EXERCISE_MOE
    config = GPTConfig(vocab_size=m["vocab_size"], block_size=m["context"], n_layer=m["n_layer"], n_head=m["n_head"],
                       d_model=m["d_model"])
    return MoEGPT(config, MoEConfig(num_experts=m["num_experts"], top_k=m["top_k"]), device="meta")


def test_active_parameters_match_a_model_built_from_the_description():
    model = exercise_model()
    expected = (model.num_parameters(), model.num_active_parameters())
    assert ch05_moe.active_parameters.reference() == expected
    assert verdict(ch05_moe.active_parameters, expected)[0]
    assert verdict(ch05_moe.active_parameters, [float(v) for v in expected])[0]
    assert not verdict(ch05_moe.active_parameters, (expected[0], expected[1] + 1))[0]


@pytest.mark.parametrize(("slip", "message"), [
    (lambda total, active, router: (total - router, active - router), "the router is missing"),
    (lambda total, active, router: (total, active - (total - active) // 6), "uses one expert"),
    (lambda total, active, router: (total, total), "includes all 8 experts"),
])
def test_active_parameters_name_the_usual_slips(slip, message):
    m = ch05_moe.EXERCISE_MOE
    total, active = ch05_moe.active_parameters.reference()
    ok, feedback = verdict(ch05_moe.active_parameters, slip(total, active, m["n_layer"] * m["d_model"] * 8))
    assert not ok and message in feedback, feedback


# -- balancing loss: against the library's MoE, fed the same routing ---------------------------------------------

def test_balancing_loss_equals_the_layers_value_for_those_probabilities():
    probs = ch05_moe.ROUTER_PROBS
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert np.all(np.diff(np.sort(probs)[:, -2:]) > 0)  # no tie for the top expert: the routing is unambiguous
    layer = MoE(4, 4, 4, 1, dtype=np.float64, rng=np.random.default_rng(0))
    layer.router.weight.data[...] = np.eye(4)
    layer(np.log(probs)[None])  # logits = log p, so the router's softmax gives back p exactly
    exact = layer.aux_loss
    assert exact == pytest.approx(4 * np.sum(np.array([2, 4, 1, 1]) / 8 * probs.mean(0)))
    assert verdict(ch05_moe.balancing_loss, round(exact, 3))[0]
    assert verdict(ch05_moe.balancing_loss, exact)[0]
    assert not verdict(ch05_moe.balancing_loss, round(exact, 3) + 0.001)[0]


@pytest.mark.parametrize(("slip", "message"), [
    (lambda f, counts, p, probs: np.sum(f * p), "factor E = 4 is missing"),
    (lambda f, counts, p, probs: 4 * np.sum(counts * p), "FRACTION of tokens"),
    (lambda f, counts, p, probs: 4 * np.sum(f * np.array([probs[probs.argmax(1) == i, i].mean() for i in range(4)])),
     "mean probability of expert i over ALL tokens"),
])
def test_balancing_loss_names_the_usual_slips(slip, message):
    probs = ch05_moe.ROUTER_PROBS
    counts = np.bincount(probs.argmax(1), minlength=4)
    ok, feedback = verdict(ch05_moe.balancing_loss, round(float(slip(counts / 8, counts, probs.mean(0), probs)), 3))
    assert not ok and message in feedback, feedback


# -- capacity and dropped tokens: against the library's routing --------------------------------------------------

def test_capacity_and_drops_equal_what_the_library_drops():
    case = ch05_moe.CAPACITY_CASE
    n, e = len(case["routes"]), case["num_experts"]
    capacity = math.ceil(case["capacity_factor"] * n * case["top_k"] / e)
    logits = np.eye(e)[case["routes"]]  # each token's chosen expert has the largest logit
    _, kept = route_tokens(logits, 1, capacity)
    expected = (capacity, int((~kept).sum()))
    assert ch05_moe.capacity_and_drops.reference() == expected == (6, 1)
    assert verdict(ch05_moe.capacity_and_drops, expected)[0]
    assert not verdict(ch05_moe.capacity_and_drops, (6, 2))[0]


@pytest.mark.parametrize(("answer", "message"), [((4, 3), "capacity factor is missing"), ((5, 2), "rounded UP")])
def test_capacity_and_drops_name_the_usual_slips(answer, message):
    ok, feedback = verdict(ch05_moe.capacity_and_drops, answer)
    assert not ok and message in feedback, feedback


# -- training FLOPs per token: against the model's own count -----------------------------------------------------

def test_training_flops_equal_the_models_count_and_three_significant_figures_pass():
    model = exercise_model()
    exact = model.flops_per_token(ch05_moe.EXERCISE_MOE["context"])
    assert ch05_moe.training_flops_per_token.reference() == pytest.approx(exact, rel=1e-12)
    assert verdict(ch05_moe.training_flops_per_token, float(f"{exact:.3g}"))[0]
    assert not verdict(ch05_moe.training_flops_per_token, exact * 1.01)[0]


@pytest.mark.parametrize(("slip", "message"), [
    (lambda model, exact: 6 * (model.num_parameters() - model.pos_emb.weight.numel())
     + 12 * 8 * 512 * 1024, "counts all 8 experts"),
    (lambda model, exact: 6 * (model.num_active_parameters() - model.pos_emb.weight.numel()), "attention term"),
    (lambda model, exact: exact / 3, "forward pass only"),
])
def test_training_flops_name_the_usual_slips(slip, message):
    model = exercise_model()
    exact = model.flops_per_token(1024)
    ok, feedback = verdict(ch05_moe.training_flops_per_token, float(f"{slip(model, exact):.3g}"))
    assert not ok and message in feedback, feedback
