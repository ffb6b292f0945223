"""Chapter 06 exercises on memorization (notebook 6.7): the exposure of a ranked secret, the exposure a secret
gets when the model has learned nothing about it, and how many guesses an exposure saves an attacker.

::

    from bigmodel_lib.exercises import ch06_privacy
    print(ch06_privacy.exposure_of_rank.prompt)
    ch06_privacy.exposure_of_rank.check(my_answer)

Exposure (Carlini et al. 2019, "The Secret Sharer", §4): ``log2 |R| - log2 rank``. Every prompt states the precision
wanted, the checker accepts an answer rounded that way, and a slip is named only when its value lies outside that
tolerance of the right answer.
"""

from __future__ import annotations

import math

from bigmodel_lib.exercises.core import Exercise, on_success, significant_figures_checker

__all__ = ["PIN_SPACE", "PIN_RANK", "UNSEEN_SPACE", "SSN_DIGITS", "SSN_EXPOSURE",
           "exposure_of_rank", "guesses_from_exposure", "unseen_secret_exposure"]

# -- 1. exposure of a ranked secret ----------------------------------------------------------------------------------

#: A 4-digit PIN (10**4 possible secrets) ranked 12th most likely by the model.
PIN_SPACE = 10**4
PIN_RANK = 12


def _exposure(log=math.log2, flipped: bool = False) -> float:
    value = log(PIN_SPACE) - log(PIN_RANK)
    return -value if flipped else value


exposure_of_rank = Exercise(
    key="ch06_privacy.exposure_of_rank",
    prompt=(
        "A canary's secret is a 4-digit PIN, so the space R holds 10**4 secrets (ch06_privacy.PIN_SPACE). Ranked by\n"
        "the model's log-perplexity against every one of them, the true PIN comes 12th (ch06_privacy.PIN_RANK;\n"
        "rank 1 = the most likely). What is its exposure in bits? Give it to 3 significant figures."
    ),
    checker=on_success(
        significant_figures_checker(
            lambda: (_exposure(),), (3,),
            {
                "exposure is in bits: log base 2, not the natural log": lambda: (_exposure(log=math.log),),
                "exposure is in bits: log base 2, not log base 10": lambda: (_exposure(log=math.log10),),
                "the order: exposure = log2 |R| - log2 rank, positive for a likely secret":
                    lambda: (_exposure(flipped=True),),
            },
            what="exposure",
        ),
        lambda: f"log2(10**4) - log2(12) = {_exposure():.4f} bits (checked to 3 significant figures): about 1 in "
                f"{2 ** _exposure():.0f} PINs is ranked ahead of it or level with it",
    ),
    hints=["log2(10**4) is about 13.29 bits: the exposure of a secret ranked first.",
           "Subtract log2(12)."],
    reference=lambda: float(f"{_exposure():.3g}"),
    solution_text="exposure_from_rank(12, 10**4) from bigmodel_lib.memorization",
)

# -- 2. the expected exposure of a secret the model has never seen ---------------------------------------------------

#: The canary plus 999 random candidates: a space of 1000 secrets.
UNSEEN_SPACE = 1000


def _expected_unseen(median: bool = False) -> float:
    n = UNSEEN_SPACE
    if median:
        return math.log2(n) - math.log2((n + 1) / 2)
    return math.log2(n) - math.lgamma(n + 1) / math.log(2) / n  # log2 n - (1/n) sum_r log2 r


unseen_secret_exposure = Exercise(
    key="ch06_privacy.unseen_secret_exposure",
    prompt=(
        "A secret the model never saw is ranked among 999 random candidates, so |R| = 1000\n"
        "(ch06_privacy.UNSEEN_SPACE) and its rank is equally likely to be any of 1, 2, ..., 1000. What is its\n"
        "expected exposure, the mean of log2(1000) - log2(rank) over the 1000 ranks? Give it to 3 significant\n"
        "figures."
    ),
    checker=on_success(
        significant_figures_checker(
            lambda: (_expected_unseen(),), (3,),
            {
                "that is the exposure of the median rank; the mean of log2(rank) is not log2 of the mean rank":
                    lambda: (_expected_unseen(median=True),),
            },
            what="expected exposure",
        ),
        lambda: f"log2(1000) - log2(1000!) / 1000 = {_expected_unseen():.4f} bits (checked to 3 significant figures), "
                f"close to log2(e) = {math.log2(math.e):.4f}, the limit for a large space",
    ),
    hints=["Average log2(rank) over rank = 1..1000: that is log2(1000!) / 1000.",
           "math.lgamma(1001) is ln(1000!); divide by ln 2 for log2."],
    reference=lambda: float(f"{_expected_unseen():.3g}"),
    solution_text="import math; math.log2(1000) - sum(math.log2(r) for r in range(1, 1001)) / 1000",
)

# -- 3. how many guesses an exposure saves ---------------------------------------------------------------------------

#: A 9-digit secret (10**9 possibilities) measured with an extrapolated exposure of 20 bits.
SSN_DIGITS = 9
SSN_EXPOSURE = 20.0


def _guesses(space_digits: int = SSN_DIGITS, base: float = 2.0) -> float:
    return 10.0**space_digits / base**SSN_EXPOSURE


guesses_from_exposure = Exercise(
    key="ch06_privacy.guesses_from_exposure",
    prompt=(
        "A 9-digit secret (10**9 possibilities, ch06_privacy.SSN_DIGITS) has an extrapolated exposure of 20 bits\n"
        "(ch06_privacy.SSN_EXPOSURE). An attacker who tries secrets in the model's order, most likely first, needs\n"
        "rank = |R| / 2**exposure guesses to reach it. How many guesses is that? Give it to 3 significant figures\n"
        "(a blind attacker needs 5e8 on average)."
    ),
    checker=on_success(
        significant_figures_checker(
            lambda: (_guesses(),), (3,),
            {
                "exposure is in bits: divide by 2**20, not 10**20 or e**20": lambda: (_guesses(base=math.e),),
                "the space of 9-digit secrets has 10**9 members, not 9": lambda: (9 / 2**SSN_EXPOSURE,),
            },
            what="number of guesses",
        ),
        lambda: f"10**9 / 2**20 = {_guesses():.1f} guesses (checked to 3 significant figures), "
                f"{5e8 / _guesses():,.0f} times fewer than a blind attacker's average",
    ),
    hints=["exposure = log2 |R| - log2 rank, so rank = |R| / 2**exposure.", "2**20 = 1,048,576."],
    reference=lambda: float(f"{_guesses():.3g}"),
    solution_text="10**9 / 2**20",
)
