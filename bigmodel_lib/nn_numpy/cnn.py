"""Convolutional layers in NumPy: ``Conv2d``, ``MaxPool2d``, ``Flatten`` and a small digits CNN.

Layout is PyTorch's NCHW -- images ``(B, C, H, W)``, conv weights ``(out, in, kh, kw)`` -- so weights
load either way through ``state_dict``. Like every deep-learning framework, ``Conv2d`` computes a
*cross-correlation* (the kernel is not flipped)::

    y[b, o, i, j] = bias[o] + sum_{c, p, q} W[o, c, p, q] * x_pad[b, c, s*i + p, s*j + q]

with ``x_pad`` the input zero-padded by ``padding`` on every side and ``s`` the stride. The output
size along each axis is ``floor((H + 2*padding - kh) / s) + 1``.

Both passes are vectorised with **im2col**: every ``kh x kw`` window of the input becomes one
column of a matrix, so the convolution is a single matrix product ``W2d @ cols``. Backward turns
the column gradients back into an image with **col2im**, a loop over the ``kh * kw`` kernel
offsets (never over pixels). ``im2col``/``col2im`` here equal ``torch.nn.functional.unfold``/``fold``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bigmodel_lib._checks import (
    check_array,
    check_ndim,
    check_positive_int,
    format_shape,
    shape_str,
)
from bigmodel_lib.contracts.cnn import (  # noqa: F401 -- re-exported: the contracts both packages keep
    IMAGE_LAYOUT,
    IntPair,
    check_digits_input,
    check_fits,
    check_image,
    cnn_layers,
    to_pair,
    to_pair_or_value,
)
from bigmodel_lib.nn_numpy.activations import ReLU
from bigmodel_lib.nn_numpy.container import Sequential
from bigmodel_lib.nn_numpy.functional import check_grad_out, numpy_dtype_of, require_cache
from bigmodel_lib.nn_numpy.linear import Linear
from bigmodel_lib.nn_numpy.module import Module, uniform_init

# -- argument and input checks (shared with nn_torch.cnn) ------------------------------------------------------


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding: int = 0) -> int:
    """``floor((size + 2*padding - kernel_size) / stride) + 1``: the output length along one axis."""
    return (size + 2 * padding - kernel_size) // stride + 1


# -- im2col / col2im -------------------------------------------------------------------------------------------

def _windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
             padding: tuple[int, int]) -> np.ndarray:
    """A strided **view** of every window: ``(B, C, H, W) -> (B, C, Ho, Wo, kh, kw)`` (no copy)."""
    (ph, pw), (sh, sw) = padding, stride
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))  # (B, C, H, W) -> (B, C, H+2ph, W+2pw)
    windows = sliding_window_view(x, kernel, axis=(2, 3))  # -> (B, C, H', W', kh, kw), stride 1
    return windows[:, :, ::sh, ::sw]  # -> (B, C, Ho, Wo, kh, kw): keep every s-th window


def im2col(x: np.ndarray, kernel_size: IntPair, stride: IntPair = 1, padding: IntPair = 0) -> np.ndarray:
    """Unfold every ``kh x kw`` window of ``x`` into a column: ``(B, C, H, W) -> (B, C*kh*kw, Ho*Wo)``.

    Row ``c*kh*kw + p*kw + q`` of column ``i*Wo + j`` holds ``x_pad[b, c, s*i + p, s*j + q]`` -- the
    layout of ``torch.nn.functional.unfold``. A convolution is then ``W.reshape(out, -1) @ cols``.
    """
    kernel = to_pair("im2col", "kernel_size", kernel_size)
    strides = to_pair("im2col", "stride", stride)
    pads = to_pair("im2col", "padding", padding, minimum=0)
    check_array("im2col", "x", x)
    check_ndim("im2col", "x", x, 4, IMAGE_LAYOUT)
    check_fits("im2col", "x", x, kernel, pads)
    windows = _windows(x, kernel, strides, pads)  # (B, C, Ho, Wo, kh, kw)
    b, c, ho, wo, kh, kw = windows.shape
    return windows.transpose(0, 1, 4, 5, 2, 3).reshape(b, c * kh * kw, ho * wo)  # -> (B, C*kh*kw, Ho*Wo)


def _col2im_windows(grad_windows: np.ndarray, input_shape: tuple[int, ...], stride: tuple[int, int],
                    padding: tuple[int, int]) -> np.ndarray:
    """Sum window gradients ``(B, C, Ho, Wo, kh, kw)`` back onto the image ``(B, C, H, W)``.

    Overlapping windows add up: one strided slice-add per kernel offset ``(p, q)``, ``kh*kw`` in all.
    """
    b, c, ho, wo, kh, kw = grad_windows.shape
    (sh, sw), (ph, pw) = stride, padding
    height, width = input_shape[2] + 2 * ph, input_shape[3] + 2 * pw
    image = np.zeros((b, c, height, width), dtype=grad_windows.dtype)
    for p in range(kh):
        for q in range(kw):
            # output pixel (i, j) saw input pixel (s*i + p, s*j + q) through kernel entry (p, q)
            image[:, :, p : p + sh * (ho - 1) + 1 : sh, q : q + sw * (wo - 1) + 1 : sw] += grad_windows[..., p, q]
    return image[:, :, ph : height - ph, pw : width - pw]  # drop the padding: -> (B, C, H, W)


def col2im(cols: np.ndarray, input_shape: tuple[int, int, int, int], kernel_size: IntPair, stride: IntPair = 1,
           padding: IntPair = 0) -> np.ndarray:
    """The adjoint of :func:`im2col`: ``(B, C*kh*kw, Ho*Wo) -> (B, C, H, W)``, overlaps summed.

    Equals ``torch.nn.functional.fold``. It is the backward pass of ``im2col``: if
    ``cols = im2col(x)`` then ``d(sum(cols * G))/dx = col2im(G)``.
    """
    kernel = to_pair("col2im", "kernel_size", kernel_size)
    strides = to_pair("col2im", "stride", stride)
    pads = to_pair("col2im", "padding", padding, minimum=0)
    check_array("col2im", "cols", cols)
    b, c, h, w = (int(s) for s in input_shape)
    ho = conv_output_size(h, kernel[0], strides[0], pads[0])
    wo = conv_output_size(w, kernel[1], strides[1], pads[1])
    expected = (b, c * kernel[0] * kernel[1], ho * wo)
    if tuple(cols.shape) != expected:
        raise ValueError(f"col2im: 'cols' expected shape {format_shape(expected)} for input_shape "
                         f"{format_shape(input_shape)}, got {shape_str(cols)}")
    grad_windows = cols.reshape(b, c, kernel[0], kernel[1], ho, wo)  # (B, C*kh*kw, L) -> (B, C, kh, kw, Ho, Wo)
    grad_windows = grad_windows.transpose(0, 1, 4, 5, 2, 3)  # -> (B, C, Ho, Wo, kh, kw)
    return _col2im_windows(grad_windows, (b, c, h, w), strides, pads)


# -- layers ------------------------------------------------------------------------------------------------------

class Conv2d(Module):
    """2-D convolution (cross-correlation) over ``(B, C_in, H, W)`` with ``W: (C_out, C_in, kh, kw)``.

    Forward, with ``cols = im2col(x)`` of shape ``(B, C_in*kh*kw, L)``, ``L = Ho*Wo``::

        y = W2d @ cols + b          W2d = W.reshape(C_out, C_in*kh*kw)

    Backward, with ``g = dL/dy`` reshaped to ``(B, C_out, L)``::

        dL/dW = sum_b g_b cols_b^T      dL/db = sum_{b, i, j} g      dL/dx = col2im(W2d^T g)

    Initialised as PyTorch does: ``W, b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, ``fan_in = C_in*kh*kw``.
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
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        check_positive_int("Conv2d", "in_channels", in_channels)
        check_positive_int("Conv2d", "out_channels", out_channels)
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = to_pair("Conv2d", "kernel_size", kernel_size)
        self.stride = to_pair("Conv2d", "stride", stride)
        self.padding = to_pair("Conv2d", "padding", padding, minimum=0)
        fan_in = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        bound = 1.0 / math.sqrt(fan_in)
        self.weight = uniform_init((self.out_channels, self.in_channels, *self.kernel_size), bound, dtype, rng)
        self.bias = uniform_init((self.out_channels,), bound, dtype, rng) if bias else None
        self._cache: tuple[tuple[int, ...], np.ndarray, tuple[int, int]] | None = None

    def output_shape(self, input_shape: Sequence[int]) -> tuple[int, int, int, int]:
        """``(B, C_in, H, W) -> (B, C_out, Ho, Wo)`` without computing anything."""
        b, _, h, w = input_shape
        ho = conv_output_size(h, self.kernel_size[0], self.stride[0], self.padding[0])
        wo = conv_output_size(w, self.kernel_size[1], self.stride[1], self.padding[1])
        return int(b), self.out_channels, ho, wo

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array("Conv2d", "x", x)
        check_image("Conv2d", "x", x, self.in_channels)
        check_fits("Conv2d", "x", x, self.kernel_size, self.padding)
        b, _, ho, wo = self.output_shape(x.shape)
        cols = im2col(x, self.kernel_size, self.stride, self.padding)  # (B, C_in, H, W) -> (B, C_in*kh*kw, L)
        w2d = self.weight.data.reshape(self.out_channels, -1)  # (C_out, C_in, kh, kw) -> (C_out, C_in*kh*kw)
        y = w2d @ cols  # (C_out, C_in*kh*kw) @ (B, C_in*kh*kw, L) -> (B, C_out, L)
        if self.bias is not None:
            y += self.bias.data[:, None]  # (C_out,) -> (C_out, 1), broadcast over B and L
        self._cache = (x.shape, cols, (ho, wo))
        return y.reshape(b, self.out_channels, ho, wo)  # (B, C_out, L) -> (B, C_out, Ho, Wo)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        input_shape, cols, (ho, wo) = require_cache(self, self._cache)
        check_grad_out("Conv2d", grad_out, (input_shape[0], self.out_channels, ho, wo))
        g = grad_out.reshape(input_shape[0], self.out_channels, ho * wo)  # (B, C_out, Ho, Wo) -> (B, C_out, L)
        # (B, C_out, L) @ (B, L, C_in*kh*kw) -> (B, C_out, C_in*kh*kw), summed over the batch
        grad_w2d = (g @ cols.transpose(0, 2, 1)).sum(axis=0)  # -> (C_out, C_in*kh*kw)
        self.weight.grad += grad_w2d.reshape(self.weight.data.shape)  # -> (C_out, C_in, kh, kw)
        if self.bias is not None:
            self.bias.grad += grad_out.sum(axis=(0, 2, 3))
        w2d = self.weight.data.reshape(self.out_channels, -1)  # (C_out, C_in, kh, kw) -> (C_out, C_in*kh*kw)
        grad_cols = w2d.T @ g  # (C_in*kh*kw, C_out) @ (B, C_out, L) -> (B, C_in*kh*kw, L)
        return col2im(grad_cols, input_shape, self.kernel_size, self.stride, self.padding)  # -> (B, C_in, H, W)

    @classmethod
    def from_pytorch(cls, module: Any) -> Conv2d:
        """An equal NumPy layer built from a ``torch.nn.Conv2d`` (weights copied, dtype kept).

        Only what this layer implements is accepted: zero padding given as ints, no dilation, no groups.
        """
        unsupported = {
            "dilation": (tuple(module.dilation), (1, 1)),
            "groups": (module.groups, 1),
            "padding_mode": (module.padding_mode, "zeros"),
        }
        for name, (value, supported) in unsupported.items():
            if value != supported:
                raise ValueError(f"Conv2d.from_pytorch: '{name}' must be {supported!r}, got {value!r}")
        if isinstance(module.padding, str):
            raise ValueError(f"Conv2d.from_pytorch: 'padding' must be ints, got {module.padding!r}")
        layer = cls(
            module.in_channels,
            module.out_channels,
            tuple(module.kernel_size),
            stride=tuple(module.stride),
            padding=tuple(module.padding),
            bias=module.bias is not None,
            dtype=numpy_dtype_of(module.weight),
        )
        layer.load_state_dict(module.state_dict())
        return layer

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")


