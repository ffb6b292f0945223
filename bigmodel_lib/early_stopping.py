"""Early stopping: watch the validation loss, keep the best weights, stop when it has stopped improving.

The rule (Prechelt 1998, "Early stopping -- but when?", in *Neural Networks: Tricks of the Trade*; Goodfellow,
Bengio & Courville 2016, *Deep Learning*, section 7.8, Algorithm 7.1)::

    after each evaluation at step t with validation loss L_t:
        if L_t < best - min_delta:   best = L_t, best_step = t, best_weights = copy(weights), bad = 0
        else:                        bad = bad + 1
        stop when bad == patience    (patience evaluations in a row without an improvement)
    at the end: weights = best_weights

so the model kept is the one with the lowest validation loss seen before stopping: the training steps after it
only fitted the training set more closely (over-fitting) and are thrown away.

* :class:`EarlyStopping` -- the rule above, for any loop that evaluates now and then;
* :func:`train_with_early_stopping` -- :func:`bigmodel_lib.lm_training.train_language_model`'s loop (same
  batches, same schedule, same evaluation windows) with an :class:`EarlyStopping` asked after every evaluation.
"""

from __future__ import annotations

import math

import torch

from bigmodel_lib._checks import check_positive_int
from bigmodel_lib.lm_training import TrainConfig, TrainHistory, train_language_model

__all__ = ["EarlyStopping", "train_with_early_stopping"]


class EarlyStopping:
    """Keep the weights of the lowest validation loss; say "stop" after ``patience`` evaluations without one.

    ``min_delta``: how much lower than the best a loss must be to count as an improvement (``0``: any decrease).
    A NaN loss never counts as one. Once :meth:`update` has returned ``True`` the stopper is frozen: later calls
    change nothing and return ``True`` (so a loop that keeps going, to draw the whole curve, still restores the
    weights an early-stopped run would have kept).
    """

    def __init__(self, patience: int = 3, min_delta: float = 0.0) -> None:
        check_positive_int("EarlyStopping", "patience", patience)
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)) or not min_delta >= 0:
            raise ValueError(f"EarlyStopping: 'min_delta' must be a number >= 0, got {min_delta!r}")
        self.patience, self.min_delta = patience, float(min_delta)
        self.best_loss = math.inf
        self.best_step: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None
        self.bad_evaluations = 0
        self.stopped_step: int | None = None

    @property
    def stopped(self) -> bool:
        return self.stopped_step is not None

    def update(self, step: int, val_loss: float, model: torch.nn.Module) -> bool:
        """Record the validation loss of ``model`` at ``step``; copy its weights if it is the best so far.
        Returns ``True`` when training should stop."""
        if self.stopped:
            return True
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"EarlyStopping.update: 'model' must be a torch.nn.Module, got {type(model).__name__}")
        loss = float(val_loss)
        if loss < self.best_loss - self.min_delta:  # False for NaN
            self.best_loss, self.best_step, self.bad_evaluations = loss, int(step), 0
            # clone: the state_dict's tensors share memory with the parameters the optimizer goes on changing
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            return False
        self.bad_evaluations += 1
        if self.bad_evaluations >= self.patience:
            self.stopped_step = int(step)
        return self.stopped

    def restore(self, model: torch.nn.Module) -> None:
        """Load the best weights back into ``model``."""
        if self.best_state is None:
            raise RuntimeError("EarlyStopping.restore: no validation loss recorded yet (call update first)")
        model.load_state_dict(self.best_state)


def train_with_early_stopping(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    train_data: torch.Tensor,
    val_data: torch.Tensor,
    config: TrainConfig,
    stopper: EarlyStopping,
    *,
    stop: bool = True,
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> TrainHistory:
    """:func:`~bigmodel_lib.lm_training.train_language_model` with ``stopper`` told every validation loss (``on_eval``).

    Same random windows, learning-rate schedule and evaluation windows as that function for the same ``config``,
    so the two give the same history step for step (tested). ``stop=True``: the loop ends at the evaluation where
    the stopper says so. ``stop=False``: it goes on to ``config.steps`` (to see the whole curve), the stopper frozen
    where it would have stopped. Either way the model holds the stopper's best weights at the end.
    """
    if not isinstance(stopper, EarlyStopping):
        raise TypeError(f"train_with_early_stopping: 'stopper' must be an EarlyStopping, got {type(stopper).__name__}")

    def on_eval(step: int, val_loss: float, evaluated: torch.nn.Module) -> bool:
        said_stop = stopper.update(step, val_loss, evaluated)  # frozen once it has said stop
        return said_stop and stop

    history = train_language_model(model, optimizer, train_data, val_data, config, device=device, progress=progress,
                                   on_eval=on_eval)
    stopper.restore(model)
    return history
