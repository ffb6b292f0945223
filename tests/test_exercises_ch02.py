"""Chapter 02 exercises: the reference solutions pass, agree with an independent computation, and the
usual slips fail with a message naming them."""

import numpy as np
import pytest
import torch

from bigmodel_lib.exercises import ch02
from bigmodel_lib.exercises.core import Exercise

EXERCISES = [getattr(ch02, name) for name in ch02.__all__ if isinstance(getattr(ch02, name), Exercise)]


def verdict(exercise, answer):
    return exercise.checker(answer)


def test_every_exercise_of_the_chapter_is_listed():
    assert len(EXERCISES) == 5
    assert len({exercise.key for exercise in EXERCISES}) == 5


# -- parameter count ---------------------------------------------------------------------------------

def test_parameter_count_agrees_with_a_torch_built_network():
    sizes = ch02.PARAMETER_COUNT_SIZES
    layers = [torch.nn.Linear(n_in, n_out) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    count = sum(p.numel() for layer in layers for p in layer.parameters())
    assert count == 235_146
    assert verdict(ch02.parameter_count, count)[0]
    assert verdict(ch02.parameter_count, np.int64(count))[0]


def test_every_prompt_states_the_precision_it_wants():
    for exercise in EXERCISES:
        assert "exact int" in exercise.prompt or "4 decimal places" in exercise.prompt, exercise.key


@pytest.mark.parametrize(
    "wrong, message",
    [(234_752, "weight matrices only"), (234_752 + 784 + 256 + 128, "per *input* unit"), (1178, "counts neurons"),
     (235_147, "off by")],
)
def test_parameter_count_names_the_usual_slips(wrong, message):
    ok, feedback = verdict(ch02.parameter_count, wrong)
    assert not ok and message in feedback


# -- chain rule --------------------------------------------------------------------------------------

def autograd_chain_rule():
    v = {name: torch.tensor(value, dtype=torch.float64, requires_grad=True)
         for name, value in ch02.CHAIN_RULE_VALUES.items()}
    y = v["w2"] * torch.tanh(v["w1"] * v["x"] + v["b1"]) + v["b2"]
    loss = (y - v["t"]) ** 2
    loss.backward()
    return torch.stack([v[name].grad for name in ("w1", "b1", "w2", "b2")])


def test_chain_rule_reference_equals_autograd():
    expected = autograd_chain_rule()
    assert verdict(ch02.chain_rule_gradient, expected)[0]
    np.testing.assert_allclose(ch02.chain_rule_gradient.reference(), expected.numpy(), rtol=1e-12)


def test_chain_rule_accepts_an_answer_rounded_to_4_decimals():
    rounded = np.round(autograd_chain_rule().numpy(), 4)
    assert verdict(ch02.chain_rule_gradient, rounded)[0]
    assert verdict(ch02.chain_rule_gradient, [1.7854, 1.1903, -1.6604, -2.1801])[0]
    ok, feedback = verdict(ch02.chain_rule_gradient, [1.785, 1.190, -1.660, -2.180])   # 3 decimals: not enough
    assert not ok and "off by" in feedback


def test_chain_rule_names_the_usual_slips():
    v = ch02.CHAIN_RULE_VALUES
    h = np.tanh(v["w1"] * v["x"] + v["b1"])
    residual = v["w2"] * h + v["b2"] - v["t"]
    no_tanh = np.array([2 * residual * v["w2"] * v["x"], 2 * residual * v["w2"], 2 * residual * h, 2 * residual])
    half = autograd_chain_rule().numpy() / 2
    for wrong, message in [(no_tanh, "derivative of tanh"), (half, "half the right one"),
                           (no_tanh / 2, "two slips"), (autograd_chain_rule().numpy()[:2], "shape (4,)")]:
        ok, feedback = verdict(ch02.chain_rule_gradient, wrong)
        assert not ok and message in feedback, feedback


# -- Adam --------------------------------------------------------------------------------------------

def test_adam_reference_equals_torch_optim():
    weight = torch.nn.Parameter(torch.tensor([ch02.ADAM_START], dtype=torch.float64))
    optimizer = torch.optim.Adam([weight], lr=ch02.ADAM_LR, betas=ch02.ADAM_BETAS, eps=1e-8)
    for gradient in ch02.ADAM_GRADIENTS:
        weight.grad = torch.tensor([gradient], dtype=torch.float64)
        optimizer.step()
    assert verdict(ch02.adam_two_steps, weight.item())[0]
    assert ch02.adam_two_steps.reference() == pytest.approx(0.853053, abs=1e-6)


@pytest.mark.parametrize("rounded", [0.8531, 0.85305, 0.853053, np.round(0.853053183290273, 4)])
def test_adam_accepts_an_answer_rounded_to_4_decimals(rounded):
    ok, feedback = verdict(ch02.adam_two_steps, rounded)
    assert ok and "5e-05" in feedback, feedback


def test_adam_rejects_an_answer_rounded_to_3_decimals():
    ok, feedback = verdict(ch02.adam_two_steps, 0.853 - 1e-4)
    assert not ok and "off by" in feedback


def test_adam_names_the_usual_slips():
    # Without bias correction the first step is lr * 0.4 / sqrt(0.016), not lr.
    w, m, v = 1.0, 0.0, 0.0
    for g in ch02.ADAM_GRADIENTS:
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        w -= 0.1 * m / np.sqrt(v)
    cases = [(w, "bias correction"), (0.9, "after the first step"), (1.0 - 0.1 * (4.0 - 1.0), "plain gradient descent"),
             (0.85, "off by")]
    for wrong, message in cases:
        ok, feedback = verdict(ch02.adam_two_steps, wrong)
        assert not ok and message in feedback, feedback


# -- L2 penalty --------------------------------------------------------------------------------------

@pytest.mark.parametrize("rounded", [0.3875, 0.38750, 0.38749])
def test_l2_penalty_accepts_an_answer_to_4_decimals(rounded):
    assert verdict(ch02.l2_penalty, rounded)[0]


def test_l2_penalty_reference_equals_torch_weight_decay_energy():
    weights = [torch.tensor(w) for w in ch02.L2_WEIGHTS]
    expected = 0.5 * ch02.L2_STRENGTH * sum((w**2).sum() for w in weights)
    assert verdict(ch02.l2_penalty, expected)[0]
    assert ch02.l2_penalty.reference() == pytest.approx(0.3875)


@pytest.mark.parametrize(
    "wrong, message",
    [(0.775, "lambda * sum(w^2)"), (0.55, "L1 penalty"), (7.75, "without the strength"),
     (0.05 * np.sqrt(7.75), "squared"), (0.39, "off by"), (0.3876, "off by")],
)
def test_l2_penalty_names_the_usual_slips(wrong, message):
    ok, feedback = verdict(ch02.l2_penalty, wrong)
    assert not ok and message in feedback


# -- training FLOPs ----------------------------------------------------------------------------------

def test_training_flops_match_a_count_of_the_matmuls_nn_numpy_runs():
    # Forward x @ W^T, backward g^T @ x and g @ W: three (B, n_in, n_out) products per layer.
    sizes, batch = ch02.FLOPS_SIZES, ch02.FLOPS_BATCH
    flops = sum(3 * 2 * batch * n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    assert flops == 180_289_536
    assert verdict(ch02.training_flops, flops)[0]
    assert verdict(ch02.training_flops, float(flops))[0]


def test_training_flops_is_not_the_worked_example_of_the_notebook():
    # 02.2 section 2.8.1 works out the MLP (1000, 500, 100, 1); the exercise must ask for another network
    assert ch02.FLOPS_SIZES != (1000, 500, 100, 1)
    assert "forward + backward" in ch02.training_flops.prompt and "2 FLOPs" in ch02.training_flops.prompt


@pytest.mark.parametrize(
    "wrong, message",
    [(60_096_512, "forward pass alone"), (90_144_768, "multiply-adds"), (1_408_512, "one sample"),
     (6 * 128 * 235_146, "biases"), (180_289_537, "off by")],
)
def test_training_flops_name_the_usual_slips(wrong, message):
    ok, feedback = verdict(ch02.training_flops, wrong)
    assert not ok and message in feedback
