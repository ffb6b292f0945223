"""Knobs of the distillation loss (Hinton et al., 2015), checked the same way by both model packages."""

from __future__ import annotations

import math
from typing import Any


def check_distillation_knobs(where: str, temperature: Any, alpha: Any) -> tuple[float, float]:
    """``temperature > 0`` (finite) and ``0 <= alpha <= 1``; returns them as floats."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not math.isfinite(temperature) \
            or temperature <= 0:
        raise ValueError(f"{where}: 'temperature' must be a finite number > 0, got {temperature!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"{where}: 'alpha' must be a number in [0, 1], got {alpha!r}")
    return float(temperature), float(alpha)
