"""What ``nn_numpy.mlp`` and ``nn_torch.mlp`` share: input checks, configs and key maps.

Both packages import these, so a bad input fails the same way, with the same message, in NumPy and
in PyTorch; neither model package imports the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def check_mlp_sizes(sizes: Any) -> tuple[int, ...]:
    """``sizes`` as a tuple of at least two positive ints (input, hidden..., output), or a clear error."""
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(f"MLP: 'sizes' must be a sequence of positive ints such as (1000, 500, 100, 1), got {sizes!r}")
    if len(sizes) < 2:
        raise ValueError(f"MLP: 'sizes' needs at least an input and an output size, got {tuple(sizes)}")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"MLP: 'sizes' must hold positive ints, got {tuple(sizes)} (bad entry {size!r})")
    return tuple(int(size) for size in sizes)


def mlp_layers(sizes: Sequence[int], activation: str, dropout: float, linear: Any, activations: dict,
               dropout_layer: Any, **linear_kwargs: Any) -> list:
    """The layer list ``Linear, act, [Dropout,] Linear, ...`` shared by the NumPy and PyTorch MLPs."""
    sizes = check_mlp_sizes(sizes)
    if activation not in activations:
        raise ValueError(f"MLP: 'activation' must be one of {sorted(activations)}, got {activation!r}")
    layers: list = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(linear(fan_in, fan_out, **linear_kwargs))
        if i < len(sizes) - 2:  # no activation after the output layer
            layers.append(activations[activation]())
            if dropout > 0:
                layers.append(dropout_layer(dropout))
    return layers
