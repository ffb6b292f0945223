"""Chapter 05 exercises on grouped-query attention and RoPE (notebook 05.4): KV-cache bytes, parameters
saved in the key/value projections, a rotation angle, the slowest pair's wavelength.

::

    from bigmodel_lib.exercises import ch05_gqa_rope
    print(ch05_gqa_rope.kv_cache_bytes.prompt)
    ch05_gqa_rope.kv_cache_bytes.check(my_answer)

Every prompt states the precision wanted and the checker accepts an answer rounded that way; a slip is named
only when its value lies outside that tolerance of the right answer.
"""

from __future__ import annotations

import math

from bigmodel_lib.exercises.core import Exercise, close_to_or_known_mistake, on_success

__all__ = [
    "CACHE_SHAPE",
    "PROJECTION_SHAPE",
    "ROPE_ANGLE",
    "WAVELENGTH",
    "kv_cache_bytes",
    "gqa_parameters_saved",
    "rope_angle",
    "rope_longest_wavelength",
]


def _relative_tolerance(figures: int) -> float:
    """The relative error of an answer rounded to ``figures`` significant figures is at most half a unit in
    the last figure over a leading digit of 1: ``0.5 x 10^(1 - figures)`` (4 figures: 5e-4). Relative, so a
    named slip is recognised when it is rounded the same way."""
    return 0.5 * 10 ** (1 - figures) * (1 + 1e-9)


# -- 1. KV-cache bytes ------------------------------------------------------------------------------------------

#: a LLaMA-3-8B-like model (32 layers, width 4096, 32 query heads, 8 key/value heads), serving 4 sequences
CACHE_SHAPE = {"n_layer": 32, "d_model": 4096, "n_head": 32, "n_kv_head": 8, "context": 8192, "batch": 4,
               "bytes_per_value": 2}


def _cache_bytes(tensors: int = 2, heads: str = "n_kv_head", bytes_per_value: int | None = None) -> int:
    s = CACHE_SHAPE
    d_head = s["d_model"] // s["n_head"]
    size = s["bytes_per_value"] if bytes_per_value is None else bytes_per_value
    return tensors * s["n_layer"] * s[heads] * d_head * s["context"] * s["batch"] * size


kv_cache_bytes = Exercise(
    key="ch05_gqa_rope.kv_cache_bytes",
    prompt=(
        "A model with n_layer=32, d_model=4096, n_head=32 query heads and n_kv_head=8 key/value heads (grouped-\n"
        "query attention) serves a batch of 4 sequences, each filled to a context of 8192 tokens, with its KV cache\n"
        "in bfloat16 (2 bytes per number). How many BYTES does the cache take? An exact int "
        "(ch05_gqa_rope.CACHE_SHAPE holds these numbers)."
    ),
    checker=on_success(close_to_or_known_mistake(
        _cache_bytes,
        {
            "only n_kv_head = 8 heads are cached; the 32 query heads share them": lambda: _cache_bytes(heads="n_head"),
            "keys AND values are cached: two tensors per layer": lambda: _cache_bytes(tensors=1),
            "bfloat16 takes 2 bytes per number, not 4": lambda: _cache_bytes(bytes_per_value=4),
        },
        rtol=0.0,
        atol=0.5,
        what="bytes",
    ), lambda: (f"{_cache_bytes():,} bytes ({_cache_bytes() / 2**30:.0f} GiB), exactly: 2 (K and V) x n_layer x "
                "n_kv_head x d_head x context x batch x 2 bytes")),
    hints=[
        "Each layer stores K and V, each of shape (batch, n_kv_head, context, d_head); d_head = d_model / n_head.",
        "Multiply the numbers of one such tensor by 2 (K and V), by the layers and by the bytes per number.",
    ],
    reference=_cache_bytes,
    solution_text=(f"2 x 32 x 8 x 128 x 8192 x 4 x 2 = {_cache_bytes():,} bytes = {_cache_bytes() / 2**30:.0f} GiB "
                   f"(with 32 key/value heads it would be 4 times more; check: bigmodel_lib.scale.ModelShape"
                   f"(...).kv_cache_bytes)"),
)


# -- 2. parameters saved in the K/V projections -------------------------------------------------------------------

#: the same model's attention projections, without biases
PROJECTION_SHAPE = {"n_layer": 32, "d_model": 4096, "n_head": 32, "n_kv_head": 8}


def _saved(layers: bool = True, projections: int = 2, kept: bool = False) -> int:
    s = PROJECTION_SHAPE
    kv_width = s["n_kv_head"] * s["d_model"] // s["n_head"]
    per_projection = s["d_model"] * (kv_width if kept else s["d_model"] - kv_width)
    return (s["n_layer"] if layers else 1) * projections * per_projection


