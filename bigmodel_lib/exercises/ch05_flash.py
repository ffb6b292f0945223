"""Chapter 05 exercises on FlashAttention (notebook 05.2): one online-softmax step, tiles, HBM traffic.

::

    from bigmodel_lib.exercises import ch05_flash
    print(ch05_flash.online_softmax_step.prompt)
    ch05_flash.online_softmax_step.check(my_answer)
"""

from __future__ import annotations

import math

from bigmodel_lib.exercises.core import Exercise, as_float_array, close_to_or_known_mistake, half_unit, on_success

__all__ = ["CAUSAL_TILING", "KV_TRAFFIC", "ONLINE_STEP", "causal_tiles", "kv_bytes_read", "online_softmax_step"]

# -- 1. one step of the online softmax ----------------------------------------------------------------------

#: the running state of one query row after its first key block, and the scores of the next block
ONLINE_STEP = {"running_max": 2.0, "running_sum": 3.0, "new_scores": (4.0, 1.0, 3.0)}

#: the prompt asks for 4 significant figures
STEP_SIGNIFICANT_FIGURES = 4


def _new_running_sum(reference_max: float | None = None, rescale: str = "down") -> float:
    """``l_new = exp(m_old - m_new) l_old + sum_j exp(s_j - m_new)``, or one of the usual slips.

    ``reference_max``: the maximum the sum is measured against (default: the new running maximum);
    ``rescale``: ``"down"`` (right: ``exp(m_old - m_new)``), ``"none"`` or ``"up"`` (``exp(m_new - m_old)``).
    """
    s = ONLINE_STEP
    m_old, l_old, scores = s["running_max"], s["running_sum"], s["new_scores"]
    m_ref = max(m_old, *scores) if reference_max is None else reference_max
    factor = {"down": math.exp(m_old - m_ref), "none": 1.0, "up": math.exp(m_ref - m_old)}[rescale]
    return factor * l_old + sum(math.exp(x - m_ref) for x in scores)


#: the usual slips, each named only when the answer equals its value to 4 significant figures
STEP_SLIPS = {
    "the old sum l = 3.0 was measured against the old maximum: multiply it by exp(m_old - m_new) before adding "
    "the new block": lambda: _new_running_sum(rescale="none"),
    "the rescaling factor is exp(m_old - m_new), not exp(m_new - m_old): it shrinks the old sum":
        lambda: _new_running_sum(rescale="up"),
    "that is the running sum relative to the old maximum 2.0; the question asks relative to the new maximum "
    "(multiply by exp(2 - 4))": lambda: _new_running_sum(reference_max=ONLINE_STEP["running_max"]),
}


def _check_step(answer: object) -> tuple[bool, str]:
    """Right to 4 significant figures, or one of :data:`STEP_SLIPS` to 4 significant figures (named)."""
    got = float(as_float_array(answer))
    expected = _new_running_sum()
    if abs(got - expected) <= half_unit(expected, STEP_SIGNIFICANT_FIGURES):
        return True, f"the running sum {expected:.4g} is right to 4 significant figures"
    for explanation, slip in STEP_SLIPS.items():
        if abs(got - slip()) <= half_unit(slip(), STEP_SIGNIFICANT_FIGURES):
            return False, explanation
    return False, f"the running sum is not {got:g} to 4 significant figures"


online_softmax_step = Exercise(
    key="ch05_flash.online_softmax_step",
    prompt=(
        "A query row has been through its first key block: running maximum m = 2.0 and running sum\n"
        "l = 3.0 (the sum of exp(s - m) over that block's scores). The next key block gives the scores\n"
        "4.0, 1.0 and 3.0. After this block, what is the running sum l, measured relative to the NEW running\n"
        "maximum? Give it to 4 significant figures.\n"
        "(ch05_flash.ONLINE_STEP holds the numbers.)"
    ),
    checker=_check_step,
    hints=[
        "First the new running maximum: the largest of the old maximum and the new scores.",
        "l_new = exp(m_old - m_new) * l_old + sum of exp(s - m_new) over the new scores.",
    ],
    reference=_new_running_sum,
    solution_text=(f"m_new = 4; l_new = exp(2 - 4) x 3 + exp(0) + exp(-3) + exp(-1) = {_new_running_sum():.6f}, "
                   f"i.e. {_new_running_sum():.4g}"),
)

# -- 2. tiles visited by a causal forward -------------------------------------------------------------------

#: a causal self-attention (Lq = Lk = length) cut into square tiles
CAUSAL_TILING = {"length": 1000, "block": 128}


