"""What ``nn_numpy.transformer_model`` and ``nn_torch.transformer_model`` share: input checks, configs and key maps.

Both packages import these, so a bad input fails the same way, with the same message, in NumPy and
in PyTorch; neither model package imports the other.
"""

from __future__ import annotations

from typing import Any

from bigmodel_lib._checks import check_positive_int, dtype_name, is_integer, is_tracing, shape_str
from bigmodel_lib.contracts.transformer import (
    check_layer_config,
)


def check_model_config(
    where: str,
    src_vocab: int,
    tgt_vocab: int,
    d_model: int,
    num_heads: int,
    d_ff: int,
    num_encoder_layers: int,
    num_decoder_layers: int,
    dropout: float,
    activation: str,
    max_len: int,
    pad_id: int | None,
) -> None:
    """Positive sizes, a valid layer configuration, and ``pad_id`` a token of both vocabularies."""
    for name, value in (("src_vocab", src_vocab), ("tgt_vocab", tgt_vocab), ("max_len", max_len),
                        ("num_encoder_layers", num_encoder_layers), ("num_decoder_layers", num_decoder_layers)):
        check_positive_int(where, name, value)
    check_layer_config(where, d_model, num_heads, d_ff, dropout, activation)
    if pad_id is not None and not (isinstance(pad_id, int) and 0 <= pad_id < min(src_vocab, tgt_vocab)):
        raise ValueError(
            f"{where}: 'pad_id' must be an int in [0, min(src_vocab, tgt_vocab)) = [0, {min(src_vocab, tgt_vocab)}) "
            f"or None, got {pad_id!r}"
        )

def check_token_ids(
    where: str, name: str, ids: Any, vocab_size: int, max_len: int, *, check_range: bool = True
) -> None:
    """``ids`` must be integer ``(B, L)`` with ``1 <= L <= max_len`` and values in ``[0, vocab_size)``.

    Works on NumPy arrays and torch tensors (the caller has checked which); ``check_range=False``
    skips the value check (on a GPU it would force a device sync); it is skipped too while
    ``torch.compile`` or ``torch.export`` traces (see :func:`bigmodel_lib._checks.is_tracing`).
    """
    if not is_integer(ids):
        raise TypeError(f"{where}: '{name}' must hold integer token ids, got dtype {dtype_name(ids)}")
    if ids.ndim != 2:
        raise ValueError(f"{where}: '{name}' expected 2 dims (B, L) of token ids, got shape {shape_str(ids)}")
    if not 1 <= ids.shape[1] <= max_len:
        raise ValueError(
            f"{where}: '{name}' expected a length 1 <= L <= max_len={max_len}, got shape {shape_str(ids)}"
        )
    if check_range and not is_tracing(ids) and ids.shape[0] and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise ValueError(
            f"{where}: '{name}' values must be in [0, {vocab_size}), got values in [{int(ids.min())}, {int(ids.max())}]"
        )

def check_same_batch(where: str, name: str, x: Any, ref_name: str, ref: Any) -> None:
    if x.shape[0] != ref.shape[0]:
        raise ValueError(
            f"{where}: '{name}' expected batch size {ref.shape[0]} (that of '{ref_name}' {shape_str(ref)}), "
            f"got shape {shape_str(x)}"
        )