class MaxPool2d(Module):
    """``y[b, c, i, j] = max_{p, q} x[b, c, s*i + p, s*j + q]`` over ``kh x kw`` windows (stride ``s``).

    ``stride`` defaults to the kernel size (non-overlapping windows, as in PyTorch); no padding;
    the output size is ``floor((H - kh) / s) + 1`` (PyTorch's ``ceil_mode=False``).

    Backward routes each output gradient to the position of its window's maximum; overlapping windows
    add up. **Ties**: the first maximum in row-major window order receives the whole gradient -- what
    PyTorch's CPU and CUDA kernels do (they scan the window and keep a value only if it is strictly
    larger), so gradients agree even on constant images.
    """

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None) -> None:
        self.kernel_size = to_pair("MaxPool2d", "kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else to_pair("MaxPool2d", "stride", stride)
        self._cache: tuple[tuple[int, ...], np.ndarray] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array("MaxPool2d", "x", x)
        check_image("MaxPool2d", "x", x)
        check_fits("MaxPool2d", "x", x, self.kernel_size, (0, 0))
        windows = _windows(x, self.kernel_size, self.stride, (0, 0))  # (B, C, H, W) -> (B, C, Ho, Wo, kh, kw)
        flat = windows.reshape(*windows.shape[:4], -1)  # -> (B, C, Ho, Wo, kh*kw), a copy
        argmax = flat.argmax(axis=-1)  # (B, C, Ho, Wo): index of the first maximum in each window
        self._cache = (x.shape, argmax)
        return np.take_along_axis(flat, argmax[..., None], axis=-1)[..., 0]  # -> (B, C, Ho, Wo)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        input_shape, argmax = require_cache(self, self._cache)
        check_grad_out("MaxPool2d", grad_out, argmax.shape)
        kh, kw = self.kernel_size
        # one-hot of the winner, scaled by the gradient: (B, C, Ho, Wo) -> (B, C, Ho, Wo, kh*kw)
        grad_windows = np.zeros((*argmax.shape, kh * kw), dtype=grad_out.dtype)
        np.put_along_axis(grad_windows, argmax[..., None], grad_out[..., None], axis=-1)
        grad_windows = grad_windows.reshape(*argmax.shape, kh, kw)  # -> (B, C, Ho, Wo, kh, kw)
        return _col2im_windows(grad_windows, input_shape, self.stride, (0, 0))  # -> (B, C, H, W)

    @classmethod
    def from_pytorch(cls, module: Any) -> MaxPool2d:
        """The same pooling as a ``torch.nn.MaxPool2d`` without padding, dilation or ceil mode."""
        for name, supported in (("padding", 0), ("dilation", 1), ("ceil_mode", False), ("return_indices", False)):
            value = getattr(module, name)
            if to_pair_or_value(value) != to_pair_or_value(supported):
                raise ValueError(f"MaxPool2d.from_pytorch: '{name}' must be {supported!r}, got {value!r}")
        return cls(module.kernel_size, module.stride)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class Flatten(Module):
    """``(B, d1, d2, ...) -> (B, d1*d2*...)``, as ``torch.nn.Flatten()``; backward reshapes back."""

    def __init__(self) -> None:
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array("Flatten", "x", x)
        if x.ndim < 2:
            raise ValueError(f"Flatten: 'x' expected shape (B, ...) (at least 2 dims), got {shape_str(x)}")
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)  # (B, C, H, W) -> (B, C*H*W)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        shape = require_cache(self, self._shape)
        check_grad_out("Flatten", grad_out, (shape[0], int(np.prod(shape[1:]))))
        return grad_out.reshape(shape)  # (B, C*H*W) -> (B, C, H, W)


