"""Chapter 06 exercises on memory and data loading (notebook 6.4): model states per GPU under ZeRO stage 2, the
activations activation checkpointing keeps, and the size of a token file.

::

    from bigmodel_lib.exercises import ch06_memory
    print(ch06_memory.zero2_memory.prompt)
    ch06_memory.zero2_memory.check(my_answer)

Every prompt states the precision wanted, the checker accepts an answer rounded that way, and a slip is named
only when its value lies outside that tolerance of the right answer.
"""

from __future__ import annotations

from bigmodel_lib.exercises.core import Exercise, on_success, significant_figures_checker

__all__ = ["CHECKPOINT_RUN", "TOKEN_CORPUS", "ZERO2_RUN", "checkpointed_activations", "token_file_size",
           "zero2_memory"]

# -- 1. model states per GPU under ZeRO stage 2 ----------------------------------------------------------------------

#: A model trained with mixed-precision Adam (2 + 2 + 12 bytes per parameter) on data-parallel GPUs.
ZERO2_RUN = {"n_params": 13e9, "n_devices": 16}


def _zero_gb(stage: int = 2, devices: int | None = None) -> float:
    n, d = ZERO2_RUN["n_params"], devices or ZERO2_RUN["n_devices"]
    weights = 2 * n / (d if stage >= 3 else 1)
    gradients = 2 * n / (d if stage >= 2 else 1)
    state = 12 * n / (d if stage >= 1 else 1)
    return (weights + gradients + state) / 1e9


zero2_memory = Exercise(
    key="ch06_memory.zero2_memory",
    prompt=(
        "A model of 13 billion parameters is trained with mixed-precision Adam: 2 bytes of 16-bit weights, 2 of\n"
        "16-bit gradients and 12 of optimizer state (fp32 master weights, m, v) per parameter, on 16 data-parallel\n"
        "GPUs with ZeRO stage 2 (ch06_memory.ZERO2_RUN). How many GB (1e9 bytes) of model states does each GPU hold?\n"
        "Activations not included. Give it to 3 significant figures."
    ),
    checker=on_success(
        significant_figures_checker(
            lambda: (_zero_gb(),), (3,),
            {
                "that is ZeRO stage 1: stage 2 shards the gradients as well as the optimizer state":
                    lambda: (_zero_gb(stage=1),),
                "that is ZeRO stage 3: stage 2 still keeps all the 16-bit weights on every GPU":
                    lambda: (_zero_gb(stage=3),),
                "that is plain data parallelism (stage 0): every part replicated on every GPU":
                    lambda: (_zero_gb(stage=0),),
            },
            what="GB per GPU (to 3 significant figures)",
        ),
        lambda: f"{_zero_gb():.3f} GB per GPU (checked to 3 significant figures): 2 x 13e9 bytes of weights + "
                f"(2 + 12) x 13e9 / 16 of sharded gradients and optimizer state",
    ),
    hints=["Stage 2 shards the optimizer state and the gradients over the 16 GPUs; the weights stay whole.",
           "2 N + (2 + 12) N / 16 bytes, N = 13e9."],
    reference=lambda: round(_zero_gb(), 2),
    solution_text="zero_memory_per_device(13e9, 2, 16, 'mixed-bf16').total / 1e9 (bigmodel_lib.scale)",
)

# -- 2. what full activation checkpointing keeps ------------------------------------------------------------------

#: A GPT trained with every block checkpointed: only each block's input (batch, context, d_model) is kept.
CHECKPOINT_RUN = {"n_layer": 48, "d_model": 6144, "batch": 4, "context": 2048, "bytes_per_value": 2}


def _checkpoint_gb(bytes_per_value: int | None = None, batch: int | None = None, layers: int | None = None) -> float:
    r = CHECKPOINT_RUN
    size = r["bytes_per_value"] if bytes_per_value is None else bytes_per_value
    b = r["batch"] if batch is None else batch
    n_layer = r["n_layer"] if layers is None else layers
    return n_layer * b * r["context"] * r["d_model"] * size / 1e9


