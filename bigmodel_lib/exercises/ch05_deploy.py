"""Chapter 05 exercises on deployment with ONNX (notebook 05.10): file sizes, the 2 GiB limit, dynamic axes.

::

    from bigmodel_lib.exercises import ch05_deploy
    print(ch05_deploy.weight_file_sizes.prompt)
    ch05_deploy.weight_file_sizes.check(my_answer)
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from bigmodel_lib.exercises.core import Exercise, as_float_array, close_to_or_known_mistake, on_success

__all__ = ["DYNAMIC_AXES", "PROTOBUF_LIMIT_BYTES", "SIZED_MODEL", "dynamic_axes", "single_file_limit",
           "weight_file_sizes"]

# -- 1. the size of the weights on disk ---------------------------------------------------------------------

#: a model whose weights are stored in float32, then in int8 (scales and the graph ignored)
SIZED_MODEL = {"parameters": 1_300_000_000}

#: the prompt asks for 3 significant figures
SIZE_SIGNIFICANT_FIGURES = 3


def _sig_tolerance(value: float, figures: int) -> float:
    """Half a unit in the last asked-for figure of ``value`` (5.20 -> 0.005), plus a hair for float noise."""
    return 0.5 * 10 ** (math.floor(math.log10(abs(value))) - figures + 1) * (1 + 1e-9)


def _sizes_gb(bytes_fp32: float = 4.0, bytes_int8: float = 1.0, unit: float = 1e9) -> tuple[float, float]:
    n = SIZED_MODEL["parameters"]
    return n * bytes_fp32 / unit, n * bytes_int8 / unit


#: the usual slips, each named only when both numbers match it to 3 significant figures
SIZE_SLIPS = {
    "those are bits, not bytes: a float32 is 4 bytes and an int8 is 1 byte": lambda: _sizes_gb(32.0, 8.0),
    "those are GiB (2^30 bytes); the question asks for GB (10^9 bytes)": lambda: _sizes_gb(unit=2.0**30),
    "a float32 is 4 bytes (2 bytes is float16 or bfloat16)": lambda: _sizes_gb(2.0, 1.0),
}


def _pair(answer: object) -> tuple[float, float] | None:
    """The two numbers of the answer, or None when it does not hold exactly two."""
    values = as_float_array(answer).ravel()
    return (float(values[0]), float(values[1])) if values.shape == (2,) else None


def _matches(got: tuple[float, float], target: tuple[float, float]) -> bool:
    return all(abs(g - t) <= _sig_tolerance(t, SIZE_SIGNIFICANT_FIGURES) for g, t in zip(got, target))


def _check_sizes(answer: object) -> tuple[bool, str]:
    got, expected = _pair(answer), _sizes_gb()
    if got is None:
        return False, f"expected two numbers (fp32_gb, int8_gb), got {as_float_array(answer).size}"
    if _matches(got, expected):
        return True, (f"float32 {expected[0]:.3g} GB and int8 {expected[1]:.3g} GB are right to 3 significant "
                      f"figures: 4 bytes and 1 byte per parameter")
    for explanation, slip in SIZE_SLIPS.items():
        if _matches(got, slip()):
            return False, explanation
    return False, f"({got[0]:g}, {got[1]:g}) GB is not right to 3 significant figures"


weight_file_sizes = Exercise(
    key="ch05_deploy.weight_file_sizes",
    prompt=(
        "A model has 1.3 billion parameters (ch05_deploy.SIZED_MODEL). How many GB (10^9 bytes) do its weights\n"
        "take on disk stored in float32, and stored in int8? Ignore the graph, the quantization scales and any\n"
        "tensor stored twice. Answer as a pair (fp32_gb, int8_gb), each to 3 significant figures."
    ),
    checker=_check_sizes,
    hints=[
        "Bytes per parameter: float32 is 32 bits, int8 is 8 bits.",
        "fp32: parameters x 4 bytes / 10^9; int8: parameters x 1 byte / 10^9.",
    ],
    reference=_sizes_gb,
    solution_text="1.3e9 x 4 B = 5.2e9 B = 5.20 GB in float32; 1.3e9 x 1 B = 1.30 GB in int8.",
)

# -- 2. the 2 GiB limit of one protobuf file ------------------------------------------------------------------

#: a protobuf message (an .onnx file that holds its own weights) cannot exceed 2 GiB: 2^31 - 1 bytes
PROTOBUF_LIMIT_BYTES = 2**31 - 1

#: the prompt asks for 1 %
LIMIT_RTOL = 0.01


def _max_parameters(limit: float = PROTOBUF_LIMIT_BYTES, bytes_fp32: float = 4.0,
                    bytes_int8: float = 1.0) -> tuple[float, float]:
    return limit / bytes_fp32, limit / bytes_int8


single_file_limit = Exercise(
    key="ch05_deploy.single_file_limit",
    prompt=(
        "An .onnx file is one protobuf message, and protobuf refuses messages of 2 GiB or more\n"
        "(ch05_deploy.PROTOBUF_LIMIT_BYTES = 2^31 - 1 bytes). Ignoring the graph's own bytes, how many parameters\n"
        "can a single-file model hold at most in float32, and in int8? Answer as a pair\n"
        "(fp32_parameters, int8_parameters), each to within 1 %."
    ),
    checker=on_success(
        close_to_or_known_mistake(
            _max_parameters,
            {
                "2 GiB is 2^31 = 2,147,483,648 bytes, not 2 x 10^9: your answer is 7 % short":
                    lambda: _max_parameters(limit=2e9),
                "those are counts of bits: divide the bytes by 4 (float32) and by 1 (int8)":
                    lambda: _max_parameters(bytes_fp32=32.0, bytes_int8=8.0),
                "a float32 is 4 bytes (2 bytes is float16 or bfloat16)": lambda: _max_parameters(bytes_fp32=2.0),
            },
            rtol=LIMIT_RTOL, atol=0.0, what="pair of parameter counts",
        ),
        lambda: (f"about {_max_parameters()[0] / 1e6:.0f} million float32 parameters and "
                 f"{_max_parameters()[1] / 1e9:.2f} billion int8 ones fit in one file (checked to within 1 %); "
                 f"anything larger needs external data"),
    ),
    hints=[
        "2 GiB = 2^31 bytes (one byte less, to be exact, but that does not matter at 1 %).",
        "Divide the bytes by the bytes per parameter: 4 for float32, 1 for int8.",
    ],
    reference=_max_parameters,
    solution_text=("(2^31 - 1) / 4 = 536,870,911 float32 parameters (about 537 M: not even GPT-2 large's 774 M); "
                   "(2^31 - 1) / 1 = 2,147,483,647 int8 parameters (about 2.15 B)."),
)

# -- 3. which shapes a session accepts ------------------------------------------------------------------------

#: an export where only the batch axis was declared dynamic, and four inputs to try
DYNAMIC_AXES = {
    "example_shape": (2, 64),
    "dynamic_shapes": '{"idx": {0: torch.export.Dim("batch")}}',
    "block_size": 64,
    "inputs": {"a": (1, 64), "b": (16, 64), "c": (2, 32), "d": (2, 65)},
}


def _accepted_inputs() -> frozenset[str]:
    """The batch axis is symbolic, the length axis was frozen at the example's 64."""
    length = DYNAMIC_AXES["example_shape"][1]
    return frozenset(label for label, shape in DYNAMIC_AXES["inputs"].items() if shape[1] == length)


