"""Chapter 05 exercises on distributed training (notebook 05.6): ZeRO memory, the pipeline bubble, and the
traffic of a ring all-reduce.

::

    from bigmodel_lib.exercises import ch05_distributed
    print(ch05_distributed.zero_memory.prompt)
    ch05_distributed.zero_memory.check(my_answer)
"""

from __future__ import annotations

from bigmodel_lib.exercises.core import Exercise, close_to_or_known_mistake, on_success

__all__ = ["PIPELINE_RUN", "RING_RUN", "ZERO_RUN", "pipeline_bubble", "ring_traffic", "zero_memory"]

# -- 1. ZeRO: model-state memory per GPU ---------------------------------------------------------------------

#: parameters, GPUs (data parallel), ZeRO stage; mixed precision with Adam: 2 + 2 + 12 bytes per parameter
ZERO_RUN = {"params": 13e9, "gpus": 32, "stage": 2, "weight_bytes": 2, "grad_bytes": 2, "optimizer_bytes": 12}


def _zero_gb(stage: int = ZERO_RUN["stage"]) -> float:
    r = ZERO_RUN
    shards = {0: (1, 1, 1), 1: (1, 1, r["gpus"]), 2: (1, r["gpus"], r["gpus"]), 3: (r["gpus"],) * 3}[stage]
    weights, grads, state = (b / s for b, s in zip((r["weight_bytes"], r["grad_bytes"], r["optimizer_bytes"]),
                                                     shards))
    return r["params"] * (weights + grads + state) / 1e9


#: "3 significant figures" of a number near 32 is a step of 0.1: half of it, relative, with a margin
ZERO_RTOL = 2e-3

zero_memory = Exercise(
    key="ch05_distributed.zero_memory",
    prompt=(
        "A 13-billion-parameter model is trained with mixed precision and Adam: 2 bytes per parameter of\n"
        "16-bit weights, 2 of 16-bit gradients, 12 of optimizer state (fp32 master weights, m and v).\n"
        "32 GPUs run data parallelism with ZeRO stage 2. How many GB (1 GB = 1e9 bytes) of these model states\n"
        "does each GPU hold? Give 3 significant figures. (ch05_distributed.ZERO_RUN holds the numbers.)"
    ),
    checker=on_success(close_to_or_known_mistake(
        _zero_gb,
        {
            "that is ZeRO stage 1 (only the optimizer state sharded); stage 2 shards the gradients too":
                lambda: _zero_gb(1),
            "that is ZeRO stage 3 (the weights sharded as well); stage 2 keeps every weight on every GPU":
                lambda: _zero_gb(3),
            "that is plain data parallelism, nothing sharded; stage 2 shards gradients and optimizer state":
                lambda: _zero_gb(0),
        },
        rtol=ZERO_RTOL, atol=0.0, what="GB per GPU (3 significant figures)"),
        lambda: f"the GB per GPU of ZeRO stage 2 ({_zero_gb():.4g} GB) to 3 significant figures"),
    hints=["Stage 2 shards the gradients and the optimizer state over the 32 GPUs; the weights stay whole.",
           "2 x 13e9 + (2 + 12) x 13e9 / 32 bytes."],
    reference=_zero_gb,
    solution_text=(f"2 x 13e9 + (2 + 12) x 13e9 / 32 = {_zero_gb() * 1e9:,.0f} bytes = {_zero_gb():.1f} GB "
                   f"(stage 0: {_zero_gb(0):.0f} GB, stage 1: {_zero_gb(1):.1f} GB, stage 3: {_zero_gb(3):.1f} GB)"),
)

# -- 2. the pipeline bubble -----------------------------------------------------------------------------------

#: pipeline stages, sequences per step (one pipeline: no data parallelism), sequences per micro-batch
PIPELINE_RUN = {"stages": 8, "batch": 64, "micro_batch": 2}


