"""A top-k gated mixture-of-experts feed-forward layer (Shazeer et al. 2017; Switch Transformer, Fedus et al.
2021; Mixtral, Jiang et al. 2024), forward and backward in NumPy.

For each token ``x`` (a row of the flattened ``(B T, d)`` input)::

    logits = x W_r^T                          # router, Linear d -> E without bias          (E,)
    p      = softmax(logits)                  # router probabilities over all E experts     (E,)
    S      = the top_k experts by logit       # the token's chosen experts
    g_i    = softmax(logits[S])_i             # normalize_gates=True  (Mixtral: softmax of the top-k logits)
           = p_i                              # normalize_gates=False (Switch: full-softmax probability)
    y      = sum_{i in S} g_i FFN_i(x)        # each FFN_i: GELU MLP d -> d_ff -> d, as the GPT's ffn

Renormalising the softmax over the chosen experts is the same as a softmax over their logits, so
"softmax then top-k, renormalised" and "top-k then softmax" are one convention (``normalize_gates=True``);
Switch keeps ``p_i`` unnormalised. With ``top_k=1`` and ``normalize_gates=True`` every gate is 1: the
router then gets no gradient from the task loss, only from the balancing loss below.

**Capacity.** With ``capacity_factor`` set, expert ``i`` takes at most
``C = ceil(capacity_factor * B T * top_k / E)`` assignments; the assignments beyond ``C`` (in token order)
are dropped: that expert adds nothing for that token (the residual stream around the layer carries it
on). ``num_dropped`` counts dropped assignments. Without a capacity factor no token is dropped.

**Balancing loss** (Fedus et al. 2021, eq. 4): ``aux_loss = E * sum_i f_i P_i`` with ``f_i`` the fraction of
the ``B T top_k`` assignments routed to expert ``i`` (before any drop) and ``P_i`` the mean of ``p_i`` over
tokens. It is 1 when routing is uniform and grows to ``E`` when one expert takes every token with
certainty. ``f`` is a count (no gradient); the gradient flows through ``P``. (For ``top_k > 1`` Hugging
Face's Mixtral loss sums over the ``k`` choices without dividing by ``k``: ``k`` times ours.)

Backward: ``backward(dL/dy, aux_grad=dL/d(aux_loss))`` returns ``dL/dx`` and accumulates the router's and
the experts' gradients, through the gates (softmax over the chosen logits, or the full softmax), the
experts and the balancing loss.

Parameters (``state_dict`` keys, identical in ``nn_torch.MoE``): ``router.weight (E, d)``,
``experts.{i}.linear1.weight (d_ff, d)``, ``experts.{i}.linear1.bias (d_ff,)``,
``experts.{i}.linear2.weight (d, d_ff)``, ``experts.{i}.linear2.bias (d,)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bigmodel_lib._checks import check_array
from bigmodel_lib.contracts.gpt import GPTConfig, gpt2_init_std
from bigmodel_lib.contracts.moe import MoEConfig, check_moe_arguments, check_moe_input, expert_capacity
from bigmodel_lib.nn_numpy.container import Sequential
from bigmodel_lib.nn_numpy.functional import check_grad_out, require_cache, softmax, softmax_backward
from bigmodel_lib.nn_numpy.gpt import GPT
from bigmodel_lib.nn_numpy.linear import Linear
from bigmodel_lib.nn_numpy.module import Module
from bigmodel_lib.nn_numpy.transformer import PositionwiseFeedForward
from bigmodel_lib.utils import get_numpy_rng

__all__ = ["MoE", "MoEConfig", "MoEGPT", "route_tokens"]


def route_tokens(logits: np.ndarray, top_k: int, capacity: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The experts each token uses and which assignments survive the capacity.

    ``logits (N, E)`` -> ``chosen (N, top_k)`` expert ids (largest logit first) and ``kept (N, top_k)`` bools:
    an assignment is kept unless its expert already took ``capacity`` assignments from earlier tokens.
    """
    chosen = np.argsort(-logits, axis=-1, kind="stable")[:, :top_k]  # (N, E) -> (N, k)
    kept = np.ones(chosen.shape, dtype=bool)
    if capacity is not None:
        num_experts = logits.shape[-1]
        one_hot = chosen[..., None] == np.arange(num_experts)  # (N, k, E)
        # position of each assignment in its expert's queue, counting tokens in order (token-major, then slot)
        queue = np.cumsum(one_hot.reshape(-1, num_experts), axis=0).reshape(one_hot.shape) - 1  # (N, k, E)
        kept = (queue * one_hot).sum(-1) < capacity  # (N, k)
    return chosen, kept


