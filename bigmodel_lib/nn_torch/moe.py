"""A top-k gated mixture-of-experts feed-forward layer in PyTorch, and a GPT whose feed-forward layers are
mixtures of experts: the same formulas and ``state_dict`` keys as ``nn_numpy.moe`` (see there).

Vectorised over tokens: the only Python loop runs over the ``E`` experts. For each expert the tokens routed to
it are gathered (``index_select``), pushed through it as one batch, weighted by their gates and added back
(``index_add_``), so the work is ``top_k`` expert passes per token, not ``E``: the sparse computation a MoE
is for. (A dense einsum through every expert with zero gates would be simpler but costs ``E / top_k`` times
the FLOPs.) Autograd supplies the backward pass, through the gates, the experts and the balancing loss.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from bigmodel_lib._checks import check_tensor
from bigmodel_lib.contracts.gpt import GPTConfig
from bigmodel_lib.contracts.moe import MoEConfig, check_moe_arguments, check_moe_input, expert_capacity
from bigmodel_lib.nn_torch.gpt import GPT
from bigmodel_lib.nn_torch.linear import Linear
from bigmodel_lib.nn_torch.module import Module
from bigmodel_lib.nn_torch.transformer import PositionwiseFeedForward

__all__ = ["MoE", "MoEConfig", "MoEGPT", "route_tokens"]


def route_tokens(logits: torch.Tensor, top_k: int, capacity: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``logits (N, E)`` -> ``chosen (N, top_k)`` expert ids (largest logit first) and ``kept (N, top_k)``:
    an assignment is kept unless its expert already took ``capacity`` assignments from earlier tokens."""
    chosen = logits.topk(top_k, dim=-1).indices  # (N, E) -> (N, k)
    kept = torch.ones_like(chosen, dtype=torch.bool)
    if capacity is not None:
        num_experts = logits.shape[-1]
        one_hot = F.one_hot(chosen, num_experts)  # (N, k, E)
        queue = one_hot.reshape(-1, num_experts).cumsum(0).reshape(one_hot.shape) - 1  # place in the queue (N, k, E)
        kept = (queue * one_hot).sum(-1) < capacity  # (N, k)
    return chosen, kept


