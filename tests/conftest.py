"""Shared test settings: a non-interactive matplotlib backend and float64 torch helpers."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")
