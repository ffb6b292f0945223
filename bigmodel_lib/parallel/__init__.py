"""Parallelism simulated on one machine, in NumPy: each idea small enough to read in one sitting.

* :mod:`~bigmodel_lib.parallel.collectives` -- the ring all-reduce (reduce-scatter, then all-gather) over
  simulated ranks, with the bytes each rank sends;
* :mod:`~bigmodel_lib.parallel.tensor_parallel` -- Megatron's column and row split of the MLP and of
  attention (Shoeybi et al. 2019), equal to the unsplit layer;
* :mod:`~bigmodel_lib.parallel.pipeline` -- the GPipe and 1F1B pipeline schedules, simulated step by step,
  with their bubble and the activations each stage keeps.

The real thing -- data parallelism with DDP and FSDP on ``torch.distributed`` -- is :mod:`bigmodel_lib.train`;
the memory and time estimators of parallel layouts are in :mod:`bigmodel_lib.scale.parallel`.
"""

from bigmodel_lib.parallel.collectives import RingAllReduce, ring_all_reduce
from bigmodel_lib.parallel.pipeline import PipelineRun, draw_schedule, simulate_pipeline
from bigmodel_lib.parallel.tensor_parallel import (
    split_attention,
    split_mlp,
    tensor_parallel_attention,
    tensor_parallel_mlp,
)

__all__ = [
    "PipelineRun", "RingAllReduce", "draw_schedule", "ring_all_reduce", "simulate_pipeline", "split_attention",
    "split_mlp", "tensor_parallel_attention", "tensor_parallel_mlp",
]
