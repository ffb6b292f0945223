"""Chapter 03 exercises: the reference solutions pass, the usual slips fail with a message naming them."""

import math

import numpy as np
import pytest
import torch

from bigmodel_lib import nn_numpy, nn_torch
from bigmodel_lib.exercises import ch03
from bigmodel_lib.exercises.core import Exercise

EXERCISES = [getattr(ch03, name) for name in ch03.__all__ if isinstance(getattr(ch03, name), Exercise)]


def softmax(x):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def verdict(exercise, answer):
    ok, feedback = exercise.checker(answer)
    return ok, feedback


def test_every_exercise_of_the_chapter_is_listed():
    assert len(EXERCISES) == 7
    assert len({exercise.key for exercise in EXERCISES}) == 7


# -- attention weights by hand ------------------------------------------------------------------------

def test_weights_by_hand_match_an_independent_torch_computation():
    q = torch.tensor(ch03.TINY_QUERY)
    k = torch.tensor(ch03.TINY_KEYS)
    expected = torch.softmax(k @ q / math.sqrt(q.shape[-1]), dim=-1)
    assert verdict(ch03.attention_weights_by_hand, expected)[0]
    assert verdict(ch03.attention_weights_by_hand, expected.numpy().round(3))[0]  # three decimals, as asked
    assert verdict(ch03.attention_weights_by_hand, expected.numpy().round(2))[0] is False  # two are not enough


def test_weights_by_hand_match_the_library():
    _, weights = nn_numpy.scaled_dot_product_attention(ch03.TINY_QUERY[None], ch03.TINY_KEYS, ch03.TINY_KEYS,
                                                      need_weights=True)
    assert verdict(ch03.attention_weights_by_hand, weights[0])[0]


def test_weights_by_hand_is_not_the_worked_example_of_notebook_03_1():
    # 03.1 works through d_k = 2 and three keys by hand; the exercise must not be that computation again
    assert ch03.TINY_QUERY.shape != (2,) and ch03.TINY_KEYS.shape != (3, 2)


def test_weights_by_hand_rounded_answer_is_right_and_names_no_mistake():
    rounded = softmax(ch03.TINY_KEYS @ ch03.TINY_QUERY / 2).round(3)
    ok, feedback = verdict(ch03.attention_weights_by_hand, rounded)
    assert ok and "matches" in feedback


SLIPS_BY_HAND = [
    (lambda s: softmax(s), "without the 1/sqrt(d_k)"),
    (lambda s: softmax(s / 4), "divided by d_k"),
    (lambda s: softmax(s / math.sqrt(2)), "sqrt(2)"),
    (lambda s: s / 2, "softmax turns them into weights"),
    (lambda s: s / s.sum(), "not a softmax"),
]


@pytest.mark.parametrize("wrong, message", SLIPS_BY_HAND)
def test_weights_by_hand_name_the_usual_slips(wrong, message):
    scores = ch03.TINY_KEYS @ ch03.TINY_QUERY
    ok, feedback = verdict(ch03.attention_weights_by_hand, wrong(scores))
    assert not ok and message in feedback
    # ... also when the slip is rounded to three decimals, as the prompt asks
    ok, feedback = verdict(ch03.attention_weights_by_hand, wrong(scores).round(3))
    assert not ok and message in feedback


@pytest.mark.parametrize("wrong, message", SLIPS_BY_HAND)
def test_weights_by_hand_slips_are_far_from_the_right_answer(wrong, message):
    # a slip is named only if no answer can be within the tolerance of both it and the right answer
    scores = ch03.TINY_KEYS @ ch03.TINY_QUERY
    assert np.max(np.abs(wrong(scores) - softmax(scores / 2))) > 2 * 5e-4, message


def test_weights_by_hand_reject_the_wrong_shape():
    ok, feedback = verdict(ch03.attention_weights_by_hand, np.ones((1, 4)) / 4)
    assert not ok and "shape (4,)" in feedback


# -- variance of q·k ----------------------------------------------------------------------------------

def test_score_variance_agrees_with_a_simulation():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((200_000, ch03.VARIANCE_D_K))
    k = rng.standard_normal((200_000, ch03.VARIANCE_D_K))
    simulated = np.var(np.sum(q * k, axis=-1))
    assert simulated == pytest.approx(ch03.score_variance.reference(), rel=0.02)


