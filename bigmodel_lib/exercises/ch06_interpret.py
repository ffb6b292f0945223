"""Chapter 06 exercises on explaining a model's output (notebook 6.6): attention rollout through two layers,
gradient x input of a small non-linear score, and occlusion of a position-wise score.

::

    from bigmodel_lib.exercises import ch06_interpret
    print(ch06_interpret.rollout_two_layers.prompt)
    ch06_interpret.rollout_two_layers.check(my_answer)

Every prompt states the precision wanted, the checker accepts an answer rounded that way, and a slip is named
only when its value lies outside that tolerance of the right answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from bigmodel_lib.exercises.core import Exercise, Verdict, as_float_array, on_success

__all__ = [
    "LAYER_1",
    "LAYER_2",
    "EMBEDDINGS",
    "WEIGHT",
    "SCORE_TABLE",
    "INPUT_IDS",
    "gradient_x_input_linear",
    "occlusion_linear",
    "rollout_two_layers",
]


def _decimals_checker(expected: Callable[[], np.ndarray], decimals: int,
                      mistakes: Mapping[str, Callable[[], np.ndarray]], what: str) -> Callable[[Any], Verdict]:
    """Entries asked to ``decimals`` decimal places pass within half a unit of that place (a hair more, for
    floating point); a wrong answer matching a slip that way is named."""
    tolerance = 0.5 * 10.0 ** -decimals * (1 + 1e-9)

    def checker(answer: Any) -> Verdict:
        target = np.asarray(expected(), dtype=np.float64)
        got = as_float_array(answer)
        if got.size != target.size:
            return False, f"the {what} should hold {target.size} numbers, got {got.size}"
        got = got.reshape(target.shape)
        if np.all(np.abs(got - target) <= tolerance):
            return True, f"the {what} is right"
        for explanation, slip in mistakes.items():
            wrong = np.asarray(slip(), dtype=np.float64)
            if np.any(np.abs(wrong - target) > tolerance) and np.all(np.abs(got - wrong) <= tolerance):
                return False, explanation
        return False, f"the {what} is off by up to {float(np.max(np.abs(got - target))):.3g}"

    return checker


# -- 1. attention rollout through two layers ----------------------------------------------------------------------

#: Self-attention weights of two layers over two tokens (rows: queries, each a distribution over the keys).
LAYER_1 = np.array([[0.9, 0.1], [0.6, 0.4]])
LAYER_2 = np.array([[0.2, 0.8], [0.3, 0.7]])


def _rollout(order: str = "later_left", residual: float = 0.5) -> np.ndarray:
    first = residual * np.eye(2) + (1 - residual) * LAYER_1
    second = residual * np.eye(2) + (1 - residual) * LAYER_2
    return second @ first if order == "later_left" else first @ second


rollout_two_layers = Exercise(
    key="ch06_interpret.rollout_two_layers",
    prompt=(
        "Two self-attention layers over two tokens have the weights ch06_interpret.LAYER_1 (first layer) and\n"
        "ch06_interpret.LAYER_2 (second layer). Attention rollout counts the residual connection with weight 0.5:\n"
        "A' = 0.5 I + 0.5 A for each layer, then composes the layers. Give the 2 x 2 rollout matrix (row i: how much\n"
        "of token i's output traces back to each input token), every entry to 3 decimal places."
    ),
    checker=on_success(
        _decimals_checker(
            _rollout, 3,
            {
                "the layers are composed in the wrong order: the later layer acts last, R = A'_2 A'_1":
                    lambda: _rollout(order="later_right"),
                "the residual connection is missing: use A' = 0.5 I + 0.5 A, not A itself":
                    lambda: _rollout(residual=0.0),
            },
            what="rollout matrix",
        ),
        lambda: f"R = (0.5 I + 0.5 A_2)(0.5 I + 0.5 A_1) = {np.round(_rollout(), 4).tolist()} (each entry checked "
                "to 3 decimal places); every row sums to 1",
    ),
    hints=["Mix in the identity first: A'_1 = 0.5 I + 0.5 LAYER_1, and the same for layer 2.",
           "The second layer reads the first layer's output, so its matrix multiplies from the left."],
    reference=lambda: np.round(_rollout(), 3).tolist(),
    solution_text="attention_rollout([LAYER_1, LAYER_2]) from bigmodel_lib.interpret",
)

# -- 2. gradient x input of a squared score -------------------------------------------------------------------------

#: Embeddings of three input tokens (rows) and the weight vector of the score f = (w . (e_1 + e_2 + e_3))^2.
EMBEDDINGS = np.array([[1.0, -0.5], [0.25, 2.0], [-1.5, 0.5]])
WEIGHT = np.array([0.8, 0.3])


def _grad_x_input(chain: bool = True, times_input: bool = True) -> np.ndarray:
    u = float(WEIGHT @ EMBEDDINGS.sum(axis=0))
    outer = 2 * u if chain else 1.0
    if times_input:
        return outer * (EMBEDDINGS @ WEIGHT)  # sum_j df/de_ij e_ij = 2u (w . e_i)
    return np.full(3, outer * float(np.linalg.norm(WEIGHT)))  # the size of the gradient, the same for every token


gradient_x_input_linear = Exercise(
    key="ch06_interpret.gradient_x_input_linear",
    prompt=(
        "A score of three input tokens with embeddings e_1, e_2, e_3 (the rows of ch06_interpret.EMBEDDINGS) is\n"
        "f = (w . (e_1 + e_2 + e_3))^2 with w = ch06_interpret.WEIGHT. Give the gradient x input attribution of each\n"
        "token, a_i = sum_j (df / de_ij) e_ij, as three numbers (tokens 1, 2, 3), each to 3 decimal places."
    ),
    checker=on_success(
        _decimals_checker(
            _grad_x_input, 3,
            {
                "the chain rule: df/de_i = 2 (w . sum e) w, the factor 2 (w . sum e) is missing":
                    lambda: _grad_x_input(chain=False),
                "that is the size of the gradient (saliency), the same for every token; multiply the gradient by "
                "the input and sum": lambda: _grad_x_input(times_input=False),
            },
            what="attributions",
        ),
        lambda: f"a = {np.round(_grad_x_input(), 4).tolist()} (each checked to 3 decimal places); they sum to "
                f"2 f = {2 * float(WEIGHT @ EMBEDDINGS.sum(0)) ** 2:.4f}: for f = u^2, gradient x input counts u twice",
    ),
    hints=["Let u = w . (e_1 + e_2 + e_3); then df/de_i = 2 u w for every token.",
           "a_i = 2 u (w . e_i): compute w . e_i for each row."],
    reference=lambda: np.round(_grad_x_input(), 3).tolist(),
    solution_text="u = WEIGHT @ EMBEDDINGS.sum(axis=0); 2 * u * (EMBEDDINGS @ WEIGHT)",
)

# -- 3. occlusion of a position-wise score ---------------------------------------------------------------------------

#: f(x) = sum_i SCORE_TABLE[x_i, i]: the score token id v contributes at position i (ids 0..3, 3 positions).
SCORE_TABLE = np.array([[0.1, -0.4, 1.2], [0.7, 0.3, -0.2], [-0.5, 2.0, 0.4], [0.9, -1.1, 0.0]])
#: The input whose positions are occluded.
INPUT_IDS = (3, 2, 0)


def _occlusion(include_self: bool = False, sign: int = 1) -> np.ndarray:
    values = []
    for position, token in enumerate(INPUT_IDS):
        others = [SCORE_TABLE[r, position] for r in range(4) if include_self or r != token]
        values.append(sign * (SCORE_TABLE[token, position] - np.mean(others)))
    return np.array(values)


occlusion_linear = Exercise(
    key="ch06_interpret.occlusion_linear",
    prompt=(
        "A model scores an input of 3 token ids (each 0..3) as f(x) = sum_i T[x_i, i] with T = ch06_interpret.\n"
        "SCORE_TABLE. For the input x = ch06_interpret.INPUT_IDS, give the occlusion attribution of each position:\n"
        "f(x) minus the mean of f over the inputs with that one position replaced by each of the other 3 ids.\n"
        "Three numbers (positions 1, 2, 3), each to 3 decimal places."
    ),
    checker=on_success(
        _decimals_checker(
            _occlusion, 3,
            {
                "the mean runs over the 3 *other* ids; keeping the original id in it shrinks every value by 1/4":
                    lambda: _occlusion(include_self=True),
                "the sign: occlusion is f(x) minus the occluded scores (positive when the token helped)":
                    lambda: _occlusion(sign=-1),
            },
            what="occlusion attributions",
        ),
        lambda: f"occlusion = {np.round(_occlusion(), 4).tolist()} (each checked to 3 decimal places); a "
                "position-wise score changes only in the occluded term, so each value is T[x_i, i] minus the mean of "
                "the other rows of column i",
    ),
    hints=["Only the occluded position's term of the sum changes; the other two cancel in the difference.",
           "Position 1 holds id 3: T[3, 0] minus the mean of T[0, 0], T[1, 0], T[2, 0]."],
    reference=lambda: np.round(_occlusion(), 3).tolist(),
    solution_text="occlusion(lambda b: T[b, torch.arange(3)].sum(1, keepdim=True), torch.tensor(INPUT_IDS), "
                  "[0, 1, 2, 3]) with T = torch.tensor(SCORE_TABLE), from bigmodel_lib.interpret",
)
