"""Decoding algorithms on cases with known answers: Markov "models" searched by brute force, hand-computed
top-k / top-p filters, sampling frequencies against softmax(logits / T), the chapter-04 seq2seq, bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from bigmodel_lib.decoding import (
    beam_search,
    greedy_decode,
    length_penalty_gnmt,
    sample,
    top_k_filter,
    top_p_filter,
)

BOS, EOS, A, B = 0, 1, 2, 3
NEG = float("-inf")


# -- a Markov "model": p(y_t | y_<t) = P[y_{t-1}, y_t] ---------------------------------------------------


def markov_step_fn(P: np.ndarray):
    """``step_fn`` of a first-order Markov chain: the log of the transition row of each prefix's last token."""
    log_P = torch.log(torch.as_tensor(P, dtype=torch.float64))  # (V, V); log 0 = -inf

    def step_fn(prefix: torch.Tensor) -> torch.Tensor:
        return log_P[prefix[:, -1]]  # (B,) -> (B, V)

    return step_fn


def random_markov(seed: int, vocab_size: int = 5) -> np.ndarray:
    """Random transition rows; ``bos`` is never generated and ``eos`` is absorbing."""
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.full(vocab_size, 0.7), size=vocab_size)
    P[:, BOS] = 0.0
    P[EOS] = 0.0
    P[EOS, EOS] = 1.0
    return P / P.sum(axis=1, keepdims=True)


def brute_force(P: np.ndarray, max_len: int, alpha: float) -> list[tuple[list[int], float]]:
    """Every output of probability > 0 (ends at its first eos, or truncated at max_len), scored, best first."""
    V = P.shape[0]
    found = []
    for n in range(1, max_len + 1):
        for ys in itertools.product(range(V), repeat=n):
            if EOS in ys[:-1] or (n < max_len and ys[-1] != EOS):
                continue
            probs = [P[a, b] for a, b in zip((BOS,) + ys[:-1], ys)]
            if min(probs) == 0.0:
                continue
            score = sum(math.log(p) for p in probs) / ((5 + n) / 6) ** alpha
            found.append(([BOS, *ys], score))
    found.sort(key=lambda h: h[1], reverse=True)
    return found


# Greedy picks A (0.6) and then eos: p = 0.6 * 0.36 = 0.216; the best output is B eos: 0.4 * 0.9 = 0.36.
P_GREEDY_TRAP = np.array(
    [
        [0.0, 0.0, 0.6, 0.4],  # from bos
        [0.0, 1.0, 0.0, 0.0],  # from eos (absorbing)
        [0.0, 0.36, 0.34, 0.30],  # from A
        [0.0, 0.9, 0.05, 0.05],  # from B
    ]
)


def test_greedy_misses_the_best_sequence_and_beam_finds_it():
    step_fn = markov_step_fn(P_GREEDY_TRAP)
    greedy = greedy_decode(step_fn, 1, BOS, EOS, max_len=3)
    assert greedy.tolist() == [[BOS, A, EOS]]
    best_tokens, best_score = brute_force(P_GREEDY_TRAP, 3, alpha=0.0)[0]
    assert best_tokens == [BOS, B, EOS] and best_score == pytest.approx(math.log(0.36))
    hyps = beam_search(step_fn, BOS, EOS, max_len=3, beam_size=2, length_penalty=0.0)
    assert [h[0].tolist() for h in hyps] == [[BOS, B, EOS], [BOS, A, EOS]]
    assert [h[1] for h in hyps] == pytest.approx([math.log(0.36), math.log(0.216)])
    assert hyps[0][0].dtype == torch.long


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0])
def test_exhaustive_beam_equals_brute_force(seed, alpha):
    P = random_markov(seed)
    expected = brute_force(P, max_len=4, alpha=alpha)
    assert len(expected) == 121  # 1 + 3 + 9 + 27 outputs ending in eos, 81 truncated
    hyps = beam_search(markov_step_fn(P), BOS, EOS, max_len=4, beam_size=len(expected), length_penalty=alpha)
    assert [h[1] for h in hyps] == pytest.approx([s for _, s in expected], rel=1e-12)
    assert hyps[0][0].tolist() == expected[0][0]
    assert {tuple(h[0].tolist()) for h in hyps} == {tuple(t) for t, _ in expected}


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_beam_size_one_is_greedy(seed, alpha):
    P = random_markov(seed, vocab_size=6)
    step_fn = markov_step_fn(P)
    greedy = greedy_decode(step_fn, 1, BOS, EOS, max_len=7)
    ((tokens, score),) = beam_search(step_fn, BOS, EOS, max_len=7, beam_size=1, length_penalty=alpha)
    assert tokens.tolist() == greedy[0].tolist()
    n = len(tokens) - 1
    log_p = sum(math.log(P[a, b]) for a, b in zip(tokens[:-1].tolist(), tokens[1:].tolist()))
    assert score == pytest.approx(log_p / length_penalty_gnmt(n, alpha))


