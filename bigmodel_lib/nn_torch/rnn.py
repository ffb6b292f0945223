"""Recurrent layers in PyTorch: the built-in fused kernels with the library's checks and NumPy interop.

:class:`RNN` and :class:`LSTM` subclass ``torch.nn.RNN`` / ``torch.nn.LSTM`` (one layer,
``batch_first=True``), so they run PyTorch's fused kernels -- cuDNN on an NVIDIA GPU, oneDNN or the
native loop on a CPU -- and autograd gives backpropagation through time. ``nn_numpy.rnn`` writes both
passes out; the two packages share the equations, the argument names, the shapes and the state_dict
keys (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``).

``lengths`` (right-padded sequences) goes through ``pack_padded_sequence``: each sequence's final
state is taken at its own last step and padded positions of ``output`` are zero, as in ``nn_numpy``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from bigmodel_lib._checks import check_features, check_floating, check_ndim, check_positive_int, check_tensor
from bigmodel_lib.nn_numpy.rnn import (
    KINDS,
    _check_from_pytorch,
    check_lengths,
    check_nonlinearity,
    check_sequence,
    check_state,
)
from bigmodel_lib.nn_torch.linear import Linear
from bigmodel_lib.nn_torch.module import Module


def _check_step(where: str, x: torch.Tensor, input_size: int) -> None:
    check_tensor(where, "x", x)
    check_floating(where, "x", x)
    check_ndim(where, "x", x, 2, f"(B, {input_size})")
    check_features(where, "x", x, input_size)


def _check_cell_state(where: str, name: str, h: torch.Tensor | None, x: torch.Tensor, hidden: int) -> None:
    if h is not None:
        check_tensor(where, name, h)
        check_state(where, name, h, (x.shape[0], hidden), x)


class RNNCell(Module, nn.RNNCell):
    """One vanilla RNN step ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)``; ``forward(x (B, in), h=None)``."""

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        _check_step("RNNCell", x, self.input_size)
        _check_cell_state("RNNCell", "h", h, x, self.hidden_size)
        return super().forward(x, h)

    @classmethod
    def from_pytorch(cls, module: nn.RNNCell) -> RNNCell:
        _check_from_pytorch("RNNCell", module, "RNNCell")
        cell = cls(module.input_size, module.hidden_size, bias=module.bias, nonlinearity=module.nonlinearity,
                   device=module.weight_ih.device, dtype=module.weight_ih.dtype)
        cell.load_state_dict(module.state_dict())
        return cell


class LSTMCell(Module, nn.LSTMCell):
    """One LSTM step; ``forward(x (B, in), state=(h, c)=None) -> (h', c')``, gates ``i, f, g, o``."""

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        _check_step("LSTMCell", x, self.input_size)
        if state is not None:
            if not isinstance(state, tuple) or len(state) != 2:
                raise TypeError(f"LSTMCell: 'state' must be a tuple (h, c), got {type(state).__name__}")
            _check_cell_state("LSTMCell", "h", state[0], x, self.hidden_size)
            _check_cell_state("LSTMCell", "c", state[1], x, self.hidden_size)
        return super().forward(x, state)

    @classmethod
    def from_pytorch(cls, module: nn.LSTMCell) -> LSTMCell:
        _check_from_pytorch("LSTMCell", module, "LSTMCell")
        cell = cls(module.input_size, module.hidden_size, bias=module.bias,
                   device=module.weight_ih.device, dtype=module.weight_ih.dtype)
        cell.load_state_dict(module.state_dict())
        return cell


class _Recurrent(Module):
    """Checks and the packed-sequence path shared by :class:`RNN` and :class:`LSTM`."""

    input_size: int
    hidden_size: int

    def _check(self, x: torch.Tensor, lengths: torch.Tensor | None) -> None:
        where = type(self).__name__
        check_tensor(where, "x", x)
        check_sequence(where, x, self.input_size)
        if lengths is not None:
            check_tensor(where, "lengths", lengths)
            check_lengths(where, lengths, x.shape[0], x.shape[1])

    def _check_initial(self, name: str, h: torch.Tensor | None, x: torch.Tensor) -> None:
        if h is not None:
            check_tensor(type(self).__name__, name, h)
            check_state(type(self).__name__, name, h, (1, x.shape[0], self.hidden_size), x)

    def _run(self, x: torch.Tensor, hx: Any, lengths: torch.Tensor | None) -> tuple[torch.Tensor, Any]:
        """The built-in forward; with ``lengths``, on a packed sequence (each sequence stops at its end)."""
        if lengths is None:
            return super().forward(x, hx)  # type: ignore[misc]  # nn.RNN / nn.LSTM: the fused kernel
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        output, final = super().forward(packed, hx)  # type: ignore[misc]
        output, _ = pad_packed_sequence(output, batch_first=True, total_length=x.shape[1])  # zeros at padding
        return output, final


class RNN(_Recurrent, nn.RNN):
    """A vanilla RNN over ``x (B, T, input_size)``: ``forward(x, h0=None, *, lengths=None) -> (output, h_n)``.

    ``output (B, T, H)``, ``h_n (1, B, H)``; the same contract as ``nn_numpy.RNN``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        check_positive_int("RNN", "input_size", input_size)
        check_positive_int("RNN", "hidden_size", hidden_size)
        check_nonlinearity("RNN", nonlinearity)
        super().__init__(input_size, hidden_size, num_layers=1, nonlinearity=nonlinearity, bias=bias,
                         batch_first=True, device=device, dtype=dtype)

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, h0: torch.Tensor | None = None, *, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        self._check(x, lengths)
        self._check_initial("h0", h0, x)
        return self._run(x, h0, lengths)

    @classmethod
    def from_pytorch(cls, module: nn.RNN) -> RNN:
        """An equal layer built from a single-layer ``torch.nn.RNN`` (weights copied, device and dtype kept)."""
        _check_from_pytorch("RNN", module, "RNN")
        layer = cls(module.input_size, module.hidden_size, bias=module.bias, nonlinearity=module.nonlinearity,
                    device=module.weight_ih_l0.device, dtype=module.weight_ih_l0.dtype)
        layer.load_state_dict(module.state_dict())
        return layer


