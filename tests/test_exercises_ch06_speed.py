"""Notebook 6.3's exercises: the reference answers agree with independent computations, answers rounded as the
prompts ask pass, and the usual slips fail with a message naming them (only where they differ from the right answer)."""

import pytest
import torch

from bigmodel_lib.exercises import ch06_speed as ex
from bigmodel_lib.exercises.core import Exercise
from bigmodel_lib.nn_torch.gpt import GPT, GPTConfig
from bigmodel_lib.utils import limit_cpu_threads

EXERCISES = [getattr(ex, name) for name in ex.__all__ if isinstance(getattr(ex, name), Exercise)]

@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one thread is fastest, and on a busy machine several threads waiting for each other are slow."""
    with limit_cpu_threads(1):
        yield


def verdict(exercise, answer):
    return exercise.checker(answer)


def test_every_exercise_is_listed_and_its_reference_passes():
    assert {e.key for e in EXERCISES} == {"ch06_speed.cache_positions", "ch06_speed.amdahl_step_speedup",
                                          "ch06_speed.compile_break_even"}
    for exercise in EXERCISES:
        ok, message = verdict(exercise, exercise.reference())
        assert ok and "checked" in message, exercise.key


# -- positions with and without the cache --------------------------------------------------------------------------

def test_cache_positions_match_the_positions_the_model_runs():
    """Count the positions GPT.forward actually receives during generation, with and without the cache."""
    prompt, new = ex.GENERATION["prompt"], ex.GENERATION["new_tokens"]
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=10, block_size=prompt + new, n_layer=1, n_head=2, d_model=8))
    counted = []
    hook = model.register_forward_pre_hook(lambda module, args: counted.append(args[0].shape[1]))
    ids = torch.zeros(1, prompt, dtype=torch.long)
    totals = []
    for use_cache in (False, True):
        counted.clear()
        model.generate(ids, new, temperature=0, use_cache=use_cache)
        totals.append(sum(counted))
    hook.remove()
    assert tuple(totals) == ex._positions(True) == (6150, 111)
    assert verdict(ex.cache_positions, (6150, 111))[0]
    assert verdict(ex.cache_positions, [6150.0, 111.0])[0]
    assert not verdict(ex.cache_positions, (6150, 112))[0]      # exact ints
    assert not verdict(ex.cache_positions, (6150,))[0]


@pytest.mark.parametrize(("answer", "words"), [((6262, 111), "one step too many"),
                                               ((6150, 100), "prompt is still run")])
def test_cache_positions_name_the_slips(answer, words):
    ok, message = verdict(ex.cache_positions, answer)
    assert not ok and words in message, message


# -- Amdahl's law ------------------------------------------------------------------------------------------------------

def test_amdahl_rounded_passes_and_slips_are_named():
    assert ex._amdahl() == pytest.approx(1 / (0.3 + 0.7 / 8))
    assert verdict(ex.amdahl_step_speedup, 2.58)[0]                # 2.5806 to 3 significant figures
    assert not verdict(ex.amdahl_step_speedup, 2.59)[0]
    assert not verdict(ex.amdahl_step_speedup, 2.6)[0]             # only 2 figures, off by more than half a unit
    for answer, words in [(8.0, "matmul speed-up alone"), (1.36, "swapped")]:
        ok, message = verdict(ex.amdahl_step_speedup, answer)
        assert not ok and words in message, message


# -- compile break-even ----------------------------------------------------------------------------------------------

def test_compile_break_even_within_one_percent_and_slips_named():
    run = ex.COMPILE_RUN
    steps = run["compile_seconds"] * 1e3 / (run["eager_ms_per_step"] - run["compiled_ms_per_step"])
    assert steps == pytest.approx(3750)
    for answer in (3750, 3751, 3720, 3780):                         # within 1 %
        assert verdict(ex.compile_break_even, answer)[0], answer
    assert not verdict(ex.compile_break_even, 3800)[0]
    for answer, words in [(938, "time *saved* per step"), (937.5, "time *saved* per step"), (3.75, "45,000 ms")]:
        ok, message = verdict(ex.compile_break_even, answer)
        assert not ok and words in message, message
