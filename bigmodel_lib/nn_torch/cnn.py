"""Convolutional layers in PyTorch: ``nn.Conv2d``/``nn.MaxPool2d``/``nn.Flatten`` with the library's checks.

Same class names, arguments and ``state_dict`` keys as :mod:`bigmodel_lib.nn_numpy.cnn`. The layers
are PyTorch's own, so everything PyTorch offers works unchanged: CUDA, ``channels_last`` memory
format (``model.to(memory_format=torch.channels_last)``, the layout GPU tensor cores prefer for
convolutions) and mixed precision (``torch.autocast("cuda", dtype=torch.bfloat16)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from bigmodel_lib._checks import check_parameter_dtype, check_positive_int, check_tensor, shape_str
from bigmodel_lib.contracts.cnn import (
    IntPair,
    check_digits_input,
    check_fits,
    check_image,
    cnn_layers,
    to_pair,
    to_pair_or_value,
)
from bigmodel_lib.nn_torch.activations import ReLU
from bigmodel_lib.nn_torch.container import Sequential
from bigmodel_lib.nn_torch.linear import Linear
from bigmodel_lib.nn_torch.module import Module


class Conv2d(Module, nn.Conv2d):
    """Cross-correlation over ``(B, C_in, H, W)``, ``W: (C_out, C_in, kh, kw)``: the keys of ``nn_numpy.Conv2d``.

    ``y[b, o, i, j] = bias[o] + sum_{c, p, q} W[o, c, p, q] * x_pad[b, c, s*i + p, s*j + q]``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: IntPair = 0,
        bias: bool = True,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        check_positive_int("Conv2d", "in_channels", in_channels)
        check_positive_int("Conv2d", "out_channels", out_channels)
        super().__init__(
            in_channels,
            out_channels,
            to_pair("Conv2d", "kernel_size", kernel_size),
            stride=to_pair("Conv2d", "stride", stride),
            padding=to_pair("Conv2d", "padding", padding, minimum=0),
            bias=bias,
            device=device,
            dtype=dtype,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("Conv2d", "x", x)
        check_image("Conv2d", "x", x, self.in_channels)
        check_fits("Conv2d", "x", x, self.kernel_size, self.padding)
        check_parameter_dtype("Conv2d", "x", x, self.weight)
        return super().forward(x)

    @classmethod
    def from_pytorch(cls, module: nn.Conv2d) -> Conv2d:
        """A copy of a ``torch.nn.Conv2d`` (zero padding given as ints, no dilation, no groups)."""
        for name, supported in (("dilation", (1, 1)), ("groups", 1), ("padding_mode", "zeros")):
            value = getattr(module, name)
            if to_pair_or_value(value) != to_pair_or_value(supported):
                raise ValueError(f"Conv2d.from_pytorch: '{name}' must be {supported!r}, got {value!r}")
        if isinstance(module.padding, str):
            raise ValueError(f"Conv2d.from_pytorch: 'padding' must be ints, got {module.padding!r}")
        layer = cls(module.in_channels, module.out_channels, tuple(module.kernel_size), stride=tuple(module.stride),
                    padding=tuple(module.padding), bias=module.bias is not None,
                    device=module.weight.device, dtype=module.weight.dtype)
        layer.load_state_dict(module.state_dict())
        return layer


class MaxPool2d(Module, nn.MaxPool2d):
    """Max over ``kh x kw`` windows, stride defaulting to the kernel size; no padding, floor mode."""

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None) -> None:
        kernel = to_pair("MaxPool2d", "kernel_size", kernel_size)
        super().__init__(kernel, stride=kernel if stride is None else to_pair("MaxPool2d", "stride", stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("MaxPool2d", "x", x)
        check_image("MaxPool2d", "x", x)
        check_fits("MaxPool2d", "x", x, self.kernel_size, (0, 0))
        return super().forward(x)

    @classmethod
    def from_pytorch(cls, module: nn.MaxPool2d) -> MaxPool2d:
        for name, supported in (("padding", 0), ("dilation", 1), ("ceil_mode", False), ("return_indices", False)):
            value = getattr(module, name)
            if to_pair_or_value(value) != to_pair_or_value(supported):
                raise ValueError(f"MaxPool2d.from_pytorch: '{name}' must be {supported!r}, got {value!r}")
        return cls(module.kernel_size, module.stride)


class Flatten(Module, nn.Flatten):
    """``(B, d1, d2, ...) -> (B, d1*d2*...)`` (``nn.Flatten()`` with its defaults)."""

    def __init__(self) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("Flatten", "x", x)
        if x.ndim < 2:
            raise ValueError(f"Flatten: 'x' expected shape (B, ...) (at least 2 dims), got {shape_str(x)}")
        return super().forward(x)


class DigitsCNN(Module):
    """``[Conv3x3(pad 1) -> ReLU -> MaxPool2] x len(channels) -> Flatten -> Linear`` (keys of ``nn_numpy``).

    GPU-ready: ``model.to(device, memory_format=torch.channels_last)`` and autocast work as for any
    PyTorch CNN; ``Flatten`` reads the logical NCHW order whatever the memory format.
    """

    def __init__(
        self,
        channels: Sequence[int] = (16, 32),
        num_classes: int = 10,
        *,
        in_channels: int = 1,
        image_size: int = 8,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        layers, width = cnn_layers(channels, in_channels, image_size, Conv2d, ReLU, MaxPool2d, Flatten,
                                   device=device, dtype=dtype)
        self.channels, self.in_channels, self.image_size = tuple(channels), in_channels, image_size
        self.features = Sequential(*layers)
        self.classifier = Linear(width, num_classes, device=device, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("DigitsCNN", "x", x)
        check_digits_input("DigitsCNN", x, self.in_channels, self.image_size)
        return self.classifier(self.features(x))  # (B, 1, 8, 8) -> (B, 128) -> (B, 10)
