"""Training a language model: batches, the learning-rate schedule, one optimizer step, evaluation, the loop.

The pieces modern GPT training uses, each small enough to read:

* :func:`get_batch` -- random windows of a token stream; the target is the window shifted by one.
* :func:`warmup_cosine_lr` -- linear warm-up to ``max_lr``, then a cosine decay to ``min_lr``.
* :func:`train_step` -- forward, cross-entropy, backward, gradient clipping, AdamW step; optional
  bfloat16 autocast (on a GPU the matmuls then run on tensor cores; parameters stay float32).
* :func:`estimate_loss` -- mean loss over fixed batches in ``eval()`` mode, without gradients.
* :func:`bigram_cross_entropy` -- the loss of counting which token follows which: the baseline a
  Transformer has to beat to show it uses more than the previous character.
* :func:`train_language_model` -- the loop, with a progress bar, history and optional checkpoints.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bigmodel_lib.checkpoint import config_matches, load_checkpoint, restore_checkpoint, save_checkpoint
from bigmodel_lib.progress import progress as progress_bar

__all__ = [
    "TrainConfig",
    "TrainHistory",
    "bigram_cross_entropy",
    "estimate_loss",
    "get_batch",
    "maybe_compile",
    "train_language_model",
    "autocast",
    "optimizer_step",
    "train_step",
    "warmup_cosine_lr",
]


def get_batch(
    data: torch.Tensor, batch_size: int, block_size: int, generator: torch.Generator,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """``x, y (B, T)``: ``B`` windows of ``T`` tokens at random offsets of ``data (N,)``; ``y[:, t] = x[:, t+1]``."""
    if data.ndim != 1 or data.numel() <= block_size:
        raise ValueError(f"get_batch: 'data' must be 1-D and longer than block_size={block_size}, "
                         f"got shape {tuple(data.shape)}")
    starts = torch.randint(0, data.numel() - block_size, (batch_size,), generator=generator)  # (B,)
    offsets = starts[:, None] + torch.arange(block_size + 1)  # (B, 1) + (T+1,) -> (B, T+1)
    window = data[offsets]  # (B, T+1)
    x, y = window[:, :-1], window[:, 1:]  # (B, T) each
    if torch.device(device).type == "cuda":  # pinned memory lets the copy overlap with compute
        return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
    return x.to(device), y.to(device)


def warmup_cosine_lr(step: int, *, max_lr: float, min_lr: float, warmup_steps: int, total_steps: int) -> float:
    """``max_lr * (step+1)/warmup`` while warming up, then ``min_lr + (max_lr - min_lr)(1 + cos(pi r))/2``
    with ``r`` the fraction of the decay done (``0 -> 1``); ``min_lr`` after ``total_steps``."""
    if not 0 <= min_lr <= max_lr:
        raise ValueError(f"warmup_cosine_lr: need 0 <= min_lr <= max_lr, got min_lr={min_lr}, max_lr={max_lr}")
    if not 0 <= warmup_steps <= total_steps:
        raise ValueError(f"warmup_cosine_lr: need 0 <= warmup_steps <= total_steps, got {warmup_steps}, {total_steps}")
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    ratio = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + math.cos(math.pi * ratio))


def autocast(device_type: str, amp_dtype: torch.dtype | None):
    """bfloat16/float16 autocast when asked for, otherwise a no-op context."""
    return torch.autocast(device_type=device_type, dtype=amp_dtype, enabled=amp_dtype is not None)


def optimizer_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor, *,
                   grad_clip: float | None = 1.0) -> None:
    """``loss.backward()``, the gradients clipped to a global L2 norm of ``grad_clip``
    (``||g|| > c  ->  g c / ||g||``, which keeps one bad batch from wrecking the weights), one optimizer step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()


def train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    grad_clip: float | None = 1.0,
    amp_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """One optimizer step on ``(x, y)``; returns the loss (a detached tensor: reading it syncs a GPU).

    ``loss = mean_t CE(logits[:, t], y[:, t])``, then :func:`optimizer_step` (clipping to ``grad_clip``).
    """
    model.train()
    with autocast(x.device.type, amp_dtype):
        logits = model(x)  # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())  # (B*T, V), (B*T,)
    optimizer_step(model, optimizer, loss, grad_clip=grad_clip)
    return loss.detach()


