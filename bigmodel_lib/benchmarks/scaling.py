"""How attention and a Transformer layer scale with the sequence length L: time and memory, one run.

Run ``python -m bigmodel_lib.benchmarks.scaling`` (``--quick`` for a seconds-long smoke run,
``--max-len``, ``--threads``, ``--device cpu|cuda|auto``). Chapter 03.5 timed one head's forward
pass; this goes on from there:

* **attention** ``(B, h, L, d_head)``: ``nn_numpy.scaled_dot_product_attention`` (forward),
  ``nn_torch.scaled_dot_product_attention`` (PyTorch's fused SDPA) forward and forward + backward on
  the CPU, and in float32 on CUDA when present;
* **multi-head attention** forward + backward, ``nn_numpy.MultiHeadAttention`` against
  ``nn_torch.MultiHeadAttention`` with the same weights (short L only: NumPy's backward is slow);
* **one encoder layer** ``nn_numpy.TransformerEncoderLayer`` against ``nn_torch.TransformerEncoderLayer``
  (same weights through ``load_state_dict``), forward and forward + backward;
* **memory** of one attention call: the ``(B, h, L, L)`` weights *computed* (``B h L^2`` x bytes per
  number) next to *measured* peaks -- ``tracemalloc`` for NumPy, ``torch.profiler``'s allocator events
  for PyTorch on the CPU (the explicit ``need_weights=True`` path against the fused one), and
  ``torch.cuda.max_memory_allocated`` for each CUDA SDPA backend (math, memory-efficient, flash).

Every function returns plain data, a list of dicts (one per measurement), so a notebook can plot it.
Implementations compared at one length are timed interleaved (:func:`~bigmodel_lib.benchmarks.timing.compare`),
so the ratios printed come from one run on one machine. Each CPU timing is recorded twice: wall-clock
and the process's CPU time (:func:`timed`), the steadier of the two on a shared machine. No pass/fail
thresholds here: the speed requirements live in :mod:`bigmodel_lib.benchmarks.attention`. Exit status 0
on success.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from bigmodel_lib import nn_numpy, nn_torch
from bigmodel_lib._checks import check_positive_int
from bigmodel_lib.benchmarks.timing import Timing, compare, load_average, machine_description
from bigmodel_lib.utils import limit_cpu_threads, pick_device

Row = dict[str, Any]

CPU_LENGTHS = (64, 128, 256, 512, 1024, 2048)
QUICK_LENGTHS = (16, 32, 64)

# -- small helpers --------------------------------------------------------------------------------


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


def attention_weights_bytes(batch: int, heads: int, length: int, itemsize: int = 4, length_k: int | None = None) -> int:
    """Bytes of the materialised weights ``(B, h, Lq, Lk)``: ``B * h * Lq * Lk * itemsize`` (``Lk`` = ``Lq``)."""
    for name, value in (("batch", batch), ("heads", heads), ("length", length), ("itemsize", itemsize)):
        check_positive_int("attention_weights_bytes", name, value)
    length_k = length if length_k is None else length_k
    check_positive_int("attention_weights_bytes", "length_k", length_k)
    return int(batch) * int(heads) * int(length) * int(length_k) * int(itemsize)


def encoder_layer_flops(length: int, d_model: int, d_ff: int, batch: int = 1) -> dict[str, int]:
    """Forward FLOPs of one encoder layer, split into the part linear in L and the ``L^2`` part.

    ``linear = B (8 L d^2 + 4 L d d_ff)`` (Q, K, V, output projections; the two FFN matrices) and
    ``attention = B * 4 L^2 d`` (``Q K^T`` and ``P V``; a multiply-add counts 2). They are equal at
    ``L = 2 d + d_ff`` (``6 d`` for ``d_ff = 4 d``): beyond it, the quadratic part dominates.
    """
    for name, value in (("length", length), ("d_model", d_model), ("d_ff", d_ff), ("batch", batch)):
        check_positive_int("encoder_layer_flops", name, value)
    linear = batch * (8 * length * d_model**2 + 4 * length * d_model * d_ff)
    attention = batch * 4 * length**2 * d_model
    return {"linear": linear, "attention": attention}


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


def _timing_row(benchmark: str, impl: str, device: str, dtype: str, pass_: str, length: int,
                timings: tuple[Timing, Timing | None], **shape: Any) -> Row:
    wall, cpu = timings
    return {"benchmark": benchmark, "impl": impl, "device": device, "dtype": dtype, "pass": pass_,
            "length": length, **shape, "median_s": wall.median, "best_s": wall.best,
            "cpu_median_s": None if cpu is None else cpu.median, "cpu_best_s": None if cpu is None else cpu.best,
            "repeats": len(wall.seconds)}


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
    """Time ``{(impl, device, pass): fn}`` interleaved (:func:`~bigmodel_lib.benchmarks.timing.compare`).

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