def test_beam_returns_hypotheses_best_first_and_at_most_beam_size():
    P = random_markov(3)
    hyps = beam_search(markov_step_fn(P), BOS, EOS, max_len=5, beam_size=4, length_penalty=0.6)
    assert len(hyps) == 4
    scores = [s for _, s in hyps]
    assert scores == sorted(scores, reverse=True)
    for tokens, _ in hyps:
        assert tokens[0] == BOS and 2 <= len(tokens) <= 6
        assert tokens[-1] == EOS or len(tokens) == 6
        assert EOS not in tokens[1:-1].tolist()


# -- length penalty --------------------------------------------------------------------------------------

# "eos" has p = 0.4; "A eos" has p = 0.6 * 0.6 = 0.36: shorter wins on log p, longer on log p / lp.
P_LENGTH = np.array(
    [
        [0.0, 0.4, 0.6, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 0.6, 0.4, 0.0],
        [0.0, 1.0, 0.0, 0.0],
    ]
)


def test_length_penalty_formula():
    assert length_penalty_gnmt(1, 0.0) == 1.0
    assert length_penalty_gnmt(1, 1.0) == 1.0
    assert length_penalty_gnmt(7, 1.0) == 2.0
    assert length_penalty_gnmt(13, 0.5) == pytest.approx(math.sqrt(3.0))


def test_length_penalty_alpha_zero_prefers_short_alpha_one_prefers_long():
    step_fn = markov_step_fn(P_LENGTH)
    short = beam_search(step_fn, BOS, EOS, max_len=4, beam_size=8, length_penalty=0.0)
    assert short[0][0].tolist() == [BOS, EOS]
    assert short[0][1] == pytest.approx(math.log(0.4))
    long = beam_search(step_fn, BOS, EOS, max_len=4, beam_size=8, length_penalty=1.0)
    assert long[0][0].tolist() == [BOS, A, EOS]
    assert long[0][1] == pytest.approx(math.log(0.36) / (7 / 6))
    assert [h[0].tolist() for h in long] == [t for t, _ in brute_force(P_LENGTH, 4, 1.0)]


# -- greedy on a batch -----------------------------------------------------------------------------------


def test_greedy_batch_pads_finished_rows_with_eos_and_stops_early():
    calls = []

    def step_fn(prefix):  # row 0 says eos at once, row 1 says A twice then eos
        calls.append(prefix.clone())
        logits = torch.zeros(prefix.shape[0], 4)
        t = prefix.shape[1]
        logits[0, EOS] = 5.0
        logits[1, A if t < 3 else EOS] = 5.0
        return logits

    out = greedy_decode(step_fn, 2, BOS, EOS, max_len=10)
    assert out.tolist() == [[BOS, EOS, EOS, EOS], [BOS, A, A, EOS]]
    assert len(calls) == 3 and [c.shape for c in calls] == [(2, 1), (2, 2), (2, 3)]


def test_greedy_truncates_at_max_len_and_keeps_the_device():
    step_fn = markov_step_fn(np.array([[0, 0.1, 0.9], [0, 1, 0], [0, 0.1, 0.9]]))
    out = greedy_decode(step_fn, 3, BOS, EOS, max_len=4, device="cpu")
    assert out.shape == (3, 5) and out.dtype == torch.long and out.device.type == "cpu"
    assert out.tolist() == [[BOS, 2, 2, 2, 2]] * 3


# -- filters ---------------------------------------------------------------------------------------------


def test_top_k_filter_hand_computed():
    x = torch.tensor([[1.0, 3.0, 2.0, 0.0], [0.5, -1.0, 4.0, 2.0]])
    assert top_k_filter(x, 2).tolist() == [[NEG, 3.0, 2.0, NEG], [NEG, NEG, 4.0, 2.0]]
    assert top_k_filter(x, 1).tolist() == [[NEG, 3.0, NEG, NEG], [NEG, NEG, 4.0, NEG]]
    assert torch.equal(top_k_filter(x, 4), x) and torch.equal(top_k_filter(x, 10), x)
    assert top_k_filter(x, 2) is not x


