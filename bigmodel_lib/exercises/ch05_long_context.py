"""Chapter 05 exercises on long contexts (notebook 05.3): sliding windows and linear attention.

::

    from bigmodel_lib.exercises import ch05_long_context
    print(ch05_long_context.window_pairs.prompt)
    ch05_long_context.window_pairs.check(my_answer)

The window convention is the library's (``nn_numpy.sliding_window_mask``): query ``i`` sees keys
``i - W + 1 .. i``, ``W`` keys with itself. FLOPs follow the course convention (a multiply-add is 2 FLOPs,
matrix products only), as in :mod:`bigmodel_lib.scale.long_context`. Each prompt states the precision
wanted; a slip is named only when its value differs from the right answer beyond that precision.
"""

from __future__ import annotations

from bigmodel_lib.exercises.core import Exercise, close_to_or_known_mistake, on_success
from bigmodel_lib.scale.long_context import attention_forward_flops, decoding_state_numbers

__all__ = [
    "COST_CONTEXT", "COST_D_MODEL", "COST_N_HEAD", "PAIRS_LENGTH", "PAIRS_WINDOW", "RECEPTIVE_LAYERS",
    "RECEPTIVE_WINDOW", "STATE_BYTES_PER_NUMBER", "STATE_CONTEXT", "STATE_D_HEAD", "STATE_N_HEAD", "STATE_N_LAYER",
    "cost_ratio", "decoding_memory", "receptive_field", "receptive_positions", "window_pairs",
]

_EXACT = {"rtol": 0.0, "atol": 0.5}


# -- 1. pairs a sliding window allows ---------------------------------------------------------------------------

PAIRS_LENGTH, PAIRS_WINDOW = 12, 5


def _pairs(window: int = PAIRS_WINDOW, length: int = PAIRS_LENGTH, ramp: bool = True) -> int:
    """Allowed (query, key) pairs: query i sees min(i + 1, window) keys (all ``window`` without the ramp)."""
    return sum(min(i + 1, window) if ramp else window for i in range(length))


window_pairs = Exercise(
    key="ch05_long_context.window_pairs",
    prompt=(
        f"A sequence of L = {PAIRS_LENGTH} tokens, sliding-window attention with window W = {PAIRS_WINDOW} (query i\n"
        "sees keys i - W + 1 .. i, itself included, never a key before position 0). How many (query, key)\n"
        "pairs does the mask allow in total, i.e. how many True entries has sliding_window_mask(L, L, W)?\n"
        "An exact int: count it on paper, then check with the library."
    ),
    checker=on_success(close_to_or_known_mistake(
        _pairs,
        {
            "the first W - 1 queries have fewer than W keys before them (query 0 sees only itself): "
            "L x W overcounts": lambda: _pairs(ramp=False),
            "the window holds W keys including the query's own position (i - W + 1 .. i), not W + 1":
                lambda: _pairs(window=PAIRS_WINDOW + 1),
            "that is the plain causal mask (L (L + 1) / 2): the window cuts it":
                lambda: _pairs(window=PAIRS_LENGTH),
        },
        what="number of allowed pairs", **_EXACT,
    ), lambda: (f"{_pairs()} pairs, exactly: 1 + 2 + ... + W for the first W queries, then W for each of the "
                "other L - W")),
    hints=[
        "Query i sees min(i + 1, W) keys.",
        "The first W queries see 1, 2, ..., W keys; each later query sees W.",
    ],
    reference=_pairs,
    solution_text=(f"W (W + 1) / 2 + (L - W) W = {_pairs()}  (check: "
                   "int(nn_numpy.sliding_window_mask(12, 12, 5).sum()))"),
)


# -- 2. receptive field of a stack of windowed layers -------------------------------------------------------------

RECEPTIVE_LAYERS, RECEPTIVE_WINDOW = 6, 512


def receptive_positions(n_layer: int, window: int) -> int:
    """Input positions the last layer's output at position ``i`` can depend on, ``i`` included: ``n (W - 1) + 1``.

    (Far enough from the start of the sequence; each layer reaches ``W - 1`` positions further back.)
    """
    return n_layer * (window - 1) + 1


receptive_field = Exercise(
    key="ch05_long_context.receptive_field",
    prompt=(
        f"A stack of n = {RECEPTIVE_LAYERS} sliding-window attention layers, window W = {RECEPTIVE_WINDOW} each "
        "(query i sees\nkeys i - W + 1 .. i of the layer below). Far from the start of the sequence, on how many "
        "input positions\ncan the top layer's output at position i depend, position i itself included? An exact int."
    ),
    checker=on_success(close_to_or_known_mistake(
        lambda: receptive_positions(RECEPTIVE_LAYERS, RECEPTIVE_WINDOW),
        {
            "each layer reaches W - 1 positions further back (its own position is already counted): "
            "n x W counts position i once per layer":
                lambda: RECEPTIVE_LAYERS * RECEPTIVE_WINDOW,
            "that is the distance back, n (W - 1); the question counts the positions, i itself included":
                lambda: RECEPTIVE_LAYERS * (RECEPTIVE_WINDOW - 1),
            "that is one layer: every layer extends the reach of the one above it": lambda: RECEPTIVE_WINDOW,
        },
        what="number of positions", **_EXACT,
    ), lambda: (f"{receptive_positions(RECEPTIVE_LAYERS, RECEPTIVE_WINDOW):,} positions, exactly: n (W - 1) + 1 "
                "(the notebook measures the same rule on a small model)")),
    hints=[
        "One layer: positions i - W + 1 .. i, that is W positions.",
        "The layer below was itself computed from a window: each extra layer reaches W - 1 positions further back.",
    ],
    reference=lambda: receptive_positions(RECEPTIVE_LAYERS, RECEPTIVE_WINDOW),
    solution_text=f"n (W - 1) + 1 = {receptive_positions(RECEPTIVE_LAYERS, RECEPTIVE_WINDOW):,}",
)


