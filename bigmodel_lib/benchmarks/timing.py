"""Small, honest timing helpers: warm-up runs, several repeats, the median, and the machine named.

The functions being compared are run **interleaved** (A, B, A, B, ...) rather than one after the
other, so a background job slowing the machine for a while slows both sides alike and the ratio
stays meaningful on a shared laptop or CI runner.

* :func:`compare` / :func:`measure`: wall-clock seconds per call (median and best of the repeats);
* :func:`timed`: the same, plus the process's CPU time of each CPU call, which waiting for a busy core
  does not inflate;
* :func:`load_average`, :func:`machine_description`: print them next to every timing.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Seconds per call of one function: every repeat, with the median and the best."""

    name: str
    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def best(self) -> float:
        return min(self.seconds)

    def __str__(self) -> str:
        runs = len(self.seconds)
        return f"{self.name}: median {self.median * 1e3:.2f} ms, best {self.best * 1e3:.2f} ms ({runs} runs)"


def _sync(device: str | None) -> None:
    """Wait for queued GPU work, so the clock measures the work and not just its launch."""
    if device is None or device == "cpu":
        return
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elif device.startswith("mps"):
        torch.mps.synchronize()


def compare(
    functions: Mapping[str, Callable[[], object]],
    *,
    warmup: int = 3,
    repeats: int = 15,
    device: str | None = None,
) -> dict[str, Timing]:
    """Time each zero-argument function ``repeats`` times, interleaved, after ``warmup`` calls each.

    ``device="cuda"`` (or ``"mps"``) synchronizes before reading the clock (GPU work is asynchronous).
    """
    if warmup < 0 or repeats < 1:
        raise ValueError(f"compare: expected warmup >= 0 and repeats >= 1, got warmup={warmup}, repeats={repeats}")
    for _ in range(warmup):
        for fn in functions.values():
            fn()
    _sync(device)
    samples: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, fn in functions.items():
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            samples[name].append(time.perf_counter() - start)
    return {name: Timing(name, tuple(s)) for name, s in samples.items()}


def measure(fn: Callable[[], object], *, warmup: int = 3, repeats: int = 15, name: str = "fn",
            device: str | None = None) -> Timing:
    """Time one zero-argument function (see :func:`compare`)."""
    return compare({name: fn}, warmup=warmup, repeats=repeats, device=device)[name]


def load_average() -> str:
    """The 1, 5 and 15-minute load averages, e.g. ``"1.02 0.87 0.55"`` (``"n/a"`` where the OS has none).

    Print it next to every timing: on a shared machine a number of seconds means little without it.
    """
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "n/a"


def machine_description() -> str:
    """One line naming the machine: CPU, core count, NumPy/torch versions and torch's threads."""
    import numpy as np

    cpu = platform.processor() or platform.machine()
    parts = [cpu, f"{os.cpu_count()} logical CPUs", f"numpy {np.__version__}"]
    try:
        import torch

        threads = torch.get_num_threads()
        parts.append(f"torch {torch.__version__} using {threads} thread{'' if threads == 1 else 's'}")
        if torch.cuda.is_available():
            parts.append(f"CUDA: {torch.cuda.get_device_name()}")
    except ImportError:  # NumPy-only install
        pass
    return ", ".join(parts)


# Windows' process_time advances in clock ticks of about 15 ms: too coarse to time a call, so no CPU time there.
CPU_TIME_AVAILABLE = sys.platform != "win32"


class _CpuTimed:
    """Wraps a function to record the CPU time of the process (``time.process_time``) of each call."""

    def __init__(self, fn: Callable[[], object]) -> None:
        self.fn, self.seconds = fn, []

    def __call__(self) -> None:
        start = time.process_time()
        self.fn()
        self.seconds.append(time.process_time() - start)


def timed(
    functions: dict[tuple[str, str, str], Callable[[], object]], *, warmup: int, repeats: int, cuda: bool = False
) -> dict[tuple[str, str, str], tuple[Timing, Timing | None]]:
    """Time ``{(impl, device, pass): fn}`` interleaved (:func:`compare`).

    Returns the wall-clock :class:`Timing` of each and, for the CPU functions, a second one of
    **CPU time** (``time.process_time``: the seconds the processor spent on this process, all threads).
    Waiting for a core that other programs are using inflates wall-clock time, not CPU time, so on a
    shared machine CPU time shows the work more faithfully; with one thread on an idle machine the two
    agree. (With several threads, BLAS threads spinning while they wait count as CPU time.) On Windows,
    whose CPU-time clock ticks every ~15 ms, the CPU timings are ``None``.
    """
    wrapped = {key: _CpuTimed(fn) if key[1] == "cpu" and CPU_TIME_AVAILABLE else fn for key, fn in functions.items()}
    walls = compare({"/".join(key): fn for key, fn in wrapped.items()}, warmup=warmup, repeats=repeats,
                    device="cuda" if cuda else None)
    out = {}
    for key, wall in zip(wrapped, walls.values()):
        fn = wrapped[key]
        cpu = Timing(wall.name, tuple(fn.seconds[-repeats:])) if isinstance(fn, _CpuTimed) else None
        out[key] = (wall, cpu)
    return out