def test_top_k_filter_keeps_ties_and_minus_inf():
    assert top_k_filter(torch.tensor([1.0, 2.0, 2.0, 0.0]), 2).tolist() == [NEG, 2.0, 2.0, NEG]
    assert top_k_filter(torch.tensor([2.0, 1.0, 2.0]), 1).tolist() == [2.0, NEG, 2.0]
    assert top_k_filter(torch.tensor([NEG, 1.0, 0.0]), 2).tolist() == [NEG, 1.0, 0.0]
    assert top_k_filter(torch.zeros(2, 3, 5), 2).shape == (2, 3, 5)


PROBS = torch.tensor([0.125, 0.5, 0.125, 0.25], dtype=torch.float64)  # sorted: 0.5, 0.25, 0.125, 0.125


@pytest.mark.parametrize(
    "p, kept",
    [
        (0.01, [1]),  # the most likely token is always kept
        (0.5, [1]),  # 0.5 alone reaches 0.5
        (0.6, [1, 3]),
        (0.75, [1, 3]),  # 0.5 + 0.25 reaches 0.75
        (0.8, [0, 1, 2, 3]),  # needs one 0.125; the other is tied with it and kept too
        (1.0, [0, 1, 2, 3]),
    ],
)
def test_top_p_filter_hand_computed(p, kept):
    logits = torch.log(PROBS) + 1.7  # a shift changes nothing
    out = top_p_filter(logits, p)
    expected = torch.full_like(logits, NEG)
    expected[kept] = logits[kept]
    assert torch.equal(out, expected)


def test_top_p_filter_rows_are_independent_and_top_token_always_kept():
    logits = torch.log(torch.tensor([[0.9, 0.05, 0.05], [0.2, 0.3, 0.5]]))
    out = top_p_filter(logits, 0.6)
    assert torch.isfinite(out).tolist() == [[True, False, False], [False, True, True]]
    out = top_p_filter(torch.tensor([[5.0, NEG, 0.0]]), 0.999)
    assert torch.isfinite(out).tolist() == [[True, False, True]]
    assert torch.isfinite(top_p_filter(torch.tensor([3.0, 3.0, 3.0]), 0.1)).all()  # a three-way tie


# -- sampling --------------------------------------------------------------------------------------------


def constant_step_fn(logits: list[float]):
    row = torch.tensor(logits, dtype=torch.float64)

    def step_fn(prefix):
        return row.expand(prefix.shape[0], -1)  # (V,) -> (B, V)

    return step_fn


def first_token_freqs(tokens: torch.Tensor, vocab_size: int) -> np.ndarray:
    return (torch.bincount(tokens[:, 1], minlength=vocab_size).double() / tokens.shape[0]).numpy()


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_sampling_frequencies_follow_softmax_over_temperature(temperature):
    logits = [0.0, 1.0, 2.0, -1.0, 0.5]
    gen = torch.Generator().manual_seed(1234)
    out = sample(constant_step_fn(logits), 20000, BOS, EOS, max_len=1, temperature=temperature, generator=gen)
    assert out.shape == (20000, 2) and (out[:, 0] == BOS).all()
    expected = torch.softmax(torch.tensor(logits) / temperature, dim=0).numpy()
    np.testing.assert_allclose(first_token_freqs(out, 5), expected, atol=0.012)


def test_sampling_frequencies_with_top_k_and_top_p():
    logits = [0.0, 1.0, 2.0, -1.0, 0.5]
    gen = torch.Generator().manual_seed(7)
    out = sample(constant_step_fn(logits), 20000, BOS, EOS, max_len=1, top_k=2, generator=gen)
    e = math.exp(1.0)
    np.testing.assert_allclose(first_token_freqs(out, 5), [0, 1 / (1 + e), e / (1 + e), 0, 0], atol=0.012)
    probs = [0.1, 0.2, 0.4, 0.05, 0.25]  # nucleus of 0.8: 0.4 + 0.25 + 0.2 (0.85)
    out = sample(constant_step_fn(np.log(probs).tolist()), 20000, BOS, EOS, max_len=1, top_p=0.8, generator=gen)
    np.testing.assert_allclose(first_token_freqs(out, 5), [0, 0.2 / 0.85, 0.4 / 0.85, 0, 0.25 / 0.85], atol=0.012)


