"""The PyTorch module base: ``torch.nn.Module`` plus loading NumPy state dicts.

Every class in :mod:`bigmodel_lib.nn_torch` derives from :class:`Module`, so
``torch_model.load_state_dict(numpy_model.state_dict())`` works as it does the other way round.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn


class Module(nn.Module):
    """``torch.nn.Module`` whose ``load_state_dict`` also takes NumPy arrays (copied, dtype kept)."""

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False):
        converted = {
            key: torch.from_numpy(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else value
            for key, value in state_dict.items()
        }
        return super().load_state_dict(converted, strict=strict, assign=assign)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
