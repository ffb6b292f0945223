"""Attention speed on the CPU: ours against PyTorch's, same weights, same inputs, one run.

Run ``python -m bigmodel_lib.benchmarks.attention``. Two comparisons, each printed as medians
and a ratio ``ours / theirs`` (below 1 = ours faster):

1. forward + backward of ``nn_torch.MultiHeadAttention`` against ``torch.nn.MultiheadAttention``
   (both ``need_weights=False``), B=4, L=512, d_model=256, 8 heads, float32. Requirement: ratio <= 1
   (``--tolerance`` adds slack for timer noise; 0 by default).
2. forward of ``nn_numpy.scaled_dot_product_attention`` against
   ``torch.nn.functional.scaled_dot_product_attention``: batch 1, 8 heads, L=512, d_head=64,
   float32. Requirement: ratio <= 3.

``--threads N`` runs everything with N threads (torch's intra-op pool and NumPy's BLAS, through
threadpoolctl); the default is what the machine gives. Multi-threaded OpenBLAS is fragile when
other processes share the cores (every matmul waits for its slowest thread), so the load average
is printed next to the numbers: compare timings taken on an idle machine. The process exits with
status 1 if a requirement fails.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

import numpy as np
import torch

from bigmodel_lib import nn_torch
from bigmodel_lib.benchmarks.timing import Timing, compare, machine_description
from bigmodel_lib.nn_numpy import scaled_dot_product_attention as numpy_sdpa


def bench_multihead(
    batch: int = 4, length: int = 512, d_model: int = 256, heads: int = 8, repeats: int = 15, warmup: int = 3
) -> dict[str, Timing]:
    """Forward + backward of our torch MHA and torch's, same weights and inputs (float32, CPU)."""
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(d_model, heads, batch_first=True)
    ours = nn_torch.MultiHeadAttention.from_pytorch(theirs)
    x_ours = torch.randn(batch, length, d_model, requires_grad=True)
    x_theirs = x_ours.detach().clone().requires_grad_(True)
    grad = torch.randn(batch, length, d_model)

    def run_ours() -> None:
        ours(x_ours).backward(grad)

    def run_theirs() -> None:
        out, _ = theirs(x_theirs, x_theirs, x_theirs, need_weights=False)
        out.backward(grad)

    with torch.no_grad():  # same function before timing it
        diff = (ours(x_ours) - theirs(x_theirs, x_theirs, x_theirs, need_weights=False)[0]).abs().max().item()
    if diff > 1e-4:
        raise AssertionError(f"bench_multihead: outputs differ by {diff:.2e}; the comparison would be meaningless")
    return compare({"ours (nn_torch.MultiHeadAttention)": run_ours, "torch.nn.MultiheadAttention": run_theirs},
                   warmup=warmup, repeats=repeats)


def bench_numpy_sdpa(
    batch: int = 1, heads: int = 8, length: int = 512, d_head: int = 64, repeats: int = 15, warmup: int = 3
) -> dict[str, Timing]:
    """Forward of NumPy SDPA against ``F.scaled_dot_product_attention`` (float32, CPU)."""
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((batch, heads, length, d_head), dtype=np.float32) for _ in range(3))
    tq, tk, tv = (torch.from_numpy(a) for a in (q, k, v))
    diff = np.abs(numpy_sdpa(q, k, v) - torch.nn.functional.scaled_dot_product_attention(tq, tk, tv).numpy()).max()
    if diff > 1e-4:
        raise AssertionError(f"bench_numpy_sdpa: outputs differ by {diff:.2e}; the comparison would be meaningless")

    def run_torch() -> None:
        with torch.no_grad():
            torch.nn.functional.scaled_dot_product_attention(tq, tk, tv)

    return compare({"ours (nn_numpy.scaled_dot_product_attention)": lambda: numpy_sdpa(q, k, v),
                    "torch F.scaled_dot_product_attention": run_torch}, warmup=warmup, repeats=repeats)


def _report(title: str, timings: dict[str, Timing], limit: float, tolerance: float = 0.0) -> bool:
    (ours, theirs) = timings.values()
    ratio = ours.median / theirs.median
    ok = ratio <= limit * (1 + tolerance)
    print(title)
    for t in timings.values():
        print(f"  {t}")
    print(f"  ratio ours/theirs (medians): {ratio:.2f}  -- requirement <= {limit:g}: {'PASS' if ok else 'FAIL'}")
    return ok


def _limit_threads(threads: int | None) -> contextlib.AbstractContextManager:
    """Run with ``threads`` threads in torch and in NumPy's BLAS (``None``: leave the defaults)."""
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    torch.set_num_threads(threads)
    return threadpool_limits(limits=threads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="threads for torch and NumPy's BLAS")
    parser.add_argument("--tolerance", type=float, default=0.0,
                        help="relative slack on the MHA requirement for timer noise (default 0)")
    args = parser.parse_args(argv)
    with _limit_threads(args.threads):
        print(f"machine: {machine_description()}; device: cpu")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        ok = _report(
            "1) multi-head attention, forward + backward, B=4 L=512 d_model=256 heads=8 float32:",
            bench_multihead(repeats=args.repeats, warmup=args.warmup),
            1.0,
            args.tolerance,
        )
        ok &= _report(
            "2) scaled dot-product attention, forward, batch 1 x 8 heads, L=512, d_head=64, float32:",
            bench_numpy_sdpa(repeats=args.repeats, warmup=args.warmup),
            3.0,
        )
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
