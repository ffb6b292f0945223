"""Chapter 02 exercises: the core concepts, each answer one number (or a short array) to check.

Every prompt says how precise the answer must be ("as an exact int", "to 4 decimal places") and the
checker accepts exactly that: an answer rounded as asked passes.

::

    from bigmodel_lib.exercises import ch02
    print(ch02.parameter_count.prompt)
    ch02.parameter_count.check(my_count)

The reference answers come from the library itself (``nn_numpy.MLP``, ``nn_numpy.Adam``,
``nn_numpy.L2Penalty`` ...), so the exercises and the course agree by construction. Each checker
knows the usual slips (biases forgotten, no bias correction in Adam, the 1/2 of the L2 penalty,
forward-only FLOPs ...) and names one only when its value differs from the right answer by more than
the tolerance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bigmodel_lib import nn_numpy
from bigmodel_lib.exercises.core import Exercise, close_to_or_known_mistake

#: Tolerance of an answer asked "to 4 decimal places": rounding moves a number by at most 5e-5.
FOUR_DECIMALS = 5e-5

__all__ = [
    "ADAM_BETAS",
    "ADAM_GRADIENTS",
    "ADAM_LR",
    "ADAM_START",
    "CHAIN_RULE_VALUES",
    "FLOPS_BATCH",
    "FLOPS_SIZES",
    "L2_STRENGTH",
    "L2_WEIGHTS",
    "PARAMETER_COUNT_SIZES",
    "adam_two_steps",
    "chain_rule_gradient",
    "l2_penalty",
    "parameter_count",
    "training_flops",
]


def _weight_products(sizes: Sequence[int]) -> int:
    """Sum of fan_in * fan_out over the Linear layers: the multiply-adds per sample, biases left out."""
    return sum(fan_in * fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:]))


# -- 1. parameters of an MLP --------------------------------------------------------------------------

PARAMETER_COUNT_SIZES = (784, 256, 128, 10)


def _mlp_parameters() -> int:
    return nn_numpy.MLP(PARAMETER_COUNT_SIZES).num_parameters()


parameter_count = Exercise(
    key="ch02.parameter_count",
    prompt=(
        f"An MLP maps a 28x28 image (784 pixels) to 10 classes through hidden layers of 256 and 128 units:\n"
        f"sizes = {PARAMETER_COUNT_SIZES}, every Linear layer with a bias, ReLU in between.\n"
        "How many trainable parameters does it have? Count by hand; answer as an exact int."
    ),
    checker=close_to_or_known_mistake(
        _mlp_parameters,
        {
            "that counts the weight matrices only; every Linear layer also has one bias per output unit":
            lambda: _weight_products(PARAMETER_COUNT_SIZES),
            "that gives every layer one bias per *input* unit; a bias belongs to each output unit": lambda: (
                _weight_products(PARAMETER_COUNT_SIZES) + sum(PARAMETER_COUNT_SIZES[:-1])
            ),
            "that counts neurons (units), not parameters; parameters are the weights and biases connecting them":
            lambda: sum(PARAMETER_COUNT_SIZES),
        },
        rtol=0.0,
        atol=0.5,
        what="parameter count",
    ),
    hints=[
        "A Linear layer from n_in to n_out units has an (n_out, n_in) weight matrix and n_out biases.",
        "Three Linear layers: 784 -> 256, 256 -> 128, 128 -> 10. Add n_in * n_out + n_out for each.",
        "Check your first term: Linear(784, 256) alone holds 200,960 parameters.",
    ],
    reference=_mlp_parameters,
    solution_text="784*256 + 256 + 256*128 + 128 + 128*10 + 10 = 200,960 + 32,896 + 1,290 = 235,146",
)


# -- 2. the chain rule on a two-neuron network --------------------------------------------------------

CHAIN_RULE_VALUES = {"x": 1.5, "t": 0.5, "w1": 0.8, "b1": -0.2, "w2": -1.3, "b2": 0.4}


def _chain_rule_gradients(tanh_derivative: bool = True, factor_two: bool = True) -> np.ndarray:
    """(dL/dw1, dL/db1, dL/dw2, dL/db2) by the library's backward, or with a slip switched on."""
    v = CHAIN_RULE_VALUES
    if tanh_derivative and factor_two:
        network = nn_numpy.Sequential(nn_numpy.Linear(1, 1), nn_numpy.Tanh(), nn_numpy.Linear(1, 1)).double()
        network.load_state_dict({
            "0.weight": np.array([[v["w1"]]]), "0.bias": np.array([v["b1"]]),
            "2.weight": np.array([[v["w2"]]]), "2.bias": np.array([v["b2"]]),
        })
        loss = nn_numpy.MSELoss()
        loss(network(np.array([[v["x"]]])), np.array([[v["t"]]]))
        network.backward(loss.backward())
        grads = dict(network.named_parameters())
        return np.array([grads[name].grad.item() for name in ("0.weight", "0.bias", "2.weight", "2.bias")])
    # The slips, written out so the checker can recognise them.
    h = np.tanh(v["w1"] * v["x"] + v["b1"])
    dl_dy = (2.0 if factor_two else 1.0) * (v["w2"] * h + v["b2"] - v["t"])
    dl_dz = dl_dy * v["w2"] * ((1 - h * h) if tanh_derivative else 1.0)
    return np.array([dl_dz * v["x"], dl_dz, dl_dy * h, dl_dy])


