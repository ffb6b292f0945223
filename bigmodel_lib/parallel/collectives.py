"""The ring all-reduce, step by step, over ranks simulated as a list of NumPy arrays.

``N`` ranks each hold an array ``g_r`` (say, the gradient of their own shard of the batch); afterwards
every rank must hold ``sum_r g_r``. The ring (Patarasuk & Yuan 2009; the algorithm behind NCCL's and
gloo's ring all-reduce) cuts each array into ``N`` chunks and runs two phases of ``N - 1`` steps; in every
step each rank sends one chunk to its right neighbour ``(r + 1) mod N`` and receives one from its left:

1. **reduce-scatter**: in step ``s`` rank ``r`` sends chunk ``(r - s) mod N``, and the receiver adds it to
   its own copy of that chunk. After ``N - 1`` steps rank ``r`` holds the complete sum of chunk
   ``(r + 1) mod N``.
2. **all-gather**: the completed chunks travel once more round the ring, each replacing the receiver's
   copy, until every rank holds every summed chunk.

Each rank sends ``2 (N - 1)`` chunks of ``size / N``: ``2 (N - 1) / N x size`` bytes, which tends to twice
the array's size however many ranks there are -- the reason a ring scales (a "send everything to rank 0"
scheme makes rank 0 receive ``(N - 1) x size``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class RingAllReduce:
    """The result: every rank's final array, and what each rank sent (bytes and messages)."""

    outputs: list[np.ndarray]
    bytes_sent_per_rank: list[int]
    messages_per_rank: int


def ring_all_reduce(arrays: Sequence[np.ndarray]) -> RingAllReduce:
    """Sum ``arrays`` (one per simulated rank, same shape and dtype) with the ring algorithm.

    The arrays are not modified. Chunks are ``np.array_split`` pieces of the flattened array, so any size
    works (chunks differ by at most one element when ``N`` does not divide it).
    """
    if len(arrays) < 1:
        raise ValueError("ring_all_reduce: 'arrays' must hold one array per rank, got none")
    first = np.asarray(arrays[0])
    for r, a in enumerate(arrays):
        if np.shape(a) != first.shape:
            raise ValueError(f"ring_all_reduce: every rank's array must have shape {first.shape}, "
                             f"rank {r} has {np.shape(a)}")
    n = len(arrays)
    # chunks[r][c]: rank r's copy of chunk c (a flat piece of its array)
    chunks = [[c.copy() for c in np.array_split(np.asarray(a).reshape(-1), n)] for a in arrays]
    sent = [0] * n
    for step in range(n - 1):  # reduce-scatter
        messages = [(r, (r - step) % n, chunks[r][(r - step) % n].copy()) for r in range(n)]  # all send at once
        for r, c, payload in messages:
            chunks[(r + 1) % n][c] += payload
            sent[r] += payload.nbytes
    for step in range(n - 1):  # all-gather: rank r starts with the finished chunk (r + 1) mod n
        messages = [(r, (r + 1 - step) % n, chunks[r][(r + 1 - step) % n].copy()) for r in range(n)]
        for r, c, payload in messages:
            chunks[(r + 1) % n][c] = payload
            sent[r] += payload.nbytes
    outputs = [np.concatenate(rank_chunks).reshape(first.shape) for rank_chunks in chunks]
    return RingAllReduce(outputs=outputs, bytes_sent_per_rank=sent, messages_per_rank=2 * (n - 1))
