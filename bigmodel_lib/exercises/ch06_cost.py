"""Chapter 06 exercises on cost and evaluation (notebook 6.8): the GPU-hours of a training budget, and the test
examples an accuracy claim needs.

::

    from bigmodel_lib.exercises import ch06_cost
    print(ch06_cost.gpu_hours.prompt)
    ch06_cost.gpu_hours.check(my_answer)

Every prompt states the precision wanted, the checker accepts an answer rounded that way, and a slip is named only
when its value lies outside that tolerance of the right answer.
"""

from __future__ import annotations

import math

from bigmodel_lib.evaluation import examples_for_margin
from bigmodel_lib.exercises.core import Exercise, close_to_or_known_mistake, half_unit, on_success
from bigmodel_lib.scale import gpu_spec, training_time_seconds

__all__ = ["BUDGET_FLOPS", "EXPECTED_ACCURACY", "HALF_WIDTH", "H100_MFU", "gpu_hours", "test_examples"]

#: The training budget of exercise 1, and the utilisation assumed.
BUDGET_FLOPS = 1e21
H100_MFU = 0.35
#: Exercise 2: the accuracy a classifier is expected to have, and the half-width wanted for its 95 % interval.
EXPECTED_ACCURACY = 0.8
HALF_WIDTH = 0.02


def _gpu_hours(mfu: float = H100_MFU) -> float:
    peak = gpu_spec("H100 SXM").bf16
    return training_time_seconds(BUDGET_FLOPS, peak_flops=peak, mfu=mfu) / 3600


gpu_hours = Exercise(
    key="ch06_cost.gpu_hours",
    prompt=(
        f"A training run has a budget of {BUDGET_FLOPS:.0e} FLOPs (forward + backward). It runs on H100 SXM GPUs,\n"
        f"whose dense bfloat16 peak is 989.5 TFLOP/s, at a model FLOPs utilisation (MFU) of {H100_MFU:.0%}. How many\n"
        "GPU-hours does it take (the same whether on one GPU or many)? Give the number to 3 significant figures."
    ),
    checker=on_success(
        close_to_or_known_mistake(
            _gpu_hours,
            {
                "that is the time at 100 % of the peak: real training reaches only the MFU's fraction of it":
                    lambda: _gpu_hours(mfu=1.0),
                "that is in GPU-seconds: divide by 3600": lambda: _gpu_hours() * 3600,
            },
            rtol=half_unit(_gpu_hours(), 3) / _gpu_hours(), what="GPU-hours",
        ),
        lambda: f"{_gpu_hours():.3g} GPU-hours: FLOPs / (peak x MFU) / 3600, checked to 3 significant figures",
    ),
    hints=(
        "FLOPs done per second = peak x MFU.",
        "seconds = budget / (peak x MFU); then hours.",
    ),
    reference=lambda: round(_gpu_hours(), 1),
    solution_text=(
        "seconds = 1e21 / (989.5e12 x 0.35) = 2.887e6 s; / 3600 = 802 GPU-hours\n"
        "from bigmodel_lib.scale import gpu_spec, training_time_seconds\n"
        "training_time_seconds(1e21, peak_flops=gpu_spec('H100 SXM').bf16, mfu=0.35) / 3600"
    ),
)


def _examples(accuracy: float = EXPECTED_ACCURACY, z: float | None = None) -> int:
    if z is None:
        return examples_for_margin(accuracy, HALF_WIDTH)
    return math.ceil(z * z * accuracy * (1 - accuracy) / HALF_WIDTH**2)


test_examples = Exercise(
    key="ch06_cost.test_examples",
    prompt=(
        f"A classifier is expected to reach an accuracy of about {EXPECTED_ACCURACY}. How many test examples are\n"
        f"needed for the 95 % interval of its measured accuracy to have a half-width of {HALF_WIDTH} (normal\n"
        "approximation, z = 1.95996)? Give an exact int, rounded up."
    ),
    checker=on_success(
        close_to_or_known_mistake(
            _examples,
            {
                "that uses z = 2; the 95 % two-sided quantile is 1.95996": lambda: _examples(z=2.0),
                "that uses p = 0.5, the worst case; the expected accuracy gives a smaller n":
                    lambda: _examples(accuracy=0.5),
            },
            rtol=0.0, atol=0.5, what="number of test examples",
        ),
        lambda: f"{_examples()} examples: ceil(z^2 p (1 - p) / m^2), checked as an exact int",
    ),
    hints=(
        "The half-width of a normal interval is z sqrt(p (1 - p) / n).",
        "Solve z sqrt(p (1 - p) / n) = m for n, then round up.",
    ),
    reference=_examples,
    solution_text=(
        "n = z^2 p (1 - p) / m^2 = 1.95996^2 x 0.8 x 0.2 / 0.02^2 = 1536.6, rounded up: 1537\n"
        "from bigmodel_lib.evaluation import examples_for_margin; examples_for_margin(0.8, 0.02)"
    ),
)
