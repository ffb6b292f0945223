"""The LSTM in PyTorch: ``torch.nn.LSTM``'s fused kernel (cuDNN on a GPU) with the library's checks.

Equations and the backward pass written out: ``nn_numpy.lstm``.
"""

from __future__ import annotations

import torch
from torch import nn

from bigmodel_lib._checks import check_positive_int
from bigmodel_lib.contracts.rnn import (
    _check_from_pytorch,
)
from bigmodel_lib.nn_torch.module import Module
from bigmodel_lib.nn_torch.recurrent import _check_cell_state, _check_step, _Recurrent


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
