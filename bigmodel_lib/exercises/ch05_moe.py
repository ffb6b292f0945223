"""Chapter 05 exercises on mixtures of experts (notebook 05.5): total against active parameters, the balancing
loss of a routing, the capacity and the dropped tokens, and the training FLOPs per token.

::

    from bigmodel_lib.exercises import ch05_moe
    print(ch05_moe.active_parameters.prompt)
    ch05_moe.active_parameters.check(my_answer)

Every prompt states the precision wanted, the checker accepts an answer rounded that way, and a slip is named
only when its value lies outside that tolerance of the right answer.
"""

from __future__ import annotations

import math

import numpy as np

from bigmodel_lib.contracts.moe import expert_capacity, moe_parameter_counts
from bigmodel_lib.exercises.core import Exercise, close_to_or_known_mistake, on_success
from bigmodel_lib.scale import ModelShape

__all__ = [
    "CAPACITY_CASE",
    "EXERCISE_MOE",
    "ROUTER_PROBS",
    "active_parameters",
    "balancing_loss",
    "capacity_and_drops",
    "training_flops_per_token",
]

# -- 1. total and active parameters -------------------------------------------------------------------------

#: A GPT-2-style model (GELU MLP 4d wide, biases, LayerNorm, learned positions, tied embeddings) whose every
#: MLP is replaced by ``num_experts`` copies of it, ``top_k`` used per token, with a router d -> E (no bias).
EXERCISE_MOE = {"vocab_size": 32000, "n_layer": 8, "d_model": 512, "n_head": 8, "context": 1024,
                "num_experts": 8, "top_k": 2}


def _shape() -> ModelShape:
    m = EXERCISE_MOE
    return ModelShape(vocab_size=m["vocab_size"], n_layer=m["n_layer"], d_model=m["d_model"], n_head=m["n_head"],
                      context=m["context"])


def _counts(num_experts: int | None = None, top_k: int | None = None) -> dict[str, float]:
    m = EXERCISE_MOE
    return moe_parameter_counts(_shape(), num_experts or m["num_experts"], top_k or m["top_k"])


def _total_active(router: bool = True, active_top_k: int | None = None) -> tuple[int, int]:
    m = EXERCISE_MOE
    total, active = _counts()["total"], _counts(top_k=active_top_k)["active"]
    if not router:
        router_params = m["n_layer"] * m["d_model"] * m["num_experts"]
        total, active = total - router_params, active - router_params
    return int(total), int(active)


active_parameters = Exercise(
    key="ch05_moe.active_parameters",
    prompt=(
        "A GPT-2-style model: vocabulary 32000, 8 layers, d_model 512, 8 heads, context 1024 (learned positions),\n"
        "GELU MLP of width 4 d_model, biases in every Linear and LayerNorm, output layer tied to the token table.\n"
        "Every MLP becomes a mixture of 8 such MLPs (the experts), top-2 routing, with a router Linear\n"
        "d_model -> 8 without bias in each layer. Give (total parameters, active parameters per token) as a\n"
        "tuple of two exact ints. (ch05_moe.EXERCISE_MOE holds the numbers; bigmodel_lib.scale.ModelShape\n"
        "counts the dense model.)"
    ),
    checker=on_success(
        close_to_or_known_mistake(
            lambda: _total_active(),
            {
                "the router is missing: each layer has a d_model x 8 router matrix, used by every token":
                    lambda: _total_active(router=False),
                "the active count uses one expert; top-2 routing runs two experts per token":
                    lambda: _total_active(active_top_k=1),
                "the active count includes all 8 experts; a token runs only its top 2":
                    lambda: _total_active(active_top_k=8),
            },
            rtol=0.0,
            atol=0.5,  # exact integers
            what="(total, active) pair",
        ),
        lambda: f"both counts are exact: {_total_active()[0]:,} in all, {_total_active()[1]:,} used per token",
    ),
    hints=["Start from the dense model: ModelShape(...).num_parameters(), and its per-layer MLP from "
           "layer_parameters()['mlp'].",
           "Total: dense + n_layer x (7 more MLPs + the router). Active: dense + n_layer x (1 more MLP + the router)."],
    reference=lambda: _total_active(),
    solution_text="moe_parameter_counts(shape, 8, 2) from bigmodel_lib.contracts.moe gives both",
)

