"""Chapter 03 exercises: attention math you can check in one line.

::

    from bigmodel_lib.exercises import ch03
    print(ch03.attention_weights_by_hand.prompt)
    ch03.attention_weights_by_hand.check(my_weights)

Each checker knows the usual slips (no ``1/sqrt(d_k)``, dividing by ``d_k``, sine where a cosine
belongs, the mask's convention flipped ...) and names them when it sees one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bigmodel_lib.exercises.core import Exercise, Verdict, close_to_or_known_mistake
from bigmodel_lib.nn_numpy.functional import softmax

__all__ = [
    "ATTENTION_MEMORY_HEADS",
    "ATTENTION_MEMORY_LENGTH",
    "CAUSAL_MASK_LENGTH",
    "JACOBIAN_LOGITS",
    "MHA_D_MODEL",
    "MHA_NUM_HEADS",
    "PE_D_MODEL",
    "PE_DIMENSION",
    "PE_PAIR",
    "PE_POSITION",
    "TINY_D_K",
    "TINY_KEYS",
    "TINY_QUERY",
    "VARIANCE_D_K",
    "attention_matrix_memory",
    "attention_weights_by_hand",
    "causal_mask",
    "mha_parameter_count",
    "score_variance",
    "sinusoidal_entry",
    "softmax_jacobian",
]


# -- 1. attention weights of one query, by hand ----------------------------------------------------------

# Not the worked example of notebook 03.1 (d_k = 2, three keys): here d_k = 4, so the scale is 1/2, four
# keys, and one score is negative.
TINY_QUERY = np.array([1.0, 0.0, 2.0, 1.0])
TINY_KEYS = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [2.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, -1.0]])
TINY_D_K = TINY_QUERY.shape[-1]

#: Half a unit in the third decimal, and a hair more so that floating point cannot reject an answer rounded
#: to three decimals (an exact value of 0.1235 rounds to 0.124, off by 0.0005 up to float error).
_THREE_DECIMALS = 5e-4 * (1 + 1e-6)


def _tiny_scores() -> np.ndarray:
    return TINY_KEYS @ TINY_QUERY  # (4, 4) @ (4,) -> (4,)


attention_weights_by_hand = Exercise(
    key="ch03.attention_weights_by_hand",
    prompt=(
        "A query q = [1, 0, 2, 1] looks at four keys (d_k = 4):\n"
        "k1 = [1, 1, 0, 0], k2 = [0, 0, 1, 0], k3 = [2, 0, 1, 1], k4 = [0, 1, 0, -1].\n"
        "Compute the four attention weights softmax(q·k_j / sqrt(d_k)) as an array of shape (4,),\n"
        "to 3 decimal places. (ch03.TINY_QUERY and ch03.TINY_KEYS hold these numbers.)"
    ),
    checker=close_to_or_known_mistake(
        lambda: softmax(_tiny_scores() / math.sqrt(TINY_D_K)),
        {
            "these are softmax(q·k) without the 1/sqrt(d_k) scaling": lambda: softmax(_tiny_scores()),
            "you divided by d_k = 4; the scaling is 1/sqrt(d_k) = 1/2": lambda: softmax(_tiny_scores() / TINY_D_K),
            "you divided by sqrt(2), the scale of notebook 03.1's example; here d_k = 4, so divide by 2":
            lambda: softmax(_tiny_scores() / math.sqrt(2)),
            "these are the scaled scores q·k/sqrt(d_k); softmax turns them into weights": lambda: _tiny_scores()
            / math.sqrt(TINY_D_K),
            "these are the scores divided by their sum, not a softmax (exponentiate first; "
            "a weight can never be negative)": lambda: _tiny_scores() / _tiny_scores().sum(),
        },
        rtol=0.0,
        atol=_THREE_DECIMALS,
        what="array of attention weights",
    ),
    hints=[
        "First the scores: q·k1 = 1*1 + 0*1 + 2*0 + 1*0 = 1, then q·k2, q·k3 and q·k4.",
        "Divide every score by sqrt(4) = 2, then softmax: exp(s_j) / sum_i exp(s_i).",
        "np.exp(s) / np.exp(s).sum() with s = ch03.TINY_KEYS @ ch03.TINY_QUERY / 2.",
    ],
    reference=lambda: softmax(_tiny_scores() / math.sqrt(TINY_D_K)),
    solution_text=(
        f"scores K q = {_tiny_scores()}; s = K q / sqrt(4) = {_tiny_scores() / math.sqrt(TINY_D_K)};  "
        f"weights = exp(s) / sum(exp(s)) ~ {np.round(softmax(_tiny_scores() / math.sqrt(TINY_D_K)), 3)}"
    ),
)


# -- 2. variance of a dot product ------------------------------------------------------------------------

VARIANCE_D_K = 64

score_variance = Exercise(
    key="ch03.score_variance",
    prompt=(
        f"q and k have d_k = {VARIANCE_D_K} independent entries, each with mean 0 and variance 1.\n"
        "What is the variance of the unscaled score q·k? Give the exact number (derive it; a simulation\n"
        "only comes close)."
    ),
    checker=close_to_or_known_mistake(
        lambda: float(VARIANCE_D_K),
        {
            "that is the standard deviation of q·k; the variance is its square": lambda: math.sqrt(VARIANCE_D_K),
            "that is the variance after dividing by sqrt(d_k); the question asks about q·k itself": lambda: 1.0,
            "each product q_i k_i has variance 1 (E[q_i^2] E[k_i^2]), not 2": lambda: 2.0 * VARIANCE_D_K,
        },
        rtol=1e-9,
        atol=0.0,
        what="variance",
    ),
    hints=[
        "q·k = sum_i q_i k_i is a sum of d_k independent terms, so the variances add.",
        "Var(q_i k_i) = E[q_i^2 k_i^2] - (E[q_i k_i])^2 = E[q_i^2] E[k_i^2] - 0 = 1.",
    ],
    reference=lambda: float(VARIANCE_D_K),
    solution_text=f"Var(q·k) = sum_i Var(q_i k_i) = d_k * 1 = {VARIANCE_D_K}; dividing by sqrt(d_k) brings it to 1.",
)


# -- 3. the softmax Jacobian -----------------------------------------------------------------------------

JACOBIAN_LOGITS = np.array([1.0, 2.0, 0.0])


def _jacobian() -> np.ndarray:
    s = softmax(JACOBIAN_LOGITS)
    return np.diag(s) - np.outer(s, s)


softmax_jacobian = Exercise(
    key="ch03.softmax_jacobian",
    prompt=(
        "For the logits z = [1, 2, 0] (ch03.JACOBIAN_LOGITS), compute the Jacobian of s = softmax(z),\n"
        "the 3 x 3 matrix J[i, j] = d s_i / d z_j, to 3 decimal places."
    ),
    checker=close_to_or_known_mistake(
        _jacobian,
        {
            "the sign is flipped: it is diag(s) - s s^T": lambda: -_jacobian(),
            "that is only diag(s); the off-diagonal terms -s_i s_j are missing": lambda: np.diag(
                softmax(JACOBIAN_LOGITS)
            ),
            "that is s s^T alone; subtract it from diag(s)": lambda: np.outer(
                softmax(JACOBIAN_LOGITS), softmax(JACOBIAN_LOGITS)
            ),
        },
        rtol=0.0,
        atol=_THREE_DECIMALS,
        what="Jacobian",
    ),
    hints=[
        "d s_i / d z_j = s_i (delta_ij - s_j).",
        "In matrix form: np.diag(s) - np.outer(s, s). Each row and column sums to 0.",
    ],
    reference=_jacobian,
    solution_text="s = softmax(z);  J = np.diag(s) - np.outer(s, s)",
)


# -- 4. a causal mask ------------------------------------------------------------------------------------

CAUSAL_MASK_LENGTH = 4


def _causal_mask_checker(answer: Any) -> Verdict:
    got = np.asarray(answer.detach().cpu().numpy() if hasattr(answer, "detach") else answer)
    target = np.tril(np.ones((CAUSAL_MASK_LENGTH, CAUSAL_MASK_LENGTH), dtype=bool))
    if got.shape != target.shape:
        return False, f"the mask should have shape {target.shape}, got {got.shape}"
    if got.dtype != np.bool_:
        return False, f"the mask should be a bool array (True = may attend), got dtype {got.dtype}"
    if np.array_equal(got, target):
        return True, "the mask is right: query i may attend to keys 0..i"
    if np.array_equal(got, ~target):
        return False, "the convention is flipped: in this library True means 'may attend' (as torch SDPA)"
    if np.array_equal(got, target.T):
        return False, "this lets query i see the future keys i..L-1: rows are queries, columns keys"
    if np.array_equal(got, np.tril(target, k=-1)):
        return False, "the diagonal is missing: a token may attend to itself"
    return False, "some entries are wrong: entry [i, j] is True exactly when j <= i"


causal_mask = Exercise(
    key="ch03.causal_mask",
    prompt=(
        f"Build the causal mask for a sequence of length {CAUSAL_MASK_LENGTH}: a bool array (Lq, Lk) where\n"
        "True means 'query i may attend to key j' (the library's and torch's convention)."
    ),
    checker=_causal_mask_checker,
    hints=[
        "Query i may see keys 0, 1, ..., i and nothing after it.",
        "np.tril keeps the lower triangle (diagonal included).",
    ],
    reference=lambda: np.tril(np.ones((CAUSAL_MASK_LENGTH, CAUSAL_MASK_LENGTH), dtype=bool)),
    solution_text=f"np.tril(np.ones(({CAUSAL_MASK_LENGTH}, {CAUSAL_MASK_LENGTH}), dtype=bool))",
)


# -- 5. one entry of the sinusoidal table ----------------------------------------------------------------

# A far position, so that the usual slips land far from the right value (near position 0 every entry of
# a cosine dimension is close to 1, and a slip could not be told from a right answer).
PE_POSITION, PE_DIMENSION, PE_D_MODEL = 50, 3, 8
PE_PAIR = PE_DIMENSION // 2  # dimension 2i + 1 = 3 -> i = 1

#: Half a unit in the fourth decimal, plus a hair for floating point: an answer rounded to 4 decimals passes.
_FOUR_DECIMALS = 5e-5 * (1 + 1e-6)


def _pe_angle(position: int, exponent_numerator: float) -> float:
    return position / 10000 ** (exponent_numerator / PE_D_MODEL)


sinusoidal_entry = Exercise(
    key="ch03.sinusoidal_entry",
    prompt=(
        f"With d_model = {PE_D_MODEL}, what is the sinusoidal positional encoding PE[pos={PE_POSITION}, "
        f"dim={PE_DIMENSION}]? Give it to 4 decimal places.\n"
        "(Vaswani et al. 2017: PE[pos, 2i] = sin(pos / 10000^(2i/d_model)), "
        "PE[pos, 2i+1] = cos(pos / 10000^(2i/d_model)); angles in radians.)"
    ),
    checker=close_to_or_known_mistake(
        lambda: math.cos(_pe_angle(PE_POSITION, 2 * PE_PAIR)),
        {
            f"dimension {PE_DIMENSION} is odd, so it is a cosine, not a sine": lambda: math.sin(
                _pe_angle(PE_POSITION, 2 * PE_PAIR)
            ),
            f"the exponent uses 2i = {2 * PE_PAIR} (the pair index i = {PE_PAIR}), "
            f"not the dimension {PE_DIMENSION}": lambda: math.cos(_pe_angle(PE_POSITION, PE_DIMENSION)),
            f"2i is {2 * PE_PAIR} here (i = {PE_PAIR}), not 2 x {PE_DIMENSION}": lambda: math.cos(
                _pe_angle(PE_POSITION, 2 * PE_DIMENSION)
            ),
            "the angle is in radians; that is the cosine of the angle taken in degrees": lambda: math.cos(
                math.radians(_pe_angle(PE_POSITION, 2 * PE_PAIR))
            ),
        },
        rtol=0.0,
        atol=_FOUR_DECIMALS,
        what="encoding value",
    ),
    hints=[
        f"Dimension {PE_DIMENSION} = 2i + 1 with i = {PE_PAIR}: an odd dimension, so use the cosine.",
        f"The angle is pos / 10000^(2i/d_model) = {PE_POSITION} / 10000^({2 * PE_PAIR}/{PE_D_MODEL}), in radians.",
    ],
    reference=lambda: math.cos(_pe_angle(PE_POSITION, 2 * PE_PAIR)),
    solution_text=(
        f"i = {PE_PAIR}; angle = {PE_POSITION} / 10000^({2 * PE_PAIR}/{PE_D_MODEL}) "
        f"= {_pe_angle(PE_POSITION, 2 * PE_PAIR):.4g} rad; PE = cos(angle) ~ "
        f"{math.cos(_pe_angle(PE_POSITION, 2 * PE_PAIR)):.4f}"
    ),
)


# -- 6. parameters of multi-head attention ---------------------------------------------------------------

MHA_D_MODEL, MHA_NUM_HEADS = 512, 8


def _mha_parameters(d_model: int, bias: bool = True) -> int:
    # four d_model x d_model projections (queries, keys, values, output), each with a bias of d_model
    return 4 * (d_model * d_model + (d_model if bias else 0))


mha_parameter_count = Exercise(
    key="ch03.mha_parameter_count",
    prompt=(
        f"How many trainable parameters does MultiHeadAttention(d_model={MHA_D_MODEL}, "
        f"num_heads={MHA_NUM_HEADS}, bias=True) have?\n"
        "(Projections W_Q, W_K, W_V and the output projection W_O, each with a bias.) An exact int."
    ),
    checker=close_to_or_known_mistake(
        lambda: _mha_parameters(MHA_D_MODEL),
        {
            "that leaves out the four bias vectors (4 x d_model)": lambda: _mha_parameters(MHA_D_MODEL, bias=False),
            "that counts full d_model x d_model projections for every head; each head projects to "
            "d_model / num_heads, so the heads together use one d_model x d_model matrix per projection":
            lambda: MHA_NUM_HEADS * 3 * (MHA_D_MODEL * MHA_D_MODEL + MHA_D_MODEL)
            + MHA_D_MODEL * MHA_D_MODEL + MHA_D_MODEL,
            "that is only W_Q, W_K, W_V; the output projection W_O (with its bias) counts too": lambda: 3
            * (MHA_D_MODEL * MHA_D_MODEL + MHA_D_MODEL),
        },
        rtol=0.0,
        atol=0.5,
        what="parameter count",
    ),
    hints=[
        "Splitting into heads does not change the count: h heads of size d_model/h use d_model x d_model in total.",
        "Four projections, each d_model x d_model weights plus d_model biases.",
    ],
    reference=lambda: _mha_parameters(MHA_D_MODEL),
    solution_text=f"4 x ({MHA_D_MODEL}^2 + {MHA_D_MODEL}) = {_mha_parameters(MHA_D_MODEL):,}",
)


# -- 7. memory of the attention matrix ------------------------------------------------------------------

ATTENTION_MEMORY_LENGTH, ATTENTION_MEMORY_HEADS = 4096, 16
_MIB = 2**20


def _attention_mib(length: int, heads: int, bytes_per_value: int = 4) -> float:
    return heads * length * length * bytes_per_value / _MIB


attention_matrix_memory = Exercise(
    key="ch03.attention_matrix_memory",
    prompt=(
        f"One attention layer with {ATTENTION_MEMORY_HEADS} heads runs on one sequence of "
        f"L = {ATTENTION_MEMORY_LENGTH} tokens in float32.\n"
        "How many MiB (2^20 bytes) do its attention weights (heads, L, L) take?"
    ),
    checker=close_to_or_known_mistake(
        lambda: _attention_mib(ATTENTION_MEMORY_LENGTH, ATTENTION_MEMORY_HEADS),
        {
            "that is one head; every head has its own L x L matrix": lambda: _attention_mib(
                ATTENTION_MEMORY_LENGTH, 1
            ),
            "float32 takes 4 bytes per value, not 1": lambda: _attention_mib(
                ATTENTION_MEMORY_LENGTH, ATTENTION_MEMORY_HEADS, bytes_per_value=1
            ),
            "that is float64 (8 bytes); float32 takes 4": lambda: _attention_mib(
                ATTENTION_MEMORY_LENGTH, ATTENTION_MEMORY_HEADS, bytes_per_value=8
            ),
            "the answer is asked in MiB (divide the bytes by 2^20)": lambda: _attention_mib(
                ATTENTION_MEMORY_LENGTH, ATTENTION_MEMORY_HEADS
            )
            * _MIB,
        },
        rtol=1e-9,
        what="memory in MiB",
    ),
    hints=[
        "Count the values first: heads x L x L.",
        "Each float32 value is 4 bytes; 1 MiB = 2^20 = 1,048,576 bytes.",
    ],
    reference=lambda: _attention_mib(ATTENTION_MEMORY_LENGTH, ATTENTION_MEMORY_HEADS),
    solution_text=(
        f"{ATTENTION_MEMORY_HEADS} x {ATTENTION_MEMORY_LENGTH}^2 x 4 bytes / 2^20 = "
        f"{_attention_mib(ATTENTION_MEMORY_LENGTH, ATTENTION_MEMORY_HEADS):,.0f} MiB"
    ),
)
