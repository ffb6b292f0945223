"""Model compression: quantization, pruning and distillation (chapter 05, notebooks 05.7 and 05.8).

One idea per module: ``quantization`` (round-to-nearest integer weights, NumPy; PyTorch's int8 dynamic quantization).
"""

from bigmodel_lib.compression.distillation import distillation_step
from bigmodel_lib.compression.pruning import (
    PrunedSelfAttention,
    forward_flops_per_token,
    magnitude_masks,
    masked_train_step,
    remove_heads_and_neurons,
    taylor_importance,
    torch_prune_linears,
    weight_norm_importance,
)
from bigmodel_lib.compression.quantization import (
    QuantizedTensor,
    dequantize,
    dynamic_quantize_linears,
    fake_quantize,
    fake_quantize_model,
    quantize,
    quantized_model_nbytes,
)

__all__ = [
    "QuantizedTensor",
    "dequantize",
    "dynamic_quantize_linears",
    "fake_quantize",
    "fake_quantize_model",
    "quantize",
    "quantized_model_nbytes",
    # pruning and distillation (notebook 05.8)
    "PrunedSelfAttention", "distillation_step", "forward_flops_per_token", "magnitude_masks", "masked_train_step",
    "remove_heads_and_neurons", "taylor_importance", "torch_prune_linears", "weight_norm_importance",
]
