"""Fine-tuning a pre-trained GPT: a sequence classifier on its body, and its training loop (PyTorch).

:class:`GPTClassifier` is the classifier source article 4 (原文4 §5) sketches as "Embedding + MultiheadAttention +
Linear", built properly: token embedding + learned positions, the causal Transformer blocks of a
:class:`~bigmodel_lib.nn_torch.gpt.GPT`, a final LayerNorm, **mean pooling over the real (non-padding) tokens**,
and a Linear head to the classes. With right padding and a causal model no real token ever attends to a pad
(pads come after it), so the pooled vector of a padded text equals that of the unpadded text (tested).

It is built from the library's layers (each with its NumPy twin), so it lives here rather than in the model
packages: a NumPy ``GPTClassifier`` would repeat ``nn_numpy.GPT`` plus a mean and a Linear.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bigmodel_lib._checks import check_positive_int
from bigmodel_lib.lm_training import warmup_cosine_lr
from bigmodel_lib.nn_torch.gpt import GPT
from bigmodel_lib.nn_torch.linear import Linear
from bigmodel_lib.progress import progress

__all__ = ["ClassifierHistory", "GPTClassifier", "classifier_accuracy", "encode_padded", "gpt_hidden_states",
           "train_classifier"]


def encode_padded(texts: Sequence[str], encode, length: int, pad_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``ids (N, length)`` int64, right-padded with ``pad_id`` (texts cut to ``length``), and ``lengths (N,)``."""
    check_positive_int("encode_padded", "length", length)
    ids = torch.full((len(texts), length), pad_id, dtype=torch.long)
    lengths = torch.zeros(len(texts), dtype=torch.long)
    for row, text in enumerate(texts):
        encoded = torch.as_tensor(np.asarray(encode(text[:length])), dtype=torch.long)
        if encoded.numel() == 0:
            raise ValueError(f"encode_padded: text {row} is empty; every text needs at least one token")
        ids[row, :encoded.numel()] = encoded
        lengths[row] = encoded.numel()
    return ids, lengths


def gpt_hidden_states(gpt: GPT, idx: torch.Tensor) -> torch.Tensor:
    """``(B, T) -> (B, T, d)``: the GPT's final-LayerNorm output, before the (tied) output layer."""
    t = idx.shape[1]
    if t > gpt.config.block_size:
        raise ValueError(f"gpt_hidden_states: 'idx' has {t} positions, the GPT's block_size is {gpt.config.block_size}")
    x = gpt.tok_emb(idx)  # (B, T, d)
    if gpt.config.position == "learned":
        x = x + gpt.pos_emb(torch.arange(t, device=idx.device))  # (B, T, d) + (T, d)
    x = gpt.dropout(x)
    for layer, block in enumerate(gpt.blocks):
        x = block(x, None, layer)  # (B, T, d) -> (B, T, d)
    return gpt.norm_f(x)


class GPTClassifier(nn.Module):
    """``logits (B, C)`` = head(mean over the first ``lengths[b]`` positions of the GPT body's states).

    ``body``: a GPT (its output layer is not used; the tied token table still embeds the input).
    """

    def __init__(self, body: GPT, num_classes: int) -> None:
        super().__init__()
        check_positive_int("GPTClassifier", "num_classes", num_classes)
        self.body = body
        ref = body.tok_emb.weight
        self.head = Linear(body.config.d_model, num_classes, device=ref.device, dtype=ref.dtype)

    def pooled(self, idx: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        hidden = gpt_hidden_states(self.body, idx)  # (B, T, d)
        real = (torch.arange(idx.shape[1], device=idx.device)[None, :] < lengths[:, None]).to(hidden.dtype)  # (B, T)
        return (hidden * real[..., None]).sum(dim=1) / real.sum(dim=1, keepdim=True)  # (B, d)

    def forward(self, idx: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(self.pooled(idx, lengths))  # (B, d) -> (B, C)


@torch.no_grad()
def classifier_accuracy(model: nn.Module, ids: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor,
                        batch_size: int = 256) -> float:
    """Fraction of ``labels`` predicted (argmax of the logits), in ``eval()`` mode (restored after)."""
    was_training = model.training
    model.eval()
    correct = 0
    for start in range(0, len(labels), batch_size):
        part = slice(start, start + batch_size)
        correct += (model(ids[part], lengths[part]).argmax(dim=-1) == labels[part]).sum().item()
    model.train(was_training)
    return correct / len(labels)


@dataclass
class ClassifierHistory:
    """Training loss every step, validation accuracy every ``eval_every`` steps (and at the end)."""

    step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)


def train_classifier(
    model: nn.Module, train: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor, torch.Tensor], *, steps: int, batch_size: int = 32,
    max_lr: float = 1e-3, weight_decay: float = 0.01, eval_every: int = 50, seed: int = 0, desc: str = "classifier",
) -> tuple[ClassifierHistory, torch.optim.AdamW]:
    """AdamW on the parameters with ``requires_grad`` (warm-up of ``steps // 10`` then cosine to ``max_lr / 10``),
    cross-entropy on random mini-batches of ``train = (ids, lengths, labels)``; validation accuracy every
    ``eval_every`` steps and at the end. Returns the history and the optimizer (to measure its state)."""
    check_positive_int("train_classifier", "steps", steps)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=max_lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    ids, lengths, labels = train
    history = ClassifierHistory()
    bar = progress(range(steps), desc=desc)
    for step in bar:
        if step % eval_every == 0:
            history.eval_step.append(step)
            history.val_accuracy.append(classifier_accuracy(model, *val))
            bar.set_postfix(val_acc=f"{history.val_accuracy[-1]:.3f}")
        for group in optimizer.param_groups:
            group["lr"] = warmup_cosine_lr(step, max_lr=max_lr, min_lr=max_lr / 10, warmup_steps=steps // 10,
                                           total_steps=steps)
        batch = torch.randint(0, len(labels), (batch_size,), generator=generator)  # (B,)
        model.train()
        loss = F.cross_entropy(model(ids[batch], lengths[batch]), labels[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        history.step.append(step)
        history.train_loss.append(loss.item())
    history.eval_step.append(steps)
    history.val_accuracy.append(classifier_accuracy(model, *val))
    bar.set_postfix(val_acc=f"{history.val_accuracy[-1]:.3f}")  # the saved line shows the final accuracy
    bar.refresh()
    return history, optimizer
