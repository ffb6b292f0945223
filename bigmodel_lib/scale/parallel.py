"""Memory and time of parallel training layouts: ZeRO stages, tensor and pipeline degrees, communication.

**ZeRO** (Rajbhandari et al. 2020, "ZeRO: Memory optimizations toward training trillion parameter
models", section 5 and Figure 1). A model of ``Ψ`` parameters trained with mixed-precision Adam keeps
``2Ψ`` bytes of 16-bit weights, ``2Ψ`` of 16-bit gradients and ``KΨ`` of optimizer state (``K = 12``: fp32
master weights, momentum and variance). Plain data parallelism replicates all of it on each of the
``N_d`` devices; each ZeRO stage shards one more part across them:

=======  ===========================  ========================================
stage    shards                       bytes per device
=======  ===========================  ========================================
0 (DDP)  nothing                      ``(2 + 2 + K) Ψ``
1        optimizer state              ``(2 + 2) Ψ + K Ψ / N_d``
2        + gradients                  ``2 Ψ + (2 + K) Ψ / N_d``
3        + weights (= FSDP full shard) ``(2 + 2 + K) Ψ / N_d``
=======  ===========================  ========================================

The three parts come from :data:`bigmodel_lib.scale.memory.BYTES_PER_PARAMETER`, so any of its
conventions works (``"fp32"``: 4 + 4 + 8). Stage 3 gathers each layer's weights just before it runs
(all-gather), so a device also holds, briefly, one layer's full weights: not counted here.

**Communication.** A ring all-reduce of ``S`` bytes over ``N`` devices sends ``2 (N - 1)/N x S`` bytes from
each device (reduce-scatter, then all-gather; see :mod:`bigmodel_lib.parallel.collectives`). ZeRO-1/2
move the same volume as DDP; ZeRO-3 moves 1.5 x (an extra all-gather of the weights in the backward;
ZeRO, section 7). Megatron's tensor parallelism (Shoeybi et al. 2019, section 3) all-reduces the
activations ``(b, s, d)`` twice per layer in the forward and twice in the backward.

**Pipeline.** ``p`` stages and ``m`` micro-batches leave the devices idle a fraction ``(p - 1)/(m + p - 1)``
of the step (GPipe, Huang et al. 2019; :mod:`bigmodel_lib.parallel.pipeline` simulates it).
"""

from __future__ import annotations

from dataclasses import dataclass

from bigmodel_lib.scale._checks import fraction, positive_int, positive_number
from bigmodel_lib.scale.memory import BYTES_PER_PARAMETER, BytesPerParameter, TrainingMemory

__all__ = [
    "ParallelLayout", "ZERO_STAGES", "all_reduce_bytes_per_device", "layout_memory_per_device",
    "layout_step_seconds", "pipeline_bubble_fraction", "tensor_parallel_bytes_per_layer", "zero_memory_per_device",
]

#: what each ZeRO stage shards: (optimizer state, gradients, weights)
ZERO_STAGES: dict[int, tuple[bool, bool, bool]] = {
    0: (False, False, False), 1: (True, False, False), 2: (True, True, False), 3: (True, True, True),
}


def _convention(where: str, precision: str | BytesPerParameter) -> BytesPerParameter:
    if isinstance(precision, BytesPerParameter):
        return precision
    if precision not in BYTES_PER_PARAMETER:
        raise ValueError(f"{where}: 'precision' must be one of {sorted(BYTES_PER_PARAMETER)} or a "
                         f"BytesPerParameter, got {precision!r}")
    return BYTES_PER_PARAMETER[precision]


def zero_memory_per_device(n_params: float, stage: int, n_devices: int,
                           precision: str | BytesPerParameter = "mixed-bf16") -> TrainingMemory:
    """Model-state bytes per device under ZeRO ``stage`` (0 = plain DDP, 3 = FSDP full shard) over
    ``n_devices`` data-parallel devices: each part is divided by ``n_devices`` once its stage shards it.
    A :class:`~bigmodel_lib.scale.memory.TrainingMemory` whose ``bytes_per_parameter`` is per device."""
    where = "zero_memory_per_device"
    n = positive_number(where, "n_params", n_params)
    if stage not in ZERO_STAGES:
        raise ValueError(f"{where}: 'stage' must be 0, 1, 2 or 3, got {stage!r}")
    devices = positive_int(where, "n_devices", n_devices)
    c = _convention(where, precision)
    shard_optimizer, shard_gradients, shard_weights = ZERO_STAGES[stage]
    weights = n * c.weights / (devices if shard_weights else 1)
    gradients = n * c.gradients / (devices if shard_gradients else 1)
    state = n * c.optimizer_state / (devices if shard_optimizer else 1)
    name = precision if isinstance(precision, str) else c.counts
    return TrainingMemory(weights=weights, gradients=gradients, optimizer_state=state,
                          bytes_per_parameter=(weights + gradients + state) / n, precision=name)


