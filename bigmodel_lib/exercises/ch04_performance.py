"""Chapter 04 exercises on performance (notebook 04.6): the memory of attention weights, and MFU.

::

    from bigmodel_lib.exercises import ch04_performance
    print(ch04_performance.attention_memory.prompt)
    ch04_performance.attention_memory.check(my_answer)
"""

from __future__ import annotations

from bigmodel_lib.exercises.core import Exercise, close_to_or_known_mistake

__all__ = ["MEMORY_SHAPE", "MFU_DECIMALS", "MFU_RUN", "attention_memory", "model_flops_utilization"]

# -- 1. memory of materialised attention weights ------------------------------------------------------------

#: batch, heads, sequence length, bytes per number (bfloat16)
MEMORY_SHAPE = {"batch": 8, "heads": 12, "length": 4096, "bytes": 2}


def _weights_bytes(bytes_per_number: int = MEMORY_SHAPE["bytes"], heads: int = MEMORY_SHAPE["heads"],
                   squared: bool = True) -> int:
    s = MEMORY_SHAPE
    length_factor = s["length"] ** 2 if squared else s["length"]
    return s["batch"] * heads * length_factor * bytes_per_number


attention_memory = Exercise(
    key="ch04_performance.attention_memory",
    prompt=(
        "One attention layer with batch 8, 12 heads and sequence length 4096 stores its weights\n"
        "softmax(QK^T / sqrt(d)) in bfloat16 (2 bytes per number), as the math path does. How many BYTES\n"
        "do those weights take? Give the exact integer.\n"
        "(ch04_performance.MEMORY_SHAPE holds the numbers.)"
    ),
    checker=close_to_or_known_mistake(
        _weights_bytes,
        {
            "bfloat16 takes 2 bytes per number, not 4": lambda: _weights_bytes(bytes_per_number=4),
            "every head has its own (L, L) matrix: multiply by the 12 heads": lambda: _weights_bytes(heads=1),
            "the weights are (L, L) per head: L squared, not L": lambda: _weights_bytes(squared=False),
        },
        rtol=0.0,
        atol=0.5,  # an exact integer: any other whole number is wrong
        what="number of bytes",
    ),
    hints=["The weights have shape (B, h, L, L).", "8 x 12 x 4096 x 4096 numbers, 2 bytes each."],
    reference=_weights_bytes,
    solution_text=(f"B h L^2 x 2 bytes = {_weights_bytes():,} bytes = {_weights_bytes() / 2**30:.1f} GiB -- "
                   "for one layer; the fused (flash / memory-efficient) kernels never store them"),
)

# -- 2. model FLOPs utilisation ---------------------------------------------------------------------------------

#: A training run: parameters N (position table excluded), layers, width, sequence length, tokens per
#: second, and the GPU's dense bfloat16 peak (its datasheet's sparse figure is twice that).
MFU_RUN = {"N": 124_000_000, "n_layer": 12, "d_model": 768, "seq_len": 1024, "tokens_per_s": 400_000,
           "dense_peak": 989e12}


def _mfu(passes: int = 3, attention: bool = True, peak_factor: float = 1.0) -> float:
    """MFU with FLOPs per token = passes x (2 N + 4 n_layer d_model T): passes = 3 is forward + backward."""
    r = MFU_RUN
    forward = 2 * r["N"] + (4 * r["n_layer"] * r["d_model"] * r["seq_len"] if attention else 0)
    return r["tokens_per_s"] * passes * forward / (r["dense_peak"] * peak_factor)


#: the prompt asks for 2 decimal places: an answer within half a unit of the second decimal passes
MFU_DECIMALS = 2
MFU_TOLERANCE = 0.5 * 10**-MFU_DECIMALS + 1e-9


model_flops_utilization = Exercise(
    key="ch04_performance.model_flops_utilization",
    prompt=(
        "A GPT with N = 124 M parameters (position table excluded), 12 layers, d_model 768, trained at sequence\n"
        "length 1024, processes 400,000 tokens per second on a GPU whose dense bfloat16 peak is 989 TFLOP/s.\n"
        "What is its MFU, as a fraction rounded to 2 decimal places (e.g. 0.25)? Use the training FLOPs per\n"
        "token, forward + backward: 6 N + 12 n_layer d_model T.\n"
        "(ch04_performance.MFU_RUN holds the numbers.)"
    ),
    checker=close_to_or_known_mistake(
        _mfu,
        {
            "2 N counts only the forward pass, and the attention term is missing: training (forward + backward) "
            "is 6 N + 12 n_layer d_model T": lambda: _mfu(passes=1, attention=False),
            "2 N + 4 n_layer d_model T counts only the forward pass; training (forward + backward) is three times "
            "that, 6 N + 12 n_layer d_model T": lambda: _mfu(passes=1),
            "the attention term 12 n_layer d_model T is missing": lambda: _mfu(attention=False),
            "that divides by the sparse peak (twice the dense one); MFU uses the dense peak":
                lambda: _mfu(peak_factor=2.0),
        },
        rtol=0.0,
        atol=MFU_TOLERANCE,
        what="MFU (to 2 decimal places)",
    ),
    hints=["FLOPs per token = 6 x 124e6 + 12 x 12 x 768 x 1024.",
           "Achieved FLOP/s = tokens/s x FLOPs per token; divide by 989e12."],
    reference=_mfu,
    solution_text=f"400,000 x (6 x 124e6 + 12 x 12 x 768 x 1024) / 989e12 = {_mfu():.4f}, i.e. {_mfu():.2f}",
)
