"""Chapter 04 exercises on the small GPT (notebook 04.5): parameters, FLOPs, the KV cache, perplexity.

::

    from bigmodel_lib.exercises import ch04_gpt
    print(ch04_gpt.gpt_parameter_count.prompt)
    ch04_gpt.gpt_parameter_count.check(my_answer)

Each checker names the usual slips: an untied output layer, a forgotten position table, the keys
without the values, forward FLOPs instead of training FLOPs, perplexity in the wrong base. Every prompt
states the precision wanted, and the checker accepts an answer rounded that way; a slip is named only when
its value lies outside that tolerance of the right answer.
"""

from __future__ import annotations

import math

from bigmodel_lib.exercises.core import Exercise, close_to_or_known_mistake, on_success
from bigmodel_lib.nn_numpy.gpt import GPTConfig

__all__ = [
    "CACHE_BATCH",
    "CACHE_BYTES_PER_NUMBER",
    "EXERCISE_CONFIG",
    "GENERATE_NEW",
    "GENERATE_PROMPT",
    "PERPLEXITY_LOSS",
    "cache_memory",
    "gpt_parameter_count",
    "positions_processed",
    "perplexity",
    "training_flops_per_token",
]

#: The model of exercises 1, 2 and 4 (about the size of nanoGPT's Shakespeare example).
EXERCISE_CONFIG = GPTConfig(vocab_size=65, block_size=256, n_layer=6, n_head=6, d_model=384)


def _block(d: int, bias: bool = True, layer_norms: bool = True, ff: int = 4) -> int:
    attention = 3 * d * d + 3 * d * bias + d * d + d * bias  # in_proj (3d x d) + out_proj (d x d)
    feed_forward = ff * d * d + ff * d * bias + ff * d * d + d * bias  # d -> ff d -> d
    norms = 2 * 2 * d if layer_norms else 0  # two LayerNorms, gain and shift each
    return attention + feed_forward + norms


def _gpt_parameters(tied: bool = True, positions: bool = True, bias: bool = True, layer_norms: bool = True,
                    ff: int = 4) -> int:
    c = EXERCISE_CONFIG
    d = c.d_model
    total = c.vocab_size * d + c.n_layer * _block(d, bias, layer_norms, ff) + (2 * d if layer_norms else 0)
    total += c.block_size * d if positions else 0
    return total + (0 if tied else c.vocab_size * d)


# -- 1. parameters ------------------------------------------------------------------------------------------------

gpt_parameter_count = Exercise(
    key="ch04_gpt.gpt_parameter_count",
    prompt=(
        "How many trainable parameters has nn_torch.GPT(ch04_gpt.EXERCISE_CONFIG)? vocab_size=65, block_size=256,\n"
        "n_layer=6, n_head=6, d_model=384, biases on, d_ff = 4 d_model, output layer TIED to the token embedding,\n"
        "learned position embeddings, a final LayerNorm. An exact int: count it on paper first, then check with "
        "the model."
    ),
    checker=on_success(close_to_or_known_mistake(
        _gpt_parameters,
        {
            "the output layer is tied to the token embedding: its V x d matrix is the same tensor, count it once":
                lambda: _gpt_parameters(tied=False),
            "the learned position table (block_size x d_model) is missing": lambda: _gpt_parameters(positions=False),
            "the biases are missing (each Linear has one)": lambda: _gpt_parameters(bias=False),
            "the LayerNorms are missing: two per block and a final one, each with a gain and a shift of d numbers":
                lambda: _gpt_parameters(layer_norms=False),
            "the feed-forward layer is 4 d_model wide, not d_model": lambda: _gpt_parameters(ff=1),
        },
        rtol=0.0,
        atol=0.5,
        what="parameter count",
    ), lambda: (f"{_gpt_parameters():,} parameters, exactly: V d + T_max d + n_layer (12 d^2 + 13 d) + 2 d, "
                "the tied output matrix counted once")),
    hints=[
        "Per block: in_proj (3d x d + 3d), out_proj (d x d + d), linear1 (4d x d + 4d), linear2 (d x 4d + d), "
        "two LayerNorms (2 x 2d).",
        "That is 12 d^2 + 13 d per block. Add V d (tokens), T_max d (positions) and 2 d (final LayerNorm).",
        "No lm_head: logits = h @ tok_emb.weight.T.",
    ],
    reference=_gpt_parameters,
    solution_text=(
        f"V d + T_max d + n_layer (12 d^2 + 13 d) + 2 d = {_gpt_parameters():,} "
        "(check: nn_torch.GPT(EXERCISE_CONFIG).num_parameters())"
    ),
)


