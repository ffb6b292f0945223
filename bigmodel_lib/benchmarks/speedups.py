"""Speed-ups measured honestly: each technique timed against its baseline in one run, with a correctness check.

A speed-up is only a speed-up if the output stays the same (to a stated tolerance) or the training still
reaches the same loss (within a stated margin). Notebook 6.3 uses these pieces:

* :class:`TrainingVariant` and :func:`time_training_steps` -- several copies of a model (float32, bfloat16
  autocast, ``torch.compile`` ...) trained **on the same batches**, their steps interleaved (A, B, A, B, ...) so
  a busy machine slows all of them alike; the first step is timed on its own (``torch.compile`` compiles there);
* :func:`train_until` -- optimizer steps until the loss on fixed evaluation batches reaches a target: a count
  of steps, which does not depend on how fast the machine is;
* :class:`SpeedupRow` -- one line of a summary: technique, baseline, seconds of each, the ratio
  ``baseline / technique`` and the check that was made, with :func:`speed_verdict` putting the ratio in words
  and :func:`rows_markdown` making the table.

Timings are never asserted (they depend on the machine and its load); the checks are.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

from bigmodel_lib._checks import check_positive_int
from bigmodel_lib.benchmarks.timing import Timing, compare
from bigmodel_lib.lm_training import estimate_loss, get_batch, train_step

__all__ = [
    "StepTimings",
    "SpeedupRow",
    "StepsToTarget",
    "TrainingVariant",
    "rows_markdown",
    "speed_verdict",
    "time_training_steps",
    "train_until",
]

#: ratios within this factor of 1 are read as "no clear difference": repeated timings on a shared machine
#: scatter by several percent, so a 3 % "gain" is not a finding
NOISE_FACTOR = 1.10


def speed_verdict(ratio: float, *, noise_factor: float = NOISE_FACTOR) -> str:
    """The ratio ``baseline seconds / technique seconds`` in words.

    ``ratio >= noise_factor`` -> ``"1.83x faster"``; ``ratio <= 1 / noise_factor`` -> ``"2.40x slower"``
    (the slowdown ``1 / ratio``); in between -> ``"no clear difference (0.97x)"``.
    """
    if not ratio > 0:
        raise ValueError(f"speed_verdict: 'ratio' must be a positive number, got {ratio!r}")
    if noise_factor < 1:
        raise ValueError(f"speed_verdict: 'noise_factor' must be >= 1, got {noise_factor!r}")
    if ratio >= noise_factor:
        return f"{ratio:.2f}x faster"
    if ratio <= 1 / noise_factor:
        return f"{1 / ratio:.2f}x slower"
    return f"no clear difference ({ratio:.2f}x)"


@dataclass(frozen=True)
class SpeedupRow:
    """One technique against its baseline: seconds per unit of work of each, and the correctness check made.

    ``ratio = baseline_seconds / seconds``: above 1 the technique is faster. ``check`` says what was compared and
    the number measured (e.g. ``"max |logit gap| 3e-06 <= 1e-05"``); ``passed`` is its outcome.
    """

    technique: str
    baseline: str
    unit: str
    baseline_seconds: float
    seconds: float
    check: str
    passed: bool

    def __post_init__(self) -> None:
        for name in ("baseline_seconds", "seconds"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value > 0):
                raise ValueError(f"SpeedupRow: '{name}' must be a positive number of seconds, got {value!r}")

    @property
    def ratio(self) -> float:
        return self.baseline_seconds / self.seconds

    @property
    def paid_off(self) -> bool:
        """Faster beyond the noise band (:data:`NOISE_FACTOR`) and the output check passed."""
        return self.passed and self.ratio >= NOISE_FACTOR

    def verdict(self) -> str:
        return speed_verdict(self.ratio)


def _format_seconds(seconds: float) -> str:
    """Seconds in the unit that reads best: ``"1.23 s"``, ``"45.6 ms"``, ``"789 us"``."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} us"


def rows_markdown(rows: Sequence[SpeedupRow]) -> str:
    """A markdown table of ``rows``: technique, baseline, unit, both times, ratio in words, check and its outcome."""
    if not rows:
        raise ValueError("rows_markdown: 'rows' is empty")
    lines = ["| technique | baseline | per | baseline time | time | this run | output check |",
             "|---|---|---|---:|---:|---|---|"]
    for row in rows:
        outcome = "passed" if row.passed else "FAILED"
        lines.append(f"| {row.technique} | {row.baseline} | {row.unit} | {_format_seconds(row.baseline_seconds)} | "
                     f"{_format_seconds(row.seconds)} | {row.verdict()} | {row.check}: {outcome} |")
    return "\n".join(lines)


# -- training steps, timed on the same batches -------------------------------------------------------------------


