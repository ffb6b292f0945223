"""Chapter 06 exercises on labels, pre-training and choosing an architecture (notebook 6.5): how many next-token
targets a raw text gives for free, how many tasks it takes before pre-training pays for itself, and the parameter
count of an MLP that reads a whole sequence at once.

::

    from bigmodel_lib.exercises import ch06_labels
    print(ch06_labels.free_targets.prompt)
    ch06_labels.free_targets.check(my_answer)

Every prompt asks for an exact int; the checker accepts exactly that int (``exact_or_known_mistake`` of
:mod:`~bigmodel_lib.exercises.ch04_cnn`), and a slip is named only when its value differs from the right answer.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from bigmodel_lib.exercises.core import Exercise, as_int, exact_or_known_mistake, on_success

__all__ = [
    "BREAK_EVEN",
    "FLAT_MLP",
    "TEXT",
    "break_even_tasks",
    "flat_mlp_parameters",
    "free_targets",
]


# -- 1. next-token targets of a raw text -----------------------------------------------------------------------------

#: A raw text cut into non-overlapping training windows: each window holds ``block_size + 1`` consecutive tokens
#: (the inputs are its first ``block_size``, the targets its last ``block_size``); the leftover tail is dropped.
TEXT = {"tokens": 1_000_000, "block_size": 127}


def _free_targets(window: int | None = None, per_window: int | None = None) -> int:
    block = TEXT["block_size"]
    windows = TEXT["tokens"] // (block + 1 if window is None else window)
    return windows * (block if per_window is None else per_window)


free_targets = Exercise(
    key="ch06_labels.free_targets",
    prompt=(
        "A raw text of 1,000,000 tokens, with no label anywhere (ch06_labels.TEXT), is cut into non-overlapping\n"
        "windows for next-token prediction with block_size = 127: each window is 128 consecutive tokens, the input\n"
        "its first 127 and the target its last 127 (the input shifted by one); the tail that does not fill a window\n"
        "is dropped. How many (position, target token) training pairs, i.e. how many labels, does the text give\n"
        "for free? Give an exact int."
    ),
    checker=on_success(
        exact_or_known_mistake(
            _free_targets,
            {
                "that counts windows; every window gives one target per input position, block_size of them":
                    lambda: _free_targets(per_window=1),
                "a window of block_size inputs needs block_size + 1 tokens (the last target is one further)":
                    lambda: _free_targets(window=TEXT["block_size"]),
                "each window gives block_size targets, not block_size + 1: the first token is never a target":
                    lambda: _free_targets(per_window=TEXT["block_size"] + 1),
            },
            convert=as_int, what="number of training pairs",
        ),
        lambda: f"{_free_targets():,} pairs (checked exactly): {TEXT['tokens'] // (TEXT['block_size'] + 1):,} "
                f"windows of {TEXT['block_size']} targets each, and not one of them typed by a person",
    ),
    hints=["First count the whole windows of 128 tokens that fit in 1,000,000 tokens (integer division).",
           "Inside one window, input[t] is followed by target[t] = input[t + 1]: how many positions t are there?"],
    reference=lambda: _free_targets(),
    solution_text="(1_000_000 // 128) * 127",
)

# -- 2. when pre-training pays for itself ----------------------------------------------------------------------------

#: Steps of a hypothetical team: pre-training once, then per task either fine-tuning the pre-trained model or
#: training a fresh model from scratch to the same accuracy.
BREAK_EVEN = {"pretrain_steps": 50_000, "finetune_steps": 1_500, "scratch_steps": 6_000}


def _break_even(rounding: Callable[[float], int] = math.ceil, saved: int | None = None) -> int:
    b = BREAK_EVEN
    per_task = b["scratch_steps"] - b["finetune_steps"] if saved is None else saved
    return int(rounding(b["pretrain_steps"] / per_task))


break_even_tasks = Exercise(
    key="ch06_labels.break_even_tasks",
    prompt=(
        "A team pre-trains a model once for 50,000 steps (ch06_labels.BREAK_EVEN). For each new task, fine-tuning\n"
        "the pre-trained model reaches the target accuracy in 1,500 steps, while training the same model from scratch\n"
        "needs 6,000 steps. Counting every step the team pays for, pre-training included, what is the smallest\n"
        "number of tasks for which 'pre-train once, fine-tune per task' costs no more steps than 'train every task\n"
        "from scratch'? Give an exact int."
    ),
    checker=on_success(
        exact_or_known_mistake(
            _break_even,
            {
                "rounded down: with that many tasks pre-training has not yet paid for itself; round up":
                    lambda: _break_even(rounding=math.floor),
                "a fine-tuned task still costs its 1,500 steps: divide by the steps saved per task, 6,000 - 1,500":
                    lambda: _break_even(saved=BREAK_EVEN["scratch_steps"]),
            },
            convert=as_int, what="number of tasks",
        ),
        lambda: f"{_break_even()} tasks (checked exactly): each saves "
                f"{BREAK_EVEN['scratch_steps'] - BREAK_EVEN['finetune_steps']:,} steps, and "
                f"{BREAK_EVEN['pretrain_steps']:,} / {BREAK_EVEN['scratch_steps'] - BREAK_EVEN['finetune_steps']:,}"
                " rounded up is the first whole number of tasks that covers the pre-training",
    ),
    hints=["Write the two totals for n tasks: 50,000 + 1,500 n and 6,000 n.",
           "Solve 50,000 + 1,500 n <= 6,000 n for the smallest whole n."],
    reference=lambda: _break_even(),
    solution_text="math.ceil(50_000 / (6_000 - 1_500))",
)

# -- 3. the parameters of an MLP that reads a whole sequence ---------------------------------------------------------

#: An MLP that sees a sequence as one flat vector: ``length`` positions, each a one-hot vector of ``width`` numbers,
#: then two hidden layers of ``hidden`` units (with biases) and an output layer of ``classes`` logits.
FLAT_MLP = {"length": 13, "width": 40, "hidden": 200, "classes": 20}


def _flat_mlp(biases: bool = True, inputs: int | None = None, hidden_layers: int = 2) -> int:
    m = FLAT_MLP
    n_in = m["length"] * m["width"] if inputs is None else inputs
    sizes = [n_in] + [m["hidden"]] * hidden_layers + [m["classes"]]
    return sum(a * b + (b if biases else 0) for a, b in zip(sizes[:-1], sizes[1:]))


flat_mlp_parameters = Exercise(
    key="ch06_labels.flat_mlp_parameters",
    prompt=(
        "An MLP reads a sequence of 13 positions, each a one-hot vector of 40 numbers, flattened into one input\n"
        "vector; then Linear -> ReLU -> Linear -> ReLU with 200 hidden units each, and a Linear output of 20 logits,\n"
        "every Linear with a bias (ch06_labels.FLAT_MLP). How many trainable parameters does it have? Give an\n"
        "exact int."
    ),
    checker=on_success(
        exact_or_known_mistake(
            _flat_mlp,
            {
                "the biases are missing: every Linear layer adds one per output unit": lambda: _flat_mlp(False),
                "the input is all 13 positions flattened: 13 x 40 numbers, not 40":
                    lambda: _flat_mlp(inputs=FLAT_MLP["width"]),
                "there are two hidden layers of 200, so three Linear layers": lambda: _flat_mlp(hidden_layers=1),
            },
            convert=as_int, what="parameter count",
        ),
        lambda: f"{_flat_mlp():,} parameters (checked exactly); "
                f"{FLAT_MLP['length'] * FLAT_MLP['width'] * FLAT_MLP['hidden']:,} of them in the first layer, "
                "one weight per (position, symbol, unit): nothing is shared between positions",
    ),
    hints=["Three Linear layers: (13 x 40) -> 200, 200 -> 200, 200 -> 20.",
           "A Linear layer from a to b inputs has a x b weights and b biases."],
    reference=lambda: _flat_mlp(),
    solution_text="sum(a * b + b for a, b in [(13 * 40, 200), (200, 200), (200, 20)])",
)