# -- 2. KV-cache memory ---------------------------------------------------------------------------------------

CACHE_BATCH, CACHE_BYTES_PER_NUMBER = 8, 2  # a batch of 8 sequences, bfloat16 numbers


def _cache_bytes(kv: int = 2, bytes_per_number: int = CACHE_BYTES_PER_NUMBER, heads_factor: int = 1) -> int:
    c = EXERCISE_CONFIG
    return kv * c.n_layer * CACHE_BATCH * c.block_size * c.d_model * heads_factor * bytes_per_number


cache_memory = Exercise(
    key="ch04_gpt.cache_memory",
    prompt=(
        "The KV cache of ch04_gpt.EXERCISE_CONFIG for a batch of CACHE_BATCH = 8 sequences filled to\n"
        "block_size = 256, stored in bfloat16 (2 bytes per number): how many BYTES do its key and value\n"
        "buffers take? An exact int."
    ),
    checker=on_success(close_to_or_known_mistake(
        _cache_bytes,
        {
            "keys AND values are cached: two tensors per layer": lambda: _cache_bytes(kv=1),
            "bfloat16 takes 2 bytes per number, not 4": lambda: _cache_bytes(bytes_per_number=4),
            "the heads split d_model (n_head x d_head = d_model); they do not multiply it":
                lambda: _cache_bytes(heads_factor=EXERCISE_CONFIG.n_head),
        },
        rtol=0.0,
        atol=0.5,
        what="bytes",
    ), lambda: (f"{_cache_bytes():,} bytes, exactly: K and V, n_layer x B x T x d_model numbers each, "
                "2 bytes per number")),
    hints=[
        "Each layer keeps K and V, each of shape (B, n_head, T, d_head).",
        "n_head x d_head = d_model, so one layer holds 2 x B x T x d_model numbers.",
        "Multiply by n_layer and by 2 bytes.",
    ],
    reference=_cache_bytes,
    solution_text=(f"2 x n_layer x B x T x d_model x 2 bytes = {_cache_bytes():,} bytes "
                   f"({_cache_bytes() / 2**20:.1f} MiB)"),
)


# -- 3. work saved by the cache -------------------------------------------------------------------------------

GENERATE_PROMPT, GENERATE_NEW = 20, 100


def _positions(offset: int = 0) -> tuple[int, int]:
    """Token positions pushed through the model: uncached re-runs the whole prefix at every step."""
    uncached = sum(GENERATE_PROMPT + step + offset for step in range(GENERATE_NEW))
    cached = GENERATE_PROMPT + (GENERATE_NEW - 1) + offset
    return uncached, cached


positions_processed = Exercise(
    key="ch04_gpt.positions_processed",
    prompt=(
        f"Generating {GENERATE_NEW} new tokens from a {GENERATE_PROMPT}-token prompt (all within block_size):\n"
        "how many token positions go through the model in total (a) without a cache, re-running the whole\n"
        "context for each new token, and (b) with the KV cache? Answer as a pair of exact ints (uncached, cached)."
    ),
    checker=on_success(close_to_or_known_mistake(
        _positions,
        {
            "off by one: the last new token is sampled, never fed back, so the final context is "
            f"{GENERATE_PROMPT + GENERATE_NEW - 1} tokens": lambda: _positions(offset=1),
        },
        rtol=0.0,
        atol=0.5,
        what="pair (uncached, cached)",
    ), lambda: (f"{_positions()}, exactly: without the cache every step re-runs the whole context, with it the "
                "prompt runs once and each later step one position")),
    hints=[
        "Step 1 runs the prompt (20 positions) and samples token 21. Step 2 runs 21 positions without a cache, "
        "and 1 with it.",
        "Without a cache: 20 + 21 + ... + 119. With it: 20 for the prompt, then one per later step.",
    ],
    reference=_positions,
    solution_text=(
        f"uncached: 20 + 21 + ... + 119 = {_positions()[0]:,}; cached: 20 + 99 = {_positions()[1]} -- "
        f"{_positions()[0] / _positions()[1]:.0f}x fewer positions (and attention is still over the whole context)"
    ),
)