@pytest.mark.parametrize("seed", range(4))
def test_top_k_one_and_temperature_zero_are_greedy(seed):
    P = random_markov(seed, vocab_size=6)
    step_fn = markov_step_fn(P)
    greedy = greedy_decode(step_fn, 1, BOS, EOS, max_len=8).expand(64, -1)
    gen = torch.Generator().manual_seed(seed)
    assert torch.equal(sample(step_fn, 64, BOS, EOS, max_len=8, top_k=1, temperature=1.5, generator=gen), greedy)
    assert torch.equal(sample(step_fn, 64, BOS, EOS, max_len=8, temperature=0.0), greedy)
    assert torch.equal(sample(step_fn, 64, BOS, EOS, max_len=8, top_p=1e-6, generator=gen), greedy)


def test_sampling_is_reproducible_with_a_generator():
    step_fn = markov_step_fn(random_markov(5, vocab_size=6))
    draws = [
        sample(step_fn, 32, BOS, EOS, max_len=12, top_k=4, top_p=0.9, generator=torch.Generator().manual_seed(s))
        for s in (42, 42, 43)
    ]
    assert torch.equal(draws[0], draws[1])
    assert not torch.equal(draws[0], draws[2])
    for row in draws[0].tolist():  # after a row's first eos comes only eos
        if EOS in row:
            assert set(row[row.index(EOS) :]) == {EOS}


# -- a real model: the chapter-04 seq2seq ----------------------------------------------------------------


def test_greedy_decode_matches_seq2seq_greedy_decode():
    from bigmodel_lib.nn_torch.seq2seq import Seq2Seq

    torch.manual_seed(0)
    model = Seq2Seq(9, 7, 5, 6, attention_dim=4).double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.8)
    src = torch.tensor([[4, 5, 6, 7, 8, 3], [5, 3, 4, 8, 2, 6], [8, 8, 7, 6, 5, 1]])
    bos, eos = 1, 2

    def step_fn(prefix):
        return model(src, prefix)[0][:, -1]  # (B, T, V) -> (B, V)

    theirs = model.greedy_decode(src, 6, bos, eos)  # (B, L), pad_id after eos
    ours = greedy_decode(step_fn, 3, bos, eos, max_len=6)  # (B, L + 1), eos after eos
    assert ours.shape[1] == theirs.shape[1] + 1
    for mine, ref in zip(ours[:, 1:].tolist(), theirs.tolist()):
        n = ref.index(eos) + 1 if eos in ref else len(ref)
        assert mine[:n] == ref[:n] and set(mine[n:]) <= {eos}


# -- bad input -------------------------------------------------------------------------------------------