class LSTM(_Recurrent, nn.LSTM):
    """An LSTM over ``x (B, T, input_size)``: ``forward(x, state=None, *, lengths=None) -> (output, (h_n, c_n))``.

    ``output (B, T, H)``, ``h_n, c_n (1, B, H)``; the same contract as ``nn_numpy.LSTM``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        check_positive_int("LSTM", "input_size", input_size)
        check_positive_int("LSTM", "hidden_size", hidden_size)
        super().__init__(input_size, hidden_size, num_layers=1, bias=bias, batch_first=True,
                         device=device, dtype=dtype)

    def forward(  # type: ignore[override]
        self,
        x: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor] | None = None,
        *,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        self._check(x, lengths)
        if state is not None:
            if not isinstance(state, tuple) or len(state) != 2:
                raise TypeError(f"LSTM: 'state' must be a tuple (h0, c0), got {type(state).__name__}")
            self._check_initial("h0", state[0], x)
            self._check_initial("c0", state[1], x)
        return self._run(x, state, lengths)

    @torch.no_grad()
    def init_gate_biases(self, forget: float = 1.0, input: float = 0.0) -> LSTM:  # noqa: A002
        """Set the forget and input gates' total biases (see ``nn_numpy.LSTM.init_gate_biases``)."""
        if not self.bias:
            raise ValueError("LSTM.init_gate_biases: this LSTM was built with bias=False")
        hidden = self.hidden_size
        for gate, value in ((0, input), (1, forget)):  # rows [i | f | g | o]
            rows = slice(gate * hidden, (gate + 1) * hidden)
            self.bias_ih_l0[rows] = value
            self.bias_hh_l0[rows] = 0.0
        return self

    @classmethod
    def from_pytorch(cls, module: nn.LSTM) -> LSTM:
        """An equal layer built from a single-layer ``torch.nn.LSTM`` (no projection)."""
        _check_from_pytorch("LSTM", module, "LSTM")
        layer = cls(module.input_size, module.hidden_size, bias=module.bias,
                    device=module.weight_ih_l0.device, dtype=module.weight_ih_l0.dtype)
        layer.load_state_dict(module.state_dict())
        return layer


class RNNWithOutput(Module):
    """A recurrent layer plus the output layer ``y_t = W_hy h_t + b_y`` (keys ``rnn.*``, ``out.*``).

    ``forward(x, state=None, *, lengths=None) -> (y (B, T, output_size), final_state)``; the same
    contract as ``nn_numpy.RNNWithOutput``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        kind: str = "rnn",
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"RNNWithOutput: 'kind' must be one of {KINDS}, got {kind!r}")
        check_positive_int("RNNWithOutput", "output_size", output_size)
        self.kind = kind
        layer = RNN if kind == "rnn" else LSTM
        self.rnn = layer(input_size, hidden_size, device=device, dtype=dtype)
        self.out = Linear(hidden_size, output_size, device=device, dtype=dtype)

    @property
    def hidden_size(self) -> int:
        return self.rnn.hidden_size

    def forward(
        self, x: torch.Tensor, state: Any = None, *, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, Any]:
        hidden, final = self.rnn(x, state, lengths=lengths)  # (B, T, H)
        return self.out(hidden), final  # (B, T, H) -> (B, T, output_size)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"