@torch.no_grad()
def estimate_loss(
    model: torch.nn.Module, batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    *, amp_dtype: torch.dtype | None = None,
) -> float:
    """Mean cross-entropy (nats per token) over ``batches``, in ``eval()`` mode; restores the mode after."""
    was_training = model.training
    model.eval()
    try:
        total = 0.0
        for x, y in batches:
            with autocast(x.device.type, amp_dtype):
                logits = model(x)
            total += F.cross_entropy(logits.flatten(0, 1).float(), y.flatten()).item()
        return total / len(batches)
    finally:
        model.train(was_training)


def bigram_cross_entropy(train_ids: np.ndarray, eval_ids: np.ndarray, vocab_size: int, *, alpha: float = 0.1) -> float:
    """Cross-entropy (nats/token) on ``eval_ids`` of the counts model ``P(b | a) = (n_ab + alpha) / (n_a + alpha V)``.

    The counts ``n_ab`` (token ``b`` right after ``a``) come from ``train_ids``; ``alpha`` (add-alpha
    smoothing) keeps unseen pairs from getting probability 0. This is the best a model that looks only
    at the previous token can do (up to smoothing), so beating it shows the model uses longer context.
    """
    train_ids, eval_ids = np.asarray(train_ids), np.asarray(eval_ids)
    if alpha <= 0:
        raise ValueError(f"bigram_cross_entropy: 'alpha' must be > 0, got {alpha}")
    counts = np.zeros((vocab_size, vocab_size), dtype=np.float64)
    np.add.at(counts, (train_ids[:-1], train_ids[1:]), 1.0)  # n_ab
    probs = (counts + alpha) / (counts.sum(axis=1, keepdims=True) + alpha * vocab_size)  # (V, V) rows sum to 1
    return float(-np.log(probs[eval_ids[:-1], eval_ids[1:]]).mean())


def maybe_compile(model: torch.nn.Module, device: torch.device | str) -> torch.nn.Module:
    """``torch.compile(model)`` on CUDA (fuses the small element-wise kernels); the model itself elsewhere.

    On a CPU compiling costs tens of seconds for little gain on a model this small, so it is skipped.
    """
    if torch.device(device).type == "cuda":
        return torch.compile(model)
    return model


@dataclass
class TrainConfig:
    """Knobs of :func:`train_language_model` (plain values, so they fit in a checkpoint)."""

    steps: int = 1000
    batch_size: int = 32
    block_size: int = 128
    max_lr: float = 3e-3
    min_lr: float = 3e-4
    warmup_steps: int = 50
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float = 1.0
    eval_every: int = 100
    eval_batches: int = 10
    seed: int = 0


