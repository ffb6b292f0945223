"""Peak memory of one attention call, computed and measured: NumPy (tracemalloc), PyTorch CPU (profiler), CUDA.

The materialised weights ``(B, h, L, L)`` take ``B h L^2`` numbers (:func:`~bigmodel_lib.benchmarks.counts.
attention_weights_bytes`); these functions measure what an implementation actually allocates, above what
was allocated before the call.
"""

from __future__ import annotations

import contextlib
import os
import tracemalloc
from collections.abc import Callable, Iterator, Sequence

import torch

from bigmodel_lib import nn_numpy, nn_torch
from bigmodel_lib._checks import check_positive_int
from bigmodel_lib.benchmarks._shared import backward_sum, rng_arrays
from bigmodel_lib.benchmarks.counts import attention_weights_bytes
from bigmodel_lib.benchmarks.rows import Row, check_lengths, memory_row


def tracemalloc_peak_bytes(fn: Callable[[], object]) -> int:
    """Peak bytes allocated (NumPy arrays included) while ``fn()`` runs, above what was allocated before."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        if not was_tracing:
            tracemalloc.stop()


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (the profiler's C++ start/stop lines); Python exceptions still propagate."""
    try:
        saved = os.dup(2)
    except OSError:  # no usable fd 2: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def torch_cpu_peak_bytes(fn: Callable[[], object]) -> int | None:
    """Peak CPU bytes held by PyTorch's allocator while ``fn()`` runs, above the start.

    Measured with ``torch.profiler.profile(profile_memory=True)``: every allocation and free is an
    event ``[memory]`` with a signed byte count; the peak is the maximum of their running sum in time
    order. (It reads the profiler's raw event list, ``prof.profiler.kineto_results``; ``None`` if a
    PyTorch version no longer offers it.) Memory freed inside one operator shows up too.
    """
    from torch.profiler import ProfilerActivity, profile

    with quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    try:
        events = prof.profiler.kineto_results.events()
        deltas = [(e.start_ns(), e.nbytes()) for e in events
                  if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU]
    except AttributeError:
        return None
    current = peak = 0
    for _, n_bytes in sorted(deltas, key=lambda t: t[0]):  # stable: ties keep the recorded order
        current += n_bytes
        peak = max(peak, current)
    return peak


def cuda_peak_bytes(fn: Callable[[], object], device: torch.device | str = "cuda") -> int:
    """Peak CUDA bytes allocated while ``fn()`` runs, above the start (``max_memory_allocated``, reset first)."""
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    fn()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) - before


def attention_memory_cpu(
    lengths: Sequence[int] = (256, 512, 1024, 2048),
    *,
    batch: int = 1,
    heads: int = 4,
    d_head: int = 64,
) -> list[Row]:
    """Peak memory of one float32 attention call on the CPU, computed and measured, for each length.

    * ``analytic`` (computed): the weights ``(B, h, L, L)``, ``B h L^2 * 4`` bytes;
    * ``numpy`` (measured, tracemalloc): ``nn_numpy.scaled_dot_product_attention`` forward;
    * ``torch-explicit`` / ``torch-fused`` (measured, torch.profiler): ``nn_torch.scaled_dot_product_attention``
      with ``need_weights=True`` (builds the ``L x L`` matrix) and without (the fused kernel), both
      forward (``no_grad``) and forward + backward.
    """
    lengths = check_lengths("attention_memory_cpu", lengths)
    for name, value in (("batch", batch), ("heads", heads), ("d_head", d_head)):
        check_positive_int("attention_memory_cpu", name, value)
    shape_info = {"batch": batch, "heads": heads, "d_head": d_head}
    rows: list[Row] = []
    for length in lengths:
        q, k, v = rng_arrays((batch, heads, length, d_head), 3)  # each (B, h, L, d_head)
        rows.append(memory_row("analytic", "cpu", "float32", "forward", length,
                                attention_weights_bytes(batch, heads, length, 4), "computed", "B*h*L*L*4",
                                **shape_info))
        nn_numpy.scaled_dot_product_attention(q, k, v)  # warm-up: first-call allocations are not the peak
        rows.append(memory_row("numpy", "cpu", "float32", "forward", length,
                                tracemalloc_peak_bytes(lambda q=q, k=k, v=v: nn_numpy.scaled_dot_product_attention(
                                    q, k, v)), "measured", "tracemalloc", **shape_info))
        tq, tk, tv = (torch.from_numpy(a).requires_grad_(True) for a in (q, k, v))
        for impl, need_weights in (("torch-explicit", True), ("torch-fused", False)):
            def forward(need_weights=need_weights, tq=tq, tk=tk, tv=tv) -> None:
                with torch.no_grad():
                    nn_torch.scaled_dot_product_attention(tq, tk, tv, need_weights=need_weights)

            def forward_backward(need_weights=need_weights, tq=tq, tk=tk, tv=tv) -> None:
                result = nn_torch.scaled_dot_product_attention(tq, tk, tv, need_weights=need_weights)
                backward_sum(result[0] if need_weights else result, (tq, tk, tv))

            for pass_, fn in (("forward", forward), ("forward+backward", forward_backward)):
                fn()  # warm-up
                for x in (tq, tk, tv):
                    x.grad = None  # so the measured peak includes the new gradients, not a swap with old ones
                rows.append(memory_row(impl, "cpu", "float32", pass_, length, torch_cpu_peak_bytes(fn), "measured",
                                        "torch.profiler", **shape_info))
    return rows