def _memory_row(impl: str, device: str, dtype: str, pass_: str, length: int, n_bytes: int | None, kind: str,
                method: str, note: str = "", **shape: Any) -> Row:
    return {"benchmark": "memory", "impl": impl, "device": device, "dtype": dtype, "pass": pass_,
            "length": length, **shape, "bytes": n_bytes, "kind": kind, "method": method, "note": note}


def _cuda_ok(device: torch.device | None) -> bool:
    return device is not None and device.type == "cuda" and torch.cuda.is_available()


def _rng_arrays(shape: tuple[int, ...], count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape, dtype=np.float32) for _ in range(count)]


def _backward(out: torch.Tensor, inputs: Sequence[torch.Tensor]) -> None:
    """``out.sum()`` backward into ``inputs`` (grads cleared first, so nothing accumulates)."""
    for x in inputs:
        x.grad = None
    out.sum().backward()


# -- time: attention --------------------------------------------------------------------------------


def _torch_attention_passes(qkv: list[torch.Tensor]) -> dict[str, Callable[[], None]]:
    """``{"forward": ..., "forward+backward": ...}`` closures of the library's torch SDPA on ``q, k, v``."""

    def forward() -> None:
        with torch.no_grad():
            nn_torch.scaled_dot_product_attention(*qkv)

    def forward_backward() -> None:
        _backward(nn_torch.scaled_dot_product_attention(*qkv), tuple(qkv))

    return {"forward": forward, "forward+backward": forward_backward}


def time_attention(
    lengths: Sequence[int] = CPU_LENGTHS,
    *,
    batch: int = 1,
    heads: int = 4,
    d_head: int = 64,
    cuda_device: torch.device | str | None = None,
    cpu_max_len: int | None = None,
    repeats: int = 3,
    warmup: int = 1,
) -> list[Row]:
    """Seconds per call of SDPA on ``(B, h, L, d_head)`` float32 inputs, for each length.

    Implementations (``impl``): ``numpy`` (forward), ``torch-cpu`` (forward, and forward +
    backward), and ``torch-cuda`` (both passes, float32, when ``cuda_device`` is a CUDA device).
    CPU implementations stop at ``cpu_max_len`` (default: no limit); all those at one length are
    timed interleaved. FLOPs of the forward: ``4 B h L^2 d_head``; the backward about twice that.
    """
    lengths = check_lengths("time_attention", lengths)
    for name, value in (("batch", batch), ("heads", heads), ("d_head", d_head), ("repeats", repeats)):
        check_positive_int("time_attention", name, value)
    cuda = torch.device(cuda_device) if cuda_device is not None else None
    use_cuda = _cuda_ok(cuda)
    if cuda is not None and not use_cuda:
        raise ValueError(f"time_attention: 'cuda_device' must be a CUDA device on a machine with CUDA, got {cuda}")
    rows: list[Row] = []
    shape_info = {"batch": batch, "heads": heads, "d_head": d_head}
    for length in lengths:
        on_cpu = cpu_max_len is None or length <= cpu_max_len
        q, k, v = _rng_arrays((batch, heads, length, d_head), 3)  # each (B, h, L, d_head)
        functions: dict[tuple[str, str, str], Callable[[], object]] = {}
        if on_cpu:

            def numpy_forward(q=q, k=k, v=v) -> None:
                nn_numpy.scaled_dot_product_attention(q, k, v)

            functions[("numpy", "cpu", "forward")] = numpy_forward
            cpu_tensors = [torch.from_numpy(a).requires_grad_(True) for a in (q, k, v)]
            for pass_, fn in _torch_attention_passes(cpu_tensors).items():
                functions[("torch-cpu", "cpu", pass_)] = fn
        if use_cuda:
            cuda_tensors = [torch.from_numpy(a).to(cuda).requires_grad_(True) for a in (q, k, v)]
            for pass_, fn in _torch_attention_passes(cuda_tensors).items():
                functions[("torch-cuda", "cuda", pass_)] = fn
        if not functions:
            continue
        for (impl, device, pass_), timing in timed(functions, warmup=warmup, repeats=repeats, cuda=use_cuda).items():
            rows.append(_timing_row("attention", impl, device, "float32", pass_, length, timing, **shape_info))
    return rows


