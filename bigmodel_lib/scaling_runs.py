"""A grid of small GPT training runs for a scaling-law fit: sizes x token budgets, stored and resumable.

Each run trains a fresh :class:`~bigmodel_lib.nn_torch.gpt.GPT` with its own warm-up + cosine schedule
(decaying to a tenth of the peak, as Hoffmann et al. 2022 do: a separate schedule per token budget, since a
run cut short of its schedule's end reads too high a loss) through
:func:`~bigmodel_lib.lm_training.train_language_model`, then records::

    N      non-embedding parameters (Kaplan et al.'s count: bigmodel_lib.scale.ModelShape)
    D      training tokens = steps x batch_size x block_size
    flops_6nd, flops_training   6 N D, and forward + backward with the output layer and attention counted
    val_loss, train_loss        on fixed evaluation windows (the same for every run of a grid)
    seconds                     training time (evaluation excluded) and the load average when it ran

Results live in one JSON file, keyed by every knob that changes a run (sizes, steps, batch, context, learning
rates, seed, the data's fingerprint): calling :func:`run_scaling_grid` again with the same knobs trains
nothing and returns the stored results; changing a knob trains only the runs it changes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bigmodel_lib._checks import check_positive_int
from bigmodel_lib.benchmarks.timing import load_average
from bigmodel_lib.lm_training import TrainConfig, train_language_model
from bigmodel_lib.nn_torch.gpt import GPT, GPTConfig
from bigmodel_lib.progress import progress as progress_bar
from bigmodel_lib.scale import ModelShape, six_n_d

__all__ = ["GridKnobs", "ModelSize", "data_fingerprint", "load_results", "run_key", "run_scaling_grid"]

RESULTS_VERSION = 1


@dataclass(frozen=True)
class ModelSize:
    """The shape of one GPT of the family: layers, width and heads (``d_model % n_head == 0``)."""

    n_layer: int
    d_model: int
    n_head: int

    def __post_init__(self) -> None:
        for name in ("n_layer", "d_model", "n_head"):
            check_positive_int("ModelSize", name, getattr(self, name))
        if self.d_model % self.n_head:
            raise ValueError(f"ModelSize: 'd_model' must be divisible by 'n_head', got d_model={self.d_model}, "
                             f"n_head={self.n_head}")

    def shape(self, vocab_size: int, context: int) -> ModelShape:
        """The :class:`~bigmodel_lib.scale.ModelShape` of this size (GPT-2 style, tied output, as ``nn_torch.GPT``)."""
        return ModelShape(vocab_size=vocab_size, n_layer=self.n_layer, d_model=self.d_model, n_head=self.n_head,
                          context=context)


@dataclass(frozen=True)
class GridKnobs:
    """What every run of a grid shares. ``warmup_fraction``: warm-up steps as a fraction of each run's steps;
    ``min_lr_ratio``: the cosine ends at ``max_lr * min_lr_ratio`` (Hoffmann et al.: 0.1)."""

    batch_size: int = 16
    block_size: int = 32
    max_lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup_fraction: float = 0.1
    weight_decay: float = 0.1
    eval_batches: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("batch_size", "block_size", "eval_batches"):
            check_positive_int("GridKnobs", name, getattr(self, name))
        if not (isinstance(self.seed, int) and not isinstance(self.seed, bool) and self.seed >= 0):
            raise ValueError(f"GridKnobs: 'seed' must be an int >= 0, got {self.seed!r}")
        if not self.max_lr > 0:
            raise ValueError(f"GridKnobs: 'max_lr' must be > 0, got {self.max_lr!r}")
        for name in ("min_lr_ratio", "warmup_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"GridKnobs: '{name}' must be in [0, 1], got {getattr(self, name)!r}")

    def train_config(self, steps: int) -> TrainConfig:
        """The :class:`TrainConfig` of one run of ``steps`` steps: evaluated at its start and its end only."""
        return TrainConfig(steps=steps, batch_size=self.batch_size, block_size=self.block_size, max_lr=self.max_lr,
                           min_lr=self.max_lr * self.min_lr_ratio,
                           warmup_steps=max(1, round(self.warmup_fraction * steps)),
                           weight_decay=self.weight_decay, eval_every=steps, eval_batches=self.eval_batches,
                           seed=self.seed)


def data_fingerprint(train_ids: np.ndarray, val_ids: np.ndarray, vocab_size: int) -> str:
    """A short SHA-256 of the two token streams and the vocabulary size: results of other data never match."""
    digest = hashlib.sha256()
    for ids in (train_ids, val_ids):
        digest.update(np.ascontiguousarray(ids, dtype=np.int64).tobytes())
    digest.update(str(vocab_size).encode())
    return digest.hexdigest()[:16]


def run_key(size: ModelSize, steps: int, knobs: GridKnobs, fingerprint: str) -> str:
    """The JSON key of one run: every knob that changes its result, in a fixed order."""
    return json.dumps({"size": asdict(size), "steps": steps, "knobs": asdict(knobs), "data": fingerprint},
                      sort_keys=True)


def load_results(path: str | Path) -> dict[str, dict[str, Any]]:
    """The stored runs of ``path`` (``{}`` if the file is missing or of another version)."""
    path = Path(path)
    if not path.exists():
        return {}
    stored = json.loads(path.read_text(encoding="utf-8"))
    return stored.get("runs", {}) if stored.get("version") == RESULTS_VERSION else {}


def _save_results(path: Path, runs: dict[str, dict[str, Any]]) -> None:
    """Write atomically (a temporary file, then a rename): an interrupted run never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps({"version": RESULTS_VERSION, "runs": runs}, indent=1), encoding="utf-8")
    os.replace(temporary, path)


