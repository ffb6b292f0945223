"""What ``nn_numpy.seq2seq`` and ``nn_torch.seq2seq`` share: input checks, configs and key maps.

Both packages import these, so a bad input fails the same way, with the same message, in NumPy and
in PyTorch; neither model package imports the other.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bigmodel_lib._checks import check_integer, check_ndim, check_positive_int, shape_str


def check_source(where: str, src: Any, src_mask: Any) -> None:
    """``src (B, S)`` integer ids; ``src_mask (B, S)`` bool, ``True`` on each source's characters, right-padded."""
    check_integer(where, "src", src)
    check_ndim(where, "src", src, 2, "(B, S)")
    if src.shape[1] == 0:
        raise ValueError(f"{where}: 'src' expected at least one source position, got shape {shape_str(src)}")
    if src_mask is None:
        return
    if str(src_mask.dtype).replace("torch.", "") != "bool":
        raise TypeError(f"{where}: 'src_mask' must have dtype bool (True = a real source token), got {src_mask.dtype}")
    if tuple(src_mask.shape) != tuple(src.shape):
        raise ValueError(f"{where}: 'src_mask' expected the shape of 'src' {shape_str(src)}, got {shape_str(src_mask)}")
    if not bool(src_mask[:, 0].all()):
        raise ValueError(f"{where}: 'src_mask' must be True at position 0 of every row (no empty source)")
    if bool((src_mask[:, 1:] & ~src_mask[:, :-1]).any()):
        raise ValueError(f"{where}: 'src_mask' must be right-padded (True ... True False ... False in every row)")

def check_target(where: str, tgt_in: Any, batch: int) -> None:
    check_integer(where, "tgt_in", tgt_in)
    check_ndim(where, "tgt_in", tgt_in, 2, "(B, T)")
    if tgt_in.shape[0] != batch:
        raise ValueError(f"{where}: 'tgt_in' expected batch size {batch} (that of 'src'), got {shape_str(tgt_in)}")
    if tgt_in.shape[1] == 0:
        raise ValueError(f"{where}: 'tgt_in' expected at least one step, got shape {shape_str(tgt_in)}")

def check_decode_args(where: str, max_len: Any, bos: Any, eos: Any, vocab_size: int) -> None:
    check_positive_int(where, "max_len", max_len)
    for name, value in (("bos", bos), ("eos", eos)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or not 0 <= value < vocab_size:
            raise ValueError(f"{where}: '{name}' must be a token id in [0, {vocab_size}), got {value!r}")