class MoE(Module):
    """Top-k mixture of GELU feed-forward experts; see the module docstring for the formulas.

    ``forward(x (B, T, d)) -> y (B, T, d)``. After a forward pass: ``aux_loss`` (float, the Switch balancing
    loss), ``expert_load`` (``(E,)`` fractions of the assignments routed to each expert, before drops),
    ``num_dropped`` (assignments over capacity) and ``capacity`` (``None`` without a capacity factor).
    """

    def __init__(
        self,
        d_model: int,
        d_ff: int,
        num_experts: int,
        top_k: int,
        *,
        capacity_factor: float | None = None,
        normalize_gates: bool = True,
        gelu_approximate: str = "none",
        bias: bool = True,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        check_moe_arguments("MoE", d_model, d_ff, num_experts, top_k, capacity_factor, normalize_gates)
        self.d_model, self.d_ff, self.num_experts, self.top_k = d_model, d_ff, num_experts, top_k
        self.capacity_factor, self.normalize_gates = capacity_factor, normalize_gates
        self.router = Linear(d_model, num_experts, bias=False, dtype=dtype, rng=rng)
        self.experts = Sequential(*[
            PositionwiseFeedForward(d_model, d_ff, 0.0, "gelu", gelu_approximate=gelu_approximate, bias=bias,
                                    dtype=dtype, rng=rng)
            for _ in range(num_experts)
        ])
        self.aux_loss: float | None = None
        self.expert_load: np.ndarray | None = None
        self.num_dropped = 0
        self.capacity: int | None = None
        self.aux_grad = 0.0  # dL/d aux_loss used when backward() is called without one (see MoEGPT.backward)
        self._cache: dict[str, Any] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_array("MoE", "x", x)
        check_moe_input("MoE", x, self.d_model)
        b, t, d = x.shape
        x2 = x.reshape(b * t, d)  # (B, T, d) -> (N, d)
        logits = self.router(x2)  # (N, E)
        probs = softmax(logits)  # (N, E)
        self.capacity = expert_capacity(b * t, self.num_experts, self.top_k, self.capacity_factor)
        chosen, kept = route_tokens(logits, self.top_k, self.capacity)  # (N, k), (N, k)
        if self.normalize_gates:
            gates = softmax(np.take_along_axis(logits, chosen, axis=-1))  # softmax over the chosen logits (N, k)
        else:
            gates = np.take_along_axis(probs, chosen, axis=-1)  # the chosen experts' probabilities (N, k)
        y = np.zeros_like(x2)
        routed = []  # per expert: (token ids, slot in the token's top-k, expert output) or None
        for e, expert in enumerate(self.experts):
            tokens, slots = np.nonzero((chosen == e) & kept)  # each token at most once per expert
            if tokens.size == 0:
                routed.append(None)
                continue
            out = expert(x2[tokens])  # (n_e, d) -> (n_e, d)
            y[tokens] += gates[tokens, slots][:, None] * out
            routed.append((tokens, slots, out))
        counts = np.bincount(chosen.ravel(), minlength=self.num_experts)
        self.expert_load = counts / chosen.size  # f_i, fractions of all assignments (sum to 1)
        self.aux_loss = float(self.num_experts * np.sum(self.expert_load * probs.mean(axis=0)))
        self.num_dropped = int((~kept).sum())
        self._cache = {"shape": x.shape, "probs": probs, "chosen": chosen, "gates": gates, "routed": routed}
        return y.reshape(b, t, d)  # (N, d) -> (B, T, d)

    def backward(self, grad_out: np.ndarray, aux_grad: float | None = None) -> np.ndarray:
        """``dL/dx`` from ``dL/dy`` and ``aux_grad`` = ``dL/d aux_loss`` (e.g. the balancing loss's weight;
        ``None``: the attribute ``self.aux_grad``, 0 unless a :class:`MoEGPT` set it)."""
        aux_grad = self.aux_grad if aux_grad is None else aux_grad
        cache = require_cache(self, self._cache)
        check_grad_out("MoE", grad_out, cache["shape"])
        probs, chosen, gates = cache["probs"], cache["chosen"], cache["gates"]
        n, d = probs.shape[0], self.d_model
        g2 = grad_out.reshape(n, d)  # (B, T, d) -> (N, d)
        dx2 = np.zeros_like(g2)
        dgates = np.zeros_like(gates)  # (N, k)
        for expert, entry in zip(self.experts, cache["routed"]):
            if entry is None:
                continue
            tokens, slots, out = entry
            dgates[tokens, slots] = np.sum(g2[tokens] * out, axis=-1)  # y = sum g_i out_i -> dL/dg_i = <g, out_i>
            dx2[tokens] += expert.backward(gates[tokens, slots][:, None] * g2[tokens])
        # the balancing loss: aux = E sum_i f_i mean_n p_ni  ->  dL/dp_ni = aux_grad E f_i / N
        dprobs = np.broadcast_to(aux_grad * self.num_experts * self.expert_load / n, probs.shape).copy()
        dlogits = np.zeros_like(probs)
        if self.normalize_gates:
            chosen_grad = softmax_backward(gates, dgates)  # through softmax over the chosen logits (N, k)
            np.put_along_axis(dlogits, chosen, chosen_grad, axis=-1)
        else:
            np.add.at(dprobs, (np.arange(n)[:, None], chosen), dgates)  # g = p[chosen]
        dlogits += softmax_backward(probs, dprobs)
        dx2 += self.router.backward(dlogits)
        return dx2.reshape(cache["shape"])

    def extra_repr(self) -> str:
        capacity = f", capacity_factor={self.capacity_factor}" if self.capacity_factor is not None else ""
        return (f"d_model={self.d_model}, d_ff={self.d_ff}, num_experts={self.num_experts}, top_k={self.top_k}"
                f"{capacity}, normalize_gates={self.normalize_gates}")


class MoEGPT(GPT):
    """The NumPy GPT with every block's feed-forward network replaced by a :class:`MoE` (as ``nn_torch.MoEGPT``).

    ``MoEGPT(config, moe)``, ``config`` a :class:`GPTConfig`, ``moe`` a :class:`MoEConfig`; the same ``state_dict``
    keys as the PyTorch twin, and the GPT's initialization rule for the new parameters. After a forward pass:
    :attr:`aux_loss` (the layers' balancing losses, summed), :meth:`expert_load` ``(n_layer, E)``,
    :attr:`num_dropped`. ``backward(dL/dlogits, aux_grad=dL/d aux_loss)``: for a training loss
    ``CE + alpha * aux_loss``, pass ``aux_grad=alpha``.
    """

    def __init__(self, config: GPTConfig, moe: MoEConfig, *, dtype: Any = np.float32,
                 rng: np.random.Generator | None = None) -> None:
        if not isinstance(moe, MoEConfig):
            raise TypeError(f"MoEGPT: 'moe' must be a MoEConfig, got {type(moe).__name__}")
        rng = rng if rng is not None else get_numpy_rng()
        super().__init__(config, dtype=dtype, rng=rng)
        self.moe_config = moe
        d_ff = moe.d_ff if moe.d_ff is not None else config.d_ff
        for layer, block in enumerate(self.blocks):
            block.ffn = MoE(config.d_model, d_ff, moe.num_experts, moe.top_k, capacity_factor=moe.capacity_factor,
                            normalize_gates=moe.normalize_gates, gelu_approximate=config.gelu_approximate,
                            bias=config.bias, dtype=dtype, rng=rng)
            for name, param in block.ffn.named_parameters(f"blocks.{layer}.ffn."):
                std = gpt2_init_std(name, config.n_layer)
                param.data[...] = 0.0 if std is None else std * rng.standard_normal(param.data.shape)

    def moe_layers(self) -> list[MoE]:
        return [block.ffn for block in self.blocks]

    def set_capacity_factor(self, capacity_factor: float | None) -> None:
        """Give every MoE layer this capacity factor (``None``: no capacity), e.g. to evaluate a trained model
        with token dropping; checked as in the constructor."""
        c = self.moe_config
        check_moe_arguments("MoEGPT.set_capacity_factor", self.config.d_model, 1, c.num_experts, c.top_k,
                            capacity_factor, c.normalize_gates)
        for layer in self.moe_layers():
            layer.capacity_factor = capacity_factor

    @property
    def aux_loss(self) -> float:
        return float(sum(layer.aux_loss for layer in self.moe_layers()))

    @property
    def num_dropped(self) -> int:
        return sum(layer.num_dropped for layer in self.moe_layers())

    def expert_load(self) -> np.ndarray:
        return np.stack([layer.expert_load for layer in self.moe_layers()])

    def backward(self, grad_out: np.ndarray, aux_grad: float = 0.0) -> None:
        layers = self.moe_layers()
        for layer in layers:  # each block calls ffn.backward(g) with one argument: the layers read aux_grad here
            layer.aux_grad = aux_grad
        try:
            return super().backward(grad_out)
        finally:
            for layer in layers:
                layer.aux_grad = 0.0
