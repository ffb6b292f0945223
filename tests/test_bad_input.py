"""Bad input fails early with a ValueError/TypeError naming the argument, expected and received."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bigmodel_lib import nn_numpy, nn_torch

F32 = np.zeros((2, 3, 5), dtype=np.float32)


@pytest.mark.parametrize("pkg", ["numpy", "torch"])
@pytest.mark.parametrize(
    ("make", "x", "error", "pattern"),
    [
        # wrong feature size
        (lambda m: m.Linear(4, 2), F32, ValueError, r"Linear: 'x' expected shape \(\.\.\., 4\), got \(2, 3, 5\)"),
        (lambda m: m.LayerNorm(4), F32, ValueError, r"LayerNorm: 'x' expected shape \(\.\.\., 4\), got \(2, 3, 5\)"),
        (lambda m: m.MLP((4, 3, 1)), F32, ValueError, r"expected shape \(\.\.\., 4\), got \(2, 3, 5\)"),
        # wrong rank
        (lambda m: m.Linear(5, 2), np.ones((), np.float32), ValueError, r"expected shape \(\.\.\., 5\), got \(\)"),
        (lambda m: m.LayerNorm((3, 5)), np.zeros(5, np.float32), ValueError, r"expected shape \(\.\.\., 3, 5\), got \(5,\)"),
        # wrong dtype kind
        (lambda m: m.Linear(5, 2), np.zeros((2, 5), np.int64), TypeError, r"'x' must have a floating-point dtype, got int64"),
        (lambda m: m.LayerNorm(5), np.zeros((2, 5), bool), TypeError, r"floating-point dtype, got bool"),
        (lambda m: m.Embedding(10, 3), np.zeros((2, 5), np.float32), TypeError, r"'ids' must have an integer dtype"),
        # out-of-range ids
        (lambda m: m.Embedding(10, 3), np.array([[1, 10]]), ValueError, r"'ids' must be in \[0, 10\), got values in \[1, 10\]"),
        (lambda m: m.Embedding(10, 3), np.array([[-1, 2]]), ValueError, r"'ids' must be in \[0, 10\)"),
    ],
)
def test_layers_refuse_bad_input(pkg, make, x, error, pattern) -> None:
    module = make(nn_numpy if pkg == "numpy" else nn_torch)
    data = x if pkg == "numpy" else torch.from_numpy(np.asarray(x))
    with pytest.raises(error, match=pattern):
        module(data)


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: nn_numpy.Linear(0, 2), ValueError, r"'in_features' must be a positive int, got 0"),
        (lambda: nn_numpy.Linear(3, 2.5), ValueError, r"'out_features' must be a positive int, got 2.5"),
        (lambda: nn_numpy.Dropout(1.0), ValueError, r"'p' must be in \[0, 1\), got 1.0"),
        (lambda: nn_torch.Dropout(-0.1), ValueError, r"'p' must be in \[0, 1\)"),
        (lambda: nn_numpy.GELU("fast"), ValueError, r"'approximate' must be 'none' or 'tanh'"),
        (lambda: nn_numpy.MLP((5,)), ValueError, r"at least an input and an output size"),
        (lambda: nn_numpy.MLP((5, 2), activation="swish"), ValueError, r"'activation' must be one of"),
        (lambda: nn_torch.MLP((5, 2), activation="swish"), ValueError, r"'activation' must be one of"),
        (lambda: nn_numpy.Embedding(5, 2, padding_idx=5), ValueError, r"'padding_idx' must be in \[0, 5\)"),
        (lambda: nn_numpy.MSELoss("avg"), ValueError, r"'reduction' must be one of"),
        (lambda: nn_numpy.Sequential(nn_numpy.ReLU(), "relu"), TypeError, r"layer 1 must be a nn_numpy Module"),
        (lambda: nn_numpy.SGD([], lr=0.1), ValueError, r"'params' is empty"),
        (lambda: nn_numpy.Adam(nn_numpy.Linear(2, 2).parameters(), lr=-1), ValueError, r"'lr' must be positive"),
        (lambda: nn_numpy.SGD(nn_numpy.Linear(2, 2).parameters(), lr=0.1, nesterov=True), ValueError, "momentum > 0"),
    ],
)
def test_constructors_refuse_bad_arguments(call, error, pattern) -> None:
    with pytest.raises(error, match=pattern):
        call()


def test_numpy_layers_refuse_lists_and_tensors_with_a_hint() -> None:
    layer = nn_numpy.Linear(2, 2)
    with pytest.raises(TypeError, match=r"'x' must be a NumPy array, got list \(wrap it with np.asarray\)"):
        layer([[1.0, 2.0]])
    with pytest.raises(TypeError, match=r"got Tensor \(call .detach\(\).cpu\(\).numpy\(\) on a tensor\)"):
        layer(torch.zeros(1, 2))


def test_torch_layers_refuse_numpy_arrays() -> None:
    with pytest.raises(TypeError, match=r"'x' must be a torch.Tensor, got ndarray \(use torch.as_tensor\)"):
        nn_torch.Linear(2, 2)(np.zeros((1, 2), np.float32))


def test_losses_refuse_mismatched_shapes() -> None:
    # (N, 1) against (N,) would broadcast silently to (N, N): refused in both packages.
    with pytest.raises(ValueError, match=r"'target' expected the shape of 'prediction' \(4, 1\), got \(4,\)"):
        nn_numpy.MSELoss()(np.zeros((4, 1)), np.zeros(4))
    with pytest.raises(ValueError, match=r"'target' expected the shape of 'prediction' \(4, 1\), got \(4,\)"):
        nn_torch.MSELoss()(torch.zeros(4, 1), torch.zeros(4))
    with pytest.raises(ValueError, match=r"CrossEntropyLoss: 'target' expected shape \(3, 4\)"):
        nn_numpy.CrossEntropyLoss()(np.zeros((3, 4, 5)), np.zeros((3, 5), np.int64))
    with pytest.raises(ValueError, match=r"CrossEntropyLoss: 'target' expected shape \(3, 4\) .* got \(3, 5\)"):
        nn_torch.CrossEntropyLoss()(torch.zeros(3, 4, 5), torch.zeros(3, 5, dtype=torch.long))
    with pytest.raises(TypeError, match=r"'target' must have an integer dtype"):
        nn_numpy.CrossEntropyLoss()(np.zeros((3, 5)), np.zeros(3))
    with pytest.raises(ValueError, match=r"'target' values must be in \[0, 5\)"):
        nn_numpy.CrossEntropyLoss()(np.zeros((3, 5)), np.array([0, 5, 1]))


def test_backward_shape_and_order_are_checked() -> None:
    layer = nn_numpy.Linear(3, 2)
    with pytest.raises(RuntimeError, match="Linear.backward called before forward"):
        layer.backward(np.zeros((1, 2)))
    layer(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"'grad_out' expected the forward output's shape \(4, 2\), got \(4, 3\)"):
        layer.backward(np.zeros((4, 3)))


def test_load_state_dict_reports_keys_and_shapes() -> None:
    layer = nn_numpy.Linear(3, 2)
    with pytest.raises(KeyError, match=r"missing keys \['bias'\], unexpected keys \['b'\]"):
        layer.load_state_dict({"weight": np.zeros((2, 3)), "b": np.zeros(2)})
    with pytest.raises(ValueError, match=r"'weight' expected shape \(2, 3\), got \(3, 2\)"):
        layer.load_state_dict({"weight": np.zeros((3, 2)), "bias": np.zeros(2)})


@pytest.mark.parametrize(
    ("make", "x"),
    [
        (lambda: nn_torch.MLP((5, 3, 1)), torch.zeros(2, 5, dtype=torch.float64)),
        (lambda: nn_torch.Linear(5, 2), torch.zeros(2, 5, dtype=torch.float64)),
        (lambda: nn_torch.LayerNorm(5), torch.zeros(2, 5, dtype=torch.float64)),
        (lambda: nn_torch.MultiHeadAttention(4, 2), torch.zeros(1, 3, 4, dtype=torch.float64)),
        (lambda: nn_torch.Conv2d(1, 2, 3), torch.zeros(1, 1, 5, 5, dtype=torch.float64)),
    ],
)
def test_torch_layers_refuse_a_dtype_other_than_their_weights(make, x) -> None:
    # instead of PyTorch's raw "mat1 and mat2 must have the same dtype" from deep inside
    with pytest.raises(TypeError, match=r"'(x|query)' expected the dtype of the layer's weights \(float32\), got float64"):
        make()(x)


def test_dtype_check_steps_aside_under_autocast() -> None:
    layer = nn_torch.Linear(5, 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert layer(torch.zeros(2, 5, dtype=torch.bfloat16)).shape == (2, 2)


@pytest.mark.parametrize("pkg", ["numpy", "torch"])
@pytest.mark.parametrize("causal", [1, 0, "yes", None])
def test_causal_must_be_a_bool(pkg, causal) -> None:
    module = nn_numpy if pkg == "numpy" else nn_torch
    q = np.zeros((1, 3, 4), np.float32) if pkg == "numpy" else torch.zeros(1, 3, 4)
    with pytest.raises(TypeError, match="'causal' must be a bool"):
        module.scaled_dot_product_attention(q, q, q, causal=causal)
    with pytest.raises(TypeError, match="'causal' must be a bool"):
        module.MultiHeadAttention(4, 2)(q, causal=causal)


@pytest.mark.parametrize("pkg", ["numpy", "torch"])
@pytest.mark.parametrize(
    ("sizes", "error"),
    [((4, 2.5), ValueError), ((4, 0, 1), ValueError), ((4, -1), ValueError), ((4, True), ValueError),
     ("41", TypeError), (7, TypeError), ((4,), ValueError)],
)
def test_mlp_sizes_are_a_sequence_of_positive_ints(pkg, sizes, error) -> None:
    module = nn_numpy if pkg == "numpy" else nn_torch
    with pytest.raises(error, match="MLP: 'sizes'"):
        module.MLP(sizes)
