"""Finite-difference gradient checking for the NumPy layers.

The analytic gradient of a scalar ``L`` is compared with the central difference
``dL/dx_i ~ (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)``, whose error is ``O(eps^2)``.
For a layer ``y = f(x)`` we check ``L = sum(y * G)`` with a fixed random ``G``, so every output
element contributes and ``dL/dy = G`` is what we hand to ``backward``. Run it in float64: in
float32 the rounding error of ``L`` swamps the difference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def numerical_gradient(
    loss_fn: Callable[[], float],
    x: np.ndarray,
    eps: float = 1e-6,
    indices: Sequence[tuple[int, ...]] | None = None,
) -> np.ndarray:
    """Central differences of ``loss_fn()`` with respect to ``x``, perturbed **in place**.

    Only the entries in ``indices`` are computed (all when ``None``); the others stay NaN.
    """
    grad = np.full(x.shape, np.nan, dtype=np.float64)
    for index in indices if indices is not None else np.ndindex(*x.shape):
        original = x[index]
        x[index] = original + eps
        plus = float(loss_fn())
        x[index] = original - eps
        minus = float(loss_fn())
        x[index] = original
        grad[index] = (plus - minus) / (2 * eps)
    return grad


@dataclass
class GradCheckResult:
    """Worst absolute and relative error for each checked array (inputs and parameters)."""

    errors: dict[str, tuple[float, float]] = field(default_factory=dict)
    passed: bool = True
    failures: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"gradient check {'passed' if self.passed else 'FAILED'}"]
        for name, (abs_err, rel_err) in self.errors.items():
            lines.append(f"  {name:<32} max abs err {abs_err:.2e}   max rel err {rel_err:.2e}")
        return "\n".join(lines)


def _sample_indices(shape: tuple[int, ...], limit: int | None, rng: np.random.Generator) -> list[tuple[int, ...]]:
    size = int(np.prod(shape))
    flat = np.arange(size) if limit is None or size <= limit else rng.choice(size, size=limit, replace=False)
    return [tuple(int(i) for i in np.unravel_index(f, shape)) for f in flat]


def check_gradients(
    module: Any,
    *inputs: Any,
    seed: int = 0,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
    max_entries: int | None = 200,
    wrt: Sequence[int] | None = None,
    raise_on_failure: bool = True,
    **forward_kwargs: Any,
) -> GradCheckResult:
    """Check ``module.backward`` against finite differences, for every float input and parameter.

    ``module`` is an ``nn_numpy`` module (a loss too: its output is a scalar). Float inputs must be
    float64. ``wrt`` lists the positions of the inputs to check (default: every float input; a
    loss's target gets no gradient, so losses use ``wrt=(0,)``). ``max_entries`` bounds how many
    entries of each array are perturbed (chosen at random with ``seed``). Integer inputs (token
    ids, class targets) are passed through unchecked. Returns a :class:`GradCheckResult`; raises
    ``AssertionError`` on a mismatch unless told not to.
    """
    rng = np.random.default_rng(seed)
    for i, x in enumerate(inputs):
        if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating) and x.dtype != np.float64:
            raise TypeError(f"check_gradients: input {i} must be float64 for a meaningful check, got {x.dtype}")
    for name, p in module.named_parameters():
        if p.data.dtype != np.float64:
            raise TypeError(
                f"check_gradients: parameter '{name}' must be float64 (call module.double()), got {p.data.dtype}"
            )

    out = module(*inputs, **forward_kwargs)
    outputs = out if isinstance(out, tuple) else (out,)
    projections = [rng.standard_normal(np.shape(o)) for o in outputs]

    def loss() -> float:
        result = module(*inputs, **forward_kwargs)
        results = result if isinstance(result, tuple) else (result,)
        return float(sum(np.sum(r * g) for r, g in zip(results, projections)))

    # Analytic gradients: one forward, then backward with G (a tuple when forward returned several).
    module.zero_grad()
    module(*inputs, **forward_kwargs)
    grad_arg = tuple(projections) if isinstance(out, tuple) else projections[0]
    input_grads = module.backward(grad_arg)
    if not isinstance(input_grads, tuple):
        input_grads = (input_grads,)
    analytic: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    float_positions = [
        i for i, x in enumerate(inputs) if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating)
    ]
    for i in float_positions if wrt is None else wrt:
        if i >= len(input_grads) or input_grads[i] is None:
            raise AssertionError(f"check_gradients: backward returned no gradient for input {i}")
        analytic[f"input[{i}]"] = (inputs[i], np.asarray(input_grads[i]))
    for name, p in module.named_parameters():
        analytic[name] = (p.data, p.grad.copy())

    result = GradCheckResult()
    for name, (array, grad) in analytic.items():
        if grad.shape != array.shape:
            raise AssertionError(f"check_gradients: gradient of {name} has shape {grad.shape}, expected {array.shape}")
        indices = _sample_indices(array.shape, max_entries, rng)
        numeric = numerical_gradient(loss, array, eps=eps, indices=indices)
        picked = tuple(np.array(ix) for ix in zip(*indices)) if indices else ()
        a, n = (grad[picked], numeric[picked]) if indices else (np.zeros(0), np.zeros(0))
        abs_err = float(np.max(np.abs(a - n))) if a.size else 0.0
        # Relative error only means something where the gradient is not ~0: a gradient that is exactly
        # zero (e.g. a key bias, which softmax ignores) would otherwise report 1.0 from round-off.
        scale = np.maximum(np.abs(a) + np.abs(n), atol)
        rel_err = float(np.max(np.abs(a - n) / scale)) if a.size else 0.0
        result.errors[name] = (abs_err, rel_err)
        if not np.allclose(a, n, rtol=rtol, atol=atol):
            result.passed = False
            result.failures.append(name)
    if raise_on_failure and not result.passed:
        raise AssertionError(f"gradients of {result.failures} disagree with finite differences\n{result}")
    return result
