"""Chapter 05 exercises on fine-tuning and LoRA (notebook 05.9): the trainable parameters of LoRA on one layer, an
entry of a merged weight, and the AdamW memory LoRA saves.

::

    from bigmodel_lib.exercises import ch05_finetune
    print(ch05_finetune.lora_parameters.prompt)
    ch05_finetune.lora_parameters.check(my_answer)

Every prompt states the precision wanted, the checker accepts an answer rounded that way, and a slip is named
only when its value lies outside that tolerance of the right answer.
"""

from __future__ import annotations

import numpy as np

from bigmodel_lib.contracts.lora import adamw_state_bytes, lora_parameter_count, lora_scale
from bigmodel_lib.exercises.core import Exercise, close_to_or_known_mistake, on_success

__all__ = ["BIG_MODEL", "LAYER", "MERGE_CASE", "lora_parameters", "merged_entry", "optimizer_bytes_saved"]

# -- 1. trainable parameters of LoRA on one layer ----------------------------------------------------------------

#: The fused Q, K, V projection of a model of width 1024 (a Linear 1024 -> 3072 with bias), adapted at rank 16.
LAYER = {"in_features": 1024, "out_features": 3072, "rank": 16}


def _lora_count() -> int:
    return lora_parameter_count(LAYER["in_features"], LAYER["out_features"], LAYER["rank"])


lora_parameters = Exercise(
    key="ch05_finetune.lora_parameters",
    prompt=(
        "A Linear layer 1024 -> 3072 (weight 3072 x 1024, with a bias) is frozen and adapted with LoRA of rank 16.\n"
        "How many numbers does training update? Give an exact int. (ch05_finetune.LAYER holds the sizes.)"
    ),
    checker=on_success(
        close_to_or_known_mistake(
            _lora_count,
            {
                "that is only A (rank x in); B (out x rank) trains too": lambda: LAYER["rank"] * LAYER["in_features"],
                "that is only B (out x rank); A (rank x in) trains too": lambda: LAYER["rank"] * LAYER["out_features"],
                "that is the full weight: in x out is what full fine-tuning trains; LoRA trains A and B":
                    lambda: LAYER["in_features"] * LAYER["out_features"],
                "the frozen weight and bias are counted; only A and B receive updates":
                    lambda: _lora_count() + LAYER["in_features"] * LAYER["out_features"] + LAYER["out_features"],
            },
            rtol=0.0, atol=0.5, what="count",
        ),
        lambda: f"exact: rank x (in + out) = {_lora_count():,} numbers, "
                f"{LAYER['in_features'] * LAYER['out_features'] / _lora_count():.0f} x fewer than the weight",
    ),
    hints=["LoRA adds A (rank x in_features) and B (out_features x rank); the base weight and bias are frozen.",
           "Add the sizes of A and B."],
    reference=_lora_count,
    solution_text="rank * (in_features + out_features); bigmodel_lib.contracts.lora.lora_parameter_count",
)

# -- 2. an entry of a merged weight -------------------------------------------------------------------------------

#: A frozen W (3 x 4), a trained A (rank 2 x 4) and B (3 x rank 2), alpha 6.
MERGE_CASE = {
    "W": np.array([[0.20, -0.10, 0.05, 0.30], [-0.40, 0.15, 0.25, -0.05], [0.10, 0.35, -0.20, 0.45]]),
    "A": np.array([[0.50, -0.30, 0.80, 0.10], [-0.20, 0.60, 0.40, -0.70]]),
    "B": np.array([[0.12, -0.05], [0.037, 0.094], [-0.07, 0.11]]),
    "alpha": 6.0, "row": 1, "col": 2,
}
MERGE_FIGURES = 4


def _merged(scale: float | None = None, transposed: bool = False) -> float:
    case = MERGE_CASE
    rank = case["A"].shape[0]
    s = lora_scale(rank, case["alpha"]) if scale is None else scale
    delta = case["B"] @ case["A"]  # (3, 2) @ (2, 4) -> (3, 4)
    i, j = case["row"], case["col"]
    if transposed:  # B[j] . A[:, i]: the indices swapped
        return float(case["W"][i, j] + s * (case["B"][j] @ case["A"][:, i]))
    return float(case["W"][i, j] + s * delta[i, j])


