"""Reproducibility and device helpers shared by every notebook."""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported lazily so NumPy-only readers never pay for it
    import torch

_numpy_rng: np.random.Generator = np.random.default_rng()


def get_numpy_rng() -> np.random.Generator:
    """The generator that NumPy models draw their initial weights and dropout masks from.

    :func:`seed_everything` replaces it, so seeding once makes every NumPy model deterministic.
    """
    return _numpy_rng


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy (legacy and :func:`get_numpy_rng`) and PyTorch in one call.

    PyTorch is seeded only if it is installed; ``torch.manual_seed`` also seeds every CUDA device.
    """
    global _numpy_rng
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed_everything: 'seed' must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 -- learners still call np.random.* directly
    _numpy_rng = np.random.default_rng(seed)
    try:
        import torch
    except ImportError:  # a NumPy-only install is allowed
        return
    torch.manual_seed(seed)


def pick_device(verbose: bool = True) -> torch.device:
    """Return the best available device: CUDA, then Apple MPS, then CPU.

    With ``verbose`` it prints one line saying what was found, so a notebook's output shows
    which hardware produced its numbers. ``BIGMODEL_DEVICE=cpu`` forces a device.
    """
    import torch

    forced = os.environ.get("BIGMODEL_DEVICE")
    if forced:
        device = torch.device(forced)
    elif torch.cuda.is_available():
        device = torch.device("cuda")
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = torch.device("mps")
    else:
        device = torch.device("cpu")
    if verbose:
        print(describe_device(device))
    return device


def describe_device(device: torch.device | str) -> str:
    """One line naming the device, e.g. ``cuda: NVIDIA H100 80GB HBM3 (79.1 GiB)``."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"cuda: {props.name} ({props.total_memory / 2**30:.1f} GiB)"
    if device.type == "mps":
        return "mps: Apple GPU (Metal)"
    return f"cpu: {os.cpu_count()} logical cores, torch using {torch.get_num_threads()} threads"
