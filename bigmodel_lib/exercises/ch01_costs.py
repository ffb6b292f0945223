"""Chapter 01 exercises on what scale costs (notebooks 1.2 and 1.3): parameters, training FLOPs, days, tokens.

::

    from bigmodel_lib.exercises import ch01_costs
    print(ch01_costs.parameter_count.prompt)
    ch01_costs.parameter_count.check(my_answer)

Each prompt states the precision it wants and the checker accepts exactly that (an answer rounded as
asked passes). The reference answers come from the library's estimators (:mod:`bigmodel_lib.scale`), so
the exercises and the chapter agree by construction. A slip is named only when its value differs from the
right answer by more than the tolerance.
"""

from __future__ import annotations

from bigmodel_lib.exercises.core import Exercise, close_to_or_known_mistake
from bigmodel_lib.scale import ModelShape, gpu_spec, training_time_seconds

__all__ = ["EXERCISE_SHAPE", "HOUR_RUN", "TRAINING_RUN", "parameter_count", "tokens_in_an_hour", "training_days",
           "training_flops"]

#: Relative tolerance of an answer asked "to 3 significant figures" (rounding moves it by at most 0.5 %).
THREE_FIGURES = 5e-3
#: Relative tolerance of an answer asked "to 2 significant figures".
TWO_FIGURES = 5e-2

# -- 1. parameters of a GPT from its shape ------------------------------------------------------------------

#: A GPT-2-style model: learned positions, LayerNorm, GELU MLP 4 d wide, biases, output tied to the token table.
EXERCISE_SHAPE = {"vocab_size": 32_000, "n_layer": 24, "d_model": 2048, "n_head": 16, "context": 2048}


def _shape() -> ModelShape:
    return ModelShape(**EXERCISE_SHAPE, name="exercise GPT")


def _parameters(positions: bool = True, tied: bool = True, small_terms: bool = True) -> int:
    s = EXERCISE_SHAPE
    v, n_layer, d, t = s["vocab_size"], s["n_layer"], s["d_model"], s["context"]
    per_layer = 12 * d * d + (13 * d if small_terms else 0)  # 13 d: biases and the two LayerNorms
    total = v * d + (t * d if positions else 0) + n_layer * per_layer + (2 * d if small_terms else 0)
    return total + (0 if tied else v * d)


parameter_count = Exercise(
    key="ch01_costs.parameter_count",
    prompt=(
        "A GPT in the style of GPT-2: vocabulary 32,000, 24 layers, d_model 2048, 16 heads, context 2048;\n"
        "learned position embeddings, LayerNorm (gain and shift) before each sub-layer and a final one,\n"
        "an MLP 4 x d_model wide with GELU, biases in every Linear layer, output layer tied to the token table.\n"
        "How many parameters does it have? Give the exact integer.\n"
        "(ch01_costs.EXERCISE_SHAPE holds the sizes.)"
    ),
    checker=close_to_or_known_mistake(
        lambda: _shape().num_parameters(),
        {
            "the learned position table (context x d_model) is missing": lambda: _parameters(positions=False),
            "the output layer is tied to the token table: count that matrix once": lambda: _parameters(tied=False),
            "the biases and the LayerNorm gains and shifts are missing (13 d_model per layer, plus the final "
            "LayerNorm)": lambda: _parameters(small_terms=False),
        },
        rtol=0.0,
        atol=0.5,  # an exact integer
        what="number of parameters (exact)",
    ),
    hints=[
        "One layer: attention 4 d^2 + 4 d (Q, K, V, output, with biases), MLP 8 d^2 + 5 d, two LayerNorms 4 d.",
        "Add the token table V d, the position table n_ctx d and the final LayerNorm 2 d; the tied output adds 0.",
    ],
    reference=lambda: _shape().num_parameters(),
    solution_text=(
        f"V d + n_ctx d + n_layer (12 d^2 + 13 d) + 2 d = {_parameters():,} "
        "(bigmodel_lib.scale.ModelShape(...).num_parameters())"
    ),
)

# -- 2. its training FLOPs ----------------------------------------------------------------------------------

TRAINING_TOKENS = 50e9


def _training_flops(passes: int = 3, attention_factor: float = 1.0) -> float:
    shape = _shape()
    n = shape.matmul_parameters()
    attention = 4 * shape.n_layer * shape.context * shape.d_model * attention_factor
    return TRAINING_TOKENS * passes * (2 * n + attention)


