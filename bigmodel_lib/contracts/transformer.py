"""What ``nn_numpy.transformer`` and ``nn_torch.transformer`` share: input checks, configs and key maps.

Both packages import these, so a bad input fails the same way, with the same message, in NumPy and
in PyTorch; neither model package imports the other.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bigmodel_lib._checks import (
    check_features,
    check_ndim,
    check_positive_int,
    check_probability,
    shape_str,
)
from bigmodel_lib.contracts.attention import _is_bool, _shape_tuple_str
from bigmodel_lib.contracts.multihead import check_mha_config, mha_state_from_pytorch

FFN_ACTIVATIONS = ("relu", "gelu")
# GELU exact (``x Phi(x)`` with the erf) or its tanh approximation (GPT-2); the names are PyTorch's
# ``nn.GELU(approximate=...)``.
GELU_APPROXIMATIONS = ("none", "tanh")

def check_activation(where: str, activation: str, gelu_approximate: str = "none") -> None:
    """``activation`` relu or gelu; ``gelu_approximate`` ``"none"`` or (with gelu only) ``"tanh"``."""
    if activation not in FFN_ACTIVATIONS:
        raise ValueError(f"{where}: 'activation' must be one of {list(FFN_ACTIVATIONS)}, got {activation!r}")
    if gelu_approximate not in GELU_APPROXIMATIONS:
        raise ValueError(
            f"{where}: 'gelu_approximate' must be one of {list(GELU_APPROXIMATIONS)}, got {gelu_approximate!r}"
        )
    if gelu_approximate != "none" and activation != "gelu":
        raise ValueError(
            f"{where}: 'gelu_approximate'={gelu_approximate!r} needs activation='gelu', got activation={activation!r}"
        )

def check_layer_config(
    where: str, d_model: int, num_heads: int, d_ff: int, dropout: float, activation: str,
    gelu_approximate: str = "none",
) -> None:
    """``d_model`` a positive multiple of ``num_heads``, ``d_ff`` > 0, ``dropout`` in [0, 1), a known activation."""
    check_mha_config(where, d_model, num_heads)
    check_positive_int(where, "d_ff", d_ff)
    check_probability(where, "dropout", dropout)
    check_activation(where, activation, gelu_approximate)

def check_sequence(where: str, name: str, x: Any, d_model: int, batch: int | None = None, ref: str = "x") -> None:
    """``x (B, L, d_model)`` float; when ``batch`` is given, ``x`` must have that batch size (that of ``ref``)."""
    layout = f"(B, L, {d_model})" if batch is None else f"({batch}, L, {d_model})"
    check_ndim(where, name, x, 3, layout)
    check_features(where, name, x, d_model)
    if batch is not None and x.shape[0] != batch:
        raise ValueError(
            f"{where}: '{name}' expected shape {layout} (the batch size of '{ref}'), got {shape_str(x)}"
        )

def check_layer_mask(where: str, name: str, mask: Any, target: tuple[int, int, int, int]) -> None:
    """A bool attention mask, ``(Lq, Lk)`` or 4 dims broadcastable to ``target = (B, heads, Lq, Lk)``."""
    if mask is None:
        return
    if not _is_bool(mask):
        raise TypeError(
            f"{where}: '{name}' must have dtype bool (True = may attend), got {mask.dtype}; torch's masks "
            "are the opposite (True = ignore): pass ~key_padding_mask[:, None, None, :] or ~attn_mask"
        )
    try:
        fits = mask.ndim in (2, 4) and np.broadcast_shapes(tuple(mask.shape), target) == target
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"{where}: '{name}' expected 2 dims (Lq, Lk) or 4 dims broadcastable to (B, heads, Lq, Lk) = "
            f"{_shape_tuple_str(target)} (key padding: (B, 1, 1, Lk)), got {shape_str(mask)}"
        )

def check_encoder_inputs(where: str, d_model: int, num_heads: int, x: Any, mask: Any) -> None:
    """``x (B, L, d_model)`` and a mask broadcastable to ``(B, heads, L, L)`` (arrays or tensors)."""
    check_sequence(where, "x", x, d_model)
    b, length, _ = x.shape
    check_layer_mask(where, "mask", mask, (b, num_heads, length, length))

def check_decoder_inputs(
    where: str, d_model: int, num_heads: int, x: Any, memory: Any, tgt_mask: Any, memory_mask: Any
) -> None:
    """``x (B, T, d)``, ``memory (B, S, d)`` of x's dtype, masks to ``(B, h, T, T)`` / ``(B, h, T, S)``.

    Works on NumPy arrays and torch tensors (``nn_torch.TransformerDecoderLayer`` uses it too).
    """
    check_sequence(where, "x", x, d_model)
    check_sequence(where, "memory", memory, d_model, batch=x.shape[0])
    if memory.dtype != x.dtype:
        raise TypeError(f"{where}: 'memory' expected the dtype of 'x' ({x.dtype}), got {memory.dtype}")
    b, t, s = x.shape[0], x.shape[1], memory.shape[1]
    check_layer_mask(where, "tgt_mask", tgt_mask, (b, num_heads, t, t))
    check_layer_mask(where, "memory_mask", memory_mask, (b, num_heads, t, s))

def _activation_name(where: str, module: Any) -> str:
    """``"relu"`` or ``"gelu"`` from a torch layer's ``activation`` (a function or a module)."""
    import torch.nn.functional as F
    from torch import nn

    act = module.activation
    if act is F.relu or isinstance(act, nn.ReLU):
        return "relu"
    if act is F.gelu or (isinstance(act, nn.GELU) and act.approximate in GELU_APPROXIMATIONS):
        return "gelu"
    raise ValueError(f"{where}: 'activation' expected relu or gelu (exact or tanh), got {act!r}")

