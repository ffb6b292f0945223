"""Chapter 06 exercises on model size and over-fitting (notebook 6.2): counting a GPT's non-embedding parameters,
the training FLOPs per token, and where early stopping stops and which weights it keeps.

::

    from bigmodel_lib.exercises import ch06_size
    print(ch06_size.non_embedding_parameters.prompt)
    ch06_size.non_embedding_parameters.check(my_answer)

Every prompt states the precision wanted, the checker accepts an answer rounded that way, and a slip is named
only when its value lies outside that tolerance of the right answer.
"""

from __future__ import annotations

from bigmodel_lib.early_stopping import EarlyStopping
from bigmodel_lib.exercises.core import Exercise, on_success, significant_figures_checker

__all__ = [
    "FLOP_MODEL",
    "GPT_SIZE",
    "VALIDATION_CURVE",
    "early_stopping_steps",
    "non_embedding_parameters",
    "training_flops_per_token",
]

# -- 1. non-embedding parameters of a GPT -------------------------------------------------------------------------

#: A GPT-2-style model: LayerNorm with bias, biases in every Linear, a GELU MLP of width 4 d_model.
GPT_SIZE = {"n_layer": 6, "d_model": 256, "n_head": 8, "vocab_size": 96, "context": 128}


def _non_embedding(biases: bool = True, norms: bool = True, final_norm: bool = True) -> int:
    layers, d = GPT_SIZE["n_layer"], GPT_SIZE["d_model"]
    per_layer = 12 * d * d + (9 * d if biases else 0) + (4 * d if norms else 0)  # matrices, biases, 2 LayerNorms
    return layers * per_layer + (2 * d if final_norm else 0)


non_embedding_parameters = Exercise(
    key="ch06_size.non_embedding_parameters",
    prompt=(
        "A GPT of 6 layers, d_model 256, 8 heads (ch06_size.GPT_SIZE): per layer a fused Q/K/V Linear (d -> 3d), an\n"
        "output Linear (d -> d), an MLP d -> 4d -> d, all with biases, and two LayerNorms (a gain and a bias each);\n"
        "one more LayerNorm after the last layer. How many non-embedding parameters (everything but the token and\n"
        "position tables) does it have? Give an exact int."
    ),
    checker=on_success(
        significant_figures_checker(
            lambda: (_non_embedding(),), (None,),
            {
                "the biases are missing: 3d + d in attention, 4d + d in the MLP": lambda: (_non_embedding(False),),
                "the LayerNorms are missing: 2 x 2d per layer (gain and bias)": lambda: (_non_embedding(norms=False),),
                "the final LayerNorm (2d) after the last layer is missing": lambda: (_non_embedding(final_norm=False),),
            },
            what="parameter count",
        ),
        lambda: f"{_non_embedding():,} non-embedding parameters (checked exactly): 12 d^2 + 13 d per layer, "
                f"plus 2 d for the final LayerNorm",
    ),
    hints=["The weight matrices: 3 d^2 + d^2 in attention, 4 d^2 + 4 d^2 in the MLP.",
           "Add the biases (3d + d + 4d + d) and the two LayerNorms (4d) of each layer, then the final LayerNorm."],
    reference=lambda: _non_embedding(),
    solution_text="ModelShape(vocab_size=96, n_layer=6, d_model=256, n_head=8, context=128).non_embedding_parameters()",
)

# -- 2. training FLOPs per token ------------------------------------------------------------------------------------

#: N: parameters in a matrix product for every token (the layers and the tied output projection).
FLOP_MODEL = {"matmul_params": 800_000, "n_layer": 4, "d_model": 128, "context": 256}


def _flops(passes: int = 3, attention: float = 12.0) -> float:
    m = FLOP_MODEL
    forward_matmuls = 2 * m["matmul_params"]
    return passes * forward_matmuls + attention * passes / 3 * m["n_layer"] * m["context"] * m["d_model"]


