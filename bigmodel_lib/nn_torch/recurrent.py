"""What the PyTorch recurrent layers share: input checks and the ``lengths``-aware forward (see ``nn_numpy.recurrent``).

:class:`RNN` and :class:`LSTM` subclass ``torch.nn.RNN`` / ``torch.nn.LSTM`` (one layer,
``batch_first=True``), so they run PyTorch's fused kernels -- cuDNN on an NVIDIA GPU, oneDNN or the
native loop on a CPU -- and autograd gives backpropagation through time. ``nn_numpy`` writes both
passes out; the two packages share the equations, the argument names, the shapes and the state_dict
keys (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``).

``lengths`` (right-padded sequences) goes through ``pack_padded_sequence``: each sequence's final
state is taken at its own last step and padded positions of ``output`` are zero, as in ``nn_numpy``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from bigmodel_lib._checks import check_features, check_floating, check_ndim, check_tensor
from bigmodel_lib.contracts.rnn import (
    check_lengths,
    check_sequence,
    check_state,
)
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
