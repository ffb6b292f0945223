"""bigmodel_lib.memorization: canary insertion, log-perplexity, greedy extraction and exposure."""

import math

import numpy as np
import pytest
import torch

from bigmodel_lib.memorization import (
    canary_rank,
    exposure,
    exposure_from_rank,
    extrapolated_exposure,
    greedy_continuation,
    insert_canaries,
    log_perplexity,
    random_secret,
)

TEXT = "first line\nsecond line\nthird line\n"


def test_random_secret_is_spaced_digits_and_reproducible():
    secret = random_secret(np.random.default_rng(3), 6)
    assert len(secret) == 11 and secret.replace(" ", "").isdigit()
    assert secret == random_secret(np.random.default_rng(3), 6)


def test_insert_canaries_counts_lengths_and_keeps_the_text():
    canaries = {"secret a 1 2": 3, "secret b 9 9": 1, "never": 0}
    out = insert_canaries(TEXT, canaries, seed=1)
    assert len(out) == len(TEXT) + 3 * len("secret a 1 2\n") + len("secret b 9 9\n")
    lines = out.split("\n")
    assert lines.count("secret a 1 2") == 3 and lines.count("secret b 9 9") == 1 and "never" not in out
    assert [line for line in lines if not line.startswith("secret")] == TEXT.split("\n")  # the text, in order
    assert out == insert_canaries(TEXT, canaries, seed=1)
    with pytest.raises(ValueError, match="single line"):
        insert_canaries(TEXT, {"two\nlines": 1})
    with pytest.raises(ValueError, match="newline"):
        insert_canaries("no newline", {"x": 1})


class Bigram(torch.nn.Module):
    """logits[t] = table[ids[t]]: a causal model whose probabilities are known by hand."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table = table  # (V, V) log-probabilities of the next token given this one

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.table[ids]  # (B, T) -> (B, T, V)


def test_log_perplexity_and_greedy_continuation_of_a_bigram_model():
    probs = torch.tensor([[0.1, 0.6, 0.3], [0.2, 0.2, 0.6], [0.7, 0.2, 0.1]], dtype=torch.float64)
    model = Bigram(probs.log())
    prefix = torch.tensor([0])
    continuations = torch.tensor([[1, 2], [2, 0], [0, 0]])
    got = log_perplexity(model, prefix, continuations)
    expected = [-math.log2(0.6 * 0.6), -math.log2(0.3 * 0.7), -math.log2(0.1 * 0.1)]
    np.testing.assert_allclose(got, expected)
    assert greedy_continuation(model, prefix, 4).tolist() == [1, 2, 0, 1]  # argmax chain 0 -> 1 -> 2 -> 0 -> 1
    assert greedy_continuation(model, prefix, 2, block_size=1).tolist() == [1, 2]


def test_rank_and_exposure_bounds():
    candidates = np.array([5.0, 7.0, 9.0, 11.0])
    assert canary_rank(4.0, candidates) == 1
    assert canary_rank(8.0, candidates) == 3
    assert canary_rank(12.0, candidates) == 5
    assert exposure(4.0, candidates) == pytest.approx(math.log2(5))  # the most likely: log2 |R|
    assert exposure(12.0, candidates) == pytest.approx(0.0)  # the least likely: 0 bits
    assert exposure(8.0, candidates) == pytest.approx(math.log2(5) - math.log2(3))
    assert exposure_from_rank(1, 10**6) == pytest.approx(6 * math.log2(10))
    with pytest.raises(ValueError, match="rank"):
        exposure_from_rank(0, 10)
    with pytest.raises(ValueError, match="space_size"):
        exposure_from_rank(11, 10)


def test_exposure_grows_as_the_canary_becomes_more_likely():
    candidates = np.random.default_rng(0).normal(40.0, 3.0, size=999)
    values = [exposure(x, candidates) for x in (50.0, 40.0, 35.0, 30.0, 20.0)]
    assert values == sorted(values) and values[-1] == pytest.approx(math.log2(1000))
    extrapolated = [extrapolated_exposure(x, candidates) for x in (40.0, 30.0, 20.0)]
    assert extrapolated == sorted(extrapolated)
    assert extrapolated[-1] > math.log2(1000)  # beyond every sample: the fitted tail goes further than counting
    assert extrapolated[0] == pytest.approx(1.0, abs=0.2)  # at the median about half the space is more likely
