"""Recurrent layers: the vanilla (Elman) RNN and the LSTM, with backpropagation through time.

Vanilla RNN, one step (PyTorch's ``nn.RNN`` / ``nn.RNNCell``)::

    h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)            (or ReLU)

This is the seed's ``h_t = f(W [h_{t-1}, x_t] + b)`` with ``W = [W_hh | W_ih]`` split in two and the
bias split in two (PyTorch keeps two biases; only their sum matters). The *output* layer
``y_t = W_hy h_t + b_y`` has weights of its own (:class:`RNNWithOutput`).

LSTM, one step (Hochreiter & Schmidhuber, 1997, with the forget gate of Gers et al., 2000), gates in
PyTorch's order ``i, f, g, o`` stacked in one ``(4H, .)`` weight::

    [a_i, a_f, a_g, a_o] = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh
    i = sigma(a_i)   f = sigma(a_f)   g = tanh(a_g)   o = sigma(a_o)
    c_t = f * c_{t-1} + i * g                                         (the cell state: added to, not squashed)
    h_t = o * tanh(c_t)

Backpropagation through time (BPTT) runs the same loop backwards. With ``dh`` the gradient reaching
``h_t`` (from the output at ``t`` and from step ``t + 1``)::

    RNN:   da = dh * (1 - h_t^2)    dW_hh += da^T h_{t-1}    dh_{t-1} = da W_hh
    LSTM:  dc += dh * o * (1 - tanh(c_t)^2)                  dc_{t-1} = dc * f
           da_i = dc * g * i(1-i)   da_f = dc * c_{t-1} * f(1-f)
           da_g = dc * i * (1-g^2)  da_o = dh * tanh(c_t) * o(1-o)    dh_{t-1} = da W_hh

In the RNN every step multiplies the gradient by ``diag(1 - h^2) W_hh`` -- a product of ``T``
Jacobians that shrinks (or explodes) geometrically: the *vanishing gradient*. The LSTM's cell state is
multiplied by the forget gate ``f`` only, which the network can hold near 1.

Conventions (as ``torch.nn.RNN`` / ``torch.nn.LSTM`` with ``batch_first=True``, one layer): inputs
``x (B, T, input_size)``, outputs ``(B, T, H)``, states ``(1, B, H)`` (the leading 1 is the number of
layers). ``lengths (B,)`` marks right-padded sequences: steps ``t >= lengths[b]`` leave the state
unchanged and output zeros -- exactly what ``pack_padded_sequence`` gives in PyTorch. The state_dict
keys are PyTorch's (``weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0``), so weights load from
and into ``torch.nn.RNN`` / ``torch.nn.LSTM`` unchanged. Everything is vectorised over the batch; the
only Python loop is over time steps, which is what makes a recurrence a recurrence.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bigmodel_lib._checks import (
    check_array,
    check_features,
    check_floating,
    check_integer,
    check_ndim,
    check_positive_int,
    format_shape,
    shape_str,
)
from bigmodel_lib.nn_numpy.functional import check_grad_out, numpy_dtype_of, require_cache
from bigmodel_lib.nn_numpy.linear import Linear
from bigmodel_lib.nn_numpy.module import Module, Parameter, uniform_init

NONLINEARITIES = ("tanh", "relu")

# -- input checks shared with nn_torch.rnn (they only look at shapes and dtypes) ----------------------


def check_nonlinearity(where: str, nonlinearity: str) -> str:
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"{where}: 'nonlinearity' must be one of {NONLINEARITIES}, got {nonlinearity!r}")
    return nonlinearity


def check_sequence(where: str, x: Any, input_size: int) -> None:
    """``x`` must be a float ``(B, T, input_size)`` batch of sequences (batch first)."""
    check_floating(where, "x", x)
    check_ndim(where, "x", x, 3, f"(B, T, {input_size}) (batch first)")
    check_features(where, "x", x, input_size)
    if x.shape[1] == 0:
        raise ValueError(f"{where}: 'x' expected at least one time step, got shape {shape_str(x)}")


def check_state(where: str, name: str, h: Any, expected: tuple[int, ...], x: Any) -> None:
    """An initial state must be float, of ``expected`` shape, and of the dtype of ``x``."""
    check_floating(where, name, h)
    if tuple(h.shape) != expected:
        raise ValueError(f"{where}: '{name}' expected shape {format_shape(expected)}, got {shape_str(h)}")
    if h.dtype != x.dtype:
        raise TypeError(f"{where}: '{name}' expected the dtype of 'x' ({x.dtype}), got {h.dtype}")


def check_lengths(where: str, lengths: Any, batch: int, steps: int) -> None:
    """``lengths`` must hold ``B`` integers in ``[1, T]`` (right-padded sequences)."""
    check_integer(where, "lengths", lengths)
    if tuple(lengths.shape) != (batch,):
        raise ValueError(f"{where}: 'lengths' expected shape ({batch},) (one length per sequence), "
                         f"got {shape_str(lengths)}")
    if batch and (int(lengths.min()) < 1 or int(lengths.max()) > steps):
        raise ValueError(f"{where}: 'lengths' must be in [1, {steps}] (the number of time steps), "
                         f"got values in [{int(lengths.min())}, {int(lengths.max())}]")


def _split_state_grad(where: str, grad_out: Any) -> tuple[np.ndarray, Any]:
    """``backward`` takes ``g_output`` alone or ``(g_output, g_final_state)`` (either may be ``None``)."""
    if isinstance(grad_out, tuple):
        if len(grad_out) != 2:
            raise ValueError(f"{where}.backward: expected grad_out or (grad_output, grad_state), "
                             f"got a tuple of {len(grad_out)}")
        return grad_out[0], grad_out[1]
    return grad_out, None


# -- the point-wise part of one step, shared by the cells and the layers ----------------------------------


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` written as ``(1 + tanh(x/2)) / 2``: no overflow for large ``|x|``."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _rnn_activate(pre: np.ndarray, nonlinearity: str) -> np.ndarray:
    return np.tanh(pre) if nonlinearity == "tanh" else np.maximum(pre, 0)


def _rnn_activate_backward(grad_h: np.ndarray, h: np.ndarray, nonlinearity: str) -> np.ndarray:
    """``dL/da`` from ``dL/dh`` and the output ``h = f(a)``: ``1 - h^2`` for tanh, ``[h > 0]`` for ReLU."""
    return grad_h * (1.0 - h * h) if nonlinearity == "tanh" else grad_h * (h > 0)


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


def _init_weights(
    owner: Module, input_size: int, hidden_size: int, gate_count: int, bias: bool, suffix: str, dtype: Any,
    rng: np.random.Generator | None,
) -> None:
    """PyTorch's initialisation: every weight and bias ``~ U(-1/sqrt(H), 1/sqrt(H))``."""
    bound = 1.0 / math.sqrt(hidden_size)
    rows = gate_count * hidden_size
    setattr(owner, f"weight_ih{suffix}", uniform_init((rows, input_size), bound, dtype, rng))
    setattr(owner, f"weight_hh{suffix}", uniform_init((rows, hidden_size), bound, dtype, rng))
    setattr(owner, f"bias_ih{suffix}", uniform_init((rows,), bound, dtype, rng) if bias else None)
    setattr(owner, f"bias_hh{suffix}", uniform_init((rows,), bound, dtype, rng) if bias else None)


