"""EarlyStopping counts patience as documented, keeps a copy of the best weights, and its training loop is
train_language_model's loop step for step."""

import math

import pytest
import torch

from bigmodel_lib.early_stopping import EarlyStopping, train_with_early_stopping
from bigmodel_lib.lm_training import TrainConfig, train_language_model
from bigmodel_lib.nn_torch.gpt import GPT, GPTConfig


def test_patience_counts_evaluations_without_improvement():
    model = torch.nn.Linear(2, 1)
    stopper = EarlyStopping(patience=2)
    decisions = [stopper.update(step, loss, model) for step, loss in enumerate([3.0, 2.0, 2.5, 1.5, 1.6, 1.7, 0.1])]
    assert decisions == [False, False, False, False, False, True, True]  # frozen after stopping: 0.1 is ignored
    assert (stopper.best_loss, stopper.best_step, stopper.stopped_step) == (1.5, 3, 5)


def test_min_delta_and_nan_are_not_improvements():
    model = torch.nn.Linear(2, 1)
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    assert not stopper.update(0, 1.0, model)
    assert not stopper.update(1, 0.95, model)  # 0.05 lower: not enough
    assert stopper.update(2, math.nan, model)
    assert (stopper.best_loss, stopper.best_step) == (1.0, 0)


def test_best_state_is_a_copy_and_restore_loads_it():
    model = torch.nn.Linear(2, 1)
    stopper = EarlyStopping(patience=1)
    stopper.update(0, 1.0, model)
    saved = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)  # what an optimizer step does in place
    stopper.update(1, 2.0, model)
    assert torch.equal(stopper.best_state["weight"], saved)
    stopper.restore(model)
    assert torch.equal(model.weight, saved)


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"patience": 0}, "patience"), ({"patience": 1.5}, "patience"), ({"min_delta": -0.1}, "min_delta"),
])
def test_bad_knobs_fail_early(kwargs, words):
    with pytest.raises(ValueError, match=words):
        EarlyStopping(**kwargs)


def test_restore_before_update_and_bad_model_fail():
    with pytest.raises(RuntimeError, match="update"):
        EarlyStopping().restore(torch.nn.Linear(2, 1))
    with pytest.raises(TypeError, match="model"):
        EarlyStopping().update(0, 1.0, "model")


def _tiny_run():
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, d_model=16)
    model = GPT(config)
    data = torch.arange(400) % 11
    return model, model.configure_optimizer(1e-2, weight_decay=0.0), data[:300], data[300:]


def test_loop_matches_train_language_model_and_restores_the_best():
    train_config = TrainConfig(steps=12, batch_size=4, block_size=8, warmup_steps=2, eval_every=3, eval_batches=2)
    model, optimizer, train, val = _tiny_run()
    reference = train_language_model(model, optimizer, train, val, train_config, progress=False)
    model, optimizer, train, val = _tiny_run()
    stopper = EarlyStopping(patience=100)  # never stops: the same run as the reference
    history = train_with_early_stopping(model, optimizer, train, val, train_config, stopper, progress=False)
    assert history.train_loss == reference.train_loss
    assert history.val_loss == reference.val_loss and history.eval_step == reference.eval_step
    assert stopper.best_loss == min(history.val_loss)
    assert all(torch.equal(value, stopper.best_state[key]) for key, value in model.state_dict().items())


def test_stop_ends_the_loop_early():
    train_config = TrainConfig(steps=30, batch_size=4, block_size=8, warmup_steps=2, eval_every=3, eval_batches=2)
    model, optimizer, train, val = _tiny_run()
    stopper = EarlyStopping(patience=1, min_delta=10.0)  # nothing improves by 10 nats: stops at the 2nd evaluation
    history = train_with_early_stopping(model, optimizer, train, val, train_config, stopper, progress=False)
    assert history.eval_step == [0, 3] and len(history.train_loss) == 3
    assert stopper.stopped_step == 3 and stopper.best_step == 0