def time_multihead(
    lengths: Sequence[int] = (64, 128, 256, 512),
    *,
    batch: int = 1,
    d_model: int = 256,
    heads: int = 4,
    repeats: int = 3,
    warmup: int = 1,
    seed: int = 0,
) -> list[Row]:
    """Forward + backward of ``nn_numpy.MultiHeadAttention`` and ``nn_torch.MultiHeadAttention``, same weights, CPU.

    Self-attention on ``x (B, L, d_model)`` float32; the outputs are checked equal before timing.
    """
    lengths = check_lengths("time_multihead", lengths)
    for name, value in (("batch", batch), ("d_model", d_model), ("heads", heads), ("repeats", repeats)):
        check_positive_int("time_multihead", name, value)
    ours = nn_numpy.MultiHeadAttention(d_model, heads, rng=np.random.default_rng(seed))
    theirs = nn_torch.MultiHeadAttention(d_model, heads)
    theirs.load_state_dict(ours.state_dict())
    rows: list[Row] = []
    for length in lengths:
        x, grad = _rng_arrays((batch, length, d_model), 2, seed=length)  # each (B, L, d_model)
        tx, tgrad = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(grad)
        with torch.no_grad():
            diff = float(np.abs(ours(x) - theirs(tx).numpy()).max())
        if diff > 1e-3:
            raise AssertionError(f"time_multihead: NumPy and PyTorch outputs differ by {diff:.2e} at L={length}")

        def numpy_step(x=x, grad=grad) -> None:
            ours.zero_grad()
            ours(x)
            ours.backward(grad)

        def torch_step(tx=tx, tgrad=tgrad) -> None:
            theirs.zero_grad(set_to_none=True)
            tx.grad = None
            theirs(tx).backward(tgrad)

        functions = {("numpy", "cpu", "forward+backward"): numpy_step,
                     ("torch-cpu", "cpu", "forward+backward"): torch_step}
        for (impl, device, pass_), timing in timed(functions, warmup=warmup, repeats=repeats).items():
            rows.append(_timing_row("multihead", impl, device, "float32", pass_, length, timing,
                                    batch=batch, d_model=d_model, heads=heads))
    return rows


def time_encoder_layer(
    lengths: Sequence[int] = CPU_LENGTHS,
    *,
    batch: int = 1,
    d_model: int = 128,
    heads: int = 4,
    d_ff: int | None = None,
    cuda_device: torch.device | str | None = None,
    cpu_max_len: int | None = None,
    numpy_max_len: int | None = None,
    repeats: int = 3,
    warmup: int = 1,
    seed: int = 0,
) -> list[Row]:
    """Forward, and forward + backward, of one post-LN encoder layer: NumPy, PyTorch CPU, PyTorch CUDA.

    Same weights in all three (``load_state_dict`` of the NumPy layer's ``state_dict``); outputs are
    checked equal before timing. ``d_ff`` defaults to ``4 d_model``. Each row also carries the
    layer's forward FLOPs split into its linear and ``L^2`` parts (:func:`encoder_layer_flops`).
    """
    lengths = check_lengths("time_encoder_layer", lengths)
    d_ff = 4 * d_model if d_ff is None else d_ff
    for name, value in (("batch", batch), ("d_model", d_model), ("heads", heads), ("d_ff", d_ff),
                        ("repeats", repeats)):
        check_positive_int("time_encoder_layer", name, value)
    cuda = torch.device(cuda_device) if cuda_device is not None else None
    use_cuda = _cuda_ok(cuda)
    if cuda is not None and not use_cuda:
        raise ValueError(f"time_encoder_layer: 'cuda_device' must be a CUDA device on a machine with CUDA, got {cuda}")
    ours = nn_numpy.TransformerEncoderLayer(d_model, heads, d_ff, rng=np.random.default_rng(seed))
    cpu_layer = nn_torch.TransformerEncoderLayer(d_model, heads, d_ff)
    cpu_layer.load_state_dict(ours.state_dict())
    layers: dict[str, nn_torch.TransformerEncoderLayer] = {"torch-cpu": cpu_layer}
    if use_cuda:
        layers["torch-cuda"] = nn_torch.TransformerEncoderLayer(d_model, heads, d_ff, device=cuda)
        layers["torch-cuda"].load_state_dict(ours.state_dict())
    shape_info = {"batch": batch, "d_model": d_model, "heads": heads, "d_ff": d_ff}
    rows: list[Row] = []
    for length in lengths:
        on_cpu = cpu_max_len is None or length <= cpu_max_len
        numpy_too = on_cpu and (numpy_max_len is None or length <= numpy_max_len)
        x, grad = _rng_arrays((batch, length, d_model), 2, seed=length)  # each (B, L, d_model)
        functions: dict[tuple[str, str, str], Callable[[], object]] = {}
        if numpy_too:
            y_numpy = ours(x)

            def numpy_forward(x=x) -> None:
                ours(x)

            def numpy_forward_backward(x=x, grad=grad) -> None:
                ours.zero_grad()
                ours(x)
                ours.backward(grad)

            functions[("numpy", "cpu", "forward")] = numpy_forward
            functions[("numpy", "cpu", "forward+backward")] = numpy_forward_backward
        for impl, layer in layers.items():
            device = "cuda" if impl == "torch-cuda" else "cpu"
            if device == "cpu" and not on_cpu:
                continue
            tx = torch.from_numpy(x).to(device).requires_grad_(True)
            tgrad = torch.from_numpy(grad).to(device)
            if numpy_too:
                with torch.no_grad():
                    diff = float(np.abs(layer(tx).cpu().numpy() - y_numpy).max())
                if diff > 1e-3:
                    raise AssertionError(f"time_encoder_layer: {impl} and NumPy differ by {diff:.2e} at L={length}")

            def forward(layer=layer, tx=tx) -> None:
                with torch.no_grad():
                    layer(tx)

            def forward_backward(layer=layer, tx=tx, tgrad=tgrad) -> None:
                layer.zero_grad(set_to_none=True)
                tx.grad = None
                layer(tx).backward(tgrad)

            functions[(impl, device, "forward")] = forward
            functions[(impl, device, "forward+backward")] = forward_backward
        if not functions:
            continue
        flops = encoder_layer_flops(length, d_model, d_ff, batch)
        for (impl, device, pass_), timing in timed(functions, warmup=warmup, repeats=repeats, cuda=use_cuda).items():
            rows.append(_timing_row("encoder_layer", impl, device, "float32", pass_, length, timing, **shape_info,
                                    flops_linear=flops["linear"], flops_attention=flops["attention"]))
    return rows


