"""Compute: FLOPs per token, a budget in FLOPs, and what it buys in tokens, time and money.

The course's one convention (a multiply-add is **2 FLOPs**; always say *forward* or *forward + backward*).
For a GPT whose matrix products hold ``N`` parameters, with ``n_layer`` layers, attention width ``d``
(``n_head * d_head``, equal to ``d_model`` in every model here but the erratum rows of GPT-3's table) and
context ``n_ctx``, per token::

    forward            = 2 N + 4 n_layer n_ctx d      (the products QK^T and AV over all n_ctx keys)
    forward + backward = 3 x forward = 6 N + 12 n_layer n_ctx d

(PaLM, Chowdhery et al. 2022, appendix B). Kaplan et al. (2020, section 2.1, Table 1) write the
attention term of the forward ``2 n_layer n_ctx d``: ours halved, the average over causal positions.
Dropping the attention term altogether gives the familiar ``C ~= 6 N D`` (Kaplan et al. 2020, section 2.1;
Brown et al. 2020, Table D.1; Hoffmann et al. 2022): :func:`six_n_d`.

Time and money are ``FLOPs / (peak * MFU * devices)``; the caller gives the peak (see :func:`gpu_spec`),
the model FLOPs utilisation and the price: the library invents no price.
"""

from __future__ import annotations

import math

from bigmodel_lib.scale._checks import fraction, positive_int, positive_number

#: forward + backward = 3 x forward: the backward computes two products per forward product (the gradient
#: of the input and the gradient of the weight), each as costly as the forward one.
TRAINING_OVER_FORWARD = 3

#: Hoffmann et al. (2022): about 20 training tokens per parameter at the compute optimum (their Table 3
#: gives 20.2 tokens per parameter at 1B, 20.5 at 10B, 22.4 at 67B; Chinchilla: 1.4T tokens / 70B = 20).
CHINCHILLA_TOKENS_PER_PARAMETER = 20.0

SECONDS_PER_HOUR = 3600.0


def gpt_forward_flops_per_token(matmul_params: int, n_layer: int, context: int, attention_width: int) -> int:
    """Forward FLOPs per token of a GPT: ``2 N + 4 n_layer n_ctx d`` (an exact int for int inputs).

    ``N`` (``matmul_params``): the parameters that enter a matrix product for every token -- every
    layer's weights and the output projection to the vocabulary, not the embedding lookups (see
    :meth:`ModelShape.matmul_parameters`). ``2 N``: one multiply-add per weight. ``4 n_layer n_ctx d``:
    per layer, ``QK^T`` (``n_ctx * d`` multiply-adds per query token) and ``AV`` (the same), all ``n_ctx``
    keys counted (no causal discount). PaLM, Chowdhery et al. 2022, appendix B.
    """
    where = "gpt_forward_flops_per_token"
    n = positive_int(where, "matmul_params", matmul_params)
    layers = positive_int(where, "n_layer", n_layer)
    n_ctx = positive_int(where, "context", context)
    width = positive_int(where, "attention_width", attention_width)
    return 2 * n + 4 * layers * n_ctx * width


def six_n_d(n_params: float, tokens: float) -> float:
    """``C = 6 N D``: the training FLOPs (forward + backward) of ``D`` tokens through ``N`` parameters,
    attention left out (Kaplan et al. 2020, section 2.1; the rule behind Brown et al. 2020, Table D.1)."""
    n = positive_number("six_n_d", "n_params", n_params)
    d = positive_number("six_n_d", "tokens", tokens)
    return 2.0 * TRAINING_OVER_FORWARD * n * d


def tokens_for_budget(flops: float, n_params: float) -> float:
    """``D = C / (6 N)``: the tokens a budget of ``C`` training FLOPs buys for ``N`` parameters (inverse of
    :func:`six_n_d`, so the attention term is left out as there)."""
    c = positive_number("tokens_for_budget", "flops", flops)
    n = positive_number("tokens_for_budget", "n_params", n_params)
    return c / six_n_d(n, 1.0)


def chinchilla_optimal(flops: float, tokens_per_parameter: float = CHINCHILLA_TOKENS_PER_PARAMETER
                       ) -> tuple[float, float]:
    """``(N, D)`` for a budget of ``C`` training FLOPs: ``C = 6 N D`` with ``D = 20 N``, so
    ``N = sqrt(C / 120)`` and ``D = 20 N``.

    The approximation: Hoffmann et al. (2022) fit ``N_opt ∝ C^a``, ``D_opt ∝ C^b`` with ``a ~= b ~= 0.5``
    (their Table 2); equal exponents mean a constant ratio ``D / N``, about 20 over their Table 3 (20.2 at
    1B parameters, 22.4 at 67B) and for Chinchilla itself (1.4T tokens / 70B). The ratio is a rule of
    thumb read off their fits, not a constant of nature: pass ``tokens_per_parameter`` to try another.
    """
    c = positive_number("chinchilla_optimal", "flops", flops)
    ratio = positive_number("chinchilla_optimal", "tokens_per_parameter", tokens_per_parameter)
    n = math.sqrt(c / six_n_d(ratio, 1.0))
    return n, ratio * n


def training_time_seconds(flops: float, *, peak_flops: float, mfu: float, n_devices: int = 1) -> float:
    """``seconds = C / (peak * MFU * n_devices)``: wall-clock time to do ``C`` model FLOPs.

    ``peak_flops``: one device's dense peak FLOP/s for the dtype used (e.g. ``gpu_spec("A100").bf16``);
    ``mfu``: the model FLOPs utilisation, achieved / peak (Chowdhery et al. 2022, appendix B), in (0, 1].
    """
    where = "training_time_seconds"
    c = positive_number(where, "flops", flops)
    peak = positive_number(where, "peak_flops", peak_flops)
    utilisation = fraction(where, "mfu", mfu)
    devices = positive_int(where, "n_devices", n_devices)
    return c / (peak * utilisation * devices)


def training_cost_usd(flops: float, *, peak_flops: float, mfu: float, usd_per_device_hour: float,
                      n_devices: int = 1) -> float:
    """``cost = device-hours * price = n_devices * seconds / 3600 * usd_per_device_hour``.

    The device-hours do not depend on ``n_devices`` (more devices, proportionally less time, at the same
    MFU). The price is the caller's: the library holds none (prices change and differ between clouds).
    """
    price = positive_number("training_cost_usd", "usd_per_device_hour", usd_per_device_hour)
    seconds = training_time_seconds(flops, peak_flops=peak_flops, mfu=mfu, n_devices=n_devices)
    return n_devices * seconds / SECONDS_PER_HOUR * price


#: Published training runs and their published compute (FLOPs, forward + backward), to check the
#: estimators against: ``(name, parameters, training tokens, published FLOPs, source)``.
PUBLISHED_TRAINING_RUNS: tuple[tuple[str, float, float, float, str], ...] = (
    ("GPT-3 175B", 174.6e9, 300e9, 3.14e23, "Brown et al. 2020, Table D.1 (parameters 174,600M, 300B tokens)"),
    ("Gopher 280B", 280e9, 300e9, 5.76e23, "Hoffmann et al. 2022, section 3 and Table 3 (Gopher's budget, "
     "5.76e23 FLOPs); Rae et al. 2021 (280B parameters, 300B tokens). Rae et al., appendix F, report "
     "6.31e23 for the run itself, rematerialisation included: 'the same budget' is approximate"),
    ("Chinchilla 70B", 70e9, 1.4e12, 5.76e23, "Hoffmann et al. 2022, section 4 (Chinchilla: 70B parameters, "
     "1.4T tokens, the same compute budget as Gopher)"),
)
