"""Chapter 06 exercises on speed (notebook 6.3): the work a KV cache saves, what a faster matmul does to a whole
training step (Amdahl's law), and how many steps it takes before the time spent compiling pays back.

::

    from bigmodel_lib.exercises import ch06_speed
    print(ch06_speed.cache_positions.prompt)
    ch06_speed.cache_positions.check(my_answer)

Every prompt states the precision wanted, the checker accepts an answer rounded that way, and a slip is named
only when its value lies outside that tolerance of the right answer.
"""

from __future__ import annotations

from bigmodel_lib.exercises.core import Exercise, close_to_or_known_mistake, on_success, significant_figures_checker

__all__ = [
    "COMPILE_RUN",
    "GENERATION",
    "STEP_PROFILE",
    "amdahl_step_speedup",
    "cache_positions",
    "compile_break_even",
]

# -- 1. positions computed with and without a KV cache ---------------------------------------------------------------

#: Greedy generation of ``new_tokens`` tokens after a prompt of ``prompt`` tokens; the context never exceeds the
#: model's block size, so the cache is never dropped.
GENERATION = {"prompt": 12, "new_tokens": 100}


def _positions(cache: bool, off_by_one: bool = False) -> tuple[int, int]:
    """(positions run through the model without the cache, with it)."""
    p, n = GENERATION["prompt"], GENERATION["new_tokens"]
    # without a cache, step i (0-based) runs the whole context: p + i positions
    last = n + 1 if off_by_one else n
    without = sum(p + i for i in range(last))
    # with a cache: the prompt once (it yields the first new token), then each later step runs 1 position
    with_cache = p + (n - 1)
    return without, (with_cache if cache else without)


cache_positions = Exercise(
    key="ch06_speed.cache_positions",
    prompt=(
        "A GPT generates 100 tokens greedily after a prompt of 12 tokens (ch06_speed.GENERATION); the context stays\n"
        "within the block size. Count the token positions run through the model, over the whole generation:\n"
        "(a) without a KV cache, each step re-runs the whole context so far; (b) with the cache, the first step runs\n"
        "the prompt and every later step only the newest token. The last generated token is not fed back in.\n"
        "Give (without_cache, with_cache) as exact ints."
    ),
    checker=on_success(
        significant_figures_checker(
            lambda: _positions(True), (None, None),
            {
                "one step too many: the 100th token is produced by step 100, whose input ends at the 99th new token":
                    lambda: (_positions(True, off_by_one=True)[0], _positions(True)[1]),
                "with the cache the prompt is still run once (12 positions), then 1 position per later step":
                    lambda: (_positions(True)[0], GENERATION["new_tokens"]),
            },
            what="(without cache, with cache) pair",
        ),
        lambda: "{} and {} positions (checked exactly): the cache removes work, {:.1f}x fewer positions here, "
                "and the gap grows with the length".format(*_positions(True),
                                                           _positions(True)[0] / _positions(True)[1]),
    ),
    hints=["Without the cache, step i (i = 0 .. 99) runs 12 + i positions: an arithmetic series.",
           "With the cache: 12 positions for the first step, then 99 steps of 1 position."],
    reference=lambda: _positions(True),
    solution_text="p, n = 12, 100; (sum(p + i for i in range(n)), p + n - 1)",
)

# -- 2. Amdahl's law for a training step ------------------------------------------------------------------------------

#: Fractions of one training step's time: the matrix multiplications, and everything else (element-wise kernels,
#: the optimizer, data, Python). A faster matmul engine speeds up only the first part.
STEP_PROFILE = {"matmul_fraction": 0.7, "matmul_speedup": 8.0}


def _amdahl(fraction: float | None = None, speedup: float | None = None) -> float:
    f = STEP_PROFILE["matmul_fraction"] if fraction is None else fraction
    s = STEP_PROFILE["matmul_speedup"] if speedup is None else speedup
    return 1.0 / ((1.0 - f) + f / s)


amdahl_step_speedup = Exercise(
    key="ch06_speed.amdahl_step_speedup",
    prompt=(
        "In a training step, matrix multiplications take 70 % of the time and everything else 30 %\n"
        "(ch06_speed.STEP_PROFILE). bfloat16 on a GPU's tensor cores makes the matmuls 8x faster and leaves the\n"
        "rest as it is. By what factor does the whole step get faster? Give it to 3 significant figures."
    ),
    checker=on_success(
        significant_figures_checker(
            lambda: (_amdahl(),), (3,),
            {
                "that is the matmul speed-up alone: the other 30 % of the step still takes as long as before":
                    lambda: (STEP_PROFILE["matmul_speedup"],),
                "the fractions are swapped: the matmuls are the 70 % that gets faster":
                    lambda: (_amdahl(fraction=1 - STEP_PROFILE["matmul_fraction"]),),
            },
            what="speed-up of the step (to 3 significant figures)",
        ),
        lambda: f"{_amdahl():.4f}x (checked to 3 significant figures): the untouched 30 % caps the gain at "
                f"{1 / (1 - STEP_PROFILE['matmul_fraction']):.2f}x however fast the matmuls get",
    ),
    hints=["New step time, as a fraction of the old one: the part that is not sped up, plus the part that is, "
           "divided by its speed-up.",
           "The speed-up of the step is 1 over that fraction."],
    reference=lambda: round(_amdahl(), 3),
    solution_text="1 / (0.3 + 0.7 / 8)",
)

# -- 3. when does compiling pay back? ---------------------------------------------------------------------------------

#: A training run with ``torch.compile``: seconds spent compiling (once, in the first step) and milliseconds per step
#: afterwards, against the same step in eager mode.
COMPILE_RUN = {"compile_seconds": 45.0, "eager_ms_per_step": 60.0, "compiled_ms_per_step": 48.0}


def _break_even(per_compiled_step: bool = False, milliseconds: bool = False) -> float:
    run = COMPILE_RUN
    saved_ms = run["eager_ms_per_step"] - run["compiled_ms_per_step"]
    saving_ms = run["compiled_ms_per_step"] if per_compiled_step else saved_ms
    compile_time = run["compile_seconds"] if milliseconds else run["compile_seconds"] * 1e3
    return compile_time / saving_ms


compile_break_even = Exercise(
    key="ch06_speed.compile_break_even",
    prompt=(
        "torch.compile spends 45 s compiling, once; afterwards a training step takes 48 ms instead of eager mode's\n"
        "60 ms (ch06_speed.COMPILE_RUN). After how many steps has the compiled run caught up, i.e. its total time\n"
        "(compiling included) equals the eager run's? Give the number of steps to within 1 %."
    ),
    checker=on_success(
        close_to_or_known_mistake(
            lambda: _break_even(),
            {
                "the compile time pays back through the time *saved* per step (60 - 48 ms), not the compiled step's "
                "48 ms": lambda: _break_even(per_compiled_step=True),
                "units: 45 s is 45,000 ms": lambda: _break_even(milliseconds=True),
            },
            rtol=0.01, atol=0.0, what="number of steps",
        ),
        lambda: f"{_break_even():.0f} steps (checked to within 1 %): a run shorter than that is faster in eager mode, "
                f"however much faster each compiled step is",
    ),
    hints=["Each compiled step saves 60 - 48 = 12 ms.",
           "The compile time, in ms, divided by the saving per step."],
    reference=lambda: round(_break_even()),
    solution_text="45e3 / (60 - 48)",
)