def test_score_variance_accepts_the_exact_int_and_rejects_a_simulation():
    assert verdict(ch03.score_variance, ch03.VARIANCE_D_K)[0]
    ok, feedback = verdict(ch03.score_variance, 63.7)  # what a simulation prints: close, but not the derivation
    assert not ok and "off by" in feedback


@pytest.mark.parametrize("wrong, message", [(8.0, "standard deviation"), (1.0, "after dividing"), (128.0, "not 2")])
def test_score_variance_names_the_usual_slips(wrong, message):
    ok, feedback = verdict(ch03.score_variance, wrong)
    assert not ok and message in feedback


# -- softmax Jacobian ---------------------------------------------------------------------------------

def test_softmax_jacobian_matches_autograd():
    logits = torch.tensor(ch03.JACOBIAN_LOGITS, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(lambda z: torch.softmax(z, dim=-1), logits)
    assert verdict(ch03.softmax_jacobian, jacobian)[0]


def test_softmax_jacobian_rounded_to_three_decimals_passes():
    s = softmax(ch03.JACOBIAN_LOGITS)
    assert verdict(ch03.softmax_jacobian, (np.diag(s) - np.outer(s, s)).round(3))[0]


def test_softmax_jacobian_names_the_usual_slips():
    s = softmax(ch03.JACOBIAN_LOGITS)
    for wrong, message in [(np.outer(s, s) - np.diag(s), "sign is flipped"), (np.diag(s), "off-diagonal"),
                           (np.outer(s, s), "s s^T alone")]:
        ok, feedback = verdict(ch03.softmax_jacobian, wrong)
        assert not ok and message in feedback


# -- causal mask --------------------------------------------------------------------------------------

def test_causal_mask_accepts_torch_and_numpy_forms():
    length = ch03.CAUSAL_MASK_LENGTH
    assert verdict(ch03.causal_mask, torch.ones(length, length, dtype=torch.bool).tril())[0]
    assert verdict(ch03.causal_mask, ~np.triu(np.ones((length, length), dtype=bool), k=1))[0]


def test_causal_mask_names_the_usual_slips():
    good = ch03.causal_mask.reference()
    cases = [
        (~good, "convention is flipped"),
        (good.T, "future keys"),
        (np.tril(good, k=-1), "diagonal is missing"),
        (good.astype(np.float32), "bool array"),
        (good[:3, :3], "shape (4, 4)"),
    ]
    for wrong, message in cases:
        ok, feedback = verdict(ch03.causal_mask, wrong)
        assert not ok and message in feedback, (wrong, feedback)


# -- sinusoidal entry ---------------------------------------------------------------------------------

def _paper_table(max_len, d_model):
    positions = np.arange(max_len)[:, None]
    pairs = np.arange(d_model // 2)[None, :]
    angles = positions / 10000 ** (2 * pairs / d_model)
    table = np.zeros((max_len, d_model))
    table[:, 0::2], table[:, 1::2] = np.sin(angles), np.cos(angles)
    return table


def test_sinusoidal_entry_matches_the_table_built_from_the_paper_formula():
    table = _paper_table(ch03.PE_POSITION + 1, ch03.PE_D_MODEL)
    assert verdict(ch03.sinusoidal_entry, table[ch03.PE_POSITION, ch03.PE_DIMENSION])[0]


def test_sinusoidal_entry_matches_the_library_table():
    table = nn_numpy.sinusoidal_positional_encoding(ch03.PE_POSITION + 1, ch03.PE_D_MODEL, dtype=np.float64)
    assert verdict(ch03.sinusoidal_entry, table[ch03.PE_POSITION, ch03.PE_DIMENSION])[0]


def test_sinusoidal_entry_rounded_to_four_decimals_passes_and_names_no_mistake():
    exact = _paper_table(ch03.PE_POSITION + 1, ch03.PE_D_MODEL)[ch03.PE_POSITION, ch03.PE_DIMENSION]
    ok, feedback = verdict(ch03.sinusoidal_entry, round(exact, 4))
    assert ok and "matches" in feedback
    assert not verdict(ch03.sinusoidal_entry, round(exact, 2))[0]  # the prompt asks for four decimals


def _sinusoidal_slips():
    pos, dim, d = ch03.PE_POSITION, ch03.PE_DIMENSION, ch03.PE_D_MODEL
    two_i = 2 * (dim // 2)
    return [
        (math.sin(pos / 10000 ** (two_i / d)), "so it is a cosine"),
        (math.cos(pos / 10000 ** (dim / d)), "pair index"),
        (math.cos(pos / 10000 ** (2 * dim / d)), "not 2 x"),
        (math.cos(math.radians(pos / 10000 ** (two_i / d))), "degrees"),
    ]


@pytest.mark.parametrize("index", range(4))
def test_sinusoidal_entry_names_the_usual_slips_even_rounded(index):
    wrong, message = _sinusoidal_slips()[index]
    for answer in (wrong, round(wrong, 4)):
        ok, feedback = verdict(ch03.sinusoidal_entry, answer)
        assert not ok and message in feedback, (answer, feedback)


@pytest.mark.parametrize("index", range(4))
def test_sinusoidal_entry_slips_are_far_from_the_right_answer(index):
    wrong, message = _sinusoidal_slips()[index]
    assert abs(wrong - ch03.sinusoidal_entry.reference()) > 2 * 5e-5, message


# -- parameters of multi-head attention ---------------------------------------------------------------

def test_mha_parameter_count_matches_torch_multihead_attention():
    module = torch.nn.MultiheadAttention(ch03.MHA_D_MODEL, ch03.MHA_NUM_HEADS, bias=True)
    count = sum(p.numel() for p in module.parameters())
    assert verdict(ch03.mha_parameter_count, count)[0]
    assert verdict(ch03.mha_parameter_count, np.int64(count))[0]


def test_mha_parameter_count_matches_the_library_layers():
    numpy_layer = nn_numpy.MultiHeadAttention(ch03.MHA_D_MODEL, ch03.MHA_NUM_HEADS)
    torch_layer = nn_torch.MultiHeadAttention(ch03.MHA_D_MODEL, ch03.MHA_NUM_HEADS)
    assert verdict(ch03.mha_parameter_count, numpy_layer.num_parameters())[0]
    assert verdict(ch03.mha_parameter_count, torch_layer.num_parameters())[0]


def test_mha_parameter_count_right_answer_names_no_mistake():
    ok, feedback = verdict(ch03.mha_parameter_count, 4 * (ch03.MHA_D_MODEL**2 + ch03.MHA_D_MODEL))
    assert ok and "matches" in feedback


def test_mha_parameter_count_names_the_usual_slips():
    d, h = ch03.MHA_D_MODEL, ch03.MHA_NUM_HEADS
    cases = [
        (4 * d * d, "bias"),
        (h * 3 * (d * d + d) + d * d + d, "for every head"),
        (3 * (d * d + d), "output projection"),
        (4 * (d * d + d) + 1, "off by"),
    ]
    for wrong, message in cases:
        ok, feedback = verdict(ch03.mha_parameter_count, wrong)
        assert not ok and message in feedback


# -- memory of the attention matrix -------------------------------------------------------------------

def test_attention_matrix_memory_matches_an_allocated_array():
    length, heads = 256, 2  # a small cousin of the exercise, measured rather than computed
    weights = np.zeros((heads, length, length), dtype=np.float32)
    per_value = weights.nbytes / weights.size
    expected_mib = ch03.ATTENTION_MEMORY_HEADS * ch03.ATTENTION_MEMORY_LENGTH**2 * per_value / 2**20
    assert verdict(ch03.attention_matrix_memory, expected_mib)[0]


def test_attention_matrix_memory_names_the_usual_slips():
    values = ch03.ATTENTION_MEMORY_HEADS * ch03.ATTENTION_MEMORY_LENGTH**2
    cases = [
        (ch03.ATTENTION_MEMORY_LENGTH**2 * 4 / 2**20, "one head"),
        (values / 2**20, "4 bytes per value"),
        (values * 8 / 2**20, "float64"),
        (values * 4, "in MiB"),
        (values * 4 / 1e6, "off by"),
    ]
    for wrong, message in cases:
        ok, feedback = verdict(ch03.attention_matrix_memory, wrong)
        assert not ok and message in feedback
