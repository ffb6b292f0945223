"""Decoding algorithms for any autoregressive model: greedy, beam search, sampling (PyTorch).

Every decoder takes a ``step_fn`` and knows nothing else about the model::

    step_fn(prefix: LongTensor (B, T)) -> logits (B, V)

``prefix`` holds the tokens so far, ``bos_id`` first; ``logits[b]`` are the unnormalised scores of the
next token after ``prefix[b]``. A chapter-04 seq2seq model, a GPT re-reading the whole prefix, or a
GPT with a KV cache (a closure that feeds only ``prefix[:, -1]``) all fit. For example, with the
``nn_torch.Seq2Seq`` of chapter 04 and one source ``src (1, S)``::

    step_fn = lambda prefix: model(src.expand(prefix.shape[0], -1), prefix)[0][:, -1]  # (B, T, V) -> (B, V)

A model defines ``p(y_t | y_<t) = softmax(logits)_{y_t}`` and so the probability of a whole output
``p(Y) = prod_t p(y_t | y_<t)``. The decoders search or sample this distribution:

* :func:`greedy_decode` -- ``y_t = argmax_v p(v | y_<t)``: one hypothesis, locally best choices.
* :func:`beam_search` -- keeps the ``beam_size`` best prefixes by ``log p(Y) = sum_t log p(y_t | y_<t)``,
  ranks finished outputs by ``log p(Y) / lp(Y)`` with the GNMT length penalty
  ``lp(Y) = ((5 + |Y|) / 6) ** alpha`` (Wu et al. 2016).
* :func:`sample` -- ``y_t ~ softmax(logits / T)`` after optional top-k and top-p (nucleus,
  Holtzman et al. 2020) filtering; :func:`top_k_filter` and :func:`top_p_filter` are public.

Lengths: ``max_len`` counts generated tokens (``eos`` included, ``bos`` not), so outputs have at most
``max_len + 1`` columns, ``bos`` first. Bad arguments fail early with a ``ValueError`` or ``TypeError``
naming the argument, what was expected and what was received (docs/library.md, "Errors").
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import torch

from bigmodel_lib._checks import check_positive_int, check_tensor, shape_str

StepFn = Callable[[torch.Tensor], torch.Tensor]

__all__ = [
    "StepFn",
    "beam_search",
    "greedy_decode",
    "length_penalty_gnmt",
    "sample",
    "top_k_filter",
    "top_p_filter",
]

# Rounding slack when comparing a cumulative probability with ``top_p`` (computed in float64).
_TOP_P_TOL = 1e-9


# -- argument checks --------------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    """A Python or NumPy integer, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    """A Python or NumPy real number, not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_step_fn(where: str, step_fn: Any) -> None:
    if not callable(step_fn):
        raise TypeError(
            f"{where}: 'step_fn' must be a callable prefix (B, T) -> logits (B, V), got {type(step_fn).__name__}"
        )


def _check_token_id(where: str, name: str, value: Any) -> None:
    if not _is_int(value) or value < 0:
        raise ValueError(f"{where}: '{name}' must be a token id (an int >= 0), got {value!r}")


def _check_common(where: str, step_fn: Any, bos_id: Any, eos_id: Any, max_len: Any) -> None:
    _check_step_fn(where, step_fn)
    _check_token_id(where, "bos_id", bos_id)
    _check_token_id(where, "eos_id", eos_id)
    check_positive_int(where, "max_len", max_len)


def _check_temperature(where: str, temperature: Any) -> None:
    if not _is_real(temperature):
        raise TypeError(f"{where}: 'temperature' must be a real number >= 0, got {type(temperature).__name__}")
    if not math.isfinite(float(temperature)) or float(temperature) < 0:
        raise ValueError(f"{where}: 'temperature' must be a finite number >= 0, got {temperature!r}")


def _check_top_k(where: str, k: Any, name: str = "top_k", optional: str = " (or None)") -> None:
    if not _is_int(k) or k < 1:
        raise ValueError(f"{where}: '{name}' must be an int >= 1{optional}, got {k!r}")


def _check_top_p(where: str, p: Any, name: str = "top_p", optional: str = " (or None)") -> None:
    if not _is_real(p) or not 0.0 < float(p) <= 1.0:
        raise ValueError(f"{where}: '{name}' must be a number in (0, 1]{optional}, got {p!r}")


def _check_logits(where: str, logits: Any) -> None:
    check_tensor(where, "logits", logits)
    if not logits.is_floating_point():
        raise TypeError(
            f"{where}: 'logits' must have a floating-point dtype, got {str(logits.dtype).replace('torch.', '')}"
        )
    if logits.ndim < 1 or logits.shape[-1] == 0:
        raise ValueError(f"{where}: 'logits' expected shape (..., V) with V >= 1, got {shape_str(logits)}")


def _next_logits(
    where: str, step_fn: StepFn, prefix: torch.Tensor, vocab_size: int | None, bos_id: int, eos_id: int
) -> torch.Tensor:
    """Call ``step_fn`` and check it returned float logits ``(B, V)`` for the ``B`` prefixes (same ``V`` each step)."""
    logits = step_fn(prefix)
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"{where}: 'step_fn' must return a torch.Tensor of logits (B, V), got {type(logits).__name__}")
    if not logits.is_floating_point():
        raise TypeError(
            f"{where}: 'step_fn' must return floating-point logits, got dtype {str(logits.dtype).replace('torch.', '')}"
        )
    rows = prefix.shape[0]
    expected = f"({rows}, V)" if vocab_size is None else f"({rows}, {vocab_size})"
    if logits.ndim != 2 or logits.shape[0] != rows or (vocab_size is not None and logits.shape[1] != vocab_size):
        raise ValueError(
            f"{where}: 'step_fn' must return logits of shape {expected} for a prefix of shape "
            f"{shape_str(prefix)}, got {shape_str(logits)}"
        )
    if vocab_size is None:
        for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
            if value >= logits.shape[1]:
                raise ValueError(
                    f"{where}: '{name}' must be a token id in [0, {logits.shape[1]}) (step_fn returned "
                    f"V = {logits.shape[1]} logits), got {value!r}"
                )
    return logits


# -- filters ----------------------------------------------------------------------------------------------


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits of each row (last dim), set the others to ``-inf``.

    ``logits (..., V) -> (..., V)``, a new tensor. A token survives iff its logit is ``>=`` the ``k``-th
    largest of its row, so tokens *tied* with the ``k``-th largest all survive (the result does not depend
    on how a sort orders ties) and more than ``k`` may remain. ``k >= V`` keeps everything.
    """
    _check_logits("top_k_filter", logits)
    _check_top_k("top_k_filter", k, "k", "")
    if k >= logits.shape[-1]:
        return logits.clone()
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., V) -> (..., k) -> (..., 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering (Holtzman et al. 2020): keep the smallest set of most likely tokens with mass ``>= p``.

    With the row's probabilities ``pi = softmax(logits)`` sorted so that ``pi_(1) >= pi_(2) >= ...``, the
    nucleus is ``V(p) = {(1), ..., (m)}`` with the smallest ``m`` such that ``sum_{i<=m} pi_(i) >= p``:
    token ``(i)`` is needed iff the mass before it, ``sum_{j<i} pi_(j)``, is still ``< p``. The most likely
    token is therefore always kept (even for a tiny ``p``); tokens tied with the last one needed are kept
    too, so the result does not depend on how a sort orders ties. The others become ``-inf``.
    ``logits (..., V) -> (..., V)``, a new tensor; ``p = 1`` keeps everything. The cumulative sums are taken
    in float64 with a ``1e-9`` slack, so a mass equal to ``p`` up to rounding counts as reaching ``p``.
    """
    _check_logits("top_p_filter", logits)
    _check_top_p("top_p_filter", p, "p", "")
    if float(p) >= 1.0:
        return logits.clone()
    sorted_logits, _ = logits.sort(dim=-1, descending=True)  # (..., V), most likely first
    sorted_probs = torch.softmax(sorted_logits.to(torch.float64), dim=-1)  # (..., V)
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs  # (..., V): sum_{j<i} pi_(j)
    needed = mass_before < float(p) - _TOP_P_TOL
    needed[..., 0] = True  # always keep the most likely token
    last_needed = torch.where(needed, sorted_logits, torch.full_like(sorted_logits, float("inf")))
    threshold = last_needed.min(dim=-1, keepdim=True).values  # (..., V) -> (..., 1)
    return logits.masked_fill(logits < threshold, float("-inf"))


# -- the shared left-to-right loop ------------------------------------------------------------------------


def _decode_loop(
    where: str,
    step_fn: StepFn,
    batch_size: int,
    bos_id: int,
    eos_id: int,
    max_len: int,
    device: torch.device | str | None,
    choose: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """Append ``choose(logits) (B,)`` until every row has written ``eos`` or ``max_len`` tokens."""
    tokens = torch.full((batch_size, 1), bos_id, dtype=torch.long, device=device)  # (B, 1): bos
    done = torch.zeros(batch_size, dtype=torch.bool, device=tokens.device)  # (B,)
    vocab_size = None
    for _ in range(max_len):
        logits = _next_logits(where, step_fn, tokens, vocab_size, bos_id, eos_id)  # (B, V)
        vocab_size = logits.shape[1]
        token = choose(logits).to(tokens.device).masked_fill(done, eos_id)  # (B, V) -> (B,); finished rows: eos
        done |= token == eos_id
        tokens = torch.cat([tokens, token[:, None]], dim=1)  # (B, T) -> (B, T + 1)
        if bool(done.all()):  # one device sync per step; decoding is short
            break
    return tokens


@torch.no_grad()
def greedy_decode(
    step_fn: StepFn,
    batch_size: int,
    bos_id: int,
    eos_id: int,
    max_len: int,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Feed back the most likely token, ``y_t = argmax_v logits_v(y_<t)``, for ``batch_size`` prefixes at once.

    Returns ``tokens (B, L + 1)`` int64, ``bos_id`` in column 0 and ``L <= max_len`` generated tokens.
    Decoding stops early once every row has produced ``eos_id``; a row that finished before the others is
    padded with ``eos_id`` (so everything after a row's first ``eos`` is ``eos``). Ties go to the lowest
    token id (``torch.argmax``). ``device`` is where the prefixes are built (that of the model).
    """
    where = "greedy_decode"
    _check_common(where, step_fn, bos_id, eos_id, max_len)
    check_positive_int(where, "batch_size", batch_size)
    return _decode_loop(where, step_fn, batch_size, bos_id, eos_id, max_len, device, lambda x: x.argmax(dim=-1))


@torch.no_grad()
def sample(
    step_fn: StepFn,
    batch_size: int,
    bos_id: int,
    eos_id: int,
    max_len: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Draw each next token from the model's (reshaped) distribution: ``y_t ~ softmax(filter(logits / T))``.

    Per step and row: divide the logits by ``temperature`` ``T`` (``T < 1`` sharpens, ``T > 1`` flattens;
    ``T = 0`` means the limit ``T -> 0``, i.e. greedy: the argmax, no randomness); then keep the ``top_k``
    largest (:func:`top_k_filter`), then the nucleus of mass ``top_p`` of what remains
    (:func:`top_p_filter`, on the temperature-scaled distribution); then sample from the softmax of the
    survivors with ``torch.multinomial``. ``generator`` (a ``torch.Generator`` on the logits' device) makes
    the draws reproducible; ``None`` uses the global RNG.

    Returns ``tokens (B, L + 1)`` int64 like :func:`greedy_decode`: ``bos_id`` first, ``L <= max_len``,
    rows that finished early padded with ``eos_id``.
    """
    where = "sample"
    _check_common(where, step_fn, bos_id, eos_id, max_len)
    check_positive_int(where, "batch_size", batch_size)
    _check_temperature(where, temperature)
    if top_k is not None:
        _check_top_k(where, top_k)
    if top_p is not None:
        _check_top_p(where, top_p)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"{where}: 'generator' must be a torch.Generator or None, got {type(generator).__name__}")

    def choose(logits: torch.Tensor) -> torch.Tensor:
        if float(temperature) == 0.0:
            return logits.argmax(dim=-1)  # (B, V) -> (B,)
        scaled = logits / float(temperature)
        if top_k is not None:
            scaled = top_k_filter(scaled, top_k)
        if top_p is not None:
            scaled = top_p_filter(scaled, top_p)
        probs = torch.softmax(scaled.to(torch.float64), dim=-1)  # (B, V)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)  # (B, 1) -> (B,)

    return _decode_loop(where, step_fn, batch_size, bos_id, eos_id, max_len, device, choose)


# -- beam search ------------------------------------------------------------------------------------------


def length_penalty_gnmt(length: int, alpha: float) -> float:
    """``lp(Y) = ((5 + |Y|) / 6) ** alpha`` (Wu et al. 2016); ``alpha = 0`` gives 1 (plain log-probability)."""
    return ((5.0 + length) / 6.0) ** alpha


@torch.no_grad()
def beam_search(
    step_fn: StepFn,
    bos_id: int,
    eos_id: int,
    max_len: int,
    beam_size: int = 4,
    length_penalty: float = 1.0,
    device: torch.device | str | None = None,
) -> list[tuple[torch.Tensor, float]]:
    """Beam search for one source: the ``beam_size`` best outputs, best first, as ``(tokens, score)``.

    Scores. A hypothesis ``Y = y_1 ... y_n`` (``bos`` not counted, ``eos`` counted in ``|Y| = n``) has
    ``log p(Y) = sum_t log softmax(logits(y_<t))_{y_t}`` and, once finished, the score
    ``s(Y) = log p(Y) / lp(Y)``, ``lp(Y) = ((5 + |Y|) / 6) ** alpha`` with ``alpha = length_penalty``
    (GNMT, Wu et al. 2016). ``alpha = 0`` ranks by ``log p(Y)``, which favours short outputs (every token
    multiplies in a probability < 1); larger ``alpha`` favours longer ones.

    Search. Each step extends every alive prefix by every token (``step_fn`` sees the alive prefixes as a
    batch ``(K, T)``, ``K <= beam_size``) and keeps the ``beam_size - (number finished)`` best extensions
    by ``log p`` (all of equal length, so the same order as by score). An extension ending in ``eos_id``
    is set aside as finished and gives up its place in the beam; at step ``max_len`` the alive prefixes
    are finished as they are (truncated). The search ends when ``beam_size`` hypotheses have finished,
    so ``beam_size = 1`` is exactly :func:`greedy_decode`, and a beam at least as large as the number of
    possible outputs is exhaustive (the exact best output). Extensions of probability 0 are dropped.
    Ties go to the earlier beam and lower token id.

    One source only (the batch is the beam): for a conditional model let ``step_fn`` close over the source
    and expand it to ``prefix.shape[0]`` rows. Returns at most ``beam_size`` pairs
    ``(tokens (L + 1,) int64 with bos_id first, score float)`` sorted by score, best first.
    """
    where = "beam_search"
    _check_common(where, step_fn, bos_id, eos_id, max_len)
    check_positive_int(where, "beam_size", beam_size)
    if not _is_real(length_penalty) or not math.isfinite(float(length_penalty)):
        raise ValueError(f"{where}: 'length_penalty' (alpha) must be a finite real number, got {length_penalty!r}")
    alpha = float(length_penalty)

    tokens = torch.full((1, 1), bos_id, dtype=torch.long, device=device)  # (K = 1, T = 1): bos
    log_p = torch.zeros(1, dtype=torch.float64, device=tokens.device)  # (K,): log p(prefix)
    finished: list[tuple[torch.Tensor, float]] = []
    vocab_size = None
    for length in range(1, max_len + 1):  # |Y| after this step
        logits = _next_logits(where, step_fn, tokens, vocab_size, bos_id, eos_id)  # (K, V)
        vocab_size = logits.shape[1]
        step_log_p = torch.log_softmax(logits.to(device=tokens.device, dtype=torch.float64), dim=-1)  # (K, V)
        candidates = (log_p[:, None] + step_log_p).reshape(-1)  # (K, V) -> (K * V,), row-major: beam, token
        best, order = candidates.sort(descending=True, stable=True)  # stable: ties to earlier beam, lower id
        slots = beam_size - len(finished)
        best, order = best[:slots], order[:slots]  # (n,) with n <= slots
        keep = torch.isfinite(best)  # drop extensions of probability 0
        best, order = best[keep], order[keep]
        beam, token = order // vocab_size, order % vocab_size  # (n,), (n,)
        extended = torch.cat([tokens[beam], token[:, None]], dim=1)  # (n, T) + (n, 1) -> (n, T + 1)
        ends = (token == eos_id) if length < max_len else torch.ones_like(token, dtype=torch.bool)
        lp = length_penalty_gnmt(length, alpha)
        for i in torch.nonzero(ends).flatten().tolist():
            finished.append((extended[i], float(best[i]) / lp))
        tokens, log_p = extended[~ends], best[~ends]  # (K', T + 1), (K',)
        if tokens.shape[0] == 0:
            break
    finished.sort(key=lambda hyp: hyp[1], reverse=True)  # stable: equal scores keep finishing order
    return finished