# -- memory ----------------------------------------------------------------------------------------


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
def _quiet_stderr() -> Iterator[None]:
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

    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
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
        q, k, v = _rng_arrays((batch, heads, length, d_head), 3)  # each (B, h, L, d_head)
        rows.append(_memory_row("analytic", "cpu", "float32", "forward", length,
                                attention_weights_bytes(batch, heads, length, 4), "computed", "B*h*L*L*4",
                                **shape_info))
        nn_numpy.scaled_dot_product_attention(q, k, v)  # warm-up: first-call allocations are not the peak
        rows.append(_memory_row("numpy", "cpu", "float32", "forward", length,
                                tracemalloc_peak_bytes(lambda q=q, k=k, v=v: nn_numpy.scaled_dot_product_attention(
                                    q, k, v)), "measured", "tracemalloc", **shape_info))
        tq, tk, tv = (torch.from_numpy(a).requires_grad_(True) for a in (q, k, v))
        for impl, need_weights in (("torch-explicit", True), ("torch-fused", False)):
            def forward(need_weights=need_weights, tq=tq, tk=tk, tv=tv) -> None:
                with torch.no_grad():
                    nn_torch.scaled_dot_product_attention(tq, tk, tv, need_weights=need_weights)

            def forward_backward(need_weights=need_weights, tq=tq, tk=tk, tv=tv) -> None:
                result = nn_torch.scaled_dot_product_attention(tq, tk, tv, need_weights=need_weights)
                _backward(result[0] if need_weights else result, (tq, tk, tv))

            for pass_, fn in (("forward", forward), ("forward+backward", forward_backward)):
                fn()  # warm-up
                for x in (tq, tk, tv):
                    x.grad = None  # so the measured peak includes the new gradients, not a swap with old ones
                rows.append(_memory_row(impl, "cpu", "float32", pass_, length, torch_cpu_peak_bytes(fn), "measured",
                                        "torch.profiler", **shape_info))
    return rows


CUDA_BACKENDS = ("math", "efficient", "flash")


