"""Chapter 05 (long contexts) exercises: references agree with the library; rounded answers pass; slips are named."""

from __future__ import annotations

import torch

from bigmodel_lib import nn_numpy, nn_torch
from bigmodel_lib.exercises import ch05_long_context as ex
from bigmodel_lib.exercises.core import Exercise
from bigmodel_lib.nn_torch.gpt import GPT, GPTConfig

EXERCISES = [getattr(ex, name) for name in ex.__all__ if isinstance(getattr(ex, name), Exercise)]


def _verdict(exercise, answer):
    return exercise.checker(answer)


def test_every_exercise_is_listed_and_its_reference_passes():
    assert len(EXERCISES) == 4 and len({e.key for e in EXERCISES}) == 4
    for exercise in EXERCISES:
        assert exercise.key.startswith("ch05_long_context.")
        assert _verdict(exercise, exercise.reference())[0], exercise.key


def test_window_pairs_is_the_number_of_true_entries_of_the_mask():
    count = int(nn_numpy.sliding_window_mask(ex.PAIRS_LENGTH, ex.PAIRS_LENGTH, ex.PAIRS_WINDOW).sum())
    assert _verdict(ex.window_pairs, count)[0]
    ok, feedback = _verdict(ex.window_pairs, ex.PAIRS_LENGTH * ex.PAIRS_WINDOW)
    assert not ok and "overcounts" in feedback
    ok, feedback = _verdict(ex.window_pairs, ex.PAIRS_LENGTH * (ex.PAIRS_LENGTH + 1) // 2)
    assert not ok and "causal" in feedback
    ok, feedback = _verdict(ex.window_pairs, count + 1)
    assert not ok and "off by" in feedback


def test_receptive_rule_matches_a_model_and_the_slips_are_named():
    torch.manual_seed(0)
    n_layer, window, length = 2, 3, 12
    model = GPT(GPTConfig(vocab_size=5, block_size=length, n_layer=n_layer, n_head=1, d_model=8), dtype=torch.float64)
    nn_torch.with_attention(model.eval(), "window", window=window)
    ids = torch.randint(0, 5, (1, length))
    reached = 0
    for position in range(length):
        changed = ids.clone()
        changed[0, position] = (changed[0, position] + 1) % 5
        with torch.no_grad():
            reached += bool((model(changed)[0, -1] - model(ids)[0, -1]).abs().max() > 0)
    assert reached == ex.receptive_positions(n_layer, window)
    n, w = ex.RECEPTIVE_LAYERS, ex.RECEPTIVE_WINDOW
    for wrong, phrase in ((n * w, "once per layer"), (n * (w - 1), "distance back"), (w, "one layer")):
        ok, feedback = _verdict(ex.receptive_field, wrong)
        assert not ok and phrase in feedback, wrong


def test_cost_ratio_accepts_three_significant_figures_and_names_the_per_head_slip():
    assert _verdict(ex.cost_ratio, 256)[0] and _verdict(ex.cost_ratio, 256.4)[0]
    ok, feedback = _verdict(ex.cost_ratio, ex.COST_CONTEXT / ex.COST_D_MODEL)
    assert not ok and "per head" in feedback
    assert not _verdict(ex.cost_ratio, 250)[0]


def test_decoding_memory_matches_a_real_cache_and_names_the_slips():
    config = GPTConfig(vocab_size=8, block_size=ex.STATE_CONTEXT, n_layer=ex.STATE_N_LAYER, n_head=ex.STATE_N_HEAD,
                       d_model=ex.STATE_N_HEAD * ex.STATE_D_HEAD)
    model = GPT(config, device="meta", dtype=torch.bfloat16)
    cache = model.new_cache(1)
    cache_bytes = sum(t.numel() * t.element_size() for t in cache.keys + cache.values)
    state_bytes = ex.STATE_N_LAYER * ex.STATE_N_HEAD * ex.STATE_D_HEAD * (ex.STATE_D_HEAD + 1) * 2
    assert _verdict(ex.decoding_memory, (cache_bytes, state_bytes))[0]
    ok, feedback = _verdict(ex.decoding_memory, (cache_bytes // 2, state_bytes))
    assert not ok and "keys AND values" in feedback
    no_norm = ex.STATE_N_LAYER * ex.STATE_N_HEAD * ex.STATE_D_HEAD ** 2 * 2
    ok, feedback = _verdict(ex.decoding_memory, (cache_bytes, no_norm))
    assert not ok and "normaliser" in feedback
    ok, feedback = _verdict(ex.decoding_memory, (cache_bytes // ex.STATE_N_LAYER, state_bytes // ex.STATE_N_LAYER))
    assert not ok and "every layer" in feedback
