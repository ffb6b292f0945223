"""Saving and loading training checkpoints safely.

A checkpoint is a plain dictionary of tensors, numbers, strings, lists and dicts, written with
``torch.save`` and read back with ``torch.load(..., weights_only=True)``. ``weights_only`` makes the
unpickler refuse anything but those types, so opening a checkpoint from someone else cannot run
their code (a full pickle can execute arbitrary Python when loaded). Everything we store -- the
model's ``state_dict``, the optimizer's ``state_dict``, the step, the model config as a dict, a
training history of floats -- fits in those types, so nothing is lost by being safe.

Layout::

    {"format": "bigmodel-checkpoint/1", "model": {...}, "optimizer": {...} or None,
     "step": int, "config": dict or None, "extra": dict}
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "CHECKPOINT_FORMAT", "config_matches", "load_checkpoint", "model_config_dict", "restore_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "bigmodel-checkpoint/1"


def model_config_dict(model: torch.nn.Module) -> dict[str, Any] | None:
    """``model.config`` as a plain dict (what a checkpoint stores), or ``None`` for a model without one."""
    config = getattr(_unwrap(model), "config", None)
    if config is None:
        return None
    if dataclasses.is_dataclass(config):
        return dataclasses.asdict(config)
    return dict(config)


def config_matches(stored: Any, model: torch.nn.Module) -> bool:
    """Whether a checkpoint's stored config describes ``model``'s config.

    Fields added to the config class after the checkpoint was saved take their defaults, so a run
    saved by an older version of the library is still recognised when nothing it stored differs.
    """
    config = getattr(_unwrap(model), "config", None)
    if isinstance(stored, dict) and dataclasses.is_dataclass(config):
        try:
            stored = dataclasses.asdict(type(config)(**stored))
        except (TypeError, ValueError):  # a field this version does not know, or a value it refuses
            return False
    return stored == model_config_dict(model)


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside a ``torch.compile`` wrapper (its state_dict keys carry an ``_orig_mod.`` prefix)."""
    return getattr(model, "_orig_mod", model)


def save_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    step: int = 0,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write model (and optimizer) state to ``path`` atomically: a temporary file, then a rename.

    Tensors are moved to the CPU, so a checkpoint written on a GPU loads anywhere. ``extra`` must
    hold only plain values (numbers, strings, lists, dicts, tensors): that is checked now, by
    loading the file back with ``weights_only=True``, rather than discovered by the next reader.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = _unwrap(model)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "step": int(step),
        "config": model_config_dict(model),
        "extra": extra or {},
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    try:
        torch.load(tmp, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 -- report any unpickling refusal the same way
        tmp.unlink(missing_ok=True)
        raise TypeError(
            f"save_checkpoint: the checkpoint holds an object that weights_only loading refuses ({err}); "
            "store only tensors, numbers, strings, lists and dicts in 'extra'"
        ) from err
    os.replace(tmp, path)
    return path


def load_checkpoint(
    path: str | Path,
    model: torch.nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    map_location: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Read ``path`` with ``torch.load(..., weights_only=True)``; load it into ``model``/``optimizer`` if given.

    Returns the whole checkpoint dictionary (``step``, ``config``, ``extra`` ...). Raises
    ``FileNotFoundError`` for a missing file and ``ValueError`` for a file that is not one of ours.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load_checkpoint: no checkpoint at {path}")
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"load_checkpoint: {path} is not a {CHECKPOINT_FORMAT!r} checkpoint")
    restore_checkpoint(checkpoint, model, optimizer, source=str(path))
    return checkpoint


def restore_checkpoint(
    checkpoint: dict[str, Any],
    model: torch.nn.Module | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    *,
    source: str = "the checkpoint",
) -> None:
    """Put a checkpoint already read by :func:`load_checkpoint` into ``model`` and/or ``optimizer``."""
    if model is not None:
        _unwrap(model).load_state_dict(checkpoint["model"])
    if optimizer is not None:
        if checkpoint["optimizer"] is None:
            raise ValueError(f"load_checkpoint: {source} holds no optimizer state")
        optimizer.load_state_dict(checkpoint["optimizer"])
