"""``bigmodel_lib.benchmarks.speedups``: the correctness parts only (verdicts, rows, same batches, steps to a
target). No assertion on any time: timings depend on the machine and its load."""

import copy

import pytest
import torch

from bigmodel_lib.benchmarks.speedups import (
    SpeedupRow,
    TrainingVariant,
    rows_markdown,
    speed_verdict,
    time_training_steps,
    train_until,
)
from bigmodel_lib.lm_training import estimate_loss, get_batch, train_step
from bigmodel_lib.nn_torch.gpt import GPT, GPTConfig
from bigmodel_lib.utils import limit_cpu_threads

CONFIG = GPTConfig(vocab_size=12, block_size=8, n_layer=1, n_head=2, d_model=16)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one thread is fastest, and on a busy machine several threads waiting for each other are slow."""
    with limit_cpu_threads(1):
        yield


def tiny_data(n=400):
    """A repeating pattern a tiny GPT learns in a few dozen steps."""
    return torch.arange(n) % 6


def fresh_model():
    torch.manual_seed(0)
    return GPT(CONFIG)


@pytest.mark.parametrize(("ratio", "words"), [
    (2.0, "2.00x faster"), (1.1, "1.10x faster"), (0.25, "4.00x slower"), (1.0, "no clear difference (1.00x)"),
    (1.05, "no clear difference (1.05x)"), (0.95, "no clear difference (0.95x)"),
])
def test_speed_verdict_reads_the_ratio(ratio, words):
    assert speed_verdict(ratio) == words


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_speed_verdict_rejects_bad_ratios(bad):
    with pytest.raises(ValueError, match="ratio"):
        speed_verdict(bad)


def test_speedup_row_ratio_paid_off_and_table():
    fast = SpeedupRow("cache", "no cache", "token", 0.004, 0.001, "same tokens", True)
    wrong = SpeedupRow("broken", "baseline", "step", 0.004, 0.001, "loss gap 1.0 <= 0.01", False)
    slow = SpeedupRow("bf16", "fp32", "step", 0.010, 0.030, "loss gap 1e-4 <= 0.05", True)
    assert fast.ratio == pytest.approx(4.0) and fast.paid_off and fast.verdict() == "4.00x faster"
    assert not wrong.paid_off, "a speed-up whose output check failed never pays off"
    assert not slow.paid_off and slow.verdict() == "3.00x slower"
    table = rows_markdown([fast, wrong, slow]).splitlines()
    assert len(table) == 5 and table[0].startswith("| technique |")
    assert "4 ms" in table[2] and "1 ms" in table[2] and "passed" in table[2]
    assert "FAILED" in table[3]
    with pytest.raises(ValueError, match="seconds"):
        SpeedupRow("x", "y", "step", 0.0, 1.0, "", True)
    with pytest.raises(ValueError, match="empty"):
        rows_markdown([])


def test_variants_train_on_the_same_batches_and_match_a_plain_loop():
    base = fresh_model()
    variants = {}
    for name in ("a", "b"):
        model = copy.deepcopy(base)
        variants[name] = TrainingVariant(model, model.configure_optimizer(1e-2))
    timings = time_training_steps(variants, tiny_data(), steps=4, batch_size=3, block_size=8, seed=5)
    assert set(timings) == {"a", "b"}
    assert all(len(t.steady.seconds) == 3 and t.first_seconds > 0 for t in timings.values())
    assert variants["a"].losses == variants["b"].losses and len(variants["a"].losses) == 4
    # the same four steps, by hand, on the same batches
    model = copy.deepcopy(base)
    optimizer = model.configure_optimizer(1e-2)
    generator = torch.Generator().manual_seed(5)
    expected = [float(train_step(model, optimizer, *get_batch(tiny_data(), 3, 8, generator))) for _ in range(4)]
    assert variants["a"].losses == pytest.approx(expected, abs=0)
    for p, q in zip(model.parameters(), variants["a"].model.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_variant_context_and_autocast_run():
    from torch.nn.attention import SDPBackend, sdpa_kernel

    base = fresh_model()
    entered = []

    def math_attention():
        entered.append(1)
        return sdpa_kernel(SDPBackend.MATH)

    variants = {}
    for name, amp, context in [("fp32", None, None), ("bf16", torch.bfloat16, None), ("math", None, math_attention)]:
        model = copy.deepcopy(base)
        variants[name] = TrainingVariant(model, model.configure_optimizer(1e-2), amp_dtype=amp, context=context)
    time_training_steps(variants, tiny_data(), steps=3, batch_size=2, block_size=8)
    assert len(entered) == 3
    # the explicit attention path computes the same function (float32 rounding), bf16 within its precision
    gaps = {name: max(abs(a - b) for a, b in zip(v.losses, variants["fp32"].losses)) for name, v in variants.items()}
    assert gaps["math"] < 1e-4 and gaps["bf16"] < 0.05


def test_time_training_steps_checks_its_arguments():
    model = fresh_model()
    variant = {"a": TrainingVariant(model, model.configure_optimizer(1e-2))}
    with pytest.raises(ValueError, match="steps"):
        time_training_steps(variant, tiny_data(), steps=1, batch_size=2, block_size=8)
    with pytest.raises(ValueError, match="empty"):
        time_training_steps({}, tiny_data(), steps=3, batch_size=2, block_size=8)


def test_train_until_stops_at_the_target_and_is_deterministic():
    data = tiny_data()
    eval_batches = [get_batch(data, 4, 8, torch.Generator().manual_seed(9))]
    start = estimate_loss(fresh_model(), eval_batches)
    results = []
    for _ in range(2):
        model = fresh_model()
        results.append(train_until("adamw", model, model.configure_optimizer(1e-2), data, eval_batches,
                                   target=start - 1.0, max_steps=200, eval_every=5, batch_size=4, block_size=8))
    first, second = results
    assert first.reached and first.reached_step % 5 == 0
    assert first.eval_losses[-1] <= first.target < min(first.eval_losses[:-1], default=float("inf"))
    assert (first.reached_step, first.eval_losses) == (second.reached_step, second.eval_losses)
    assert "reached" in first.describe()
    seen = []
    model = fresh_model()
    never = train_until("sgd", model, torch.optim.SGD(model.parameters(), lr=1e-4), data, eval_batches,
                        target=0.0, max_steps=12, eval_every=5, batch_size=4, block_size=8,
                        on_eval=lambda step, loss: seen.append(step))
    assert not never.reached and never.eval_steps == (5, 10, 12) and seen == [5, 10, 12]
    assert "did not reach" in never.describe()
    with pytest.raises(ValueError, match="eval_batches"):
        train_until("x", model, torch.optim.SGD(model.parameters(), lr=1e-4), data, [], target=0.0,
                    max_steps=2, eval_every=1, batch_size=2, block_size=8)
