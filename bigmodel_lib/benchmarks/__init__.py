"""Benchmarks that back the course's speed claims; each module runs with ``python -m``.

* :mod:`bigmodel_lib.benchmarks.attention` -- our attention against PyTorch's, on the CPU (pass/fail).
* :mod:`bigmodel_lib.benchmarks.scaling` -- attention and an encoder layer as L grows: time, memory,
  NumPy / PyTorch CPU / CUDA, and the CUDA SDPA backends.
* :mod:`bigmodel_lib.benchmarks.hardware` -- peak FLOP/s (datasheet table for known GPUs, or measured) and MFU.
* :mod:`bigmodel_lib.benchmarks.gpt` -- training throughput (tokens/s) and MFU of the course's GPT.
* :mod:`bigmodel_lib.benchmarks.timing` -- the timing helpers they (and notebooks) share.

How to run them and results: ``docs/performance.md``.
"""
