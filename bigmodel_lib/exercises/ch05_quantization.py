"""Chapter 05 exercises on quantization (notebook 05.7): the scale and zero point of an asymmetric int8 range, the
size of a large model's int4 group-wise weights, and the rounding error of int4 weights against its bound.

::

    from bigmodel_lib.exercises import ch05_quantization
    print(ch05_quantization.scale_and_zero_point.prompt)
    ch05_quantization.scale_and_zero_point.check(my_answer)

Every prompt states the precision wanted, the checker accepts an answer rounded that way, and a slip is named
only when its value lies outside that tolerance of the right answer.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bigmodel_lib.exercises.core import Exercise, on_success, significant_figures_checker

__all__ = [
    "ASYMMETRIC_RANGE",
    "BIG_MODEL",
    "INT4_ROW",
    "int4_group_size_gb",
    "rounding_error",
    "scale_and_zero_point",
]


# -- 1. scale and zero point of an asymmetric int8 range ---------------------------------------------------------

#: The smallest and largest value of a tensor, quantized asymmetrically to signed int8 (integers -128..127).
ASYMMETRIC_RANGE = (-0.42, 1.37)


def _scale_zero_point(levels: int = 255, qmin: int = -128, sign: int = 1, symmetric: bool = False) -> tuple[float, int]:
    lo, hi = ASYMMETRIC_RANGE
    scale = max(abs(lo), abs(hi)) / 127 if symmetric else (hi - lo) / levels
    return scale, int(round(qmin - sign * lo / scale))


scale_and_zero_point = Exercise(
    key="ch05_quantization.scale_and_zero_point",
    prompt=(
        "A tensor's values run from -0.42 to 1.37 (ch05_quantization.ASYMMETRIC_RANGE). It is quantized\n"
        "asymmetrically (affine) to signed int8, the integers -128..127, the whole range [-0.42, 1.37] mapped onto\n"
        "them: q = round(w / scale) + zero_point. Give (scale, zero_point): the scale to 3 significant figures,\n"
        "the zero point as an exact int (the integer that stands for 0.0)."
    ),
    checker=on_success(
        significant_figures_checker(
            _scale_zero_point, (3, None),
            {
                "255 steps lie between 256 integers: scale = (max - min) / 255, not / 256":
                    lambda: _scale_zero_point(levels=256),
                "that zero point is for unsigned uint8 (0..255); the integers here run from -128":
                    lambda: _scale_zero_point(qmin=0),
                "the sign of min: zero_point = qmin - min / scale, and min is negative":
                    lambda: _scale_zero_point(sign=-1),
                "that is the symmetric scale max|w| / 127; the asymmetric one spreads max - min over 255 steps":
                    lambda: _scale_zero_point(symmetric=True),
            },
            what="(scale, zero point) pair",
        ),
        lambda: "scale = (1.37 + 0.42) / 255 = {:.7f} (checked to 3 significant figures) and zero point {} "
                "(checked exactly): 0.0 is stored as that integer and comes back as exactly 0.0"
                .format(*_scale_zero_point()),
    ),
    hints=["There are 2**8 = 256 integers from -128 to 127, so 255 steps between the smallest and the largest.",
           "Solve q = round(w / scale) + zero_point for w = min, q = -128."],
    reference=lambda: (round(_scale_zero_point()[0], 5), _scale_zero_point()[1]),
    solution_text="quantize(np.array([[-0.42, 1.37]]), 8, scheme='asymmetric') from "
                  "bigmodel_lib.compression.quantization holds both in .scale and .zero_point",
)

# -- 2. size of a large model's int4 group-wise weights -----------------------------------------------------------

#: A GPT with a 4d-wide MLP and fused Q/K/V: each layer has Linear weights of 12 d_model^2 numbers
#: (in_proj 3d x d, out_proj d x d, two MLP matrices 4d x d).
BIG_MODEL = {"n_layer": 32, "d_model": 4096, "group_size": 128, "bits": 4, "scale_bytes": 4}


def _int4_gb(scales: bool = True, scale_bytes: int | None = None, bytes_per_weight: float | None = None) -> float:
    m = BIG_MODEL
    weights = 12 * m["d_model"] ** 2 * m["n_layer"]
    per_weight = m["bits"] / 8 if bytes_per_weight is None else bytes_per_weight
    per_group = (m["scale_bytes"] if scale_bytes is None else scale_bytes) if scales else 0
    return (weights * per_weight + weights / m["group_size"] * per_group) / 1e9


int4_group_size_gb = Exercise(
    key="ch05_quantization.int4_group_size_gb",
    prompt=(
        "A GPT of 32 layers, d_model 4096, whose layers hold 12 d_model^2 Linear weights each (ch05_quantization.\n"
        "BIG_MODEL). Those weights are quantized symmetrically to int4, group-wise: one float32 scale per group of\n"
        "128 consecutive weights, no zero point, two int4 values packed per byte. How many GB (1e9 bytes) do the\n"
        "quantized Linear weights take, scales included? Give it to 3 significant figures."
    ),
    checker=on_success(
        significant_figures_checker(
            lambda: (_int4_gb(),), (3,),
            {
                "the scales are missing: one float32 (4 bytes) per group of 128 weights": lambda: (_int4_gb(False),),
                "4 bits are half a byte per weight, not 4 bytes": lambda: (_int4_gb(bytes_per_weight=4),),
                "the scales are float32 here, 4 bytes each, not 2": lambda: (_int4_gb(scale_bytes=2),),
            },
            what="size in GB (to 3 significant figures)",
        ),
        lambda: f"{_int4_gb():.4f} GB (checked to 3 significant figures): 4 + 32/128 = 4.25 bits per weight; "
                f"float16 would take "
                f"{_int4_gb(False, bytes_per_weight=2):.2f} GB",
    ),
    hints=["Count the weights first: 12 x 4096^2 x 32.",
           "Each weight costs 0.5 byte, each group of 128 one 4-byte scale: 0.5 + 4/128 bytes per weight."],
    reference=lambda: round(_int4_gb(), 2),
    solution_text="n = 12 * 4096**2 * 32; n * (0.5 + 4 / 128) / 1e9",
)

# -- 3. the rounding error of int4 weights and its bound --------------------------------------------------------------

#: A row of weights quantized symmetrically to int4 with one scale for the row.
INT4_ROW = np.array([0.31, -0.07, 0.52, -0.88, 0.15, 0.04, -0.26, 0.63])


def _errors(qmax: int = 7, half: bool = True, rounding: Callable[[np.ndarray], np.ndarray] = np.round) -> tuple:
    scale = np.abs(INT4_ROW).max() / qmax
    restored = np.clip(rounding(INT4_ROW / scale), -qmax, qmax) * scale
    return scale / 2 if half else scale, float(np.abs(INT4_ROW - restored).max())


rounding_error = Exercise(
    key="ch05_quantization.rounding_error",
    prompt=(
        "The 8 weights ch05_quantization.INT4_ROW are quantized symmetrically to int4 with one scale for the row\n"
        "(integers -7..7, scale = max|w| / 7, round to nearest). Give (bound, largest): the bound that round-to-\n"
        "nearest guarantees on |w - dequantized w| for every weight, and the largest error that actually occurs\n"
        "in this row, both to 3 significant figures."
    ),
    checker=on_success(
        significant_figures_checker(
            _errors, (3, 3),
            {
                "symmetric int4 uses the integers -7..7: scale = max|w| / 7, not / 8": lambda: _errors(qmax=8),
                "symmetric int4 uses the integers -7..7: scale = max|w| / 7, not / 15": lambda: _errors(qmax=15),
                "rounding to the nearest integer is off by at most half a step: the bound is scale / 2":
                    lambda: _errors(half=False),
                "round to the nearest integer; truncating toward zero can miss by almost a whole step":
                    lambda: _errors(rounding=np.trunc),
            },
            what="(bound, largest error) pair",
        ),
        lambda: "bound scale / 2 = {:.5f}, largest error in this row {:.5f} (each checked to 3 significant figures)"
                .format(*_errors()),
    ),
    hints=["scale = 0.88 / 7; the bound is half of it.",
           "q = round(w / scale); compare w with q * scale for each of the 8 weights."],
    reference=lambda: tuple(float(f"{v:.3g}") for v in _errors()),
    solution_text="qt = quantize(INT4_ROW[None], 4); (qt.scale[0] / 2, abs(INT4_ROW - dequantize(qt)).max())",
)
