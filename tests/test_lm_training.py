"""Language-model training pieces: batches, the warm-up + cosine schedule, one step (clipping), the
bigram baseline, the loop with its history, and resuming from a checkpoint instead of retraining."""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
import pytest
import torch

from bigmodel_lib import lm_training
from bigmodel_lib.lm_training import (
    TrainConfig,
    bigram_cross_entropy,
    estimate_loss,
    get_batch,
    train_language_model,
    train_step,
    warmup_cosine_lr,
)
from bigmodel_lib.nn_torch.gpt import GPT, GPTConfig

TINY = GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=2, d_model=16)


def _periodic_stream(length: int = 4000) -> torch.Tensor:
    """0 1 2 3 4 0 1 2 ...: every next token is determined by the previous one."""
    return torch.arange(length) % 5


def test_get_batch_targets_are_inputs_shifted_by_one_and_reproducible():
    data = torch.arange(100)
    x, y = get_batch(data, 4, 10, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 10)
    assert torch.equal(y[:, :-1], x[:, 1:]) and torch.equal(y[:, -1], x[:, -1] + 1)
    x2, _ = get_batch(data, 4, 10, torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)
    with pytest.raises(ValueError, match="longer than block_size=10"):
        get_batch(torch.arange(10), 2, 10, torch.Generator())


def test_warmup_then_cosine_schedule():
    kw = {"max_lr": 1.0, "min_lr": 0.1, "warmup_steps": 10, "total_steps": 110}
    assert warmup_cosine_lr(0, **kw) == pytest.approx(0.1)
    assert warmup_cosine_lr(9, **kw) == pytest.approx(1.0)
    assert warmup_cosine_lr(10, **kw) == pytest.approx(1.0)
    assert warmup_cosine_lr(60, **kw) == pytest.approx(0.55)  # half way: the mean of max and min
    assert warmup_cosine_lr(110, **kw) == pytest.approx(0.1) and warmup_cosine_lr(500, **kw) == 0.1
    decay = [warmup_cosine_lr(s, **kw) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(decay, decay[1:]))
    assert warmup_cosine_lr(0, max_lr=1.0, min_lr=0.0, warmup_steps=0, total_steps=4) == 1.0
    with pytest.raises(ValueError, match="min_lr <= max_lr"):
        warmup_cosine_lr(0, max_lr=0.1, min_lr=1.0, warmup_steps=1, total_steps=2)
    with pytest.raises(ValueError, match="warmup_steps <= total_steps"):
        warmup_cosine_lr(0, max_lr=1.0, min_lr=0.0, warmup_steps=5, total_steps=2)


def test_train_step_clips_the_global_gradient_norm(monkeypatch):
    torch.manual_seed(0)
    model = GPT(TINY)
    opt = model.configure_optimizer(learning_rate=1e-3)
    x, y = get_batch(_periodic_stream(), 4, 8, torch.Generator().manual_seed(0))
    seen = {}
    original = opt.step

    def spy_step(*args, **kwargs):
        seen["norm"] = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()])).item()
        return original(*args, **kwargs)

    monkeypatch.setattr(opt, "step", spy_step)
    train_step(model, opt, x, y, grad_clip=1e-3)
    assert seen["norm"] == pytest.approx(1e-3, rel=1e-4)
    train_step(model, opt, x, y, grad_clip=None)
    assert seen["norm"] > 1e-2


def test_train_step_learns_a_deterministic_sequence():
    torch.manual_seed(0)
    model = GPT(TINY)
    opt = model.configure_optimizer(learning_rate=1e-2, weight_decay=0.0)
    gen = torch.Generator().manual_seed(0)
    losses = [train_step(model, opt, *get_batch(_periodic_stream(), 8, 8, gen)).item() for _ in range(60)]
    assert losses[0] > 1.0 and losses[-1] < 0.05


def test_bigram_cross_entropy_by_hand_and_on_a_markov_chain():
    train = np.array([0, 1, 0, 1, 0, 0])
    # counts from 0: ->1 twice, ->0 once; alpha=1, V=2: P(1|0) = 3/5, P(0|0) = 2/5; from 1: ->0 twice: P(0|1) = 3/4
    expected = -(np.log(3 / 5) + np.log(3 / 4)) / 2
    assert bigram_cross_entropy(train, np.array([0, 1, 0]), 2, alpha=1.0) == pytest.approx(expected)
    rng = np.random.default_rng(0)
    transition = np.array([[0.9, 0.1], [0.5, 0.5]])
    chain = [0]
    for _ in range(200_000):
        chain.append(int(rng.random() < transition[chain[-1], 1]))
    chain = np.array(chain)
    stationary = np.array([5 / 6, 1 / 6])
    entropy_rate = -(stationary[:, None] * transition * np.log(transition)).sum()
    assert bigram_cross_entropy(chain[:150_000], chain[150_000:], 2) == pytest.approx(entropy_rate, abs=0.01)
    with pytest.raises(ValueError, match="alpha"):
        bigram_cross_entropy(train, train, 2, alpha=0)


