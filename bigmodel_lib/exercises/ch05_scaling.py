"""Chapter 05 exercises on scaling laws (notebook 5.1): a run's FLOPs, a law's prediction, the optimum.

::

    from bigmodel_lib.exercises import ch05_scaling
    print(ch05_scaling.run_flops.prompt)
    ch05_scaling.run_flops.check(my_answer)

Each prompt states the precision it wants and the checker accepts exactly that. The reference answers come
from :mod:`bigmodel_lib.scale` (``six_n_d``, ``CHINCHILLA_APPROACH_3``), so the exercises and the chapter agree
by construction. A slip is named only when its value differs from the right answer by more than the tolerance.
"""

from __future__ import annotations

from typing import Any

from bigmodel_lib.exercises.core import Exercise, Verdict, close_to_or_known_mistake, on_success
from bigmodel_lib.scale import CHINCHILLA_APPROACH_3, CHINCHILLA_TOKENS_PER_PARAMETER, six_n_d

__all__ = ["ALLOCATIONS", "FLOPS_RUN", "LOSS_POINT", "better_allocation", "optimal_tokens", "predicted_loss",
           "run_flops"]

#: Relative tolerance of an answer asked "to 3 significant figures" (rounding moves it by at most 0.5 %).
THREE_FIGURES = 5e-3
#: Relative tolerance of an answer asked "to 2 significant figures" (at most 5 %).
TWO_FIGURES = 5e-2

# -- 1. the FLOPs of one training run ----------------------------------------------------------------------

#: A run: non-embedding parameters, AdamW steps, windows per step, tokens per window.
FLOPS_RUN = {"n_params": 1_200_000, "steps": 2_500, "batch_size": 64, "block_size": 128}


def _run_tokens(per_step: bool = True) -> float:
    r = FLOPS_RUN
    return r["steps"] * (r["batch_size"] * r["block_size"] if per_step else 1)


def _run_flops(flops_per_parameter: float = 6.0, per_step: bool = True) -> float:
    return six_n_d(FLOPS_RUN["n_params"], _run_tokens(per_step)) * flops_per_parameter / 6.0


run_flops = Exercise(
    key="ch05_scaling.run_flops",
    prompt=(
        "A GPT with 1,200,000 non-embedding parameters is trained for 2,500 steps; each step reads 64 windows of\n"
        "128 tokens. With C = 6 N D (forward + backward, attention and embeddings left out), how many training\n"
        "FLOPs is that? Answer to 3 significant figures, e.g. 1.23e15. (ch05_scaling.FLOPS_RUN holds the numbers.)"
    ),
    checker=close_to_or_known_mistake(
        _run_flops,
        {
            "2 N D is the forward pass only; training (forward + backward) costs 6 N D": lambda: _run_flops(2.0),
            "D is the number of tokens, steps x windows per step x tokens per window, not the number of steps":
                lambda: _run_flops(per_step=False),
        },
        rtol=THREE_FIGURES,
        atol=0.0,
        what="training FLOPs (to 3 significant figures)",
    ),
    hints=[
        "D = steps x batch_size x block_size.",
        "C = 6 x N x D.",
    ],
    reference=_run_flops,
    solution_text=f"D = 2500 x 64 x 128 = {_run_tokens():,.0f} tokens; C = 6 N D = {_run_flops():.4g} FLOPs",
)

# -- 2. the loss a law predicts ----------------------------------------------------------------------------

#: A model and a run to evaluate Chinchilla's approach-3 law at.
LOSS_POINT = {"n_params": 7e9, "tokens": 2e12}


def _predicted_loss(with_e: bool = True, swap: bool = False) -> float:
    n, d = LOSS_POINT["n_params"], LOSS_POINT["tokens"]
    if swap:
        n, d = d, n
    loss = CHINCHILLA_APPROACH_3.loss(n, d)
    return loss if with_e else loss - CHINCHILLA_APPROACH_3.E


predicted_loss = Exercise(
    key="ch05_scaling.predicted_loss",
    prompt=(
        "Chinchilla's approach-3 law (Hoffmann et al. 2022) is L(N, D) = E + A / N^alpha + B / D^beta with\n"
        "E = 1.69, A = 406.4, B = 410.7, alpha = 0.34, beta = 0.28 (bigmodel_lib.scale.CHINCHILLA_APPROACH_3).\n"
        "What loss does it predict for 7e9 parameters trained on 2e12 tokens? Answer in nats to 3 decimal places."
    ),
    checker=close_to_or_known_mistake(
        _predicted_loss,
        {
            "the irreducible term E = 1.69 is missing": lambda: _predicted_loss(with_e=False),
            "A / N^alpha goes with the parameters and B / D^beta with the tokens, not the other way round":
                lambda: _predicted_loss(swap=True),
        },
        rtol=0.0,
        atol=5.01e-4,  # rounded to 3 decimals: off by at most 0.0005
        what="predicted loss (to 3 decimals)",
    ),
    hints=[
        "7e9 ** 0.34 is about 2.2e3; 2e12 ** 0.28 is about 2.8e3.",
        "Add the three terms: E, A / N^alpha and B / D^beta.",
    ],
    reference=_predicted_loss,
    solution_text=f"1.69 + 406.4 / 7e9^0.34 + 410.7 / 2e12^0.28 = {_predicted_loss():.4f} nats",
)