chain_rule_gradient = Exercise(
    key="ch02.chain_rule_gradient",
    prompt=(
        "A network with one hidden neuron:  h = tanh(w1*x + b1),  y = w2*h + b2,  L = (y - t)^2\n"
        f"with {CHAIN_RULE_VALUES} (ch02.CHAIN_RULE_VALUES).\n"
        "Apply the chain rule by hand and give [dL/dw1, dL/db1, dL/dw2, dL/db2] as an array of shape (4,),\n"
        "each entry to 4 decimal places (or more)."
    ),
    checker=close_to_or_known_mistake(
        _chain_rule_gradients,
        {
            "the gradients of w1 and b1 miss the derivative of tanh, 1 - tanh(z)^2": lambda: _chain_rule_gradients(
                tanh_derivative=False
            ),
            "every gradient is half the right one: d(y - t)^2/dy = 2 (y - t)": lambda: _chain_rule_gradients(
                factor_two=False
            ),
            "two slips at once: the factor 2 of the square and the tanh derivative are both missing":
            lambda: _chain_rule_gradients(tanh_derivative=False, factor_two=False),
        },
        rtol=0.0,
        atol=FOUR_DECIMALS,
        what="gradient",
    ),
    hints=[
        "Forward first: z = w1*x + b1, h = tanh(z), y = w2*h + b2. Keep z, h and y.",
        "Backward from the loss: dL/dy = 2 (y - t); dL/dw2 = dL/dy * h; dL/db2 = dL/dy; dL/dh = dL/dy * w2.",
        "Through tanh: dL/dz = dL/dh * (1 - h^2); then dL/dw1 = dL/dz * x and dL/db1 = dL/dz.",
    ],
    reference=_chain_rule_gradients,
    solution_text=(
        "z = w1 x + b1, h = tanh z, y = w2 h + b2;  dL/dy = 2(y - t);  dL/dw2 = dL/dy h;  dL/db2 = dL/dy;\n"
        "dL/dz = dL/dy w2 (1 - h^2);  dL/dw1 = dL/dz x;  dL/db1 = dL/dz  ->  "
        f"{np.round(_chain_rule_gradients(), 4)}"
    ),
)


# -- 3. two Adam steps by hand ------------------------------------------------------------------------

ADAM_START = 1.0
ADAM_GRADIENTS = (4.0, -1.0)
ADAM_LR = 0.1
ADAM_BETAS = (0.9, 0.999)