@dataclass
class TrainHistory:
    """What happened: training loss every step, validation loss every ``eval_every`` steps, timing."""

    step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    eval_train_loss: list[float] = field(default_factory=list)
    train_seconds: float = 0.0
    tokens: int = 0

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.train_seconds if self.train_seconds > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def train_language_model(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    train_data: torch.Tensor,
    val_data: torch.Tensor,
    config: TrainConfig,
    *,
    device: torch.device | str = "cpu",
    amp_dtype: torch.dtype | None = None,
    step_fn: Callable[..., torch.Tensor] | None = None,
    checkpoint_path: str | Path | None = None,
    progress: bool = True,
    on_eval: Callable[[int, float, torch.nn.Module], bool] | None = None,
) -> TrainHistory:
    """Train ``model`` for ``config.steps`` AdamW steps on random windows of ``train_data``.

    The learning rate follows :func:`warmup_cosine_lr`; every ``eval_every`` steps (and at the end)
    the loss on the *same* ``eval_batches`` windows of the training and validation streams is recorded.
    ``step_fn`` replaces :func:`train_step` (e.g. a compiled model is passed as ``model``). With
    ``checkpoint_path``, the final weights, optimizer state and history are saved there
    (:func:`bigmodel_lib.checkpoint.save_checkpoint`). Training time excludes evaluation. ``on_eval(step, val_loss,
    model)`` is called after every evaluation; when it returns ``True`` training stops there (early stopping,
    :mod:`bigmodel_lib.early_stopping`), without the final evaluation.
    """
    step_fn = step_fn or train_step
    batch_gen = torch.Generator().manual_seed(config.seed)
    eval_gen = torch.Generator().manual_seed(config.seed + 1)
    eval_sets = {
        name: [get_batch(data, config.batch_size, config.block_size, eval_gen, device)
               for _ in range(config.eval_batches)]
        for name, data in (("train", train_data), ("val", val_data))
    }
    history = TrainHistory()

    def evaluate(step: int) -> bool:
        """Record both losses at ``step``; ``True`` when ``on_eval`` asks to stop."""
        history.eval_step.append(step)
        history.eval_train_loss.append(estimate_loss(model, eval_sets["train"], amp_dtype=amp_dtype))
        history.val_loss.append(estimate_loss(model, eval_sets["val"], amp_dtype=amp_dtype))
        return on_eval is not None and bool(on_eval(step, history.val_loss[-1], model))

    bar = progress_bar(range(config.steps), desc="training", disable=not progress)
    for step in bar:
        if step % config.eval_every == 0:
            if evaluate(step):
                break
            bar.set_postfix(val_loss=f"{history.val_loss[-1]:.3f}")
        lr = warmup_cosine_lr(step, max_lr=config.max_lr, min_lr=config.min_lr,
                              warmup_steps=config.warmup_steps, total_steps=config.steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = get_batch(train_data, config.batch_size, config.block_size, batch_gen, device)
        start = time.perf_counter()
        loss = step_fn(model, optimizer, x, y, grad_clip=config.grad_clip, amp_dtype=amp_dtype)
        loss_value = loss.item()  # syncs the device, so the time below is the step's real time
        history.train_seconds += time.perf_counter() - start
        history.tokens += x.numel()
        history.step.append(step)
        history.train_loss.append(loss_value)
        history.lr.append(lr)
    else:  # the loop ran to the end (no early stop): the final evaluation
        evaluate(config.steps)
    if checkpoint_path is not None:
        save_checkpoint(checkpoint_path, model, optimizer, step=config.steps,
                        extra={"train_config": asdict(config), "history": history.to_dict()})
    return history


def load_history(checkpoint: dict[str, Any]) -> TrainHistory:
    """The :class:`TrainHistory` stored by :func:`train_language_model` in a checkpoint."""
    return TrainHistory(**checkpoint["extra"]["history"])


def resume_or_train(
    path: str | Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, train: Callable[[], TrainHistory],
    *, train_config: TrainConfig | None = None, map_location: str | torch.device = "cpu",
) -> tuple[TrainHistory, bool]:
    """Load ``path`` into ``model``/``optimizer`` if it holds a run of this very model; else run ``train()``.

    Returns ``(history, resumed)``. A notebook calls this so that re-running it reuses its trained
    weights instead of training again. The file is read with ``weights_only=True``. A checkpoint whose
    stored model config differs from ``model.config``, or (when ``train_config`` is given) whose stored
    training config differs from it -- the knobs were changed -- is ignored, with a message, and the model
    is trained afresh (``train()`` is expected to overwrite the file).
    """
    path = Path(path)
    if path.exists():
        checkpoint = load_checkpoint(path, map_location=map_location)  # read once, restored below if it fits
        same_model = config_matches(checkpoint["config"], model)
        same_training = train_config is None or checkpoint["extra"].get("train_config") == asdict(train_config)
        if same_model and same_training:
            restore_checkpoint(checkpoint, model, optimizer, source=str(path))
            return load_history(checkpoint), True
        what = "model config" if not same_model else "training config"
        print(f"resume_or_train: {path} was saved with another {what}; training afresh")
    return train(), False