def _accumulate_bias(bias_ih: Parameter | None, bias_hh: Parameter | None, grad_pre_sum: np.ndarray) -> None:
    """Both biases are added to the same pre-activation, so both get its summed gradient."""
    for b in (bias_ih, bias_hh):
        if b is not None:
            b.grad += grad_pre_sum


def _check_from_pytorch(where: str, module: Any, expected: str) -> None:
    """Only a single-layer, unidirectional built-in has our parameter layout."""
    import torch  # only here: the NumPy models never need torch otherwise

    if not isinstance(module, getattr(torch.nn, expected)):
        raise TypeError(f"{where}.from_pytorch: expected a torch.nn.{expected}, got {type(module).__name__}")
    if getattr(module, "num_layers", 1) != 1:
        raise ValueError(f"{where}.from_pytorch: expected num_layers=1, got {module.num_layers}")
    if getattr(module, "bidirectional", False):
        raise ValueError(f"{where}.from_pytorch: expected bidirectional=False, got True")
    if getattr(module, "proj_size", 0):
        raise ValueError(f"{where}.from_pytorch: expected proj_size=0, got {module.proj_size}")


# -- cells: one time step ---------------------------------------------------------------------------------


class _Cell(Module):
    """Shared plumbing of the cells: size checks of ``x (B, input_size)`` and of the state."""

    input_size: int
    hidden_size: int

    def _check_step_input(self, x: np.ndarray) -> None:
        where = type(self).__name__
        check_array(where, "x", x)
        check_floating(where, "x", x)
        check_ndim(where, "x", x, 2, f"(B, {self.input_size})")
        check_features(where, "x", x, self.input_size)

    def _state_or_zeros(self, name: str, h: np.ndarray | None, x: np.ndarray) -> np.ndarray:
        if h is None:
            return np.zeros((x.shape[0], self.hidden_size), dtype=x.dtype)
        check_array(type(self).__name__, name, h)
        check_state(type(self).__name__, name, h, (x.shape[0], self.hidden_size), x)
        return h


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


