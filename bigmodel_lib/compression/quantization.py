"""Weight quantization, readable: round-to-nearest integers with a scale (and a zero point), in NumPy.

A weight ``w`` becomes an integer ``q`` of ``bits`` bits and comes back as ``w_hat = (q - z) * s``:

* **symmetric**: ``z = 0`` and ``s = max|w| / qmax`` with ``qmax = 2**(bits-1) - 1``; the integers run over
  ``[-qmax, qmax]`` (the restricted range: -127..127 for int8, -7..7 for int4), so ``+w`` and ``-w`` map to ``+q``
  and ``-q``;
* **asymmetric** (affine): the range ``[lo, hi] = [min(w.min(), 0), max(w.max(), 0)]`` is spread over all
  ``2**bits`` integers ``[-2**(bits-1), 2**(bits-1) - 1]``: ``s = (hi - lo) / (2**bits - 1)`` and the zero point
  ``z = round(qmin - lo / s)`` is the integer that stands for 0. Widening the range to include 0 makes 0 exact.

One scale (and zero point) is shared by a **tensor**, a **channel** (every slice along ``axis``: for a Linear
weight ``(out, in)``, ``axis=0`` gives each output row its own scale) or a **group** of ``group_size`` consecutive
weights along the last axis.

**The range is never clipped**: the scale comes from the largest ``|w|`` (or min/max) of each block, so every
weight is inside the range and the rounding error is at most ``s / 2`` per element (tested). The price: one outlier
sets the scale, and so the step, of every weight sharing it. (Clipping the range, e.g. to a percentile, trades a
larger error on the few outliers for a smaller step on the rest; not done here.)

The integers are stored one per ``int8`` element, whatever ``bits`` is; :attr:`QuantizedTensor.nbytes_packed`
counts what a packed format would store: ``bits`` bits per weight, a float32 scale per block and, for the
asymmetric scheme, a ``bits``-bit zero point per block.

The second half applies this to a PyTorch model (weight-only "fake" quantization: quantize, dequantize, run the model
in float32 to measure the loss) and wraps PyTorch's own int8 dynamic quantization of ``nn.Linear`` layers.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch is imported inside the functions that need it: the NumPy half does not
    import torch

__all__ = [
    "SCHEMES",
    "GRANULARITIES",
    "QuantizedTensor",
    "quantize",
    "dequantize",
    "fake_quantize",
    "integer_range",
    "quantizable_weight_names",
    "fake_quantize_model",
    "quantized_model_nbytes",
    "state_dict_nbytes",
    "called_linear_names",
    "dynamic_quantize_linears",
    "quiet_torch_ao",
    "capture_outputs",
]

SCHEMES = ("symmetric", "asymmetric")
GRANULARITIES = ("tensor", "channel", "group")
SCALE_BYTES = 4  # one float32 per scale


def integer_range(bits: int, scheme: str) -> tuple[int, int]:
    """``(qmin, qmax)``: ``(-(2**(b-1) - 1), 2**(b-1) - 1)`` symmetric, ``(-2**(b-1), 2**(b-1) - 1)`` asymmetric."""
    _check_bits(bits)
    _check_choice("scheme", scheme, SCHEMES)
    qmax = 2 ** (bits - 1) - 1
    return (-qmax if scheme == "symmetric" else -qmax - 1), qmax


@dataclass(frozen=True)
class QuantizedTensor:
    """The integers ``q`` (int8 storage, the shape of the original), one ``scale`` and ``zero_point`` per block.

    ``scale`` and ``zero_point`` have one entry per block: shape ``(1,)`` per tensor, ``(shape[axis],)`` per channel,
    ``(size // group_size,)`` per group (the groups in C order along the last axis).
    """

    q: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray
    bits: int
    scheme: str
    granularity: str
    axis: int
    group_size: int
    dtype: np.dtype

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.q.shape)

    @property
    def num_blocks(self) -> int:
        return int(self.scale.size)

    @property
    def nbytes_packed(self) -> int:
        """Bytes of a packed format: ``bits`` bits per integer, a float32 scale per block, a ``bits``-bit zero
        point per block for the asymmetric scheme (none for symmetric: it is 0). Each part rounded up to bytes."""
        zero_point_bits = self.num_blocks * self.bits if self.scheme == "asymmetric" else 0
        return (math.ceil(self.q.size * self.bits / 8) + SCALE_BYTES * self.num_blocks
                + math.ceil(zero_point_bits / 8))

    def scale_per_element(self) -> np.ndarray:
        """The scale (the rounding step) that applies to each element, in the shape of the original array."""
        blocks = _blocks(np.empty(self.shape), self.granularity, self.axis, self.group_size)   # (num_blocks, length)
        return _unblock(np.broadcast_to(self.scale[:, None], blocks.shape), self.shape, self.granularity, self.axis)

    @property
    def bits_per_weight(self) -> float:
        """``8 * nbytes_packed / size``: e.g. 4.5 for int4 with a float32 scale per group of 64."""
        return 8 * self.nbytes_packed / self.q.size


def _check_bits(bits: Any) -> None:
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 2 <= bits <= 8:
        raise ValueError(f"quantize: 'bits' must be an int from 2 to 8, got {bits!r}")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"quantize: '{name}' must be one of {', '.join(map(repr, choices))}, got {value!r}")


def _blocks(w: np.ndarray, granularity: str, axis: int, group_size: int) -> np.ndarray:
    """A 2-D view ``(num_blocks, block_length)`` of ``w``: one row per scale."""
    if granularity == "tensor":
        return w.reshape(1, -1)                                  # (1, size)
    if granularity == "channel":
        return np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)  # (channels, size / channels)
    return w.reshape(-1, group_size)                             # (size / group_size, group_size)


def _unblock(blocks: np.ndarray, shape: tuple[int, ...], granularity: str, axis: int) -> np.ndarray:
    """The inverse of :func:`_blocks`."""
    if granularity == "channel":
        moved = (shape[axis],) + tuple(s for i, s in enumerate(shape) if i != axis)
        return np.moveaxis(blocks.reshape(moved), 0, axis)      # (channels, ...) -> original axis order
    return blocks.reshape(shape)


def quantize(w: np.ndarray, bits: int = 8, *, scheme: str = "symmetric", granularity: str = "tensor",
             group_size: int = 128, axis: int = 0) -> QuantizedTensor:
    """Round-to-nearest quantization of the float array ``w`` to ``bits``-bit integers (see the module docstring).

    ``axis``: the axis whose slices get their own scale when ``granularity="channel"`` (0: the output rows of a
    Linear weight ``(out, in)``). ``group_size``: the length of a group along the last axis when
    ``granularity="group"``; it must divide ``w.shape[-1]``.
    """
    if not isinstance(w, np.ndarray):
        raise TypeError(f"quantize: 'w' must be a NumPy array, got {type(w).__name__} (wrap it with np.asarray)")
    if not np.issubdtype(w.dtype, np.floating):
        raise TypeError(f"quantize: 'w' must have a floating-point dtype, got {w.dtype}")
    if w.size == 0 or w.ndim == 0:
        raise ValueError(f"quantize: 'w' must have at least one axis and one element, got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("quantize: 'w' must be finite, got NaN or inf")
    _check_bits(bits)
    _check_choice("scheme", scheme, SCHEMES)
    _check_choice("granularity", granularity, GRANULARITIES)
    if granularity == "channel" and not -w.ndim <= axis < w.ndim:
        raise ValueError(f"quantize: 'axis' must be in [{-w.ndim}, {w.ndim - 1}] for 'w' of shape {w.shape}, "
                         f"got {axis}")
    axis = axis % w.ndim
    if granularity == "group" and (not isinstance(group_size, (int, np.integer)) or group_size < 1
                                   or w.shape[-1] % group_size):
        raise ValueError(f"quantize: 'group_size' must be a positive divisor of the last axis ({w.shape[-1]}), "
                         f"got {group_size!r}")

    qmin, qmax = integer_range(bits, scheme)
    blocks = _blocks(w.astype(np.float64), granularity, axis, group_size)      # (num_blocks, block_length)
    if scheme == "symmetric":
        scale = np.abs(blocks).max(axis=1) / qmax
        zero_point = np.zeros(len(blocks), dtype=np.int64)
    else:
        lo, hi = np.minimum(blocks.min(axis=1), 0.0), np.maximum(blocks.max(axis=1), 0.0)  # the range holds 0
        scale = (hi - lo) / (qmax - qmin)
    scale = np.where(scale > 0, scale, 1.0)        # an all-zero block: any scale gives q = 0, pick 1
    if scheme == "asymmetric":
        zero_point = np.clip(np.round(qmin - lo / scale), qmin, qmax).astype(np.int64)
    # w / s + z lands at most half a step outside [qmin, qmax] (z is rounded), so clip() moves no weight by more
    # than the rounding itself would: the bound |w - w_hat| <= s / 2 holds for every element.
    q = np.clip(np.round(blocks / scale[:, None]) + zero_point[:, None], qmin, qmax).astype(np.int8)
    return QuantizedTensor(q=_unblock(q, w.shape, granularity, axis), scale=scale,
                           zero_point=zero_point.astype(np.int8), bits=int(bits), scheme=scheme,
                           granularity=granularity, axis=axis, group_size=int(group_size), dtype=w.dtype)


def dequantize(qt: QuantizedTensor) -> np.ndarray:
    """``(q - zero_point) * scale``, block by block, in the dtype of the original array."""
    if not isinstance(qt, QuantizedTensor):
        raise TypeError(f"dequantize: 'qt' must be a QuantizedTensor, got {type(qt).__name__}")
    blocks = _blocks(qt.q.astype(np.float64), qt.granularity, qt.axis, qt.group_size)   # (num_blocks, length)
    values = (blocks - qt.zero_point[:, None]) * qt.scale[:, None]
    return _unblock(values, qt.shape, qt.granularity, qt.axis).astype(qt.dtype)


def fake_quantize(w: np.ndarray, bits: int = 8, **options: Any) -> np.ndarray:
    """``dequantize(quantize(w, bits, **options))``: the weights the quantized model computes with."""
    return dequantize(quantize(w, bits, **options))


# -- applied to a PyTorch model -----------------------------------------------------------------------------------

def quantizable_weight_names(model: torch.nn.Module, *, embedding: bool = False) -> list[str]:
    """Names (``state_dict`` keys) of the weights of every ``torch.nn.Linear`` in ``model`` (the library's
    ``nn_torch.Linear`` is one), plus those of every ``torch.nn.Embedding`` when ``embedding`` is true."""
    import torch

    kinds: tuple[type, ...] = (torch.nn.Linear, torch.nn.Embedding) if embedding else (torch.nn.Linear,)
    return [f"{name}.weight" for name, module in model.named_modules() if isinstance(module, kinds)]


def _quantized_entries(model: torch.nn.Module, names: Iterable[str] | None, bits: int,
                       options: dict[str, Any]) -> dict[str, QuantizedTensor]:
    state = model.state_dict()
    names = quantizable_weight_names(model) if names is None else list(names)
    missing = [name for name in names if name not in state]
    if missing:
        raise ValueError(f"quantize: 'names' must be keys of the model's state_dict, got unknown {missing}")
    return {name: quantize(state[name].detach().cpu().double().numpy(), bits, **options) for name in names}


def fake_quantize_model(model: torch.nn.Module, bits: int = 8, *, names: Iterable[str] | None = None,
                        **options: Any) -> torch.nn.Module:
    """A deep copy of ``model`` whose weights ``names`` (default: every Linear weight) are replaced by
    ``dequantize(quantize(w))``: weight-only quantization, simulated in the model's own dtype.

    ``options`` go to :func:`quantize` (``scheme``, ``granularity``, ``group_size``, ``axis``).
    """
    import torch

    quantized = _quantized_entries(model, names, bits, options)
    copy_of_model = copy.deepcopy(model)
    state = copy_of_model.state_dict()
    with torch.no_grad():
        for name, qt in quantized.items():
            state[name].copy_(torch.from_numpy(dequantize(qt)))   # state_dict tensors share the parameters' storage
    return copy_of_model


def quantized_model_nbytes(model: torch.nn.Module, bits: int = 8, *, names: Iterable[str] | None = None,
                           **options: Any) -> dict[str, int]:
    """Bytes of ``model`` with the weights ``names`` packed as :func:`quantize` would store them and every other
    tensor of the ``state_dict`` at its own dtype: ``{"quantized": .., "other": .., "total": ..}``."""
    quantized = _quantized_entries(model, names, bits, options)
    other = sum(t.numel() * t.element_size() for name, t in model.state_dict().items() if name not in quantized)
    packed = sum(qt.nbytes_packed for qt in quantized.values())
    return {"quantized": packed, "other": other, "total": packed + other}


def state_dict_nbytes(model: torch.nn.Module) -> int:
    """Length of ``torch.save(model.state_dict())`` in bytes (what a checkpoint of it takes on disk)."""
    import torch

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def _run_with_hooks(model: torch.nn.Module, example: torch.Tensor,
                    select: Callable[[str, torch.nn.Module], bool],
                    record: Callable[[str, torch.Tensor], None]) -> None:
    """Run ``model(example)`` without gradients, calling ``record(name, output)`` for each module ``select``
    accepts, each time it runs; the hooks are removed afterwards, even on an error."""
    import torch

    hooks = [module.register_forward_hook(lambda _m, _i, output, name=name: record(name, output))
             for name, module in model.named_modules() if select(name, module)]
    try:
        with torch.no_grad():
            model(example)
    finally:
        for hook in hooks:
            hook.remove()


def called_linear_names(model: torch.nn.Module, example: torch.Tensor) -> list[str]:
    """Names of the ``nn.Linear`` modules whose own ``forward`` runs when ``model(example)`` runs.

    A module whose weight is used by a functional call instead (``F.linear(x, layer.weight[...])``) is not in the
    list: replacing such a module with a quantized one changes nothing (or breaks the functional call).
    """
    import torch

    called: list[str] = []
    _run_with_hooks(model, example, lambda name, module: isinstance(module, torch.nn.Linear),
                    lambda name, output: called.append(name))
    return sorted(set(called), key=called.index)


@contextlib.contextmanager
def quiet_torch_ao() -> Any:
    """Hide the deprecation warnings of ``torch.ao.quantization`` and of quantized tensors, nothing else.

    The eager-mode quantization API still works in torch 2.x, but warns on every call that it will move to the
    separate ``torchao`` package and that ``torch.qint8`` tensors will go. The warnings say nothing about the
    numbers we measure, so they are silenced here -- only those raised from ``torch.ao`` or naming it.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.ao\.quantization.*")
        warnings.filterwarnings("ignore", message=r".*quantized tensor creation functions.*deprecated.*")
        warnings.filterwarnings("ignore", module=r"torch\.ao\..*")
        yield


def dynamic_quantize_linears(model: torch.nn.Module, example: torch.Tensor) -> tuple[torch.nn.Module, list[str]]:
    """PyTorch's int8 dynamic quantization (``torch.ao.quantization.quantize_dynamic``) of the Linear layers that
    ``model(example)`` calls as modules. Returns ``(quantized copy, converted module names)``; ``model`` is untouched.

    ``quantize_dynamic`` swaps a module only if its type is *exactly* ``torch.nn.Linear``, so the library's
    ``nn_torch.Linear`` (a subclass with input checks) would be skipped: each called one is first replaced by a
    plain ``nn.Linear`` with the same weights. Weights become int8 with one scale per tensor; activations are
    quantized on the fly, per call, and the matmul runs in int8 on the CPU (x86 / fbgemm or ARM / qnnpack).
    """
    import torch
    from torch.ao.nn.quantized import dynamic as quantized_dynamic

    names = called_linear_names(model, example)
    plain = copy.deepcopy(model).cpu().float().eval()
    for name in names:
        old = plain.get_submodule(name)
        new = torch.nn.Linear(old.in_features, old.out_features, bias=old.bias is not None)
        new.load_state_dict(old.state_dict())
        parent, _, child = name.rpartition(".")
        setattr(plain.get_submodule(parent) if parent else plain, child, new)
    with quiet_torch_ao():
        quantized = torch.ao.quantization.quantize_dynamic(plain, {torch.nn.Linear}, dtype=torch.qint8)
    converted = [name for name, module in quantized.named_modules() if isinstance(module, quantized_dynamic.Linear)]
    return quantized, converted


def capture_outputs(model: torch.nn.Module, example: torch.Tensor,
                    select: Callable[[str, torch.nn.Module], bool]) -> dict[str, np.ndarray]:
    """``{module name: its output during model(example), as a float64 array}`` for the modules ``select`` accepts."""
    found: dict[str, np.ndarray] = {}
    _run_with_hooks(model, example, select,
                    lambda name, output: found.__setitem__(name, output.detach().cpu().double().numpy()))
    return found

