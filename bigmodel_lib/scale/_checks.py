"""Argument checks of :mod:`bigmodel_lib.scale`: each error names the function, the argument, what was
expected and what was received."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def positive_int(where: str, name: str, value: Any) -> int:
    """``value`` as an ``int`` when it is a positive integer (not a bool), else ``ValueError``/``TypeError``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where}: '{name}' must be a positive int, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{where}: '{name}' must be a positive int, got {value!r}")
    return int(value)


def positive_number(where: str, name: str, value: Any) -> float:
    """``value`` as a ``float`` when it is a finite number > 0 (``300e9`` tokens, ``1e23`` FLOPs)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where}: '{name}' must be a positive number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{where}: '{name}' must be a positive finite number, got {value!r}")
    return float(value)


def fraction(where: str, name: str, value: Any) -> float:
    """``value`` in ``(0, 1]`` (a utilisation such as MFU)."""
    value = positive_number(where, name, value)
    if value > 1:
        raise ValueError(f"{where}: '{name}' must be in (0, 1] (a fraction of the peak), got {value!r}")
    return value


def one_of(where: str, name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{where}: '{name}' must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value