training_flops = Exercise(
    key="ch01_costs.training_flops",
    prompt=(
        "The same model (ch01_costs.EXERCISE_SHAPE) is trained on 50 billion tokens at its full context of 2048.\n"
        "How many FLOPs does the training take, forward + backward, counting a multiply-add as 2 FLOPs and the\n"
        "attention term over all 2048 keys: per token 6 N + 12 n_layer n_ctx d_model, with N the parameters that\n"
        "enter a matrix product (all of them but the position table: the tied token table is also the output\n"
        "layer)? Answer to 3 significant figures, e.g. 1.23e21."
    ),
    checker=close_to_or_known_mistake(
        _training_flops,
        {
            "that is the forward pass only; training (forward + backward) is three times the forward":
                lambda: _training_flops(passes=1),
            "the attention term 12 n_layer n_ctx d_model is missing": lambda: _training_flops(attention_factor=0.0),
            "that halves the attention term (the average over causal positions); the question counts all 2048 keys":
                lambda: _training_flops(attention_factor=0.5),
        },
        rtol=THREE_FIGURES,
        atol=0.0,
        what="training FLOPs (to 3 significant figures)",
    ),
    hints=[
        "N = all parameters minus the position table (n_ctx x d_model).",
        "FLOPs = tokens x (6 N + 12 x 24 x 2048 x 2048).",
    ],
    reference=_training_flops,
    solution_text=(
        f"50e9 x (6 N + 12 n_layer n_ctx d) = {_training_flops():.4g} FLOPs "
        "(bigmodel_lib.scale.ModelShape(...).training_flops(50e9))"
    ),
)

# -- 3. days on N GPUs at a given MFU -----------------------------------------------------------------------

#: A training run: its FLOPs, the GPUs (the hardware table's A100, dense bf16 peak), how many, the MFU.
TRAINING_RUN = {"flops": 2.0e23, "gpu": "A100", "n_gpus": 1024, "mfu": 0.35}


def _days(peak_factor: float = 1.0, mfu: bool = True, unit_seconds: float = 86_400.0, n_gpus: bool = True) -> float:
    r = TRAINING_RUN
    peak = gpu_spec(r["gpu"]).bf16 * peak_factor
    seconds = training_time_seconds(r["flops"], peak_flops=peak, mfu=r["mfu"] if mfu else 1.0,
                                    n_devices=r["n_gpus"] if n_gpus else 1)
    return seconds / unit_seconds


training_days = Exercise(
    key="ch01_costs.training_days",
    prompt=(
        "A training run needs 2.0e23 FLOPs. It runs on 1024 A100 GPUs in bfloat16 (dense peak 312 TFLOP/s each,\n"
        "from the hardware table) at an MFU of 0.35. How many days does it take? Answer to 3 significant figures.\n"
        "(ch01_costs.TRAINING_RUN holds the numbers.)"
    ),
    checker=close_to_or_known_mistake(
        _days,
        {
            "that uses the sparse peak (624 TFLOP/s, twice the dense one); training runs dense matrix products":
                lambda: _days(peak_factor=2.0),
            "that assumes every GPU runs at its peak: divide by the MFU as well": lambda: _days(mfu=False),
            "that is in hours; the question asks for days": lambda: _days(unit_seconds=3600.0),
            "that is GPU-days (one GPU): divide by the 1024 GPUs": lambda: _days(n_gpus=False),
        },
        rtol=THREE_FIGURES,
        atol=0.0,
        what="number of days (to 3 significant figures)",
    ),
    hints=[
        "Achieved FLOP/s = 1024 x 312e12 x 0.35.",
        "Seconds = FLOPs / achieved FLOP/s; a day is 86,400 s.",
    ],
    reference=_days,
    solution_text=f"2.0e23 / (1024 x 312e12 x 0.35) / 86400 = {_days():.4g} days",
)

# -- 4. tokens a machine trains in an hour ------------------------------------------------------------------

#: A machine measured at a peak of 20 TFLOP/s, a model of 50 M parameters, an MFU of 0.3.
HOUR_RUN = {"peak_flops": 20e12, "mfu": 0.3, "n_params": 50e6}


def _tokens_in_an_hour(flops_per_parameter: float = 6.0, mfu: bool = True, seconds: float = 3600.0) -> float:
    r = HOUR_RUN
    achieved = r["peak_flops"] * (r["mfu"] if mfu else 1.0)
    return achieved * seconds / (flops_per_parameter * r["n_params"])


tokens_in_an_hour = Exercise(
    key="ch01_costs.tokens_in_an_hour",
    prompt=(
        "A machine's measured peak is 20 TFLOP/s. It trains a model of 50 million parameters at an MFU of 0.3.\n"
        "Counting 6 N training FLOPs per token (forward + backward, attention term left out), how many tokens\n"
        "does it train on in one hour? Answer to 2 significant figures, e.g. 1.5e9.\n"
        "(ch01_costs.HOUR_RUN holds the numbers.)"
    ),
    checker=close_to_or_known_mistake(
        _tokens_in_an_hour,
        {
            "2 N FLOPs per token is the forward pass only; training (forward + backward) costs 6 N":
                lambda: _tokens_in_an_hour(flops_per_parameter=2.0),
            "that runs at the full peak: multiply the peak by the MFU": lambda: _tokens_in_an_hour(mfu=False),
            "that is one second's worth; an hour has 3600 seconds": lambda: _tokens_in_an_hour(seconds=1.0),
        },
        rtol=TWO_FIGURES,
        atol=0.0,
        what="number of tokens (to 2 significant figures)",
    ),
    hints=[
        "FLOPs in an hour = 20e12 x 0.3 x 3600.",
        "Each token costs 6 x 50e6 FLOPs.",
    ],
    reference=_tokens_in_an_hour,
    solution_text=f"20e12 x 0.3 x 3600 / (6 x 50e6) = {_tokens_in_an_hour():.3g} tokens",
)