class MoE(Module):
    """Top-k mixture of GELU feed-forward experts (formulas: ``nn_numpy.moe``).

    ``forward(x (B, T, d)) -> y (B, T, d)``. After a forward pass: ``aux_loss`` (a 0-dim tensor in the
    autograd graph: add ``alpha * aux_loss`` to the training loss), ``expert_load`` (``(E,)`` fractions of the
    assignments per expert, before drops, detached), ``num_dropped`` (a 0-dim int tensor: reading it syncs a
    GPU) and ``capacity``.
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
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        check_moe_arguments("MoE", d_model, d_ff, num_experts, top_k, capacity_factor, normalize_gates)
        factory = {"device": device, "dtype": dtype}
        self.d_model, self.d_ff, self.num_experts, self.top_k = d_model, d_ff, num_experts, top_k
        self.capacity_factor, self.normalize_gates = capacity_factor, normalize_gates
        self.router = Linear(d_model, num_experts, bias=False, **factory)
        self.experts = nn.ModuleList([
            PositionwiseFeedForward(d_model, d_ff, 0.0, "gelu", gelu_approximate=gelu_approximate, bias=bias,
                                    **factory)
            for _ in range(num_experts)
        ])
        self.aux_loss: torch.Tensor | None = None
        self.expert_load: torch.Tensor | None = None
        self.num_dropped: torch.Tensor | None = None
        self.capacity: int | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("MoE", "x", x)
        check_moe_input("MoE", x, self.d_model)
        b, t, d = x.shape
        x2 = x.reshape(b * t, d)  # (B, T, d) -> (N, d)
        logits = self.router(x2)  # (N, E)
        probs = logits.softmax(dim=-1)  # (N, E)
        self.capacity = expert_capacity(b * t, self.num_experts, self.top_k, self.capacity_factor)
        chosen, kept = route_tokens(logits, self.top_k, self.capacity)  # (N, k), (N, k)
        if self.normalize_gates:
            gates = logits.gather(-1, chosen).softmax(dim=-1)  # softmax over the chosen logits (N, k)
        else:
            gates = probs.gather(-1, chosen)  # the chosen experts' probabilities (N, k)
        y = torch.zeros_like(x2)
        for e, expert in enumerate(self.experts):
            tokens, slots = torch.nonzero((chosen == e) & kept, as_tuple=True)  # each token at most once
            if tokens.numel() == 0:
                continue
            out = expert(x2.index_select(0, tokens))  # (n_e, d) -> (n_e, d)
            y = y.index_add(0, tokens, gates[tokens, slots].unsqueeze(-1) * out)
        counts = torch.bincount(chosen.flatten(), minlength=self.num_experts)
        load = counts.to(probs.dtype) / chosen.numel()  # f_i: a count, no gradient
        self.expert_load = load.detach()
        self.aux_loss = self.num_experts * torch.sum(load * probs.mean(dim=0))
        self.num_dropped = (~kept).sum()
        return y.reshape(b, t, d)  # (N, d) -> (B, T, d)

    def extra_repr(self) -> str:
        capacity = f", capacity_factor={self.capacity_factor}" if self.capacity_factor is not None else ""
        return (f"d_model={self.d_model}, d_ff={self.d_ff}, num_experts={self.num_experts}, top_k={self.top_k}"
                f"{capacity}, normalize_gates={self.normalize_gates}")


class MoEGPT(GPT):
    """The course's GPT with every block's feed-forward network (``blocks.{l}.ffn``) replaced by a :class:`MoE`.

    ``MoEGPT(config, moe)``: ``config`` a :class:`GPTConfig` (attention, embeddings, depth as the GPT),
    ``moe`` a :class:`MoEConfig` (experts per layer, ``top_k``, expert width ``d_ff`` -- ``None`` for the
    GPT's ``4 d_model`` -- capacity factor, gate convention). Keys: the GPT's, with ``blocks.{l}.ffn.router.weight``
    and ``blocks.{l}.ffn.experts.{i}.linear{1,2}.*`` in place of ``blocks.{l}.ffn.linear{1,2}.*``. Initialised
    by the GPT's rule (:func:`~bigmodel_lib.contracts.gpt.gpt2_init_std`: the router ``N(0, 0.02^2)``, each
    expert as the GPT's ffn).

    After a forward pass: :attr:`aux_loss` (the balancing losses of all layers, summed: a tensor in the graph),
    :meth:`expert_load` (``(n_layer, E)``) and :attr:`num_dropped` (all layers). ``config`` is the GPT's, and
    ``moe_config`` the MoE's (``config_dict()`` gives both, e.g. to tell runs apart).
    """

    def __init__(self, config: GPTConfig, moe: MoEConfig, *, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        if not isinstance(moe, MoEConfig):
            raise TypeError(f"MoEGPT: 'moe' must be a MoEConfig, got {type(moe).__name__}")
        super().__init__(config, device=device, dtype=dtype)
        self.moe_config = moe
        d_ff = moe.d_ff if moe.d_ff is not None else config.d_ff
        for block in self.blocks:
            block.ffn = MoE(config.d_model, d_ff, moe.num_experts, moe.top_k, capacity_factor=moe.capacity_factor,
                            normalize_gates=moe.normalize_gates, gelu_approximate=config.gelu_approximate,
                            bias=config.bias, device=device, dtype=dtype)
        self.reset_parameters()

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
    def aux_loss(self) -> torch.Tensor:
        """Sum over layers of each layer's balancing loss, from the last forward pass."""
        return sum(layer.aux_loss for layer in self.moe_layers())

    @property
    def num_dropped(self) -> int:
        return int(sum(int(layer.num_dropped) for layer in self.moe_layers()))

    def expert_load(self) -> torch.Tensor:
        """``(n_layer, E)``: the fraction of each layer's assignments routed to each expert, last forward pass."""
        return torch.stack([layer.expert_load for layer in self.moe_layers()])

    def num_active_parameters(self) -> int:
        """Parameters one token uses: all but the ``E - top_k`` experts it is not routed to, in every layer."""
        per_expert = sum(p.numel() for p in self.moe_layers()[0].experts[0].parameters())
        unused = self.moe_config.num_experts - self.moe_config.top_k
        return self.num_parameters() - self.config.n_layer * unused * per_expert

    def flops_per_token(self, seq_len: int) -> float:
        """Training FLOPs per token, forward + backward, ``6 N_active + 12 n_layer d T``: as the GPT's
        :meth:`~bigmodel_lib.nn_torch.gpt.GPT.flops_per_token`, with only the active parameters in ``N`` (a token
        multiplies by its ``top_k`` experts and the router, not by the others)."""
        n = self.num_active_parameters() - self.pos_emb.weight.numel()
        return 6.0 * n + 12.0 * self.config.n_layer * self.config.d_model * seq_len

    def config_dict(self) -> dict:
        return {**self.config.to_dict(), **{f"moe_{k}": v for k, v in dataclasses.asdict(self.moe_config).items()}}