def _adam_weight(bias_correction: bool = True) -> float:
    """The weight after one Adam step per gradient in ``ADAM_GRADIENTS`` (eps = 1e-8)."""
    if bias_correction:
        weight = nn_numpy.Parameter(np.array([ADAM_START]))
        optimizer = nn_numpy.Adam([weight], lr=ADAM_LR, betas=ADAM_BETAS, eps=1e-8)
        for gradient in ADAM_GRADIENTS:
            weight.grad = np.array([gradient])
            optimizer.step()
        return float(weight.data[0])
    # The slip: the moment estimates used as they are, still biased towards their zero start.
    beta1, beta2 = ADAM_BETAS
    w, m, v = ADAM_START, 0.0, 0.0
    for g in ADAM_GRADIENTS:
        m, v = beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g * g
        w -= ADAM_LR * m / (np.sqrt(v) + 1e-8)
    return float(w)


def _plain_sgd_weight() -> float:
    return ADAM_START - ADAM_LR * sum(ADAM_GRADIENTS)


adam_two_steps = Exercise(
    key="ch02.adam_two_steps",
    prompt=(
        f"A single weight starts at w = {ADAM_START}. Adam (lr={ADAM_LR}, betas={ADAM_BETAS}, eps=1e-8, m and v\n"
        f"starting at 0) takes two steps, the first with gradient {ADAM_GRADIENTS[0]}, the second with "
        f"{ADAM_GRADIENTS[1]}.\nWhat is w after the second step? Give a float to 4 decimal places (or more)."
    ),
    checker=close_to_or_known_mistake(
        _adam_weight,
        {
            "that skips the bias correction: divide m by (1 - beta1^t) and v by (1 - beta2^t) before the step":
            lambda: _adam_weight(bias_correction=False),
            "that is plain gradient descent, w - lr * (g1 + g2); Adam divides by the running RMS of the gradient":
            _plain_sgd_weight,
            "that is w after the first step (always lr away from the start); now take the second one":
            lambda: ADAM_START - ADAM_LR * np.sign(ADAM_GRADIENTS[0]),
        },
        rtol=0.0,
        atol=FOUR_DECIMALS,
        what="weight",
    ),
    hints=[
        "Step t: m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2,  "
        "then m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t).",
        "The update is w = w - lr * m_hat / (sqrt(v_hat) + eps). At t = 1, m_hat = g and v_hat = g^2: the step is lr.",
        "After step 1: w = 0.9, m = 0.4, v = 0.016. Step 2 uses t = 2 in the bias corrections.",
    ],
    reference=_adam_weight,
    solution_text=(
        "t=1: m=0.4, v=0.016, m_hat=4, v_hat=16, w = 1 - 0.1*4/4 = 0.9\n"
        "t=2: m=0.26, v=0.016984, m_hat=0.26/0.19=1.3684, v_hat=0.016984/0.001999=8.4962, "
        f"w = 0.9 - 0.1*1.3684/2.9148 = {_adam_weight():.6f}"
    ),
)


# -- 4. the L2 penalty --------------------------------------------------------------------------------

L2_STRENGTH = 0.1
L2_WEIGHTS = (np.array([[0.5, -1.0], [2.0, 0.0]]), np.array([[1.5, -0.5]]))


def _l2_penalty() -> float:
    return nn_numpy.L2Penalty(L2_STRENGTH)([nn_numpy.Parameter(w) for w in L2_WEIGHTS])


