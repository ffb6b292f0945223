"""One Transformer encoder layer as L grows: NumPy, PyTorch CPU and CUDA, forward and forward + backward.

Its forward FLOPs split into a part linear in L (projections and feed-forward network) and the ``L^2``
part (``Q K^T`` and ``P V``): :func:`~bigmodel_lib.benchmarks.counts.encoder_layer_flops`; every row
carries both, so the measured time can be set against the count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from bigmodel_lib import nn_numpy, nn_torch
from bigmodel_lib._checks import check_positive_int
from bigmodel_lib.benchmarks._shared import cuda_ok, rng_arrays
from bigmodel_lib.benchmarks.attention_scaling import CPU_LENGTHS
from bigmodel_lib.benchmarks.counts import encoder_layer_flops
from bigmodel_lib.benchmarks.rows import Row, check_lengths, timing_row
from bigmodel_lib.benchmarks.timing import timed


def time_encoder_layer(
    lengths: Sequence[int] = CPU_LENGTHS,
    *,
    batch: int = 1,
    d_model: int = 128,
    heads: int = 4,
    d_ff: int | None = None,
    cuda_device: torch.device | str | None = None,
    cpu_max_len: int | None = None,
    numpy_max_len: int | None = None,
    repeats: int = 3,
    warmup: int = 1,
    seed: int = 0,
) -> list[Row]:
    """Forward, and forward + backward, of one post-LN encoder layer: NumPy, PyTorch CPU, PyTorch CUDA.

    Same weights in all three (``load_state_dict`` of the NumPy layer's ``state_dict``); outputs are
    checked equal before timing. ``d_ff`` defaults to ``4 d_model``. Each row also carries the
    layer's forward FLOPs split into its linear and ``L^2`` parts (:func:`encoder_layer_flops`).
    """
    lengths = check_lengths("time_encoder_layer", lengths)
    d_ff = 4 * d_model if d_ff is None else d_ff
    for name, value in (("batch", batch), ("d_model", d_model), ("heads", heads), ("d_ff", d_ff),
                        ("repeats", repeats)):
        check_positive_int("time_encoder_layer", name, value)
    cuda = torch.device(cuda_device) if cuda_device is not None else None
    use_cuda = cuda_ok(cuda)
    if cuda is not None and not use_cuda:
        raise ValueError(f"time_encoder_layer: 'cuda_device' must be a CUDA device on a machine with CUDA, got {cuda}")
    ours = nn_numpy.TransformerEncoderLayer(d_model, heads, d_ff, rng=np.random.default_rng(seed))
    cpu_layer = nn_torch.TransformerEncoderLayer(d_model, heads, d_ff)
    cpu_layer.load_state_dict(ours.state_dict())
    layers: dict[str, nn_torch.TransformerEncoderLayer] = {"torch-cpu": cpu_layer}
    if use_cuda:
        layers["torch-cuda"] = nn_torch.TransformerEncoderLayer(d_model, heads, d_ff, device=cuda)
        layers["torch-cuda"].load_state_dict(ours.state_dict())
    shape_info = {"batch": batch, "d_model": d_model, "heads": heads, "d_ff": d_ff}
    rows: list[Row] = []
    for length in lengths:
        on_cpu = cpu_max_len is None or length <= cpu_max_len
        numpy_too = on_cpu and (numpy_max_len is None or length <= numpy_max_len)
        x, grad = rng_arrays((batch, length, d_model), 2, seed=length)  # each (B, L, d_model)
        functions: dict[tuple[str, str, str], Callable[[], object]] = {}
        if numpy_too:
            y_numpy = ours(x)

            def numpy_forward(x=x) -> None:
                ours(x)

            def numpy_forward_backward(x=x, grad=grad) -> None:
                ours.zero_grad()
                ours(x)
                ours.backward(grad)

            functions[("numpy", "cpu", "forward")] = numpy_forward
            functions[("numpy", "cpu", "forward+backward")] = numpy_forward_backward
        for impl, layer in layers.items():
            device = "cuda" if impl == "torch-cuda" else "cpu"
            if device == "cpu" and not on_cpu:
                continue
            tx = torch.from_numpy(x).to(device).requires_grad_(True)
            tgrad = torch.from_numpy(grad).to(device)
            if numpy_too:
                with torch.no_grad():
                    diff = float(np.abs(layer(tx).cpu().numpy() - y_numpy).max())
                if diff > 1e-3:
                    raise AssertionError(f"time_encoder_layer: {impl} and NumPy differ by {diff:.2e} at L={length}")

            def forward(layer=layer, tx=tx) -> None:
                with torch.no_grad():
                    layer(tx)

            def forward_backward(layer=layer, tx=tx, tgrad=tgrad) -> None:
                layer.zero_grad(set_to_none=True)
                tx.grad = None
                layer(tx).backward(tgrad)

            functions[(impl, device, "forward")] = forward
            functions[(impl, device, "forward+backward")] = forward_backward
        if not functions:
            continue
        flops = encoder_layer_flops(length, d_model, d_ff, batch)
        for (impl, device, pass_), timing in timed(functions, warmup=warmup, repeats=repeats, cuda=use_cuda).items():
            rows.append(timing_row("encoder_layer", impl, device, "float32", pass_, length, timing, **shape_info,
                                    flops_linear=flops["linear"], flops_attention=flops["attention"]))
    return rows
