"""What every recurrent layer shares: weight initialization, the cell and layer base classes, the time loop.

Conventions (as ``torch.nn.RNN`` / ``torch.nn.LSTM`` with ``batch_first=True``, one layer): inputs
``x (B, T, input_size)``, outputs ``(B, T, H)``, states ``(1, B, H)`` (the leading 1 is the number of
layers). ``lengths (B,)`` marks right-padded sequences: steps ``t >= lengths[b]`` leave the state
unchanged and output zeros -- exactly what ``pack_padded_sequence`` gives in PyTorch. The state_dict
keys are PyTorch's (``weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0``), so weights load from
and into ``torch.nn.RNN`` / ``torch.nn.LSTM`` unchanged. Everything is vectorised over the batch; the
only Python loop is over time steps, which is what makes a recurrence a recurrence.

Backpropagation through time (BPTT) runs the same loop backwards; each cell (``rnn.py``, ``lstm.py``)
writes its own step.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from bigmodel_lib._checks import (
    check_array,
    check_features,
    check_floating,
    check_ndim,
)
from bigmodel_lib.contracts.rnn import (
    check_lengths,
    check_sequence,
    check_state,
)
from bigmodel_lib.nn_numpy.module import Module, Parameter, uniform_init


def _split_state_grad(where: str, grad_out: Any) -> tuple[np.ndarray, Any]:
    """``backward`` takes ``g_output`` alone or ``(g_output, g_final_state)`` (either may be ``None``)."""
    if isinstance(grad_out, tuple):
        if len(grad_out) != 2:
            raise ValueError(f"{where}.backward: expected grad_out or (grad_output, grad_state), "
                             f"got a tuple of {len(grad_out)}")
        return grad_out[0], grad_out[1]
    return grad_out, None

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
