"""NumPy layers agree with their nn_torch twins and with PyTorch's built-in modules (float64).

Tolerance: rtol 1e-10 (float64 round-off only). Weights travel through ``state_dict`` both ways.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bigmodel_lib import nn_numpy, nn_torch
from tests.agreement import assert_same_pass

X = np.random.default_rng(3).standard_normal((2, 4, 6))


pytestmark = pytest.mark.usefixtures("float64_default")


def _twin_pair(numpy_cls, torch_cls, *args, **kwargs):
    """Build both twins, copy the NumPy weights into the torch one, both in float64."""
    torch.manual_seed(0)
    theirs = torch_cls(*args, **kwargs).double()
    ours = numpy_cls(*args, **kwargs).double()
    for _, p in ours.named_parameters():  # non-trivial weights (LayerNorm starts at 1 and 0)
        p.data = np.random.default_rng(p.data.size).standard_normal(p.data.shape)
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs


PAIRS = {
    "Linear": (nn_numpy.Linear, nn_torch.Linear, (6, 3), {}),
    "Linear-no-bias": (nn_numpy.Linear, nn_torch.Linear, (6, 3), {"bias": False}),
    "LayerNorm": (nn_numpy.LayerNorm, nn_torch.LayerNorm, (6,), {}),
    "LayerNorm-2d": (nn_numpy.LayerNorm, nn_torch.LayerNorm, ((4, 6),), {}),
    "LayerNorm-no-bias": (nn_numpy.LayerNorm, nn_torch.LayerNorm, (6,), {"bias": False}),
    "ReLU": (nn_numpy.ReLU, nn_torch.ReLU, (), {}),
    "Tanh": (nn_numpy.Tanh, nn_torch.Tanh, (), {}),
    "Sigmoid": (nn_numpy.Sigmoid, nn_torch.Sigmoid, (), {}),
    "GELU": (nn_numpy.GELU, nn_torch.GELU, (), {}),
    "GELU-tanh": (nn_numpy.GELU, nn_torch.GELU, (), {"approximate": "tanh"}),
    "Softmax": (nn_numpy.Softmax, nn_torch.Softmax, (), {}),
    "Softmax-dim1": (nn_numpy.Softmax, nn_torch.Softmax, (), {"dim": 1}),
    "MLP": (nn_numpy.MLP, nn_torch.MLP, ((6, 5, 4, 2),), {}),
    "MLP-gelu": (nn_numpy.MLP, nn_torch.MLP, ((6, 5, 2),), {"activation": "gelu"}),
}


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_numpy_agrees_with_torch_twin(name: str) -> None:
    numpy_cls, torch_cls, args, kwargs = PAIRS[name]
    ours, theirs = _twin_pair(numpy_cls, torch_cls, *args, **kwargs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert_same_pass(ours, theirs, X)


BUILTINS = {
    "Linear": (nn_numpy.Linear, lambda: torch.nn.Linear(6, 3)),
    "LayerNorm": (nn_numpy.LayerNorm, lambda: torch.nn.LayerNorm(6)),
    "LayerNorm-no-affine": (nn_numpy.LayerNorm, lambda: torch.nn.LayerNorm(6, elementwise_affine=False)),
}


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_from_pytorch_matches_the_builtin(name: str) -> None:
    numpy_cls, make = BUILTINS[name]
    torch.manual_seed(1)
    builtin = make().double()
    with torch.no_grad():
        for p in builtin.parameters():
            p.normal_()
    ours = numpy_cls.from_pytorch(builtin)
    assert ours.state_dict().keys() == builtin.state_dict().keys()
    assert_same_pass(ours, builtin, X)
    twin = getattr(nn_torch, numpy_cls.__name__).from_pytorch(builtin)
    assert_same_pass(ours, twin, X)


def test_embedding_agrees_with_builtin_including_padding() -> None:
    builtin = torch.nn.Embedding(9, 4, padding_idx=2).double()
    ids = np.array([[1, 2, 2, 8], [0, 1, 2, 5]])
    for ours in (nn_numpy.Embedding.from_pytorch(builtin), nn_torch.Embedding.from_pytorch(builtin)):
        if isinstance(ours, torch.nn.Module):
            torch.testing.assert_close(ours(torch.from_numpy(ids)), builtin(torch.from_numpy(ids)))
            continue
        assert ours.padding_idx == 2
        assert_same_pass(ours, builtin, ids)


def test_builtin_activations_match() -> None:
    for ours, builtin in [
        (nn_numpy.GELU(), torch.nn.GELU()),
        (nn_numpy.GELU("tanh"), torch.nn.GELU(approximate="tanh")),
        (nn_numpy.Sigmoid(), torch.nn.Sigmoid()),
        (nn_numpy.Softmax(-1), torch.nn.Softmax(-1)),
    ]:
        assert_same_pass(ours, builtin, X)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_losses_match_pytorch(reduction: str) -> None:
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((3, 4, 7)) * 5
    target = rng.integers(0, 7, size=(3, 4))
    target[0, 1] = -100
    ours = nn_numpy.CrossEntropyLoss(reduction=reduction)
    value = ours(logits, target)
    grad = ours.backward()
    lt = torch.tensor(logits, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(lt.reshape(-1, 7), torch.from_numpy(target).reshape(-1),
                                                 reduction=reduction)
    expected.backward()
    np.testing.assert_allclose(value, expected.item(), rtol=1e-12)
    np.testing.assert_allclose(grad, lt.grad.numpy(), rtol=1e-10, atol=1e-14)
    twin = nn_torch.CrossEntropyLoss(reduction=reduction)(torch.tensor(logits), torch.from_numpy(target))
    np.testing.assert_allclose(twin.item(), value, rtol=1e-12)

    prediction, goal = rng.standard_normal((5, 2)), rng.standard_normal((5, 2))
    mse = nn_numpy.MSELoss(reduction)
    pt = torch.tensor(prediction, requires_grad=True)
    expected = torch.nn.functional.mse_loss(pt, torch.tensor(goal), reduction=reduction)
    expected.backward()
    np.testing.assert_allclose(mse(prediction, goal), expected.item(), rtol=1e-12)
    np.testing.assert_allclose(mse.backward(), pt.grad.numpy(), rtol=1e-12)


def test_cross_entropy_is_exact_for_huge_logits() -> None:
    logits = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]])
    target = np.array([1, 2])
    loss = nn_numpy.CrossEntropyLoss()
    value = loss(logits, target)
    # Row 0: log-softmax of the target is -1e4 exactly; row 1: log(1/2).
    np.testing.assert_allclose(value, (1e4 + np.log(2)) / 2, rtol=1e-12)
    assert np.all(np.isfinite(loss.backward()))


def test_state_dicts_travel_both_ways_and_keep_dtypes() -> None:
    numpy_model = nn_numpy.MLP((4, 3, 2))  # float32
    torch_model = nn_torch.MLP((4, 3, 2), dtype=torch.float64)
    torch_model.load_state_dict(numpy_model.state_dict())
    assert torch_model.layers[0].weight.dtype == torch.float64
    np.testing.assert_allclose(torch_model.layers[0].weight.detach().numpy(), numpy_model.layers[0].weight.data)
    back = nn_numpy.MLP((4, 3, 2))
    back.load_state_dict(torch_model.state_dict())
    assert back.layers[0].weight.data.dtype == np.float32
    np.testing.assert_array_equal(back.layers[2].bias.data, numpy_model.layers[2].bias.data)
