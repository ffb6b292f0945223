"""Shared test settings: a non-interactive matplotlib backend and float64 torch helpers."""

from __future__ import annotations

import os

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def float64_default():
    """Make float64 torch's default dtype for one test (agreement tests compare in float64)."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)
