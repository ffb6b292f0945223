"""NumPy optimizers and penalties reproduce torch.optim and autograd update for update (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bigmodel_lib import nn_numpy, nn_torch

CONFIGS = {
    "sgd": (nn_numpy.SGD, torch.optim.SGD, {"lr": 0.1}),
    "sgd-wd": (nn_numpy.SGD, torch.optim.SGD, {"lr": 0.1, "weight_decay": 0.05}),
    "momentum": (nn_numpy.SGD, torch.optim.SGD, {"lr": 0.05, "momentum": 0.9}),
    "nesterov": (nn_numpy.SGD, torch.optim.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    "adam": (nn_numpy.Adam, torch.optim.Adam, {"lr": 0.01}),
    "adam-l2": (nn_numpy.Adam, torch.optim.Adam, {"lr": 0.01, "weight_decay": 0.1, "betas": (0.8, 0.99)}),
    "adamw": (nn_numpy.AdamW, torch.optim.AdamW, {"lr": 0.01, "weight_decay": 0.1}),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_optimizer_matches_torch(name: str) -> None:
    numpy_cls, torch_cls, kwargs = CONFIGS[name]
    rng = np.random.default_rng(0)
    start = [rng.standard_normal((4, 3)), rng.standard_normal(3)]
    ours = [nn_numpy.Parameter(w.copy()) for w in start]
    theirs = [torch.tensor(w.copy(), requires_grad=True) for w in start]
    opt_ours, opt_theirs = numpy_cls(ours, **kwargs), torch_cls(theirs, **kwargs)
    for _ in range(25):
        grads = [rng.standard_normal(w.shape) for w in start]
        for p, g in zip(ours, grads):
            p.grad = g.copy()
        for p, g in zip(theirs, grads):
            p.grad = torch.from_numpy(g.copy())
        opt_ours.step()
        opt_theirs.step()
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_zero_grad_resets_every_parameter() -> None:
    layer = nn_numpy.Linear(3, 2)
    opt = nn_numpy.SGD(layer.parameters(), lr=0.1)
    layer(np.ones((1, 3), np.float32))
    layer.backward(np.ones((1, 2), np.float32))
    assert np.any(layer.weight.grad != 0)
    opt.zero_grad()
    assert all(np.all(p.grad == 0) for p in layer.parameters())


@pytest.mark.parametrize(("numpy_cls", "torch_cls"), [(nn_numpy.L1Penalty, nn_torch.L1Penalty),
                                                      (nn_numpy.L2Penalty, nn_torch.L2Penalty)])
def test_penalties_match_autograd(numpy_cls, torch_cls) -> None:
    rng = np.random.default_rng(1)
    weights = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    params = [nn_numpy.Parameter(w.copy()) for w in weights]
    tensors = [torch.tensor(w, requires_grad=True) for w in weights]
    penalty = numpy_cls(0.3)
    value = penalty(params)
    penalty.backward()
    expected = torch_cls(0.3)(tensors)
    expected.backward()
    np.testing.assert_allclose(value, expected.item(), rtol=1e-12)
    for p, t in zip(params, tensors):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)


def test_l2_penalty_equals_sgd_weight_decay() -> None:
    """(lambda/2)||w||^2 added to the loss is exactly SGD's weight_decay=lambda."""
    w0 = np.random.default_rng(2).standard_normal(6)
    with_penalty, with_decay = nn_numpy.Parameter(w0.copy()), nn_numpy.Parameter(w0.copy())
    penalty = nn_numpy.L2Penalty(0.2)
    opt_a, opt_b = nn_numpy.SGD([with_penalty], lr=0.1), nn_numpy.SGD([with_decay], lr=0.1, weight_decay=0.2)
    for _ in range(5):
        opt_a.zero_grad()
        opt_b.zero_grad()
        penalty([with_penalty])
        penalty.backward()
        opt_a.step()
        opt_b.step()
    np.testing.assert_allclose(with_penalty.data, with_decay.data, rtol=1e-14)
    np.testing.assert_allclose(with_decay.data, w0 * (1 - 0.1 * 0.2) ** 5, rtol=1e-14)


def test_penalty_backward_needs_a_forward() -> None:
    with pytest.raises(RuntimeError, match="before the penalty was computed"):
        nn_numpy.L1Penalty(0.1).backward()
    with pytest.raises(ValueError, match="'strength' must be >= 0"):
        nn_numpy.L2Penalty(-1.0)
