"""Input checks shared by the NumPy and PyTorch models.

They work on anything with ``.shape``/``.ndim``/``.dtype`` (NumPy arrays and torch tensors), so
both packages fail the same way, early, with a message naming the argument, what was expected
and what was received (docs/library.md, "Errors").
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "is_floating_point")


def format_shape(shape: Any) -> str:
    """``(2, 3)``, ``(5,)``, ``()``: a shape written as Python writes a tuple of ints."""
    return str(tuple(int(s) for s in shape))


def shape_str(x: Any) -> str:
    return format_shape(x.shape)


def dtype_name(x: Any) -> str:
    """``float32`` for both a NumPy array and a torch tensor (no ``torch.`` prefix)."""
    return str(x.dtype).replace("torch.", "")


def check_array(where: str, name: str, x: Any) -> None:
    """``x`` must be a NumPy array (NumPy models) -- lists and tensors are refused with a hint."""
    if not isinstance(x, np.ndarray):
        hint = " (call .detach().cpu().numpy() on a tensor)" if _is_tensor(x) else " (wrap it with np.asarray)"
        raise TypeError(f"{where}: '{name}' must be a NumPy array, got {type(x).__name__}{hint}")


def check_tensor(where: str, name: str, x: Any) -> None:
    """``x`` must be a torch tensor (PyTorch models)."""
    if not _is_tensor(x):
        raise TypeError(
            f"{where}: '{name}' must be a torch.Tensor, got {type(x).__name__} (use torch.as_tensor)"
        )


def is_floating(x: Any) -> bool:
    if _is_tensor(x):
        return bool(x.is_floating_point())
    return np.issubdtype(x.dtype, np.floating)


def is_integer(x: Any) -> bool:
    if _is_tensor(x):
        return not x.is_floating_point() and not x.is_complex() and str(x.dtype) != "torch.bool"
    return np.issubdtype(x.dtype, np.integer)


def check_floating(where: str, name: str, x: Any) -> None:
    if not is_floating(x):
        raise TypeError(f"{where}: '{name}' must have a floating-point dtype, got {dtype_name(x)}")


def is_tracing(x: Any) -> bool:
    """True while ``torch.compile`` or ``torch.export`` traces a model with tensor ``x``.

    Checks that read tensor *values* (``int(ids.max())``) step aside then: inside a trace they would
    break the graph, and the traced program cannot raise a Python error for a value anyway.
    """
    if not _is_tensor(x):
        return False
    import torch

    compiler = getattr(torch, "compiler", None)
    if compiler is None:
        return False
    exporting = getattr(compiler, "is_exporting", lambda: False)
    return bool(compiler.is_compiling() or exporting())


def check_parameter_dtype(where: str, name: str, x: Any, weight: Any) -> None:
    """``x`` must have the dtype of the layer's weights (a float64 batch into a float32 model is refused).

    The message matches the NumPy models' ``'q' expected the dtype of 'k'`` style and says how to fix it.
    Under ``torch.autocast`` PyTorch chooses the dtypes itself, so the check steps aside there.
    """
    if _is_tensor(x):
        import torch

        if torch.is_autocast_enabled(x.device.type):
            return
    if x.dtype != weight.dtype:
        raise TypeError(
            f"{where}: '{name}' expected the dtype of the layer's weights ({dtype_name(weight)}), got {dtype_name(x)}; "
            f"convert the input (e.g. x.to({dtype_name(weight)})) or the model (e.g. model.to({dtype_name(x)}))"
        )


def check_integer(where: str, name: str, x: Any) -> None:
    if not is_integer(x):
        raise TypeError(f"{where}: '{name}' must have an integer dtype (token ids), got {dtype_name(x)}")


def check_min_ndim(where: str, name: str, x: Any, ndim: int, layout: str) -> None:
    if x.ndim < ndim:
        raise ValueError(f"{where}: '{name}' expected shape {layout} (at least {ndim} dims), got {shape_str(x)}")


def check_ndim(where: str, name: str, x: Any, ndim: int, layout: str) -> None:
    if x.ndim != ndim:
        raise ValueError(f"{where}: '{name}' expected shape {layout} ({ndim} dims), got {shape_str(x)}")


def check_last_dim(where: str, name: str, x: Any, size: int) -> None:
    """Feature-last layout: ``x`` must be ``(..., size)``."""
    if x.ndim < 1 or x.shape[-1] != size:
        raise ValueError(f"{where}: '{name}' expected shape (..., {size}), got {shape_str(x)}")


def check_features(where: str, name: str, x: Any, size: int) -> None:
    """The usual check of a layer's main input: a float array ``(..., size)``."""
    check_floating(where, name, x)
    check_last_dim(where, name, x, size)


def check_same_shape(where: str, name: str, x: Any, ref_name: str, ref: Any) -> None:
    if tuple(x.shape) != tuple(ref.shape):
        raise ValueError(
            f"{where}: '{name}' expected the shape of '{ref_name}' {shape_str(ref)}, got {shape_str(x)}"
        )


def check_positive_int(where: str, name: str, value: Any) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{where}: '{name}' must be a positive int, got {value!r}")


def check_probability(where: str, name: str, value: float) -> None:
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{where}: '{name}' must be in [0, 1), got {value!r}")
