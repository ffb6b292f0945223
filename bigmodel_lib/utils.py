"""Reproducibility and device helpers shared by every notebook."""

from __future__ import annotations

import os
import random
import re
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
        device = parse_device_setting(forced)
    elif torch.cuda.is_available():
        device = torch.device("cuda")
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = torch.device("mps")
    else:
        device = torch.device("cpu")
    if verbose:
        print(describe_device(device))
    return device


_DEVICE_SETTING = re.compile(r"cpu|mps|cuda(:\d+)?")


def parse_device_setting(value: str) -> torch.device:
    """``BIGMODEL_DEVICE``'s value as a device: ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; anything else is refused.

    A device that is named but absent (``cuda`` on a machine without a GPU) is refused too, with the
    reason, instead of failing later inside the first model call.
    """
    import torch

    setting = value.strip().lower()
    if not _DEVICE_SETTING.fullmatch(setting):
        raise ValueError(f"BIGMODEL_DEVICE must be one of cpu, cuda, cuda:N (N = GPU index), mps; got {value!r}")
    device = torch.device(setting)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"BIGMODEL_DEVICE={value!r}, but PyTorch sees no CUDA GPU here; use cpu (or unset it)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"BIGMODEL_DEVICE={value!r}, but only {torch.cuda.device_count()} CUDA GPU(s) exist "
                             f"(indices 0..{torch.cuda.device_count() - 1})")
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"BIGMODEL_DEVICE={value!r}, but Apple's MPS backend is not available here; use cpu")
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
    threads = torch.get_num_threads()
    return f"cpu: {os.cpu_count()} logical cores, torch using {threads} thread{'s' if threads != 1 else ''}"


class limit_cpu_threads:  # noqa: N801 -- used like a function: limit_cpu_threads(1)
    """Limit NumPy's BLAS and PyTorch's CPU kernels to ``n`` threads (``None`` leaves the defaults).

    Called plainly it lasts for the session; used as ``with limit_cpu_threads(1): ...`` it restores
    the previous settings on exit. Why it matters: NumPy's BLAS and PyTorch each keep a pool of
    threads that spin while waiting, so on a 2-core laptop the two pools starve each other and a
    small matrix product can take 10x longer. One thread each keeps small models fast and timings
    steady; measure both settings before you trust a speed comparison.
    """

    def __init__(self, n: int | None) -> None:
        from threadpoolctl import threadpool_limits

        if n is not None and (not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1):
            raise ValueError(f"limit_cpu_threads: 'n' must be a positive int or None, got {n!r}")
        self.n = n
        self._blas = threadpool_limits(limits=n, user_api="blas") if n is not None else None
        try:
            import torch
        except ImportError:  # a NumPy-only install is allowed
            self._torch_previous = None
            return
        self._torch_previous = torch.get_num_threads()
        if n is not None:
            torch.set_num_threads(int(n))

    def restore(self) -> None:
        """Put back the thread counts that were in force before."""
        if self._blas is not None:
            self._blas.restore_original_limits()
        if self._torch_previous is not None:
            import torch

            torch.set_num_threads(self._torch_previous)

    def __repr__(self) -> str:
        # a notebook cell ending in limit_cpu_threads(1) shows this line, not "<... object at 0x7f...>"
        if self.n is None:
            return "limit_cpu_threads(None): NumPy's BLAS and PyTorch keep their default thread counts"
        threads = "1 thread" if self.n == 1 else f"{self.n} threads"
        return f"limit_cpu_threads({self.n}): NumPy's BLAS and PyTorch use {threads} each"

    def __enter__(self) -> limit_cpu_threads:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.restore()