# -- 3. softmax attention over linear attention, in FLOPs ---------------------------------------------------------

COST_D_MODEL, COST_N_HEAD, COST_CONTEXT = 4096, 32, 32768


def _cost_ratio(n_head: int = COST_N_HEAD) -> float:
    """``n_head=1``: the whole width as one head, i.e. linear attention's state taken as d_model x d_model."""
    d_head = COST_D_MODEL // n_head
    full = attention_forward_flops("full", COST_CONTEXT, n_head, d_head)
    return full / attention_forward_flops("linear", COST_CONTEXT, n_head, d_head)


cost_ratio = Exercise(
    key="ch05_long_context.cost_ratio",
    prompt=(
        f"A layer with d_model = {COST_D_MODEL} and {COST_N_HEAD} heads, on a sequence of L = {COST_CONTEXT:,} tokens "
        "(causal).\nForward FLOPs of the attention products only (Q K^T and A V for softmax attention over all "
        "L keys,\n"
        "phi(K)^T V and phi(Q) S for linear attention; 2 FLOPs per multiply-add, projections not counted):\n"
        "softmax attention's FLOPs divided by linear attention's. To 3 significant figures."
    ),
    checker=on_success(close_to_or_known_mistake(
        _cost_ratio,
        {
            "linear attention's d x d state is per head: d_head^2 per head, h d_head^2 in all, not d_model^2":
                lambda: _cost_ratio(n_head=1),
        },
        rtol=5e-3, atol=0.0, what="ratio",
    ), lambda: f"{_cost_ratio():g}, to within 0.5 %: 4 L^2 h d_h / (4 L h d_h^2) = L / d_h"),
    hints=[
        "Per head of width d_h: softmax 4 L^2 d_h, linear 4 L d_h^2.",
        "The ratio is L / d_h, with d_h = d_model / n_head.",
    ],
    reference=_cost_ratio,
    solution_text=f"L / d_head = {COST_CONTEXT} / {COST_D_MODEL // COST_N_HEAD} = {_cost_ratio():g}",
)


# -- 4. memory while generating: KV cache against linear attention's state ---------------------------------------

STATE_N_LAYER, STATE_N_HEAD, STATE_D_HEAD, STATE_CONTEXT, STATE_BYTES_PER_NUMBER = 32, 32, 128, 32768, 2


def _state_bytes(kv_factor: int = 2, norm: bool = True, layers: int = STATE_N_LAYER) -> tuple[int, int]:
    """(KV cache bytes, linear-attention state bytes) of a batch of one sequence."""
    cache = decoding_state_numbers("full", STATE_CONTEXT, STATE_N_HEAD, STATE_D_HEAD) * kv_factor // 2
    state = decoding_state_numbers("linear", STATE_CONTEXT, STATE_N_HEAD, STATE_D_HEAD)
    if not norm:
        state -= STATE_N_HEAD * STATE_D_HEAD
    return cache * layers * STATE_BYTES_PER_NUMBER, state * layers * STATE_BYTES_PER_NUMBER


decoding_memory = Exercise(
    key="ch05_long_context.decoding_memory",
    prompt=(
        f"Generating with one sequence after L = {STATE_CONTEXT:,} tokens, in a model of {STATE_N_LAYER} layers, "
        f"{STATE_N_HEAD} heads of width\nd_head = {STATE_D_HEAD}, numbers stored in bfloat16 ({STATE_BYTES_PER_NUMBER} "
        "bytes). How many BYTES (a) does softmax attention's key/value cache\ntake, and (b) does linear attention's "
        "state (S and z of every head and layer) take?\nAnswer as a pair of exact ints (cache_bytes, state_bytes)."
    ),
    checker=on_success(close_to_or_known_mistake(
        _state_bytes,
        {
            "the cache holds keys AND values": lambda: _state_bytes(kv_factor=1),
            "the state is S (d_head x d_head) AND the normaliser z (d_head) of each head":
                lambda: _state_bytes(norm=False),
            "every layer keeps its own cache and state": lambda: _state_bytes(layers=1),
        },
        what="pair of byte counts", **_EXACT,
    ), lambda: (f"({_state_bytes()[0]:,}, {_state_bytes()[1]:,}) bytes, exactly: the cache grows with L, the state "
                "does not")),
    hints=[
        "Cache: 2 (K and V) x L x n_head x d_head numbers per layer.",
        "State: n_head x d_head x (d_head + 1) numbers per layer, whatever L is.",
    ],
    reference=_state_bytes,
    solution_text=(f"cache 2 L h d_h n_layer x 2 = {_state_bytes()[0]:,} bytes ({_state_bytes()[0] / 2**30:.0f} GiB); "
                   f"state h d_h (d_h + 1) n_layer x 2 = {_state_bytes()[1]:,} bytes "
                   f"({_state_bytes()[1] / 2**20:.1f} MiB)"),
)
