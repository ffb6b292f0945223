"""Self-checking exercises: the learner computes an answer, the library says whether it is right.

Each chapter module (``ch02``, ``ch03``, ...) defines :class:`Exercise` objects. In a notebook::

    from bigmodel_lib.exercises import ch02
    ch02.parameter_count.check(my_answer)   # prints a verdict, never raises on a wrong answer
    ch02.parameter_count.hint()              # one more hint each call
    ch02.parameter_count.solution()          # the reference answer, when you are stuck

``check`` returns True/False so the tests can assert that the reference solution passes and that
typical wrong answers fail.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Verdict = tuple[bool, str]


@dataclass
class Exercise:
    """One exercise: a prompt, a checker returning ``(ok, feedback)``, graded hints and a solution.

    ``reference`` is a zero-argument callable returning a correct answer (used by ``solution()``
    and by the tests).
    """

    key: str
    prompt: str
    checker: Callable[[Any], Verdict]
    hints: Sequence[str]
    reference: Callable[[], Any]
    solution_text: str = ""
    _hints_shown: int = field(default=0, repr=False)

    def check(self, answer: Any) -> bool:
        if answer is None or answer is Ellipsis:
            print(f"[{self.key}] not answered yet -- replace the placeholder, then run the cell again.")
            return False
        try:
            ok, feedback = self.checker(answer)
        except Exception as error:  # a learner's answer of the wrong type should teach, not crash
            ok, feedback = False, f"could not check this answer: {type(error).__name__}: {error}"
        print(f"[{self.key}] {'correct' if ok else 'not yet'}: {feedback}")
        if not ok and self._hints_shown == 0:
            print("    call .hint() for a hint")
        return ok

    def hint(self) -> None:
        if not self.hints:
            print(f"[{self.key}] no hints for this one")
            return
        index = min(self._hints_shown, len(self.hints) - 1)
        print(f"[{self.key}] hint {index + 1}/{len(self.hints)}: {self.hints[index]}")
        self._hints_shown += 1

    def solution(self) -> Any:
        if self.solution_text:
            print(self.solution_text)
        return self.reference()


def as_float_array(answer: Any) -> np.ndarray:
    """A learner's answer (number, list, array or tensor) as a float64 NumPy array."""
    return np.asarray(answer.detach().cpu().numpy() if hasattr(answer, "detach") else answer, dtype=np.float64)


def half_unit(value: float, figures: int | None) -> float:
    """Half a unit of the last place asked for: of the ``figures``-th significant figure of ``value``
    (1.8237 to 4 figures -> 0.0005), or 0.5 for an exact int (``figures=None``). An answer rounded as asked lies
    within it of the exact value."""
    if figures is None or value == 0:
        return 0.5
    return 0.5 * 10 ** (math.floor(math.log10(abs(value))) - figures + 1) * (1 + 1e-9)


def _tolerance(rtol: float, atol: float) -> str:
    """The tolerance in words, e.g. "a relative 1e-3" or "a relative 1e-3 (or 1e-9 absolute)"."""
    if atol == 0:
        return f"a relative {rtol:g}"
    if rtol == 0:
        return f"{atol:g} absolute"
    return f"a relative {rtol:g} (or {atol:g} absolute)"


def close_to(expected: Any, rtol: float = 1e-6, atol: float = 1e-9, what: str = "value") -> Callable[[Any], Verdict]:
    """A checker for numbers or arrays: shape first, then values within tolerance."""

    def checker(answer: Any) -> Verdict:
        target = np.asarray(expected() if callable(expected) else expected, dtype=np.float64)
        got = as_float_array(answer)
        if got.shape != target.shape:
            return False, f"the {what} should have shape {target.shape}, got {got.shape}"
        if np.allclose(got, target, rtol=rtol, atol=atol):
            return True, f"the {what} matches the reference to within {_tolerance(rtol, atol)}"
        worst = float(np.max(np.abs(got - target)))
        return False, f"the {what} is off by up to {worst:.3g} (tolerance: {_tolerance(rtol, atol)})"

    return checker