GOOD = markov_step_fn(P_GREEDY_TRAP)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda: sample(GOOD, 2, BOS, EOS, 3, temperature=-0.5),
            ValueError,
            r"'temperature' must be a finite number >= 0, got -0.5",
        ),
        (lambda: sample(GOOD, 2, BOS, EOS, 3, temperature=float("nan")), ValueError, r"'temperature'.*got nan"),
        (
            lambda: sample(GOOD, 2, BOS, EOS, 3, temperature="hot"),
            TypeError,
            r"'temperature' must be a real number >= 0, got str",
        ),
        (
            lambda: sample(GOOD, 2, BOS, EOS, 3, top_k=0),
            ValueError,
            r"sample: 'top_k' must be an int >= 1 \(or None\), got 0",
        ),
        (lambda: sample(GOOD, 2, BOS, EOS, 3, top_k=2.5), ValueError, r"'top_k' must be an int >= 1.*got 2.5"),
        (
            lambda: sample(GOOD, 2, BOS, EOS, 3, top_p=0.0),
            ValueError,
            r"sample: 'top_p' must be a number in \(0, 1\] \(or None\), got 0.0",
        ),
        (lambda: sample(GOOD, 2, BOS, EOS, 3, top_p=1.5), ValueError, r"'top_p' must be a number in \(0, 1\].*got 1.5"),
        (
            lambda: sample(GOOD, 2, BOS, EOS, 3, generator=0),
            TypeError,
            r"'generator' must be a torch.Generator or None, got int",
        ),
        (lambda: sample(GOOD, 0, BOS, EOS, 3), ValueError, r"sample: 'batch_size' must be a positive int, got 0"),
        (lambda: sample(GOOD, 2, BOS, EOS, 0), ValueError, r"sample: 'max_len' must be a positive int, got 0"),
        (
            lambda: greedy_decode(GOOD, 2, BOS, EOS, 0),
            ValueError,
            r"greedy_decode: 'max_len' must be a positive int, got 0",
        ),
        (lambda: greedy_decode(GOOD, 2.0, BOS, EOS, 3), ValueError, r"'batch_size' must be a positive int, got 2.0"),
        (
            lambda: greedy_decode("model", 2, BOS, EOS, 3),
            TypeError,
            r"'step_fn' must be a callable prefix \(B, T\) -> logits \(B, V\), got str",
        ),
        (
            lambda: greedy_decode(GOOD, 2, -1, EOS, 3),
            ValueError,
            r"'bos_id' must be a token id \(an int >= 0\), got -1",
        ),
        (
            lambda: greedy_decode(GOOD, 2, BOS, 4, 3),
            ValueError,
            r"'eos_id' must be a token id in \[0, 4\) \(step_fn returned V = 4 logits\), got 4",
        ),
        (
            lambda: beam_search(GOOD, BOS, EOS, 3, beam_size=0),
            ValueError,
            r"beam_search: 'beam_size' must be a positive int, got 0",
        ),
        (lambda: beam_search(GOOD, BOS, EOS, 0), ValueError, r"beam_search: 'max_len' must be a positive int, got 0"),
        (
            lambda: beam_search(GOOD, BOS, EOS, 3, length_penalty=float("inf")),
            ValueError,
            r"'length_penalty' \(alpha\) must be a finite real number, got inf",
        ),
        (lambda: beam_search(GOOD, BOS, EOS, 3, length_penalty="long"), ValueError, r"'length_penalty'.*got 'long'"),
        (lambda: top_k_filter(torch.zeros(3), 0), ValueError, r"top_k_filter: 'k' must be an int >= 1, got 0"),
        (
            lambda: top_p_filter(torch.zeros(3), 1.01),
            ValueError,
            r"top_p_filter: 'p' must be a number in \(0, 1\], got 1.01",
        ),
        (lambda: top_k_filter([1.0, 2.0], 1), TypeError, r"top_k_filter: 'logits' must be a torch.Tensor, got list"),
        (
            lambda: top_p_filter(torch.arange(3), 0.5),
            TypeError,
            r"top_p_filter: 'logits' must have a floating-point dtype, got int64",
        ),
        (
            lambda: top_k_filter(torch.tensor(1.0), 1),
            ValueError,
            r"'logits' expected shape \(..., V\) with V >= 1, got \(\)",
        ),
    ],
)
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize(
    "step_fn, error, match",
    [
        (
            lambda p: torch.zeros(p.shape[0], 4, 1),
            ValueError,
            r"'step_fn' must return logits of shape \({B}, V\) for a prefix of shape \({B}, 1\), got \({B}, 4, 1\)",
        ),
        (
            lambda p: torch.zeros(p.shape[0] + 1, 4),
            ValueError,
            r"'step_fn' must return logits of shape \({B}, V\) for a prefix of shape \({B}, 1\), got \({B1}, 4\)",
        ),
        (
            lambda p: torch.zeros(p.shape[0], 3 + p.shape[1]),
            ValueError,  # V changes at the second step
            r"'step_fn' must return logits of shape \(\d, 4\) for a prefix of shape \(\d, 2\), got \(\d, 5\)",
        ),
        (
            lambda p: torch.zeros(p.shape[0], 4, dtype=torch.long),
            TypeError,
            r"'step_fn' must return floating-point logits, got dtype int64",
        ),
        (
            lambda p: np.zeros((p.shape[0], 4)),
            TypeError,
            r"'step_fn' must return a torch.Tensor of logits \(B, V\), got ndarray",
        ),
    ],
)
@pytest.mark.parametrize("decoder", ["greedy_decode", "sample", "beam_search"])
def test_step_fn_returning_the_wrong_thing(step_fn, error, match, decoder):
    calls = {
        "greedy_decode": lambda: greedy_decode(step_fn, 2, BOS, EOS, 3),
        "sample": lambda: sample(step_fn, 2, BOS, EOS, 3),
        "beam_search": lambda: beam_search(step_fn, BOS, EOS, 3, beam_size=2),  # the beam starts with 1 row
    }
    rows = 1 if decoder == "beam_search" else 2
    match = match.replace("{B}", str(rows)).replace("{B1}", str(rows + 1))
    with pytest.raises(error, match=rf"^{decoder}: {match}$"):
        calls[decoder]()