def _gelu_approximate(module: Any) -> str:
    """``"tanh"`` when a torch layer's activation is ``nn.GELU(approximate="tanh")``, else ``"none"``."""
    return getattr(module.activation, "approximate", "none")

def layer_config_from_pytorch(module: Any) -> dict[str, Any]:
    """The constructor arguments of our layer equal to a ``torch.nn.Transformer{Encoder,Decoder}Layer``."""
    where = f"{type(module).__name__}.from_pytorch"
    return {
        "d_model": module.self_attn.embed_dim,
        "num_heads": module.self_attn.num_heads,
        "d_ff": module.linear1.out_features,
        "dropout": module.dropout.p,
        "activation": _activation_name(where, module),
        "gelu_approximate": _gelu_approximate(module),
        "norm_first": bool(module.norm_first),
        "layer_norm_eps": module.norm1.eps,
        "bias": module.linear1.bias is not None,
    }

def layer_state_from_pytorch(module: Any) -> dict[str, Any]:
    """Our ``state_dict`` keys mapped from a torch encoder or decoder layer's parameters.

    ``self_attn.in_proj_weight -> self_attn.in_proj.weight`` (and the other MHA keys),
    ``multihead_attn.* -> cross_attn.*``, ``linear{1,2}.* -> ffn.linear{1,2}.*``, ``norm{1,2,3}.*`` kept.
    """
    state: dict[str, Any] = {}
    attentions = [("self_attn", module.self_attn)]
    if hasattr(module, "multihead_attn"):
        attentions.append(("cross_attn", module.multihead_attn))
    for prefix, mha in attentions:
        state.update({f"{prefix}.{k}": v for k, v in mha_state_from_pytorch(mha).items()})
    for name in ("linear1", "linear2"):
        state.update({f"ffn.{name}.{k}": v for k, v in getattr(module, name).state_dict().items()})
    for name in ("norm1", "norm2", "norm3"):
        if hasattr(module, name):
            state.update({f"{name}.{k}": v for k, v in getattr(module, name).state_dict().items()})
    return state
