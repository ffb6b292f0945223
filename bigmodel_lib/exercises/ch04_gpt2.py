"""Chapter 04 exercises on GPT-2's weights in the course's GPT (notebook 04.8): parameters, shapes, bytes.

::

    from bigmodel_lib.exercises import ch04_gpt2
    print(ch04_gpt2.gpt2_xl_parameters.prompt)
    ch04_gpt2.gpt2_xl_parameters.check(my_answer)

Each checker names the usual slips: the tied output layer counted twice, the causal-mask buffers counted as
parameters, a Conv1D weight given in the Linear layout (or the reverse), bytes per number. Every prompt states
the precision wanted, and a slip is named only when its value lies outside that tolerance of the right answer.
"""

from __future__ import annotations

from bigmodel_lib.exercises.core import Exercise, close_to_or_known_mistake, on_success

__all__ = [
    "GPT2_MEDIUM",
    "GPT2_SMALL",
    "GPT2_XL",
    "attention_weight_shapes",
    "checkpoint_megabytes",
    "gpt2_xl_parameters",
]

#: GPT-2 small (124M) and medium (355M), as their Hugging Face config.json files give them.
GPT2_SMALL = {"vocab_size": 50257, "n_positions": 1024, "n_layer": 12, "n_head": 12, "n_embd": 768}
GPT2_MEDIUM = {"vocab_size": 50257, "n_positions": 1024, "n_layer": 24, "n_head": 16, "n_embd": 1024}
#: GPT-2 XL, the largest GPT-2 ("1.5B").
GPT2_XL = {"vocab_size": 50257, "n_positions": 1024, "n_layer": 48, "n_head": 25, "n_embd": 1600}


def _parameters(tied: bool = True, positions: bool = True, buffers: bool = False, sizes: dict = GPT2_XL) -> int:
    c = sizes
    v, t, d, n = c["vocab_size"], c["n_positions"], c["n_embd"], c["n_layer"]
    block = (d * 3 * d + 3 * d) + (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d) + 2 * 2 * d
    total = v * d + (t * d if positions else 0) + n * block + 2 * d
    total += 0 if tied else v * d
    return total + (n * t * t if buffers else 0)  # attn.bias (1, 1, n_ctx, n_ctx) per block


# -- 1. parameters of GPT-2 XL ------------------------------------------------------------------------------------

gpt2_xl_parameters = Exercise(
    key="ch04_gpt2.gpt2_xl_parameters",
    prompt=(
        "GPT-2 XL has ch04_gpt2.GPT2_XL's sizes: vocab_size=50257, n_positions=1024, n_layer=48, n_embd=1600\n"
        "(biases everywhere, a feed-forward 4 n_embd wide, two LayerNorms per block and a final one). How many\n"
        "parameters does nn_torch.GPT.from_gpt2 build from it? An exact int. (Its checkpoint files also hold\n"
        "lm_head.weight and, in older ones, a buffer h.{l}.attn.bias per block: decide what counts.)"
    ),
    checker=on_success(close_to_or_known_mistake(
        _parameters,
        {
            "lm_head.weight is the same matrix as wte.weight (tied): count it once":
                lambda: _parameters(tied=False),
            "attn.bias is a causal mask (a buffer), not a parameter: leave the 48 x 1024 x 1024 numbers out":
                lambda: _parameters(buffers=True),
            "the mask buffers AND an untied output layer: both are not extra parameters":
                lambda: _parameters(tied=False, buffers=True),
            "the learned position table wpe (1024 x 1600) is missing": lambda: _parameters(positions=False),
        },
        rtol=0.0,
        atol=0.5,
        what="parameter count",
    ), lambda: (f"{_parameters():,} parameters, exactly: V d + n_ctx d + n_layer (12 d^2 + 13 d) + 2 d, "
                "lm_head counted once (it is wte) and the mask buffers left out")),
    hints=[
        "Per block: c_attn (d x 3d + 3d), c_proj (d x d + d), c_fc (d x 4d + 4d), mlp.c_proj (4d x d + d), "
        "ln_1 and ln_2 (2d each).",
        "Transposing a Conv1D weight does not change how many numbers it holds.",
    ],
    reference=_parameters,
    solution_text=(f"V d + n_ctx d + n_layer (12 d^2 + 13 d) + 2 d = {_parameters():,} "
                   "(the '1.5B' of GPT-2 XL)"),
)


