"""Pipeline parallelism: the GPipe and 1F1B schedules, simulated op by op.

The model's layers are cut into ``p`` stages, one per device; the batch into ``m`` micro-batches.
Micro-batch ``j``'s forward on stage ``s``, ``F(s, j)``, needs ``F(s-1, j)`` (its input); its backward
``B(s, j)`` needs ``B(s+1, j)`` (the gradient of its output) and ``F(s, j)``. A stage runs one op at a time,
in the order its schedule lists:

* **GPipe** (Huang et al. 2019): all ``m`` forwards, then all ``m`` backwards. A stage keeps the
  activations of all ``m`` micro-batches until their backward.
* **1F1B** (PipeDream-Flush, Narayanan et al. 2021): stage ``s`` runs ``p - s - 1`` warm-up forwards, then
  alternates one forward and one backward, then drains the remaining backwards. Same bubble as GPipe, but
  a stage never holds more than ``p - s`` micro-batches' activations.

With forward time ``t_f`` and backward ``t_b`` per stage, both schedules take ``(m + p - 1)(t_f + t_b)``,
of which each stage is busy ``m (t_f + t_b)``: the idle fraction, the *bubble*, is ``(p - 1)/(m + p - 1)``
(GPipe, section 2.2; Narayanan et al. 2021, section 2.2.1). :func:`simulate_pipeline` derives it from the
timeline instead of assuming it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEDULES = ("gpipe", "1f1b")


@dataclass
class PipelineRun:
    """A simulated schedule: ``ops`` = ``(stage, kind "F"/"B", micro_batch, start, end)``; the makespan,
    the idle fraction and the most micro-batches whose activations each stage held at once."""

    schedule: str
    stages: int
    micro_batches: int
    ops: list[tuple[int, str, int, float, float]] = field(default_factory=list)
    makespan: float = 0.0
    bubble_fraction: float = 0.0
    peak_in_flight: list[int] = field(default_factory=list)


def _stage_order(schedule: str, stage: int, p: int, m: int) -> list[tuple[str, int]]:
    if schedule == "gpipe":
        return [("F", j) for j in range(m)] + [("B", j) for j in range(m)]
    warmup = min(p - stage - 1, m)
    order = [("F", j) for j in range(warmup)]
    next_f, next_b = warmup, 0
    while next_b < m:
        if next_f < m:
            order.append(("F", next_f))
            next_f += 1
        order.append(("B", next_b))
        next_b += 1
    return order


def simulate_pipeline(stages: int, micro_batches: int, schedule: str = "gpipe", *, forward_time: float = 1.0,
                      backward_time: float = 2.0) -> PipelineRun:
    """Run the schedule: each op starts as soon as its stage is free and its input is ready.

    ``backward_time = 2 forward_time`` by default (the backward computes two products per forward one).
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"simulate_pipeline: 'schedule' must be one of {SCHEDULES}, got {schedule!r}")
    for name, value in (("stages", stages), ("micro_batches", micro_batches)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"simulate_pipeline: '{name}' must be an int >= 1, got {value!r}")
    if not (forward_time > 0 and backward_time > 0):
        raise ValueError(f"simulate_pipeline: times must be > 0, got {forward_time}, {backward_time}")
    p, m = stages, micro_batches
    orders = [_stage_order(schedule, s, p, m) for s in range(p)]
    done: dict[tuple[int, str, int], float] = {}  # (stage, kind, micro-batch) -> end time
    position, free_at = [0] * p, [0.0] * p
    run = PipelineRun(schedule=schedule, stages=p, micro_batches=m)
    while any(position[s] < len(orders[s]) for s in range(p)):
        progressed = False
        for s in range(p):
            if position[s] == len(orders[s]):
                continue
            kind, j = orders[s][position[s]]
            needs = [(s - 1, "F", j)] if kind == "F" and s > 0 else []
            if kind == "B":
                needs = [(s, "F", j)] + ([(s + 1, "B", j)] if s < p - 1 else [])
            if any(n not in done for n in needs):
                continue
            start = max([free_at[s]] + [done[n] for n in needs])
            end = start + (forward_time if kind == "F" else backward_time)
            done[(s, kind, j)] = free_at[s] = end
            run.ops.append((s, kind, j, start, end))
            position[s] += 1
            progressed = True
        if not progressed:  # cannot happen for these two schedules; a guard against an endless loop
            raise RuntimeError(f"simulate_pipeline: the {schedule} schedule deadlocked")
    run.makespan = max(end for *_, end in run.ops)
    busy = m * (forward_time + backward_time)
    run.bubble_fraction = 1.0 - busy / run.makespan
    for s in range(p):
        in_flight = peak = 0
        for kind, _ in orders[s]:
            in_flight += 1 if kind == "F" else -1
            peak = max(peak, in_flight)
        run.peak_in_flight.append(peak)
    return run


def draw_schedule(run: PipelineRun, ax: Any = None) -> Any:
    """The timeline as a Gantt chart: one row per stage, forwards light, backwards dark, numbered by
    micro-batch; empty space is the bubble. Returns the matplotlib axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 0.5 * run.stages + 1))
    colors = {"F": "#9ecae1", "B": "#3182bd"}
    for stage, kind, j, start, end in run.ops:
        ax.barh(stage, end - start, left=start, color=colors[kind], edgecolor="black", linewidth=0.5)
        ax.text((start + end) / 2, stage, str(j), ha="center", va="center", fontsize=7,
                color="black" if kind == "F" else "white")
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=colors["F"], label="forward"), Patch(color=colors["B"], label="backward")],
              loc="upper right", fontsize=8)
    ax.set_yticks(range(run.stages), [f"stage {s}" for s in range(run.stages)])
    ax.invert_yaxis()
    ax.set_xlabel("time (forward of one micro-batch on one stage = 1)")
    ax.set_title(f"{run.schedule}: p={run.stages} stages, m={run.micro_batches} micro-batches, "
                 f"bubble {run.bubble_fraction:.1%}")
    return ax
