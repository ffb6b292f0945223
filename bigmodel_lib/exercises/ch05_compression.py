"""Chapter 05 exercises on pruning and distillation (notebook 05.8): the parameters that structured pruning
removes, the gradient of the temperature-scaled soft loss, and the entropy of soft targets.

::

    from bigmodel_lib.exercises import ch05_compression
    print(ch05_compression.pruned_parameters.prompt)
    ch05_compression.pruned_parameters.check(my_answer)

Every prompt states the precision wanted, the checker accepts an answer rounded that way, and a slip is named
only when its value lies outside that tolerance of the right answer.
"""

from __future__ import annotations

import numpy as np

from bigmodel_lib.exercises.core import Exercise, close_to_or_known_mistake, on_success

__all__ = [
    "PRUNE_CASE",
    "SOFT_GRADIENT_CASE",
    "ENTROPY_CASE",
    "pruned_parameters",
    "soft_gradient",
    "soft_target_entropy",
]

# -- 1. parameters removed by structured pruning ---------------------------------------------------------------

#: A GPT-2-small-sized model (biases in every Linear); in EVERY layer, ``heads`` attention heads and ``neurons``
#: feed-forward neurons are removed.
PRUNE_CASE = {"n_layer": 12, "d_model": 768, "n_head": 12, "d_ff": 3072, "heads": 4, "neurons": 1536}


def _removed(w_o: bool = True, w_2: bool = True, biases: bool = True) -> int:
    c = PRUNE_CASE
    d, dh = c["d_model"], c["d_model"] // c["n_head"]
    per_head = 3 * d * dh + (d * dh if w_o else 0) + (3 * dh if biases else 0)
    per_neuron = d + (d if w_2 else 0) + (1 if biases else 0)
    return c["n_layer"] * (c["heads"] * per_head + c["neurons"] * per_neuron)


pruned_parameters = Exercise(
    key="ch05_compression.pruned_parameters",
    prompt=(
        "A GPT with 12 layers, d_model 768, 12 heads (d_head 64), FFN width 3072, biases in every Linear\n"
        "(ch05_compression.PRUNE_CASE). Structured pruning removes 4 heads and 1536 FFN neurons in EVERY layer,\n"
        "shrinking the matrices. How many parameters are removed in all? Give an exact int."
    ),
    checker=on_success(
        close_to_or_known_mistake(
            _removed,
            {
                "a head also owns its d_head columns of the output projection W_O (d_model x d_head numbers)":
                    lambda: _removed(w_o=False),
                "a neuron also owns its column of W_2 (d_model numbers), not only its row of W_1 and its bias":
                    lambda: _removed(w_2=False),
                "the biases are missing: 3 d_head per head (Q, K, V) and 1 per neuron (W_1's bias)":
                    lambda: _removed(biases=False),
            },
            rtol=0.0,
            atol=0.5,
            what="number of parameters removed",
        ),
        lambda: f"{_removed():,} parameters removed: per layer 4 x (4 d d_head + 3 d_head) + 1536 x (2 d + 1)",
    ),
    hints=["A head h owns rows of W_Q, W_K, W_V (d_head x d_model each, with d_head biases each) and d_head "
           "columns of W_O. W_O's bias belongs to the whole layer.",
           "A neuron j owns row j of W_1 with its bias, and column j of W_2; W_2's bias stays."],
    reference=_removed,
    solution_text="12 * (4 * (4*768*64 + 3*64) + 1536 * (2*768 + 1)); compare bigmodel_lib.compression.pruning."
                  "head_parameters and neuron_parameters",
)

# -- 2. the gradient of the soft loss -------------------------------------------------------------------------------

#: One position: the student's and the teacher's logits over 5 classes, and the temperature.
SOFT_GRADIENT_CASE = {"student": [1.0, 0.5, -0.5, 2.0, 0.0], "teacher": [3.0, -1.0, 0.0, 1.5, 0.5], "temperature": 4.0}
GRADIENT_DECIMALS = 4


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def _soft_gradient(scale_power: int = 2, chain: bool = True, sign: float = 1.0) -> np.ndarray:
    c = SOFT_GRADIENT_CASE
    t = c["temperature"]
    q = _softmax(np.asarray(c["student"]) / t)
    p = _softmax(np.asarray(c["teacher"]) / t)
    return sign * t**scale_power * (q - p) / (t if chain else 1.0)


