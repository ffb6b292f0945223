"""What ``nn_numpy.rnn`` and ``nn_torch.rnn`` share: input checks, configs and key maps.

Both packages import these, so a bad input fails the same way, with the same message, in NumPy and
in PyTorch; neither model package imports the other.
"""

from __future__ import annotations

from typing import Any

from bigmodel_lib._checks import (
    check_features,
    check_floating,
    check_integer,
    check_ndim,
    format_shape,
    shape_str,
)

NONLINEARITIES = ("tanh", "relu")

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

KINDS = ("rnn", "lstm")
