"""Small helpers the NumPy layers share: cache checks, stable softmax, dtype mapping."""

from __future__ import annotations

from typing import Any

import numpy as np

from bigmodel_lib._checks import check_array, format_shape, shape_str


def require_cache(layer: Any, cached: Any) -> Any:
    """The value saved by ``forward``; a clear error if ``backward`` comes first."""
    if cached is None:
        raise RuntimeError(f"{type(layer).__name__}.backward called before forward")
    return cached


def check_grad_out(where: str, grad_out: Any, expected_shape: tuple[int, ...]) -> None:
    """``grad_out`` must be an array of the exact shape that forward returned."""
    check_array(where, "grad_out", grad_out)
    if tuple(grad_out.shape) != tuple(expected_shape):
        raise ValueError(
            f"{where}.backward: 'grad_out' expected the forward output's shape {format_shape(expected_shape)}, "
            f"got {shape_str(grad_out)}"
        )


def numpy_dtype_of(tensor: Any) -> np.dtype:
    """The NumPy dtype matching a torch tensor's dtype (bfloat16, which NumPy lacks, maps to float32)."""
    name = str(tensor.dtype).replace("torch.", "")
    return np.dtype("float32" if name == "bfloat16" else name)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``exp(x_i) / sum_j exp(x_j)``, computed after subtracting the max so it never overflows."""
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``x_i - log sum_j exp(x_j)`` via the log-sum-exp trick: exact for logits like 1e4."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax_backward(probs: np.ndarray, grad_out: np.ndarray, axis: int = -1) -> np.ndarray:
    """Vector-Jacobian product of softmax: ``dx = s * (g - sum(g * s))`` along ``axis``.

    (The Jacobian is ``diag(s) - s s^T``; multiplying it by ``g`` gives this without building it.)
    """
    return probs * (grad_out - (grad_out * probs).sum(axis=axis, keepdims=True))