# -- 2. the balancing loss of a routing ------------------------------------------------------------------------

#: Router probabilities (softmax over 4 experts) of 8 tokens; top-1 routing sends each to its largest one.
ROUTER_PROBS = np.array([
    [0.67, 0.22, 0.10, 0.01],
    [0.15, 0.46, 0.28, 0.11],
    [0.24, 0.34, 0.16, 0.26],
    [0.14, 0.67, 0.13, 0.06],
    [0.43, 0.23, 0.07, 0.27],
    [0.11, 0.18, 0.51, 0.20],
    [0.18, 0.36, 0.18, 0.28],
    [0.09, 0.05, 0.30, 0.56],
])

AUX_DECIMALS = 3


def _aux(times_e: bool = True, fractions: bool = True, chosen_only: bool = False) -> float:
    probs = ROUTER_PROBS
    n, e = probs.shape
    counts = np.bincount(probs.argmax(axis=1), minlength=e)
    f = counts / n if fractions else counts
    if chosen_only:  # P_i from the probabilities of the tokens routed to i only
        p = np.array([probs[probs.argmax(1) == i, i].mean() if counts[i] else 0.0 for i in range(e)])
    else:
        p = probs.mean(axis=0)
    return float((e if times_e else 1) * np.sum(f * p))


balancing_loss = Exercise(
    key="ch05_moe.balancing_loss",
    prompt=(
        "ch05_moe.ROUTER_PROBS holds the router probabilities of 8 tokens over 4 experts (each row a softmax).\n"
        "With top-1 routing (each token to its most probable expert), what is the Switch Transformer balancing\n"
        "loss aux = E * sum_i f_i P_i? Give it to 3 decimal places."
    ),
    checker=on_success(
        close_to_or_known_mistake(
            _aux,
            {
                "the factor E = 4 is missing (with it, uniform routing gives exactly 1)": lambda: _aux(times_e=False),
                "f_i is the FRACTION of tokens routed to expert i (counts / 8), not the count":
                    lambda: _aux(fractions=False),
                "P_i is the mean probability of expert i over ALL tokens, not only those routed to it":
                    lambda: _aux(chosen_only=True),
            },
            rtol=0.0,
            atol=0.5 * 10**-AUX_DECIMALS + 1e-9,
            what="balancing loss (to 3 decimal places)",
        ),
        lambda: f"aux = {_aux():.4f}, to within half a unit of the 3rd decimal",
    ),
    hints=["f = np.bincount(ROUTER_PROBS.argmax(1), minlength=4) / 8;  P = ROUTER_PROBS.mean(0).",
           "aux = 4 * sum(f * P); compare it with 1, its value under perfectly uniform routing."],
    reference=lambda: round(_aux(), AUX_DECIMALS),
    solution_text="f = bincount(argmax) / N, P = mean over tokens, aux = E * sum(f * P)",
)

# -- 3. capacity and dropped tokens -----------------------------------------------------------------------------

#: The expert each of 12 tokens is routed to (top-1), in token order, with 3 experts and a capacity factor.
CAPACITY_CASE = {"routes": [0, 0, 1, 0, 2, 0, 0, 1, 0, 2, 1, 0], "num_experts": 3, "top_k": 1,
                 "capacity_factor": 1.4}


