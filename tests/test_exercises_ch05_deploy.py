"""Notebook 05.10's exercises: the reference answers are right (the dynamic-axes one checked against a real
export and ONNX Runtime), answers rounded as the prompts ask pass, and each named slip is named only where it
differs from the right answer beyond the tolerance."""

import numpy as np
import pytest
import torch

from bigmodel_lib.exercises import ch05_deploy
from bigmodel_lib.exercises.core import Exercise

EXERCISES = [getattr(ch05_deploy, name) for name in ch05_deploy.__all__
             if isinstance(getattr(ch05_deploy, name), Exercise)]


def verdict(exercise, answer):
    return exercise.checker(answer)


def test_every_exercise_is_listed_and_its_reference_passes():
    assert {e.key for e in EXERCISES} == {"ch05_deploy.weight_file_sizes", "ch05_deploy.single_file_limit",
                                          "ch05_deploy.dynamic_axes"}
    for exercise in EXERCISES:
        ok, feedback = verdict(exercise, exercise.reference())
        assert ok, (exercise.key, feedback)


# -- weight file sizes -----------------------------------------------------------------------------------------

def test_sizes_reference_is_four_bytes_and_one_byte_per_parameter():
    n = ch05_deploy.SIZED_MODEL["parameters"]
    assert ch05_deploy.weight_file_sizes.reference() == pytest.approx((4 * n / 1e9, n / 1e9))
    assert ch05_deploy.weight_file_sizes.reference() == pytest.approx((5.2, 1.3))


def test_sizes_accept_three_significant_figures_and_no_other():
    exercise = ch05_deploy.weight_file_sizes
    assert "3 significant figures" in exercise.prompt
    for answer in [(5.20, 1.30), (5.2, 1.3), [5.204, 1.296], np.array([5.2, 1.3])]:
        ok, feedback = verdict(exercise, answer)
        assert ok and "3 significant figures" in feedback, (answer, feedback)
    for answer in [(5.21, 1.30), (5.20, 1.31), (5.2,), (5.2, 1.3, 0.0)]:
        assert not verdict(exercise, answer)[0], answer


@pytest.mark.parametrize(("answer", "message"), [
    ((41.6, 10.4), "bits, not bytes"),
    ((4.84, 1.21), "GiB"),
    ((2.60, 1.30), "2 bytes is float16"),
])
def test_sizes_name_the_usual_slips_rounded_as_asked(answer, message):
    ok, feedback = verdict(ch05_deploy.weight_file_sizes, answer)
    assert not ok and message in feedback, feedback


def test_size_slips_differ_from_the_answer_beyond_the_tolerance():
    expected = ch05_deploy.weight_file_sizes.reference()
    for slip in ch05_deploy.SIZE_SLIPS.values():
        assert not ch05_deploy._matches(slip(), expected)


# -- the 2 GiB limit ---------------------------------------------------------------------------------------------

def test_limit_reference_and_one_percent():
    exercise = ch05_deploy.single_file_limit
    assert "within 1 %" in exercise.prompt
    assert exercise.reference() == pytest.approx(((2**31 - 1) / 4, 2**31 - 1))
    for answer in [(536_870_912, 2_147_483_648), (5.37e8, 2.15e9), (5.4e8, 2.13e9)]:
        ok, feedback = verdict(exercise, answer)
        assert ok and "1 %" in feedback, (answer, feedback)
    for answer in [(5.6e8, 2.147e9), (5.37e8, 2.2e9)]:
        assert not verdict(exercise, answer)[0], answer


@pytest.mark.parametrize(("answer", "message"), [
    ((5e8, 2e9), "not 2 x 10^9"),
    ((6.71e7, 2.68e8), "counts of bits"),
    ((1.07e9, 2.15e9), "2 bytes is float16"),
])
def test_limit_names_the_usual_slips(answer, message):
    ok, feedback = verdict(ch05_deploy.single_file_limit, answer)
    assert not ok and message in feedback, feedback


# -- dynamic axes ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("answer", ["ab", "ba", "A, B", ["a", "b"], ("b", "a")])
def test_axes_accepts_the_letters_in_any_form(answer):
    ok, feedback = verdict(ch05_deploy.dynamic_axes, answer)
    assert ok and "frozen" in feedback, feedback


@pytest.mark.parametrize(("answer", "message"), [
    ("abcd", "only the batch axis was declared dynamic"),
    ("abc", "only the batch axis was declared dynamic"),
    ("a", "any batch size runs"),
    ("", "any batch size runs"),
    ("abz", "not one of them"),
])
def test_axes_names_the_slips(answer, message):
    ok, feedback = verdict(ch05_deploy.dynamic_axes, answer)
    assert not ok and message in feedback, feedback


def test_axes_answer_is_what_onnx_runtime_does(tmp_path):
    """Export exactly as the prompt says and try the four inputs on a real session."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from bigmodel_lib.deploy import make_session
    from bigmodel_lib.nn_torch.gpt import GPT, GPTConfig

    setup = ch05_deploy.DYNAMIC_AXES
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=setup["block_size"], n_layer=1, n_head=2, d_model=8)).eval()
    path = tmp_path / "batch_only.onnx"
    torch.onnx.export(model, (torch.zeros(setup["example_shape"], dtype=torch.long),), str(path), dynamo=True,
                      input_names=["idx"], output_names=["logits"],
                      dynamic_shapes={"idx": {0: torch.export.Dim("batch")}})
    session = make_session(path)
    accepted = set()
    for label, shape in setup["inputs"].items():
        try:
            session.run(None, {"idx": np.zeros(shape, dtype=np.int64)})
            accepted.add(label)
        except Exception:  # onnxruntime's InvalidArgument: "Got invalid dimensions for input: idx"
            pass
    assert accepted == set(ch05_deploy.dynamic_axes.reference()) == {"a", "b"}