# -- layers: a whole sequence -----------------------------------------------------------------------------


class _Recurrent(Module):
    """Shared plumbing of :class:`RNN` and :class:`LSTM`: checks, input projection, masks."""

    input_size: int
    hidden_size: int
    weight_ih_l0: Parameter
    weight_hh_l0: Parameter
    bias_ih_l0: Parameter | None
    bias_hh_l0: Parameter | None

    def _check_inputs(self, x: np.ndarray, lengths: np.ndarray | None) -> np.ndarray | None:
        """Validate ``x`` and ``lengths``; return the step mask ``(B, T, 1)`` (``None``: no padding)."""
        where = type(self).__name__
        check_array(where, "x", x)
        check_sequence(where, x, self.input_size)
        if lengths is None:
            return None
        check_array(where, "lengths", lengths)
        check_lengths(where, lengths, x.shape[0], x.shape[1])
        return (np.arange(x.shape[1]) < lengths[:, None])[:, :, None]  # (B, T, 1): True = a real step

    def _initial(self, name: str, h: np.ndarray | None, x: np.ndarray) -> np.ndarray:
        """An initial state ``(1, B, H)`` (zeros when not given), returned as ``(B, H)``."""
        if h is None:
            return np.zeros((x.shape[0], self.hidden_size), dtype=x.dtype)
        where = type(self).__name__
        check_array(where, name, h)
        check_state(where, name, h, (1, x.shape[0], self.hidden_size), x)
        return h[0]  # (1, B, H) -> (B, H)

    def _project_inputs(self, x: np.ndarray) -> np.ndarray:
        """``x W_ih^T + b_ih + b_hh`` for every step at once -- the part that does not need the loop."""
        pre_x = x @ self.weight_ih_l0.data.T  # (B, T, in) @ (in, G*H) -> (B, T, G*H)
        if self.bias_ih_l0 is not None:
            pre_x = pre_x + (self.bias_ih_l0.data + self.bias_hh_l0.data)
        return pre_x

    def _input_backward(self, x: np.ndarray, grad_pre: np.ndarray) -> np.ndarray:
        """Gradients of :meth:`_project_inputs`: ``dW_ih``, both biases, and ``dL/dx``."""
        width = grad_pre.shape[-1]
        flat_grad = grad_pre.reshape(-1, width)  # (B, T, G*H) -> (B*T, G*H)
        self.weight_ih_l0.grad += flat_grad.T @ x.reshape(-1, self.input_size)  # (G*H, B*T) @ (B*T, in)
        _accumulate_bias(self.bias_ih_l0, self.bias_hh_l0, flat_grad.sum(axis=0))
        return grad_pre @ self.weight_ih_l0.data  # (B, T, G*H) @ (G*H, in) -> (B, T, in)


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


# -- a recurrent layer with its output layer ----------------------------------------------------------------

KINDS = ("rnn", "lstm")


class RNNWithOutput(Module):
    """A recurrent layer plus the seed's output layer ``y_t = W_hy h_t + b_y``, with its own weights.

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