def test_estimate_loss_restores_training_mode_and_uses_no_dropout():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=2, d_model=16, dropout=0.5))
    batches = [get_batch(_periodic_stream(), 4, 8, torch.Generator().manual_seed(0))]
    first = estimate_loss(model, batches)
    assert model.training and estimate_loss(model, batches) == first
    model.eval()
    estimate_loss(model, batches)
    assert not model.training


def test_training_loop_history_checkpoint_and_resume(tmp_path):
    data = _periodic_stream()
    config = TrainConfig(steps=40, batch_size=8, block_size=8, max_lr=1e-2, min_lr=1e-3, warmup_steps=5,
                         eval_every=20, eval_batches=2)
    torch.manual_seed(0)
    model = GPT(TINY)
    opt = model.configure_optimizer(learning_rate=config.max_lr)
    path = tmp_path / "gpt.pt"
    history = train_language_model(model, opt, data[:3000], data[3000:], config, checkpoint_path=path,
                                   progress=False)
    assert history.step == list(range(40)) and history.eval_step == [0, 20, 40]
    assert history.lr[0] == pytest.approx(config.max_lr / 5) and history.lr[-1] < config.max_lr
    assert history.val_loss[-1] < 0.3 < math.log(5) * 0.9 < history.val_loss[0]
    assert history.tokens == 40 * 8 * 8 and history.tokens_per_second > 0
    assert path.exists()

    torch.manual_seed(1)
    fresh = GPT(TINY)
    fresh_opt = fresh.configure_optimizer(learning_rate=config.max_lr)

    def must_not_train():
        raise AssertionError("resume_or_train retrained although a checkpoint exists")

    resumed_history, resumed = lm_training.resume_or_train(path, fresh, fresh_opt, must_not_train)
    assert resumed and resumed_history.val_loss == history.val_loss
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), name
    assert fresh_opt.state_dict()["state"].keys() == opt.state_dict()["state"].keys()


def test_a_checkpoint_of_another_config_is_ignored_and_the_model_retrained(tmp_path, capsys):
    torch.manual_seed(0)
    small = GPT(TINY)
    path = tmp_path / "gpt.pt"
    from bigmodel_lib.checkpoint import save_checkpoint

    save_checkpoint(path, small, small.configure_optimizer(learning_rate=1e-3))
    wider = GPT(GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=2, d_model=32))
    marker = lm_training.TrainHistory(train_seconds=1.0)
    history, resumed = lm_training.resume_or_train(path, wider, wider.configure_optimizer(learning_rate=1e-3),
                                                   lambda: marker)
    assert history is marker and not resumed
    assert "another model config" in capsys.readouterr().out


def test_a_checkpoint_of_other_training_knobs_is_ignored_when_the_config_is_given(tmp_path, capsys):
    from bigmodel_lib.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = GPT(TINY)
    opt = model.configure_optimizer(learning_rate=1e-3)
    path = save_checkpoint(tmp_path / "gpt.pt", model, opt, extra={"train_config": asdict(TrainConfig(steps=10)),
                                                                   "history": lm_training.TrainHistory().to_dict()})
    marker = lm_training.TrainHistory(train_seconds=1.0)
    history, resumed = lm_training.resume_or_train(path, model, opt, lambda: marker,
                                                   train_config=TrainConfig(steps=20))
    assert history is marker and not resumed and "another training config" in capsys.readouterr().out
    _, resumed = lm_training.resume_or_train(path, model, opt, lambda: marker, train_config=TrainConfig(steps=10))
    assert resumed


def test_bfloat16_autocast_path_runs_on_the_cpu_and_keeps_float32_weights():
    """The GPU recipe (autocast to bfloat16) exercised where it can be: CPU autocast supports bfloat16 too."""
    torch.manual_seed(0)
    model = GPT(TINY)
    opt = model.configure_optimizer(learning_rate=1e-2, weight_decay=0.0)
    gen = torch.Generator().manual_seed(0)
    batch = get_batch(_periodic_stream(), 8, 8, gen)
    losses = [train_step(model, opt, *batch, amp_dtype=torch.bfloat16).item() for _ in range(30)]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert estimate_loss(model, [batch], amp_dtype=torch.bfloat16) < losses[0]
    assert lm_training.maybe_compile(model, "cpu") is model  # compiling is for CUDA only
