"""Chapter 06 exercises on the training recipe (notebook 6.1): the rates of an exponential learning-rate range test,
the gradient noise scale of McCandlish et al. (2018) from two measured gradient norms, and the learning rate and
step count after a change of batch size.

::

    from bigmodel_lib.exercises import ch06_recipe
    print(ch06_recipe.range_test_rate.prompt)
    ch06_recipe.range_test_rate.check(my_answer)

Every prompt states the precision wanted, the checker accepts an answer rounded that way, and a slip is named
only when its value lies outside that tolerance of the right answer.
"""

from __future__ import annotations

import math

from bigmodel_lib.exercises.core import Exercise, on_success, significant_figures_checker

__all__ = ["NOISE_MEASUREMENT", "RANGE_TEST", "SCALED_BATCH", "noise_scale", "range_test_rate", "scaled_batch"]

# -- 1. the rates of an exponential range test ------------------------------------------------------------------------

#: A range test of ``steps`` steps whose rate grows by one constant factor from ``lr_min`` (step 0) to ``lr_max``
#: (the last step); the exercise asks for the rate at step ``asked_step``.
RANGE_TEST = {"lr_min": 1e-6, "lr_max": 1.0, "steps": 200, "asked_step": 120}


def _range_rate(intervals_offset: int = 0, linear: bool = False) -> tuple[float, float]:
    t = RANGE_TEST
    intervals = t["steps"] - 1 + intervals_offset
    if linear:
        step_size = (t["lr_max"] - t["lr_min"]) / intervals
        return t["lr_min"] + t["asked_step"] * step_size, (t["lr_min"] + step_size) / t["lr_min"]
    factor = (t["lr_max"] / t["lr_min"]) ** (1 / intervals)
    return t["lr_min"] * factor ** t["asked_step"], factor


range_test_rate = Exercise(
    key="ch06_recipe.range_test_rate",
    prompt=(
        "A learning-rate range test runs 200 steps, numbered 0..199 (ch06_recipe.RANGE_TEST). Its rate is 1e-6 at\n"
        "step 0 and 1.0 at step 199, and every step multiplies the rate by the same factor. Give (rate, factor): the\n"
        "learning rate at step 120 to 3 significant figures, the factor per step to 4 significant figures."
    ),
    checker=on_success(
        significant_figures_checker(
            _range_rate, (3, 4),
            {
                "200 rates have 199 steps between them: the factor is (1.0 / 1e-6) ** (1 / 199), not ** (1 / 200)":
                    lambda: _range_rate(intervals_offset=1),
                "that is a linear ramp; here each step multiplies the rate by a constant factor (equal spacing on a "
                "log axis)": lambda: _range_rate(linear=True),
            },
            what="(rate, factor) pair",
        ),
        lambda: "rate at step 120 = {:.4g} (checked to 3 significant figures), factor {:.6f} per step (checked to 4): "
                "the rate grows tenfold every {:.1f} steps".format(*_range_rate(), 199 / 6),
    ),
    hints=["The factor f satisfies 1e-6 * f**199 = 1.0.",
           "The rate at step i is 1e-6 * f**i; on a log axis, step 120 lies 120/199 of the way from -6 to 0."],
    reference=lambda: (float(f"{_range_rate()[0]:.3g}"), float(f"{_range_rate()[1]:.4g}")),
    solution_text="f = (1.0 / 1e-6) ** (1 / 199); (1e-6 * f ** 120, f)  "
                  "# or exponential_learning_rates(1e-6, 1.0, 200)[120] from bigmodel_lib.lr_range_test",
)

# -- 2. the gradient noise scale from two batch sizes ------------------------------------------------------------------

#: Squared norms of the mean gradient of one batch, measured at two batch sizes at the same point of training
#: (each averaged over many batches): ``E|G_B|^2 = |G|^2 + tr(Sigma) / B``.
NOISE_MEASUREMENT = {"small_batch": 4, "small_sq_norm": 2.60, "big_batch": 64, "big_sq_norm": 0.35}


def _noise(big_as_true: bool = False, sqrt_norm: bool = False, sign: int = 1) -> tuple[float, float, float]:
    m = NOISE_MEASUREMENT
    b_small, g_small, b_big, g_big = m["small_batch"], m["small_sq_norm"], m["big_batch"], m["big_sq_norm"]
    true_sq = g_big if big_as_true else (b_big * g_big - b_small * g_small) / (b_big - b_small)
    trace = sign * (g_small - g_big) / (1 / b_small - 1 / b_big)
    return true_sq, trace, trace / (math.sqrt(true_sq) if sqrt_norm else true_sq)


