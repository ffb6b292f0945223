"""Optimizers: PyTorch's own. ``nn_numpy.optim`` re-implements exactly these update rules."""

from torch.optim import SGD, Adam, AdamW, Optimizer

__all__ = ["SGD", "Adam", "AdamW", "Optimizer"]
