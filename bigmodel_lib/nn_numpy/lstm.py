"""The LSTM with backpropagation through time.

One step (Hochreiter & Schmidhuber, 1997, with the forget gate of Gers et al., 2000), gates in
PyTorch's order ``i, f, g, o`` stacked in one ``(4H, .)`` weight::

    [a_i, a_f, a_g, a_o] = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh
    i = sigma(a_i)   f = sigma(a_f)   g = tanh(a_g)   o = sigma(a_o)
    c_t = f * c_{t-1} + i * g                                         (the cell state: added to, not squashed)
    h_t = o * tanh(c_t)

Backward through one step, with ``dh`` the gradient reaching ``h_t``::

    dc += dh * o * (1 - tanh(c_t)^2)                  dc_{t-1} = dc * f
    da_i = dc * g * i(1-i)   da_f = dc * c_{t-1} * f(1-f)
    da_g = dc * i * (1-g^2)  da_o = dh * tanh(c_t) * o(1-o)    dh_{t-1} = da W_hh

Where the vanilla RNN multiplies the gradient by ``W_hh`` at every step, the cell state is multiplied
by the forget gate ``f`` only, which the network can hold near 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bigmodel_lib._checks import (
    check_positive_int,
)
from bigmodel_lib.contracts.rnn import (
    _check_from_pytorch,
)
from bigmodel_lib.nn_numpy.functional import check_grad_out, numpy_dtype_of, require_cache
from bigmodel_lib.nn_numpy.recurrent import _accumulate_bias, _Cell, _init_weights, _Recurrent, _split_state_grad


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` written as ``(1 + tanh(x/2)) / 2``: no overflow for large ``|x|``."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))

def _lstm_pointwise(pre: np.ndarray, c_prev: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gates from the pre-activations ``pre (B, 4H)``; returns ``h, c, gates (B, 4H), tanh(c)``."""
    hidden = c_prev.shape[-1]
    gates = np.empty_like(pre)
    gates[:, : 2 * hidden] = _sigmoid(pre[:, : 2 * hidden])  # i, f
    gates[:, 2 * hidden : 3 * hidden] = np.tanh(pre[:, 2 * hidden : 3 * hidden])  # g
    gates[:, 3 * hidden :] = _sigmoid(pre[:, 3 * hidden :])  # o
    i, f, g, o = np.split(gates, 4, axis=1)  # (B, 4H) -> 4 x (B, H)
    c = f * c_prev + i * g
    tanh_c = np.tanh(c)
    return o * tanh_c, c, gates, tanh_c

