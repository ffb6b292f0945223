"""Chapter 04 exercises on convolutions: output shapes, parameter counts, the im2col matrix.

::

    from bigmodel_lib.exercises import ch04_cnn
    print(ch04_cnn.conv_output_shape.prompt)
    ch04_cnn.conv_output_shape.check(my_shape)

Every answer is a shape or a count, so it is checked exactly (as ints). The answers are computed by
the library (``nn_numpy.cnn``), never typed in, and each checker names the usual slips (padding
counted once or not at all, the ``+ 1`` forgotten, the bias or the input channels left out of a
parameter count, the im2col matrix transposed ...) when the slip gives a value of its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from bigmodel_lib.exercises.core import Exercise, as_int, as_int_tuple, exact_or_known_mistake
from bigmodel_lib.nn_numpy.cnn import Conv2d, conv_output_size, im2col

__all__ = [
    "IM2COL_INPUT_SHAPE",
    "IM2COL_KERNEL",
    "IM2COL_PADDING",
    "IM2COL_STRIDE",
    "PARAMS_IN_CHANNELS",
    "PARAMS_KERNEL",
    "PARAMS_OUT_CHANNELS",
    "SHAPE_INPUT",
    "SHAPE_KERNEL",
    "SHAPE_OUT_CHANNELS",
    "SHAPE_PADDING",
    "SHAPE_STRIDE",
    "conv_output_shape",
    "conv_parameter_count",
    "im2col_shape",
]


# -- 1. the output shape of a convolution -------------------------------------------------------------------

SHAPE_INPUT = (4, 3, 18, 20)  # (B, C_in, H, W)
SHAPE_OUT_CHANNELS = 8
SHAPE_KERNEL = (5, 3)  # (kh, kw)
SHAPE_STRIDE = 3
SHAPE_PADDING = 2


def _shape_with(size: Callable[[int, int], int], kernel: tuple[int, int] = SHAPE_KERNEL,
                channels: int = SHAPE_OUT_CHANNELS) -> tuple[int, int, int, int]:
    b, _, h, w = SHAPE_INPUT
    return b, channels, size(h, kernel[0]), size(w, kernel[1])


def _conv_output_shape() -> tuple[int, int, int, int]:
    conv = Conv2d(SHAPE_INPUT[1], SHAPE_OUT_CHANNELS, SHAPE_KERNEL, stride=SHAPE_STRIDE, padding=SHAPE_PADDING)
    return conv.output_shape(SHAPE_INPUT)


_s, _p = SHAPE_STRIDE, SHAPE_PADDING  # short names for the formulas below
conv_output_shape = Exercise(
    key="ch04_cnn.conv_output_shape",
    prompt=(
        f"A batch of shape {SHAPE_INPUT} (B, C, H, W) goes through\n"
        f"Conv2d({SHAPE_INPUT[1]}, {SHAPE_OUT_CHANNELS}, kernel_size={SHAPE_KERNEL}, stride={SHAPE_STRIDE}, "
        f"padding={SHAPE_PADDING}).\n"
        "What is the output shape? Answer with a tuple of exact ints (B, C_out, H_out, W_out) -- work it out by hand."
    ),
    checker=exact_or_known_mistake(
        _conv_output_shape,
        {
            "the padding is missing: it adds `padding` rows (columns) on *both* sides, i.e. H + 2*padding":
                lambda: _shape_with(lambda n, k: (n - k) // _s + 1),
            "the padding is counted once; it is added on both sides: H + 2*padding":
                lambda: _shape_with(lambda n, k: (n + _p - k) // _s + 1),
            "the '+ 1' is missing: a kernel as large as the padded input still gives one output":
                lambda: _shape_with(lambda n, k: (n + 2 * _p - k) // _s),
            "the stride is ignored: the window moves `stride` pixels at a time, so divide by it":
                lambda: _shape_with(lambda n, k: n + 2 * _p - k + 1),
            "rounded up: a window that would stick out of the padded input is dropped (floor, not ceil)":
                lambda: _shape_with(lambda n, k: math.ceil((n + 2 * _p - k) / _s) + 1),
            "kh and kw are swapped: kernel_size=(5, 3) is 5 rows (height) by 3 columns (width)":
                lambda: _shape_with(lambda n, k: (n + 2 * _p - k) // _s + 1, kernel=SHAPE_KERNEL[::-1]),
            "the channel axis becomes out_channels, not in_channels":
                lambda: _shape_with(lambda n, k: (n + 2 * _p - k) // _s + 1, channels=SHAPE_INPUT[1]),
        },
        as_int_tuple,
        what="output shape",
    ),
    hints=[
        "Along each axis: H_out = floor((H + 2*padding - kh) / stride) + 1; likewise W_out with kw.",
        f"H: ({SHAPE_INPUT[2]} + 2*{_p} - {SHAPE_KERNEL[0]}) // {_s} + 1.  The batch size stays; the channels "
        "become out_channels.",
    ],
    reference=_conv_output_shape,
    solution_text=(
        f"H_out = ({SHAPE_INPUT[2]} + {2 * _p} - {SHAPE_KERNEL[0]}) // {_s} + 1 = "
        f"{conv_output_size(SHAPE_INPUT[2], SHAPE_KERNEL[0], _s, _p)},  "
        f"W_out = ({SHAPE_INPUT[3]} + {2 * _p} - {SHAPE_KERNEL[1]}) // {_s} + 1 = "
        f"{conv_output_size(SHAPE_INPUT[3], SHAPE_KERNEL[1], _s, _p)}; "
        f"shape (B, C_out, H_out, W_out) = {_conv_output_shape()}"
    ),
)


# -- 2. parameters of a convolution ---------------------------------------------------------------------------

PARAMS_IN_CHANNELS = 16
PARAMS_OUT_CHANNELS = 32
PARAMS_KERNEL = 5


def _conv_parameter_count() -> int:
    return Conv2d(PARAMS_IN_CHANNELS, PARAMS_OUT_CHANNELS, PARAMS_KERNEL).num_parameters()


_c_in, _c_out, _k2 = PARAMS_IN_CHANNELS, PARAMS_OUT_CHANNELS, PARAMS_KERNEL**2
conv_parameter_count = Exercise(
    key="ch04_cnn.conv_parameter_count",
    prompt=(
        f"How many trainable parameters has Conv2d({_c_in}, {_c_out}, kernel_size={PARAMS_KERNEL}) "
        "(with bias, the default)?\nAn exact int -- count by hand, then confirm with .num_parameters()."
    ),
    checker=exact_or_known_mistake(
        _conv_parameter_count,
        {
            "the bias is missing: one per output channel": lambda: _c_out * _c_in * _k2,
            "each output channel's kernel spans *all* input channels: C_out * C_in * kh * kw weights":
                lambda: _c_out * _k2 + _c_out,
            "there is one bias per *output* channel, not per input channel": lambda: _c_out * _c_in * _k2 + _c_in,
            "the kernel has kh*kw entries per input channel (here 5*5)": lambda: _c_out * _c_in + _c_out,
        },
        as_int,
        what="parameter count",
    ),
    hints=[
        "Weight shape: (C_out, C_in, kh, kw). Bias shape: (C_out,).",
        "The count does not depend on the image size: the same kernel slides over every position.",
    ],
    reference=_conv_parameter_count,
    solution_text=(
        f"{_c_out} * {_c_in} * {PARAMS_KERNEL} * {PARAMS_KERNEL} weights + {_c_out} biases = {_conv_parameter_count()}"
    ),
)


# -- 3. the im2col matrix ---------------------------------------------------------------------------------------

IM2COL_INPUT_SHAPE = (2, 3, 9, 7)  # (B, C, H, W)
IM2COL_KERNEL = 3
IM2COL_STRIDE = 2
IM2COL_PADDING = 1


def _im2col_shape() -> tuple[int, int, int]:
    x = np.zeros(IM2COL_INPUT_SHAPE)
    return tuple(im2col(x, IM2COL_KERNEL, IM2COL_STRIDE, IM2COL_PADDING).shape)


def _windows(stride: int, padding: int) -> int:
    _, _, h, w = IM2COL_INPUT_SHAPE
    return conv_output_size(h, IM2COL_KERNEL, stride, padding) * conv_output_size(w, IM2COL_KERNEL, stride, padding)


_b, _c, _k = IM2COL_INPUT_SHAPE[0], IM2COL_INPUT_SHAPE[1], IM2COL_KERNEL
im2col_shape = Exercise(
    key="ch04_cnn.im2col_shape",
    prompt=(
        f"nn_numpy.cnn.im2col (like torch.nn.functional.unfold) turns a batch of shape {IM2COL_INPUT_SHAPE}\n"
        f"into one column per window, for kernel_size={IM2COL_KERNEL}, stride={IM2COL_STRIDE}, "
        f"padding={IM2COL_PADDING}.\nWhat is the shape of the result? A tuple of exact ints (B, rows, columns). "
        "Work it out, then check by running im2col."
    ),
    checker=exact_or_known_mistake(
        _im2col_shape,
        {
            "a column holds the window of *every* input channel: C * kh * kw rows":
                lambda: (_b, _k * _k, _windows(IM2COL_STRIDE, IM2COL_PADDING)),
            "that is the transposed matrix: rows are window entries (C*kh*kw), columns are windows (Ho*Wo)":
                lambda: (_b, _windows(IM2COL_STRIDE, IM2COL_PADDING), _c * _k * _k),
            "the stride is ignored: with stride 2 only every other window is kept":
                lambda: (_b, _c * _k * _k, _windows(1, IM2COL_PADDING)),
            "the padding is ignored: it enlarges the image by 2*padding before the windows are taken":
                lambda: (_b, _c * _k * _k, _windows(IM2COL_STRIDE, 0)),
        },
        as_int_tuple,
        what="im2col shape",
    ),
    hints=[
        "Rows: one per number in a window, across all channels: C * kh * kw.",
        "Columns: one per output pixel, Ho * Wo, with Ho and Wo from the conv output-size formula.",
    ],
    reference=_im2col_shape,
    solution_text=(
        f"rows = C*kh*kw = {_c} * {_k} * {_k} = {_c * _k * _k}; "
        f"Ho = ({IM2COL_INPUT_SHAPE[2]} + {2 * IM2COL_PADDING} - {_k}) // {IM2COL_STRIDE} + 1 = "
        f"{conv_output_size(IM2COL_INPUT_SHAPE[2], _k, IM2COL_STRIDE, IM2COL_PADDING)}, "
        f"Wo = ({IM2COL_INPUT_SHAPE[3]} + {2 * IM2COL_PADDING} - {_k}) // {IM2COL_STRIDE} + 1 = "
        f"{conv_output_size(IM2COL_INPUT_SHAPE[3], _k, IM2COL_STRIDE, IM2COL_PADDING)}, "
        f"columns = Ho*Wo = {_windows(IM2COL_STRIDE, IM2COL_PADDING)}; shape {_im2col_shape()}"
    ),
)