gqa_parameters_saved = Exercise(
    key="ch05_gqa_rope.gqa_parameters_saved",
    prompt=(
        "In ch05_gqa_rope.PROJECTION_SHAPE (n_layer=32, d_model=4096, n_head=32, no biases), going from full\n"
        "multi-head attention (32 key/value heads) to grouped-query attention with n_kv_head=8: how many\n"
        "parameters does the whole model SAVE in its key and value projections? An exact int."
    ),
    checker=on_success(close_to_or_known_mistake(
        _saved,
        {
            "that is one layer's saving; there are 32 layers": lambda: _saved(layers=False),
            "both W_K and W_V shrink, not only W_K": lambda: _saved(projections=1),
            "that is what remains of W_K and W_V; the question asks what is saved": lambda: _saved(kept=True),
        },
        rtol=0.0,
        atol=0.5,
        what="parameter count",
    ), lambda: (f"{_saved():,} parameters saved, exactly: n_layer x 2 x d_model x (d_model - n_kv_head d_head); "
                "the query and output projections keep their size")),
    hints=[
        "W_K and W_V map d_model to n_kv_head x d_head = 8 x 128 = 1024 features instead of 4096.",
        "Each of the two shrinking matrices loses d_model x (d_model - 1024) numbers, in every layer.",
    ],
    reference=_saved,
    solution_text=f"32 x 2 x 4096 x (4096 - 1024) = {_saved():,} (about 0.8 B of a model of about 8 B)",
)


# -- 3. a rotation angle --------------------------------------------------------------------------------------------

#: position m, pair i (counted from 0), head width and RoPE base
ROPE_ANGLE = {"m": 100, "i": 3, "d_head": 64, "base": 10000.0}
ANGLE_FIGURES = 4


def _angle(exponent: str = "2i/d", degrees: bool = False, one_based: bool = False) -> float:
    s = ROPE_ANGLE
    i = s["i"] + (1 if one_based else 0)
    power = (2 * i if exponent == "2i/d" else i) / s["d_head"]
    angle = s["m"] * s["base"] ** (-power)
    return math.degrees(angle) if degrees else angle


rope_angle = Exercise(
    key="ch05_gqa_rope.rope_angle",
    prompt=(
        "RoPE with base 10000 and d_head = 64 turns feature pair i (pairs counted from i = 0) of the query at\n"
        "position m by the angle m * theta_i, theta_i = base^(-2i / d_head). What is that angle for m = 100, i = 3,\n"
        "in RADIANS (not reduced modulo 2 pi)? To 4 significant figures."
    ),
    checker=on_success(close_to_or_known_mistake(
        _angle,
        {
            "the exponent is 2i / d_head (pairs i = 0 .. d/2 - 1 span the exponents 0 .. 1), not i / d_head":
                lambda: _angle(exponent="i/d"),
            "pairs are counted from i = 0 here: pair 3 is the fourth pair": lambda: _angle(one_based=True),
            "the angle is asked in radians, not degrees": lambda: _angle(degrees=True),
        },
        rtol=_relative_tolerance(ANGLE_FIGURES),
        atol=0.0,
        what="angle",
    ), lambda: f"{_angle():.4g} rad, to 4 significant figures: 100 x 10000^(-6/64)"),
    hints=[
        "First theta_i for i = 3: the exponent is -2 i / d_head.",
        "10000 = 10^4, so 10000^x = 10^(4 x); then multiply by m.",
    ],
    reference=lambda: round(_angle(), 2),
    solution_text=f"100 x 10000^(-6/64) = 100 x 10^(-0.375) = {_angle():.4g} rad",
)


# -- 4. the slowest pair's wavelength ---------------------------------------------------------------------------

#: the head width of the notebook's small GPTs and RoPE's base
WAVELENGTH = {"d_head": 16, "base": 10000.0}
WAVELENGTH_FIGURES = 3


def _wavelength(pair: str = "slowest", two_pi: bool = True, exponent_one: bool = False) -> float:
    s = WAVELENGTH
    i = s["d_head"] // 2 - 1 if pair == "slowest" else 0
    theta = s["base"] ** (-1.0 if exponent_one else -2 * i / s["d_head"])
    return (2 * math.pi if two_pi else 1.0) / theta


rope_longest_wavelength = Exercise(
    key="ch05_gqa_rope.rope_longest_wavelength",
    prompt=(
        "In a RoPE head with d_head = 16 and base 10000, the slowest pair turns by theta_i per position. After how\n"
        "many positions has it turned one full circle (2 pi)? That is the longest wavelength of the head; the\n"
        "notebook's models never see more than 64 positions. To 3 significant figures."
    ),
    checker=on_success(close_to_or_known_mistake(
        _wavelength,
        {
            "the slowest pair is i = d_head/2 - 1 = 7, so theta = base^(-14/16), not base^(-1)":
                lambda: _wavelength(exponent_one=True),
            "one full turn is 2 pi radians: the wavelength is 2 pi / theta, not 1 / theta":
                lambda: _wavelength(two_pi=False),
            "that is the fastest pair (i = 0, theta = 1): the question asks for the slowest":
                lambda: _wavelength(pair="fastest"),
        },
        rtol=_relative_tolerance(WAVELENGTH_FIGURES),
        atol=0.0,
        what="wavelength",
    ), lambda: (f"{_wavelength():,.0f} positions ({float(f'{_wavelength():.3g}'):,.0f} to 3 significant figures): "
                "2 pi x 10000^(14/16)")),
    hints=[
        "The pairs are i = 0 .. 7; the slowest has the largest exponent 2i/d_head = 14/16.",
        "A pair turning by theta per position completes a circle after 2 pi / theta positions.",
    ],
    reference=lambda: round(_wavelength(), -2),
    solution_text=(f"2 pi x 10000^(14/16) = {_wavelength():,.0f} positions: in 64 positions that pair turns by "
                   f"{64 * 2 * math.pi / _wavelength():.3f} rad only"),
)
