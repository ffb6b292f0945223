"""Chapter 04 (GPT) exercises: references agree with the library's own models; the usual slips are named."""

import math

import torch

from bigmodel_lib.exercises import ch04_gpt
from bigmodel_lib.exercises.core import Exercise
from bigmodel_lib.nn_torch.gpt import GPT

EXERCISES = [getattr(ch04_gpt, name) for name in ch04_gpt.__all__ if isinstance(getattr(ch04_gpt, name), Exercise)]


def test_every_exercise_of_the_notebook_is_listed():
    assert len(EXERCISES) == 5 and len({e.key for e in EXERCISES}) == 5


def test_parameter_count_and_flops_equal_the_models_own_numbers():
    model = GPT(ch04_gpt.EXERCISE_CONFIG, device="meta")  # shapes only, no memory
    assert ch04_gpt.gpt_parameter_count.checker(model.num_parameters())[0]
    assert ch04_gpt.training_flops_per_token.checker(model.flops_per_token(256))[0]
    untied = model.num_parameters() + model.tok_emb.weight.numel()
    ok, feedback = ch04_gpt.gpt_parameter_count.checker(untied)
    assert not ok and "tied" in feedback
    ok, feedback = ch04_gpt.training_flops_per_token.checker(2 * (model.num_parameters() - 256 * 384))
    assert not ok and "forward pass only" in feedback


