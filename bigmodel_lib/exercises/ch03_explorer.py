"""Notebook 03.6 exercises: reading a trained model's attention, and counting what masks zero out.

::

    from bigmodel_lib.exercises import ch03_explorer
    ch03_explorer.strongest_source.use(att)          # att: the capture of your trained model
    print(ch03_explorer.strongest_source.prompt)
    ch03_explorer.strongest_source.check(my_list)

``strongest_source`` is checked against the attention weights of *your* model, since every training
run ends somewhere else: hand it the capture with ``.use(att)`` first. Until then it checks against
``EXAMPLE_CROSS_ATTENTION``, a fixed made-up array, and every verdict says which one it used.
``padding_zeros`` is computed with the library's ``nn_numpy.scaled_dot_product_attention``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bigmodel_lib.exercises.core import Exercise, Verdict, as_int, exact_or_known_mistake
from bigmodel_lib.nn_numpy.attention import scaled_dot_product_attention

__all__ = [
    "EXAMPLE_CROSS_ATTENTION",
    "PADDING_LENGTH",
    "PADDING_REAL",
    "TIE_TOLERANCE",
    "CrossAttentionExercise",
    "padding_zeros",
    "strongest_source",
]

#: Two source positions whose mean weights differ by less than this are a tie: the explorer's readout
#: prints weights to two decimals, so a learner cannot tell them apart, and either answer is accepted.
TIE_TOLERANCE = 0.005


def _example_cross_attention() -> np.ndarray:
    """``(layers=2, heads=4, Lq=6, Lk=6)``: made-up weights, for the checker before ``use()`` is called.

    Not a trained model: random scores, with a pull towards the anti-diagonal in the last layer, so
    that the mean over heads, single heads and the other layer give different answers.
    """
    rng = np.random.default_rng(33)
    scores = rng.standard_normal((2, 4, 6, 6))
    scores[1] += np.fliplr(np.eye(6))  # the last layer leans towards source position L-1-t
    weights = np.exp(scores)
    return weights / weights.sum(axis=-1, keepdims=True)


EXAMPLE_CROSS_ATTENTION = _example_cross_attention()


def _as_layers_heads(weights: Any) -> np.ndarray:
    """A capture (its cross-attention), or an array ``(heads, Lq, Lk)`` / ``(layers, heads, Lq, Lk)``."""
    if hasattr(weights, "stack") and hasattr(weights, "names"):  # an AttentionCapture
        weights = weights.stack("cross")
    if hasattr(weights, "detach"):
        weights = weights.detach().cpu().numpy()
    array = np.asarray(weights, dtype=np.float64)
    if array.ndim == 3:
        array = array[np.newaxis]
    if array.ndim != 4 or 0 in array.shape:
        raise ValueError(f"expected cross-attention weights (layers, heads, Lq, Lk) or a capture, got shape "
                         f"{array.shape}")
    if not np.all(np.isfinite(array)) or array.min() < 0:
        raise ValueError("attention weights are finite and >= 0")
    return array


def _as_positions(answer: Any) -> list[int]:
    if isinstance(answer, (str, bytes)) or not hasattr(answer, "__iter__"):
        raise TypeError(f"expected a list of ints, one per decoder position, got {type(answer).__name__}")
    if hasattr(answer, "tolist"):  # a NumPy array or a torch tensor: its elements as Python numbers
        answer = answer.tolist()
    return [as_int(value) for value in answer]


def _decoder_positions(rows: Sequence[int]) -> str:
    """``[6]`` -> "decoder position 6", ``[1, 2, 6]`` -> "decoder positions 1, 2 and 6"."""
    if len(rows) == 1:
        return f"decoder position {rows[0]}"
    return "decoder positions " + ", ".join(str(t) for t in rows[:-1]) + f" and {rows[-1]}"


def _matches(answer: Sequence[int], matrix: np.ndarray) -> list[int]:
    """Rows ``t`` of ``matrix (Lq, Lk)`` where ``answer[t]`` is not (within a tie) the largest weight."""
    return [t for t, j in enumerate(answer) if not matrix[t, j] >= matrix[t].max() - TIE_TOLERANCE]


@dataclass
class CrossAttentionExercise(Exercise):
    """An exercise checked against recorded cross-attention weights (``use(att)``), not a fixed answer."""

    weights: np.ndarray = field(default_factory=lambda: EXAMPLE_CROSS_ATTENTION, repr=False)
    source_name: str = "EXAMPLE_CROSS_ATTENTION (made up: call .use(att) to check against your model)"

    def use_example(self) -> None:
        """Back to ``EXAMPLE_CROSS_ATTENTION`` (the state before any ``use``)."""
        self.use(EXAMPLE_CROSS_ATTENTION, name=type(self).source_name)

    def use(self, weights_or_capture: Any, name: str = "your model") -> None:
        """Check answers against these weights from now on: a capture or ``(layers, heads, Lq, Lk)``."""
        self.weights = _as_layers_heads(weights_or_capture)
        self.source_name = name
        self.prompt = _strongest_source_prompt(self.weights)

    @property
    def last_layer_mean(self) -> np.ndarray:
        return self.weights[-1].mean(axis=0)  # (heads, Lq, Lk) -> (Lq, Lk)


def _strongest_source_prompt(weights: np.ndarray) -> str:
    layers, heads, n_queries, n_keys = weights.shape
    return (
        f"In the explorer, select the cross-attention, the last layer (layer {layers - 1}) and 'mean' (the mean "
        f"over the {heads} heads). For each decoder position t = 0..{n_queries - 1}, which source position "
        f"(0..{n_keys - 1}) gets the largest weight?\nAnswer with a list of {n_queries} ints, one per decoder "
        f"position. Where two source positions are within {TIE_TOLERANCE} of each other (equal in the readout's "
        f"two decimals), either is accepted."
    )


def _strongest_source_reference() -> list[int]:
    return [int(j) for j in strongest_source.last_layer_mean.argmax(axis=-1)]


def _strongest_source_checker(answer: Any) -> Verdict:
    exercise = strongest_source
    weights, mean = exercise.weights, exercise.last_layer_mean
    layers, heads, n_queries, n_keys = weights.shape
    positions = _as_positions(answer)
    if len(positions) != n_queries:
        return False, f"give one source position per decoder position: {n_queries} ints, got {len(positions)}"
    outside = [j for j in positions if not 0 <= j < n_keys]
    if outside:
        return False, f"source positions run from 0 to {n_keys - 1}, got {outside}"
    wrong = _matches(positions, mean)
    if not wrong:
        reversal = [t for t, j in enumerate(positions) if j == n_keys - 1 - t]
        if len(reversal) == n_queries:
            meaning = ("every one is L-1-t, the source position of the digit that decoder position t writes: "
                       "this layer reads the source backwards, one step per position")
        else:
            elsewhere = [t for t in range(n_queries) if t not in reversal]
            meaning = (f"{len(reversal)} of {n_queries} are L-1-t, the source position of the digit that decoder "
                       f"position t writes; {_decoder_positions(elsewhere)} attend{'s' if len(elsewhere) == 1 else ''} "
                       f"most elsewhere on average (compare the heads one by one"
                       f"{', and the other layers' if layers > 1 else ''})")
        return True, (f"all {n_queries} positions match the largest weight of the last layer's cross-attention, "
                      f"mean over {heads} heads, in {exercise.source_name}. {meaning[0].upper()}{meaning[1:]}")
    differ = f"({_decoder_positions(wrong)} differ{'s' if len(wrong) == 1 else ''})"
    # A slip is named only when the answer fits it *and* not the question asked (checked above).
    if positions == [n_keys - 1 - t for t in range(n_queries)]:
        return False, (f"that is the reversal t -> L-1-t, what the task needs; but it is not what this layer's mean "
                       f"attention shows {differ}: pick each with the 'query' slider")
    for head in range(heads):
        if not _matches(positions, weights[-1, head]):
            return False, (f"these are the strongest keys of head {head} alone; the question asks for 'mean', "
                           f"the average over the {heads} heads {differ}")
    for layer in range(layers - 1):
        if not _matches(positions, weights[layer].mean(axis=0)):
            return False, (f"these are the strongest keys of layer {layer}; the question asks for the last "
                           f"layer, {layers - 1} {differ}")
    if n_queries == n_keys and all(mean[positions[t], t] >= mean[:, t].max() - TIE_TOLERANCE
                                   for t in range(n_queries)):
        return False, ("this reads the matrix by columns (for each source position, the decoder position that "
                       "attends to it most); the question asks, for each decoder position (a row), its source "
                       f"position {differ}")
    return False, (f"{_decoder_positions(wrong)} attend{'s' if len(wrong) == 1 else ''} most to another source "
                   "position: pick each with the 'query' slider and read the first key named in the line under the "
                   "controls")


strongest_source = CrossAttentionExercise(
    key="ch03_explorer.strongest_source",
    prompt=_strongest_source_prompt(EXAMPLE_CROSS_ATTENTION),
    checker=_strongest_source_checker,
    hints=[
        "Set 'query' to a decoder position: its row turns red, and the line under the controls names the three "
        "source positions it attends to most, with their weights.",
        "In the head view (right), the boldest line from the selected query ends at the answer for that position.",
    ],
    reference=_strongest_source_reference,
    solution_text=("weights = att.stack('cross')[-1].mean(axis=0)   # (Lq, Lk): last layer, mean over heads\n"
                   "weights.argmax(axis=-1).tolist()"),
)


# -- 2. zeros made by a causal mask and padding ---------------------------------------------------------------

PADDING_LENGTH, PADDING_REAL = 6, 4


def _zero_weights(length: int = PADDING_LENGTH, real: int = PADDING_REAL) -> int:
    """Weights exactly 0 with the causal mask and a key-padding mask (the last ``length - real`` keys)."""
    x = np.random.default_rng(0).standard_normal((1, length, 8))
    key_is_real = (np.arange(length) < real)[None, None, :]  # (1, 1, Lk): True = may attend
    _, weights = scaled_dot_product_attention(x, x, x, key_is_real, causal=True, need_weights=True)
    return int((weights == 0).sum())


_CAUSAL_ZEROS = PADDING_LENGTH * (PADDING_LENGTH - 1) // 2
_PADDED = PADDING_LENGTH - PADDING_REAL

padding_zeros = Exercise(
    key="ch03_explorer.padding_zeros",
    prompt=(
        f"{PADDING_LENGTH} positions, the last {_PADDED} are <pad> (padded on the right), and the causal mask is on. "
        f"How many of the {PADDING_LENGTH * PADDING_LENGTH} attention weights are exactly 0?\n"
        "Reason it out (an exact int); the mask playground of notebook 03.3 draws the same case."
    ),
    checker=exact_or_known_mistake(
        _zero_weights,
        {
            "that is the causal triangle alone; the <pad> columns add zeros below the diagonal too":
            lambda: _CAUSAL_ZEROS,
            "that is the <pad> columns alone; the causal mask also zeros everything above the diagonal":
            lambda: _PADDED * PADDING_LENGTH,
            "that counts the cells of the <pad> columns above the diagonal twice (causal and padding both zero them)":
            lambda: _CAUSAL_ZEROS + _PADDED * PADDING_LENGTH,
            "padding masks keys (columns), not queries: the <pad> rows still hold weights, on the real keys":
            lambda: int((~(np.tril(np.ones((PADDING_LENGTH,) * 2, dtype=bool))
                           & (np.arange(PADDING_LENGTH) < PADDING_REAL)[None, :]
                           & (np.arange(PADDING_LENGTH) < PADDING_REAL)[:, None])).sum()),
        },
        as_int,
        "number of zero weights",
    ),
    hints=[
        f"The causal mask alone zeros the strict upper triangle: {PADDING_LENGTH} * {PADDING_LENGTH - 1} / 2 weights.",
        "Padding zeros whole key columns; only the cells of those columns on or below the diagonal are new.",
    ],
    reference=_zero_weights,
    solution_text=(f"{_CAUSAL_ZEROS} above the diagonal (causal) + the cells of the {_PADDED} <pad> columns on or "
                   f"below it ({' + '.join(str(PADDING_LENGTH - j) for j in range(PADDING_REAL, PADDING_LENGTH))}) "
                   f"= {_zero_weights()}"),
)
