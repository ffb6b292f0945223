"""Benchmarks that back the course's speed claims; each module runs with ``python -m``.

* :mod:`bigmodel_lib.benchmarks.attention` -- our attention against PyTorch's, on the CPU.
* :mod:`bigmodel_lib.benchmarks.timing` -- the timing helpers they (and notebooks) share.
"""