checkpointed_activations = Exercise(
    key="ch06_memory.checkpointed_activations",
    prompt=(
        "A GPT of 48 blocks, d_model 6144, trains on micro-batches of 4 sequences of 2048 tokens in bf16 (2 bytes a\n"
        "value), with every block wrapped in activation checkpointing (ch06_memory.CHECKPOINT_RUN). How many GB\n"
        "(1e9 bytes) do the tensors kept between the forward and the backward pass take inside the blocks, i.e. the\n"
        "blocks' inputs? (Leave out the embeddings, the logits, and the one block being recomputed.) 3 significant\n"
        "figures."
    ),
    checker=on_success(
        significant_figures_checker(
            lambda: (_checkpoint_gb(),), (3,),
            {
                "the values are bf16 here, 2 bytes each, not 4": lambda: (_checkpoint_gb(bytes_per_value=4),),
                "the micro-batch holds 4 sequences: multiply by the batch": lambda: (_checkpoint_gb(batch=1),),
                "every block keeps its own input: multiply by the 48 blocks": lambda: (_checkpoint_gb(layers=1),),
            },
            what="size in GB (to 3 significant figures)",
        ),
        lambda: f"{_checkpoint_gb():.4f} GB (checked to 3 significant figures): 48 x 4 x 2048 x 6144 values of "
                "2 bytes, one (B, T, d) tensor per block",
    ),
    hints=["A checkpointed block keeps one tensor: its input, of shape (batch, context, d_model).",
           "n_layer x batch x context x d_model x 2 bytes."],
    reference=lambda: round(_checkpoint_gb(), 2),
    solution_text="48 * 4 * 2048 * 6144 * 2 / 1e9; ModelShape.activation_bytes(..., recompute='full') counts the same",
)

# -- 3. the size of a token file --------------------------------------------------------------------------------

#: A pre-training corpus stored as token ids in the smallest NumPy unsigned dtype that holds the vocabulary.
TOKEN_CORPUS = {"tokens": 15e12, "vocab_size": 128_256}


def _token_tb(bytes_per_token: float = 4) -> float:
    return TOKEN_CORPUS["tokens"] * bytes_per_token / 1e12


token_file_size = Exercise(
    key="ch06_memory.token_file_size",
    prompt=(
        "A corpus of 15 trillion tokens with a vocabulary of 128,256 ids (ch06_memory.TOKEN_CORPUS) is written as a\n"
        "flat token file, each id in the smallest NumPy unsigned integer dtype that can hold every id (uint8,\n"
        "uint16, uint32 or uint64), no header. How many TB (1e12 bytes) is the file? 3 significant figures."
    ),
    checker=on_success(
        significant_figures_checker(
            lambda: (_token_tb(),), (3,),
            {
                "uint16 holds only 65,536 ids (0..65535): 128,256 ids need uint32": lambda: (_token_tb(2),),
                "17 bits would hold the ids, but NumPy has no 17-bit dtype: the smallest that fits is uint32":
                    lambda: (_token_tb(17 / 8),),
                "uint32 is enough (up to 4.3 billion ids): uint64 doubles the file for nothing":
                    lambda: (_token_tb(8),),
            },
            what="size in TB (to 3 significant figures)",
        ),
        lambda: f"{_token_tb():.1f} TB (checked to 3 significant figures): 128,256 > 65,536, so uint32, 4 bytes a "
                "token; token_dtype(128256) in bigmodel_lib.data.token_files gives the same",
    ),
    hints=["uint16 holds ids 0..65535. Does the largest id, 128,255, fit?",
           "tokens x bytes per token / 1e12."],
    reference=lambda: round(_token_tb(), 1),
    solution_text="15e12 * np.dtype(np.uint32).itemsize / 1e12",
)