def _letters(answer: object) -> frozenset[str]:
    if isinstance(answer, str):
        return frozenset(ch for ch in answer.lower() if ch.isalpha())
    if isinstance(answer, Iterable):
        return frozenset(str(item).strip().lower() for item in answer)
    raise TypeError(f"expected letters such as 'ab' or ['a', 'b'], got {type(answer).__name__}")


def _check_axes(answer: object) -> tuple[bool, str]:
    got, expected = _letters(answer), _accepted_inputs()
    unknown = got - set(DYNAMIC_AXES["inputs"])
    if unknown:
        return False, f"the inputs are labelled a, b, c, d; {sorted(unknown)} is not one of them"
    if got == expected:
        return True, ("(1, 64) and (16, 64) run, (2, 32) and (2, 65) are refused: the batch axis is symbolic, the "
                      "length was frozen at the example's 64")
    if "c" in got or "d" in got:
        return False, ("only the batch axis was declared dynamic: the length axis is fixed at the example's 64, "
                       "so a session refuses any other length, shorter or longer")
    return False, "the batch axis is dynamic: any batch size runs, 1 and 16 included"


dynamic_axes = Exercise(
    key="ch05_deploy.dynamic_axes",
    prompt=(
        "A GPT with block_size = 64 is exported from an example input of shape (2, 64) with\n"
        "dynamic_shapes = {\"idx\": {0: torch.export.Dim(\"batch\")}} (ch05_deploy.DYNAMIC_AXES). Which of these\n"
        "inputs does an ONNX Runtime session of that file accept?\n"
        "  a: (1, 64)   b: (16, 64)   c: (2, 32)   d: (2, 65)\n"
        "Answer with the letters, e.g. 'ac'."
    ),
    checker=_check_axes,
    hints=[
        "An axis not named in dynamic_shapes is static: its size is the example's, written into the graph.",
        "Look at the session's get_inputs()[0].shape: a name for a symbolic axis, a number for a fixed one.",
    ],
    reference=lambda: "".join(sorted(_accepted_inputs())),
    solution_text=("'ab': axis 0 is the symbolic 'batch', axis 1 is the constant 64 (the example's length), so "
                   "only (B, 64) inputs run."),
)
