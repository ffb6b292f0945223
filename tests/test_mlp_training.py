"""The seed's MLP (1000 -> 500 -> 100 -> 1, MSE, Adam) trains identically in NumPy and PyTorch.

From the same initial weights and data, 100 full-batch Adam steps in float64 give loss curves
that agree to 1e-6 relative (in practice ~1e-12) and final weights that agree too.
"""

from __future__ import annotations

import numpy as np
import torch

from bigmodel_lib import nn_numpy, nn_torch, seed_everything


def _train_both(steps: int = 100, lr: float = 1e-3):
    seed_everything(0)
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((64, 1000))
    targets = inputs[:, :10].sum(axis=1, keepdims=True) / 3 + 0.1 * rng.standard_normal((64, 1))

    numpy_model = nn_numpy.MLP().double()
    torch_model = nn_torch.MLP(dtype=torch.float64)
    torch_model.load_state_dict(numpy_model.state_dict())

    criterion = nn_numpy.MSELoss()
    numpy_opt = nn_numpy.Adam(numpy_model.parameters(), lr=lr)
    numpy_losses = []
    for _ in range(steps):
        numpy_opt.zero_grad()
        loss = criterion(numpy_model(inputs), targets)
        numpy_model.backward(criterion.backward())
        numpy_opt.step()
        numpy_losses.append(float(loss))

    torch_criterion = nn_torch.MSELoss()
    torch_opt = torch.optim.Adam(torch_model.parameters(), lr=lr)
    x, y = torch.from_numpy(inputs), torch.from_numpy(targets)
    torch_losses = []
    for _ in range(steps):
        torch_opt.zero_grad()
        loss = torch_criterion(torch_model(x), y)
        loss.backward()
        torch_opt.step()
        torch_losses.append(loss.item())
    return numpy_model, torch_model, np.array(numpy_losses), np.array(torch_losses)


def test_numpy_and_torch_adam_training_agree() -> None:
    numpy_model, torch_model, numpy_losses, torch_losses = _train_both()
    np.testing.assert_allclose(numpy_losses, torch_losses, rtol=1e-6)
    assert numpy_losses[-1] < 0.1 * numpy_losses[0], "the MLP should actually learn"
    for name, value in torch_model.state_dict().items():
        np.testing.assert_allclose(numpy_model.state_dict()[name], value.numpy(), rtol=1e-6, atol=1e-9)


def test_seed_mlp_parameter_count() -> None:
    expected = 1000 * 500 + 500 + 500 * 100 + 100 + 100 * 1 + 1
    assert nn_numpy.MLP().num_parameters() == expected == 550_701
    assert nn_torch.MLP().num_parameters() == expected
