"""Attention time as the sequence length L grows: SDPA alone, and a multi-head layer, NumPy against PyTorch.

* :func:`time_attention`: ``(B, h, L, d_head)`` float32 SDPA -- ``nn_numpy`` forward, PyTorch's fused
  kernel (``nn_torch.scaled_dot_product_attention``) forward and forward + backward on the CPU, and on
  CUDA when a device is given;
* :func:`time_multihead`: forward + backward of ``nn_numpy.MultiHeadAttention`` against
  ``nn_torch.MultiHeadAttention`` with the same weights (CPU).

Each CPU call is timed in wall-clock and CPU time (:func:`~bigmodel_lib.benchmarks.timing.timed`), all
implementations at one length interleaved. Forward FLOPs of SDPA: ``4 B h L^2 d_head`` (a multiply-add
is 2 FLOPs); the backward does about twice that, so forward + backward is about 3x (more on a fused
kernel, which recomputes the weights).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from bigmodel_lib import nn_numpy, nn_torch
from bigmodel_lib._checks import check_positive_int
from bigmodel_lib.benchmarks._shared import backward_sum, cuda_ok, rng_arrays
from bigmodel_lib.benchmarks.rows import Row, check_lengths, timing_row
from bigmodel_lib.benchmarks.timing import timed

CPU_LENGTHS = (64, 128, 256, 512, 1024, 2048)


def _torch_attention_passes(qkv: list[torch.Tensor]) -> dict[str, Callable[[], None]]:
    """``{"forward": ..., "forward+backward": ...}`` closures of the library's torch SDPA on ``q, k, v``."""

    def forward() -> None:
        with torch.no_grad():
            nn_torch.scaled_dot_product_attention(*qkv)

    def forward_backward() -> None:
        backward_sum(nn_torch.scaled_dot_product_attention(*qkv), tuple(qkv))

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
    use_cuda = cuda_ok(cuda)
    if cuda is not None and not use_cuda:
        raise ValueError(f"time_attention: 'cuda_device' must be a CUDA device on a machine with CUDA, got {cuda}")
    rows: list[Row] = []
    shape_info = {"batch": batch, "heads": heads, "d_head": d_head}
    for length in lengths:
        on_cpu = cpu_max_len is None or length <= cpu_max_len
        q, k, v = rng_arrays((batch, heads, length, d_head), 3)  # each (B, h, L, d_head)
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
            rows.append(timing_row("attention", impl, device, "float32", pass_, length, timing, **shape_info))
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
        x, grad = rng_arrays((batch, length, d_model), 2, seed=length)  # each (B, L, d_model)
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
            rows.append(timing_row("multihead", impl, device, "float32", pass_, length, timing,
                                    batch=batch, d_model=d_model, heads=heads))
    return rows