def _lstm_pointwise_backward(
    grad_h: np.ndarray, grad_c: np.ndarray, c_prev: np.ndarray, gates: np.ndarray, tanh_c: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(dL/d pre (B, 4H), dL/dc_{t-1})`` from ``dL/dh_t`` and ``dL/dc_t`` (the part not through h_t)."""
    i, f, g, o = np.split(gates, 4, axis=1)  # (B, 4H) -> 4 x (B, H)
    grad_c = grad_c + grad_h * o * (1.0 - tanh_c * tanh_c)  # h = o tanh(c)
    grad_pre = np.concatenate(
        [
            grad_c * g * i * (1.0 - i),  # c = f c_prev + i g
            grad_c * c_prev * f * (1.0 - f),
            grad_c * i * (1.0 - g * g),
            grad_h * tanh_c * o * (1.0 - o),
        ],
        axis=1,
    )  # 4 x (B, H) -> (B, 4H)
    return grad_pre, grad_c * f

class LSTMCell(_Cell):
    """One LSTM step: ``(h', c') = LSTM(x, (h, c))`` with gates ``i, f, g, o`` (module docstring).

    ``forward(x (B, input_size), state=(h, c) = zeros) -> (h', c')``; ``backward(g)`` takes ``dL/dh'``
    or ``(dL/dh', dL/dc')`` and returns ``dL/dx``, or ``(dL/dx, (dL/dh, dL/dc))`` when a state was
    given. Keys as ``torch.nn.LSTMCell``: ``weight_ih (4H, input_size)``, ``weight_hh (4H, H)``,
    ``bias_ih (4H,)``, ``bias_hh (4H,)``, rows stacked in the order ``i, f, g, o``.

    :meth:`step` / :meth:`step_backward` pass the cache explicitly, for unrolling (the seq2seq decoder).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        check_positive_int("LSTMCell", "input_size", input_size)
        check_positive_int("LSTMCell", "hidden_size", hidden_size)
        self.input_size, self.hidden_size = input_size, hidden_size
        _init_weights(self, input_size, hidden_size, 4, bias, "", dtype, rng)
        self._cache: tuple | None = None

    def step(self, x: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple]:
        """``(h', c', cache)`` for one step (no checks, no stored state)."""
        pre = x @ self.weight_ih.data.T + h @ self.weight_hh.data.T  # (B, in) @ (in, 4H) + (B, H) @ (H, 4H) -> (B, 4H)
        if self.bias_ih is not None:
            pre = pre + self.bias_ih.data + self.bias_hh.data
        h_new, c_new, gates, tanh_c = _lstm_pointwise(pre, c)
        return h_new, c_new, (x, h, c, gates, tanh_c)

    def step_backward(
        self, cache: tuple, grad_h_new: np.ndarray, grad_c_new: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(dL/dx, dL/dh, dL/dc)`` for one step; parameter gradients are accumulated."""
        x, h, c, gates, tanh_c = cache
        grad_pre, grad_c = _lstm_pointwise_backward(grad_h_new, grad_c_new, c, gates, tanh_c)  # (B, 4H), (B, H)
        self.weight_ih.grad += grad_pre.T @ x  # (4H, B) @ (B, in) -> (4H, in)
        self.weight_hh.grad += grad_pre.T @ h  # (4H, B) @ (B, H) -> (4H, H)
        _accumulate_bias(self.bias_ih, self.bias_hh, grad_pre.sum(axis=0))
        return grad_pre @ self.weight_ih.data, grad_pre @ self.weight_hh.data, grad_c  # (B, in), (B, H), (B, H)

    def forward(
        self, x: np.ndarray, state: tuple[np.ndarray, np.ndarray] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        self._check_step_input(x)
        if state is not None and (not isinstance(state, tuple) or len(state) != 2):
            raise TypeError(f"LSTMCell: 'state' must be a tuple (h, c), got {type(state).__name__}")
        h = self._state_or_zeros("h", None if state is None else state[0], x)
        c = self._state_or_zeros("c", None if state is None else state[1], x)
        h_new, c_new, cache = self.step(x, h, c)
        self._cache = (cache, state is not None)
        return h_new, c_new

    def backward(self, grad_out: Any) -> np.ndarray | tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        cache, given = require_cache(self, self._cache)
        grad_h, grad_c = grad_out if isinstance(grad_out, tuple) else (grad_out, None)
        shape = cache[1].shape
        grad_h = np.zeros(shape, cache[1].dtype) if grad_h is None else grad_h
        grad_c = np.zeros(shape, cache[1].dtype) if grad_c is None else grad_c
        check_grad_out("LSTMCell", grad_h, shape)
        check_grad_out("LSTMCell", grad_c, shape)
        dx, dh, dc = self.step_backward(cache, grad_h, grad_c)
        return (dx, (dh, dc)) if given else dx

    @classmethod
    def from_pytorch(cls, module: Any) -> LSTMCell:
        """An equal NumPy cell built from a ``torch.nn.LSTMCell``."""
        _check_from_pytorch("LSTMCell", module, "LSTMCell")
        cell = cls(module.input_size, module.hidden_size, bias=module.bias, dtype=numpy_dtype_of(module.weight_ih))
        cell.load_state_dict(module.state_dict())
        return cell

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"

class LSTM(_Recurrent):
    """An LSTM over a whole sequence (gates ``i, f, g, o``; module docstring for the equations).

    ``forward(x (B, T, input_size), state=(h0, c0) each (1, B, H) = zeros, *, lengths=None)`` returns
    ``(output (B, T, H), (h_n, c_n))`` as ``torch.nn.LSTM(batch_first=True)``. ``backward(g)`` takes
    ``dL/d output`` or ``(dL/d output, (dL/dh_n, dL/dc_n))`` (any part may be ``None``) and returns
    ``dL/dx``, or ``(dL/dx, (dL/dh0, dL/dc0))`` when a state was given. After ``backward``,
    :attr:`state_grads` ``(B, T, H)`` holds ``dL/dh_t`` and :attr:`cell_grads` ``dL/dc_t``.
    Keys: ``weight_ih_l0 (4H, input_size)``, ``weight_hh_l0 (4H, H)``, ``bias_ih_l0 (4H,)``,
    ``bias_hh_l0 (4H,)`` -- those of ``torch.nn.LSTM``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        check_positive_int("LSTM", "input_size", input_size)
        check_positive_int("LSTM", "hidden_size", hidden_size)
        self.input_size, self.hidden_size = input_size, hidden_size
        _init_weights(self, input_size, hidden_size, 4, bias, "_l0", dtype, rng)
        self._cache: tuple | None = None
        self.state_grads: np.ndarray | None = None
        self.cell_grads: np.ndarray | None = None

    def forward(
        self,
        x: np.ndarray,
        state: tuple[np.ndarray, np.ndarray] | None = None,
        *,
        lengths: np.ndarray | None = None,
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        mask = self._check_inputs(x, lengths)
        if state is not None and (not isinstance(state, tuple) or len(state) != 2):
            raise TypeError(f"LSTM: 'state' must be a tuple (h0, c0), got {type(state).__name__}")
        h = self._initial("h0", None if state is None else state[0], x)
        c = self._initial("c0", None if state is None else state[1], x)
        batch, steps = x.shape[:2]
        hidden = self.hidden_size
        pre_x = self._project_inputs(x)  # (B, T, 4H)
        w_hh_t = self.weight_hh_l0.data.T
        h_states = np.empty((batch, steps + 1, hidden), dtype=h.dtype)  # h_states[:, t + 1] = h_t
        c_states = np.empty((batch, steps + 1, hidden), dtype=h.dtype)
        gates = np.empty((batch, steps, 4 * hidden), dtype=h.dtype)
        tanh_c = np.empty((batch, steps, hidden), dtype=h.dtype)
        new_h = np.empty((batch, steps, hidden), dtype=h.dtype)  # o * tanh(c), before any masking
        h_states[:, 0], c_states[:, 0] = h, c
        for t in range(steps):
            pre = pre_x[:, t] + h @ w_hh_t  # (B, 4H) + (B, H) @ (H, 4H) -> (B, 4H)
            new_h[:, t], c_new, gates[:, t], tanh_c[:, t] = _lstm_pointwise(pre, c)
            if mask is None:
                h, c = new_h[:, t], c_new
            else:  # padded steps keep (h, c)
                h, c = np.where(mask[:, t], new_h[:, t], h), np.where(mask[:, t], c_new, c)
            h_states[:, t + 1], c_states[:, t + 1] = h, c
        output = new_h if mask is None else new_h * mask
        self._cache = (x, mask, h_states, c_states, gates, tanh_c, state is not None)
        return output, (h[None], c[None])  # (B, H) -> (1, B, H)

    def backward(self, grad_out: Any) -> np.ndarray | tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        x, mask, h_states, c_states, gates, tanh_c, given = require_cache(self, self._cache)
        grad_output, grad_state = _split_state_grad("LSTM", grad_out)
        batch, steps, hidden = tanh_c.shape
        grad_hn, grad_cn = (None, None) if grad_state is None else grad_state
        grad_output = np.zeros_like(tanh_c) if grad_output is None else grad_output
        check_grad_out("LSTM", grad_output, tanh_c.shape)
        zeros = np.zeros((batch, hidden), tanh_c.dtype)
        for name, g in (("h_n", grad_hn), ("c_n", grad_cn)):
            if g is not None:
                check_grad_out(f"LSTM ({name})", g, (1, batch, hidden))
        grad_h = zeros if grad_hn is None else grad_hn[0].copy()
        grad_c = zeros if grad_cn is None else grad_cn[0].copy()
        grad_pre = np.empty_like(gates)  # (B, T, 4H)
        self.state_grads = np.empty_like(tanh_c)
        self.cell_grads = np.empty_like(tanh_c)
        w_hh = self.weight_hh_l0.data
        for t in reversed(range(steps)):
            real = None if mask is None else mask[:, t]  # (B, 1)
            grad_h = grad_h + (grad_output[:, t] if real is None else grad_output[:, t] * real)
            self.state_grads[:, t], self.cell_grads[:, t] = grad_h, grad_c
            grad_h_new = grad_h if real is None else grad_h * real
            grad_c_new = grad_c if real is None else grad_c * real
            grad_pre[:, t], grad_c_prev = _lstm_pointwise_backward(
                grad_h_new, grad_c_new, c_states[:, t], gates[:, t], tanh_c[:, t]
            )
            carried = grad_pre[:, t] @ w_hh  # (B, 4H) @ (4H, H) -> (B, H)
            if real is None:
                grad_h, grad_c = carried, grad_c_prev
            else:  # a padded step passed (h, c) through unchanged
                grad_h, grad_c = carried + grad_h * ~real, grad_c_prev + grad_c * ~real
        flat_pre = grad_pre.reshape(-1, 4 * hidden)  # (B, T, 4H) -> (B*T, 4H)
        self.weight_hh_l0.grad += flat_pre.T @ h_states[:, :-1].reshape(-1, hidden)  # sum_t da_t^T h_{t-1}
        grad_x = self._input_backward(x, grad_pre)
        return (grad_x, (grad_h[None], grad_c[None])) if given else grad_x

    def init_gate_biases(self, forget: float = 1.0, input: float = 0.0) -> LSTM:  # noqa: A002
        """Set the forget gate's total bias to ``forget`` and the input gate's to ``input`` (in place).

        PyTorch's default leaves both near 0, so ``f ~ sigmoid(0) = 1/2`` and the cell state (and its
        gradient) halves at every step. ``forget = 1`` is the usual advice (Gers et al., 2000;
        Jozefowicz et al., 2015); ``forget = b, input = -b`` with ``b ~ log(delay)`` is the simplest form
        of Tallec & Ollivier's (2018) chrono initialisation for dependencies ``delay`` steps long.
        The value goes into ``bias_ih_l0``; the ``bias_hh_l0`` slice is zeroed (only the sum matters).
        """
        if self.bias_ih_l0 is None:
            raise ValueError("LSTM.init_gate_biases: this LSTM was built with bias=False")
        hidden = self.hidden_size
        for gate, value in ((0, input), (1, forget)):  # rows [i | f | g | o]
            rows = slice(gate * hidden, (gate + 1) * hidden)
            self.bias_ih_l0.data[rows] = value
            self.bias_hh_l0.data[rows] = 0.0
        return self

    @classmethod
    def from_pytorch(cls, module: Any) -> LSTM:
        """An equal NumPy layer built from a single-layer ``torch.nn.LSTM`` (no projection)."""
        _check_from_pytorch("LSTM", module, "LSTM")
        layer = cls(module.input_size, module.hidden_size, bias=module.bias, dtype=numpy_dtype_of(module.weight_ih_l0))
        layer.load_state_dict(module.state_dict())
        return layer

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, batch_first=True"
