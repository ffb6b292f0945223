"""The vanilla (Elman) RNN with backpropagation through time, and an RNN with an output layer.

One step (PyTorch's ``nn.RNN`` / ``nn.RNNCell``)::

    h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)            (or ReLU)

This is source article 2's ``h_t = f(W [h_{t-1}, x_t] + b)`` with ``W = [W_hh | W_ih]`` split in two and
the bias split in two (PyTorch keeps two biases; only their sum matters). The *output* layer
``y_t = W_hy h_t + b_y`` has weights of its own (:class:`RNNWithOutput`).

Backward through one step, with ``dh`` the gradient reaching ``h_t`` (from the output at ``t`` and from
step ``t + 1``)::

    da = dh * (1 - h_t^2)    dW_hh += da^T h_{t-1}    dh_{t-1} = da W_hh

Every step multiplies the gradient by ``diag(1 - h^2) W_hh`` -- a product of ``T`` Jacobians that
shrinks (or explodes) geometrically: the *vanishing gradient*. The LSTM (``lstm.py``) avoids it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bigmodel_lib._checks import (
    check_positive_int,
)
from bigmodel_lib.contracts.rnn import (  # noqa: F401 -- re-exported: the contracts both packages keep
    KINDS,
    NONLINEARITIES,
    _check_from_pytorch,
    check_lengths,
    check_nonlinearity,
    check_sequence,
    check_state,
)
from bigmodel_lib.nn_numpy.functional import check_grad_out, numpy_dtype_of, require_cache
from bigmodel_lib.nn_numpy.linear import Linear
from bigmodel_lib.nn_numpy.lstm import LSTM
from bigmodel_lib.nn_numpy.module import Module
from bigmodel_lib.nn_numpy.recurrent import _accumulate_bias, _Cell, _init_weights, _Recurrent, _split_state_grad


def _rnn_activate(pre: np.ndarray, nonlinearity: str) -> np.ndarray:
    return np.tanh(pre) if nonlinearity == "tanh" else np.maximum(pre, 0)

def _rnn_activate_backward(grad_h: np.ndarray, h: np.ndarray, nonlinearity: str) -> np.ndarray:
    """``dL/da`` from ``dL/dh`` and the output ``h = f(a)``: ``1 - h^2`` for tanh, ``[h > 0]`` for ReLU."""
    return grad_h * (1.0 - h * h) if nonlinearity == "tanh" else grad_h * (h > 0)

class RNNCell(_Cell):
    """One step of a vanilla RNN: ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or ReLU).

    ``forward(x (B, input_size), h (B, H) = zeros) -> h' (B, H)``; ``backward(dL/dh')`` returns
    ``dL/dx``, or ``(dL/dx, dL/dh)`` when ``h`` was given. Keys as ``torch.nn.RNNCell``:
    ``weight_ih (H, input_size)``, ``weight_hh (H, H)``, ``bias_ih (H,)``, ``bias_hh (H,)``.

    To unroll a cell over time, call :meth:`step` / :meth:`step_backward` instead: they take and
    return the cache explicitly, so one cell can serve every time step.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        *,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        check_positive_int("RNNCell", "input_size", input_size)
        check_positive_int("RNNCell", "hidden_size", hidden_size)
        self.input_size, self.hidden_size = input_size, hidden_size
        self.nonlinearity = check_nonlinearity("RNNCell", nonlinearity)
        _init_weights(self, input_size, hidden_size, 1, bias, "", dtype, rng)
        self._cache: tuple | None = None

    def step(self, x: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, tuple]:
        """``(h', cache)`` for one step (no checks, no stored state)."""
        pre = x @ self.weight_ih.data.T + h @ self.weight_hh.data.T  # (B, in) @ (in, H) + (B, H) @ (H, H) -> (B, H)
        if self.bias_ih is not None:
            pre = pre + self.bias_ih.data + self.bias_hh.data
        h_new = _rnn_activate(pre, self.nonlinearity)
        return h_new, (x, h, h_new)

    def step_backward(self, cache: tuple, grad_h_new: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(dL/dx, dL/dh)`` for one step; parameter gradients are accumulated."""
        x, h, h_new = cache
        grad_pre = _rnn_activate_backward(grad_h_new, h_new, self.nonlinearity)  # (B, H)
        self.weight_ih.grad += grad_pre.T @ x  # (H, B) @ (B, in) -> (H, in)
        self.weight_hh.grad += grad_pre.T @ h  # (H, B) @ (B, H) -> (H, H)
        _accumulate_bias(self.bias_ih, self.bias_hh, grad_pre.sum(axis=0))
        return grad_pre @ self.weight_ih.data, grad_pre @ self.weight_hh.data  # (B, in), (B, H)

    def forward(self, x: np.ndarray, h: np.ndarray | None = None) -> np.ndarray:
        self._check_step_input(x)
        given = h is not None
        h = self._state_or_zeros("h", h, x)
        h_new, cache = self.step(x, h)
        self._cache = (cache, given)
        return h_new

    def backward(self, grad_out: np.ndarray) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        cache, given = require_cache(self, self._cache)
        check_grad_out("RNNCell", grad_out, cache[2].shape)
        dx, dh = self.step_backward(cache, grad_out)
        return (dx, dh) if given else dx

    @classmethod
    def from_pytorch(cls, module: Any) -> RNNCell:
        """An equal NumPy cell built from a ``torch.nn.RNNCell``."""
        _check_from_pytorch("RNNCell", module, "RNNCell")
        cell = cls(module.input_size, module.hidden_size, bias=module.bias, nonlinearity=module.nonlinearity,
                   dtype=numpy_dtype_of(module.weight_ih))
        cell.load_state_dict(module.state_dict())
        return cell

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, nonlinearity={self.nonlinearity!r}"

class RNN(_Recurrent):
    """A vanilla RNN over a whole sequence: ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``.

    ``forward(x (B, T, input_size), h0 (1, B, H) = zeros, *, lengths=None)`` returns
    ``(output (B, T, H), h_n (1, B, H))`` -- ``output[:, t]`` is ``h_t``, ``h_n`` the last state (of
    each sequence's last real step when ``lengths`` is given). ``backward(g)`` takes ``dL/d output``
    or ``(dL/d output, dL/dh_n)`` and returns ``dL/dx``, or ``(dL/dx, dL/dh0)`` when ``h0`` was given.

    After ``backward``, :attr:`state_grads` ``(B, T, H)`` holds ``dL/dh_t`` for every step -- the
    gradient that reached each hidden state through time (the vanishing-gradient picture).
    Keys: ``weight_ih_l0 (H, input_size)``, ``weight_hh_l0 (H, H)``, ``bias_ih_l0``, ``bias_hh_l0`` --
    those of ``torch.nn.RNN``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        *,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        check_positive_int("RNN", "input_size", input_size)
        check_positive_int("RNN", "hidden_size", hidden_size)
        self.input_size, self.hidden_size = input_size, hidden_size
        self.nonlinearity = check_nonlinearity("RNN", nonlinearity)
        _init_weights(self, input_size, hidden_size, 1, bias, "_l0", dtype, rng)
        self._cache: tuple | None = None
        self.state_grads: np.ndarray | None = None

    def forward(
        self, x: np.ndarray, h0: np.ndarray | None = None, *, lengths: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        mask = self._check_inputs(x, lengths)
        h = self._initial("h0", h0, x)
        batch, steps = x.shape[:2]
        pre_x = self._project_inputs(x)  # (B, T, H)
        w_hh_t = self.weight_hh_l0.data.T
        states = np.empty((batch, steps + 1, self.hidden_size), dtype=h.dtype)  # states[:, t + 1] = h_t
        new = np.empty((batch, steps, self.hidden_size), dtype=h.dtype)  # f(a_t), before any masking
        states[:, 0] = h
        for t in range(steps):
            new[:, t] = _rnn_activate(pre_x[:, t] + h @ w_hh_t, self.nonlinearity)  # (B, H) @ (H, H) -> (B, H)
            h = new[:, t] if mask is None else np.where(mask[:, t], new[:, t], h)  # padded steps keep h
            states[:, t + 1] = h
        output = new if mask is None else new * mask  # zeros after each sequence's end
        self._cache = (x, mask, states, new, h0 is not None)
        return output, h[None]  # h_n: (B, H) -> (1, B, H)

    def backward(self, grad_out: Any) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        x, mask, states, new, given = require_cache(self, self._cache)
        grad_output, grad_hn = _split_state_grad("RNN", grad_out)
        batch, steps, hidden = new.shape
        grad_output = np.zeros_like(new) if grad_output is None else grad_output
        check_grad_out("RNN", grad_output, new.shape)
        if grad_hn is not None:
            check_grad_out("RNN", grad_hn, (1, batch, hidden))
        grad_h = np.zeros((batch, hidden), new.dtype) if grad_hn is None else grad_hn[0].copy()
        grad_pre = np.empty_like(new)  # dL/da_t for every step
        self.state_grads = np.empty_like(new)
        w_hh = self.weight_hh_l0.data
        for t in reversed(range(steps)):
            real = None if mask is None else mask[:, t]  # (B, 1)
            grad_h = grad_h + (grad_output[:, t] if real is None else grad_output[:, t] * real)
            self.state_grads[:, t] = grad_h
            grad_new = grad_h if real is None else grad_h * real  # a padded step passes h through unchanged
            grad_pre[:, t] = _rnn_activate_backward(grad_new, new[:, t], self.nonlinearity)
            carried = grad_pre[:, t] @ w_hh  # (B, H) @ (H, H) -> (B, H)
            grad_h = carried if real is None else carried + grad_h * ~real
        flat_pre = grad_pre.reshape(-1, hidden)  # (B, T, H) -> (B*T, H)
        self.weight_hh_l0.grad += flat_pre.T @ states[:, :-1].reshape(-1, hidden)  # sum_t da_t^T h_{t-1}
        grad_x = self._input_backward(x, grad_pre)
        return (grad_x, grad_h[None]) if given else grad_x

    @classmethod
    def from_pytorch(cls, module: Any) -> RNN:
        """An equal NumPy layer built from a single-layer ``torch.nn.RNN`` (batch_first or not: the
        weights are the same; this layer is always batch first)."""
        _check_from_pytorch("RNN", module, "RNN")
        layer = cls(module.input_size, module.hidden_size, bias=module.bias, nonlinearity=module.nonlinearity,
                    dtype=numpy_dtype_of(module.weight_ih_l0))
        layer.load_state_dict(module.state_dict())
        return layer

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, nonlinearity={self.nonlinearity!r}, batch_first=True"

class RNNWithOutput(Module):
    """A recurrent layer plus the output layer of source article 2, ``y_t = W_hy h_t + b_y``, with its own weights.

    ``kind="rnn"`` (vanilla, tanh) or ``"lstm"``. ``forward(x (B, T, input_size), state=None, *,
    lengths=None)`` returns ``(y (B, T, output_size), final_state)`` (``h_n``, or ``(h_n, c_n)`` for the
    LSTM). ``backward(g)`` takes ``dL/dy`` or ``(dL/dy, dL/d final_state)``. Keys: ``rnn.*`` (those of
    the recurrent layer) and ``out.weight`` (= ``W_hy``, ``(output_size, H)``), ``out.bias`` (= ``b_y``).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        kind: str = "rnn",
        *,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"RNNWithOutput: 'kind' must be one of {KINDS}, got {kind!r}")
        check_positive_int("RNNWithOutput", "output_size", output_size)
        self.kind = kind
        layer = RNN if kind == "rnn" else LSTM
        self.rnn = layer(input_size, hidden_size, dtype=dtype, rng=rng)
        self.out = Linear(hidden_size, output_size, dtype=dtype, rng=rng)

    @property
    def hidden_size(self) -> int:
        return self.rnn.hidden_size

    def forward(self, x: np.ndarray, state: Any = None, *, lengths: np.ndarray | None = None) -> tuple[np.ndarray, Any]:
        hidden, final = self.rnn(x, state, lengths=lengths)  # (B, T, H)
        return self.out(hidden), final  # (B, T, H) -> (B, T, output_size)

    def backward(self, grad_out: Any) -> Any:
        grad_y, grad_state = _split_state_grad("RNNWithOutput", grad_out)
        grad_hidden = self.out.backward(grad_y)  # (B, T, output_size) -> (B, T, H)
        return self.rnn.backward((grad_hidden, grad_state))

    @property
    def state_grads(self) -> np.ndarray | None:
        """``dL/dh_t (B, T, H)`` from the last backward (see :class:`RNN`)."""
        return self.rnn.state_grads

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"
