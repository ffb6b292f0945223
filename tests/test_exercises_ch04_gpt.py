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
