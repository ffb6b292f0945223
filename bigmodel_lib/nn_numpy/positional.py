"""Positional information: attention alone is permutation-equivariant, so positions are added to x.

Sinusoidal encoding (Vaswani et al., 2017), with ``w_i = 1 / 10000^(2i / d_model)``::

    PE[pos, 2i]     = sin(pos w_i)
    PE[pos, 2i + 1] = cos(pos w_i)

Each pair ``(sin, cos)`` turns by the angle ``k w_i`` when ``pos`` moves by ``k``, so
``PE[pos + k]`` is a fixed linear map (a rotation per frequency pair) of ``PE[pos]`` -- relative
offsets are easy for a linear layer to read. The learned alternative is a trainable table.

Rotary position embedding (RoPE, Su et al. 2021, "RoFormer") adds nothing to ``x``: inside attention it
*rotates* each query and key by an angle proportional to its position, feature pair ``i`` by
``m theta_i`` with ``theta_i = base^(-2i / d_head)``. A rotation by ``m theta`` followed by the dot
product with a key rotated by ``n theta`` only sees ``(m - n) theta``, so the attention score depends on
the positions only through ``m - n``. Pairing: **rotate-half** (GPT-NeoX, LLaMA, Hugging Face), feature
``i`` paired with ``i + d_head/2``; RoFormer's paper pairs neighbours ``(2i, 2i+1)`` (interleaved). The two
are the same model up to a fixed permutation of the rows of ``W^Q`` and ``W^K``; rotate-half is chosen
because it works on two contiguous halves (no strided gathers) and is what LLaMA checkpoints expect.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bigmodel_lib._checks import check_array, check_positive_int
from bigmodel_lib.contracts.positional import (  # noqa: F401 -- re-exported: the contracts both packages keep
    ROPE_BASE,
    check_positions,
    check_rotary_config,
    check_rotary_input,
)
from bigmodel_lib.nn_numpy.functional import check_grad_out, numpy_dtype_of, require_cache
from bigmodel_lib.nn_numpy.module import Module, Parameter
from bigmodel_lib.utils import get_numpy_rng


def sinusoidal_positional_encoding(max_len: int, d_model: int, *, dtype: Any = np.float32) -> np.ndarray:
    """The ``(max_len, d_model)`` table ``PE[pos, 2i] = sin(pos / 10000^(2i/d))``, ``PE[pos, 2i+1] = cos(...)``.

    Computed in float64, returned in ``dtype``. An odd ``d_model`` ends with a sine column.
    """
    check_positive_int("sinusoidal_positional_encoding", "max_len", max_len)
    check_positive_int("sinusoidal_positional_encoding", "d_model", d_model)
    position = np.arange(max_len, dtype=np.float64)[:, None]  # (max_len,) -> (max_len, 1)
    inv_freq = 10000.0 ** (-np.arange(0, d_model, 2, dtype=np.float64) / d_model)  # (ceil(d/2),): w_i
    angles = position * inv_freq  # (max_len, 1) * (ceil(d/2),) -> (max_len, ceil(d/2))
    pe = np.empty((max_len, d_model), dtype=np.float64)
    pe[:, 0::2] = np.sin(angles)  # even columns 2i
    pe[:, 1::2] = np.cos(angles[:, : d_model // 2])  # odd columns 2i + 1
    return pe.astype(dtype)


class SinusoidalPositionalEncoding(Module):
    """``y = x + PE[:L]`` for ``x (B, L, d_model)``; no parameters (the table is fixed).

    The table is kept in float64 and cast to the input's dtype when added, so the module computes
    in the dtype it is given: a float64 input gets the exact table, a float32 one gets the very
    numbers of the PyTorch twin's float32 buffer (both round the same float64 values). Backward is
    the identity.
    """

    def __init__(self, d_model: int, max_len: int = 5000, *, dtype: Any = np.float64) -> None:
        self.d_model, self.max_len = d_model, max_len
        self.pe = sinusoidal_positional_encoding(max_len, d_model, dtype=dtype)  # (max_len, d): not a Parameter
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array("SinusoidalPositionalEncoding", "x", x)
        check_positions("SinusoidalPositionalEncoding", x, self.max_len, self.d_model)
        self._shape = x.shape
        return x + self.pe[: x.shape[-2]].astype(x.dtype, copy=False)  # (B, L, d) + (L, d)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        shape = require_cache(self, self._shape)
        check_grad_out("SinusoidalPositionalEncoding", grad_out, shape)
        return grad_out

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}"


class LearnedPositionalEmbedding(Module):
    """``y = x + weight[:L]`` with a trainable ``weight (max_len, d_model) ~ N(0, 0.02^2)`` (GPT-2's init).

    Backward: ``dL/dx = g`` and ``dL/dweight[:L] += sum over the batch of g``.
    """

    def __init__(
        self,
        max_len: int,
        d_model: int,
        *,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        check_positive_int("LearnedPositionalEmbedding", "max_len", max_len)
        check_positive_int("LearnedPositionalEmbedding", "d_model", d_model)
        self.max_len, self.d_model = max_len, d_model
        rng = rng if rng is not None else get_numpy_rng()
        self.weight = Parameter((0.02 * rng.standard_normal((max_len, d_model))).astype(dtype))
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array("LearnedPositionalEmbedding", "x", x)
        check_positions("LearnedPositionalEmbedding", x, self.max_len, self.d_model)
        self._shape = x.shape
        return x + self.weight.data[: x.shape[-2]]  # (B, L, d) + (L, d)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        shape = require_cache(self, self._shape)
        check_grad_out("LearnedPositionalEmbedding", grad_out, shape)
        length = shape[-2]
        per_example = grad_out.reshape(-1, length, self.d_model)  # (..., L, d) -> (N, L, d)
        self.weight.grad[:length] += per_example.sum(axis=0)  # (N, L, d) -> (L, d)
        return grad_out

    @classmethod
    def from_pytorch(cls, module: Any) -> LearnedPositionalEmbedding:
        """An equal NumPy layer from an ``nn_torch.LearnedPositionalEmbedding`` or a ``torch.nn.Embedding``."""
        max_len, d_model = module.weight.shape
        layer = cls(max_len, d_model, dtype=numpy_dtype_of(module.weight))
        layer.load_state_dict({"weight": module.weight})
        return layer

    def extra_repr(self) -> str:
        return f"max_len={self.max_len}, d_model={self.d_model}"


def rotary_cos_sin(positions: np.ndarray, head_dim: int, base: float = ROPE_BASE) -> tuple[np.ndarray, np.ndarray]:
    """``cos`` and ``sin`` of the angles ``m theta_i``, ``theta_i = base^(-2i/head_dim)``, in float64.

    ``positions (L,)`` -> two ``(L, head_dim)`` arrays, each half repeated (``[c_0..c_{d/2-1}, c_0..c_{d/2-1}]``)
    to line up with the rotate-half pairing ``(i, i + head_dim/2)``.
    """
    inv_freq = base ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)  # (d/2,): theta_i
    angles = np.asarray(positions, dtype=np.float64)[:, None] * inv_freq  # (L, 1) * (d/2,) -> (L, d/2)
    angles = np.concatenate([angles, angles], axis=-1)  # (L, d/2) -> (L, d)
    return np.cos(angles), np.sin(angles)


def _rotate_half(x: np.ndarray) -> np.ndarray:
    """``[x1, x2] -> [-x2, x1]``: each pair ``(x_i, x_{i+d/2})`` turned by 90 degrees."""
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def rotary_embedding(
    x: np.ndarray, positions: np.ndarray | None = None, *, base: float = ROPE_BASE, inverse: bool = False,
) -> np.ndarray:
    """RoPE: ``x (..., L, head_dim)`` with row ``l`` rotated by the angles of position ``positions[l]``.

    ``y = x cos + rotate_half(x) sin``: pair ``(x_i, x_{i+d/2})`` turned by ``m theta_i``. ``positions``
    defaults to ``0..L-1``; ``inverse=True`` turns by ``-m theta_i`` (the inverse rotation, which is also
    the backward pass: a rotation's Jacobian is the rotation, and its transpose is its inverse).
    Angles are computed in float64 and the result is in ``x``'s dtype.
    """
    where = "rotary_embedding"
    check_array(where, "x", x)
    head_dim = x.shape[-1] if x.ndim else 0
    check_rotary_config(where, head_dim, base)
    if positions is None:
        positions = np.arange(x.shape[-2])
    check_rotary_input(where, x, head_dim, len(positions))
    cos, sin = rotary_cos_sin(positions, head_dim, base)
    if inverse:
        sin = -sin
    return (x * cos + _rotate_half(x) * sin).astype(x.dtype, copy=False)  # (..., L, d) * (L, d)


class RotaryEmbedding(Module):
    """RoPE as a layer: ``forward(x (..., L, head_dim), start=0)`` rotates row ``l`` by position ``start + l``.

    No parameters (``state_dict()`` is empty), no table: the angles are computed for the positions asked,
    so there is no maximum length. ``backward(g)`` is the inverse rotation of ``g``.
    """

    def __init__(self, head_dim: int, base: float = ROPE_BASE) -> None:
        check_rotary_config("RotaryEmbedding", head_dim, base)
        self.head_dim, self.base = head_dim, float(base)
        self._cache: tuple[np.ndarray, tuple[int, ...]] | None = None

    def forward(self, x: np.ndarray, start: int = 0) -> np.ndarray:
        check_array("RotaryEmbedding", "x", x)
        check_rotary_input("RotaryEmbedding", x, self.head_dim)
        positions = np.arange(start, start + x.shape[-2])
        self._cache = (positions, x.shape)
        return rotary_embedding(x, positions, base=self.base)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        positions, shape = require_cache(self, self._cache)
        check_grad_out("RotaryEmbedding", grad_out, shape)
        return rotary_embedding(grad_out, positions, base=self.base, inverse=True)

    def extra_repr(self) -> str:
        return f"head_dim={self.head_dim}, base={self.base}"