merged_entry = Exercise(
    key="ch05_finetune.merged_entry",
    prompt=(
        "ch05_finetune.MERGE_CASE holds a frozen W (3 x 4), LoRA factors A (2 x 4) and B (3 x 2), and alpha = 6.\n"
        "merged() returns the weight W + (alpha / rank) B A. What is its entry at row 1, column 2 (counting from 0)?\n"
        "Give it to 4 significant figures."
    ),
    checker=on_success(
        close_to_or_known_mistake(
            _merged,
            {
                "the scale alpha / rank = 3 is missing: W + B A": lambda: _merged(scale=1.0),
                "the scale is alpha = 6; LoRA divides it by the rank (2): s = 3": lambda: _merged(scale=6.0),
                "the scale is alpha x rank; it is alpha / rank = 3": lambda: _merged(scale=12.0),
                "the indices are swapped: entry (i, j) of B A is row i of B times column j of A":
                    lambda: _merged(transposed=True),
            },
            rtol=6e-4, atol=1e-9, what="merged entry",  # 4 significant figures: half a unit of the 4th digit
        ),
        lambda: f"W[1, 2] + 3 (B A)[1, 2] = {_merged():.6g}, checked to 4 significant figures",
    ),
    hints=["(B A)[i, j] = sum_k B[i, k] A[k, j], here k = 0, 1.",
           "Only row 1 of B and column 2 of A are needed; the rank is the number of rows of A."],
    reference=_merged,
    solution_text="W = MERGE_CASE['W'] + 6 / 2 * MERGE_CASE['B'] @ MERGE_CASE['A'], then W[1, 2]",
)

# -- 3. the AdamW memory LoRA saves --------------------------------------------------------------------------------

#: A 32-layer model of width 4096 with N parameters; LoRA of rank 8 on the fused in_proj (4096 -> 12288) and the
#: out_proj (4096 -> 4096) of every layer. AdamW's moments in float32.
BIG_MODEL = {"parameters": 6_738_415_616, "n_layer": 32, "d_model": 4096, "rank": 8}


def _lora_trainable() -> int:
    m = BIG_MODEL
    d, r = m["d_model"], m["rank"]
    return m["n_layer"] * (lora_parameter_count(d, 3 * d, r) + lora_parameter_count(d, d, r))


def _saved(bytes_per_parameter: int = 8) -> int:
    full, lora = BIG_MODEL["parameters"], _lora_trainable()
    if bytes_per_parameter == 8:
        return adamw_state_bytes(full) - adamw_state_bytes(lora)
    return bytes_per_parameter * (full - lora)


optimizer_bytes_saved = Exercise(
    key="ch05_finetune.optimizer_bytes_saved",
    prompt=(
        "A model of N = 6,738,415,616 parameters, 32 layers of width 4096. Full fine-tuning with AdamW keeps two\n"
        "float32 moments per trainable parameter. LoRA of rank 8 instead adapts, in every layer, the fused in_proj\n"
        "(4096 -> 12288) and the out_proj (4096 -> 4096), and trains only those A and B. How many bytes of optimizer\n"
        "state does LoRA save (full minus LoRA)? Give an int, to within 0.1 %. (ch05_finetune.BIG_MODEL)"
    ),
    checker=on_success(
        close_to_or_known_mistake(
            _saved,
            {
                "AdamW keeps TWO moments (exp_avg and exp_avg_sq) per parameter: 8 bytes in float32, not 4":
                    lambda: _saved(4),
                "that counts the weights too (12 bytes per parameter): the question is about the optimizer state":
                    lambda: _saved(12),
                "that is in bits, not bytes": lambda: 8 * _saved(),
            },
            rtol=1e-3, atol=0.0, what="bytes saved",
        ),
        lambda: f"8 bytes x (N - {_lora_trainable():,} LoRA numbers) = {_saved():,} bytes "
                f"(about {_saved() / 2**30:.1f} GiB), checked to 0.1 %",
    ),
    hints=["LoRA trains 32 x 8 x ((4096 + 12288) + (4096 + 4096)) numbers.",
           "Each trainable number costs AdamW 2 x 4 bytes; subtract LoRA's state from the full model's."],
    reference=_saved,
    solution_text="8 * (N - lora_trainable); bigmodel_lib.contracts.lora.adamw_state_bytes",
)
