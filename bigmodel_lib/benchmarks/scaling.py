"""How attention and a Transformer layer scale with the sequence length L: time and memory, one run.

Run ``python -m bigmodel_lib.benchmarks.scaling`` (``--quick`` for a seconds-long smoke run,
``--max-len``, ``--threads``, ``--device cpu|cuda|auto``). This module is the command line and
:func:`run`, which calls, for powers of two up to ``max_len``:

* :mod:`~bigmodel_lib.benchmarks.attention_scaling` -- SDPA ``(B, h, L, d_head)``: NumPy forward,
  PyTorch's fused kernel forward and forward + backward (CPU; CUDA float32 when present), and a
  multi-head layer forward + backward, NumPy against PyTorch with the same weights;
* :mod:`~bigmodel_lib.benchmarks.layer_scaling` -- one encoder layer, NumPy / PyTorch CPU / CUDA;
* :mod:`~bigmodel_lib.benchmarks.memory` -- peak memory of one attention call, computed
  (:mod:`~bigmodel_lib.benchmarks.counts`) and measured;
* :mod:`~bigmodel_lib.benchmarks.cuda_sdpa` -- the math, memory-efficient and flash CUDA kernels.

Results are rows (:mod:`~bigmodel_lib.benchmarks.rows`), printed as tables and ratios measured in
this run. Each CPU timing is recorded in wall-clock and CPU time (the steadier of the two on a shared
machine). FLOPs follow the course convention (:mod:`~bigmodel_lib.benchmarks.counts`: a multiply-add
is 2 FLOPs; forward unless a row says forward + backward). No pass/fail thresholds here: the speed
requirements live in :mod:`bigmodel_lib.benchmarks.attention`. Exit status 0 on success.

The names below are re-exported so ``from bigmodel_lib.benchmarks import scaling; scaling.time_attention(...)``
keeps working.
"""

from __future__ import annotations

import argparse
import sys

import torch

from bigmodel_lib._checks import check_positive_int
from bigmodel_lib.benchmarks._shared import cuda_ok
from bigmodel_lib.benchmarks.attention_scaling import CPU_LENGTHS, time_attention, time_multihead
from bigmodel_lib.benchmarks.counts import (
    attention_layer_crossover,
    attention_weights_bytes,
    encoder_layer_flops,
    gpt_flops_per_token,
)
from bigmodel_lib.benchmarks.cuda_sdpa import CUDA_BACKENDS, cuda_sdpa_backends
from bigmodel_lib.benchmarks.layer_scaling import time_encoder_layer
from bigmodel_lib.benchmarks.memory import (
    attention_memory_cpu,
    cuda_peak_bytes,
    quiet_stderr,
    torch_cpu_peak_bytes,
    tracemalloc_peak_bytes,
)
from bigmodel_lib.benchmarks.rows import (
    RATIOS,
    Row,
    check_lengths,
    fitted_slope,
    format_table,
    human_bytes,
    ratios,
    report,
    select,
)
from bigmodel_lib.benchmarks.timing import CPU_TIME_AVAILABLE, Timing, load_average, machine_description, timed
from bigmodel_lib.utils import limit_cpu_threads, pick_device

__all__ = [
    "CPU_LENGTHS", "CPU_TIME_AVAILABLE", "CUDA_BACKENDS", "QUICK_LENGTHS", "RATIOS", "Row", "Timing",
    "attention_layer_crossover", "attention_memory_cpu", "attention_weights_bytes", "check_lengths",
    "cuda_peak_bytes", "cuda_sdpa_backends", "encoder_layer_flops", "fitted_slope", "format_table",
    "gpt_flops_per_token", "human_bytes", "load_average", "machine_description", "main", "quiet_stderr",
    "ratios", "report", "run", "select", "time_attention", "time_encoder_layer", "time_multihead", "timed",
    "torch_cpu_peak_bytes", "tracemalloc_peak_bytes",
]

QUICK_LENGTHS = (16, 32, 64)


def _resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None or device == "auto":
        return pick_device(verbose=False)
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"scaling: 'device' {device} was asked for, but torch.cuda.is_available() is False")
    return device


def run(
    *,
    max_len: int | None = None,
    device: str | torch.device | None = None,
    quick: bool = False,
    repeats: int | None = None,
    cpu_max_len: int = 2048,
    numpy_mha_max_len: int = 512,
) -> list[Row]:
    """Every measurement of this module, as one list of rows.

    Lengths are powers of two from 64 (16 with ``quick``) up to ``max_len`` (default 2048 on the
    CPU, 8192 when CUDA is used); the CPU implementations stop at ``cpu_max_len``, NumPy's
    multi-head forward + backward at ``numpy_mha_max_len``. ``quick``: tiny sizes, seconds in all.
    ``device``: ``None``/``"auto"`` (:func:`~bigmodel_lib.utils.pick_device`), ``"cpu"`` or ``"cuda"``;
    only CUDA adds GPU rows.
    """
    dev = _resolve_device(device)
    cuda = dev if cuda_ok(dev) else None
    if quick:
        lengths, repeats = list(QUICK_LENGTHS), repeats or 2
        if max_len is not None:
            lengths = [n for n in lengths if n <= max_len] or [max_len]
        attn = {"batch": 1, "heads": 2, "d_head": 8}
        layer = {"batch": 1, "d_model": 16, "heads": 2}
        mha = {"batch": 1, "d_model": 16, "heads": 2}
    else:
        max_len = max_len or (8192 if cuda is not None else 2048)
        check_positive_int("scaling.run", "max_len", max_len)
        lengths = [n for n in (2**i for i in range(6, 20)) if n <= max_len] or [max_len]
        repeats = repeats or 3
        attn = {"batch": 1, "heads": 4, "d_head": 64}
        layer = {"batch": 1, "d_model": 128, "heads": 4}
        mha = {"batch": 1, "d_model": 256, "heads": 4}
    cpu_lengths = [n for n in lengths if n <= cpu_max_len] or lengths[:1]
    rows = time_attention(lengths, **attn, cuda_device=cuda, cpu_max_len=cpu_max_len, repeats=repeats)
    rows += time_multihead([n for n in cpu_lengths if n <= numpy_mha_max_len] or cpu_lengths[:1], **mha,
                           repeats=repeats)
    rows += time_encoder_layer(lengths, **layer, cuda_device=cuda, cpu_max_len=cpu_max_len, repeats=repeats)
    rows += attention_memory_cpu(cpu_lengths[-4:], **attn)
    if cuda is not None:
        rows += cuda_sdpa_backends(lengths, device=cuda, heads=8 if not quick else 2,
                                   d_head=64 if not quick else 8, repeats=max(repeats, 5))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-len", type=int, default=None, help="longest L (default 2048 on CPU, 8192 with CUDA)")
    parser.add_argument("--threads", type=int, default=None, help="threads for torch and NumPy's BLAS")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of a few seconds")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per measurement (median kept)")
    args = parser.parse_args(argv)
    try:
        device = _resolve_device(args.device)
    except (ValueError, RuntimeError) as error:
        parser.error(str(error))
    with limit_cpu_threads(args.threads):
        print(f"machine: {machine_description()}")
        print(f"device: {device}" + ("" if cuda_ok(device) else " (no CUDA: GPU rows not measured in this run)"))
        print(f"load average before: {load_average()}")
        rows = run(max_len=args.max_len, device=device, quick=args.quick, repeats=args.repeats)
        print(report(rows))
        print(f"\nload average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
