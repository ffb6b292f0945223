"""Notebook 03.6 exercises: the answers agree with an independent computation, rounded or tied answers
pass, each named slip is named only when it differs from the right answer, and ``use()`` switches the
cross-attention exercise to a model's own capture."""

import numpy as np
import pytest
import torch

from bigmodel_lib import nn_torch
from bigmodel_lib.exercises import ch03_explorer
from bigmodel_lib.exercises.core import Exercise
from bigmodel_lib.viz.capture import capture_attention

EXERCISES = [getattr(ch03_explorer, name) for name in ch03_explorer.__all__
             if isinstance(getattr(ch03_explorer, name), Exercise)]


def verdict(exercise, answer):
    return exercise.checker(answer)


@pytest.fixture(autouse=True)
def example_weights():
    """Every test starts (and leaves the module) with the built-in example, whatever it bound."""
    ch03_explorer.strongest_source.use_example()
    yield
    ch03_explorer.strongest_source.use_example()


def test_every_exercise_of_the_notebook_is_listed():
    assert {exercise.key for exercise in EXERCISES} == {"ch03_explorer.strongest_source",
                                                        "ch03_explorer.padding_zeros"}


# -- strongest source position ------------------------------------------------------------------------------

def example_mean():
    return ch03_explorer.EXAMPLE_CROSS_ATTENTION[-1].mean(axis=0)  # (Lq, Lk)


def test_strongest_source_reference_is_the_argmax_of_the_last_layers_mean():
    expected = example_mean().argmax(axis=-1).tolist()
    assert ch03_explorer.strongest_source.reference() == expected
    ok, feedback = verdict(ch03_explorer.strongest_source, expected)
    assert ok
    # the success message says what was checked, and counts the reversal from the weights, not by assumption
    assert "largest weight of the last layer's cross-attention, mean over 4 heads" in feedback
    reversal = sum(j == 5 - t for t, j in enumerate(expected))
    assert reversal < 6 and f"{reversal} of 6 are L-1-t" in feedback
    assert "decoder position 4 attends most elsewhere" in feedback
    assert "EXAMPLE_CROSS_ATTENTION" in feedback


def test_strongest_source_accepts_arrays_tensors_and_ties_within_the_stated_tolerance():
    expected = example_mean().argmax(axis=-1)
    assert verdict(ch03_explorer.strongest_source, expected)[0]  # a NumPy int array
    assert verdict(ch03_explorer.strongest_source, torch.tensor(expected))[0]
    tied = np.array(ch03_explorer.EXAMPLE_CROSS_ATTENTION)
    tied[-1, :, 0, 0] = tied[-1, :, 0, expected[0]] - 0.004  # source 0 within 0.005 of the best for query 0
    ch03_explorer.strongest_source.use(tied)
    other = [0] + expected.tolist()[1:]
    assert verdict(ch03_explorer.strongest_source, other)[0]
    tied[-1, :, 0, 0] = tied[-1, :, 0, expected[0]] - 0.01  # beyond the tolerance: not a tie any more
    ch03_explorer.strongest_source.use(tied)
    ok, feedback = verdict(ch03_explorer.strongest_source, other)
    assert not ok and "decoder position 0 attends most" in feedback


def test_strongest_source_names_each_slip_only_when_it_fits_the_slip_and_not_the_question():
    weights = ch03_explorer.EXAMPLE_CROSS_ATTENTION
    mean = example_mean()
    head_0 = weights[-1, 0].argmax(axis=-1).tolist()
    layer_0 = weights[0].mean(axis=0).argmax(axis=-1).tolist()
    by_columns = mean.argmax(axis=0).tolist()
    right = mean.argmax(axis=-1).tolist()
    assert len({tuple(head_0), tuple(layer_0), tuple(by_columns), tuple(right)}) == 4  # distinguishable here
    for wrong, message in [(head_0, "head 0 alone"), (layer_0, "layer 0"), (by_columns, "by columns")]:
        ok, feedback = verdict(ch03_explorer.strongest_source, wrong)
        assert not ok and message in feedback, feedback
    # the reversal guessed from the task, where the layer's mean attends elsewhere, is named as such
    ok, feedback = verdict(ch03_explorer.strongest_source, [5, 4, 3, 2, 1, 0])
    assert not ok and "that is the reversal" in feedback and "decoder position 4 differs" in feedback
    ok, feedback = verdict(ch03_explorer.strongest_source, [5, 4, 3, 2, 0, 1])  # no slip fits: the rows are named
    assert not ok and feedback.startswith("decoder position 5 attends most to another source position"), feedback