def _train_one(size: ModelSize, steps: int, knobs: GridKnobs, train_data: torch.Tensor, val_data: torch.Tensor,
               vocab_size: int, device: torch.device) -> dict[str, Any]:
    config = GPTConfig(vocab_size=vocab_size, block_size=knobs.block_size, n_layer=size.n_layer,
                       n_head=size.n_head, d_model=size.d_model)
    torch.manual_seed(knobs.seed)  # the same initial weights for a size at every budget
    model = GPT(config, device=device)
    optimizer = model.configure_optimizer(knobs.max_lr, weight_decay=knobs.weight_decay)
    shape = size.shape(vocab_size, knobs.block_size)
    n_non_embedding = shape.non_embedding_parameters()
    embedding = model.tok_emb.weight.numel() + model.pos_emb.weight.numel()
    if model.num_parameters() - embedding != n_non_embedding:  # the estimator and the model must agree
        raise RuntimeError(f"run_scaling_grid: ModelShape counts {n_non_embedding} non-embedding parameters, "
                           f"the model has {model.num_parameters() - embedding}")
    train_config = knobs.train_config(steps)
    history = train_language_model(model, optimizer, train_data, val_data, train_config, device=device,
                                   progress=False)
    tokens = steps * knobs.batch_size * knobs.block_size
    return {
        "n_layer": size.n_layer, "d_model": size.d_model, "n_head": size.n_head, "steps": steps,
        "non_embedding_params": n_non_embedding, "total_params": shape.num_parameters(),
        "tokens": tokens, "flops_6nd": six_n_d(n_non_embedding, tokens),
        "flops_training": shape.training_flops(tokens),
        "val_loss": history.val_loss[-1], "train_loss": history.eval_train_loss[-1],
        "initial_val_loss": history.val_loss[0],
        "seconds": history.train_seconds, "device": str(device), "load_average": load_average(),
    }


def run_scaling_grid(
    sizes: Sequence[ModelSize], steps: Sequence[int], *, train_ids: np.ndarray, val_ids: np.ndarray,
    vocab_size: int, results_path: str | Path, knobs: GridKnobs | None = None,
    device: torch.device | str = "cpu", progress: bool = True,
) -> list[dict[str, Any]]:
    """Train every ``size`` for every number of ``steps`` (each a separate run) unless ``results_path``
    already holds that run; return one result per run, sizes outer, steps inner.

    Each result is a dict (see the module docstring) plus ``"resumed"``: ``True`` when it was read from
    the file rather than trained now. The file is rewritten after every run, so an interrupted grid loses
    at most the run in progress.
    """
    where = "run_scaling_grid"
    knobs = knobs or GridKnobs()
    sizes = list(sizes)
    steps = list(steps)
    if not sizes or not all(isinstance(s, ModelSize) for s in sizes):
        raise TypeError(f"{where}: 'sizes' must be a non-empty sequence of ModelSize, got {sizes!r}")
    if not steps:
        raise ValueError(f"{where}: 'steps' must be a non-empty sequence of positive ints, got {steps!r}")
    for count in steps:
        check_positive_int(where, "steps", count)
    check_positive_int(where, "vocab_size", vocab_size)
    device = torch.device(device)
    fingerprint = data_fingerprint(train_ids, val_ids, vocab_size)
    train_data, val_data = torch.as_tensor(train_ids, dtype=torch.long), torch.as_tensor(val_ids, dtype=torch.long)
    path = Path(results_path)
    stored = load_results(path)
    results = []
    grid = [(size, count) for size in sizes for count in steps]
    bar = progress_bar(grid, desc="scaling grid", disable=not progress)
    for size, count in bar:
        key = run_key(size, count, knobs, fingerprint)
        if key in stored:
            results.append({**stored[key], "resumed": True})
            continue
        bar.set_postfix(run=f"L{size.n_layer} d{size.d_model} x {count} steps")
        result = _train_one(size, count, knobs, train_data, val_data, vocab_size, device)
        stored[key] = result
        _save_results(path, stored)
        results.append({**result, "resumed": False})
    return results