def _bubble(micro_batches: int | None = None, formula: str = "right") -> float:
    r = PIPELINE_RUN
    p = r["stages"]
    m = r["batch"] // r["micro_batch"] if micro_batches is None else micro_batches
    if formula == "over_m":
        return (p - 1) / m
    return (p - 1) / (m + p - 1)


PIPELINE_DECIMALS = 3
PIPELINE_TOLERANCE = 0.5 * 10**-PIPELINE_DECIMALS + 1e-9

pipeline_bubble = Exercise(
    key="ch05_distributed.pipeline_bubble",
    prompt=(
        "A model is cut into 8 pipeline stages. Each step processes 64 sequences in micro-batches of 2\n"
        "sequences, with the 1F1B schedule. What fraction of the step is each GPU idle (the bubble)?\n"
        "Give a fraction rounded to 3 decimal places (e.g. 0.123). (ch05_distributed.PIPELINE_RUN.)"
    ),
    checker=on_success(close_to_or_known_mistake(
        _bubble,
        {
            "m counts micro-batches, not sequences: 64 sequences / 2 per micro-batch = 32": lambda: _bubble(64),
            "(p - 1)/m is the bubble relative to the useful work; as a fraction of the whole step it is "
            "(p - 1)/(m + p - 1)": lambda: _bubble(formula="over_m"),
        },
        rtol=0.0, atol=PIPELINE_TOLERANCE, what="bubble fraction (3 decimal places)"),
        lambda: f"the bubble (p - 1)/(m + p - 1) = {_bubble():.4f}, to 3 decimal places"),
    hints=["The number of micro-batches is m = 64 / 2.", "The bubble is (p - 1)/(m + p - 1)."],
    reference=_bubble,
    solution_text=f"m = 32, p = 8: (8 - 1)/(32 + 8 - 1) = 7/39 = {_bubble():.4f}; 1F1B and GPipe share it",
)

# -- 3. the traffic of a ring all-reduce ----------------------------------------------------------------------

#: parameters, GPUs in the ring, bytes per gradient value (bfloat16)
RING_RUN = {"params": 1.5e9, "gpus": 16, "bytes": 2}


def _ring_gb(factor: float = 2.0, bytes_per_value: int = RING_RUN["bytes"]) -> float:
    r = RING_RUN
    n = r["gpus"]
    return factor * (n - 1) / n * r["params"] * bytes_per_value / 1e9


RING_RTOL = 1e-3  # 3 significant figures of a number near 5.6: a step of 0.01, half of it relative ~ 9e-4

ring_traffic = Exercise(
    key="ch05_distributed.ring_traffic",
    prompt=(
        "Data parallelism over 16 GPUs: after each backward pass the gradients of a 1.5-billion-parameter model,\n"
        "in bfloat16 (2 bytes each), are summed with a ring all-reduce. How many GB (1e9 bytes) does each GPU\n"
        "send per step? Give 3 significant figures. (ch05_distributed.RING_RUN holds the numbers.)"
    ),
    checker=on_success(close_to_or_known_mistake(
        _ring_gb,
        {
            "that is one phase only: a ring all-reduce is a reduce-scatter and then an all-gather, "
            "2 (N - 1)/N of the data": lambda: _ring_gb(factor=1.0),
            "bfloat16 takes 2 bytes per value, not 4": lambda: _ring_gb(bytes_per_value=4),
        },
        rtol=RING_RTOL, atol=0.0, what="GB sent per GPU (3 significant figures)"),
        lambda: f"the GB each GPU sends, 2 (N - 1)/N x size = {_ring_gb():.4g}, to 3 significant figures"),
    hints=["The gradients take 1.5e9 x 2 bytes.", "Each GPU sends 2 (N - 1)/N times that."],
    reference=_ring_gb,
    solution_text=(f"2 x 15/16 x 3e9 bytes = {_ring_gb():.3f} GB: almost twice the gradients, whatever the "
                   "number of GPUs"),
)
