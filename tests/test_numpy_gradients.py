"""Every NumPy layer and loss passes a finite-difference gradient check in float64."""

from __future__ import annotations

import numpy as np
import pytest

from bigmodel_lib import nn_numpy as nn
from bigmodel_lib.gradcheck import check_gradients, numerical_gradient

rng = np.random.default_rng(1234)
X = rng.standard_normal((2, 3, 5))  # (batch, seq, features), float64

LAYERS = {
    "Linear": lambda: nn.Linear(5, 4, rng=np.random.default_rng(0)).double(),
    "Linear-no-bias": lambda: nn.Linear(5, 4, bias=False, rng=np.random.default_rng(0)).double(),
    "ReLU": nn.ReLU,
    "Tanh": nn.Tanh,
    "Sigmoid": nn.Sigmoid,
    "GELU": nn.GELU,
    "GELU-tanh": lambda: nn.GELU(approximate="tanh"),
    "Softmax-last": nn.Softmax,
    "Softmax-dim1": lambda: nn.Softmax(dim=1),
    "LayerNorm": lambda: nn.LayerNorm(5).double(),
    "LayerNorm-2d": lambda: nn.LayerNorm((3, 5)).double(),
    "LayerNorm-no-affine": lambda: nn.LayerNorm(5, elementwise_affine=False).double(),
    "Dropout-eval": lambda: nn.Dropout(0.5).eval(),
    "Sequential": lambda: nn.Sequential(nn.Linear(5, 6), nn.GELU(), nn.LayerNorm(6), nn.Linear(6, 2)).double(),
    "MLP": lambda: nn.MLP((5, 8, 6, 1)).double(),
    "MLP-tanh": lambda: nn.MLP((5, 8, 1), activation="tanh").double(),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_gradients(name: str) -> None:
    layer = LAYERS[name]()
    # A random affine shift keeps LayerNorm's learned scale from being trivially 1.
    for _, p in layer.named_parameters():
        p.data = p.data + 0.1 * np.random.default_rng(7).standard_normal(p.data.shape)
    result = check_gradients(layer, X.copy(), max_entries=None)
    assert result.passed
    assert "input[0]" in result.errors


def test_gradcheck_covers_every_parameter() -> None:
    mlp = nn.MLP((5, 4, 1)).double()
    result = check_gradients(mlp, X.copy())
    assert set(result.errors) == {"input[0]", *dict(mlp.named_parameters())}


def test_embedding_gradient_with_repeated_ids_and_padding() -> None:
    ids = np.array([[1, 2, 2, 0], [6, 1, 0, 3]])
    check_gradients(nn.Embedding(7, 3).double(), ids, max_entries=None)
    # With padding_idx the padding row is frozen on purpose (as in PyTorch), so it is checked apart.
    emb = nn.Embedding(7, 3, padding_idx=0).double()
    np.testing.assert_array_equal(emb.weight.data[0], 0.0)
    emb(ids)
    emb.backward(np.ones((2, 4, 3)))
    assert np.all(emb.weight.grad[0] == 0), "padding row must get no gradient"
    np.testing.assert_array_equal(emb.weight.grad[2], 2.0)  # id 2 appears twice
    np.testing.assert_array_equal(emb.weight.grad[5], 0.0)  # id 5 never appears


def test_dropout_backward_uses_the_forward_mask() -> None:
    drop = nn.Dropout(0.3, rng=np.random.default_rng(0))
    x = np.ones((50, 40))
    y = drop(x)
    grad = drop.backward(np.ones_like(x))
    np.testing.assert_array_equal(grad, y)  # d(x * mask/(1-p))/dx = mask/(1-p) = y when x = 1
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / 0.7)
    assert 0.25 < 1 - kept.mean() < 0.35


def test_dropout_keeps_the_mean() -> None:
    drop = nn.Dropout(0.5, rng=np.random.default_rng(1))
    y = drop(np.ones((200, 200)))
    assert abs(y.mean() - 1.0) < 0.02


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_gradient(reduction: str) -> None:
    target = rng.standard_normal(X.shape)
    assert check_gradients(nn.MSELoss(reduction), X.copy(), target, wrt=(0,)).passed


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_gradient_with_ignored_positions(reduction: str) -> None:
    target = np.array([[0, 4, -100], [2, -100, 1]])
    assert check_gradients(nn.CrossEntropyLoss(reduction=reduction), X.copy(), target).passed


def test_numerical_gradient_of_a_known_function() -> None:
    x = np.array([1.0, -2.0, 0.5])
    grad = numerical_gradient(lambda: float(np.sum(x**3)), x)
    np.testing.assert_allclose(grad, 3 * np.array([1.0, 4.0, 0.25]), rtol=1e-8)
    np.testing.assert_array_equal(x, [1.0, -2.0, 0.5])  # restored after perturbing


def test_gradcheck_catches_a_wrong_backward() -> None:
    class WrongTanh(nn.Tanh):
        def backward(self, grad_out):
            return grad_out * (1 - self._y)  # forgot the square

    with pytest.raises(AssertionError, match="disagree with finite differences"):
        check_gradients(WrongTanh(), X.copy())


def test_gradcheck_refuses_float32() -> None:
    with pytest.raises(TypeError, match="float64"):
        check_gradients(nn.Linear(5, 2), X.copy())
