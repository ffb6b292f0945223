"""Chapter 01 exercises: growth rates read off the published numbers, each answer one number to check.

Every prompt says how precise the answer must be ("to 3 significant figures") and the checker accepts
exactly that: an answer rounded as asked passes. The reference answers are computed from the shipped
tables (:mod:`bigmodel_lib.data.landmark_models` and the hardware table), so the exercises and the
course agree by construction; a checker names a slip only when its value differs from the right
answer by more than the tolerance.

::

    from bigmodel_lib.exercises import ch01
    print(ch01.compute_doubling_time.prompt)
    ch01.compute_doubling_time.check(my_months)
"""

from __future__ import annotations

import math

from bigmodel_lib.data.landmark_models import ACCELERATOR_GENERATIONS, landmark_model
from bigmodel_lib.exercises.core import Exercise, close_to_or_known_mistake

#: Relative tolerance of an answer asked "to 3 significant figures": rounding moves a number by at most
#: half a unit in the third digit, i.e. at most 0.5 / 100 of it.
THREE_FIGURES = 5e-3
#: Relative tolerance of an answer asked "to 2 significant figures".
TWO_FIGURES = 5e-2

__all__ = [
    "annual_growth_factor",
    "compute_doubling_time",
    "years_to_tenfold_peak",
]


# -- 1. a doubling time from two rows -------------------------------------------------------------

DOUBLING_FROM, DOUBLING_TO = "Transformer (big)", "GPT-3 175B"


def _compute_ratio_and_years() -> tuple[float, int]:
    first, last = landmark_model(DOUBLING_FROM), landmark_model(DOUBLING_TO)
    return last.training_flops / first.training_flops, last.year - first.year


def _doubling_months() -> float:
    ratio, years = _compute_ratio_and_years()
    return 12 * years / math.log2(ratio)


compute_doubling_time = Exercise(
    key="ch01.compute_doubling_time",
    prompt=(
        f"Take the published training compute of two rows of the table: {DOUBLING_FROM} and {DOUBLING_TO}.\n"
        "Assume the compute grew exponentially between their years (the table's 'year' column, whole years).\n"
        "What doubling time does that give, in months? Answer to 3 significant figures."
    ),
    checker=close_to_or_known_mistake(
        _doubling_months,
        {
            "that is in years; the question asks for months": lambda: _doubling_months() / 12,
            "that divides by a base-10 logarithm: the number of doublings is log2 of the growth factor": lambda: (
                12 * _compute_ratio_and_years()[1] / math.log10(_compute_ratio_and_years()[0])
            ),
            "that divides by the natural logarithm: the number of doublings is log2 of the growth factor": lambda: (
                12 * _compute_ratio_and_years()[1] / math.log(_compute_ratio_and_years()[0])
            ),
        },
        rtol=THREE_FIGURES, atol=0.0, what="doubling time in months",
    ),
    hints=[
        "The number of doublings between the two rows is log2(later compute / earlier compute).",
        "Doubling time = (months between the rows) / (number of doublings).",
    ],
    reference=_doubling_months,
    solution_text=(
        "ratio = GPT-3's compute / the Transformer's compute; doublings = log2(ratio);\n"
        "doubling time = 12 * (year difference) / doublings."
    ),
)


# -- 2. the average growth per year ---------------------------------------------------------------

GROWTH_FROM, GROWTH_TO = "AlexNet", "PaLM 540B"


def _parameter_ratio_and_years() -> tuple[float, int]:
    first, last = landmark_model(GROWTH_FROM), landmark_model(GROWTH_TO)
    return last.parameters / first.parameters, last.year - first.year


def _annual_factor() -> float:
    ratio, years = _parameter_ratio_and_years()
    return ratio ** (1 / years)


annual_growth_factor = Exercise(
    key="ch01.annual_growth_factor",
    prompt=(
        f"From {GROWTH_FROM} to {GROWTH_TO} (the table's parameters and years), the parameter count grew by\n"
        "some overall factor. If it had grown by the same factor every year, what would that yearly factor be?\n"
        "(e.g. 1.5 means +50 % a year.) Answer to 3 significant figures."
    ),
    checker=close_to_or_known_mistake(
        _annual_factor,
        {
            "that is the overall factor divided by the number of years; growth compounds, so take the n-th root":
            lambda: _parameter_ratio_and_years()[0] / _parameter_ratio_and_years()[1],
            "that is the overall factor itself; spread it over the years with an n-th root":
            lambda: _parameter_ratio_and_years()[0],
        },
        rtol=THREE_FIGURES, atol=0.0, what="yearly growth factor",
    ),
    hints=[
        "Growth that compounds: overall factor = (yearly factor) ** (number of years).",
        "So the yearly factor is the overall factor ** (1 / number of years).",
    ],
    reference=_annual_factor,
    solution_text="yearly factor = (PaLM's parameters / AlexNet's parameters) ** (1 / (2022 - 2012))",
)


# -- 3. how long the hardware takes to grow ten-fold ----------------------------------------------

PEAK_FROM, PEAK_TO = "V100 SXM2", "H100 SXM"


def _generation(name: str):
    return next(g for g in ACCELERATOR_GENERATIONS if g.name == name)


def _years_to_tenfold(attribute: str = "training_peak_flops") -> float:
    first, last = _generation(PEAK_FROM), _generation(PEAK_TO)
    ratio = getattr(last, attribute) / getattr(first, attribute)
    return (last.year - first.year) * math.log(10) / math.log(ratio)


years_to_tenfold_peak = Exercise(
    key="ch01.years_to_tenfold_peak",
    prompt=(
        f"Between the {PEAK_FROM} and the {PEAK_TO} (the table of accelerator generations: their years and their\n"
        "training peaks, fp16/bf16 dense), assume the peak FLOP/s of one chip grew exponentially.\n"
        "At that rate, how many years does one chip's peak take to grow ten-fold? Answer to 2 significant figures."
    ),
    checker=close_to_or_known_mistake(
        _years_to_tenfold,
        {
            "that uses the fp32 peaks; the question is about the training peaks (fp16 / bf16 on tensor cores)":
            lambda: _years_to_tenfold("fp32_peak_flops"),
        },
        rtol=TWO_FIGURES, atol=0.0, what="number of years",
    ),
    hints=[
        "Find the growth per year first: (peak ratio) ** (1 / years between the two chips).",
        "Ten-fold takes log(10) / log(growth per year) years (any base of logarithm, the same in both).",
    ],
    reference=_years_to_tenfold,
    solution_text=(
        "years = (year difference) * log(10) / log(H100 training peak / V100 training peak)"
    ),
)