def all_reduce_bytes_per_device(n_bytes: float, n_devices: int) -> float:
    """Bytes each device sends in a ring all-reduce of ``n_bytes``: ``2 (N - 1)/N x n_bytes`` (0 for N = 1)."""
    size = positive_number("all_reduce_bytes_per_device", "n_bytes", n_bytes)
    devices = positive_int("all_reduce_bytes_per_device", "n_devices", n_devices)
    return 2.0 * (devices - 1) / devices * size


def tensor_parallel_bytes_per_layer(batch: int, context: int, d_model: int, tp: int,
                                    bytes_per_value: float = 2) -> float:
    """Bytes each device sends per Transformer layer per step under Megatron tensor parallelism of degree
    ``tp``: 4 all-reduces (2 forward, 2 backward) of the activations ``(batch, context, d_model)``."""
    where = "tensor_parallel_bytes_per_layer"
    values = positive_int(where, "batch", batch) * positive_int(where, "context", context) \
        * positive_int(where, "d_model", d_model)
    degree = positive_int(where, "tp", tp)
    if degree == 1:
        return 0.0
    return 4 * all_reduce_bytes_per_device(values * positive_number(where, "bytes_per_value", bytes_per_value),
                                           degree)


def pipeline_bubble_fraction(stages: int, micro_batches: int) -> float:
    """``(p - 1)/(m + p - 1)``: the idle fraction of a GPipe or 1F1B step (Huang et al. 2019)."""
    p = positive_int("pipeline_bubble_fraction", "stages", stages)
    m = positive_int("pipeline_bubble_fraction", "micro_batches", micro_batches)
    return (p - 1) / (m + p - 1)


@dataclass(frozen=True)
class ParallelLayout:
    """``dp x tp x pp`` devices: data-parallel replicas (ZeRO ``zero_stage`` across them), tensor-parallel
    degree (within a node: its all-reduces are on the critical path), pipeline stages; ``micro_batch``
    sequences per micro-batch and ``global_batch`` sequences per step."""

    dp: int
    tp: int
    pp: int
    micro_batch: int
    global_batch: int
    zero_stage: int = 1

    @property
    def devices(self) -> int:
        return self.dp * self.tp * self.pp

    @property
    def micro_batches(self) -> int:
        """Micro-batches per pipeline per step: ``global_batch / (dp x micro_batch)``."""
        return self.global_batch // (self.dp * self.micro_batch)

    def check(self, where: str) -> None:
        for name in ("dp", "tp", "pp", "micro_batch", "global_batch"):
            positive_int(where, name, getattr(self, name))
        if self.zero_stage not in ZERO_STAGES:
            raise ValueError(f"{where}: 'zero_stage' must be 0..3, got {self.zero_stage!r}")
        if self.global_batch % (self.dp * self.micro_batch):
            raise ValueError(f"{where}: 'global_batch' ({self.global_batch}) must be divisible by dp x micro_batch "
                             f"= {self.dp * self.micro_batch}")


def layout_memory_per_device(shape, layout: ParallelLayout, precision: str | BytesPerParameter = "mixed-bf16",
                             *, recompute: bool | str = False) -> dict[str, float]:
    """Bytes per device of a :class:`~bigmodel_lib.scale.ModelShape` trained with ``layout``:
    ``{"weights", "gradients", "optimizer_state", "activations", "total"}``.

    Model states: the ``N / (tp pp)`` parameters of one device's slice, with ZeRO over ``dp``.
    Activations: with 1F1B the first stage holds ``pp`` micro-batches of its ``n_layer / pp`` layers, i.e.
    one micro-batch through all layers (Korthikanti et al. 2022, section 4.2.3), divided by ``tp`` --
    an approximation: without sequence parallelism the layer norms' and dropouts' activations are not
    split by ``tp`` (their eq. 2), so this is a lower estimate.
    """
    where = "layout_memory_per_device"
    layout.check(where)
    params = shape.num_parameters() / (layout.tp * layout.pp)
    states = zero_memory_per_device(params, layout.zero_stage, layout.dp, precision)
    activations = shape.activation_bytes(layout.micro_batch, recompute=recompute) / layout.tp
    return {"weights": states.weights, "gradients": states.gradients, "optimizer_state": states.optimizer_state,
            "activations": activations, "total": states.total + activations}


def layout_step_seconds(shape, layout: ParallelLayout, *, peak_flops: float, mfu: float) -> dict[str, float]:
    """One optimizer step: ``{"compute", "bubble", "total", "bubble_fraction"}`` in seconds.

    ``compute``: the step's training FLOPs (forward + backward, ``global_batch x context`` tokens) over
    ``devices x peak x mfu``; the pipeline stretches it to ``compute / (1 - bubble)``. ``mfu`` stands for
    everything else lost (communication not hidden, kernels below peak).
    """
    where = "layout_step_seconds"
    layout.check(where)
    peak = positive_number(where, "peak_flops", peak_flops)
    utilisation = fraction(where, "mfu", mfu)
    flops = shape.training_flops(layout.global_batch * shape.context)
    compute = flops / (layout.devices * peak * utilisation)
    bubble = pipeline_bubble_fraction(layout.pp, layout.micro_batches)
    total = compute / (1.0 - bubble)
    return {"compute": compute, "bubble": total - compute, "total": total, "bubble_fraction": bubble}