soft_gradient = Exercise(
    key="ch05_compression.soft_gradient",
    prompt=(
        "For one position, ch05_compression.SOFT_GRADIENT_CASE gives the student's logits z_s, the teacher's z_t\n"
        "(5 classes) and the temperature T = 4. The soft part of the distillation loss is\n"
        "    L_soft = T^2 * KL(softmax(z_t / T) || softmax(z_s / T)).\n"
        "What is the gradient dL_soft / dz_s (5 numbers)? Give each to 4 decimal places."
    ),
    checker=on_success(
        close_to_or_known_mistake(
            _soft_gradient,
            {
                "the factor T^2 is missing: that is the gradient of the KL alone, 16 times smaller":
                    lambda: _soft_gradient(scale_power=0),
                "the chain rule's 1/T is missing: z_s enters the softmax divided by T":
                    lambda: _soft_gradient(chain=False),
                "the sign is flipped: the gradient is (student's soft probabilities - teacher's) times T":
                    lambda: _soft_gradient(sign=-1.0),
            },
            rtol=0.0,
            atol=0.5 * 10**-GRADIENT_DECIMALS + 1e-9,
            what="gradient (to 4 decimal places)",
        ),
        lambda: "dL_soft/dz_s = T (softmax(z_s/T) - softmax(z_t/T)) = "
                f"{np.array2string(_soft_gradient(), precision=5)}, each to within half a unit of the 4th decimal",
    ),
    hints=["d KL(p || q) / d q-logits = q - p for softmax q; here the logits of q are z_s / T.",
           "Chain rule: d/dz_s = (1/T) d/d(z_s/T). Then multiply by T^2."],
    reference=lambda: np.round(_soft_gradient(), GRADIENT_DECIMALS),
    solution_text="T * (softmax(z_s / T) - softmax(z_t / T)); nn_numpy.DistillationLoss(4.0, 1.0) with backward() "
                  "gives the same for a batch of one position",
)

# -- 3. entropy of the soft targets ---------------------------------------------------------------------------------

#: The teacher's logits over 6 classes at one position, and the temperature of the soft targets.
ENTROPY_CASE = {"teacher": [4.0, 2.5, 1.0, 0.0, -1.0, -3.0], "temperature": 3.0}
ENTROPY_DECIMALS = 3


def _entropy(temperature: float | None = None, base: float = np.e, multiply: bool = False) -> float:
    c = ENTROPY_CASE
    t = c["temperature"] if temperature is None else temperature
    z = np.asarray(c["teacher"])
    p = _softmax(z * t if multiply else z / t)
    return float(-(p * np.log(p)).sum() / np.log(base))


soft_target_entropy = Exercise(
    key="ch05_compression.soft_target_entropy",
    prompt=(
        "ch05_compression.ENTROPY_CASE holds a teacher's logits over 6 classes and a temperature T = 3.\n"
        "What is the entropy of the soft targets softmax(z / T), in nats (natural log)? Give it to 3 decimal\n"
        "places. (For scale: the uniform distribution over 6 classes has log 6 = 1.792 nats.)"
    ),
    checker=on_success(
        close_to_or_known_mistake(
            _entropy,
            {
                "that is the entropy at T = 1: divide the logits by T = 3 first": lambda: _entropy(temperature=1.0),
                "that is in bits (log base 2); the question asks for nats (natural log)":
                    lambda: _entropy(base=2.0),
                "the logits were multiplied by T; softening divides them by T": lambda: _entropy(multiply=True),
            },
            rtol=0.0,
            atol=0.5 * 10**-ENTROPY_DECIMALS + 1e-9,
            what="entropy in nats (to 3 decimal places)",
        ),
        lambda: f"H = {_entropy():.4f} nats at T = 3 (against {_entropy(temperature=1.0):.4f} at T = 1), "
                "to within half a unit of the 3rd decimal",
    ),
    hints=["p = softmax(z / T); H = -sum p log p.",
           "A higher T flattens p toward uniform, so H should lie between the T = 1 entropy and log 6."],
    reference=lambda: round(_entropy(), ENTROPY_DECIMALS),
    solution_text="p = softmax(np.array(z) / 3); -(p * np.log(p)).sum()",
)
