"""Token embedding: ``torch.nn.Embedding`` with the library's input checks and NumPy interop."""

from __future__ import annotations

import torch
from torch import nn

from bigmodel_lib._checks import check_integer, check_tensor, is_tracing
from bigmodel_lib.nn_torch.module import Module


class Embedding(Module, nn.Embedding):
    """``y[..., :] = weight[ids[...], :]``; ``weight: (num_embeddings, embedding_dim)``."""

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        check_tensor("Embedding", "ids", ids)
        check_integer("Embedding", "ids", ids)
        # Range check on the CPU only: on a GPU it would force a device sync every call, and
        # CUDA reports an out-of-range id itself (as a device-side assertion). Skipped while
        # torch.compile / torch.export trace: a value-dependent branch would break the graph.
        check_values = ids.device.type == "cpu" and not is_tracing(ids) and ids.numel() > 0
        if check_values and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            raise ValueError(
                f"Embedding: 'ids' must be in [0, {self.num_embeddings}), "
                f"got values in [{int(ids.min())}, {int(ids.max())}]"
            )
        return super().forward(ids)

    @classmethod
    def from_pytorch(cls, module: nn.Embedding) -> Embedding:
        layer = cls(module.num_embeddings, module.embedding_dim, padding_idx=module.padding_idx,
                    device=module.weight.device, dtype=module.weight.dtype)
        layer.load_state_dict(module.state_dict())
        return layer
