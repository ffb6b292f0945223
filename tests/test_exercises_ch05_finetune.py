"""Notebook 05.9's exercises: the references agree with the library's layers, answers rounded as the prompts ask
pass, and the usual slips fail with a message naming them (only where they differ from the right answer)."""

import numpy as np
import pytest
import torch

from bigmodel_lib.exercises import ch05_finetune
from bigmodel_lib.exercises.core import Exercise
from bigmodel_lib.nn_numpy.linear import Linear as NumpyLinear
from bigmodel_lib.nn_numpy.lora import LoRALinear as NumpyLoRALinear
from bigmodel_lib.nn_torch.lora import LoRALinear, count_parameters

EXERCISES = [getattr(ch05_finetune, n) for n in ch05_finetune.__all__
             if isinstance(getattr(ch05_finetune, n), Exercise)]


def verdict(exercise, answer):
    return exercise.checker(answer)


def test_every_exercise_is_listed_and_its_reference_passes():
    assert {e.key for e in EXERCISES} == {"ch05_finetune.lora_parameters", "ch05_finetune.merged_entry",
                                          "ch05_finetune.optimizer_bytes_saved"}
    for exercise in EXERCISES:
        assert verdict(exercise, exercise.reference())[0], exercise.key


def test_lora_parameters_match_a_layer_built_on_the_meta_device():
    layer = ch05_finetune.LAYER
    base = torch.nn.Linear(layer["in_features"], layer["out_features"], device="meta")
    expected = count_parameters(LoRALinear(base, rank=layer["rank"]))["trainable"]
    assert ch05_finetune.lora_parameters.reference() == expected == 65536
    assert verdict(ch05_finetune.lora_parameters, 65536)[0]
    assert not verdict(ch05_finetune.lora_parameters, 65537)[0]


@pytest.mark.parametrize(("answer", "message"), [
    (16 * 1024, "only A"), (16 * 3072, "only B"), (1024 * 3072, "full weight"),
    (65536 + 1024 * 3072 + 3072, "frozen weight"),
])
def test_lora_parameters_name_the_usual_slips(answer, message):
    ok, feedback = verdict(ch05_finetune.lora_parameters, answer)
    assert not ok and message in feedback


def test_merged_entry_equals_the_numpy_layers_merged_weight_and_four_figures_pass():
    case = ch05_finetune.MERGE_CASE
    layer = NumpyLoRALinear(NumpyLinear(4, 3, dtype=np.float64), rank=2, alpha=case["alpha"])
    layer.base.weight.data = case["W"].copy()
    layer.lora_A.data, layer.lora_B.data = case["A"].copy(), case["B"].copy()
    value = layer.merged().weight.data[case["row"], case["col"]]
    assert ch05_finetune.merged_entry.reference() == pytest.approx(value, rel=1e-12)
    assert verdict(ch05_finetune.merged_entry, float(f"{value:.4g}"))[0]
    assert not verdict(ch05_finetune.merged_entry, value * 1.01)[0]


@pytest.mark.parametrize(("slip", "message"), [
    ("no_scale", "scale alpha / rank = 3 is missing"), ("alpha", "scale is alpha = 6"),
    ("alpha_times_rank", "alpha x rank"), ("transposed", "indices are swapped"),
])
def test_merged_entry_names_the_usual_slips(slip, message):
    case = ch05_finetune.MERGE_CASE
    w, a, b = case["W"], case["A"], case["B"]
    i, j = case["row"], case["col"]
    answers = {"no_scale": w[i, j] + (b @ a)[i, j], "alpha": w[i, j] + 6 * (b @ a)[i, j],
               "alpha_times_rank": w[i, j] + 12 * (b @ a)[i, j], "transposed": w[i, j] + 3 * (b @ a)[j, i]}
    reference = ch05_finetune.merged_entry.reference()
    assert abs(answers[slip] - reference) > 6e-4 * abs(reference)  # outside the tolerance: worth naming
    ok, feedback = verdict(ch05_finetune.merged_entry, float(f"{answers[slip]:.4g}"))
    assert not ok and message in feedback


def test_optimizer_bytes_saved_is_eight_bytes_per_parameter_not_trained_and_rounding_passes():
    big = ch05_finetune.BIG_MODEL
    lora = 32 * 8 * ((4096 + 12288) + (4096 + 4096))
    expected = 8 * (big["parameters"] - lora)
    assert ch05_finetune.optimizer_bytes_saved.reference() == expected
    assert verdict(ch05_finetune.optimizer_bytes_saved, round(expected, -7))[0]  # within 0.1 %
    assert verdict(ch05_finetune.optimizer_bytes_saved, 8 * big["parameters"])[0]  # LoRA's own state is < 0.1 %


@pytest.mark.parametrize(("factor", "message"), [(4, "TWO moments"), (12, "weights too")])
def test_optimizer_bytes_saved_names_the_usual_slips(factor, message):
    lora = 32 * 8 * ((4096 + 12288) + (4096 + 4096))
    ok, feedback = verdict(ch05_finetune.optimizer_bytes_saved,
                           factor * (ch05_finetune.BIG_MODEL["parameters"] - lora))
    assert not ok and message in feedback
    ok, feedback = verdict(ch05_finetune.optimizer_bytes_saved, 8 * ch05_finetune.optimizer_bytes_saved.reference())
    assert not ok and "bits" in feedback