# -- 3. the compute-optimal number of tokens for a model size ----------------------------------------------

OPTIMAL_N = 1e9


def _optimal_tokens() -> float:
    """``D`` at which ``N`` is compute-optimal: ``alpha A / N^alpha = beta B / D^beta`` solved for ``D``."""
    law = CHINCHILLA_APPROACH_3
    return (law.beta * law.B * OPTIMAL_N**law.alpha / (law.alpha * law.A)) ** (1.0 / law.beta)


optimal_tokens = Exercise(
    key="ch05_scaling.optimal_tokens",
    prompt=(
        "Under the same approach-3 law, a model of 1e9 parameters is compute-optimal for exactly one budget\n"
        "C = 6 N D. How many training tokens D is that? (At the optimum, alpha A / N^alpha = beta B / D^beta.)\n"
        "Answer to 2 significant figures, e.g. 1.2e10."
    ),
    checker=close_to_or_known_mistake(
        _optimal_tokens,
        {
            "that is the rule of thumb D = 20 N (approach 1's ratio); the question asks what the approach-3 law "
            "itself says, which is more tokens per parameter at this size":
                lambda: CHINCHILLA_TOKENS_PER_PARAMETER * OPTIMAL_N,
        },
        rtol=TWO_FIGURES,
        atol=0.0,
        what="compute-optimal tokens (to 2 significant figures)",
    ),
    hints=[
        "Solve beta B / D^beta = alpha A / N^alpha for D: D = (beta B N^alpha / (alpha A))^(1/beta).",
        "Check: compute_optimal_allocation(6 * 1e9 * D, CHINCHILLA_APPROACH_3) gives back N = 1e9.",
    ],
    reference=_optimal_tokens,
    solution_text=(
        f"D = (0.28 x 410.7 x 1e9^0.34 / (0.34 x 406.4))^(1/0.28) = {_optimal_tokens():.3g} tokens, "
        f"{_optimal_tokens() / OPTIMAL_N:.0f} per parameter"
    ),
)

# -- 4. which of two allocations of one budget is better ---------------------------------------------------

#: One budget, two ways to spend it (N parameters; D = C / (6 N) tokens).
ALLOCATIONS = {"flops": 1e21, "a": 5e8, "b": 5e9}


def _allocation_losses() -> dict[str, float]:
    c = ALLOCATIONS["flops"]
    return {key: CHINCHILLA_APPROACH_3.loss(ALLOCATIONS[key], c / (6 * ALLOCATIONS[key])) for key in ("a", "b")}


def _better() -> str:
    losses = _allocation_losses()
    return min(losses, key=losses.get)


def _check_allocation(answer: Any) -> Verdict:
    if not isinstance(answer, str) or answer.strip().lower() not in ("a", "b"):
        return False, "answer with the string 'a' or 'b'"
    losses = _allocation_losses()
    if answer.strip().lower() == _better():
        return True, ""
    return False, (f"under this law that allocation ends higher; compare L(N, C / (6 N)) for both "
                   f"(the difference is {abs(losses['a'] - losses['b']):.3f} nats)")


better_allocation = Exercise(
    key="ch05_scaling.better_allocation",
    prompt=(
        "A budget of 1e21 training FLOPs (C = 6 N D). Allocation 'a': 5e8 parameters on C / (6 N) tokens;\n"
        "allocation 'b': 5e9 parameters on C / (6 N) tokens. Which one does Chinchilla's approach-3 law\n"
        "predict to end at the lower loss? Answer 'a' or 'b'."
    ),
    checker=on_success(
        _check_allocation,
        lambda: (f"checked against the law: 'a' ends at {_allocation_losses()['a']:.3f} nats, "
                 f"'b' at {_allocation_losses()['b']:.3f}"),
    ),
    hints=[
        "Work out D for each: D = 1e21 / (6 N).",
        "Or find the optimum with compute_optimal_allocation(1e21, CHINCHILLA_APPROACH_3) and see which N is "
        "nearer to it on a log scale -- then check with the law itself, the curve is not symmetric.",
    ],
    reference=_better,
    solution_text="the law's loss at each allocation; the lower one wins",
)