def _causal_tiles(skip: bool = True, whole_blocks_only: bool = False) -> int:
    """Tiles ``(query block, key block)`` with an allowed entry: query block ``i`` needs key blocks ``0..i``."""
    length, block = CAUSAL_TILING["length"], CAUSAL_TILING["block"]
    n_blocks = length // block if whole_blocks_only else -(-length // block)  # ceil unless the slip
    return n_blocks * (n_blocks + 1) // 2 if skip else n_blocks * n_blocks


causal_tiles = Exercise(
    key="ch05_flash.causal_tiles",
    prompt=(
        "Causal self-attention over L = 1000 tokens is computed in square tiles of 128 queries x 128 keys\n"
        "(the last block of each is shorter). A tile that lies entirely above the diagonal (every key after\n"
        "every query of the tile) is skipped. How many tiles does the forward pass compute? Give the exact int.\n"
        "(ch05_flash.CAUSAL_TILING holds the numbers.)"
    ),
    checker=on_success(
        close_to_or_known_mistake(
            _causal_tiles,
            {
                "that counts every tile; a causal pass skips the tiles above the diagonal":
                    lambda: _causal_tiles(False),
                "1000 / 128 is 7.8: the last, shorter block still needs its tiles (round the number of blocks up)":
                    lambda: _causal_tiles(whole_blocks_only=True),
                "half of all tiles is not enough: the tiles ON the diagonal are computed too (partly masked)":
                    lambda: _causal_tiles(False) // 2,
            },
            rtol=0.0,
            atol=0.5,  # an exact integer
            what="number of tiles",
        ),
        lambda: f"{_causal_tiles()} tiles is the exact count",
    ),
    hints=["How many blocks of 128 cover 1000 positions?",
           "Query block i (counting from 0) needs key blocks 0, 1, ..., i."],
    reference=_causal_tiles,
    solution_text=(f"ceil(1000 / 128) = 8 blocks; query block i visits i + 1 key blocks: "
                   f"1 + 2 + ... + 8 = {_causal_tiles()} of the 64 tiles"),
)

# -- 3. how often K and V are read from HBM ------------------------------------------------------------------

#: one head, non-causal; every number of K and V in bfloat16 (2 bytes)
KV_TRAFFIC = {"length": 8192, "d_head": 128, "block_q": 128, "block_k": 32, "bytes": 2}


def _kv_bytes(per_query_block: bool = True, with_v: bool = True, itemsize: int | None = None,
              block: str = "block_q") -> int:
    """Bytes of K and V the forward reads: every query block reads all of K and V once."""
    t = KV_TRAFFIC
    passes = t["length"] // t[block] if per_query_block else 1
    matrices = 2 if with_v else 1
    return passes * t["length"] * t["d_head"] * matrices * (t["bytes"] if itemsize is None else itemsize)


kv_bytes_read = Exercise(
    key="ch05_flash.kv_bytes_read",
    prompt=(
        "One attention head, L = 8192 queries and keys, d_head = 128 (for Q, K and V), bfloat16 (2 bytes),\n"
        "not causal. A FlashAttention forward keeps one block of block_q = 128 queries on chip and streams K\n"
        "and V past it in blocks of block_k = 32 keys, then moves on to the next query block. How many BYTES\n"
        "of K and V does it read from HBM in total? Give the exact int.\n"
        "(ch05_flash.KV_TRAFFIC holds the numbers.)"
    ),
    checker=on_success(
        close_to_or_known_mistake(
            _kv_bytes,
            {
                "K and V are not read once: every query block reads all of them again (L / block_q times)":
                    lambda: _kv_bytes(per_query_block=False),
                "both K and V stream past each query block, not only K": lambda: _kv_bytes(with_v=False),
                "bfloat16 takes 2 bytes per number, not 4": lambda: _kv_bytes(itemsize=4),
                "the number of passes over K and V is the number of QUERY blocks, L / block_q; block_k only sets "
                "how much of them is on chip at a time": lambda: _kv_bytes(block="block_k"),
            },
            rtol=0.0,
            atol=0.5,  # an exact integer
            what="number of bytes",
        ),
        lambda: f"{_kv_bytes():,} bytes is the exact count",
    ),
    hints=["How many query blocks are there, and what does each one read?",
           "Each query block reads K and V whole: 2 x L x d_head numbers."],
    reference=_kv_bytes,
    solution_text=(f"(8192 / 128) query blocks x 2 matrices x 8192 x 128 numbers x 2 bytes = {_kv_bytes():,} bytes "
                   f"({_kv_bytes() / 2**20:.0f} MiB). Bigger query blocks (more on-chip memory M) mean fewer passes: "
                   "the Theta(L^2 d^2 / M) reads of Dao et al. (2022), Theorem 2"),
)
