"""Chapter 04.8 (GPT-2's weights) exercises: references equal what the library builds; slips are named."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from bigmodel_lib.contracts.gpt import GPTConfig, gpt2_key_map
from bigmodel_lib.exercises import ch04_gpt2
from bigmodel_lib.exercises.core import Exercise
from bigmodel_lib.nn_torch.gpt import GPT

EXERCISES = [getattr(ch04_gpt2, n) for n in ch04_gpt2.__all__ if isinstance(getattr(ch04_gpt2, n), Exercise)]


def _config(sizes: dict) -> GPTConfig:
    return GPTConfig(vocab_size=sizes["vocab_size"], block_size=sizes["n_positions"], n_layer=sizes["n_layer"],
                     n_head=sizes["n_head"], d_model=sizes["n_embd"], gelu_approximate="tanh")


def test_every_exercise_is_listed_with_a_module_key():
    assert len(EXERCISES) == 3 and all(e.key.startswith("ch04_gpt2.") for e in EXERCISES)


def test_parameter_count_equals_the_model_and_the_key_map():
    config = _config(ch04_gpt2.GPT2_XL)
    model = GPT(config, device="meta")  # shapes only, no memory
    assert ch04_gpt2.gpt2_xl_parameters.reference() == model.num_parameters() == 1_557_611_200
    assert sum(torch.Size(k.gpt2_shape).numel() for k in gpt2_key_map(config)) == model.num_parameters()
    assert ch04_gpt2.gpt2_xl_parameters.checker(model.num_parameters())[0]


def test_parameter_counts_match_transformers_gpt2():
    transformers = pytest.importorskip("transformers")
    for sizes in (ch04_gpt2.GPT2_SMALL, ch04_gpt2.GPT2_XL):
        with torch.device("meta"):
            hf = transformers.GPT2LMHeadModel(transformers.GPT2Config(**sizes))
        expected = 124_439_808 if sizes is ch04_gpt2.GPT2_SMALL else ch04_gpt2.gpt2_xl_parameters.reference()
        assert sum(p.numel() for p in hf.parameters()) == expected
    small_megabytes = (124_439_808 + 12 * 1024**2) * 4 / 1e6
    assert abs(ch04_gpt2.checkpoint_megabytes.reference() - small_megabytes) < 1e-9


def test_shapes_equal_the_key_map_of_gpt2_medium():
    key = next(k for k in gpt2_key_map(_config(ch04_gpt2.GPT2_MEDIUM)) if k.gpt2 == "h.0.attn.c_attn.weight")
    assert key.ours == "blocks.0.self_attn.in_proj.weight"
    assert ch04_gpt2.attention_weight_shapes.checker((key.gpt2_shape, key.our_shape))[0]
    assert ch04_gpt2.attention_weight_shapes.checker([[1024, 3072], [3072, 1024]])[0]


def test_megabytes_rounded_as_asked_pass():
    mb = ch04_gpt2.checkpoint_megabytes.reference()
    assert "3 significant figures" in ch04_gpt2.checkpoint_megabytes.prompt
    ok, feedback = ch04_gpt2.checkpoint_megabytes.checker(float(f"{mb:.3g}"))
    assert ok and f"{mb:.3g}" in feedback
    assert not ch04_gpt2.checkpoint_megabytes.checker(mb * 1.003)[0]
    for exercise in (ch04_gpt2.gpt2_xl_parameters, ch04_gpt2.attention_weight_shapes):
        assert "exact int" in exercise.prompt


def test_every_named_slip_is_named_and_lies_outside_the_tolerance():
    c = ch04_gpt2.GPT2_XL
    v, t, d, n = c["vocab_size"], c["n_positions"], c["n_embd"], c["n_layer"]
    right = ch04_gpt2.gpt2_xl_parameters.reference()
    for wrong, words in {right + v * d: "tied", right + n * t * t: "buffer", right + v * d + n * t * t: "AND",
                         right - t * d: "position table"}.items():
        ok, feedback = ch04_gpt2.gpt2_xl_parameters.checker(wrong)
        assert not ok and words in feedback, (wrong, feedback)
    c = ch04_gpt2.GPT2_SMALL
    v, t, d, n = c["vocab_size"], c["n_positions"], c["n_embd"], c["n_layer"]
    right = 124_439_808
    for wrong, words in {((1024, 3072), (1024, 3072)): "transpose", ((3072, 1024), (1024, 3072)): "wrong way",
                         ((1024, 192), (192, 1024)): "all heads", ((1024, 1024), (1024, 1024)): "AND"}.items():
        ok, feedback = ch04_gpt2.attention_weight_shapes.checker(wrong)
        assert not ok and words in feedback, (wrong, feedback)
    mb = ch04_gpt2.checkpoint_megabytes.reference()
    for wrong, words in {right * 4 / 1e6: "buffers", mb / 2: "4 bytes", mb + v * d * 4 / 1e6: "once"}.items():
        assert abs(wrong - mb) > 2e-3 * mb
        ok, feedback = ch04_gpt2.checkpoint_megabytes.checker(wrong)
        assert not ok and words in feedback, (wrong, feedback)


def test_success_messages_say_what_was_checked():
    for exercise, words in [(ch04_gpt2.gpt2_xl_parameters, "counted once"),
                            (ch04_gpt2.attention_weight_shapes, "(out, in)"),
                            (ch04_gpt2.checkpoint_megabytes, "MB")]:
        ok, feedback = exercise.checker(exercise.reference())
        assert ok and words in feedback, (exercise.key, feedback)