def test_a_slip_that_gives_the_right_answer_is_accepted_not_named():
    # every head and every layer with the same anti-diagonal: reading a single head or by columns is right too
    reverse = np.full((2, 4, 5, 5), 0.05)
    reverse[..., np.arange(5), 4 - np.arange(5)] = 0.8
    ch03_explorer.strongest_source.use(reverse)
    ok, feedback = verdict(ch03_explorer.strongest_source, [4, 3, 2, 1, 0])
    assert ok and "Every one is L-1-t" in feedback


def test_strongest_source_rejects_wrong_lengths_and_positions():
    assert "6 ints, got 3" in verdict(ch03_explorer.strongest_source, [5, 4, 3])[1]
    assert "run from 0 to 5" in verdict(ch03_explorer.strongest_source, [5, 4, 3, 2, 1, 9])[1]


def test_use_takes_a_capture_of_a_library_transformer_and_updates_the_prompt():
    torch.manual_seed(0)
    model = nn_torch.Transformer(10, 11, 16, 2, 32, 1, 2, norm_first=True, max_len=8, pad_id=None).eval()
    source = torch.randint(0, 10, (1, 7))
    target_in = torch.randint(0, 11, (1, 7))
    with torch.no_grad(), capture_attention(model) as att:
        model(source, target_in)
    ch03_explorer.strongest_source.use(att)
    assert "t = 0..6" in ch03_explorer.strongest_source.prompt
    assert "layer 1" in ch03_explorer.strongest_source.prompt  # two decoder layers: the last is layer 1
    expected = att.stack("cross")[-1].mean(axis=0).argmax(axis=-1).tolist()
    ok, feedback = verdict(ch03_explorer.strongest_source, expected)
    assert ok and "in your model" in feedback


def test_use_rejects_what_is_not_attention():
    with pytest.raises(ValueError):
        ch03_explorer.strongest_source.use(np.ones((4, 4)))
    with pytest.raises(ValueError):
        ch03_explorer.strongest_source.use(-np.ones((1, 1, 4, 4)))


# -- zeros from a causal mask and padding --------------------------------------------------------------------

def test_padding_zeros_equals_a_count_with_torch_masks():
    length, real = ch03_explorer.PADDING_LENGTH, ch03_explorer.PADDING_REAL
    allowed = torch.tril(torch.ones(length, length, dtype=torch.bool)) & (torch.arange(length) < real)[None, :]
    x = torch.randn(1, length, 8, dtype=torch.float64)
    weights = torch.softmax((x @ x.transpose(1, 2)).masked_fill(~allowed, float("-inf")), dim=-1)
    count = int((weights == 0).sum())
    assert count == 18 == ch03_explorer.padding_zeros.reference()
    assert verdict(ch03_explorer.padding_zeros, count)[0]
    assert verdict(ch03_explorer.padding_zeros, 18.0)[0]


@pytest.mark.parametrize(
    "wrong, message",
    [(15, "causal triangle alone"), (12, "<pad> columns alone"), (27, "twice"), (26, "the <pad> rows"),
     (19, "is not 19")],
)
def test_padding_zeros_names_the_usual_slips(wrong, message):
    ok, feedback = verdict(ch03_explorer.padding_zeros, wrong)
    assert not ok and message in feedback, feedback