l2_penalty = Exercise(
    key="ch02.l2_penalty",
    prompt=(
        f"A network has two weight matrices (ch02.L2_WEIGHTS):\n  W1 = {L2_WEIGHTS[0].tolist()}\n"
        f"  W2 = {L2_WEIGHTS[1].tolist()}\n"
        f"What does the L2 penalty (lambda / 2) * sum(w^2) add to the loss, with lambda = {L2_STRENGTH}?\n"
        "Give a float to 4 decimal places (or more)."
    ),
    checker=close_to_or_known_mistake(
        _l2_penalty,
        {
            "that is lambda * sum(w^2); the convention here is (lambda / 2) * sum(w^2), whose gradient is lambda * w":
            lambda: 2 * _l2_penalty(),
            "that is the L1 penalty lambda * sum(|w|); L2 squares the weights": lambda: L2_STRENGTH
            * sum(np.abs(w).sum() for w in L2_WEIGHTS),
            "that is sum(w^2) without the strength lambda / 2": lambda: sum((w * w).sum() for w in L2_WEIGHTS),
            "that is lambda/2 times the Euclidean norm; L2 regularization uses the *squared* norm": lambda: 0.5
            * L2_STRENGTH * np.sqrt(sum((w * w).sum() for w in L2_WEIGHTS)),
        },
        rtol=0.0,
        atol=FOUR_DECIMALS,
        what="penalty",
    ),
    hints=[
        "Square every entry of both matrices and add them all up.",
        "Only weights enter the penalty here (there are no biases in the question); "
        "the factor is lambda / 2, not lambda.",
    ],
    reference=_l2_penalty,
    solution_text=f"(0.1 / 2) * (0.25 + 1 + 4 + 0 + 2.25 + 0.25) = 0.05 * 7.75 = {_l2_penalty():.4f}",
)


# -- 5. FLOPs of one training step ---------------------------------------------------------------------

FLOPS_SIZES = (784, 256, 128, 10)
FLOPS_BATCH = 128


def _training_flops() -> int:
    # Forward: each weight does one multiply-add (2 FLOPs) per sample. Backward: two matmuls per
    # layer (dL/dW and dL/dx; nn_numpy's Linear computes dL/dx for the first layer too) -> 2x forward.
    return 6 * FLOPS_BATCH * _weight_products(FLOPS_SIZES)


training_flops = Exercise(
    key="ch02.training_flops",
    prompt=(
        f"The MLP of exercise 1, sizes = {FLOPS_SIZES}, takes one training step on a batch of {FLOPS_BATCH} samples.\n"
        "Count the floating-point operations of its matrix multiplications only, forward + backward, in the\n"
        "course's convention: a multiply-add is 2 FLOPs, and backward computes dL/dW and dL/dx for every\n"
        "Linear layer (as nn_numpy does). Ignore biases, activations, the loss and the optimizer.\n"
        "Answer as an exact int."
    ),
    checker=close_to_or_known_mistake(
        _training_flops,
        {
            "that is the forward pass alone; backward costs two more matmuls of the same size per layer":
            lambda: 2 * FLOPS_BATCH * _weight_products(FLOPS_SIZES),
            "that counts multiply-adds; a multiply-add is 2 FLOPs": lambda: 3 * FLOPS_BATCH * _weight_products(
                FLOPS_SIZES
            ),
            "that is for one sample; multiply by the batch size": lambda: 6 * _weight_products(FLOPS_SIZES),
            "that counts the biases as matmul weights; leave them out": lambda: 6 * FLOPS_BATCH * nn_numpy.MLP(
                FLOPS_SIZES
            ).num_parameters(),
        },
        rtol=0.0,
        atol=0.5,
        what="FLOP count",
    ),
    hints=[
        "Forward through Linear(n_in, n_out) on B samples: B * n_in * n_out multiply-adds = 2 B n_in n_out FLOPs.",
        "Backward does two matmuls of the same size per layer (g^T x for dL/dW, g W for dL/dx): twice the forward.",
        "So forward + backward = 3 x forward = 6 * B * (sum over layers of n_in * n_out).",
    ],
    reference=_training_flops,
    solution_text=(
        f"forward + backward = 3 x forward = 6 * {FLOPS_BATCH} * (784*256 + 256*128 + 128*10)"
        f" = 6 * {FLOPS_BATCH} * {_weight_products(FLOPS_SIZES):,} = {_training_flops():,}"
    ),
)
