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


@pytest.fixture
def fused_sdpa_calls(monkeypatch):
    """A list that grows by one at every call of ``F.scaled_dot_product_attention`` (the fused path)."""
    import torch

    calls: list[int] = []
    fused = torch.nn.functional.scaled_dot_product_attention

    def spy(*args, **kwargs):
        calls.append(1)
        return fused(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    return calls
