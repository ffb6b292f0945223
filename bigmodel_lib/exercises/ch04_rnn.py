"""Chapter 04 exercises on recurrent networks and seq2seq (notebooks 04.2 and 04.3).

::

    from bigmodel_lib.exercises import ch04_rnn
    print(ch04_rnn.lstm_parameter_count.prompt)
    ch04_rnn.lstm_parameter_count.check(my_answer)

Each prompt says how exact the answer must be (counts as exact ints, the LSTM cell to 3 decimal places,
dates as exact strings), and the checker accepts exactly that. It names the usual slips (one bias
instead of two, one gate instead of four, an off-by-one in the number of BPTT steps, month-first
dates, the two-digit-year pivot ...) when the slip gives a value of its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bigmodel_lib.exercises.core import Exercise, Verdict, close_to_or_known_mistake, exact_or_known_mistake

__all__ = [
    "ATTENTION_SOURCE_LENGTH",
    "ATTENTION_SOURCE_PADDING",
    "ATTENTION_TARGET_STEPS",
    "BPTT_LENGTH",
    "CELL_C_PREV",
    "CELL_GATES",
    "DATES_TO_CONVERT",
    "LSTM_HIDDEN",
    "LSTM_INPUT",
    "attention_weight_sum",
    "bptt_steps",
    "date_conversion",
    "lstm_cell_update",
    "lstm_parameter_count",
]

#: Half a unit in the third decimal, and a hair more so that floating point cannot reject an answer rounded
#: to three decimals.
_THREE_DECIMALS = 5e-4 * (1 + 1e-6)


def _as_count(answer: Any) -> int:
    """A whole number (``2560``, ``2560.0``, ``np.int64(2560)``) as an int; anything else is a TypeError."""
    if isinstance(answer, bool) or not isinstance(answer, (int, np.integer, float, np.floating)):
        raise TypeError(f"expected a whole number, got {type(answer).__name__}")
    if float(answer) != int(answer):
        raise TypeError(f"a count is a whole number, got {answer!r}")
    return int(answer)


# -- 1. parameters of an LSTM ------------------------------------------------------------------------------------

LSTM_INPUT, LSTM_HIDDEN = 10, 20


def _lstm_parameters(gates: int = 4, biases: int = 2) -> int:
    return gates * (LSTM_HIDDEN * (LSTM_INPUT + LSTM_HIDDEN) + biases * LSTM_HIDDEN)


lstm_parameter_count = Exercise(
    key="ch04_rnn.lstm_parameter_count",
    prompt=(
        f"How many trainable parameters does torch.nn.LSTM(input_size={LSTM_INPUT}, hidden_size={LSTM_HIDDEN}) "
        "(one layer) have?\n(Its state_dict holds weight_ih_l0, weight_hh_l0, bias_ih_l0 and bias_hh_l0.) "
        "An exact int."
    ),
    checker=exact_or_known_mistake(
        _lstm_parameters,
        {
            "that counts one gate; an LSTM has four (i, f, g, o) stacked in each matrix": lambda: _lstm_parameters(1),
            "PyTorch keeps two bias vectors per gate (bias_ih and bias_hh), you counted one": lambda: _lstm_parameters(
                4, 1),
            "the biases are missing: 2 x 4H of them": lambda: _lstm_parameters(4, 0),
            "that is a GRU's count (three gates)": lambda: _lstm_parameters(3),
        },
        _as_count,
        what="parameter count",
    ),
    hints=[
        "weight_ih_l0 is (4H, input_size), weight_hh_l0 is (4H, H): four gates stacked.",
        "Add the two biases bias_ih_l0 and bias_hh_l0, each of 4H numbers.",
        "4 * (H * (input + H) + 2 * H) with H = 20, input = 10.",
    ],
    reference=_lstm_parameters,
    solution_text=(
        f"4H x input + 4H x H + 2 x 4H = {4 * LSTM_HIDDEN * LSTM_INPUT} + {4 * LSTM_HIDDEN * LSTM_HIDDEN} + "
        f"{8 * LSTM_HIDDEN} = {_lstm_parameters()}; check with sum(p.numel() for p in lstm.parameters())"
    ),
)


# -- 2. steps of backpropagation through time --------------------------------------------------------------------

BPTT_LENGTH = 50


bptt_steps = Exercise(
    key="ch04_rnn.bptt_steps",
    prompt=(
        f"A vanilla RNN reads x_1 .. x_{BPTT_LENGTH}; the loss looks only at the last state h_{BPTT_LENGTH}.\n"
        f"dL/dh_1 = dL/dh_{BPTT_LENGTH} times a product of Jacobians dh_t/dh_(t-1). How many factors does\n"
        "that product have? (Each one is diag(1 - h_t^2) W_hh -- the reason the gradient vanishes.) An exact int."
    ),
    checker=exact_or_known_mistake(
        lambda: BPTT_LENGTH - 1,
        {
            f"off by one: that is the count back to h_0 (the initial state); from h_{BPTT_LENGTH} back to h_1 "
            f"there are {BPTT_LENGTH - 1} steps (t = 2 .. {BPTT_LENGTH})": lambda: BPTT_LENGTH,
        },
        _as_count,
        what="number of factors",
    ),
    hints=[
        "Write it for a sequence of 3: dL/dh_1 = dL/dh_3 (dh_3/dh_2)(dh_2/dh_1). Count the factors.",
        f"From h_T back to h_1 you step over t = T, T-1, ..., 2: that is T - 1 Jacobians for T = {BPTT_LENGTH}.",
    ],
    reference=lambda: BPTT_LENGTH - 1,
    solution_text=(
        f"{BPTT_LENGTH - 1} factors (t = 2 .. {BPTT_LENGTH}). If each shrinks the gradient by 0.9, "
        f"dL/dh_1 is about 0.9^{BPTT_LENGTH - 1} = {0.9 ** (BPTT_LENGTH - 1):.4f} of dL/dh_{BPTT_LENGTH}."
    ),
)


# -- 3. one LSTM cell update by hand -------------------------------------------------------------------------------

#: Gate values (after their sigmoid / tanh) of a 2-unit LSTM cell, and the previous cell state.
CELL_GATES = {"i": np.array([0.5, 0.1]), "f": np.array([0.9, 0.95]), "g": np.array([0.8, -0.6]),
              "o": np.array([0.7, 0.5])}
CELL_C_PREV = np.array([1.0, 2.0])


def _cell(c_prev: np.ndarray = CELL_C_PREV) -> np.ndarray:
    gates = CELL_GATES
    c = gates["f"] * c_prev + gates["i"] * gates["g"]
    return np.stack([c, gates["o"] * np.tanh(c)])


lstm_cell_update = Exercise(
    key="ch04_rnn.lstm_cell_update",
    prompt=(
        "An LSTM cell with 2 units has gate values i = [0.5, 0.1], f = [0.9, 0.95], g = [0.8, -0.6],\n"
        "o = [0.7, 0.5] (already through sigmoid/tanh; ch04_rnn.CELL_GATES) and c_prev = [1.0, 2.0]\n"
        "(ch04_rnn.CELL_C_PREV). Compute the new cell state c and hidden state h as an array [c, h] of shape (2, 2),\n"
        "to 3 decimal places."
    ),
    checker=close_to_or_known_mistake(
        _cell,
        {
            "h is o * tanh(c), not o * c": lambda: np.stack([_cell()[0], CELL_GATES["o"] * _cell()[0]]),
            "the forget gate multiplies the OLD cell state c_prev, the input gate multiplies g":
                lambda: _swapped_gates(),
            "c is f * c_prev + i * g: the old state is kept (multiplied by f), not replaced": lambda: np.stack(
                [CELL_GATES["i"] * CELL_GATES["g"], CELL_GATES["o"] * np.tanh(CELL_GATES["i"] * CELL_GATES["g"])]),
        },
        rtol=0.0,
        atol=_THREE_DECIMALS,
        what="[c, h]",
    ),
    hints=[
        "c = f * c_prev + i * g (element-wise).",
        "h = o * tanh(c). Stack them: np.stack([c, h]).",
    ],
    reference=_cell,
    solution_text=(
        "c = f*c_prev + i*g = [0.9*1.0 + 0.5*0.8, 0.95*2.0 + 0.1*(-0.6)] = "
        f"{np.round(_cell()[0], 4).tolist()};  h = o*tanh(c) = {np.round(_cell()[1], 4).tolist()}"
    ),
)


def _swapped_gates() -> np.ndarray:
    c = CELL_GATES["i"] * CELL_C_PREV + CELL_GATES["f"] * CELL_GATES["g"]
    return np.stack([c, CELL_GATES["o"] * np.tanh(c)])


# -- 4. converting dates by hand ------------------------------------------------------------------------------------

DATES_TO_CONVERT = ("Mar 3, 68", "04.05.99", "一九八四年十月二十一日")
_ISO = ("2068-03-03", "1999-05-04", "1984-10-21")
_DATE_SLIPS = {
    "1968-03-03": "two-digit years 00-68 mean 2000-2068 in this dataset (Python's %y pivot): 68 -> 2068",
    "1999-04-05": "numeric dates are day first here (DD.MM.YY): 04.05.99 is 4 May 1999",
    "2099-05-04": "99 is 1999: two-digit years 69-99 mean 1969-1999",
    "1984-10-12": "二十一 is 21 (two tens and one), not 12",
    "1984-10-2": "ISO 8601 pads month and day to two digits",
}


def _date_checker(answer: Any) -> Verdict:
    if isinstance(answer, str) or not hasattr(answer, "__len__") or len(answer) != len(_ISO):
        return False, f"give a list of {len(_ISO)} ISO strings, one per date in ch04_rnn.DATES_TO_CONVERT"
    problems = []
    for source, got, want in zip(DATES_TO_CONVERT, answer, _ISO):
        got = str(got).strip()
        if got == want:
            continue
        problems.append(f"{source!r} -> {got!r}: " + _DATE_SLIPS.get(got, "not the date it stands for (YYYY-MM-DD)"))
    if not problems:
        return True, f"all {len(_ISO)} dates are the right ISO strings: {', '.join(_ISO)} (checked exactly)"
    return False, "; ".join(problems)


date_conversion = Exercise(
    key="ch04_rnn.date_conversion",
    prompt=(
        "Convert the three dates of ch04_rnn.DATES_TO_CONVERT = "
        f"{list(DATES_TO_CONVERT)} to ISO 8601 (YYYY-MM-DD),\n"
        "with the conventions of bigmodel_lib.data.dates (numeric dates day first; two-digit years "
        "69-99 -> 19xx, 00-68 -> 20xx).\nAnswer with a list of three strings, each exactly YYYY-MM-DD "
        "(zero-padded)."
    ),
    checker=_date_checker,
    hints=[
        "'Mar 3, 68': 68 is at most 68, so the century is 20xx.",
        "'04.05.99': day first, so the 4th day of the 5th month.",
        "一九八四 is read digit by digit; 十 is ten, 二十一 is twenty-one.",
    ],
    reference=lambda: list(_ISO),
    solution_text=f"{list(_ISO)} -- the trained model of notebook 04.3 should write the same.",
)


# -- 5. attention weights of a padded source ----------------------------------------------------------------------

ATTENTION_TARGET_STEPS, ATTENTION_SOURCE_LENGTH, ATTENTION_SOURCE_PADDING = 11, 14, 5


attention_weight_sum = Exercise(
    key="ch04_rnn.attention_weight_sum",
    prompt=(
        f"The seq2seq decoder writes {ATTENTION_TARGET_STEPS} tokens. Its source batch is padded to "
        f"S = {ATTENTION_SOURCE_LENGTH} positions,\nof which the last {ATTENTION_SOURCE_PADDING} are padding "
        f"for this example. Its attention weights form a ({ATTENTION_TARGET_STEPS}, {ATTENTION_SOURCE_LENGTH}) "
        "matrix.\nWhat is the sum of all its entries? A number; a float sum read off the model's weights passes\n"
        "if it is within 1e-4 of the exact value. (Check it on weights[0] from the notebook.)"
    ),
    checker=close_to_or_known_mistake(
        lambda: float(ATTENTION_TARGET_STEPS),
        {
            "each ROW (one output step) sums to 1, not each column": lambda: float(
                ATTENTION_SOURCE_LENGTH - ATTENTION_SOURCE_PADDING),
            "padded positions get weight 0, so they do not add anything; and rows, not columns, sum to 1":
                lambda: float(ATTENTION_SOURCE_LENGTH),
            "every row sums to 1 -- the whole matrix sums to the number of rows": lambda: 1.0,
        },
        rtol=0.0,
        atol=1e-4,
        what="sum",
    ),
    hints=[
        "The softmax runs over the source positions, once per output step.",
        "Padded positions are masked: weight exactly 0. So each of the rows sums to 1.",
    ],
    reference=lambda: float(ATTENTION_TARGET_STEPS),
    solution_text=(
        f"{ATTENTION_TARGET_STEPS}: one softmax per output step, each summing to 1 over the "
        f"{ATTENTION_SOURCE_LENGTH - ATTENTION_SOURCE_PADDING} real characters (padding gets 0)."
    ),
)
