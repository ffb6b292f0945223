"""``ModelShape``: the sizes of a decoder-only Transformer, and what follows from them exactly --
parameters, FLOPs per token, KV cache and activation memory.

Parameters, per layer (``d`` = ``d_model``, ``h_q = n_head * d_head``, ``h_kv = n_kv_head * d_head``)::

    attention   d h_q (Q) + 2 d h_kv (K, V) + h_q d (output)      + biases h_q + 2 h_kv + d
    MLP, GELU   2 d d_ff                                           + biases d_ff + d
    MLP, SwiGLU 3 d d_ff (gate, up, down)                          + biases 2 d_ff + d
    2 norms     LayerNorm: gain d (+ shift d with bias); RMSNorm: gain d

plus the token table ``V d``, the position table ``n_ctx d`` (learned positions only), a final norm, and
an output projection ``V d`` when it is not tied to the token table. With ``d_ff = 4 d``, biases and
LayerNorm, a layer has ``12 d^2 + 13 d`` parameters (GPT-2; Radford et al. 2019).

Everything is counted from the shapes, so the test suite can check it against a PyTorch model built on
the ``meta`` device (no memory) and against published sizes (GPT-2, GPT-3, LLaMA-2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bigmodel_lib.scale._checks import one_of, positive_int, positive_number
from bigmodel_lib.scale.flops import TRAINING_OVER_FORWARD, gpt_forward_flops_per_token

MLPS = ("gelu", "swiglu")
NORMS = ("layernorm", "rmsnorm")
POSITIONS = ("learned", "rope")
RECOMPUTE = ("none", "selective", "full")

#: Bytes of one dropout mask element (Korthikanti et al. 2022 store masks as 1-byte values).
MASK_BYTES = 1


def swiglu_hidden_size(d_model: int, multiple_of: int = 256) -> int:
    """LLaMA's SwiGLU width: ``int(2/3 * 4 d)`` rounded **up** to a multiple of ``multiple_of``.

    Touvron et al. 2023 (LLaMA, section 2.2) use ``2/3 4d`` so that three matrices hold as many
    parameters as a GELU MLP's two ``4d``-wide ones; the rounding is in their reference code
    (``FeedForward`` in ``llama/model.py``). ``d = 4096``: ``int(10922.67) = 10922 -> 11008``.
    """
    d = positive_int("swiglu_hidden_size", "d_model", d_model)
    step = positive_int("swiglu_hidden_size", "multiple_of", multiple_of)
    hidden = int(2 * (4 * d) / 3)
    return step * ((hidden + step - 1) // step)


@dataclass(frozen=True)
class ModelShape:
    """The sizes of a decoder-only Transformer (GPT-2/3 style by default; LLaMA style with
    ``mlp="swiglu", norm="rmsnorm", positions="rope", bias=False, tied_embeddings=False``).

    vocab_size, n_layer, d_model, n_head, context: vocabulary, depth, width, query heads, longest context.
    d_ff: MLP width; ``None`` = ``4 d_model`` for ``"gelu"``, :func:`swiglu_hidden_size` for ``"swiglu"``.
    n_kv_head: key/value heads (``None`` = ``n_head``; fewer = grouped-query attention, must divide ``n_head``).
    mlp, norm, positions: ``"gelu"``/``"swiglu"``, ``"layernorm"``/``"rmsnorm"``, ``"learned"``/``"rope"``.
    bias: biases in every Linear and LayerNorm (the output projection never has one).
    tied_embeddings: the output projection reuses the token table (GPT-2, GPT-3).
    name: a label. d_head: width of one head (``None`` = ``d_model // n_head``, which must divide); give it
    only for a model whose ``n_head * d_head`` differs from ``d_model``. multiple_of: SwiGLU rounding.

    After construction ``d_ff``, ``n_kv_head`` and ``d_head`` hold the resolved ints, so
    ``dataclasses.replace(shape, d_model=...)`` keeps the old ones: pass ``d_ff=None`` etc. to re-derive.
    """

    vocab_size: int
    n_layer: int
    d_model: int
    n_head: int
    context: int
    d_ff: int | None = None
    n_kv_head: int | None = None
    mlp: str = "gelu"
    norm: str = "layernorm"
    positions: str = "learned"
    bias: bool = True
    tied_embeddings: bool = True
    name: str = ""
    d_head: int | None = None
    multiple_of: int = 256

    def __post_init__(self) -> None:
        where = "ModelShape"
        for field in ("vocab_size", "n_layer", "d_model", "n_head", "context", "multiple_of"):
            positive_int(where, field, getattr(self, field))
        one_of(where, "mlp", self.mlp, MLPS)
        one_of(where, "norm", self.norm, NORMS)
        one_of(where, "positions", self.positions, POSITIONS)
        for field in ("bias", "tied_embeddings"):
            if not isinstance(getattr(self, field), bool):
                raise TypeError(f"{where}: '{field}' must be a bool, got {getattr(self, field)!r}")
        if not isinstance(self.name, str):
            raise TypeError(f"{where}: 'name' must be a str, got {type(self.name).__name__}")
        if self.d_head is None:
            if self.d_model % self.n_head:
                raise ValueError(f"{where}: 'd_model' must be divisible by 'n_head' (or give 'd_head'), got "
                                 f"d_model={self.d_model}, n_head={self.n_head}")
            object.__setattr__(self, "d_head", self.d_model // self.n_head)
        positive_int(where, "d_head", self.d_head)
        if self.n_kv_head is None:
            object.__setattr__(self, "n_kv_head", self.n_head)
        positive_int(where, "n_kv_head", self.n_kv_head)
        if self.n_head % self.n_kv_head:
            raise ValueError(f"{where}: 'n_kv_head' must divide 'n_head' (each key/value head serves a group of "
                             f"query heads), got n_head={self.n_head}, n_kv_head={self.n_kv_head}")
        if self.d_ff is None:
            d_ff = 4 * self.d_model if self.mlp == "gelu" else swiglu_hidden_size(self.d_model, self.multiple_of)
            object.__setattr__(self, "d_ff", d_ff)
        positive_int(where, "d_ff", self.d_ff)

    # -- sizes ---------------------------------------------------------------------------------------

    @property
    def attention_width(self) -> int:
        """``n_head * d_head``: width of the queries (and of the output projection's input)."""
        return self.n_head * self.d_head

    @property
    def kv_width(self) -> int:
        """``n_kv_head * d_head``: width of the keys and of the values."""
        return self.n_kv_head * self.d_head

    def _check_context(self, where: str, context: int | None) -> int:
        if context is None:
            return self.context
        n_ctx = positive_int(where, "context", context)
        if self.positions == "learned" and n_ctx > self.context:
            raise ValueError(f"{where}: 'context' must be <= {self.context} (the learned position table), "
                             f"got {n_ctx}")
        return n_ctx

    # -- parameters ----------------------------------------------------------------------------------

    def _norm_parameters(self) -> int:
        return 2 * self.d_model if (self.norm == "layernorm" and self.bias) else self.d_model

    def layer_parameters(self) -> dict[str, int]:
        """Parameters of one layer: ``{"attention", "mlp", "norms"}`` (formulas in the module docstring)."""
        d, h_q, h_kv, d_ff = self.d_model, self.attention_width, self.kv_width, self.d_ff
        attention = d * h_q + 2 * d * h_kv + h_q * d
        if self.mlp == "gelu":
            mlp = 2 * d * d_ff
            mlp_bias = d_ff + d
        else:
            mlp = 3 * d * d_ff
            mlp_bias = 2 * d_ff + d
        if self.bias:
            attention += h_q + 2 * h_kv + d
            mlp += mlp_bias
        return {"attention": attention, "mlp": mlp, "norms": 2 * self._norm_parameters()}

    def parameter_breakdown(self) -> dict[str, int]:
        """Every parameter, by group: token and position tables, the layers, final norm, output projection."""
        per_layer = sum(self.layer_parameters().values())
        return {
            "token_embedding": self.vocab_size * self.d_model,
            "position_embedding": self.context * self.d_model if self.positions == "learned" else 0,
            "layers": self.n_layer * per_layer,
            "final_norm": self._norm_parameters(),
            "output_projection": 0 if self.tied_embeddings else self.vocab_size * self.d_model,
        }

    def num_parameters(self) -> int:
        """All parameters, exactly: every matrix, bias and norm gain; the tied output projection once."""
        return sum(self.parameter_breakdown().values())

    def non_embedding_parameters(self) -> int:
        """Kaplan et al. (2020)'s ``N``: all parameters but the vocabulary and position tables (section 2.1:
        "excluding all vocabulary and positional embeddings"); an untied output projection is a vocabulary
        table too (their Table 1 lists the de-embedding apart from ``N``), so it is left out as well."""
        parts = self.parameter_breakdown()
        return parts["layers"] + parts["final_norm"]

    def matmul_parameters(self) -> int:
        """The ``N`` of the FLOP formula: parameters in a matrix product for every token -- the
        non-embedding parameters plus the output projection ``V d`` (a product, tied or not); the token and
        position tables are lookups. For a tied GPT it is ``num_parameters() - n_ctx d``, the count
        ``nn_torch.GPT.flops_per_token`` uses. Biases and norm gains are in, as in that count (a few
        FLOPs each: under 0.1 % of the total for every model here)."""
        return self.non_embedding_parameters() + self.vocab_size * self.d_model

    # -- FLOPs ---------------------------------------------------------------------------------------

    def forward_flops_per_token(self, context: int | None = None) -> float:
        """Forward FLOPs per token at ``context`` (default the model's): ``2 N + 4 n_layer n_ctx d`` with
        ``N`` = :meth:`matmul_parameters` and ``d`` = :attr:`attention_width` (= ``d_model`` here unless
        ``d_head`` says otherwise); a multiply-add is 2 FLOPs, all ``n_ctx`` keys counted (PaLM, Chowdhery
        et al. 2022, appendix B). Kaplan et al. (2020) count the attention term half as large."""
        n_ctx = self._check_context("ModelShape.forward_flops_per_token", context)
        return float(gpt_forward_flops_per_token(self.matmul_parameters(), self.n_layer, n_ctx,
                                                 self.attention_width))

    def training_flops_per_token(self, context: int | None = None) -> float:
        """Forward + backward FLOPs per token: ``3 x forward = 6 N + 12 n_layer n_ctx d``."""
        return TRAINING_OVER_FORWARD * self.forward_flops_per_token(context)

    def training_flops(self, tokens: float, context: int | None = None) -> float:
        """Training FLOPs (forward + backward) of ``tokens`` tokens: ``D (6 N + 12 n_layer n_ctx d)``.

        ``N`` = :meth:`matmul_parameters` (non-embedding parameters plus the output projection), not the
        total: the lookup tables cost no FLOPs, the output projection costs ``2 V d`` per token. The
        attention term is included; the published budgets of GPT-3 (Brown et al. 2020, Table D.1) and
        Chinchilla/Gopher (Hoffmann et al. 2022) use ``6 N D`` with the total ``N``
        (:func:`~bigmodel_lib.scale.six_n_d`), which leaves attention out: for GPT-3 175B the attention term
        adds 2.8 % (``12 n_layer n_ctx d / 6 N``), and ours is 2.85 % above the published 3.14e23.
        """
        d = positive_number("ModelShape.training_flops", "tokens", tokens)
        return d * self.training_flops_per_token(context)

    # -- memory --------------------------------------------------------------------------------------

    def kv_cache_bytes(self, batch: int, context: int | None = None, bytes_per_value: int = 2) -> int:
        """Bytes of the inference KV cache: ``2 n_layer n_kv_head d_head n_ctx batch bytes`` (a key and a
        value vector per layer, per key/value head, per cached token)."""
        where = "ModelShape.kv_cache_bytes"
        b = positive_int(where, "batch", batch)
        n_ctx = self._check_context(where, context)
        size = positive_int(where, "bytes_per_value", bytes_per_value)
        return 2 * self.n_layer * self.n_kv_head * self.d_head * n_ctx * b * size

    def activation_bytes(self, batch: int, context: int | None = None, *, recompute: bool | str = False,
                         bytes_per_value: float = 2, dropout: bool = True) -> float:
        """Activations the transformer layers keep for the backward pass, in bytes (all ``n_layer`` layers;
        not the embeddings and not the logits: see :meth:`logits_bytes`).

        Korthikanti et al. 2022 ("Reducing activation recomputation in large transformer models"),
        section 4.1, eq. 1: per layer, without parallelism, ``s b h (34 + 5 a s / h)`` bytes, for 2-byte
        values and 1-byte dropout masks (``s`` = context, ``b`` = batch, ``h`` = ``d_model``, ``a`` = heads).
        We write it per stored tensor, so that ``bytes_per_value``, ``dropout``, ``d_ff`` and grouped-query
        K/V enter; with their defaults (GELU, ``d_ff = 4h``, LayerNorm) it is exactly eq. 1 (tested)::

            attention  values: input h, Q h_q, K h_kv, V h_kv, output-projection input h_q  (x s b)
                       + softmax output and its dropout output a s (x s b)
                       masks:  attention dropout a s, residual dropout h               (x s b)
            MLP, GELU  values: input h, GELU input d_ff, second matmul input d_ff; mask h  (x s b)
            norms      values: two inputs, 2 h                                         (x s b)

        Without dropout the masks go and the softmax output is stored once. For ``mlp="swiglu"`` the MLP
        keeps ``h + 3 d_ff`` values (input; gate, up, their product) -- our accounting in the same spirit,
        not the paper's. ``recompute``: ``False``/``"none"``; ``"selective"`` (their section 5: the ``a s``
        terms recomputed, ``34 s b h`` per layer remain); ``True``/``"full"`` (only each layer's input kept,
        ``2 s b h`` per layer, their Table 2 -- the backward then also needs one layer's full activations at
        a time, not counted here).
        """
        where = "ModelShape.activation_bytes"
        b = positive_int(where, "batch", batch)
        s = self._check_context(where, context)
        size = positive_number(where, "bytes_per_value", bytes_per_value)
        if not isinstance(dropout, bool):
            raise TypeError(f"{where}: 'dropout' must be a bool, got {dropout!r}")
        mode = {False: "none", True: "full"}.get(recompute, recompute) if isinstance(recompute, bool) else recompute
        one_of(where, "recompute", mode, RECOMPUTE)
        h, a = self.d_model, self.n_head
        if mode == "full":
            return float(self.n_layer * s * b * h * size)
        values = h + self.attention_width + 2 * self.kv_width + self.attention_width  # attention, per token
        values += h + (2 * self.d_ff if self.mlp == "gelu" else 3 * self.d_ff)  # MLP
        values += 2 * h  # the two norms' inputs
        masks = 2 * h if dropout else 0  # residual dropouts after attention and after the MLP
        if mode == "none":
            values += (2 if dropout else 1) * a * s  # softmax output (+ its dropout output)
            masks += a * s if dropout else 0
        per_layer = s * b * (values * size + masks * MASK_BYTES)
        return float(self.n_layer * per_layer)

    def logits_bytes(self, batch: int, context: int | None = None, bytes_per_value: int = 4) -> int:
        """Bytes of the logits ``(batch, n_ctx, V)``: ``b s V bytes`` (float32 by default, as the loss is
        usually computed in float32). Our count, for the one activation the per-layer formula leaves out
        that is large for a small model with a big vocabulary."""
        where = "ModelShape.logits_bytes"
        b = positive_int(where, "batch", batch)
        s = self._check_context(where, context)
        return b * s * self.vocab_size * positive_int(where, "bytes_per_value", bytes_per_value)

    # -- published shapes ----------------------------------------------------------------------------

    @classmethod
    def from_gpt_config(cls, config: Any, name: str = "") -> ModelShape:
        """The shape of the course's GPT (:class:`bigmodel_lib.contracts.gpt.GPTConfig`): LayerNorm, GELU MLP with
        ``d_ff = 4 d``, tied embeddings; biases, key/value heads and positions (learned or RoPE) as ``config.bias``,
        ``config.n_kv_head`` and ``config.position``."""
        from bigmodel_lib.contracts.gpt import GPTConfig, check_gpt_config

        if not isinstance(config, GPTConfig):
            raise TypeError(f"ModelShape.from_gpt_config: 'config' must be a GPTConfig, got {type(config).__name__}")
        check_gpt_config("ModelShape.from_gpt_config", config)
        return cls(vocab_size=config.vocab_size, n_layer=config.n_layer, d_model=config.d_model,
                   n_head=config.n_head, context=config.block_size, d_ff=config.d_ff, bias=config.bias, name=name,
                   n_kv_head=config.n_kv_head, positions=config.position)

    @classmethod
    def gpt2(cls, size: str = "small") -> ModelShape:
        """GPT-2 (Radford et al. 2019, Table 2; shapes of the released checkpoints, Hugging Face
        ``gpt2``, ``gpt2-medium``, ``gpt2-large``, ``gpt2-xl`` config.json: vocab 50257, context 1024)."""
        sizes = {"small": (12, 768, 12), "medium": (24, 1024, 16), "large": (36, 1280, 20), "xl": (48, 1600, 25)}
        one_of("ModelShape.gpt2", "size", size, tuple(sizes))
        n_layer, d_model, n_head = sizes[size]
        return cls(vocab_size=50257, n_layer=n_layer, d_model=d_model, n_head=n_head, context=1024,
                   name=f"GPT-2 {size}")

    @classmethod
    def gpt3(cls, name: str = "GPT-3 175B") -> ModelShape:
        """A GPT-3 size of Brown et al. 2020, Table 2.1 (context 2048, GPT-2's vocabulary of 50257), with the
        table's two inconsistent rows corrected (see :func:`~bigmodel_lib.scale.gpt3_errata`): XL keeps
        ``d_model = 2048`` and ``d_head = 128``, so 16 heads; 13B has ``d_model = 5120 = 40 x 128``."""
        from bigmodel_lib.scale.gpt3 import GPT3_TABLE

        rows = {row.name: row for row in GPT3_TABLE}
        one_of("ModelShape.gpt3", "name", name, tuple(rows))
        row = rows[name]
        d_model, n_head = row.corrected_d_model, row.corrected_d_model // row.d_head
        return cls(vocab_size=50257, n_layer=row.n_layers, d_model=d_model, n_head=n_head, context=2048,
                   name=name)

    @classmethod
    def llama2_7b(cls) -> ModelShape:
        """LLaMA-2 7B (Touvron et al. 2023, "Llama 2", Table 1 and section 2.2; Hugging Face
        ``meta-llama/Llama-2-7b-hf`` config.json): vocab 32000, 32 layers, d 4096, 32 heads, SwiGLU
        d_ff 11008, RMSNorm, RoPE, no biases, untied output, context 4096. 6,738,415,616 parameters."""
        return cls(vocab_size=32000, n_layer=32, d_model=4096, n_head=32, context=4096, mlp="swiglu",
                   norm="rmsnorm", positions="rope", bias=False, tied_embeddings=False, name="LLaMA-2 7B")
