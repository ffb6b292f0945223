"""Training memory of the model states: weights, gradients, optimizer state, in bytes per parameter.

Adam keeps two moments per parameter (Kingma & Ba 2015, Algorithm 1: ``m`` and ``v``). How many bytes a
parameter costs depends on the precision of each copy; the conventions in use, each with what it counts:

============================  ====================================================================  =====
name                          components (bytes per parameter)                                      total
============================  ====================================================================  =====
``"fp32"``                    fp32 weights 4 + fp32 gradients 4 + Adam m, v 4 + 4                   16
``"mixed-bf16"``              bf16 weights 2 + bf16 gradients 2 + fp32 master weights, m, v 4+4+4   16
                              (Rajbhandari et al. 2020, ZeRO, section 3.1: "2Ψ + 2Ψ + KΨ", K = 12)
``"mixed-fp32-grads"``        bf16/fp16 weights 2 + gradients kept in fp32 4 + master weights, m, v 12  18
                              (Megatron Core's distributed-optimizer docs, "float16 param, fp32 grads":
                              18; Hugging Face Transformers docs, "Model training anatomy": 6 for the
                              two weight copies + 8 Adam + 4 fp32 gradients = 18)
``"mixed-fp16-main-grads"``   fp16 weights 2 + fp16 gradients 2 + fp32 copies of the weights and of the  20
                              gradients 4 + 4 + m, v 4 + 4 (Megatron Core's distributed-optimizer docs,
                              "float16 param, float16 grads": 20)
============================  ====================================================================  =====

The Megatron page states the totals only; the breakdown into components is the one that makes them add up
(ours). None of these counts activations, temporary buffers or the allocator's fragmentation.
"""

from __future__ import annotations

from dataclasses import dataclass

from bigmodel_lib.scale._checks import one_of, positive_number


@dataclass(frozen=True)
class BytesPerParameter:
    """One convention: bytes per parameter of weights, gradients and optimizer state, and its source."""

    weights: int
    gradients: int
    optimizer_state: int
    counts: str
    source: str

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer_state


_ZERO = "Rajbhandari et al. 2020 (ZeRO), section 3.1: mixed precision + Adam needs 2Ψ + 2Ψ + 12Ψ = 16Ψ bytes"
_MEGATRON = "Megatron Core developer guide, 'Distributed Optimizer': bytes per parameter, non-distributed column"

BYTES_PER_PARAMETER: dict[str, BytesPerParameter] = {
    "fp32": BytesPerParameter(4, 4, 8, "fp32 weights, fp32 gradients, Adam m and v in fp32",
                              "Adam keeps two moments per parameter (Kingma & Ba 2015, Algorithm 1); "
                              f"also {_MEGATRON}: fp32 param, fp32 grads = 16"),
    "mixed-bf16": BytesPerParameter(2, 2, 12, "16-bit weights and gradients; fp32 master weights, m and v",
                                    _ZERO),
    "mixed-fp32-grads": BytesPerParameter(2, 4, 12, "16-bit weights; gradients accumulated in fp32; fp32 "
                                          "master weights, m and v",
                                          f"{_MEGATRON}: float16 param, fp32 grads = 18; Hugging Face "
                                          "Transformers docs, 'Model training anatomy': 6 + 8 + 4 = 18"),
    "mixed-fp16-main-grads": BytesPerParameter(2, 2, 16, "16-bit weights and gradients; fp32 copies of the "
                                               "weights and of the gradients, m and v",
                                               f"{_MEGATRON}: float16 param, float16 grads = 20"),
}

#: ``training_memory``'s ``precision`` names: the conventions above, and ``"mixed-fp16"`` = ``"mixed-bf16"``
#: (same bytes: ZeRO's section 3.1 is written for fp16).
_ALIASES = {"mixed-fp16": "mixed-bf16"}


@dataclass(frozen=True)
class TrainingMemory:
    """Bytes of the model states for training; ``bytes_per_parameter`` = ``total / n_params``."""

    weights: float
    gradients: float
    optimizer_state: float
    bytes_per_parameter: float
    precision: str

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer_state


def training_memory(n_params: float, precision: str = "mixed-bf16", optimizer: str = "adam") -> TrainingMemory:
    """Weights + gradients + optimizer state of ``n_params`` parameters, in bytes:
    ``n_params x`` the convention's bytes per parameter (:data:`BYTES_PER_PARAMETER`, e.g. 16 for
    ``"mixed-bf16"``: ZeRO, section 3.1). ``optimizer``: ``"adam"`` (AdamW the same: two moments) or
    ``"sgd"`` (no state; momentum SGD would keep one more copy). Activations are not included:
    :meth:`ModelShape.activation_bytes`."""
    n = positive_number("training_memory", "n_params", n_params)
    names = tuple(BYTES_PER_PARAMETER) + tuple(_ALIASES)
    convention = BYTES_PER_PARAMETER[_ALIASES.get(one_of("training_memory", "precision", precision, names),
                                                  precision)]
    one_of("training_memory", "optimizer", optimizer, ("adam", "adamw", "sgd"))
    if optimizer == "sgd":
        # no moments; a mixed-precision run still keeps its fp32 master weights (4 of its 12 bytes)
        state = 0 if convention.weights == 4 else convention.optimizer_state - 8
    else:
        state = convention.optimizer_state
    per_parameter = convention.weights + convention.gradients + state
    return TrainingMemory(weights=n * convention.weights, gradients=n * convention.gradients,
                          optimizer_state=n * state, bytes_per_parameter=float(per_parameter), precision=precision)
