"""The NumPy module base: parameters, state dicts, train/eval -- the plumbing PyTorch gives for free.

A NumPy layer keeps what its backward pass needs from the last ``forward`` call (its *cache*), so
the protocol is strictly ``out = layer(x)`` then ``grad_x = layer.backward(grad_out)``. Calling a
layer twice before its backward overwrites the cache -- use two layers instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from bigmodel_lib._checks import shape_str
from bigmodel_lib.utils import get_numpy_rng


def to_numpy(value: Any) -> np.ndarray:
    """A NumPy copy of an array or a torch tensor (any device), so state dicts travel both ways."""
    if hasattr(value, "detach"):  # a torch tensor; avoid importing torch here
        return value.detach().cpu().numpy().copy()
    return np.array(value, copy=True)


class Parameter:
    """A trainable array and the gradient accumulated into it by ``backward``.

    ``data`` and ``grad`` always have the same shape and dtype.
    """

    def __init__(self, data: np.ndarray) -> None:
        self.data = np.asarray(data)
        self.grad = np.zeros_like(self.data)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    def zero_grad(self) -> None:
        self.grad = np.zeros_like(self.data)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


def uniform_init(shape: tuple[int, ...], bound: float, dtype: Any, rng: np.random.Generator | None) -> Parameter:
    """``U(-bound, bound)`` -- PyTorch's default for Linear: ``bound = 1/sqrt(fan_in)``."""
    rng = rng if rng is not None else get_numpy_rng()
    return Parameter(rng.uniform(-bound, bound, size=shape).astype(dtype))


class Module:
    """Base class of every NumPy layer and model.

    Sub-classes assign :class:`Parameter` and :class:`Module` attributes in ``__init__``; they are
    found by attribute order, which gives the same ``state_dict`` keys as the PyTorch twin.
    """

    training: bool = True

    # -- the two passes -------------------------------------------------------------------
    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> Any:
        """Given dL/d(output), accumulate parameter gradients and return dL/d(input)."""
        raise NotImplementedError

    def __call__(self, *inputs: Any, **kwargs: Any) -> Any:
        return self.forward(*inputs, **kwargs)

    # -- the tree of parameters -------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, Parameter)``: own parameters first, then each child's (as PyTorch)."""
        for name, value in vars(self).items():
            if isinstance(value, Parameter):
                yield prefix + name, value
        for name, child in self.named_children():
            yield from child.named_parameters(prefix + name + ".")

    def parameters(self) -> list[Parameter]:
        return [p for _, p in self.named_parameters()]

    def num_parameters(self) -> int:
        return sum(p.data.size for p in self.parameters())

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    # -- modes and dtypes --------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        self.training = mode
        for _, child in self.named_children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def to(self, dtype: Any) -> Module:
        """Cast every parameter (and its gradient) to ``dtype``, e.g. ``np.float64`` for grad checks."""
        for p in self.parameters():
            p.data = p.data.astype(dtype)
            p.grad = p.grad.astype(dtype)
        return self

    def double(self) -> Module:
        return self.to(np.float64)

    def float(self) -> Module:
        return self.to(np.float32)

    # -- state dicts ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter, under the same keys as the PyTorch twin's ``state_dict()``."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> None:
        """Load arrays **or torch tensors** (e.g. ``torch_model.state_dict()``), keeping our dtype."""
        params = dict(self.named_parameters())
        if strict:
            missing = sorted(set(params) - set(state_dict))
            unexpected = sorted(set(state_dict) - set(params))
            if missing or unexpected:
                raise KeyError(
                    f"{type(self).__name__}.load_state_dict: missing keys {missing}, unexpected keys {unexpected}"
                )
        for name, value in state_dict.items():
            if name not in params:
                continue
            array = to_numpy(value)
            target = params[name]
            if array.shape != target.data.shape:
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: '{name}' expected shape "
                    f"{shape_str(target.data)}, got {shape_str(array)}"
                )
            target.data = array.astype(target.data.dtype)
            target.zero_grad()

    # -- printing ---------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        lines.append(")")
        return "\n".join(lines)
