"""Benchmarks that back the course's speed claims; the command-line ones run with ``python -m``.

* :mod:`~bigmodel_lib.benchmarks.attention` -- our attention against PyTorch's, on the CPU (pass/fail).
* :mod:`~bigmodel_lib.benchmarks.scaling` -- the command line and ``run()`` of the scaling benchmark:
  attention and an encoder layer as L grows, time and memory, NumPy / PyTorch CPU / CUDA. Its parts:
  :mod:`~bigmodel_lib.benchmarks.attention_scaling` (SDPA and multi-head attention time),
  :mod:`~bigmodel_lib.benchmarks.layer_scaling` (one encoder layer),
  :mod:`~bigmodel_lib.benchmarks.memory` (peak memory, computed and measured),
  :mod:`~bigmodel_lib.benchmarks.cuda_sdpa` (the CUDA SDPA backends),
  :mod:`~bigmodel_lib.benchmarks.rows` (results as rows, tables and ratios).
* :mod:`~bigmodel_lib.benchmarks.counts` -- analytic FLOPs and bytes, in the course's one convention
  (a multiply-add is 2 FLOPs; forward, or forward + backward = 3 x forward).
* :mod:`~bigmodel_lib.benchmarks.hardware` -- peak FLOP/s (datasheet table for known GPUs, or measured) and MFU.
* :mod:`~bigmodel_lib.benchmarks.gpt` -- training throughput (tokens/s) and MFU of the course's GPT.
* :mod:`~bigmodel_lib.benchmarks.gpu_check` -- every GPU path in one command, results written to
  ``docs/performance.md`` (needs CUDA; ``--cpu-smoke`` runs the same code tiny on the CPU).
* :mod:`~bigmodel_lib.benchmarks.timing` -- the timing helpers they (and notebooks) share, ``load_average``.
* :mod:`~bigmodel_lib.benchmarks.speedups` -- a technique against its baseline in one run (same batches, interleaved
  steps), with an output check; steps to a target loss (notebook 6.3).
* :mod:`~bigmodel_lib.benchmarks.activation_memory` -- bytes of the tensors saved for backward, with and without
  activation checkpointing (notebook 6.4).

How to run them and results: ``docs/performance.md``.
"""