training_flops_per_token = Exercise(
    key="ch06_size.training_flops_per_token",
    prompt=(
        "A GPT whose matrix products hold N = 800,000 parameters, with 4 layers of width 128, is trained at a context\n"
        "of 256 tokens (ch06_size.FLOP_MODEL). With the course's convention (a multiply-add is 2 FLOPs; both\n"
        "attention products QK^T and AV over the whole context), how many FLOPs does one token cost in training,\n"
        "forward + backward? Give it to 3 significant figures."
    ),
    checker=on_success(
        significant_figures_checker(
            lambda: (_flops(),), (3,),
            {
                "that is the forward pass only; training (forward + backward) costs 3 times it": lambda: (_flops(1),),
                "the attention products are missing: 12 n_layer n_ctx d on top of 6 N": lambda: (_flops(attention=0),),
                "that is Kaplan et al.'s attention term (the causal average); the course counts all n_ctx keys: "
                "12 n_layer n_ctx d": lambda: (_flops(attention=6.0),),
            },
            what="FLOPs per token (to 3 significant figures)",
        ),
        lambda: f"{_flops():.4g} FLOPs per token, forward + backward (checked to 3 significant figures): "
                f"6 N = {6 * FLOP_MODEL['matmul_params']:.3g} plus the attention products",
    ),
    hints=["Forward: 2 N + 4 n_layer n_ctx d.", "Forward + backward is 3 times the forward."],
    reference=lambda: float(f"{_flops():.3g}"),
    solution_text="gpt_forward_flops_per_token(800_000, 4, 256, 128) * 3  (bigmodel_lib.scale)",
)

# -- 3. where early stopping stops --------------------------------------------------------------------------------

#: Validation losses measured every 100 steps (at steps 0, 100, ..., 1000).
VALIDATION_CURVE = (4.60, 2.91, 2.52, 2.38, 2.31, 2.305, 2.295, 2.33, 2.41, 2.52, 2.66)
EVAL_EVERY = 100


def _early_stop(patience: int = 3, min_delta: float = 0.02) -> tuple[int, int]:
    """(stopped step, step of the weights kept), by the library's EarlyStopping on VALIDATION_CURVE."""
    import torch  # noqa: PLC0415 -- the stopper copies a module's weights; a tiny one stands in for the model

    stopper = EarlyStopping(patience=patience, min_delta=min_delta)
    model = torch.nn.Linear(1, 1)
    for i, loss in enumerate(VALIDATION_CURVE):
        if stopper.update(i * EVAL_EVERY, loss, model):
            break
    return stopper.stopped_step, stopper.best_step


early_stopping_steps = Exercise(
    key="ch06_size.early_stopping_steps",
    prompt=(
        "The validation loss of a run, measured every 100 steps from step 0 to step 1000, is ch06_size.\n"
        "VALIDATION_CURVE. Early stopping with patience 3 and min_delta 0.02: a loss counts as an improvement only\n"
        "if it is more than 0.02 below the best so far; training stops at the evaluation that makes 3 in a row\n"
        "without an improvement, and the weights of the best evaluation are restored. Give (stop_step, kept_step),\n"
        "both as exact ints."
    ),
    checker=on_success(
        significant_figures_checker(
            _early_stop, (None, None),
            {
                "min_delta matters: 2.305 and 2.295 are not 0.02 below the best 2.31":
                    lambda: _early_stop(min_delta=0.0),
                "patience 3 means 3 evaluations in a row without improvement, the 3rd one included":
                    lambda: _early_stop(patience=4),
            },
            what="(stop step, kept step) pair",
        ),
        lambda: "stopped at step {} and kept the weights of step {} (both checked exactly)".format(*_early_stop()),
    ),
    hints=["Walk the curve keeping the best loss and a counter of evaluations without an improvement.",
           "From step 400 (2.31), the next loss that would count must be below 2.29 (2.31 - 0.02)."],
    reference=lambda: _early_stop(),
    solution_text="EarlyStopping(patience=3, min_delta=0.02) from bigmodel_lib.early_stopping, "
                  "updated with (100 * i, loss) until it returns True; then .stopped_step, .best_step",
)
