"""The vanilla RNN in PyTorch (fused kernel, the library's checks), and an RNN with an output layer.

Equations and the backward pass written out: ``nn_numpy.rnn``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from bigmodel_lib._checks import check_positive_int
from bigmodel_lib.contracts.rnn import (
    KINDS,
    _check_from_pytorch,
    check_nonlinearity,
)
from bigmodel_lib.nn_torch.linear import Linear
from bigmodel_lib.nn_torch.lstm import LSTM
from bigmodel_lib.nn_torch.module import Module
from bigmodel_lib.nn_torch.recurrent import _check_cell_state, _check_step, _Recurrent


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
