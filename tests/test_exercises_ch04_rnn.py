"""Chapter 04 (RNN, seq2seq) exercises: references pass, checked independently; the usual slips are named."""

import datetime as dt

import numpy as np
import torch

from bigmodel_lib.data.dates import format_date
from bigmodel_lib.exercises import ch04_rnn
from bigmodel_lib.exercises.core import Exercise
from bigmodel_lib.nn_numpy.seq2seq import Seq2Seq

EXERCISES = [getattr(ch04_rnn, name) for name in ch04_rnn.__all__ if isinstance(getattr(ch04_rnn, name), Exercise)]


def test_every_exercise_of_the_notebooks_is_listed():
    assert len(EXERCISES) == 5 and len({e.key for e in EXERCISES}) == 5


def test_lstm_parameter_count_matches_torch_and_names_the_slips():
    lstm = torch.nn.LSTM(ch04_rnn.LSTM_INPUT, ch04_rnn.LSTM_HIDDEN)
    count = sum(p.numel() for p in lstm.parameters())
    assert ch04_rnn.lstm_parameter_count.checker(count)[0]
    h, i = ch04_rnn.LSTM_HIDDEN, ch04_rnn.LSTM_INPUT
    ok, feedback = ch04_rnn.lstm_parameter_count.checker(4 * (h * (i + h) + h))
    assert not ok and "two bias vectors" in feedback
    ok, feedback = ch04_rnn.lstm_parameter_count.checker(h * (i + h) + 2 * h)
    assert not ok and "four" in feedback


def test_bptt_steps_and_the_off_by_one():
    assert ch04_rnn.bptt_steps.checker(ch04_rnn.BPTT_LENGTH - 1)[0]
    ok, feedback = ch04_rnn.bptt_steps.checker(ch04_rnn.BPTT_LENGTH)
    assert not ok and "off by one" in feedback


def test_lstm_cell_update_matches_torch_lstm_cell():
    """Gates become pre-activations (logit / artanh) in the biases of a cell with zero weights."""
    g = ch04_rnn.CELL_GATES
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    bias = np.concatenate([logit(g["i"]), logit(g["f"]), np.arctanh(g["g"]), logit(g["o"])])
    cell = torch.nn.LSTMCell(1, 2).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.zero_()
        cell.bias_ih.copy_(torch.from_numpy(bias))
    h, c = cell(torch.zeros(1, 1, dtype=torch.float64),
                (torch.zeros(1, 2, dtype=torch.float64), torch.from_numpy(ch04_rnn.CELL_C_PREV)[None]))
    answer = np.stack([c[0].detach().numpy(), h[0].detach().numpy()])
    assert ch04_rnn.lstm_cell_update.checker(answer)[0]
    ok, feedback = ch04_rnn.lstm_cell_update.checker(np.stack([answer[0], g["o"] * answer[0]]))
    assert not ok and "tanh" in feedback


def test_date_conversion_matches_the_dataset_and_names_the_conventions():
    dates = [dt.date(2068, 3, 3), dt.date(1999, 5, 4), dt.date(1984, 10, 21)]
    formats = ["Mon D, YY", "DD.MM.YY", "中文年月日"]
    assert [format_date(d, f) for d, f in zip(dates, formats)] == list(ch04_rnn.DATES_TO_CONVERT)
    assert ch04_rnn.date_conversion.checker([d.isoformat() for d in dates])[0]
    ok, feedback = ch04_rnn.date_conversion.checker(["1968-03-03", "1999-04-05", "1984-10-21"])
    assert not ok and "2068" in feedback and "day first" in feedback