def test_cache_memory_equals_the_bytes_of_a_real_cache():
    model = GPT(ch04_gpt.EXERCISE_CONFIG, device="meta", dtype=torch.bfloat16)
    cache = model.new_cache(ch04_gpt.CACHE_BATCH)
    real = sum(t.numel() * t.element_size() for t in cache.keys + cache.values)
    assert ch04_gpt.cache_memory.checker(real)[0]
    ok, feedback = ch04_gpt.cache_memory.checker(real // 2)
    assert not ok and "values" in feedback


def test_positions_processed_counts_what_generate_runs(monkeypatch):
    torch.manual_seed(0)
    config = ch04_gpt.EXERCISE_CONFIG
    small = GPT(type(config)(vocab_size=config.vocab_size, block_size=config.block_size, n_layer=1, n_head=1,
                             d_model=8))
    counted = {"positions": 0}
    original = GPT.forward

    def counting_forward(self, idx, cache=None):
        counted["positions"] += idx.shape[1]
        return original(self, idx, cache)

    monkeypatch.setattr(GPT, "forward", counting_forward)
    prompt = torch.zeros(1, ch04_gpt.GENERATE_PROMPT, dtype=torch.long)
    totals = []
    for use_cache in (False, True):
        counted["positions"] = 0
        small.generate(prompt, ch04_gpt.GENERATE_NEW, use_cache=use_cache)
        totals.append(counted["positions"])
    assert ch04_gpt.positions_processed.checker(tuple(totals))[0]


def test_perplexity_and_the_wrong_base():
    assert ch04_gpt.perplexity.checker(math.exp(1.5))[0]
    ok, feedback = ch04_gpt.perplexity.checker(2**1.5)
    assert not ok and "natural logarithm" in feedback


def test_answers_rounded_as_the_prompts_ask_pass():
    flops = ch04_gpt.training_flops_per_token.reference()
    assert "0.1 %" in ch04_gpt.training_flops_per_token.prompt
    assert ch04_gpt.training_flops_per_token.checker(float(f"{flops:.4g}"))[0]  # 4 significant figures
    assert not ch04_gpt.training_flops_per_token.checker(flops * 1.002)[0]
    assert "3 significant figures" in ch04_gpt.perplexity.prompt
    ok, feedback = ch04_gpt.perplexity.checker(4.48)  # e^1.5 = 4.4817 to 3 significant figures
    assert ok and "4.48" in feedback
    ok, feedback = ch04_gpt.perplexity.checker(4.5)  # 2 significant figures: outside 0.2 %
    assert not ok and "natural logarithm" not in feedback
    for exercise in (ch04_gpt.gpt_parameter_count, ch04_gpt.cache_memory, ch04_gpt.positions_processed):
        assert "exact int" in exercise.prompt
        assert exercise.checker(exercise.reference())[0]


def test_every_named_slip_is_named_and_lies_outside_the_tolerance():
    c = ch04_gpt.EXERCISE_CONFIG
    right = ch04_gpt.gpt_parameter_count.reference()
    count_slips = {
        right + c.vocab_size * c.d_model: "tied",
        right - c.block_size * c.d_model: "position table",
        right - c.n_layer * (3 * c.d_model + c.d_model + 4 * c.d_model + c.d_model): "biases",
        right - (c.n_layer * 4 + 2) * c.d_model: "LayerNorms",
        right - c.n_layer * (6 * c.d_model * c.d_model + 3 * c.d_model): "4 d_model wide",
    }
    for wrong, words in count_slips.items():
        ok, feedback = ch04_gpt.gpt_parameter_count.checker(wrong)
        assert not ok and words in feedback, (wrong, feedback)
    cache = ch04_gpt.cache_memory.reference()
    for wrong, words in {cache // 2: "values", cache * 2: "2 bytes", cache * c.n_head: "do not multiply"}.items():
        ok, feedback = ch04_gpt.cache_memory.checker(wrong)
        assert not ok and words in feedback, (wrong, feedback)
    uncached, cached = ch04_gpt.positions_processed.reference()
    ok, feedback = ch04_gpt.positions_processed.checker((uncached + ch04_gpt.GENERATE_NEW, cached + 1))
    assert not ok and "off by one" in feedback
    flops = ch04_gpt.training_flops_per_token.reference()
    attention = 12 * c.n_layer * c.d_model * 256
    for wrong, words in {flops - attention: "attention term", (flops - attention) / 3: "forward pass only",
                         flops / 3: "forward-only count with attention"}.items():
        assert abs(wrong - flops) > 1e-3 * flops
        ok, feedback = ch04_gpt.training_flops_per_token.checker(wrong)
        assert not ok and words in feedback, (wrong, feedback)
    ok, feedback = ch04_gpt.perplexity.checker(10**1.5)
    assert not ok and "10^loss" in feedback


def test_success_messages_say_what_was_checked():
    expected_words = [
        (ch04_gpt.gpt_parameter_count, "tied output matrix counted once"),
        (ch04_gpt.cache_memory, "K and V"),
        (ch04_gpt.positions_processed, "(6950, 119)"),
        (ch04_gpt.training_flops_per_token, "forward + backward"),
        (ch04_gpt.perplexity, "e^1.5"),
    ]
    for exercise, words in expected_words:
        ok, feedback = exercise.checker(exercise.reference())
        assert ok and words in feedback, (exercise.key, feedback)


# -- notebook 04.6 (performance) ------------------------------------------------------------------------------

from bigmodel_lib.benchmarks import hardware, scaling  # noqa: E402
from bigmodel_lib.exercises import ch04_performance  # noqa: E402


def test_performance_answers_equal_the_benchmark_libraries_own_formulas():
    s = ch04_performance.MEMORY_SHAPE
    computed = scaling.attention_weights_bytes(s["batch"], s["heads"], s["length"], s["bytes"])
    assert ch04_performance.attention_memory.checker(computed)[0]
    ok, feedback = ch04_performance.attention_memory.checker(computed * 2)
    assert not ok and "2 bytes" in feedback
    r = ch04_performance.MFU_RUN
    per_token = 6 * r["N"] + 12 * r["n_layer"] * r["d_model"] * r["seq_len"]
    assert ch04_performance.model_flops_utilization.checker(hardware.mfu(r["tokens_per_s"], per_token,
                                                                         r["dense_peak"]))[0]
    ok, feedback = ch04_performance.model_flops_utilization.checker(
        hardware.mfu(r["tokens_per_s"], per_token, 2 * r["dense_peak"]))
    assert not ok and "sparse" in feedback
