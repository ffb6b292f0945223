"""Chapter 04 (CNN) exercises: reference answers pass, agree with PyTorch, and the usual slips are named."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bigmodel_lib.exercises import ch04_cnn
from bigmodel_lib.exercises.core import Exercise

EXERCISES = [getattr(ch04_cnn, name) for name in ch04_cnn.__all__ if isinstance(getattr(ch04_cnn, name), Exercise)]


def test_every_exercise_of_the_chapter_is_listed() -> None:
    assert len(EXERCISES) == 3
    assert len({exercise.key for exercise in EXERCISES}) == 3


def test_output_shape_matches_torch() -> None:
    x = torch.zeros(ch04_cnn.SHAPE_INPUT)
    conv = torch.nn.Conv2d(ch04_cnn.SHAPE_INPUT[1], ch04_cnn.SHAPE_OUT_CHANNELS, ch04_cnn.SHAPE_KERNEL,
                           stride=ch04_cnn.SHAPE_STRIDE, padding=ch04_cnn.SHAPE_PADDING)
    shape = conv(x).shape
    assert ch04_cnn.conv_output_shape.checker(shape)[0]  # torch.Size is accepted
    assert ch04_cnn.conv_output_shape.checker(list(shape))[0]


@pytest.mark.parametrize(
    ("wrong", "feedback"),
    [
        (lambda b, c, h, w: (b, c, h - 1, w - 2), "padding is missing"),
        (lambda b, c, h, w: (b, c, h, w - 1), "padding is counted once"),
        (lambda b, c, h, w: (b, c, h - 1, w - 1), "'+ 1' is missing"),
        (lambda b, c, h, w: (b, c, *(n + 2 * ch04_cnn.SHAPE_PADDING - k + 1 for n, k in
                                     zip(ch04_cnn.SHAPE_INPUT[2:], ch04_cnn.SHAPE_KERNEL))), "stride is ignored"),
        (lambda b, c, h, w: (b, c, h + 1, w), "rounded up"),
        (lambda b, c, h, w: (b, c, h + 1, w - 1), "kh and kw are swapped"),
        (lambda b, c, h, w: (b, 3, h, w), "out_channels, not in_channels"),
    ],
)
def test_output_shape_names_the_slip(wrong, feedback) -> None:
    ok, message = ch04_cnn.conv_output_shape.checker(wrong(*ch04_cnn.conv_output_shape.reference()))
    assert not ok and feedback in message


def test_parameter_count_matches_torch_and_names_the_slips() -> None:
    conv = torch.nn.Conv2d(ch04_cnn.PARAMS_IN_CHANNELS, ch04_cnn.PARAMS_OUT_CHANNELS, ch04_cnn.PARAMS_KERNEL)
    count = sum(p.numel() for p in conv.parameters())
    assert ch04_cnn.conv_parameter_count.checker(count)[0]
    assert ch04_cnn.conv_parameter_count.checker(float(count))[0]
    weights_only = conv.weight.numel()
    for answer, feedback in [
        (weights_only, "bias is missing"),
        (conv.weight[:, 0].numel() + conv.bias.numel(), "all* input channels"),
        (weights_only + ch04_cnn.PARAMS_IN_CHANNELS, "per *output* channel"),
        (count + 1, "is not"),
    ]:
        ok, message = ch04_cnn.conv_parameter_count.checker(answer)
        assert not ok and feedback in message
    with pytest.raises(TypeError, match="expected a whole number, got bool"):
        ch04_cnn.conv_parameter_count.checker(True)
    with pytest.raises(TypeError, match="a count is a whole number, got 1.5"):
        ch04_cnn.conv_parameter_count.checker(1.5)


def test_im2col_shape_matches_torch_unfold_and_names_the_slips() -> None:
    shape = F.unfold(torch.zeros(ch04_cnn.IM2COL_INPUT_SHAPE), ch04_cnn.IM2COL_KERNEL,
                     stride=ch04_cnn.IM2COL_STRIDE, padding=ch04_cnn.IM2COL_PADDING).shape
    assert ch04_cnn.im2col_shape.checker(shape)[0]
    b, rows, cols = shape
    for answer, feedback in [
        ((b, rows // ch04_cnn.IM2COL_INPUT_SHAPE[1], cols), "every* input channel"),
        ((b, cols, rows), "transposed"),
        ((b, rows, torch.zeros(ch04_cnn.IM2COL_INPUT_SHAPE[2:]).numel()), "stride is ignored"),  # pad 1, stride 1
        ((b, rows, F.unfold(torch.zeros(ch04_cnn.IM2COL_INPUT_SHAPE), ch04_cnn.IM2COL_KERNEL,
                            stride=ch04_cnn.IM2COL_STRIDE).shape[-1]), "padding is ignored"),
    ]:
        ok, message = ch04_cnn.im2col_shape.checker(answer)
        assert not ok and feedback in message


def _named_mistakes(exercise: Exercise) -> dict[str, object]:
    """The slips a checker names (feedback -> the wrong value), read from the checker's closure."""
    for cell in exercise.checker.__closure__:
        if isinstance(cell.cell_contents, dict):
            return {feedback: value() for feedback, value in cell.cell_contents.items()}
    raise AssertionError(f"{exercise.key} names no mistakes")


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.key)
def test_each_named_mistake_has_a_value_of_its_own_and_is_named(exercise) -> None:
    mistakes = _named_mistakes(exercise)
    values = list(mistakes.values())
    assert exercise.reference() not in values
    assert len(set(values)) == len(values), "two slips give the same value: the checker could not tell them apart"
    for feedback, value in mistakes.items():
        ok, message = exercise.checker(value)
        assert not ok and message == feedback


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.key)
def test_prompt_asks_for_exact_ints_and_success_says_what_was_checked(exercise) -> None:
    assert "exact int" in exercise.prompt
    ok, message = exercise.checker(exercise.reference())
    assert ok and str(exercise.reference()) in message and "exactly" in message


def test_the_module_docstring_gives_no_answer_away() -> None:
    for exercise in EXERCISES:
        answer = exercise.reference()
        assert str(answer) not in ch04_cnn.__doc__
        assert str(answer).replace(" ", "") not in ch04_cnn.__doc__.replace(" ", "")