@dataclass
class TrainingVariant:
    """A model to train and how: ``step_model`` is what the step calls (the model itself, or ``torch.compile(model)``,
    which shares its parameters), ``amp_dtype`` the autocast dtype (``None``: float32), ``context`` an optional
    context manager factory wrapped around each step (e.g. ``lambda: sdpa_kernel(SDPBackend.MATH)``)."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    step_model: torch.nn.Module | None = None
    amp_dtype: torch.dtype | None = None
    context: Callable[[], contextlib.AbstractContextManager] | None = None
    losses: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.step_model is None:
            self.step_model = self.model


@dataclass(frozen=True)
class StepTimings:
    """Seconds of a variant's first step (which includes any compilation) and of the steps after it."""

    name: str
    first_seconds: float
    steady: Timing


def time_training_steps(
    variants: Mapping[str, TrainingVariant],
    train_data: torch.Tensor,
    *,
    steps: int,
    batch_size: int,
    block_size: int,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> dict[str, StepTimings]:
    """Train every variant for ``steps`` optimizer steps on the **same** batches and time each step.

    Each variant draws its batches from its own generator seeded with ``seed``, so all see the same windows of
    ``train_data`` in the same order. The first step of each is timed alone (compiling happens there), then
    ``steps - 1`` steps are timed interleaved (:func:`bigmodel_lib.benchmarks.timing.compare`). The training
    losses are appended to each variant's ``losses``. Returns ``{name: StepTimings}``.
    """
    check_positive_int("time_training_steps", "steps", steps)
    if steps < 2:
        raise ValueError(f"time_training_steps: 'steps' must be >= 2 (one first step, then timed ones), got {steps}")
    if not variants:
        raise ValueError("time_training_steps: 'variants' is empty")
    generators = {name: torch.Generator().manual_seed(seed) for name in variants}
    sync = str(device) if torch.device(device).type != "cpu" else None

    def one_step(name: str) -> None:
        variant = variants[name]
        x, y = get_batch(train_data, batch_size, block_size, generators[name], device)
        context = variant.context() if variant.context is not None else contextlib.nullcontext()
        with context:
            loss = train_step(variant.step_model, variant.optimizer, x, y, amp_dtype=variant.amp_dtype)
        variant.losses.append(float(loss))

    first = {}
    for name in variants:
        if sync:
            torch.cuda.synchronize()
        start = time.perf_counter()
        one_step(name)
        if sync:
            torch.cuda.synchronize()
        first[name] = time.perf_counter() - start
    steady = compare({name: (lambda name=name: one_step(name)) for name in variants}, warmup=0, repeats=steps - 1,
                     device=sync)
    return {name: StepTimings(name, first[name], steady[name]) for name in variants}


# -- steps to a target loss ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepsToTarget:
    """Where the evaluation loss first reached ``target`` (``reached_step``, ``None`` if not within ``max_steps``),
    the evaluation curve, and the wall-clock seconds per step (training only, evaluation excluded)."""

    name: str
    target: float
    max_steps: int
    reached_step: int | None
    eval_steps: tuple[int, ...]
    eval_losses: tuple[float, ...]
    seconds_per_step: float

    @property
    def reached(self) -> bool:
        return self.reached_step is not None

    def describe(self) -> str:
        if self.reached_step is None:
            return (f"{self.name}: did not reach {self.target:.3f} within {self.max_steps} steps "
                    f"(best {min(self.eval_losses):.3f})")
        return f"{self.name}: reached {self.target:.3f} at step {self.reached_step}"


def train_until(
    name: str,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    train_data: torch.Tensor,
    eval_batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    *,
    target: float,
    max_steps: int,
    eval_every: int,
    batch_size: int,
    block_size: int,
    seed: int = 0,
    grad_clip: float | None = 1.0,
    on_eval: Callable[[int, float], None] | None = None,
) -> StepsToTarget:
    """Optimizer steps on random windows of ``train_data`` until the mean loss on ``eval_batches`` is ``<= target``.

    The loss is evaluated every ``eval_every`` steps (so ``reached_step`` is a multiple of it) and training stops
    at the first evaluation at or below ``target``, or after ``max_steps``. Batches come from a generator seeded
    with ``seed``: two optimizers run with the same ``seed`` see the same windows. For a given machine and thread
    count the count of steps is deterministic, unlike a time; ``on_eval(step, loss)`` is called after each
    evaluation (e.g. to update a progress bar).
    """
    where = "train_until"
    for arg, value in (("max_steps", max_steps), ("eval_every", eval_every)):
        check_positive_int(where, arg, value)
    if not eval_batches:
        raise ValueError(f"{where}: 'eval_batches' is empty")
    generator = torch.Generator().manual_seed(seed)
    steps, losses = [], []
    reached = None
    train_seconds = 0.0
    for step in range(1, max_steps + 1):
        x, y = get_batch(train_data, batch_size, block_size, generator)
        start = time.perf_counter()
        train_step(model, optimizer, x, y, grad_clip=grad_clip)
        train_seconds += time.perf_counter() - start
        if step % eval_every == 0 or step == max_steps:
            loss = estimate_loss(model, eval_batches)
            steps.append(step)
            losses.append(loss)
            if on_eval is not None:
                on_eval(step, loss)
            if loss <= target:
                reached = step
                break
    done = steps[-1]
    return StepsToTarget(name, float(target), max_steps, reached, tuple(steps), tuple(losses), train_seconds / done)
