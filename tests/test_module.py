"""The NumPy module base: parameter trees, modes, dtypes, printing, reproducible initialisation."""

from __future__ import annotations

import numpy as np
import torch

from bigmodel_lib import nn_numpy, nn_torch, seed_everything


def test_named_parameters_follow_pytorch_naming_and_order() -> None:
    ours = nn_numpy.Sequential(nn_numpy.Linear(3, 4), nn_numpy.ReLU(), nn_numpy.LayerNorm(4))
    theirs = nn_torch.Sequential(nn_torch.Linear(3, 4), nn_torch.ReLU(), nn_torch.LayerNorm(4))
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_train_and_eval_reach_every_child() -> None:
    model = nn_numpy.MLP((4, 8, 2), dropout=0.5)
    assert all(layer.training for layer in model.layers)
    model.eval()
    assert not any(layer.training for layer in model.layers)
    x = np.ones((3, 4), np.float32)
    np.testing.assert_array_equal(model(x), model(x))  # dropout off: deterministic


def test_to_dtype_casts_parameters_and_gradients() -> None:
    layer = nn_numpy.Linear(3, 2).double()
    assert layer.weight.data.dtype == np.float64 and layer.weight.grad.dtype == np.float64
    out = layer(np.ones((1, 3)))
    assert out.dtype == np.float64
    assert layer.float().bias.data.dtype == np.float32


def test_numpy_compute_keeps_float32() -> None:
    model = nn_numpy.MLP((5, 4, 3))
    x = np.ones((2, 5), np.float32)
    assert model(x).dtype == np.float32
    assert model.backward(np.ones((2, 3), np.float32)).dtype == np.float32


def test_seed_everything_makes_initialisation_reproducible() -> None:
    seed_everything(42)
    a, ta = nn_numpy.MLP((6, 5, 1)), nn_torch.MLP((6, 5, 1))
    seed_everything(42)
    b, tb = nn_numpy.MLP((6, 5, 1)), nn_torch.MLP((6, 5, 1))
    for name in a.state_dict():
        np.testing.assert_array_equal(a.state_dict()[name], b.state_dict()[name])
        torch.testing.assert_close(ta.state_dict()[name], tb.state_dict()[name])


def test_linear_initialisation_matches_pytorch_bounds() -> None:
    layer = nn_numpy.Linear(400, 300, rng=np.random.default_rng(0))
    bound = 1 / np.sqrt(400)
    assert np.abs(layer.weight.data).max() <= bound
    assert abs(layer.weight.data.std() - bound / np.sqrt(3)) < 0.01 * bound  # std of U(-b, b)


def test_sequential_indexing_and_repr() -> None:
    seq = nn_numpy.Sequential(nn_numpy.Linear(2, 3), nn_numpy.Tanh())
    assert len(seq) == 2 and isinstance(seq[1], nn_numpy.Tanh) and isinstance(seq[-1], nn_numpy.Tanh)
    text = repr(nn_numpy.MLP((2, 3, 1)))
    assert "(0): Linear(in_features=2, out_features=3, bias=True)" in text and "(1): ReLU()" in text


def test_state_dict_is_a_copy() -> None:
    layer = nn_numpy.Linear(2, 2)
    state = layer.state_dict()
    state["weight"][:] = 0
    assert np.any(layer.weight.data != 0)


def test_losses_keep_float32_gradients() -> None:
    """A float32 training step stays float32 end to end (a float64 gradient would double its cost)."""
    prediction, target = np.ones((4, 3), np.float32), np.zeros((4, 3), np.float32)
    mse = nn_numpy.MSELoss()
    mse(prediction, target)
    assert mse.backward().dtype == np.float32
    ce = nn_numpy.CrossEntropyLoss()
    ce(prediction, np.array([0, 1, 2, 0]))
    assert ce.backward().dtype == np.float32