def cuda_sdpa_backends(
    lengths: Sequence[int],
    *,
    device: torch.device | str = "cuda",
    batch: int = 1,
    heads: int = 8,
    d_head: int = 64,
    dtype: torch.dtype | None = None,
    repeats: int = 5,
    warmup: int = 2,
) -> list[Row]:
    """Time and peak memory of ``F.scaled_dot_product_attention`` with each CUDA backend forced.

    Backends via ``torch.nn.attention.sdpa_kernel``: ``math`` (materialises the ``(B, h, L, L)``
    weights), ``efficient`` (memory-efficient attention), ``flash`` (FlashAttention-2; fp16/bf16 only).
    ``dtype`` defaults to bfloat16 where the GPU supports it, else float16. Memory: ``max_memory_allocated``
    above the start, reset before each call, for the forward (``no_grad``) and forward + backward.
    A backend that cannot run these inputs gives rows with ``None`` and the reason in ``note``.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    device = torch.device(device)
    if not _cuda_ok(device):
        raise ValueError(f"cuda_sdpa_backends: 'device' must be a CUDA device on a machine with CUDA, got {device}")
    lengths = check_lengths("cuda_sdpa_backends", lengths)
    if dtype is None:
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise ValueError(f"cuda_sdpa_backends: this GPU ({torch.cuda.get_device_name(device)}) does not support "
                         "bfloat16; pass dtype=torch.float16")
    backends = {"math": SDPBackend.MATH, "efficient": SDPBackend.EFFICIENT_ATTENTION,
                "flash": SDPBackend.FLASH_ATTENTION}
    dtype_name = str(dtype).replace("torch.", "")
    itemsize = torch.tensor([], dtype=dtype).element_size()
    shape_info = {"batch": batch, "heads": heads, "d_head": d_head}
    rows: list[Row] = []
    for length in lengths:
        generator = torch.Generator(device="cpu").manual_seed(length)
        q, k, v = (torch.randn(batch, heads, length, d_head, generator=generator).to(device, dtype).requires_grad_(True)
                   for _ in range(3))  # each (B, h, L, d_head)
        rows.append(_memory_row("analytic", "cuda", dtype_name, "forward", length,
                                attention_weights_bytes(batch, heads, length, itemsize), "computed",
                                f"B*h*L*L*{itemsize}", **shape_info))
        functions: dict[tuple[str, str], Callable[[], object]] = {}
        for name, backend in backends.items():
            def forward(backend=backend, q=q, k=k, v=v) -> None:
                with sdpa_kernel(backend), torch.no_grad():
                    torch.nn.functional.scaled_dot_product_attention(q, k, v)

            def forward_backward(backend=backend, q=q, k=k, v=v) -> None:
                with sdpa_kernel(backend):
                    _backward(torch.nn.functional.scaled_dot_product_attention(q, k, v), (q, k, v))

            try:
                forward_backward()
            except RuntimeError as error:  # e.g. flash on float32 or an old GPU: "No available kernel"
                note = str(error).strip().splitlines()[0][:200]
                for pass_ in ("forward", "forward+backward"):
                    rows.append(_memory_row(f"cuda-{name}", "cuda", dtype_name, pass_, length, None, "measured",
                                            "torch.cuda.max_memory_allocated", note=note, **shape_info))
                continue
            for pass_, fn in (("forward", forward), ("forward+backward", forward_backward)):
                for x in (q, k, v):
                    x.grad = None  # the peak then includes the new gradients, not a swap with old ones
                rows.append(_memory_row(f"cuda-{name}", "cuda", dtype_name, pass_, length, cuda_peak_bytes(fn, device),
                                        "measured", "torch.cuda.max_memory_allocated", **shape_info))
                functions[(f"cuda-{name}", pass_)] = fn
        if functions:
            keyed = {(impl, "cuda", pass_): fn for (impl, pass_), fn in functions.items()}
            for (impl, _, pass_), timing in timed(keyed, warmup=warmup, repeats=repeats, cuda=True).items():
                rows.append(_timing_row("cuda_sdpa", impl, "cuda", dtype_name, pass_, length, timing, **shape_info))
        del q, k, v, functions, forward, forward_backward  # free this length's tensors before the next
        torch.cuda.empty_cache()
    return rows


# -- the whole run ---------------------------------------------------------------------------------


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
    cuda = dev if _cuda_ok(dev) else None
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


# -- printing --------------------------------------------------------------------------------------


def _human_bytes(n: int | None) -> str:
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
                cells.append(f"{_human_bytes(value):>{width}}")
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
        print(f"device: {device}" + ("" if _cuda_ok(device) else " (no CUDA: GPU rows not measured in this run)"))
        print(f"load average before: {load_average()}")
        rows = run(max_len=args.max_len, device=device, quick=args.quick, repeats=args.repeats)
        print(report(rows))
        print(f"\nload average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