def _capacity_drops(factor: float | None = None, ceil: bool = True) -> tuple[int, int]:
    c = CAPACITY_CASE
    n = len(c["routes"])
    factor = c["capacity_factor"] if factor is None else factor
    capacity = expert_capacity(n, c["num_experts"], c["top_k"], factor) if ceil else \
        math.floor(factor * n * c["top_k"] / c["num_experts"])
    counts = np.bincount(c["routes"], minlength=c["num_experts"])
    return capacity, int(np.maximum(counts - capacity, 0).sum())


capacity_and_drops = Exercise(
    key="ch05_moe.capacity_and_drops",
    prompt=(
        "12 tokens are routed top-1 to 3 experts, in token order: ch05_moe.CAPACITY_CASE['routes'].\n"
        "With capacity_factor 1.4, what is each expert's capacity C (in tokens), and how many tokens are dropped\n"
        "(get nothing from the layer)? Give (C, dropped) as a tuple of two exact ints."
    ),
    checker=on_success(
        close_to_or_known_mistake(
            _capacity_drops,
            {
                "the capacity factor is missing: C = ceil(1.4 x 12 x 1 / 3)": lambda: _capacity_drops(factor=1.0),
                "the capacity is rounded UP (ceil): a fraction of a slot becomes a whole one":
                    lambda: _capacity_drops(ceil=False),
            },
            rtol=0.0,
            atol=0.5,
            what="(capacity, dropped) pair",
        ),
        lambda: "C = ceil(capacity_factor x tokens x top_k / E), and every token past C at an expert is dropped: "
                f"{_capacity_drops()}",
    ),
    hints=["C = ceil(capacity_factor * tokens * top_k / num_experts).",
           "Count the tokens per expert; an expert with n > C tokens drops n - C of them."],
    reference=_capacity_drops,
    solution_text="bigmodel_lib.contracts.moe.expert_capacity(12, 3, 1, 1.4), then sum(max(count - C, 0))",
)

# -- 4. training FLOPs per token ---------------------------------------------------------------------------------

FLOPS_RTOL = 5e-3  # 3 significant figures: half a unit of the 3rd digit is at most 0.5 % of the value


def _flops(use_total: bool = False, attention: bool = True, passes: int = 3) -> float:
    m, shape = EXERCISE_MOE, _shape()
    counts = _counts()
    active_matmul = counts["forward_flops_per_token"] / 2 - 2 * m["n_layer"] * m["context"] * m["d_model"]
    n = active_matmul + (counts["total"] - counts["active"] if use_total else 0)
    attention_term = 4 * m["n_layer"] * m["context"] * shape.attention_width if attention else 0
    return float(passes * (2 * n + attention_term))


training_flops_per_token = Exercise(
    key="ch05_moe.training_flops_per_token",
    prompt=(
        "For the model of ch05_moe.active_parameters (8 experts, top-2, context 1024), how many FLOPs does\n"
        "training (forward + backward) cost per token? Use the course's convention 3 x (2 N + 4 n_layer n_ctx d),\n"
        "N the parameters that enter a matrix product for this token (the output layer counts; the token and\n"
        "position tables are lookups). Give it to 3 significant figures."
    ),
    checker=on_success(
        close_to_or_known_mistake(
            _flops,
            {
                "that counts all 8 experts; a token multiplies only by its top 2 (and the router)":
                    lambda: _flops(use_total=True),
                "the attention term 4 n_layer n_ctx d (times 3) is missing": lambda: _flops(attention=False),
                "that is the forward pass only; forward + backward is 3 times it": lambda: _flops(passes=1),
            },
            rtol=FLOPS_RTOL,
            atol=0.0,
            what="training FLOPs per token (3 significant figures)",
        ),
        lambda: f"{_flops():.4g} FLOPs per token, to within {FLOPS_RTOL:.1%} (3 significant figures)",
    ),
    hints=["N = active parameters - token table - position table + output layer (tied: the token table again).",
           "Equivalently ModelShape(...).matmul_parameters() + n_layer x (1 more MLP + router)."],
    reference=_flops,
    solution_text="moe_parameter_counts(shape, 8, 2)['training_flops_per_token']",
)
