"""GPT-3's sizes as published (Brown et al. 2020, "Language Models are Few-Shot Learners"), and the two
rows of its Table 2.1 that contradict themselves.

``GPT3_TABLE``: the eight rows of Table 2.1 (name, n_params, n_layers, d_model, n_heads, d_head, batch size
in tokens, learning rate), with two columns of Table D.1 (parameters in millions, total training compute in
FLOPs, all eight sizes trained on 300B tokens).

In every row but two, ``n_heads * d_head = d_model``. Two rows break it (:func:`gpt3_errata`):

* **GPT-3 XL**: 24 heads x 128 = 3072, but ``d_model = 2048``. With attention 2048 wide the model has 1.32B
  parameters (Table D.1: 1,320M; Table 2.1: 1.3B); with 3072 it would have 1.52B. So ``d_model`` is right and
  the heads or ``d_head`` are not: 16 heads of 128 (or 24 of 85.3, not an int) fit.
* **GPT-3 13B**: ``d_model = 5140`` is not divisible by 40 heads; 40 x 128 = 5120. With ``d_model = 5120`` the
  model has 12,853M parameters, Table D.1's 12,850M; read literally (``d_model`` 5140, attention 5120 wide)
  it has 12,936M. So 5140 is a typo for 5120.

The corrected shapes are :meth:`ModelShape.gpt3 <bigmodel_lib.scale.ModelShape.gpt3>`'s.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GPT3Row:
    """One row of Brown et al. 2020, Table 2.1 as published, plus Table D.1's parameters and compute."""

    name: str
    n_params: float  # Table 2.1 "n_params" (its rounding: 125M ... 175.0B)
    n_layers: int
    d_model: int
    n_heads: int
    d_head: int
    batch_size_tokens: float  # Table 2.1 "Batch Size", in tokens (0.5M ... 3.2M)
    learning_rate: float
    d1_params: float  # Table D.1 "Params (M)", times 1e6
    d1_train_flops: float  # Table D.1 "Total train compute (flops)", 300B tokens each

    @property
    def heads_times_d_head(self) -> int:
        return self.n_heads * self.d_head

    @property
    def consistent(self) -> bool:
        """``n_heads * d_head == d_model`` (true of every row but XL and 13B)."""
        return self.heads_times_d_head == self.d_model

    @property
    def corrected_d_model(self) -> int:
        """``d_model`` with the 13B typo fixed (5140 -> 5120 = 40 x 128); the other rows' own ``d_model``."""
        return self.heads_times_d_head if self.name == "GPT-3 13B" else self.d_model


GPT3_TABLE: tuple[GPT3Row, ...] = (
    GPT3Row("GPT-3 Small", 125e6, 12, 768, 12, 64, 0.5e6, 6.0e-4, 125e6, 2.25e20),
    GPT3Row("GPT-3 Medium", 350e6, 24, 1024, 16, 64, 0.5e6, 3.0e-4, 356e6, 6.41e20),
    GPT3Row("GPT-3 Large", 760e6, 24, 1536, 16, 96, 0.5e6, 2.5e-4, 760e6, 1.37e21),
    GPT3Row("GPT-3 XL", 1.3e9, 24, 2048, 24, 128, 1e6, 2.0e-4, 1320e6, 2.38e21),
    GPT3Row("GPT-3 2.7B", 2.7e9, 32, 2560, 32, 80, 1e6, 1.6e-4, 2650e6, 4.77e21),
    GPT3Row("GPT-3 6.7B", 6.7e9, 32, 4096, 32, 128, 2e6, 1.2e-4, 6660e6, 1.20e22),
    GPT3Row("GPT-3 13B", 13.0e9, 40, 5140, 40, 128, 2e6, 1.0e-4, 12850e6, 2.31e22),
    GPT3Row("GPT-3 175B", 175.0e9, 96, 12288, 96, 128, 3.2e6, 0.6e-4, 174600e6, 3.14e23),
)

#: Tokens every GPT-3 size was trained on (Brown et al. 2020, section 2.2 and Table D.1).
GPT3_TRAINING_TOKENS = 300e9


def gpt3_errata() -> list[dict[str, object]]:
    """The rows of Table 2.1 where ``n_heads * d_head != d_model``, each with both parameter counts:
    ``{"name", "d_model", "n_heads", "d_head", "heads_times_d_head", "params_as_published",
    "params_corrected", "table_d1_params", "explanation"}``.

    ``params_as_published`` counts the row literally (attention ``n_heads * d_head`` wide, MLP and tables
    ``d_model`` wide); ``params_corrected`` is :meth:`ModelShape.gpt3`'s. Whichever is closer to Table D.1's
    parameter count is the one the authors trained.
    """
    from bigmodel_lib.scale.shape import ModelShape

    errata = []
    for row in GPT3_TABLE:
        if row.consistent:
            continue
        literal = ModelShape(vocab_size=50257, n_layer=row.n_layers, d_model=row.d_model, n_head=row.n_heads,
                             context=2048, d_head=row.d_head, name=f"{row.name} as published")
        corrected = ModelShape.gpt3(row.name)
        if row.name == "GPT-3 13B":
            why = (f"d_model {row.d_model} is not a multiple of {row.n_heads} heads; {row.n_heads} x {row.d_head} "
                   f"= {row.heads_times_d_head}, and with d_model = {row.heads_times_d_head} the count matches "
                   f"Table D.1: {row.d_model} is a typo for {row.heads_times_d_head}")
        else:
            why = (f"{row.n_heads} heads x d_head {row.d_head} = {row.heads_times_d_head} != d_model "
                   f"{row.d_model}; d_model {row.d_model} matches Table D.1, so n_heads or d_head is wrong "
                   f"({row.d_model // row.d_head} heads of {row.d_head} fit)")
        errata.append({
            "name": row.name, "d_model": row.d_model, "n_heads": row.n_heads, "d_head": row.d_head,
            "heads_times_d_head": row.heads_times_d_head, "params_as_published": literal.num_parameters(),
            "params_corrected": corrected.num_parameters(), "table_d1_params": row.d1_params,
            "explanation": why,
        })
    return errata
