"""The accelerator an estimate runs on: an entry of the library's GPU datasheet table."""

from __future__ import annotations

from bigmodel_lib.benchmarks.hardware import GPU_SPECS, GpuSpec, lookup_gpu


def gpu_spec(name: str) -> GpuSpec:
    """The datasheet entry of GPU ``name``: a table name (``"A100"``, ``"H100 SXM"``; any case) or a
    device name as ``torch.cuda.get_device_name()`` gives it (``"NVIDIA H100 80GB HBM3"``).

    The entry has the dense peak FLOP/s per dtype (``.bf16``, ``.fp16``, ``.tf32``, ``.fp32``, or
    ``.peak(dtype)``), ``.memory_bytes``, ``.year`` and ``.source``
    (:class:`bigmodel_lib.benchmarks.hardware.GpuSpec`).
    """
    if not isinstance(name, str):
        raise TypeError(f"gpu_spec: 'name' must be a str, got {type(name).__name__}")
    wanted = " ".join(name.lower().split())
    for spec in GPU_SPECS:
        if spec.name.lower() == wanted:
            return spec
    spec = lookup_gpu(name)
    if spec is None:
        known = ", ".join(repr(s.name) for s in GPU_SPECS)
        raise ValueError(f"gpu_spec: 'name' must be a GPU of the table ({known}) or a device name that matches "
                         f"one, got {name!r}")
    return spec