# -- a small CNN for the 8x8 digits ----------------------------------------------------------------------------


class DigitsCNN(Module):
    """``[Conv3x3(pad 1) -> ReLU -> MaxPool2] x len(channels) -> Flatten -> Linear``.

    For ``channels=(16, 32)`` on ``1 x 8 x 8`` digits: ``(B, 1, 8, 8) -> (B, 16, 4, 4) -> (B, 32, 2, 2)
    -> (B, 128) -> (B, 10)`` logits, 6,090 parameters. Keys: ``features.0.weight``, ...,
    ``classifier.weight`` -- the same in ``nn_torch.cnn.DigitsCNN``.
    """

    def __init__(
        self,
        channels: Sequence[int] = (16, 32),
        num_classes: int = 10,
        *,
        in_channels: int = 1,
        image_size: int = 8,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        layers, width = cnn_layers(channels, in_channels, image_size, Conv2d, ReLU, MaxPool2d, Flatten,
                                   dtype=dtype, rng=rng)
        self.channels, self.in_channels, self.image_size = tuple(channels), in_channels, image_size
        self.features = Sequential(*layers)
        self.classifier = Linear(width, num_classes, dtype=dtype, rng=rng)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array("DigitsCNN", "x", x)
        check_digits_input("DigitsCNN", x, self.in_channels, self.image_size)
        return self.classifier(self.features(x))  # (B, 1, 8, 8) -> (B, 128) -> (B, 10)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return self.features.backward(self.classifier.backward(grad_out))


