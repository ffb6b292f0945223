"""Convolutional layers: gradient checks, agreement with PyTorch, state dicts, GPU-style paths, bad input.

Gradient checks run in float64 against central differences; agreement with ``torch.nn`` built-ins
is float64 too (rtol 1e-10: round-off only), forward **and** every gradient.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from bigmodel_lib.gradcheck import check_gradients
from bigmodel_lib.nn_numpy import cnn as np_cnn
from bigmodel_lib.nn_numpy import losses as np_losses
from bigmodel_lib.nn_numpy import optim as np_optim
from bigmodel_lib.nn_torch import cnn as torch_cnn
from tests.agreement import assert_same_pass

RNG = np.random.default_rng(0)

# (kernel_size, stride, padding): square and rectangular kernels, strides that skip pixels, padding
CONV_CASES = [
    (3, 1, 0),
    (3, 1, 1),
    (3, 2, 1),
    ((2, 3), (2, 1), (1, 0)),
    (1, 1, 0),
    (5, 3, 2),
    (4, 2, 0),  # stride 2 over width 9: the last column is never covered, so its gradient is 0
]


pytestmark = pytest.mark.usefixtures("float64_default")


def _image(shape=(2, 3, 7, 9), seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


# -- im2col / col2im ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kernel", "stride", "padding"), CONV_CASES)
def test_im2col_and_col2im_equal_torch_unfold_and_fold(kernel, stride, padding) -> None:
    x = _image()
    cols = np_cnn.im2col(x, kernel, stride, padding)
    expected = F.unfold(torch.from_numpy(x), kernel, stride=stride, padding=padding).numpy()
    np.testing.assert_array_equal(cols, expected)  # a pure rearrangement: bit for bit
    grad = RNG.standard_normal(cols.shape)
    folded = F.fold(torch.from_numpy(grad), x.shape[2:], kernel, stride=stride, padding=padding).numpy()
    np.testing.assert_allclose(np_cnn.col2im(grad, x.shape, kernel, stride, padding), folded, rtol=1e-12, atol=1e-12)


def test_col2im_is_the_adjoint_of_im2col() -> None:
    # <im2col(x), G> = <x, col2im(G)> for every x and G: col2im is im2col's backward pass.
    x = _image((2, 2, 6, 5))
    cols = np_cnn.im2col(x, 3, 2, 1)
    grad = RNG.standard_normal(cols.shape)
    np.testing.assert_allclose(np.sum(cols * grad), np.sum(x * np_cnn.col2im(grad, x.shape, 3, 2, 1)), rtol=1e-12)


def test_im2col_shows_each_window_as_a_column() -> None:
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    cols = np_cnn.im2col(x, 3)
    assert cols.shape == (1, 9, 4)
    np.testing.assert_array_equal(cols[0, :, 0], x[0, 0, :3, :3].ravel())  # top-left window
    np.testing.assert_array_equal(cols[0, :, 3], x[0, 0, 1:, 1:].ravel())  # bottom-right window


@pytest.mark.parametrize("n", [1, 2, 7, 8, 28])
@pytest.mark.parametrize(("k", "s", "p"), [(3, 1, 1), (3, 2, 0), (5, 2, 2), (2, 2, 0)])
def test_conv_output_size_matches_torch(n, k, s, p) -> None:
    if n + 2 * p < k:
        return
    out = F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s, padding=p)
    assert out.shape[-1] == np_cnn.conv_output_size(n, k, s, p)


# -- gradient checks ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(("kernel", "stride", "padding"), CONV_CASES)
def test_conv2d_gradients(kernel, stride, padding, bias) -> None:
    layer = np_cnn.Conv2d(3, 4, kernel, stride=stride, padding=padding, bias=bias, dtype=np.float64,
                          rng=np.random.default_rng(2))
    result = check_gradients(layer, _image(), max_entries=60)
    assert set(result.errors) == {"input[0]", "weight"} | ({"bias"} if bias else set())


@pytest.mark.parametrize(("kernel", "stride"), [(2, None), (3, 2), ((2, 3), (1, 2)), (3, 1)])
def test_maxpool2d_gradients(kernel, stride) -> None:
    # random normal input: no ties, so the max is differentiable everywhere the check looks
    result = check_gradients(np_cnn.MaxPool2d(kernel, stride), _image(), max_entries=80)
    assert result.passed


def test_flatten_gradients() -> None:
    assert check_gradients(np_cnn.Flatten(), _image()).passed


def test_digits_cnn_gradients() -> None:
    model = np_cnn.DigitsCNN(channels=(3, 4), num_classes=5, dtype=np.float64, rng=np.random.default_rng(3))
    x = np.random.default_rng(4).random((3, 1, 8, 8))
    result = check_gradients(model, x, max_entries=40)
    assert {"features.0.weight", "features.3.bias", "classifier.weight", "input[0]"} <= set(result.errors)


def test_digits_cnn_with_cross_entropy_gradients() -> None:
    # the whole training objective, as the notebook uses it: logits -> cross-entropy
    model = np_cnn.DigitsCNN(channels=(2, 3), dtype=np.float64, rng=np.random.default_rng(5))
    loss = np_losses.CrossEntropyLoss()
    x = np.random.default_rng(6).random((4, 1, 8, 8))
    target = np.array([0, 3, 9, 3])
    weight = model.features[0].weight
    loss(model(x), target)
    model.zero_grad()
    model.backward(loss.backward())
    analytic = weight.grad.copy()
    eps = 1e-6
    for index in [(0, 0, 0, 0), (1, 0, 2, 1), (0, 0, 1, 2)]:
        original = weight.data[index]
        weight.data[index] = original + eps
        plus = loss(model(x), target)
        weight.data[index] = original - eps
        minus = loss(model(x), target)
        weight.data[index] = original
        np.testing.assert_allclose(analytic[index], (plus - minus) / (2 * eps), rtol=1e-5, atol=1e-9)


# -- agreement with torch built-ins ----------------------------------------------------------------------------

@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(("kernel", "stride", "padding"), CONV_CASES)
def test_conv2d_from_pytorch_agrees_with_the_builtin(kernel, stride, padding, bias) -> None:
    torch.manual_seed(0)
    builtin = torch.nn.Conv2d(3, 4, kernel, stride=stride, padding=padding, bias=bias)
    ours = np_cnn.Conv2d.from_pytorch(builtin)
    assert ours.weight.data.dtype == np.float64
    assert list(ours.state_dict()) == list(builtin.state_dict())
    assert_same_pass(ours, builtin, _image())
    twin = torch_cnn.Conv2d.from_pytorch(builtin)
    assert_same_pass(ours, twin, _image())


def test_conv2d_twins_share_state_dicts_both_ways() -> None:
    ours = np_cnn.Conv2d(3, 5, 3, padding=1, dtype=np.float64, rng=np.random.default_rng(7))
    theirs = torch_cnn.Conv2d(3, 5, 3, padding=1)
    theirs.load_state_dict(ours.state_dict())  # NumPy arrays into torch
    assert_same_pass(ours, theirs, _image())
    back = np_cnn.Conv2d(3, 5, 3, padding=1, dtype=np.float64)
    back.load_state_dict(theirs.state_dict())  # tensors into NumPy
    for name, value in ours.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[name], value)


@pytest.mark.parametrize(("kernel", "stride"), [(2, None), (3, 2), ((2, 3), (1, 2)), (3, 1)])
def test_maxpool2d_agrees_with_the_builtin(kernel, stride) -> None:
    assert_same_pass(np_cnn.MaxPool2d(kernel, stride), torch.nn.MaxPool2d(kernel, stride), _image())
    assert_same_pass(np_cnn.MaxPool2d(kernel, stride), torch_cnn.MaxPool2d(kernel, stride), _image())


@pytest.mark.parametrize(("kernel", "stride"), [(2, None), (3, 1), (3, 2)])
def test_maxpool2d_ties_go_to_the_first_maximum_as_in_pytorch(kernel, stride) -> None:
    # small integers: most windows hold the maximum several times; overlapping windows add up
    x = np.random.default_rng(8).integers(0, 3, size=(2, 2, 7, 7)).astype(np.float64)
    assert_same_pass(np_cnn.MaxPool2d(kernel, stride), torch.nn.MaxPool2d(kernel, stride), x)
    constant = np.ones((1, 1, 4, 4))
    pool = np_cnn.MaxPool2d(2)
    pool(constant)
    grad = pool.backward(np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(grad[0, 0], [[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])


def test_maxpool2d_from_pytorch() -> None:
    pool = np_cnn.MaxPool2d.from_pytorch(torch.nn.MaxPool2d(3, stride=2))
    assert (pool.kernel_size, pool.stride) == ((3, 3), (2, 2))
    assert torch_cnn.MaxPool2d.from_pytorch(torch.nn.MaxPool2d(2)).stride == (2, 2)
    with pytest.raises(ValueError, match=r"MaxPool2d.from_pytorch: 'padding' must be 0, got 1"):
        np_cnn.MaxPool2d.from_pytorch(torch.nn.MaxPool2d(3, padding=1))
    with pytest.raises(ValueError, match=r"'ceil_mode' must be False, got True"):
        torch_cnn.MaxPool2d.from_pytorch(torch.nn.MaxPool2d(2, ceil_mode=True))


def test_flatten_agrees_with_the_builtin() -> None:
    assert_same_pass(np_cnn.Flatten(), torch.nn.Flatten(), _image())
    assert_same_pass(np_cnn.Flatten(), torch_cnn.Flatten(), _image())


@pytest.mark.parametrize("channels", [(16, 32), (4,), (2, 3, 5)])
def test_digits_cnn_twins_agree(channels) -> None:
    ours = np_cnn.DigitsCNN(channels, dtype=np.float64, rng=np.random.default_rng(9))
    theirs = torch_cnn.DigitsCNN(channels)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ours.num_parameters() == theirs.num_parameters()
    theirs.load_state_dict(ours.state_dict())
    assert_same_pass(ours, theirs, np.random.default_rng(10).random((5, 1, 8, 8)))


def test_digits_cnn_default_size_and_keys() -> None:
    model = np_cnn.DigitsCNN()
    assert model.num_parameters() == (16 * 9 + 16) + (32 * 16 * 9 + 32) + (32 * 2 * 2 * 10 + 10)
    assert list(model.state_dict()) == [
        "features.0.weight", "features.0.bias", "features.3.weight", "features.3.bias",
        "classifier.weight", "classifier.bias",
    ]
    assert model(np.zeros((3, 1, 8, 8), np.float32)).shape == (3, 10)


def test_one_adam_step_agrees_with_torch() -> None:
    ours = np_cnn.DigitsCNN((4, 6), dtype=np.float64, rng=np.random.default_rng(11))
    theirs = torch_cnn.DigitsCNN((4, 6))
    theirs.load_state_dict(ours.state_dict())
    x = np.random.default_rng(12).random((8, 1, 8, 8))
    y = np.arange(8) % 10
    loss = np_losses.CrossEntropyLoss()
    opt = np_optim.Adam(ours.parameters(), lr=1e-2)
    torch_opt = torch.optim.Adam(theirs.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        value = loss(ours(x), y)
        ours.backward(loss.backward())
        opt.step()
        torch_opt.zero_grad()
        torch_value = F.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y))
        torch_value.backward()
        torch_opt.step()
        np.testing.assert_allclose(value, torch_value.item(), rtol=1e-10)
    for name, tensor in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[name], tensor.numpy(), rtol=1e-8, atol=1e-10, err_msg=name)


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 2), c_in=st.integers(1, 3), c_out=st.integers(1, 3),
    h=st.integers(1, 9), w=st.integers(1, 9), kh=st.integers(1, 4), kw=st.integers(1, 4),
    sh=st.integers(1, 3), sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2),
)
def test_conv2d_matches_torch_for_any_shape(batch, c_in, c_out, h, w, kh, kw, sh, sw, ph, pw) -> None:
    if h + 2 * ph < kh or w + 2 * pw < kw:
        return
    builtin = torch.nn.Conv2d(c_in, c_out, (kh, kw), stride=(sh, sw), padding=(ph, pw))
    x = np.random.default_rng(h * 10 + w).standard_normal((batch, c_in, h, w))
    assert_same_pass(np_cnn.Conv2d.from_pytorch(builtin), builtin, x)


# -- initialisation ------------------------------------------------------------------------------------------

def test_conv2d_initialisation_is_pytorchs() -> None:
    # U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias, fan_in = C_in * kh * kw
    layer = np_cnn.Conv2d(8, 64, (3, 5), rng=np.random.default_rng(13))
    bound = 1 / np.sqrt(8 * 3 * 5)
    assert layer.weight.data.dtype == np.float32
    for p in (layer.weight.data, layer.bias.data):
        assert np.abs(p).max() <= bound
    assert np.abs(layer.weight.data).max() > 0.95 * bound  # spread over the whole interval
    np.testing.assert_allclose(layer.weight.data.std(), bound / np.sqrt(3), rtol=0.05)  # std of U(-b, b)
    theirs = torch.nn.Conv2d(8, 64, (3, 5))
    assert abs(theirs.weight.abs().max().item() - np.abs(layer.weight.data).max()) < 0.05 * bound


# -- GPU-style paths (on the CPU here; the same code runs on CUDA) ------------------------------------------------

def test_channels_last_gives_the_same_output() -> None:
    model = torch_cnn.DigitsCNN((4, 8)).float()
    x = torch.rand(6, 1, 8, 8, dtype=torch.float32)
    expected = model(x)
    fast = model.to(memory_format=torch.channels_last)
    out = fast(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)


def test_bfloat16_autocast_runs_and_stays_close() -> None:
    model = torch_cnn.DigitsCNN((4, 8)).float()
    x = torch.rand(6, 1, 8, 8, dtype=torch.float32)
    expected = model(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), expected, rtol=0.05, atol=0.05)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_channels_last_autocast_matches_cpu() -> None:
    cpu = torch_cnn.DigitsCNN().float()
    gpu = torch_cnn.DigitsCNN(device="cuda").float().to(memory_format=torch.channels_last)
    gpu.load_state_dict(cpu.state_dict())
    x = torch.rand(16, 1, 8, 8, dtype=torch.float32)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out = gpu(x.cuda().contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out.float().cpu(), cpu(x), rtol=0.05, atol=0.05)


# -- bad input ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pkg", ["numpy", "torch"])
@pytest.mark.parametrize(
    ("make", "x", "error", "pattern"),
    [
        (lambda m: m.Conv2d(3, 4, 3), np.zeros((2, 1, 8, 8), np.float32), ValueError,
         r"Conv2d: 'x' expected shape \(B, 3, H, W\) with 3 input channels, got \(2, 1, 8, 8\)"),
        (lambda m: m.Conv2d(1, 4, 3), np.zeros((8, 8, 1), np.float32), ValueError,
         r"Conv2d: 'x' expected shape \(B, C, H, W\) \(4 dims\), got \(8, 8, 1\)"),
        (lambda m: m.Conv2d(1, 4, 5, padding=1), np.zeros((2, 1, 2, 6), np.float32), ValueError,
         r"Conv2d: 'x' of shape \(2, 1, 2, 6\) is 4x8 after padding \(1, 1\), smaller than the kernel 5x5"),
        (lambda m: m.Conv2d(1, 4, 3), np.zeros((2, 1, 8, 8), np.int64), TypeError,
         r"Conv2d: 'x' must have a floating-point dtype, got int64"),
        (lambda m: m.Conv2d(1, 4, 3), np.zeros((2, 1, 8, 8), np.uint8), TypeError,
         r"floating-point dtype, got uint8"),
        (lambda m: m.MaxPool2d(2), np.zeros((2, 8, 8), np.float32), ValueError,
         r"MaxPool2d: 'x' expected shape \(B, C, H, W\) \(4 dims\), got \(2, 8, 8\)"),
        (lambda m: m.MaxPool2d(3), np.zeros((1, 1, 2, 8), np.float32), ValueError,
         r"MaxPool2d: 'x' of shape \(1, 1, 2, 8\) is 2x8, smaller than the kernel 3x3; expected H >= kh and W >= kw"),
        (lambda m: m.MaxPool2d(2), np.zeros((1, 1, 4, 4), bool), TypeError, r"floating-point dtype, got bool"),
        (lambda m: m.Flatten(), np.zeros(5, np.float32), ValueError,
         r"Flatten: 'x' expected shape \(B, \.\.\.\) \(at least 2 dims\), got \(5,\)"),
        (lambda m: m.DigitsCNN(), np.zeros((2, 1, 28, 28), np.float32), ValueError,
         r"DigitsCNN: 'x' expected shape \(B, 1, 8, 8\), got \(2, 1, 28, 28\)"),
        (lambda m: m.DigitsCNN(), np.zeros((2, 8, 8, 1), np.float32), ValueError,
         r"DigitsCNN: 'x' expected shape \(B, 1, H, W\) with 1 input channels, got \(2, 8, 8, 1\) "
         r"\(NCHW layout: channels come second\)"),
    ],
)
def test_layers_refuse_bad_input(pkg, make, x, error, pattern) -> None:
    module = make(np_cnn if pkg == "numpy" else torch_cnn)
    data = x if pkg == "numpy" else torch.from_numpy(x)
    with pytest.raises(error, match=pattern):
        module(data)


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: np_cnn.Conv2d(0, 4, 3), ValueError, r"Conv2d: 'in_channels' must be a positive int, got 0"),
        (lambda: torch_cnn.Conv2d(3, -1, 3), ValueError, r"Conv2d: 'out_channels' must be a positive int, got -1"),
        (lambda: np_cnn.Conv2d(1, 4, 0), ValueError, r"Conv2d: 'kernel_size' must be a positive int or a pair"),
        (lambda: np_cnn.Conv2d(1, 4, (3, 3, 3)), ValueError, r"'kernel_size' must be a positive int or a pair"),
        (lambda: np_cnn.Conv2d(1, 4, 3, stride=0), ValueError, r"'stride' must be a positive int"),
        (lambda: np_cnn.Conv2d(1, 4, 3, padding=-1), ValueError, r"'padding' must be a non-negative int"),
        (lambda: torch_cnn.Conv2d(1, 4, 3, padding="same"), ValueError, r"'padding' must be a non-negative int"),
        (lambda: np_cnn.MaxPool2d(2.5), ValueError, r"MaxPool2d: 'kernel_size' must be a positive int"),
        (lambda: torch_cnn.MaxPool2d(2, stride=0), ValueError, r"MaxPool2d: 'stride' must be a positive int"),
        (lambda: np_cnn.DigitsCNN((8, 8, 8, 8)), ValueError, r"4 poolings of 2 shrink a 8x8 image below 1x1"),
        (lambda: torch_cnn.DigitsCNN(()), ValueError, r"'channels' needs at least one convolution"),
        (lambda: np_cnn.Conv2d.from_pytorch(torch.nn.Conv2d(2, 2, 3, dilation=2)), ValueError,
         r"Conv2d.from_pytorch: 'dilation' must be \(1, 1\), got \(2, 2\)"),
        (lambda: torch_cnn.Conv2d.from_pytorch(torch.nn.Conv2d(2, 2, 3, groups=2)), ValueError,
         r"Conv2d.from_pytorch: 'groups' must be 1, got 2"),
    ],
)
def test_constructors_refuse_bad_arguments(call, error, pattern) -> None:
    with pytest.raises(error, match=pattern):
        call()


def test_numpy_layers_refuse_tensors_and_torch_layers_refuse_arrays() -> None:
    with pytest.raises(TypeError, match=r"Conv2d: 'x' must be a NumPy array, got Tensor"):
        np_cnn.Conv2d(1, 2, 3)(torch.zeros(1, 1, 4, 4))
    with pytest.raises(TypeError, match=r"Conv2d: 'x' must be a torch.Tensor, got ndarray"):
        torch_cnn.Conv2d(1, 2, 3)(np.zeros((1, 1, 4, 4), np.float32))
    with pytest.raises(TypeError, match=r"im2col: 'x' must be a NumPy array, got list"):
        np_cnn.im2col([[1.0]], 1)


def test_backward_checks_its_cache_and_grad_shape() -> None:
    layer = np_cnn.Conv2d(1, 2, 3)
    with pytest.raises(RuntimeError, match="Conv2d.backward called before forward"):
        layer.backward(np.zeros((1, 2, 2, 2)))
    layer(np.zeros((1, 1, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"'grad_out' expected the forward output's shape \(1, 2, 2, 2\)"):
        layer.backward(np.zeros((1, 2, 4, 4)))
    with pytest.raises(ValueError, match=r"col2im: 'cols' expected shape \(1, 9, 4\)"):
        np_cnn.col2im(np.zeros((1, 9, 5)), (1, 1, 4, 4), 3)
