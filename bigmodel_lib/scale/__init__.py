"""Estimators of what scale costs: parameters, FLOPs, memory, time and money -- one source for every size
and cost figure in the course, each formula written once with its source.

>>> from bigmodel_lib.scale import ModelShape, training_memory, training_time_seconds, gpu_spec
>>> gpt2 = ModelShape.gpt2("small")
>>> gpt2.num_parameters()
124439808
>>> ModelShape.llama2_7b().num_parameters()
6738415616
>>> training_memory(7e9).bytes_per_parameter      # mixed-precision Adam, ZeRO section 3.1
16.0

Modules: :mod:`~bigmodel_lib.scale.shape` (``ModelShape``: parameters, FLOPs per token, KV cache,
activations), :mod:`~bigmodel_lib.scale.flops` (the FLOP convention, ``6ND``, budgets, time, cost),
:mod:`~bigmodel_lib.scale.memory` (bytes per parameter of weights, gradients, optimizer state),
:mod:`~bigmodel_lib.scale.gpt3` (GPT-3's Table 2.1 as published, and its errata),
:mod:`~bigmodel_lib.scale.devices` (``gpu_spec``: the GPU datasheet table).

FLOP convention (the course's one): a multiply-add is 2 FLOPs; forward ``2N + 4 n_layer n_ctx d`` per token,
forward + backward 3 x that (PaLM, Chowdhery et al. 2022, appendix B).
"""

from bigmodel_lib.scale.devices import gpu_spec
from bigmodel_lib.scale.flops import (
    CHINCHILLA_TOKENS_PER_PARAMETER,
    PUBLISHED_TRAINING_RUNS,
    TRAINING_OVER_FORWARD,
    chinchilla_optimal,
    gpt_forward_flops_per_token,
    six_n_d,
    tokens_for_budget,
    training_cost_usd,
    training_time_seconds,
)
from bigmodel_lib.scale.gpt3 import GPT3_TABLE, GPT3_TRAINING_TOKENS, GPT3Row, gpt3_errata
from bigmodel_lib.scale.laws import (
    CHINCHILLA_APPROACH_3,
    KAPLAN_2020,
    KAPLAN_2020_JOINT,
    ChinchillaFit,
    ChinchillaLaw,
    KaplanLaw,
    bootstrap_chinchilla_fit,
    chinchilla_loss,
    compute_optimal_allocation,
    fit_chinchilla_law,
    iso_flop_curve,
)
from bigmodel_lib.scale.memory import BYTES_PER_PARAMETER, BytesPerParameter, TrainingMemory, training_memory
from bigmodel_lib.scale.parallel import (
    ZERO_STAGES,
    ParallelLayout,
    all_reduce_bytes_per_device,
    layout_memory_per_device,
    layout_step_seconds,
    pipeline_bubble_fraction,
    tensor_parallel_bytes_per_layer,
    zero_memory_per_device,
)
from bigmodel_lib.scale.shape import ModelShape, swiglu_hidden_size

__all__ = [
    "BYTES_PER_PARAMETER", "CHINCHILLA_TOKENS_PER_PARAMETER", "GPT3_TABLE", "GPT3_TRAINING_TOKENS",
    "PUBLISHED_TRAINING_RUNS", "TRAINING_OVER_FORWARD", "BytesPerParameter", "GPT3Row", "ModelShape",
    "TrainingMemory",
    "chinchilla_optimal", "gpt3_errata", "gpt_forward_flops_per_token", "gpu_spec", "six_n_d",
    "swiglu_hidden_size", "tokens_for_budget", "training_cost_usd", "training_memory", "training_time_seconds",
]
__all__ += [  # parallel layouts (scale.parallel)
    "ZERO_STAGES", "ParallelLayout", "all_reduce_bytes_per_device", "layout_memory_per_device",
    "layout_step_seconds", "pipeline_bubble_fraction", "tensor_parallel_bytes_per_layer", "zero_memory_per_device",
]
__all__ += [  # scaling laws (scale.laws)
    "CHINCHILLA_APPROACH_3", "KAPLAN_2020", "KAPLAN_2020_JOINT", "ChinchillaFit", "ChinchillaLaw", "KaplanLaw",
    "bootstrap_chinchilla_fit", "chinchilla_loss", "compute_optimal_allocation", "fit_chinchilla_law",
    "iso_flop_curve",
]