noise_scale = Exercise(
    key="ch06_recipe.noise_scale",
    prompt=(
        "McCandlish et al. (2018) model the squared norm of a batch's mean gradient as E|G_B|^2 = |G|^2 + tr(Sigma)/B\n"
        "(|G|: the true gradient; Sigma: the covariance of one example's gradient). At one point of a training run,\n"
        "|G_B|^2 averaged over many batches is 2.60 at batch 4 and 0.35 at batch 64 (ch06_recipe.NOISE_MEASUREMENT).\n"
        "Solve the two equations and give (|G|^2, tr(Sigma), B_noise), B_noise = tr(Sigma) / |G|^2 being the gradient\n"
        "noise scale (about the critical batch size), each to 3 significant figures."
    ),
    checker=on_success(
        significant_figures_checker(
            _noise, (3, 3, 3),
            {
                "|G_64|^2 still holds noise, tr(Sigma) / 64: solve both equations for |G|^2 instead of taking the big "
                "batch's value": lambda: _noise(big_as_true=True),
                "B_noise divides tr(Sigma) by the squared norm |G|^2, not by |G|": lambda: _noise(sqrt_norm=True),
                "the noise term is larger at the smaller batch: tr(Sigma) = (|G_4|^2 - |G_64|^2) / (1/4 - 1/64) is "
                "positive": lambda: _noise(sign=-1),
            },
            what="(|G|^2, tr(Sigma), B_noise) triple",
        ),
        lambda: "|G|^2 = {:.4g}, tr(Sigma) = {:.4g}, B_noise = {:.4g} (each checked to 3 significant figures): batches "
                "well below it use each example fully, batches far above it waste examples".format(*_noise()),
    ),
    hints=["Subtract the two equations: |G_4|^2 - |G_64|^2 = tr(Sigma) (1/4 - 1/64).",
           "Then |G|^2 = |G_64|^2 - tr(Sigma) / 64."],
    reference=lambda: tuple(float(f"{v:.3g}") for v in _noise()),
    solution_text="trace = (2.60 - 0.35) / (1/4 - 1/64); true_sq = 0.35 - trace / 64\n"
                  "(true_sq, trace, trace / true_sq)",
)

# -- 3. learning rate and steps after a change of batch size -----------------------------------------------------------

#: A rate that works at one batch size, and the run to plan at another (windows of ``tokens_per_window`` tokens).
SCALED_BATCH = {"lr": 4e-3, "batch": 16, "new_batch": 256, "tokens_per_window": 64, "tokens": 50_000_000}


def _scaled(rule: str = "sqrt", window: bool = True, rounding=math.ceil, batch_key: str = "new_batch") -> tuple:
    s = SCALED_BATCH
    ratio = s["new_batch"] / s["batch"]
    lr = s["lr"] * (math.sqrt(ratio) if rule == "sqrt" else ratio)
    per_step = s[batch_key] * (s["tokens_per_window"] if window else 1)
    return lr, int(rounding(s["tokens"] / per_step))


scaled_batch = Exercise(
    key="ch06_recipe.scaled_batch",
    prompt=(
        "AdamW trains well at a peak learning rate of 4e-3 with batches of 16 windows of 64 tokens (ch06_recipe.\n"
        "SCALED_BATCH). You move to batches of 256 windows of 64 tokens and plan a run of 50 million tokens. With the\n"
        "square-root scaling rule for Adam, give (peak learning rate, number of steps): the rate to 3 significant\n"
        "figures, the steps as an exact int (enough steps to cover the 50 million tokens: round up)."
    ),
    checker=on_success(
        significant_figures_checker(
            _scaled, (3, None),
            {
                "that is the linear rule (lr x 256/16), the usual rule for SGD; for Adam scale by the square root":
                    lambda: _scaled(rule="linear"),
                "each step sees 256 windows of 64 tokens: divide the tokens by 256 x 64": lambda: _scaled(window=False),
                "round up: 3051 steps leave some of the 50 million tokens unseen": lambda: _scaled(rounding=math.floor),
                "the steps are for the new batch of 256 windows, not the old 16": lambda: _scaled(batch_key="batch"),
            },
            what="(learning rate, steps) pair",
        ),
        lambda: "peak rate {:.3g} (checked to 3 significant figures) and {} steps (checked exactly): 16 times the "
                "tokens per step, 4 times the rate".format(*_scaled()),
    ),
    hints=["The batch grows by 256 / 16 = 16; the square-root rule multiplies the rate by sqrt(16).",
           "One step sees 256 x 64 tokens."],
    reference=lambda: _scaled(),
    solution_text="(4e-3 * (256 / 16) ** 0.5, math.ceil(50e6 / (256 * 64)))",
)
