"""Inputs and small steps the scaling benchmarks share: random arrays, a backward pass, "is this CUDA"."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def cuda_ok(device: torch.device | None) -> bool:
    """True when ``device`` is a CUDA device and this machine has CUDA."""
    return device is not None and device.type == "cuda" and torch.cuda.is_available()


def rng_arrays(shape: tuple[int, ...], count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` standard-normal float32 arrays of ``shape`` from one seeded generator."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape, dtype=np.float32) for _ in range(count)]


def backward_sum(out: torch.Tensor, inputs: Sequence[torch.Tensor]) -> None:
    """``out.sum()`` backward into ``inputs`` (grads cleared first, so nothing accumulates)."""
    for x in inputs:
        x.grad = None
    out.sum().backward()
