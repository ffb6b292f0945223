"""What ``nn_numpy.long_context`` and ``nn_torch.long_context`` share: the input checks.

Sliding-window attention takes a ``window`` (a positive int: how many keys a query sees, itself
included); linear attention takes ``q, k, v`` as scaled dot-product attention does, a feature map
from :data:`FEATURE_MAPS`, ``causal`` and a positive ``eps``. Both packages call these checks, so a
bad input fails the same way, with the same message, in NumPy and in PyTorch.
"""

from __future__ import annotations

from typing import Any

from bigmodel_lib._checks import check_positive_int
from bigmodel_lib.contracts.attention import check_attention_inputs, check_causal

#: ``phi`` of linear attention: ``"elu+1"`` (Katharopoulos et al. 2020: ``elu(x) + 1 > 0``, so every
#: weight is positive) or ``"relu"`` (weights >= 0; a query orthogonal to every key then has weights 0).
FEATURE_MAPS = ("elu+1", "relu")


def check_window(where: str, window: Any) -> None:
    """``window`` (keys per query, the query's own position included) must be a positive int."""
    check_positive_int(where, "window", window)


def check_mask_lengths(where: str, lq: Any, lk: Any) -> None:
    check_positive_int(where, "lq", lq)
    check_positive_int(where, "lk", lk)


def check_linear_settings(where: str, feature_map: Any, eps: Any) -> None:
    """``feature_map`` one of :data:`FEATURE_MAPS`; ``eps`` (added to the normaliser) a positive number."""
    if feature_map not in FEATURE_MAPS:
        raise ValueError(f"{where}: 'feature_map' must be one of {FEATURE_MAPS}, got {feature_map!r}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
        raise ValueError(f"{where}: 'eps' must be a positive number, got {eps!r}")


def check_linear_attention_inputs(
    where: str, q: Any, k: Any, v: Any, *, causal: Any, feature_map: Any, eps: Any
) -> tuple[int, ...]:
    """Shapes and dtypes as :func:`check_attention_inputs`; ``causal`` needs ``Lq == Lk``.

    Returns the broadcast batch shape ``(...)``.
    """
    batch = check_attention_inputs(where, q, k, v)
    check_causal(where, causal)
    check_linear_settings(where, feature_map, eps)
    if causal and q.shape[-2] != k.shape[-2]:
        raise ValueError(
            f"{where}: causal=True expected as many queries as keys (Lq == Lk, one sequence attending to "
            f"itself), got Lq = {q.shape[-2]} and Lk = {k.shape[-2]}"
        )
    return batch
