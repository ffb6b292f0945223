"""Scaling laws: the published ones, and a fit of Chinchilla's form to your own runs.

Hoffmann et al. (2022, "Chinchilla", section 3.3, approach 3) model the final loss of a model with ``N``
parameters trained on ``D`` tokens as::

    L(N, D) = E + A / N^alpha + B / D^beta

``E``: the loss of an ideal model on infinite data (the entropy of the text); ``A / N^alpha``: what a
finite model lacks; ``B / D^beta``: what a finite run lacks. Under a budget of ``C ~= 6 N D`` training
FLOPs (forward + backward, :func:`~bigmodel_lib.scale.flops.six_n_d`), the loss is smallest at (their
section 3.3, the "efficient frontier")::

    N_opt = G (C/6)^a,   D_opt = G^-1 (C/6)^b,   G = (alpha A / (beta B))^(1/(alpha+beta)),
    a = beta / (alpha + beta),   b = alpha / (alpha + beta)

Kaplan et al. (2020) write the loss without an irreducible term, as power laws in ``N`` and ``D`` alone
(their equations 1.1, 1.2) and combined (their equation 1.5)::

    L(N) = (N_c / N)^alpha_N,   L(D) = (D_c / D)^alpha_D,   L(N, D) = [(N_c / N)^(alpha_N/alpha_D) + D_c / D]^alpha_D

Both papers count ``N`` without the embedding tables and measure the loss in nats per token of their own
tokenizers: the constants belong to their data and tokenizer, and only the *exponents* can be compared
across setups (loosely, even then).

The fit (:func:`fit_chinchilla_law`) follows Hoffmann et al., appendix D.2: with ``A = e^a``, ``B = e^b``,
``E = e^e``, minimise over ``(a, b, e, alpha, beta)``::

    sum_i Huber_delta( LSE(a - alpha log N_i, b - beta log D_i, e) - log L_i ),   delta = 1e-3

(``LSE`` = log-sum-exp, so the model is fitted in log space and every term stays positive), with L-BFGS
started from every point of a grid of initialisations, keeping the best. What differs here is said where
it differs: the default grid is coarser than theirs (see :data:`DEFAULT_INIT_GRID`) and the gradient is
the analytic one.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

from bigmodel_lib.scale._checks import positive_int, positive_number

__all__ = [
    "CHINCHILLA_APPROACH_3", "DEFAULT_INIT_GRID", "KAPLAN_2020", "KAPLAN_2020_JOINT", "ChinchillaFit",
    "ChinchillaLaw", "KaplanLaw", "bootstrap_chinchilla_fit", "chinchilla_loss", "compute_optimal_allocation",
    "fit_chinchilla_law", "iso_flop_curve",
]

#: The fitted parameters' names, in the order of :meth:`ChinchillaLaw.as_tuple`.
LAW_PARAMETERS = ("E", "A", "B", "alpha", "beta")


def _positive_array(where: str, name: str, values: object) -> np.ndarray:
    """``values`` as a float64 array of finite numbers > 0 (scalars allowed), else ``ValueError``/``TypeError``."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{where}: '{name}' must be positive numbers, got {type(values).__name__} {values!r}") \
            from error
    if array.size == 0 or not np.all(np.isfinite(array)) or np.any(array <= 0):
        raise ValueError(f"{where}: '{name}' must be finite numbers > 0, got {values!r}")
    return array


