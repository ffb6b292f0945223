"""Record the attention weights of every attention layer in a model, for one block of code.

::

    from bigmodel_lib.viz.capture import capture_attention

    with capture_attention(model) as att:     # NumPy or PyTorch model, any depth
        logits = model(tokens)                # the model runs exactly as usual
    att.names()                               # ['encoder.0.attn', 'decoder.0.self_attn', 'decoder.0.cross_attn']
    att["decoder.0.cross_attn"][-1]           # (B, heads, Lq, Lk) NumPy array, one per call
    att.stack(kind="cross")                   # (layers, heads, Lq, Lk) of batch element 0 -> explorer

How: inside the block, each attention module's ``forward`` is replaced **on the instance** by a
wrapper that calls the original with ``need_weights=True``, keeps a NumPy copy of the weights and
hands the caller what it asked for (only the output, unless it asked for the weights itself). On
leaving the block -- also through an exception -- the wrappers are removed, so the model is back on
its fast path: a PyTorch ``MultiHeadAttention`` uses the fused ``scaled_dot_product_attention``
kernel again, which never materialises the weights. Capturing costs speed only while it is on.

An *attention module* is one of the library's attention classes, ``torch.nn.MultiheadAttention``,
or any module whose ``forward`` takes a ``need_weights`` argument (your own layers too). Attention
modules inside another one (``nn_numpy.MultiHeadAttention.attention``) are not wrapped: the outer
module already reports their weights, per head. A module built *around* attention modules whose
``forward`` takes ``need_weights`` but no key (``TransformerEncoderLayer(x, mask, need_weights=...)``,
``TransformerDecoderLayer(x, memory, ...)``) is not an attention module itself: the attention modules
inside it are wrapped instead. The keys are found by name (``key``, ``k`` or ``keys``).

Each call is also classified, so encoder, decoder and cross-attention can be told apart (the
explorer offers a toggle between them):

* ``"cross"``: the keys are not the queries (``attn(x, memory)``);
* ``"causal"``: self-attention with ``causal=True`` or a causal (lower-triangular) mask -- a decoder;
* ``"self"``: any other self-attention -- an encoder.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["KIND_LABELS", "AttentionCapture", "capture_attention", "find_attention_modules"]

#: The kinds of attention a call can be, with the words the explorer shows for them.
KIND_LABELS: dict[str, str] = {
    "self": "encoder self-attention",
    "causal": "decoder self-attention (causal)",
    "cross": "cross-attention (decoder → encoder)",
}

# -- which modules are attention modules, and how to call them -----------------------------------------------


@dataclass(frozen=True)
class _CallConvention:
    """How one attention module's ``forward`` is asked for weights and what it returns.

    * ``default_need_weights``: what the caller gets when it does not pass ``need_weights``
      (``False`` in this library, ``True`` in ``torch.nn.MultiheadAttention``).
    * ``always_tuple``: ``forward`` returns ``(out, weights or None)`` even without weights (torch's).
    * ``per_head_flag``: the argument that turns off averaging over heads (torch's
      ``average_attn_weights``); the caller's choice is honoured in what it gets back.
    * ``mask_allows``: ``True`` when ``True`` in a bool mask means *may attend* (this library, torch
      SDPA), ``False`` when it means *blocked* (``torch.nn.MultiheadAttention``'s ``attn_mask``).
    * ``query_arg``, ``key_arg``, ``mask_arg``, ``causal_arg``: names of those parameters (or ``None``).
    """

    signature: inspect.Signature
    default_need_weights: bool
    always_tuple: bool
    per_head_flag: str | None
    mask_allows: bool
    query_arg: str
    key_arg: str | None
    mask_arg: str | None
    causal_arg: str | None


def _is_torch_builtin_mha(module: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(module, torch.nn.MultiheadAttention)


def _forward_signature(module: Any) -> inspect.Signature | None:
    """The signature of ``module.forward`` (bound: no ``self``), or ``None`` when there is none to read."""
    if not callable(getattr(type(module), "forward", None)):
        return None
    try:
        return inspect.signature(module.forward)
    except (TypeError, ValueError):  # a C extension or an odd callable: not something we can wrap
        return None


def _call_convention(module: Any) -> _CallConvention | None:
    """The convention of ``module.forward``, or ``None`` when it is not an attention module."""
    signature = _forward_signature(module)
    if signature is None:
        return None
    params = signature.parameters
    if "need_weights" not in params:  # the library's attention classes, torch's and yours all take it
        return None
    default = params["need_weights"].default
    positional = [p.name for p in params.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    builtin = _is_torch_builtin_mha(module)
    key_arg = next((name for name in _KEY_NAMES if name in params), None)
    if key_arg is None and _has_attention_below(module):
        return None  # a layer built AROUND attention (e.g. a Transformer layer): its attention is inside
    mask_arg = "attn_mask" if builtin else ("mask" if "mask" in params else None)
    causal_arg = next((name for name in ("causal", "is_causal") if name in params), None)
    return _CallConvention(
        signature=signature,
        default_need_weights=bool(default) if default is not inspect.Parameter.empty else False,
        always_tuple=builtin,
        per_head_flag="average_attn_weights" if "average_attn_weights" in params else None,
        mask_allows=not builtin,
        query_arg=positional[0] if positional else "query",
        key_arg=key_arg,
        mask_arg=mask_arg,
        causal_arg=causal_arg,
    )


#: Parameter names that mark a forward taking separate keys: only an attention module itself has one.
_KEY_NAMES = ("key", "k", "keys")


def _has_attention_below(module: Any) -> bool:
    """Does any sub-module (at any depth) look like an attention module (``need_weights`` and a key)?"""
    stack, seen = list(_children(module)), {id(module)}
    while stack:
        _, child = stack.pop()
        if id(child) in seen:
            continue
        seen.add(id(child))
        signature = _forward_signature(child)
        params = signature.parameters if signature is not None else {}
        if "need_weights" in params and any(name in params for name in _KEY_NAMES):
            return True
        stack.extend(_children(child))
    return False


def _children(module: Any) -> Iterator[tuple[str, Any]]:
    """Direct sub-modules of a NumPy or a PyTorch module (NumPy: ``named_children()``)."""
    named_children = getattr(module, "named_children", None)
    if named_children is None:
        return iter(())
    return iter(named_children())


def find_attention_modules(model: Any) -> dict[str, Any]:
    """``{dotted name: module}`` for every outermost attention module in ``model`` (itself included).

    Names are those of ``named_modules()`` (``"encoder.layers.0.self_attn"``); the model itself, when
    it is an attention module, is named after its class. Modules inside an attention module are not
    searched (see the module docstring); a module shared by two parents is listed once.
    """
    if _call_convention(model) is not None:
        return {type(model).__name__: model}
    found: dict[str, Any] = {}
    seen: set[int] = {id(model)}

    def visit(module: Any, prefix: str) -> None:
        for name, child in _children(module):
            if id(child) in seen:
                continue
            seen.add(id(child))
            dotted = prefix + name
            if _call_convention(child) is not None:
                found[dotted] = child
            else:
                visit(child, dotted + ".")

    visit(model, "")
    return found


# -- what a call was: self, causal or cross ------------------------------------------------------------------


def _looks_causal(mask: Any, mask_allows: bool) -> bool:
    """Is ``mask`` the causal pattern (query ``i`` sees keys ``j <= i``), broadcast over leading dims?"""
    if mask is None or not hasattr(mask, "shape") or len(mask.shape) < 2:
        return False
    if hasattr(mask, "detach"):
        mask = mask.detach().cpu()
        mask = mask.float().numpy() if mask.dtype.is_floating_point else mask.numpy()
    mask = np.asarray(mask)
    lq, lk = mask.shape[-2:]
    if lq != lk or lq < 2:
        return False
    if mask.dtype == np.bool_:
        blocked = ~mask if mask_allows else mask
    else:  # an additive float mask: -inf (or a huge negative number) where blocked
        blocked = mask < -1e4
    blocked = blocked.reshape(-1, lq, lk)
    expected = np.triu(np.ones((lq, lk), dtype=bool), k=1)  # strictly above the diagonal: the future
    return bool(np.all(blocked == expected))


def _classify_call(convention: _CallConvention, arguments: Mapping[str, Any]) -> str:
    query = arguments.get(convention.query_arg)
    key = arguments.get(convention.key_arg) if convention.key_arg else None
    if key is not None and key is not query:
        return "cross"
    causal = bool(arguments.get(convention.causal_arg, False)) if convention.causal_arg else False
    mask = arguments.get(convention.mask_arg) if convention.mask_arg else None
    if causal or _looks_causal(mask, convention.mask_allows):
        return "causal"
    return "self"


def _to_numpy(weights: Any) -> np.ndarray:
    """A detached CPU NumPy copy of an array or tensor (bfloat16 becomes float32: NumPy lacks it)."""
    if hasattr(weights, "detach"):
        weights = weights.detach().cpu()
        if not weights.dtype.is_floating_point or weights.dtype.itemsize < 4:
            weights = weights.float()
        return weights.numpy().copy()
    return np.array(weights, copy=True)


# -- the recording -------------------------------------------------------------------------------------------


class AttentionCapture(Mapping):
    """What :func:`capture_attention` recorded: ``{module name: [weights of call 1, call 2, ...]}``.

    Iteration follows the model's module order. Each array is what that module returns as its
    weights -- ``(B, heads, Lq, Lk)`` for multi-head attention -- as a NumPy copy on the CPU.
    Modules found but never called during the block map to an empty list.
    """

    def __init__(self, modules: Mapping[str, Any]) -> None:
        self._weights: dict[str, list[np.ndarray]] = {name: [] for name in modules}
        self._kinds: dict[str, list[str]] = {name: [] for name in modules}
        self._types: dict[str, str] = {name: type(module).__name__ for name, module in modules.items()}

    def _record(self, name: str, weights: Any, kind: str) -> None:
        self._weights[name].append(_to_numpy(weights))
        self._kinds[name].append(kind)

    # Mapping protocol
    def __getitem__(self, name: str) -> list[np.ndarray]:
        try:
            return self._weights[name]
        except KeyError:
            raise KeyError(f"no attention module named {name!r}; captured: {list(self._weights)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._weights)

    def __len__(self) -> int:
        return len(self._weights)

    # questions about the recording
    def names(self, kind: str | None = None) -> list[str]:
        """Names of the modules that were called (of one ``kind``: ``"self"``, ``"causal"``, ``"cross"``)."""
        _check_kind("AttentionCapture.names", kind)
        return [name for name, kinds in self._kinds.items() if kinds and (kind is None or kinds[0] == kind)]

    def kind(self, name: str) -> str:
        """``"self"``, ``"causal"`` or ``"cross"``: what module ``name``'s first call was."""
        kinds = self._kinds[self._known(name)]
        if not kinds:
            raise ValueError(f"AttentionCapture.kind: module {name!r} was not called inside the block")
        return kinds[0]

    def kinds(self) -> list[str]:
        """The kinds of attention present, in the order they were first met in the model."""
        return list(dict.fromkeys(self._kinds[name][0] for name in self.names()))

    def _known(self, name: str) -> str:
        if name not in self._weights:
            raise KeyError(f"no attention module named {name!r}; captured: {list(self._weights)}")
        return name

    def stack(self, kind: str | None = None, *, batch_index: int = 0, call: int = -1) -> np.ndarray:
        """``(layers, heads, Lq, Lk)``: one batch element, one matrix per called module (model order).

        ``kind`` keeps modules of one kind only (``"self"``, ``"causal"``, ``"cross"``); without it
        every called module is stacked, which needs them all to have the same ``(Lq, Lk)``.
        ``call`` picks which call of each module (default: the last). Weights without a head axis
        (``(B, Lq, Lk)``, e.g. additive attention) count as one head.
        """
        where = "AttentionCapture.stack"
        _check_kind(where, kind)
        names = self.names(kind)
        if not names:
            present = ", ".join(repr(k) for k in self.kinds()) or "none: was the model called inside the block?"
            raise ValueError(f"{where}: no attention of kind {kind!r} was captured (kinds present: {present})")
        layers = [self.per_head(name, batch_index=batch_index, call=call) for name in names]
        shapes = {layer.shape for layer in layers}
        if len(shapes) > 1:
            described = ", ".join(f"{n} {layer.shape}" for n, layer in zip(names, layers))
            advice = ("pass kind='self', 'causal' or 'cross' to stack one kind of attention" if kind is None
                      else "use per_head(name) for one module at a time")
            raise ValueError(f"{where}: the modules' weights differ in shape ({described}); {advice}")
        return np.stack(layers)

    def per_head(self, name: str, *, batch_index: int = 0, call: int = -1) -> np.ndarray:
        """``(heads, Lq, Lk)`` of module ``name``, one batch element of one call (default: the last)."""
        where = "AttentionCapture.per_head"
        calls = self._weights[self._known(name)]
        if not calls:
            raise ValueError(f"{where}: module {name!r} was not called inside the block")
        if not -len(calls) <= call < len(calls):
            raise ValueError(f"{where}: 'call' must be in [-{len(calls)}, {len(calls)}), got {call}")
        weights = calls[call]
        if weights.ndim == 2:  # (Lq, Lk): unbatched, one head
            return weights[np.newaxis]
        batch = weights.shape[0]
        if not -batch <= batch_index < batch:
            raise ValueError(f"{where}: 'batch_index' must be in [-{batch}, {batch}), got {batch_index}")
        if weights.ndim == 3:  # (B, Lq, Lk): one head
            return weights[batch_index][np.newaxis]
        if weights.ndim == 4:  # (B, heads, Lq, Lk)
            return weights[batch_index]
        raise ValueError(
            f"{where}: module {name!r} returned weights of shape {weights.shape}; expected (B, heads, Lq, Lk), "
            f"(B, Lq, Lk) or (Lq, Lk)"
        )

    def __repr__(self) -> str:
        lines = [f"AttentionCapture({len(self)} attention modules)"]
        for name, calls in self._weights.items():
            if calls:
                lines.append(f"  {name} [{self._types[name]}, {self._kinds[name][0]}]: {len(calls)} call(s), "
                             f"weights {tuple(calls[-1].shape)}")
            else:
                lines.append(f"  {name} [{self._types[name]}]: not called")
        return "\n".join(lines)


def _check_kind(where: str, kind: str | None) -> None:
    if kind is not None and kind not in KIND_LABELS:
        raise ValueError(f"{where}: 'kind' must be one of {list(KIND_LABELS)} or None, got {kind!r}")


def _recording_forward(
    name: str, original: Callable[..., Any], convention: _CallConvention, capture: AttentionCapture
) -> Callable[..., Any]:
    """``original`` called with ``need_weights=True``; the weights go to ``capture``, the caller gets its answer."""

    def forward(*args: Any, **kwargs: Any) -> Any:
        bound = convention.signature.bind(*args, **kwargs)  # fails like the original would on bad arguments
        arguments = bound.arguments
        caller_wants_weights = bool(arguments.get("need_weights", convention.default_need_weights))
        caller_averages = bool(arguments.get(convention.per_head_flag, True)) if convention.per_head_flag else False
        arguments["need_weights"] = True
        if convention.per_head_flag:
            arguments[convention.per_head_flag] = False  # record every head, not their mean
        out, weights = original(*bound.args, **bound.kwargs)
        if weights is not None:  # (a custom layer may have no weights to give on some path)
            capture._record(name, weights, _classify_call(convention, arguments))
        if not caller_wants_weights:
            return (out, None) if convention.always_tuple else out
        if caller_averages:
            weights = weights.mean(dim=-3) if hasattr(weights, "detach") else weights.mean(axis=-3)
        return out, weights

    forward.__wrapped__ = original  # type: ignore[attr-defined]  (inspect.signature and debuggers see the original)
    return forward


@contextmanager
def capture_attention(model: Any) -> Iterator[AttentionCapture]:
    """Inside the ``with`` block, record the attention weights of every attention module of ``model``.

    ``model``: a NumPy (``bigmodel_lib.nn_numpy``) or PyTorch module, or an attention module itself.
    Yields an :class:`AttentionCapture` that fills up as the model runs. Outputs are unchanged (the
    same computation; for PyTorch the explicit formula instead of the fused kernel, equal up to
    rounding). On exit every ``forward`` is restored, even after an exception, and PyTorch's
    ``TransformerEncoderLayer`` fast path (which bypasses ``self_attn.forward``) is re-enabled.
    """
    if not (hasattr(model, "named_children") or hasattr(model, "named_modules")):
        raise TypeError(
            f"capture_attention: 'model' must be a nn_numpy.Module or a torch.nn.Module, got {type(model).__name__}"
        )
    modules = find_attention_modules(model)
    if not modules:
        raise ValueError(
            f"capture_attention: found no attention module in {type(model).__name__} (looked for modules whose "
            f"forward takes need_weights, e.g. MultiHeadAttention)"
        )
    conventions = {name: _call_convention(module) for name, module in modules.items()}
    capture = AttentionCapture(modules)
    # An instance attribute that was there before (another capture, a user's patch) is put back as it was.
    previous: dict[str, tuple[bool, Any]] = {}
    torch = sys.modules.get("torch")
    fastpath_was: bool | None = None
    try:
        if torch is not None and hasattr(torch.backends, "mha"):
            # torch.nn.TransformerEncoderLayer in eval mode may skip self_attn.forward altogether.
            fastpath_was = torch.backends.mha.get_fastpath_enabled()
            torch.backends.mha.set_fastpath_enabled(False)
        for name, module in modules.items():
            previous[name] = ("forward" in vars(module), vars(module).get("forward"))
            module.forward = _recording_forward(name, module.forward, conventions[name], capture)
        yield capture
    finally:
        for name, (had_own, own_forward) in previous.items():
            module = modules[name]
            if had_own:
                module.forward = own_forward
            else:
                del module.forward  # back to the class's forward: the fast path, untouched
        if fastpath_was is not None:
            torch.backends.mha.set_fastpath_enabled(fastpath_was)
