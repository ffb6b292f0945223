"""What ``nn_numpy.gpt`` and ``nn_torch.gpt`` share: input checks, configs and key maps.

Both packages import these, so a bad input fails the same way, with the same message, in NumPy and
in PyTorch; neither model package imports the other.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from bigmodel_lib._checks import check_positive_int, check_probability
from bigmodel_lib.contracts.multihead import resolve_kv_heads
from bigmodel_lib.contracts.positional import ROPE_BASE, check_rotary_config
from bigmodel_lib.contracts.transformer import GELU_APPROXIMATIONS
from bigmodel_lib.contracts.transformer_model import check_token_ids


@dataclass(frozen=True)
class GPTConfig:
    """Sizes of a GPT. ``d_ff = 4 d_model`` as in GPT-2; parameters (tied, with biases, learned positions, as many
    key/value heads as query heads) are ``V d + T_max d + n_layer (12 d^2 + 13 d) + 2 d``; in general
    ``bigmodel_lib.scale.ModelShape.from_gpt_config(config).num_parameters()``.

    vocab_size: number of token ids; block_size: the longest context (learned positions);
    n_layer, n_head, d_model: depth, heads per layer (``d_model % n_head == 0``), width;
    dropout: on embeddings, attention weights and residual branches (training only); bias: in Linear
    and LayerNorm layers; gelu_approximate: the feed-forward GELU, ``"none"`` (exact, with the erf) or
    ``"tanh"`` (the approximation GPT-2 was trained with); layer_norm_eps: the ``eps`` of every LayerNorm.
    n_kv_head: key/value heads per layer (``None`` = ``n_head``: classic multi-head attention; a divisor of
    ``n_head``: grouped-query attention, ``1``: multi-query attention); the K and V projections and the KV
    cache shrink by ``n_head / n_kv_head``.
    position: ``"learned"`` (a trainable table ``pos_emb (block_size, d)`` added to the token embeddings, as
    GPT-2) or ``"rope"`` (rotary position embedding, Su et al. 2021: queries and keys of every head rotated by
    angles proportional to their position; no parameters, no ``pos_emb``, and no hard limit at ``block_size``
    for an uncached forward pass); rope_base: RoPE's ``base`` (angles ``m base^(-2i/d_head)``).
    """

    vocab_size: int = 256
    block_size: int = 128
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 128
    dropout: float = 0.0
    bias: bool = True
    gelu_approximate: str = "none"
    layer_norm_eps: float = 1e-5
    n_kv_head: int | None = None
    position: str = "learned"
    rope_base: float = ROPE_BASE

    @property
    def d_ff(self) -> int:
        return 4 * self.d_model

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_head

    @property
    def kv_heads(self) -> int:
        """``n_kv_head`` resolved: ``n_head`` when it is ``None``."""
        return self.n_head if self.n_kv_head is None else self.n_kv_head

    def to_dict(self) -> dict[str, Any]:
        """Plain ``int``/``float``/``bool`` values: safe to store in a ``weights_only`` checkpoint."""
        return asdict(self)

POSITIONS = ("learned", "rope")


def check_gpt_config(where: str, config: Any) -> None:
    """Every size a positive int, ``d_model`` divisible by ``n_head``, ``dropout`` in [0, 1), a known
    GELU, a LayerNorm ``eps`` in (0, 1), ``n_kv_head`` dividing ``n_head`` and a known ``position``
    (with ``"rope"``: an even ``d_head`` and ``rope_base > 1``)."""
    if not isinstance(config, GPTConfig):
        raise TypeError(f"{where}: 'config' must be a GPTConfig, got {type(config).__name__}")
    for name in ("vocab_size", "block_size", "n_layer", "n_head", "d_model"):
        check_positive_int(where, f"config.{name}", getattr(config, name))
    if config.d_model % config.n_head:
        raise ValueError(
            f"{where}: 'config.d_model' must be divisible by 'config.n_head', got d_model={config.d_model}, "
            f"n_head={config.n_head}"
        )
    check_probability(where, "config.dropout", config.dropout)
    if config.gelu_approximate not in GELU_APPROXIMATIONS:
        raise ValueError(
            f"{where}: 'config.gelu_approximate' must be one of {list(GELU_APPROXIMATIONS)}, "
            f"got {config.gelu_approximate!r}"
        )
    eps = config.layer_norm_eps
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < 1:
        raise ValueError(f"{where}: 'config.layer_norm_eps' must be a number in (0, 1), got {eps!r}")
    resolve_kv_heads(where, "config.n_kv_head", config.n_head, config.n_kv_head)
    if config.position not in POSITIONS:
        raise ValueError(f"{where}: 'config.position' must be one of {list(POSITIONS)}, got {config.position!r}")
    if config.position == "rope":
        try:
            check_rotary_config(where, config.d_head, config.rope_base)
        except ValueError as err:  # name the config's fields, not the layer's arguments
            raise ValueError(f"{where}: position='rope' needs an even d_head = d_model / n_head and "
                             f"'config.rope_base' > 1, got d_head={config.d_head}, rope_base={config.rope_base!r}"
                             ) from err

def gpt2_init_std(name: str, n_layer: int) -> float | None:
    """GPT-2's initialization of the parameter called ``name``: the standard deviation of its normal
    draw, or ``None`` for the parameters that keep their constant start (biases 0, LayerNorm gains 1).

    ``0.02`` everywhere, except the two projections that write into the residual stream
    (``out_proj``, ``linear2``): ``0.02 / sqrt(2 n_layer)``, so the stream's variance does not grow
    with depth. Shared by both packages, so their initializations follow one rule.
    """
    if name.endswith("bias") or ".norm" in name or name.startswith("norm_f"):
        return None
    if name.endswith(("out_proj.weight", "linear2.weight")):
        return 0.02 / math.sqrt(2 * n_layer)
    return 0.02

def check_gpt_ids(
    where: str, idx: Any, config: GPTConfig, *, start: int = 0, check_range: bool = True, cached: bool = False,
) -> None:
    """``idx`` integer ``(B, T)`` with ``1 <= start + T <= block_size`` and ids in ``[0, vocab_size)``.

    With ``position="rope"`` and no KV cache (``cached=False``) any ``T >= 1`` is allowed: RoPE computes its
    angles for any position, so the model can be *evaluated* beyond the length it was trained on (whether it
    predicts well there is an experiment, see notebook 05.4). A cache holds ``block_size`` positions.
    Works on NumPy arrays and torch tensors; ``check_range=False`` skips the value check (on a GPU it
    would force a device synchronization).
    """
    bounded = config.position == "learned" or cached
    if bounded and getattr(idx, "ndim", 0) == 2 and start + idx.shape[1] > config.block_size:
        where_from = f" after {start} cached tokens" if start else ""
        why = "" if config.position == "learned" else " (the KV cache's capacity)"
        raise ValueError(
            f"{where}: 'idx' has T={idx.shape[1]} tokens{where_from}, more than block_size={config.block_size}"
            f"{why}; crop the context to its last {config.block_size - start} tokens"
        )
    max_len = config.block_size if bounded else sys.maxsize
    check_token_ids(where, "idx", idx, config.vocab_size, max_len, check_range=check_range)


# -- GPT-2's weights (Hugging Face layout) in the course's GPT ----------------------------------------------------
#
# One table, used by nn_numpy.GPT.from_gpt2 and nn_torch.GPT.from_gpt2 alike. Hugging Face's GPT-2 stores its
# four projections as ``Conv1D`` modules: ``y = x W + b`` with ``W (in, out)``, the transpose of a ``Linear``
# weight ``(out, in)``. Those four are transposed on the way in; everything else is copied as it is.

GPT2_PREFIX = "transformer."  # GPT2LMHeadModel.state_dict() names; the hub's model.safetensors has none
GPT2_LM_HEAD = "lm_head.weight"  # GPT2LMHeadModel's output layer: the same matrix as wte (tied)
# Per-layer buffers that older checkpoints (pytorch_model.bin, the hub's model.safetensors) carry: the causal
# mask ``attn.bias (1, 1, n_ctx, n_ctx)`` and the constant ``attn.masked_bias``. Not parameters: skipped.
GPT2_BUFFERS = ("attn.bias", "attn.masked_bias")

@dataclass(frozen=True)
class GPT2Key:
    """One parameter of GPT-2: its Hugging Face name (no ``transformer.`` prefix), ours, its shape in GPT-2,
    and whether it is transposed on the way (a ``Conv1D`` weight, stored ``(in, out)``)."""

    gpt2: str
    ours: str
    gpt2_shape: tuple[int, ...]
    transposed: bool

    @property
    def our_shape(self) -> tuple[int, ...]:
        return self.gpt2_shape[::-1] if self.transposed else self.gpt2_shape


def gpt2_key_map(config: GPTConfig) -> list[GPT2Key]:
    """Every parameter of a GPT-2 with ``config``'s sizes, in GPT-2's order: embeddings, blocks, final norm."""
    if config.position != "learned" or config.kv_heads != config.n_head:
        raise ValueError(f"gpt2_key_map: GPT-2 has learned positions and as many key/value heads as query heads, "
                         f"got position={config.position!r}, n_kv_head={config.n_kv_head}")
    v, t, d, f = config.vocab_size, config.block_size, config.d_model, config.d_ff
    keys = [GPT2Key("wte.weight", "tok_emb.weight", (v, d), False),
            GPT2Key("wpe.weight", "pos_emb.weight", (t, d), False)]
    for layer in range(config.n_layer):
        h, ours = f"h.{layer}.", f"blocks.{layer}."
        keys += [  # GPT-2 name, our name, GPT-2's shape (Conv1D weights: (in, out)), transposed
            GPT2Key(h + "ln_1.weight", ours + "norm1.weight", (d,), False),
            GPT2Key(h + "ln_1.bias", ours + "norm1.bias", (d,), False),
            GPT2Key(h + "attn.c_attn.weight", ours + "self_attn.in_proj.weight", (d, 3 * d), True),
            GPT2Key(h + "attn.c_attn.bias", ours + "self_attn.in_proj.bias", (3 * d,), False),
            GPT2Key(h + "attn.c_proj.weight", ours + "self_attn.out_proj.weight", (d, d), True),
            GPT2Key(h + "attn.c_proj.bias", ours + "self_attn.out_proj.bias", (d,), False),
            GPT2Key(h + "ln_2.weight", ours + "norm2.weight", (d,), False),
            GPT2Key(h + "ln_2.bias", ours + "norm2.bias", (d,), False),
            GPT2Key(h + "mlp.c_fc.weight", ours + "ffn.linear1.weight", (d, f), True),
            GPT2Key(h + "mlp.c_fc.bias", ours + "ffn.linear1.bias", (f,), False),
            GPT2Key(h + "mlp.c_proj.weight", ours + "ffn.linear2.weight", (f, d), True),
            GPT2Key(h + "mlp.c_proj.bias", ours + "ffn.linear2.bias", (d,), False),
        ]
    keys += [GPT2Key("ln_f.weight", "norm_f.weight", (d,), False), GPT2Key("ln_f.bias", "norm_f.bias", (d,), False)]
    return keys


def _same_values(a: Any, b: Any) -> bool:
    """Equal shapes and values, for NumPy arrays and torch tensors (the same tensor twice is the fast path)."""
    if a is b:
        return True
    if tuple(a.shape) != tuple(b.shape):
        return False
    if hasattr(a, "detach") and hasattr(b, "detach"):
        return bool(a.detach().cpu().equal(b.detach().cpu().to(a.dtype)))
    return bool(np.array_equal(np.asarray(a), np.asarray(b)))


def _list(names: Any, limit: int = 6) -> str:
    names = sorted(names)
    return ", ".join(names[:limit]) + (f" ... ({len(names)} in all)" if len(names) > limit else "")


def strip_gpt2_prefix(where: str, state_dict: Any) -> dict[str, Any]:
    """GPT-2's parameters under the hub's names: ``transformer.`` removed, ``lm_head.weight`` checked to be
    the tied ``wte.weight`` and dropped, the mask buffers of older checkpoints dropped."""
    if not hasattr(state_dict, "items"):
        raise TypeError(f"{where}: 'state_dict' must be a mapping of names to arrays or tensors, "
                        f"got {type(state_dict).__name__}")
    state = {(k[len(GPT2_PREFIX):] if k.startswith(GPT2_PREFIX) else k): v for k, v in state_dict.items()}
    if len(state) != len(state_dict):
        raise ValueError(f"{where}: 'state_dict' has some keys both with and without the '{GPT2_PREFIX}' prefix")
    lm_head = state.pop(GPT2_LM_HEAD, None)
    if lm_head is not None and "wte.weight" in state and not _same_values(lm_head, state["wte.weight"]):
        raise ValueError(f"{where}: '{GPT2_LM_HEAD}' differs from 'wte.weight'; the course's GPT ties its output "
                         "layer to the token embedding, so it can only load a GPT-2 whose two are the same matrix")
    buffer = re.compile(r"h\.\d+\.(" + "|".join(re.escape(b) for b in GPT2_BUFFERS) + r")$")
    return {k: v for k, v in state.items() if not buffer.match(k)}


def gpt2_config_from_state(
    state_dict: Any, *, n_head: int, layer_norm_eps: float = 1e-5, dropout: float = 0.0,
    where: str = "gpt2_config_from_state",
) -> GPTConfig:
    """The :class:`GPTConfig` of a GPT-2 state dict, its sizes read from the shapes.

    ``vocab_size, d_model = wte (V, d)``; ``block_size = wpe (n_ctx, d)``; ``n_layer`` = the number of blocks
    ``h.{l}``. ``n_head`` is not in any shape (``c_attn.weight`` is ``(d, 3 d)`` for any number of heads): pass
    it (12 for GPT-2 124M, 16 / 20 / 25 for medium / large / XL; ``n_head`` in the checkpoint's config.json).
    GELU is the tanh approximation, as GPT-2 was trained.
    """
    state = strip_gpt2_prefix(where, state_dict)
    for name in ("wte.weight", "wpe.weight"):
        if name not in state:
            raise ValueError(f"{where}: 'state_dict' has no '{name}' (nor '{GPT2_PREFIX}{name}'); is it a GPT-2's? "
                             f"Its keys start with: {_list(state)}")
        if getattr(state[name], "ndim", 0) != 2:
            raise ValueError(f"{where}: '{name}' expected 2 dims, got shape {tuple(state[name].shape)}")
    vocab_size, d_model = (int(n) for n in state["wte.weight"].shape)
    block_size = int(state["wpe.weight"].shape[0])
    layers = {int(m.group(1)) for k in state if (m := re.match(r"h\.(\d+)\.", k))}
    config = GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=max(layers, default=-1) + 1,
                       n_head=n_head, d_model=d_model, dropout=dropout, bias=True, gelu_approximate="tanh",
                       layer_norm_eps=layer_norm_eps)
    if config.n_layer == 0:
        raise ValueError(f"{where}: 'state_dict' has no blocks 'h.0.*'")
    check_gpt_config(where, config)
    return config


def gpt2_state_to_ours(state_dict: Any, config: GPTConfig, *, where: str = "gpt2_state_to_ours") -> dict[str, Any]:
    """GPT-2's parameters under our names, the four Conv1D weights transposed (views, no copies).

    Fails with a ``ValueError`` naming the missing, unexpected or wrongly shaped keys.
    """
    state = strip_gpt2_prefix(where, state_dict)
    keys = gpt2_key_map(config)
    expected = {k.gpt2 for k in keys}
    missing, unexpected = expected - set(state), set(state) - expected
    if missing or unexpected:
        raise ValueError(f"{where}: the state dict does not match a GPT-2 with {config.n_layer} layers, "
                         f"d_model={config.d_model}: missing keys [{_list(missing)}], "
                         f"unexpected keys [{_list(unexpected)}]")
    ours = {}
    for key in keys:
        value = state[key.gpt2]
        if tuple(value.shape) != key.gpt2_shape:
            raise ValueError(f"{where}: '{key.gpt2}' expected shape {key.gpt2_shape}, got {tuple(value.shape)}"
                             + (" (a feed-forward width other than 4 d_model is not supported)"
                                if "mlp" in key.gpt2 else ""))
        ours[key.ours] = value.T if key.transposed else value  # (in, out) -> (out, in) for Conv1D weights
    return ours


def gpt2_state_from_ours(state: Any, config: GPTConfig, *, prefix: str = "", lm_head: bool = False) -> dict[str, Any]:
    """The inverse of :func:`gpt2_state_to_ours`: our GPT's ``state_dict`` under GPT-2's names.

    ``prefix="transformer.", lm_head=True`` gives the keys of ``GPT2LMHeadModel.state_dict()``, so a model
    trained in the course loads into Hugging Face's GPT-2 (with ``activation_function="gelu_new"`` for
    ``gelu_approximate="tanh"``, ``"gelu"`` for the exact GELU).
    """
    out = {prefix + k.gpt2: (state[k.ours].T if k.transposed else state[k.ours]) for k in gpt2_key_map(config)}
    if lm_head:
        out[GPT2_LM_HEAD] = state["tok_emb.weight"]
    return out