def chinchilla_loss(N: object, D: object, E: float, A: float, B: float, alpha: float, beta: float) -> np.ndarray:
    """``L(N, D) = E + A / N^alpha + B / D^beta``, element-wise over
    broadcastable ``N`` (parameters) and ``D`` (tokens); a float for scalar inputs (Hoffmann et al. 2022,
    section 3.3)."""
    where = "chinchilla_loss"
    n = _positive_array(where, "N", N)
    d = _positive_array(where, "D", D)
    for name, value in (("E", E), ("A", A), ("B", B)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                or not math.isfinite(value) or value < 0:
            raise ValueError(f"{where}: '{name}' must be a finite number >= 0, got {value!r}")
    for name, value in (("alpha", alpha), ("beta", beta)):
        positive_number(where, name, value)
    loss = E + A / n**alpha + B / d**beta
    return float(loss) if loss.ndim == 0 else loss


@dataclass(frozen=True)
class ChinchillaLaw:
    """``L(N, D) = E + A / N^alpha + B / D^beta`` with its constants, and what follows from it."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    source: str = ""

    def as_tuple(self) -> tuple[float, float, float, float, float]:
        """``(E, A, B, alpha, beta)``."""
        return (self.E, self.A, self.B, self.alpha, self.beta)

    def loss(self, N: object, D: object) -> np.ndarray:
        """The predicted loss of ``N`` parameters trained on ``D`` tokens (see :func:`chinchilla_loss`)."""
        return chinchilla_loss(N, D, *self.as_tuple())

    def compute_optimal(self, flops: float) -> tuple[float, float]:
        """``(N_opt, D_opt)`` for a budget of ``flops = 6 N D`` (see :func:`compute_optimal_allocation`)."""
        return compute_optimal_allocation(flops, self)

    @property
    def n_exponent(self) -> float:
        """``a = beta / (alpha + beta)``: ``N_opt`` grows as ``C^a`` (Hoffmann et al.'s Table 2 column ``a``)."""
        return self.beta / (self.alpha + self.beta)

    @property
    def d_exponent(self) -> float:
        """``b = alpha / (alpha + beta)``: ``D_opt`` grows as ``C^b``."""
        return self.alpha / (self.alpha + self.beta)


#: Hoffmann et al. (2022), section 3.3 (approach 3): E = 1.69, A = 406.4, B = 410.7,
#: alpha = 0.34, beta = 0.28, fitted on their ~400 runs (70M to 16B parameters, MassiveText, their
#: SentencePiece tokenizer; N without embeddings). The numbers are those quoted by every reproduction,
#: including Besiroglu et al. (2024, "Chinchilla scaling: a replication attempt"), whose code starts from
#: them; the paper's own text was not re-checked here. Those authors note the published values are rounded:
#: with them ``a = beta/(alpha+beta) = 0.452``, not the 0.46 of the paper's Table 2.
CHINCHILLA_APPROACH_3 = ChinchillaLaw(
    E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28,
    source="Hoffmann et al. 2022, section 3.3 (approach 3)",
)


@dataclass(frozen=True)
class KaplanLaw:
    """Kaplan et al. (2020)'s power laws, without an irreducible loss (nats per token of their BPE)."""

    alpha_N: float
    alpha_D: float
    N_c: float
    D_c: float
    source: str = ""

    def loss_n(self, N: object) -> np.ndarray:
        """``(N_c / N)^alpha_N``: models trained to convergence on enough data (equation 1.1)."""
        n = _positive_array("KaplanLaw.loss_n", "N", N)
        out = (self.N_c / n) ** self.alpha_N
        return float(out) if out.ndim == 0 else out

    def loss_d(self, D: object) -> np.ndarray:
        """``(D_c / D)^alpha_D``: large models trained with early stopping on ``D`` tokens (equation 1.2)."""
        d = _positive_array("KaplanLaw.loss_d", "D", D)
        out = (self.D_c / d) ** self.alpha_D
        return float(out) if out.ndim == 0 else out

    def loss(self, N: object, D: object) -> np.ndarray:
        """``[(N_c / N)^(alpha_N/alpha_D) + D_c / D]^alpha_D`` (equation 1.5)."""
        n = _positive_array("KaplanLaw.loss", "N", N)
        d = _positive_array("KaplanLaw.loss", "D", D)
        out = ((self.N_c / n) ** (self.alpha_N / self.alpha_D) + self.D_c / d) ** self.alpha_D
        return float(out) if out.ndim == 0 else out


#: Kaplan et al. (2020), section 1.2 and Table 5: the separate fits ``L(N)`` (alpha_N = 0.076,
#: N_c = 8.8e13 non-embedding parameters) and ``L(D)`` (alpha_D = 0.095, D_c = 5.4e13 tokens), as published
#: and quoted widely; the paper's text was not re-checked here.
KAPLAN_2020 = KaplanLaw(alpha_N=0.076, alpha_D=0.095, N_c=8.8e13, D_c=5.4e13,
                        source="Kaplan et al. 2020, equations 1.1 and 1.2 (section 1.2, Table 5)")

#: Kaplan et al. (2020), section 4 and Table 2: the joint fit of equation 1.5 has its own constants
#: (alpha_N = 0.076, alpha_D = 0.103, N_c = 6.4e13, D_c = 1.8e13), as published in that table and quoted in
#: reproductions; not re-checked against the paper's text here.
KAPLAN_2020_JOINT = KaplanLaw(alpha_N=0.076, alpha_D=0.103, N_c=6.4e13, D_c=1.8e13,
                              source="Kaplan et al. 2020, equation 1.5 with the fit of Table 2")


def compute_optimal_allocation(flops: float, law: ChinchillaLaw) -> tuple[float, float]:
    """``(N_opt, D_opt)`` minimising ``law.loss(N, D)`` subject to ``6 N D = flops`` (forward + backward).

    Substituting ``D = C / (6 N)`` and setting the derivative to zero, ``alpha A / N^alpha = beta B / D^beta``,
    gives ``N_opt = G (C/6)^(beta/(alpha+beta))``, ``D_opt = (C/6) / N_opt`` with
    ``G = (alpha A / (beta B))^(1/(alpha+beta))`` (Hoffmann et al. 2022, section 3.3).
    """
    c = positive_number("compute_optimal_allocation", "flops", flops)
    if not isinstance(law, ChinchillaLaw):
        raise TypeError(f"compute_optimal_allocation: 'law' must be a ChinchillaLaw, got {type(law).__name__}")
    g = (law.alpha * law.A / (law.beta * law.B)) ** (1.0 / (law.alpha + law.beta))
    n_opt = g * (c / 6.0) ** law.n_exponent
    return n_opt, (c / 6.0) / n_opt


def iso_flop_curve(flops: float, N: object, law: ChinchillaLaw) -> np.ndarray:
    """The loss ``law`` predicts along the iso-FLOP line ``6 N D = flops``: for each ``N``, ``D = flops/(6 N)``."""
    c = positive_number("iso_flop_curve", "flops", flops)
    n = _positive_array("iso_flop_curve", "N", N)
    return law.loss(n, c / (6.0 * n))


# -- the fit ------------------------------------------------------------------------------------------------

#: Initial values of ``(alpha, beta, e, a, b)`` (``E = e^e``, ``A = e^a``, ``B = e^b``): every combination is
#: a start. Hoffmann et al. use alpha, beta in {0, 0.5, ..., 2}, e in {-1, -0.5, ..., 1}, a, b in
#: {0, 5, ..., 25} (4,500 starts); this grid spans the same ranges more coarsely (3 x 3 x 3 x 4 x 4 = 432
#: starts), enough for a handful of runs, and keeps a bootstrap of the fit affordable.
DEFAULT_INIT_GRID: dict[str, tuple[float, ...]] = {
    "alpha": (0.0, 0.75, 1.5),
    "beta": (0.0, 0.75, 1.5),
    "e": (-1.0, 0.0, 1.0),
    "a": (0.0, 5.0, 15.0, 25.0),
    "b": (0.0, 5.0, 15.0, 25.0),
}


@dataclass(frozen=True)
class ChinchillaFit:
    """The result of :func:`fit_chinchilla_law`: the law, the Huber objective at the optimum, how many starts
    ran and converged, and the residuals ``log L_fit - log L`` of the points fitted."""

    law: ChinchillaLaw
    objective: float
    n_starts: int
    n_converged: int
    log_residuals: np.ndarray


def _huber(residual: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Huber loss and its derivative: ``r^2/2`` for ``|r| <= delta``, ``delta (|r| - delta/2)`` beyond."""
    small = np.abs(residual) <= delta
    value = np.where(small, 0.5 * residual**2, delta * (np.abs(residual) - 0.5 * delta))
    slope = np.where(small, residual, delta * np.sign(residual))
    return value, slope


def _objective(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray, log_loss: np.ndarray,
               delta: float) -> tuple[float, np.ndarray]:
    """The Huber objective of ``theta = (a, b, e, alpha, beta)`` and its gradient."""
    a, b, e, alpha, beta = theta
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])  # (3, n_points)
    top = terms.max(axis=0)
    weights = np.exp(terms - top)  # (3, n_points); LSE = top + log(sum), softmax = weights / sum
    total = weights.sum(axis=0)
    lse = top + np.log(total)
    softmax = weights / total
    value, slope = _huber(lse - log_loss, delta)
    grad = np.array([
        np.sum(slope * softmax[0]),
        np.sum(slope * softmax[1]),
        np.sum(slope * softmax[2]),
        -np.sum(slope * softmax[0] * log_n),
        -np.sum(slope * softmax[1] * log_d),
    ])
    return float(value.sum()), grad


def _check_points(where: str, N: object, D: object, loss: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = _positive_array(where, "N", N).ravel()
    d = _positive_array(where, "D", D).ravel()
    l_ = _positive_array(where, "loss", loss).ravel()
    if not n.size == d.size == l_.size:
        raise ValueError(f"{where}: 'N', 'D' and 'loss' must have the same length, got {n.size}, {d.size}, {l_.size}")
    if n.size < len(LAW_PARAMETERS):
        raise ValueError(f"{where}: need at least {len(LAW_PARAMETERS)} points to fit 5 parameters, got {n.size}")
    if np.unique(n).size < 2 or np.unique(d).size < 2:
        raise ValueError(f"{where}: 'N' and 'D' must each take at least 2 distinct values, got "
                         f"{np.unique(n).size} and {np.unique(d).size}")
    return n, d, l_


def fit_chinchilla_law(
    N: object, D: object, loss: object, *, delta: float = 1e-3,
    init_grid: dict[str, Sequence[float]] | None = None,
    extra_starts: Sequence[ChinchillaLaw] = (),
) -> ChinchillaFit:
    """Fit ``L = E + A/N^alpha + B/D^beta`` to runs ``(N_i, D_i, loss_i)`` as Hoffmann et al. (2022, appendix D.2).

    Minimises ``sum_i Huber_delta(LSE(a - alpha log N_i, b - beta log D_i, e) - log loss_i)`` with L-BFGS
    (scipy's ``L-BFGS-B``, no bounds, analytic gradient) from every start of ``init_grid`` (default
    :data:`DEFAULT_INIT_GRID`, keys ``alpha, beta, e, a, b``) and from each law in ``extra_starts``; returns
    the start that ends lowest. ``delta = 1e-3`` is theirs: residuals of log-loss above 0.1 % count linearly,
    so an outlying run pulls the fit less than under least squares.
    """
    where = "fit_chinchilla_law"
    n, d, l_ = _check_points(where, N, D, loss)
    delta = positive_number(where, "delta", delta)
    grid = DEFAULT_INIT_GRID if init_grid is None else init_grid
    missing = {"alpha", "beta", "e", "a", "b"} - set(grid)
    if missing:
        raise ValueError(f"{where}: 'init_grid' must have the keys alpha, beta, e, a, b; missing {sorted(missing)}")
    starts = [np.array([a, b, e, alpha, beta], dtype=np.float64) for alpha, beta, e, a, b in
              itertools.product(grid["alpha"], grid["beta"], grid["e"], grid["a"], grid["b"])]
    for law in extra_starts:
        starts.append(np.array([math.log(law.A), math.log(law.B), math.log(max(law.E, 1e-12)), law.alpha, law.beta]))
    log_n, log_d, log_loss = np.log(n), np.log(d), np.log(l_)
    best, best_value, converged = None, math.inf, 0
    # The vectors are 5 numbers long: BLAS threads only fight each other (20x slower on a busy 2-core CPU).
    with threadpool_limits(limits=1, user_api="blas"), np.errstate(over="ignore", invalid="ignore"):
        for start in starts:
            result = minimize(_objective, start, args=(log_n, log_d, log_loss, delta), jac=True, method="L-BFGS-B")
            if not np.all(np.isfinite(result.x)) or not math.isfinite(result.fun):
                continue
            converged += bool(result.success)
            if result.fun < best_value:
                best, best_value = result.x, float(result.fun)
    if best is None:
        raise RuntimeError(f"{where}: no start reached a finite objective")
    a, b, e, alpha, beta = (float(v) for v in best)
    law = ChinchillaLaw(E=math.exp(e), A=math.exp(a), B=math.exp(b), alpha=alpha, beta=beta,
                        source=f"fitted to {n.size} runs (Huber delta={delta:g}, {len(starts)} L-BFGS starts)")
    residuals = np.log(law.loss(n, d)) - log_loss
    return ChinchillaFit(law=law, objective=best_value, n_starts=len(starts), n_converged=converged,
                         log_residuals=residuals)


def bootstrap_chinchilla_fit(
    N: object, D: object, loss: object, *, n_resamples: int = 100, seed: int = 0, delta: float = 1e-3,
    init_grid: dict[str, Sequence[float]] | None = None, reference: ChinchillaLaw | None = None,
) -> np.ndarray:
    """Refit on ``n_resamples`` resamplings of the runs (drawn with replacement, same count); returns an array
    ``(n_resamples, 5)`` of ``(E, A, B, alpha, beta)``, one row per resample, for percentile intervals.

    Each refit starts from ``reference`` (e.g. the fit on all runs) and from ``init_grid``, which defaults to a
    small grid (8 starts) so that a hundred refits take seconds, not minutes: a resample is close to the full
    data, so its optimum is close to ``reference``'s. A
    resample that keeps fewer than 2 distinct ``N`` or ``D`` values cannot be fitted and is drawn again.
    """
    where = "bootstrap_chinchilla_fit"
    n, d, l_ = _check_points(where, N, D, loss)
    count = positive_int(where, "n_resamples", n_resamples)
    rng = np.random.default_rng(seed)
    grid = init_grid or {"alpha": (0.5,), "beta": (0.5,), "e": (0.0, 1.0), "a": (2.0, 8.0), "b": (2.0, 8.0)}
    rows = []
    while len(rows) < count:
        pick = rng.integers(0, n.size, n.size)
        if np.unique(n[pick]).size < 2 or np.unique(d[pick]).size < 2:
            continue
        extra = (reference,) if reference is not None else ()
        fit = fit_chinchilla_law(n[pick], d[pick], l_[pick], delta=delta, init_grid=grid, extra_starts=extra)
        rows.append(fit.law.as_tuple())
    return np.array(rows)

