"""Token embedding: a lookup table ``E[id]`` -- the first layer of every language model."""

from __future__ import annotations

from typing import Any

import numpy as np

from bigmodel_lib._checks import check_array, check_integer, check_positive_int
from bigmodel_lib.nn_numpy.functional import check_grad_out, numpy_dtype_of, require_cache
from bigmodel_lib.nn_numpy.module import Module, Parameter
from bigmodel_lib.utils import get_numpy_rng


class Embedding(Module):
    """``y[..., :] = weight[ids[...], :]``, with ``weight: (num_embeddings, embedding_dim) ~ N(0, 1)``.

    Backward scatters ``g`` back to the looked-up rows (``np.add.at``, so a token that appears
    twice gets both contributions). Rows of ``padding_idx`` start at zero and get no gradient.
    The integer ids get no gradient: ``backward`` returns ``None`` for them.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        *,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        check_positive_int("Embedding", "num_embeddings", num_embeddings)
        check_positive_int("Embedding", "embedding_dim", embedding_dim)
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: 'padding_idx' must be in [0, {num_embeddings}), got {padding_idx}")
            padding_idx %= num_embeddings
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        rng = rng if rng is not None else get_numpy_rng()
        self.weight = Parameter(rng.standard_normal((num_embeddings, embedding_dim)).astype(dtype))
        if padding_idx is not None:
            self.weight.data[padding_idx] = 0
        self._ids: np.ndarray | None = None

    def forward(self, ids: np.ndarray) -> np.ndarray:
        check_array("Embedding", "ids", ids)
        check_integer("Embedding", "ids", ids)
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            raise ValueError(
                f"Embedding: 'ids' must be in [0, {self.num_embeddings}), got values in [{ids.min()}, {ids.max()}]"
            )
        self._ids = ids
        return self.weight.data[ids]  # (...) -> (..., embedding_dim)

    def backward(self, grad_out: np.ndarray) -> None:
        ids = require_cache(self, self._ids)
        check_grad_out("Embedding", grad_out, ids.shape + (self.embedding_dim,))
        flat_grad = grad_out.reshape(-1, self.embedding_dim)  # (..., D) -> (N, D)
        np.add.at(self.weight.grad, ids.reshape(-1), flat_grad)
        if self.padding_idx is not None:
            self.weight.grad[self.padding_idx] = 0
        return None

    @classmethod
    def from_pytorch(cls, module: Any) -> Embedding:
        """An equal NumPy layer built from a ``torch.nn.Embedding``."""
        layer = cls(
            module.num_embeddings,
            module.embedding_dim,
            padding_idx=module.padding_idx,
            dtype=numpy_dtype_of(module.weight),
        )
        layer.load_state_dict(module.state_dict())
        return layer

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, padding_idx={self.padding_idx}"