# -- 2. shapes of the attention projection ------------------------------------------------------------------------


def _shapes(transposed: bool = True, per_head: bool = False, qkv: int = 3) -> tuple[tuple[int, int], tuple[int, int]]:
    d = GPT2_MEDIUM["n_embd"]
    width = qkv * (d // GPT2_MEDIUM["n_head"] if per_head else d)
    gpt2 = (d, width)  # Conv1D: (in, out)
    ours = (width, d) if transposed else gpt2
    return gpt2, ours


attention_weight_shapes = Exercise(
    key="ch04_gpt2.attention_weight_shapes",
    prompt=(
        "GPT-2 medium: n_embd=1024, n_head=16, n_layer=24 (ch04_gpt2.GPT2_MEDIUM). Give the shape of\n"
        "'h.0.attn.c_attn.weight' in its Hugging Face state dict and the shape of the course's\n"
        "'blocks.0.self_attn.in_proj.weight' that holds it, as a pair of exact int pairs:\n"
        "((rows, cols) in GPT-2, (rows, cols) in ours)."
    ),
    checker=on_success(close_to_or_known_mistake(
        _shapes,
        {
            "GPT-2's c_attn is a Conv1D stored (in, out); our in_proj is a Linear stored (out, in): one is the "
            "transpose of the other": lambda: _shapes(transposed=False),
            "both transposed the wrong way round: Conv1D stores (in, out) = (1024, 3072)":
                lambda: tuple(reversed(_shapes())),
            "c_attn projects to all heads at once: 3 x n_embd outputs, not 3 x d_head":
                lambda: _shapes(per_head=True),
            "c_attn holds the queries, keys AND values: 3 x 1024 outputs": lambda: _shapes(qkv=1),
        },
        rtol=0.0,
        atol=0.5,
        what="pair of shapes",
    ), lambda: f"{_shapes()}, exactly: Conv1D stores (in, out), our Linear the transpose (out, in)"),
    hints=[
        "One matmul gives q, k and v for every head: x (B, T, 1024) -> (B, T, 3 x 1024).",
        "A Conv1D computes x @ W with W (in, out); a Linear computes x @ W.T with W (out, in).",
    ],
    reference=_shapes,
    solution_text=f"{_shapes()}: GPT-2 (in, out) = (1024, 3072); ours (out, in) = (3072, 1024)",
)


# -- 3. bytes of a checkpoint --------------------------------------------------------------------------------------


def _megabytes(buffers: bool = True, bytes_per_number: int = 4, tied: bool = True) -> float:
    return _parameters(tied=tied, buffers=buffers, sizes=GPT2_SMALL) * bytes_per_number / 1e6


checkpoint_megabytes = Exercise(
    key="ch04_gpt2.checkpoint_megabytes",
    prompt=(
        "A float32 checkpoint of GPT-2 small (ch04_gpt2.GPT2_SMALL) stores every parameter once (wte, not a\n"
        "second lm_head) plus, for each of the 12 blocks, the causal-mask buffer 'h.{l}.attn.bias' of shape\n"
        "(1, 1, 1024, 1024), also as float32. How many megabytes (1 MB = 10^6 bytes) of numbers is that?\n"
        "To 3 significant figures."
    ),
    checker=on_success(close_to_or_known_mistake(
        _megabytes,
        {
            "the 12 mask buffers (1024 x 1024 numbers each) are stored too": lambda: _megabytes(buffers=False),
            "float32 takes 4 bytes per number, not 2": lambda: _megabytes(bytes_per_number=2),
            "the checkpoint stores the tied matrix once": lambda: _megabytes(tied=False),
        },
        rtol=2e-3,
        what="megabytes",
    ), lambda: (f"{_megabytes():.4g} MB: your answer is within 0.2 %, as {_megabytes():.3g} (3 significant "
                "figures) is; the mask buffers are about a tenth of it")),
    hints=[
        "Count GPT-2 small's parameters as in exercise 1 (V d + n_ctx d + n_layer (12 d^2 + 13 d) + 2 d), add "
        "12 x 1024 x 1024 buffer numbers; 4 bytes each.",
    ],
    reference=_megabytes,
    solution_text=(f"({_parameters(sizes=GPT2_SMALL):,} + 12 x 1024^2) x 4 bytes = {_megabytes():.1f} MB, of which "
                   f"{12 * 1024**2 * 4 / 1e6:.1f} MB are masks that from_gpt2 skips"),
)