def test_attention_weight_sum_matches_a_model():
    steps, length, padding = (ch04_rnn.ATTENTION_TARGET_STEPS, ch04_rnn.ATTENTION_SOURCE_LENGTH,
                              ch04_rnn.ATTENTION_SOURCE_PADDING)
    model = Seq2Seq(10, 6, 4, 5, rng=np.random.default_rng(0))
    src = np.full((1, length), 4)
    mask = np.arange(length)[None] < length - padding
    src[~mask] = 0
    _, weights = model(src, np.full((1, steps), 1), mask)
    assert ch04_rnn.attention_weight_sum.checker(float(weights[0].sum()))[0]
    ok, feedback = ch04_rnn.attention_weight_sum.checker(float(length - padding))
    assert not ok and "ROW" in feedback


def test_counts_are_exact_ints():
    count = ch04_rnn.lstm_parameter_count.reference()
    assert "exact int" in ch04_rnn.lstm_parameter_count.prompt and "exact int" in ch04_rnn.bptt_steps.prompt
    assert ch04_rnn.lstm_parameter_count.checker(float(count))[0]  # 2560.0 is the same whole number
    assert ch04_rnn.lstm_parameter_count.checker(np.int64(count))[0]
    assert ch04_rnn.lstm_parameter_count.check(count + 0.4) is False  # not a whole number: rejected, not rounded
    ok, feedback = ch04_rnn.lstm_parameter_count.checker(count + 1)
    assert not ok and "is not" in feedback
    ok, feedback = ch04_rnn.lstm_parameter_count.checker(count)
    assert ok and str(count) in feedback and "exactly" in feedback


def test_lstm_cell_update_accepts_three_decimals_and_names_only_distinct_slips():
    assert "3 decimal places" in ch04_rnn.lstm_cell_update.prompt
    exact = ch04_rnn.lstm_cell_update.reference()
    assert ch04_rnn.lstm_cell_update.checker(np.round(exact, 3))[0]
    assert ch04_rnn.lstm_cell_update.checker(np.round(exact, 3).tolist())[0]
    assert not ch04_rnn.lstm_cell_update.checker(np.round(exact, 2) + 0.002)[0]
    ok, feedback = ch04_rnn.lstm_cell_update.checker(np.round(exact, 3))
    assert "0.0005" in feedback
    g, c_prev = ch04_rnn.CELL_GATES, ch04_rnn.CELL_C_PREV
    swapped_c = g["i"] * c_prev + g["f"] * g["g"]
    no_memory_c = g["i"] * g["g"]
    slips = {
        "tanh": np.stack([exact[0], g["o"] * exact[0]]),
        "OLD cell state": np.stack([swapped_c, g["o"] * np.tanh(swapped_c)]),
        "not replaced": np.stack([no_memory_c, g["o"] * np.tanh(no_memory_c)]),
    }
    for word, value in slips.items():
        # far from the right answer (beyond twice the tolerance), and still named when rounded as asked
        assert np.abs(value - exact).max() > 2 * 5e-4
        ok, feedback = ch04_rnn.lstm_cell_update.checker(np.round(value, 3))
        assert not ok and word in feedback, (word, feedback)


def test_attention_weight_sum_tolerance_and_slips():
    assert "1e-4" in ch04_rnn.attention_weight_sum.prompt
    steps = ch04_rnn.ATTENTION_TARGET_STEPS
    assert ch04_rnn.attention_weight_sum.checker(steps)[0]
    assert ch04_rnn.attention_weight_sum.checker(np.float32(steps) - np.float32(3e-6))[0]  # a float32 sum
    assert not ch04_rnn.attention_weight_sum.checker(steps + 0.01)[0]
    for answer, word in [(ch04_rnn.ATTENTION_SOURCE_LENGTH, "padded positions"), (1, "number of rows")]:
        ok, feedback = ch04_rnn.attention_weight_sum.checker(answer)
        assert not ok and word in feedback


def test_date_conversion_success_says_what_was_checked():
    ok, feedback = ch04_rnn.date_conversion.checker(ch04_rnn.date_conversion.reference())
    assert ok and "2068-03-03" in feedback and "exactly" in feedback
    ok, feedback = ch04_rnn.date_conversion.checker(["2068-3-3", "1999-05-04", "1984-10-21"])
    assert not ok and "2068-3-3" in feedback
