"""Optimizers in NumPy, written to follow ``torch.optim`` update for update.

Each keeps a list of :class:`Parameter` and reads ``p.grad`` in ``step()``. The formulas are those
of PyTorch's documentation, so the same gradients give the same weights (tested to 1e-6).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from bigmodel_lib.nn_numpy.module import Parameter


class Optimizer:
    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: 'params' is empty")
        for i, p in enumerate(self.params):
            if not isinstance(p, Parameter):
                raise TypeError(f"{type(self).__name__}: params[{i}] must be a Parameter, got {type(p).__name__}")
        if lr <= 0:
            raise ValueError(f"{type(self).__name__}: 'lr' must be positive, got {lr}")
        self.lr = lr
        self.state: list[dict[str, np.ndarray]] = [{} for _ in self.params]
        self.step_count = 0

    def zero_grad(self) -> None:
        for p in self.params:
            p.zero_grad()

    def step(self) -> None:
        self.step_count += 1
        for p, state in zip(self.params, self.state):
            self._update(p, state)

    def _update(self, p: Parameter, state: dict[str, np.ndarray]) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum and L2 weight decay.

    ``g = grad + wd * w``;  with momentum ``b = mu * b + g`` (``b = g`` at the first step)
    and ``g = b`` (or ``g + mu * b`` for Nesterov);  then ``w = w - lr * g``.
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(params, lr)
        if nesterov and momentum <= 0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        self.momentum, self.weight_decay, self.nesterov = momentum, weight_decay, nesterov

    def _update(self, p: Parameter, state: dict[str, np.ndarray]) -> None:
        g = p.grad + self.weight_decay * p.data if self.weight_decay else p.grad
        if self.momentum:
            buf = state.get("momentum_buffer")
            buf = g.copy() if buf is None else self.momentum * buf + g
            state["momentum_buffer"] = buf
            g = g + self.momentum * buf if self.nesterov else buf
        p.data -= self.lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015). ``weight_decay`` here is L2 added to the gradient, as in torch.

    ``m = b1 m + (1-b1) g``,  ``v = b2 v + (1-b2) g^2``,
    ``w = w - lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)``.
    """

    decoupled = False

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"{type(self).__name__}: 'betas' must be in [0, 1), got {betas}")
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay

    def _update(self, p: Parameter, state: dict[str, np.ndarray]) -> None:
        beta1, beta2 = self.betas
        g = p.grad
        if self.weight_decay and self.decoupled:
            p.data *= 1 - self.lr * self.weight_decay  # AdamW: shrink the weights, not the gradient
        elif self.weight_decay:
            g = g + self.weight_decay * p.data
        m = state.setdefault("exp_avg", np.zeros_like(p.data))
        v = state.setdefault("exp_avg_sq", np.zeros_like(p.data))
        m *= beta1
        m += (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * g * g
        t = self.step_count
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        p.data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class AdamW(Adam):
    """Adam with *decoupled* weight decay (Loshchilov & Hutter, 2019): ``w = w (1 - lr wd)`` first.

    Unlike L2 in Adam, the decay is not divided by ``sqrt(v)``, so every weight shrinks at the
    same rate. Default ``weight_decay=0.01``, as in PyTorch.
    """

    decoupled = True

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)
