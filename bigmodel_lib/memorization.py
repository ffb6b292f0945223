"""Does a language model leak its training text? Canaries, verbatim extraction and exposure.

The method of Carlini, Liu, Erlingsson, Kos & Song (2019), "The Secret Sharer: Evaluating and Testing
Unintended Memorization in Neural Networks" (USENIX Security):

1. **insert canaries** -- random secrets in a fixed template (``"the card number of alice is 4 8 1 5 9 2"``),
   each repeated some number of times at random places of the training text (:func:`insert_canaries`);
2. train as usual;
3. **extraction** -- does greedy decoding from the template's prefix write the secret (:func:`greedy_continuation`)?
4. **exposure** (§4) -- rank the true secret among candidates from the same random space ``R`` by the model's
   log-perplexity ``Px(s) = -log2 P(s | prefix)`` (bits; lower = more likely):
   ``exposure = log2 |R| - log2 rank`` (:func:`exposure_from_rank`). It is 0 bits when the secret is the least
   likely of all, ``log2 |R|`` when it is the most likely. With ``n`` sampled candidates, ``R`` is the canary
   plus the candidates (:func:`exposure`); the paper's estimate for the whole space fits a skew-normal
   distribution to the candidates' log-perplexities (:func:`extrapolated_exposure`).

Every secret here is a string of random digits separated by spaces, so a character-level model sees one digit
per step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from bigmodel_lib._checks import check_positive_int, check_tensor

__all__ = [
    "canary_rank",
    "exposure",
    "exposure_from_rank",
    "extrapolated_exposure",
    "greedy_continuation",
    "insert_canaries",
    "log_perplexity",
    "random_secret",
]


def random_secret(rng: np.random.Generator, digits: int) -> str:
    """``digits`` random decimal digits separated by spaces, e.g. ``"4 8 1 5 9 2"`` (a space of ``10**digits``)."""
    check_positive_int("random_secret", "digits", digits)
    return " ".join(str(int(d)) for d in rng.integers(0, 10, size=digits))


def insert_canaries(text: str, canaries: Mapping[str, int], *, seed: int = 0) -> str:
    """``text`` with each canary line inserted ``canaries[line]`` times, at random line starts.

    Each copy goes in as its own line (``line + "\\n"``) right after a newline of ``text`` chosen uniformly at
    random (with replacement; several copies can land at the same place). Returns the new text, whose length
    is ``len(text) + sum(count * (len(line) + 1))``. The same ``seed`` gives the same text.
    """
    if not isinstance(text, str) or "\n" not in text:
        raise ValueError("insert_canaries: 'text' must be a string with at least one newline")
    for line, count in canaries.items():
        if not isinstance(line, str) or not line or "\n" in line:
            raise ValueError(f"insert_canaries: each canary must be a non-empty single line, got {line!r}")
        if not isinstance(count, (int, np.integer)) or count < 0:
            raise ValueError(f"insert_canaries: the count of {line!r} must be an int >= 0, got {count!r}")
    rng = np.random.default_rng(seed)
    line_starts = np.array([i + 1 for i, c in enumerate(text) if c == "\n"])
    inserts: list[tuple[int, int, str]] = []  # (position, order, line): order keeps equal positions stable
    for line, count in canaries.items():
        for position in rng.choice(line_starts, size=int(count), replace=True):
            inserts.append((int(position), len(inserts), line))
    inserts.sort()
    pieces, last = [], 0
    for position, _, line in inserts:
        pieces.append(text[last:position])
        pieces.append(line + "\n")
        last = position
    pieces.append(text[last:])
    return "".join(pieces)


def _logits(model: Callable[[torch.Tensor], torch.Tensor], ids: torch.Tensor) -> torch.Tensor:
    out = model(ids)
    return out[0] if isinstance(out, tuple) else out  # (B, T, V)


@torch.no_grad()
def log_perplexity(
    model: Callable[[torch.Tensor], torch.Tensor], prefix: torch.Tensor, continuations: torch.Tensor
) -> np.ndarray:
    """``Px = -sum_t log2 P(c_t | prefix, c_<t)`` in bits, for each row of ``continuations (N, C)``: ``(N,)``.

    ``model(ids (B, T)) -> logits (B, T, V)`` (causal: position ``t`` predicts token ``t + 1``); ``prefix (P,)``
    is shared by all rows. Carlini et al. (2019), §3 (log-perplexity). One batched forward pass.
    """
    check_tensor("log_perplexity", "prefix", prefix)
    check_tensor("log_perplexity", "continuations", continuations)
    if prefix.ndim != 1 or prefix.numel() == 0 or continuations.ndim != 2 or continuations.shape[1] == 0:
        raise ValueError(f"log_perplexity: need prefix (P,) and continuations (N, C), got {tuple(prefix.shape)} and "
                         f"{tuple(continuations.shape)}")
    n, c = continuations.shape
    ids = torch.cat([prefix[None].expand(n, -1), continuations], dim=1)  # (N, P + C)
    logits = _logits(model, ids[:, :-1])  # (N, P + C - 1, V): position t predicts token t + 1
    log_probs = F.log_softmax(logits[:, -c:].float(), dim=-1)  # the C positions that predict the continuation
    picked = log_probs.gather(-1, continuations[..., None])[..., 0]  # (N, C, V) -> (N, C)
    return (-picked.sum(dim=1) / math.log(2)).cpu().numpy().astype(np.float64)  # nats -> bits


@torch.no_grad()
def greedy_continuation(
    model: Callable[[torch.Tensor], torch.Tensor], prefix: torch.Tensor, n_tokens: int, *, block_size: int | None = None
) -> torch.Tensor:
    """The ``n_tokens (,)`` ids that greedy decoding (argmax at every step) appends to ``prefix (P,)``.

    ``model(ids (1, T)) -> logits (1, T, V)``; with ``block_size`` only the last ``block_size`` ids are fed.
    The extraction test: the model leaks a secret when this reproduces it exactly.
    """
    check_tensor("greedy_continuation", "prefix", prefix)
    check_positive_int("greedy_continuation", "n_tokens", n_tokens)
    if prefix.ndim != 1 or prefix.numel() == 0:
        raise ValueError(f"greedy_continuation: 'prefix' must be 1-D and non-empty, got {tuple(prefix.shape)}")
    ids = prefix[None]  # (1, P)
    for _ in range(n_tokens):
        context = ids if block_size is None else ids[:, -block_size:]
        next_id = _logits(model, context)[:, -1].argmax(dim=-1, keepdim=True)  # (1, V) -> (1, 1)
        ids = torch.cat([ids, next_id], dim=1)  # (1, T) -> (1, T + 1)
    return ids[0, prefix.numel():]


def canary_rank(canary_log_perplexity: float, candidate_log_perplexities: Sequence[float] | np.ndarray) -> int:
    """``1 + #{candidates with a strictly lower log-perplexity}``: 1 when no candidate is more likely.

    Ties count in the canary's favour (rank as high as possible); with real-valued perplexities they are rare.
    """
    candidates = np.asarray(candidate_log_perplexities, dtype=np.float64).reshape(-1)
    if candidates.size == 0 or not np.all(np.isfinite(candidates)) or not math.isfinite(canary_log_perplexity):
        raise ValueError("canary_rank: need a finite canary value and at least one finite candidate value")
    return 1 + int(np.sum(candidates < canary_log_perplexity))


def exposure_from_rank(rank: int, space_size: int | float) -> float:
    """``exposure = log2 |R| - log2 rank`` (Carlini et al. 2019, §4), in bits; ``1 <= rank <= |R|``."""
    if not (isinstance(rank, (int, np.integer)) and rank >= 1):
        raise ValueError(f"exposure_from_rank: 'rank' must be an int >= 1, got {rank!r}")
    if not space_size >= rank:
        raise ValueError(f"exposure_from_rank: 'space_size' must be >= rank = {rank}, got {space_size!r}")
    return math.log2(space_size) - math.log2(rank)


def exposure(canary_log_perplexity: float, candidate_log_perplexities: Sequence[float] | np.ndarray) -> float:
    """Exposure of the canary among ``n`` sampled candidates: ``R`` = the candidates plus the canary, ``|R| = n + 1``.

    Between 0 and ``log2(n + 1)`` bits; ``log2(n + 1)`` means no candidate is as likely as the true secret.
    """
    candidates = np.asarray(candidate_log_perplexities, dtype=np.float64).reshape(-1)
    return exposure_from_rank(canary_rank(canary_log_perplexity, candidates), candidates.size + 1)


def extrapolated_exposure(
    canary_log_perplexity: float, candidate_log_perplexities: Sequence[float] | np.ndarray
) -> float:
    """``-log2 F(Px(canary))`` with ``F`` a skew-normal fitted to the candidates' log-perplexities.

    Carlini et al. (2019), §4: exposure estimated by fitting the distribution instead of ranking.

    The fraction of the whole random space more likely than the canary is read from the fitted distribution
    instead of counted, so the estimate can exceed ``log2(n + 1)`` when the canary lies beyond every sampled
    candidate. An extrapolation: trust it only as far as the fit describes the tail.
    """
    from scipy import stats  # noqa: PLC0415 -- only this function needs scipy

    candidates = np.asarray(candidate_log_perplexities, dtype=np.float64).reshape(-1)
    if candidates.size < 10 or not np.all(np.isfinite(candidates)):
        raise ValueError("extrapolated_exposure: need at least 10 finite candidate values to fit a distribution")
    shape, loc, scale = stats.skewnorm.fit(candidates)
    log_cdf = float(stats.skewnorm.logcdf(canary_log_perplexity, shape, loc=loc, scale=scale))
    return max(0.0, -log_cdf / math.log(2))
