"""What ``nn_numpy.cnn`` and ``nn_torch.cnn`` share: input checks, configs and key maps.

Both packages import these, so a bad input fails the same way, with the same message, in NumPy and
in PyTorch; neither model package imports the other.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bigmodel_lib._checks import (
    check_floating,
    check_ndim,
    check_positive_int,
    shape_str,
)

IntPair = int | tuple[int, int]

IMAGE_LAYOUT = "(B, C, H, W)"

def to_pair(where: str, name: str, value: Any, *, minimum: int = 1) -> tuple[int, int]:
    """``3 -> (3, 3)``; ``(3, 2)`` stays. Each entry must be an int ``>= minimum`` (0 for padding)."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum for v in pair
    ):
        kind = "positive int" if minimum >= 1 else "non-negative int"
        raise ValueError(f"{where}: '{name}' must be a {kind} or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])

def check_image(where: str, name: str, x: Any, channels: int | None = None) -> None:
    """A float ``(B, C, H, W)`` batch, with ``C == channels`` when given (NumPy arrays and tensors)."""
    check_floating(where, name, x)
    check_ndim(where, name, x, 4, IMAGE_LAYOUT)
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"{where}: '{name}' expected shape (B, {channels}, H, W) with {channels} input channels, "
            f"got {shape_str(x)} (NCHW layout: channels come second)"
        )

def check_fits(where: str, name: str, x: Any, kernel: tuple[int, int], padding: tuple[int, int]) -> None:
    """The (padded) image must be at least as large as the kernel, or there is no output pixel."""
    height, width = int(x.shape[-2]) + 2 * padding[0], int(x.shape[-1]) + 2 * padding[1]
    if height < kernel[0] or width < kernel[1]:
        if padding == (0, 0):
            size, rule = f"{height}x{width}", "H >= kh and W >= kw"
        else:
            size, rule = f"{height}x{width} after padding {padding}", "H + 2*padding >= kh and W + 2*padding >= kw"
        raise ValueError(
            f"{where}: '{name}' of shape {shape_str(x)} is {size}, smaller than the kernel "
            f"{kernel[0]}x{kernel[1]}; expected {rule}"
        )

def to_pair_or_value(value: Any) -> Any:
    """``2 -> (2, 2)`` for ints (so ``1`` and ``(1, 1)`` compare equal); anything else unchanged."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, np.integer)):
        return (int(value), int(value))
    return tuple(value) if isinstance(value, (tuple, list)) else value

def cnn_layers(channels: Sequence[int], in_channels: int, image_size: int, conv: Callable[..., Any],
               relu: Callable[[], Any], pool: Callable[..., Any], flatten: Callable[[], Any],
               **conv_kwargs: Any) -> tuple[list, int]:
    """``[Conv 3x3 pad 1, ReLU, MaxPool 2] * len(channels) + [Flatten]`` and the flattened width.

    Shared by the NumPy and PyTorch ``DigitsCNN`` so both get the same layers, hence the same keys.
    """
    channels = tuple(channels)
    if not channels:
        raise ValueError("DigitsCNN: 'channels' needs at least one convolution, got ()")
    for i, width in enumerate(channels):
        check_positive_int("DigitsCNN", f"channels[{i}]", width)
    check_positive_int("DigitsCNN", "in_channels", in_channels)
    check_positive_int("DigitsCNN", "image_size", image_size)
    side = image_size // 2 ** len(channels)
    if side < 1:
        raise ValueError(f"DigitsCNN: {len(channels)} poolings of 2 shrink a {image_size}x{image_size} image "
                         f"below 1x1; expected at most {int(math.log2(image_size))} entries in 'channels'")
    layers: list = []
    for fan_in, fan_out in zip((in_channels, *channels[:-1]), channels):
        layers += [conv(fan_in, fan_out, 3, padding=1, **conv_kwargs), relu(), pool(2)]
    layers.append(flatten())
    return layers, channels[-1] * side * side

def check_digits_input(where: str, x: Any, in_channels: int, image_size: int) -> None:
    """The model's input must be ``(B, in_channels, image_size, image_size)``, floating point."""
    check_image(where, "x", x, in_channels)
    if tuple(x.shape[2:]) != (image_size, image_size):
        raise ValueError(f"{where}: 'x' expected shape (B, {in_channels}, {image_size}, {image_size}), "
                         f"got {shape_str(x)}")
