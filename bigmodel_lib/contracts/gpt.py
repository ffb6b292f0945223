"""What ``nn_numpy.gpt`` and ``nn_torch.gpt`` share: input checks, configs and key maps.

Both packages import these, so a bad input fails the same way, with the same message, in NumPy and
in PyTorch; neither model package imports the other.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from bigmodel_lib._checks import check_positive_int, check_probability
from bigmodel_lib.contracts.transformer_model import check_token_ids


@dataclass(frozen=True)
class GPTConfig:
    """Sizes of a GPT. ``d_ff = 4 d_model`` as in GPT-2; parameters (tied, with biases) are about
    ``V d + T_max d + n_layer (12 d^2 + 13 d) + 2 d``.

    vocab_size: number of token ids; block_size: the longest context (learned positions);
    n_layer, n_head, d_model: depth, heads per layer (``d_model % n_head == 0``), width;
    dropout: on embeddings, attention weights and residual branches (training only); bias: in Linear
    and LayerNorm layers.
    """

    vocab_size: int = 256
    block_size: int = 128
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 128
    dropout: float = 0.0
    bias: bool = True

    @property
    def d_ff(self) -> int:
        return 4 * self.d_model

    def to_dict(self) -> dict[str, Any]:
        """Plain ``int``/``float``/``bool`` values: safe to store in a ``weights_only`` checkpoint."""
        return asdict(self)

def check_gpt_config(where: str, config: Any) -> None:
    """Every size a positive int, ``d_model`` divisible by ``n_head``, ``dropout`` in [0, 1)."""
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

def check_gpt_ids(where: str, idx: Any, config: GPTConfig, *, start: int = 0, check_range: bool = True) -> None:
    """``idx`` integer ``(B, T)`` with ``1 <= start + T <= block_size`` and ids in ``[0, vocab_size)``.

    Works on NumPy arrays and torch tensors; ``check_range=False`` skips the value check (on a GPU it
    would force a device synchronization).
    """
    if getattr(idx, "ndim", 0) == 2 and start + idx.shape[1] > config.block_size:
        where_from = f" after {start} cached tokens" if start else ""
        raise ValueError(
            f"{where}: 'idx' has T={idx.shape[1]} tokens{where_from}, more than block_size={config.block_size}; "
            f"crop the context to its last {config.block_size - start} tokens"
        )
    check_token_ids(where, "idx", idx, config.vocab_size, config.block_size, check_range=check_range)
