"""Peak throughput of the hardware actually present, and model FLOPs utilisation (MFU).

Two sources of a peak, never one hard-coded figure:

* a **datasheet** table of dense peak FLOP/s per dtype for common NVIDIA GPUs, matched by
  ``torch.cuda.get_device_name()`` (:func:`lookup_gpu`, :func:`lookup_peak_flops`);
* a **measurement**: the FLOP/s of a large matrix product, ``2 n^3 / seconds``
  (:func:`measure_matmul_flops`), for an unknown GPU, Apple's MPS, or the CPU (which only ever
  gets the measured figure: CPU datasheets do not state a FLOP/s peak per dtype).

``mfu = achieved / peak = tokens_per_second * flops_per_token / peak_flops`` (Chowdhery et al.,
2022, *PaLM*, appendix B): the fraction of the hardware's arithmetic a training run turns into
model FLOPs. Recomputation, padding and other work the model does not need do not count.

Run ``python -m bigmodel_lib.benchmarks.hardware`` to print the peak of this machine.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bigmodel_lib._checks import check_positive_int
from bigmodel_lib.benchmarks.timing import machine_description, measure

if TYPE_CHECKING:
    import torch

TFLOPS = 1e12

# Dtype keys of the table: tensor-core bf16 / fp16 (float32 accumulate), tensor-core tf32 (float32
# matmuls when TF32 is allowed), and plain fp32 on the CUDA cores.
DTYPE_KEYS = ("bf16", "fp16", "tf32", "fp32")


#: The datasheets' "GB" of GPU memory are binary gigabytes: an A100 80GB reports 81920 MiB = 80 GiB.
GIB = 2**30


@dataclass(frozen=True)
class GpuSpec:
    """Published **dense** peak FLOP/s of one GPU (``None``: the dtype has no tensor-core path), its memory
    (``memory_gb``, the datasheet's figure; :attr:`memory_bytes`) and its launch ``year``.

    ``name`` is the product name the estimators use (``bigmodel_lib.scale.gpu_spec("A100")``).
    """

    name: str
    pattern: str  # regular expression searched in the lower-cased torch.cuda.get_device_name()
    bf16: float | None
    fp16: float | None
    tf32: float | None
    fp32: float
    source: str
    memory_gb: float | None = None
    year: int | None = None

    def peak(self, dtype: Any) -> float | None:
        """Dense peak FLOP/s for ``dtype`` (a torch dtype or ``"bf16"``, ``"fp16"``, ``"tf32"``, ``"fp32"``)."""
        return getattr(self, dtype_key(dtype))

    @property
    def memory_bytes(self) -> int | None:
        """Memory of one GPU in bytes: ``memory_gb * 2**30`` (see :data:`GIB`); a little of it is reserved."""
        return None if self.memory_gb is None else int(self.memory_gb * GIB)


# Memory (``memory_gb``) is the same datasheet's; where a model comes in two sizes (A100 40/80 GB, V100
# 16/32 GB) the table holds the larger, with the same peaks. ``year``: the product's launch year.
# Vendor datasheets state tensor-core figures *with 2:4 structured sparsity*, marked "*"; a dense
# matmul (what training runs) gets half of that. Every figure below is dense: the datasheet's
# sparse figure halved, or its dense figure where it gives one. Order matters: the first pattern
# that matches wins, so the specific names (H100 NVL, H100 PCIe) come before the general one.
_H100_DS = "NVIDIA H100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/h100), sparse figures halved"
_H200_DS = "NVIDIA H200 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/h200), sparse figures halved"
_ADA_DS = "NVIDIA Ada GPU architecture whitepaper v2.1, appendix A (GeForce RTX 4090), FP32 accumulate"
_GA102_DS = "NVIDIA Ampere GA102 GPU architecture whitepaper v2, table 9 (GeForce RTX 3090), FP32 accumulate"
GPU_SPECS: tuple[GpuSpec, ...] = (
    GpuSpec("H100 NVL", r"h100.*nvl", 835.5 * TFLOPS, 835.5 * TFLOPS, 417.5 * TFLOPS, 60 * TFLOPS, _H100_DS,
            memory_gb=94, year=2023),
    GpuSpec("H100 PCIe", r"h100.*pcie", 756.5 * TFLOPS, 756.5 * TFLOPS, 378 * TFLOPS, 51 * TFLOPS, _H100_DS,
            memory_gb=80, year=2022),
    GpuSpec("H100 SXM", r"h100", 989.5 * TFLOPS, 989.5 * TFLOPS, 494.5 * TFLOPS, 67 * TFLOPS, _H100_DS,
            memory_gb=80, year=2022),
    GpuSpec("H200 NVL", r"h200.*nvl", 835.5 * TFLOPS, 835.5 * TFLOPS, 417.5 * TFLOPS, 60 * TFLOPS, _H200_DS,
            memory_gb=141, year=2024),
    GpuSpec("H200 SXM", r"h200", 989.5 * TFLOPS, 989.5 * TFLOPS, 494.5 * TFLOPS, 67 * TFLOPS, _H200_DS,
            memory_gb=141, year=2024),
    GpuSpec("A100", r"a100", 312 * TFLOPS, 312 * TFLOPS, 156 * TFLOPS, 19.5 * TFLOPS,
            "NVIDIA A100 Tensor Core GPU datasheet (SXM and PCIe: same peaks), dense column", memory_gb=80, year=2020),
    GpuSpec("A10", r"\ba10\b", 125 * TFLOPS, 125 * TFLOPS, 62.5 * TFLOPS, 31.2 * TFLOPS,
            "NVIDIA A10 Tensor Core GPU datasheet, dense column", memory_gb=24, year=2021),
    GpuSpec("L40S", r"\bl40s\b", 362.05 * TFLOPS, 362.05 * TFLOPS, 183 * TFLOPS, 91.6 * TFLOPS,
            "NVIDIA L40S datasheet, dense column", memory_gb=48, year=2023),
    GpuSpec("L40", r"\bl40\b", 181.05 * TFLOPS, 181.05 * TFLOPS, 90.5 * TFLOPS, 90.5 * TFLOPS,
            "NVIDIA L40 datasheet, dense column", memory_gb=48, year=2022),
    GpuSpec("L4", r"\bl4\b", 121 * TFLOPS, 121 * TFLOPS, 60 * TFLOPS, 30.3 * TFLOPS,
            "NVIDIA L4 Tensor Core GPU datasheet, sparse figures halved", memory_gb=24, year=2023),
    GpuSpec("T4", r"\bt4\b", None, 65 * TFLOPS, None, 8.1 * TFLOPS,
            "NVIDIA T4 Tensor Core GPU datasheet (mixed-precision FP16/FP32); no bf16, no tf32",
            memory_gb=16, year=2018),
    GpuSpec("V100S PCIe", r"v100s", None, 130 * TFLOPS, None, 16.4 * TFLOPS,
            "NVIDIA V100 Tensor Core GPU datasheet (tensor performance = fp16); no bf16, no tf32",
            memory_gb=32, year=2019),
    GpuSpec("V100 PCIe", r"v100.*pcie", None, 112 * TFLOPS, None, 14 * TFLOPS,
            "NVIDIA V100 Tensor Core GPU datasheet (tensor performance = fp16); no bf16, no tf32",
            memory_gb=32, year=2017),
    GpuSpec("V100 SXM2", r"v100", None, 125 * TFLOPS, None, 15.7 * TFLOPS,
            "NVIDIA V100 Tensor Core GPU datasheet (tensor performance = fp16); no bf16, no tf32",
            memory_gb=32, year=2017),
    # "$": not the RTX 4090 D, the laptop parts or the 3090 Ti, which have other peaks.
    GpuSpec("RTX 4090", r"rtx 4090$", 165.2 * TFLOPS, 165.2 * TFLOPS, 82.6 * TFLOPS, 82.6 * TFLOPS, _ADA_DS,
            memory_gb=24, year=2022),
    GpuSpec("RTX 3090", r"rtx 3090$", 71 * TFLOPS, 71 * TFLOPS, 35.6 * TFLOPS, 35.6 * TFLOPS, _GA102_DS,
            memory_gb=24, year=2020),
)


def dtype_key(dtype: Any) -> str:
    """``torch.bfloat16`` / ``"bfloat16"`` / ``"bf16"`` -> ``"bf16"``; likewise fp16, tf32, fp32."""
    name = str(dtype).replace("torch.", "").lower()
    aliases = {"bfloat16": "bf16", "bf16": "bf16", "float16": "fp16", "half": "fp16", "fp16": "fp16",
               "tf32": "tf32", "float32": "fp32", "float": "fp32", "fp32": "fp32"}
    if name not in aliases:
        raise ValueError(f"dtype_key: 'dtype' must be one of bf16, fp16, tf32, fp32 (or the torch dtypes), "
                         f"got {dtype!r}")
    return aliases[name]


def lookup_gpu(device_name: str) -> GpuSpec | None:
    """The table entry whose pattern matches ``device_name`` (e.g. ``"NVIDIA H100 80GB HBM3"``), or None."""
    if not isinstance(device_name, str):
        raise TypeError(f"lookup_gpu: 'device_name' must be a str, got {type(device_name).__name__}")
    name = " ".join(device_name.lower().split())
    return next((spec for spec in GPU_SPECS if re.search(spec.pattern, name)), None)


def lookup_peak_flops(device_name: str, dtype: Any) -> float | None:
    """Datasheet dense peak FLOP/s of ``device_name`` for ``dtype``; None for an unknown GPU or dtype path."""
    key = dtype_key(dtype)
    spec = lookup_gpu(device_name)
    return None if spec is None else spec.peak(key)


def cuda_float32_key() -> str:
    """``"tf32"`` when PyTorch lets float32 matmuls use TF32 tensor cores, else ``"fp32"``."""
    import torch

    return "tf32" if torch.get_float32_matmul_precision() != "highest" else "fp32"


def _as_device(device: Any) -> torch.device:
    import torch

    return torch.device(device)


def default_matmul_size(device: Any) -> int:
    """8192 on a GPU (enough work to fill it), 1024 on the CPU (a fraction of a second)."""
    return 8192 if _as_device(device).type in ("cuda", "mps") else 1024


def matmul_workload(device: Any = "cpu", dtype: Any = None, n: int | None = None) -> tuple[Callable[[], object], int]:
    """``(fn, flops)``: a zero-argument ``(n, n) @ (n, n)`` product on ``device`` and its ``2 n^3`` FLOPs.

    ``dtype`` defaults to float32; ``n`` to :func:`default_matmul_size`. Time ``fn`` with
    :func:`~bigmodel_lib.benchmarks.timing.measure` (alone) or ``compare`` (interleaved with other work).
    """
    import torch

    device = _as_device(device)
    dtype = torch.float32 if dtype is None else dtype
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"matmul_workload: 'dtype' must be a floating torch dtype, got {dtype!r}")
    n = default_matmul_size(device) if n is None else n
    check_positive_int("matmul_workload", "n", n)
    generator = torch.Generator(device=device).manual_seed(0)
    a, b = (torch.randn(n, n, generator=generator, device=device, dtype=dtype) for _ in range(2))  # (n, n) each
    out = torch.empty(n, n, device=device, dtype=dtype)
    return (lambda: torch.matmul(a, b, out=out)), 2 * n**3  # n^2 outputs, each n multiply-adds = 2n FLOPs


def measure_matmul_flops(
    device: Any = "cpu", dtype: Any = None, n: int | None = None, *, repeats: int = 5, warmup: int = 2
) -> float:
    """Measured FLOP/s of an ``(n, n) @ (n, n)`` product: ``2 n^3 / best seconds`` (see :func:`matmul_workload`).

    The best of ``repeats`` timed calls is kept: a peak is what the hardware *can* do, not what it
    did while something else ran.
    """
    check_positive_int("measure_matmul_flops", "repeats", repeats)
    fn, flops = matmul_workload(device, dtype, n)
    return flops / measure(fn, warmup=warmup, repeats=repeats, name="matmul", device=str(_as_device(device))).best


@dataclass(frozen=True)
class Peak:
    """A peak FLOP/s and where it came from (``source``: ``"datasheet"`` or ``"measured"``)."""

    flops: float
    source: str
    detail: str

    def __str__(self) -> str:
        return f"{self.flops / TFLOPS:.3g} TFLOP/s ({self.source}: {self.detail})"


def datasheet_peak(device: Any = "cuda", dtype: Any = None) -> Peak | None:
    """The table's dense peak for the CUDA GPU ``device`` and ``dtype`` (float32 = tf32 when TF32 matmuls
    are allowed); ``None`` for a CPU, MPS, a GPU not in :data:`GPU_SPECS`, or a dtype it has no figure for."""
    import torch

    device = _as_device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    key = dtype_key(torch.float32 if dtype is None else dtype)
    if key == "fp32":
        key = cuda_float32_key()
    name = torch.cuda.get_device_name(device)
    spec = lookup_gpu(name)
    if spec is None or spec.peak(key) is None:
        return None
    return Peak(spec.peak(key), "datasheet", f"{name} = {spec.name}, dense {key}; {spec.source}")


def peak_flops(device: Any = "cpu", dtype: Any = None, *, n: int | None = None, repeats: int = 5) -> Peak:
    """The peak FLOP/s to divide by, for ``dtype`` (default float32) on ``device``.

    CUDA: :func:`datasheet_peak` when the GPU is in the table with a figure for the dtype, otherwise
    the measured matmul peak. CPU and MPS: always the measured matmul peak (:func:`measure_matmul_flops`).
    """
    import torch

    device = _as_device(device)
    dtype = torch.float32 if dtype is None else dtype
    table = datasheet_peak(device, dtype)
    if table is not None:
        return table
    n = default_matmul_size(device) if n is None else n
    measured = measure_matmul_flops(device, dtype, n, repeats=repeats)
    return Peak(measured, "measured", measured_detail(device, dtype, n, f"best of {repeats}"))


def measured_detail(device: Any, dtype: Any, n: int, how: str) -> str:
    """How a measured peak was obtained, in words (device, dtype, size, threads on a CPU)."""
    import torch

    device = _as_device(device)
    key = dtype_key(torch.float32 if dtype is None else dtype)
    if device.type == "cuda" and torch.cuda.is_available():
        name = torch.cuda.get_device_name(device)
        why = "not in the table" if lookup_gpu(name) is None else f"no {key} figure in the table"
        return f"{name} ({why}): {key} matmul {n}x{n}, {how}"
    n_threads = torch.get_num_threads()
    threads = f", torch using {n_threads} thread{'' if n_threads == 1 else 's'}" if device.type == "cpu" else ""
    return f"{device.type} {key} matmul {n}x{n}, {how}{threads}"


def mfu(tokens_per_second: float, flops_per_token: float, peak_flops: float) -> float:
    """Model FLOPs utilisation: ``tokens_per_second * flops_per_token / peak_flops`` (achieved / peak).

    For a training run ``flops_per_token`` is forward + backward (``GPT.flops_per_token``:
    ``6 N + 12 n_layer d T``, a multiply-add counted as 2 FLOPs); for inference, the forward alone.
    """
    for name, value in (("tokens_per_second", tokens_per_second), ("flops_per_token", flops_per_token),
                        ("peak_flops", peak_flops)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"mfu: '{name}' must be a positive finite number, got {value!r}")
    return tokens_per_second * flops_per_token / peak_flops


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Peak FLOP/s of this machine: datasheet (known GPU) and measured.")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps (default: pick_device)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: all)")
    args = parser.parse_args(argv)
    import torch

    from bigmodel_lib.utils import limit_cpu_threads, pick_device

    with limit_cpu_threads(args.threads):
        device = torch.device(args.device) if args.device else pick_device(verbose=False)
        print(f"machine: {machine_description()}; device: {device}")
        dtypes = [torch.float32]
        if device.type == "cuda":
            dtypes += [torch.float16] + ([torch.bfloat16] if torch.cuda.is_bf16_supported() else [])
        for dtype in dtypes:
            print(f"  {str(dtype).replace('torch.', ''):>9}: {peak_flops(device, dtype)}")
            if device.type == "cuda":
                print(f"  {'':>9}  measured: {measure_matmul_flops(device, dtype) / TFLOPS:.3g} TFLOP/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