# -- 4. training FLOPs per token -------------------------------------------------------------------------------


def _flops(multiplier: int = 6, attention: bool = True, include_positions: bool = False) -> float:
    c = EXERCISE_CONFIG
    n = _gpt_parameters() - (0 if include_positions else c.block_size * c.d_model)
    return multiplier * n + (12 * c.n_layer * c.d_model * c.block_size if attention else 0)


training_flops_per_token = Exercise(
    key="ch04_gpt.training_flops_per_token",
    prompt=(
        "Training FLOPs per token (forward + backward) of ch04_gpt.EXERCISE_CONFIG at sequence length T = 256,\n"
        "with the usual estimate 6 N + 12 n_layer d_model T, where N counts the parameters used in matmuls\n"
        "(everything except the position table, which is only looked up). To within 0.1 % "
        "(4 significant figures are enough)."
    ),
    checker=on_success(close_to_or_known_mistake(
        _flops,
        {
            "2 N is the forward pass only; the backward costs about twice the forward, so training is 6 N":
                lambda: _flops(multiplier=2, attention=False),
            "the forward-only count with attention (2 N + 4 n_layer d T); training is three times that":
                lambda: _flops(multiplier=2) - 8 * EXERCISE_CONFIG.n_layer * EXERCISE_CONFIG.d_model * 256,
            "the attention term 12 n_layer d_model T is missing": lambda: _flops(attention=False),
        },
        rtol=1e-3,
        atol=0.5,
        what="FLOPs per token",
    ), lambda: f"{_flops():,.0f} FLOPs per token (6 N + 12 n_layer d_model T), forward + backward, within 0.1 %"),
    hints=[
        "N = num_parameters() - block_size x d_model.",
        "Attention adds 12 x 6 x 384 x 256 FLOPs per token.",
    ],
    reference=_flops,
    solution_text=f"6 N + 12 L d T = {_flops():,.0f} (nn_torch.GPT(EXERCISE_CONFIG).flops_per_token(256))",
)


# -- 5. perplexity ---------------------------------------------------------------------------------------------

PERPLEXITY_LOSS = 1.5  # a validation loss in nats per character, as F.cross_entropy reports it

perplexity = Exercise(
    key="ch04_gpt.perplexity",
    prompt=(
        f"A character model has validation cross-entropy {PERPLEXITY_LOSS} (PyTorch's F.cross_entropy, natural log).\n"
        "What is its perplexity -- the number of equally likely characters it is 'choosing among' on average?\n"
        "To 3 significant figures."
    ),
    checker=on_success(close_to_or_known_mistake(
        lambda: math.exp(PERPLEXITY_LOSS),
        {
            "F.cross_entropy uses the natural logarithm: perplexity = e^loss, not 2^loss":
                lambda: 2**PERPLEXITY_LOSS,
            "that is 10^loss; the loss is in nats, so perplexity = e^loss": lambda: 10**PERPLEXITY_LOSS,
        },
        rtol=2e-3,
        what="perplexity",
    ), lambda: (f"e^{PERPLEXITY_LOSS} = {math.exp(PERPLEXITY_LOSS):.4g}: your answer is within 0.2 %, "
                f"as {math.exp(PERPLEXITY_LOSS):.3g} (3 significant figures) is")),
    hints=["Perplexity = exp(mean negative log-likelihood); a uniform model over V symbols has loss ln V "
           "and perplexity V."],
    reference=lambda: math.exp(PERPLEXITY_LOSS),
    solution_text=f"e^{PERPLEXITY_LOSS} = {math.exp(PERPLEXITY_LOSS):.3f}; in bits per character: "
                  f"{PERPLEXITY_LOSS / math.log(2):.3f}",
)
