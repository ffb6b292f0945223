"""Results as rows: the plain dicts every scaling benchmark returns, and how to select, compare and print them.

A row is one measurement: ``benchmark`` (``attention``, ``multihead``, ``encoder_layer``, ``memory``,
``cuda_sdpa``), ``impl``, ``device``, ``dtype``, ``pass`` (``forward`` or ``forward+backward``),
``length`` and the shape, then either times (``median_s``, ``best_s``, ``cpu_median_s``, ``cpu_best_s``)
or bytes (``bytes``, ``kind`` = computed/measured, ``method``, ``note``). A notebook plots them directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bigmodel_lib._checks import check_positive_int
from bigmodel_lib.benchmarks.timing import Timing

Row = dict[str, Any]


def check_lengths(where: str, lengths: Sequence[int]) -> list[int]:
    """A non-empty, strictly increasing list of positive ints."""
    lengths = list(lengths)
    if not lengths:
        raise ValueError(f"{where}: 'lengths' must hold at least one sequence length, got []")
    for n in lengths:
        check_positive_int(where, "lengths[i]", n)
    if any(b <= a for a, b in zip(lengths, lengths[1:])):
        raise ValueError(f"{where}: 'lengths' must be strictly increasing, got {lengths}")
    return [int(n) for n in lengths]



def fitted_slope(lengths: Sequence[float], values: Sequence[float]) -> float:
    """The exponent ``p`` of ``value ~ L^p``: the least-squares slope of ``log value`` against ``log L``."""
    x, y = np.log(np.asarray(lengths, dtype=float)), np.log(np.asarray(values, dtype=float))
    if x.size < 2 or x.size != y.size or not np.all(np.isfinite(y)):
        raise ValueError(f"fitted_slope: expected >= 2 lengths and as many positive values, got {list(lengths)} "
                         f"and {list(values)}")
    return float(np.polyfit(x, y, 1)[0])


def select(rows: Sequence[Row], key: str = "median_s", **match: Any) -> dict[int, Any]:
    """``{length: row[key]}`` for the rows whose fields equal ``match`` (``pass_`` matches ``"pass"``)."""
    match = {("pass" if k == "pass_" else k): v for k, v in match.items()}
    return {r["length"]: r[key] for r in rows if all(r.get(k) == v for k, v in match.items())}


def timing_row(benchmark: str, impl: str, device: str, dtype: str, pass_: str, length: int,
                timings: tuple[Timing, Timing | None], **shape: Any) -> Row:
    wall, cpu = timings
    return {"benchmark": benchmark, "impl": impl, "device": device, "dtype": dtype, "pass": pass_,
            "length": length, **shape, "median_s": wall.median, "best_s": wall.best,
            "cpu_median_s": None if cpu is None else cpu.median, "cpu_best_s": None if cpu is None else cpu.best,
            "repeats": len(wall.seconds)}



def memory_row(impl: str, device: str, dtype: str, pass_: str, length: int, n_bytes: int | None, kind: str,
                method: str, note: str = "", **shape: Any) -> Row:
    return {"benchmark": "memory", "impl": impl, "device": device, "dtype": dtype, "pass": pass_,
            "length": length, **shape, "bytes": n_bytes, "kind": kind, "method": method, "note": note}


def human_bytes(n: int | None) -> str:
    if n is None:
        return "n/a"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def format_table(rows: Sequence[Row], benchmark: str, key: str = "median_s") -> str:
    """One line per length, one column per (implementation, pass): milliseconds, or bytes for memory."""
    chosen = [r for r in rows if r["benchmark"] == benchmark]
    columns = list(dict.fromkeys((r["impl"], r["pass"]) for r in chosen))
    lengths = sorted({r["length"] for r in chosen})
    short = {"forward": "fwd", "forward+backward": "fwd+bwd"}
    labels = [impl if impl == "analytic" else f"{impl} {short.get(p, p)}" for impl, p in columns]
    width = max([10] + [len(label) + 2 for label in labels])
    header = f"{'L':>6}" + "".join(f"{label:>{width}}" for label in labels)
    lines = [header]
    for length in lengths:
        cells = []
        for impl, pass_ in columns:
            value = next((r[key] for r in chosen if r["length"] == length and r["impl"] == impl
                          and r["pass"] == pass_), "")
            if value == "":
                cells.append(f"{'-':>{width}}")
            elif key == "bytes":
                cells.append(f"{human_bytes(value):>{width}}")
            else:
                cells.append(f"{value * 1e3:>{width}.2f}")
        lines.append(f"{length:>6}" + "".join(cells))
    return "\n".join(lines)


def ratios(rows: Sequence[Row], benchmark: str, pass_: str, top: str, bottom: str, key: str = "median_s",
           **match: Any) -> dict[int, float]:
    """``{length: top / bottom}`` for one benchmark and pass, at the lengths where both were measured."""
    a = select(rows, key, benchmark=benchmark, impl=top, pass_=pass_, **match)
    b = select(rows, key, benchmark=benchmark, impl=bottom, pass_=pass_, **match)
    return {n: a[n] / b[n] for n in a if n in b and a[n] is not None and b[n]}


RATIOS = (
    ("attention", "forward", "numpy", "torch-cpu", "median_s", "SDPA forward, NumPy / torch-CPU"),
    ("attention", "forward", "numpy", "torch-cpu", "cpu_median_s", "  the same in CPU time"),
    ("attention", "forward+backward", "torch-cpu", "torch-cuda", "median_s", "SDPA fwd+bwd, torch-CPU / CUDA fp32"),
    ("multihead", "forward+backward", "numpy", "torch-cpu", "median_s", "MHA fwd+bwd, NumPy / torch-CPU"),
    ("multihead", "forward+backward", "numpy", "torch-cpu", "cpu_median_s", "  the same in CPU time"),
    ("encoder_layer", "forward+backward", "numpy", "torch-cpu", "median_s", "encoder layer fwd+bwd, NumPy / torch-CPU"),
    ("encoder_layer", "forward+backward", "numpy", "torch-cpu", "cpu_median_s", "  the same in CPU time"),
    ("encoder_layer", "forward+backward", "torch-cpu", "torch-cuda", "median_s",
     "encoder layer fwd+bwd, torch-CPU / CUDA"),
    ("memory", "forward", "torch-explicit", "torch-fused", "bytes", "CPU memory fwd, explicit / fused"),
    ("memory", "forward+backward", "torch-explicit", "torch-fused", "bytes", "CPU memory fwd+bwd, explicit / fused"),
    ("memory", "forward+backward", "cuda-math", "cuda-efficient", "bytes", "CUDA memory fwd+bwd, math / efficient"),
    ("memory", "forward+backward", "cuda-math", "cuda-flash", "bytes", "CUDA memory fwd+bwd, math / flash"),
    ("cuda_sdpa", "forward+backward", "cuda-math", "cuda-flash", "median_s", "CUDA time fwd+bwd, math / flash"),
)


def report(rows: Sequence[Row]) -> str:
    """The tables (median ms per call; peak bytes) and the ratios measured in this run."""
    out = []
    titles = {"attention": "Attention (SDPA), median ms per call",
              "multihead": "Multi-head attention, median ms per call",
              "encoder_layer": "One encoder layer, median ms per call",
              "cuda_sdpa": "CUDA SDPA backends, median ms per call"}
    for benchmark, title in titles.items():
        if any(r["benchmark"] == benchmark for r in rows):
            first = next(r for r in rows if r["benchmark"] == benchmark)
            shape = ", ".join(f"{k}={first[k]}" for k in ("batch", "heads", "d_head", "d_model", "d_ff") if k in first)
            out += [f"\n{title} ({shape}):", format_table(rows, benchmark)]
            if any(r.get("cpu_median_s") is not None for r in rows if r["benchmark"] == benchmark):
                cpu_rows = [r for r in rows if r["benchmark"] == benchmark and r.get("cpu_median_s") is not None]
                out += ["  the CPU implementations again, median CPU ms per call (process CPU time):",
                        format_table(cpu_rows, benchmark, key="cpu_median_s")]
    if any(r["benchmark"] == "memory" for r in rows):
        out += ["\nPeak memory of one attention call (analytic = computed; the others measured):",
                format_table(rows, "memory", key="bytes")]
        notes = {(r["impl"], r["note"]) for r in rows if r["benchmark"] == "memory" and r["note"]}
        out += [f"  {impl}: not run -- {note}" for impl, note in sorted(notes)]
    out.append("\nRatios measured in this run (top / bottom, per L; wall-clock medians unless 'CPU time', the "
               "process's CPU seconds, which waiting for a busy core does not inflate):")
    for benchmark, pass_, top, bottom, key, label in RATIOS:
        found = ratios(rows, benchmark, pass_, top, bottom, key)
        if found:
            out.append(f"  {label:<44}" + "  ".join(f"L={n}: {r:.2f}" for n, r in found.items()))
    return "\n".join(out)

