"""The three CUDA kernels of ``F.scaled_dot_product_attention`` forced one at a time: time and peak memory.

``torch.nn.attention.sdpa_kernel`` selects the backend: ``math`` (the formula, materialising the
``(B, h, L, L)`` weights), ``efficient`` (memory-efficient attention) and ``flash`` (FlashAttention-2,
float16/bfloat16 only). The figures that matter need a CUDA GPU; the same code runs on the CPU
(math and flash have CPU kernels there) so that it can be tested without one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from bigmodel_lib._checks import check_positive_int
from bigmodel_lib.benchmarks._shared import backward_sum, cuda_ok
from bigmodel_lib.benchmarks.counts import attention_weights_bytes
from bigmodel_lib.benchmarks.memory import cuda_peak_bytes, torch_cpu_peak_bytes
from bigmodel_lib.benchmarks.rows import Row, check_lengths, memory_row, timing_row
from bigmodel_lib.benchmarks.timing import timed

CUDA_BACKENDS = ("math", "efficient", "flash")


def sdpa_backends(
    lengths: Sequence[int],
    *,
    device: torch.device | str = "cuda",
    batch: int = 1,
    heads: int = 8,
    d_head: int = 64,
    dtype: torch.dtype | None = None,
    backends: Sequence[str] = CUDA_BACKENDS,
    repeats: int = 5,
    warmup: int = 2,
) -> list[Row]:
    """Time and peak memory of ``F.scaled_dot_product_attention`` with each backend forced, on ``device``.

    Backends via ``torch.nn.attention.sdpa_kernel``: ``math`` (materialises the ``(B, h, L, L)``
    weights), ``efficient`` (memory-efficient attention), ``flash`` (FlashAttention-2 on CUDA,
    fp16/bf16 only). ``dtype`` defaults to bfloat16 on a CUDA GPU that supports it, else float16; float32
    on the CPU. Memory: on CUDA ``max_memory_allocated`` above the start, reset before each call; on the
    CPU the profiler's allocator events (:func:`~bigmodel_lib.benchmarks.memory.torch_cpu_peak_bytes`);
    for the forward (``no_grad``) and forward + backward. A backend that cannot run these inputs (e.g.
    flash in float32 on CUDA, memory-efficient on the CPU) gives rows with ``None`` and the reason in
    ``note``. Rows: benchmark ``"<device type>_sdpa"`` (``cuda_sdpa``), impl ``"<device type>-<backend>"``.
    The CPU is supported so the same code can be exercised without a GPU; the figures that matter are CUDA's.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    where = "sdpa_backends"
    device = torch.device(device)
    cuda = device.type == "cuda"
    if cuda and not cuda_ok(device):
        raise ValueError(f"{where}: 'device' is {device}, but torch.cuda.is_available() is False")
    if device.type not in ("cuda", "cpu"):
        raise ValueError(f"{where}: 'device' must be a CUDA device or the CPU, got {device}")
    lengths = check_lengths(where, lengths)
    for name, value in (("batch", batch), ("heads", heads), ("d_head", d_head), ("repeats", repeats)):
        check_positive_int(where, name, value)
    known = {"math": SDPBackend.MATH, "efficient": SDPBackend.EFFICIENT_ATTENTION,
             "flash": SDPBackend.FLASH_ATTENTION}
    unknown = [name for name in backends if name not in known]
    if unknown or not backends:
        raise ValueError(f"{where}: 'backends' must be a non-empty subset of {CUDA_BACKENDS}, got {tuple(backends)}")
    if dtype is None:
        dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else torch.float32
    if cuda and dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise ValueError(f"{where}: this GPU ({torch.cuda.get_device_name(device)}) does not support "
                         "bfloat16; pass dtype=torch.float16")
    kind = device.type
    method = "torch.cuda.max_memory_allocated" if cuda else "torch.profiler"
    dtype_name = str(dtype).replace("torch.", "")
    itemsize = torch.tensor([], dtype=dtype).element_size()
    shape_info = {"batch": batch, "heads": heads, "d_head": d_head}
    rows: list[Row] = []

    def peak_bytes(fn: Callable[[], object]) -> int | None:
        return cuda_peak_bytes(fn, device) if cuda else torch_cpu_peak_bytes(fn)

    for length in lengths:
        generator = torch.Generator(device="cpu").manual_seed(length)
        q, k, v = (torch.randn(batch, heads, length, d_head, generator=generator).to(device, dtype).requires_grad_(True)
                   for _ in range(3))  # each (B, h, L, d_head)
        rows.append(memory_row("analytic", kind, dtype_name, "forward", length,
                               attention_weights_bytes(batch, heads, length, itemsize), "computed",
                               f"B*h*L*L*{itemsize}", **shape_info))
        functions: dict[tuple[str, str, str], Callable[[], object]] = {}
        for name in backends:
            backend = known[name]

            def forward(backend=backend, q=q, k=k, v=v) -> None:
                with sdpa_kernel(backend), torch.no_grad():
                    torch.nn.functional.scaled_dot_product_attention(q, k, v)

            def forward_backward(backend=backend, q=q, k=k, v=v) -> None:
                with sdpa_kernel(backend):
                    backward_sum(torch.nn.functional.scaled_dot_product_attention(q, k, v), (q, k, v))

            try:
                forward_backward()
            except RuntimeError as error:  # e.g. flash on float32 or an old GPU, out of memory: "No available kernel"
                note = str(error).strip().splitlines()[0][:200]
                for pass_ in ("forward", "forward+backward"):
                    rows.append(memory_row(f"{kind}-{name}", kind, dtype_name, pass_, length, None, "measured",
                                           method, note=note, **shape_info))
                if cuda:
                    torch.cuda.empty_cache()
                continue
            for pass_, fn in (("forward", forward), ("forward+backward", forward_backward)):
                for x in (q, k, v):
                    x.grad = None  # the peak then includes the new gradients, not a swap with old ones
                rows.append(memory_row(f"{kind}-{name}", kind, dtype_name, pass_, length, peak_bytes(fn),
                                       "measured", method, **shape_info))
                functions[(f"{kind}-{name}", kind, pass_)] = fn
        if functions:
            for (impl, _, pass_), timing in timed(functions, warmup=warmup, repeats=repeats, cuda=cuda).items():
                rows.append(timing_row(f"{kind}_sdpa", impl, kind, dtype_name, pass_, length, timing, **shape_info))
        del q, k, v, functions  # free this length's tensors before the next
        if cuda:
            torch.cuda.empty_cache()
    return rows


def cuda_sdpa_backends(lengths: Sequence[int], *, device: torch.device | str = "cuda", **kwargs: Any) -> list[Row]:
    """:func:`sdpa_backends` on a CUDA device (a ``ValueError`` on anything else); the same keyword arguments."""
    device = torch.device(device)
    if not cuda_ok(device):
        raise ValueError(f"cuda_sdpa_backends: 'device' must be a CUDA device on a machine with CUDA, got {device}")
    return sdpa_backends(lengths, device=device, **kwargs)
