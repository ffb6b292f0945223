"""Deploying the course's models outside PyTorch (notebook 05.10).

:mod:`~bigmodel_lib.deploy.onnx_export` -- the GPT exported with ``torch.onnx.export`` (dynamic batch and
sequence axes), run by ONNX Runtime on the CPU, compared with PyTorch, quantized to int8 by ONNX Runtime's own
``quantize_dynamic``, and used for greedy generation (no KV cache in the graph).
"""

from bigmodel_lib.deploy.onnx_export import (
    LogitComparison,
    compare_with_torch,
    cross_entropy_from_logits,
    export_gpt,
    greedy_generate,
    make_session,
    matmul_weight_sources,
    onnx_file_sizes,
    onnx_op_counts,
    quantize_int8,
    run_logits,
    validation_loss,
    weight_initializers,
)

__all__ = [
    "LogitComparison", "compare_with_torch", "cross_entropy_from_logits", "export_gpt", "greedy_generate",
    "make_session", "matmul_weight_sources", "onnx_file_sizes", "onnx_op_counts", "quantize_int8", "run_logits",
    "validation_loss", "weight_initializers",
]