def close_to_or_known_mistake(
    expected: Callable[[], Any],
    mistakes: Mapping[str, Callable[[], Any]],
    *,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    what: str = "value",
) -> Callable[[Any], Verdict]:
    """Like :func:`close_to`, but a wrong answer equal to one of the ``mistakes``
    (feedback -> the value that slip produces) is told which slip it is."""
    exact = close_to(expected, rtol=rtol, atol=atol, what=what)

    def checker(answer: Any) -> Verdict:
        ok, feedback = exact(answer)
        if ok:
            return ok, feedback
        got = as_float_array(answer)
        for explanation, value in mistakes.items():
            wrong = np.asarray(value(), dtype=np.float64)
            if got.shape == wrong.shape and np.allclose(got, wrong, rtol=rtol, atol=atol):
                return False, explanation
        return False, feedback

    return checker


def on_success(checker: Callable[[Any], Verdict], message: Callable[[], str]) -> Callable[[Any], Verdict]:
    """``checker`` with its success feedback replaced by ``message()``: says exactly what was checked."""

    def wrapped(answer: Any) -> Verdict:
        ok, feedback = checker(answer)
        return (True, message()) if ok else (False, feedback)

    return wrapped


def equal_to(expected: Any, what: str = "answer") -> Callable[[Any], Verdict]:
    """A checker for exact answers (ints, strings, tuples)."""

    def checker(answer: Any) -> Verdict:
        target = expected() if callable(expected) else expected
        if answer == target:
            return True, f"the {what} is right"
        return False, f"the {what} is not {answer!r}"

    return checker


def as_int_tuple(answer: Any) -> tuple[int, ...]:
    """``(4, 8, 6, 8)``, ``[4, 8, 6, 8]``, ``torch.Size([...])`` or an array's ``.shape`` -> a tuple of ints."""
    if isinstance(answer, (str, bytes)) or not hasattr(answer, "__iter__"):
        raise TypeError(f"expected a shape such as (4, 8, 6, 8), got {type(answer).__name__}")
    values = tuple(answer)
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise TypeError(f"a shape holds ints, got {answer!r}")
    return tuple(int(v) for v in values)


def as_int(answer: Any) -> int:
    """A whole number given as an int or a float (``12.0``) -> an int; anything else is refused."""
    if isinstance(answer, bool) or not isinstance(answer, (int, np.integer, float, np.floating)):
        raise TypeError(f"expected a whole number, got {type(answer).__name__}")
    if float(answer) != int(answer):
        raise TypeError(f"a count is a whole number, got {answer!r}")
    return int(answer)


def exact_or_known_mistake(
    expected: Callable[[], Any],
    mistakes: Mapping[str, Callable[[], Any]],
    convert: Callable[[Any], Any],
    what: str,
) -> Callable[[Any], Verdict]:
    """An exact checker (after ``convert``) that names the slip when the answer equals one of ``mistakes``.

    ``mistakes`` maps feedback -> the (wrong) value that slip produces. A slip is named only when its
    value is its own: one that equals the right answer, or that another slip also produces, is never
    named (the answer could not tell them apart).
    """

    def checker(answer: Any) -> Verdict:
        got, target = convert(answer), expected()
        if got == target:
            return True, f"the {what} is right: {target} (checked exactly)"
        wrong_values = {feedback: value() for feedback, value in mistakes.items()}
        for feedback, wrong in wrong_values.items():
            shared = sum(other == wrong for other in wrong_values.values()) > 1
            if wrong != target and not shared and got == wrong:
                return False, feedback
        return False, f"the {what} is not {got}"

    return checker


def significant_figures_checker(expected: Callable[[], Sequence[float]], figures: Sequence[int | None],
                                mistakes: Mapping[str, Callable[[], Sequence[float]]],
                                what: str) -> Callable[[Any], Verdict]:
    """A checker for a tuple whose entry ``i`` is asked to ``figures[i]`` significant figures (``None``: an exact
    int). An entry passes within half a unit of its last figure; a wrong answer matching a slip that way is named."""

    def matches(got: np.ndarray, target: Sequence[float]) -> bool:
        return all(abs(g - t) <= half_unit(t, f) for g, t, f in zip(got, target, figures))

    def checker(answer: Any) -> Verdict:
        got = as_float_array(answer).reshape(-1)
        target = [float(v) for v in expected()]
        if got.shape != (len(target),):
            return False, f"the {what} should hold {len(target)} numbers, got {got.size}"
        if matches(got, target):
            return True, f"the {what} is right"
        for explanation, slip in mistakes.items():
            if matches(got, [float(v) for v in slip()]):
                return False, explanation
        worst = max(abs(g - t) for g, t in zip(got, target))
        return False, f"the {what} is off by up to {worst:.3g}"

    return checker
