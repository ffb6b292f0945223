"""Multi-head attention: equal to torch.nn.MultiheadAttention, gradients checked, fused paths exact."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from bigmodel_lib import nn_numpy, nn_torch
from bigmodel_lib.gradcheck import check_gradients

TOL = {"rtol": 1e-10, "atol": 1e-12}
D, H = 12, 3


def _reference(bias: bool = True) -> torch.nn.MultiheadAttention:
    torch.manual_seed(0)
    ref = torch.nn.MultiheadAttention(D, H, bias=bias, batch_first=True, dtype=torch.float64)
    if bias:  # torch starts biases at 0: make them count
        with torch.no_grad():
            ref.in_proj_bias.normal_()
            ref.out_proj.bias.normal_()
    return ref.eval()


def _inputs(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 5, D, generator=gen, dtype=torch.float64)
    mem = torch.randn(3, 7, D, generator=gen, dtype=torch.float64)
    value = torch.randn(3, 7, D, generator=gen, dtype=torch.float64)
    padding = torch.zeros(3, 7, dtype=torch.bool)  # torch: True = ignore this key
    padding[0, 4:] = True
    padding[2, 1] = True
    return x, mem, value, padding


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", ["self", "memory", "cross"])
def test_equal_to_torch_multihead_attention(bias, kind):
    ref = _reference(bias)
    x, mem, value, padding = _inputs()
    if kind == "self":
        padding = padding[:, :5]
        args, ref_args = (x,), (x, x, x)
    elif kind == "memory":
        args, ref_args = (x, mem), (x, mem, mem)
    else:
        args, ref_args = (x, mem, value), (x, mem, value)
    expected, expected_w = ref(*ref_args, key_padding_mask=padding, need_weights=True, average_attn_weights=False)
    mask = ~padding[:, None, None, :]  # ours: True = attend, shape (B, 1, 1, Lk)

    ours_np = nn_numpy.MultiHeadAttention.from_pytorch(ref)
    out, w = ours_np(*(a.numpy() for a in args), mask=mask.numpy(), need_weights=True)
    np.testing.assert_allclose(out, expected.detach().numpy(), **TOL)
    np.testing.assert_allclose(w, expected_w.detach().numpy(), **TOL)

    ours_t = nn_torch.MultiHeadAttention.from_pytorch(ref)
    out_t, w_t = ours_t(*args, mask=mask, need_weights=True)
    torch.testing.assert_close(out_t, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(w_t, expected_w, rtol=0, atol=1e-12)
    torch.testing.assert_close(ours_t(*args, mask=mask), expected, rtol=0, atol=1e-12)  # fast path


def test_causal_equals_torch_with_a_causal_attn_mask():
    ref = _reference()
    x = _inputs()[0]
    blocked = torch.ones(5, 5, dtype=torch.bool).triu(1)  # torch attn_mask: True = not allowed
    expected, expected_w = ref(x, x, x, attn_mask=blocked, need_weights=True, average_attn_weights=False)
    out, w = nn_torch.MultiHeadAttention.from_pytorch(ref)(x, causal=True, need_weights=True)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(w, expected_w, rtol=0, atol=1e-12)
    out_np = nn_numpy.MultiHeadAttention.from_pytorch(ref)(x.numpy(), causal=True)
    np.testing.assert_allclose(out_np, expected.detach().numpy(), **TOL)


def test_state_dicts_have_the_same_keys_and_load_both_ways():
    ours_np = nn_numpy.MultiHeadAttention(D, H, dropout=0.1)
    ours_t = nn_torch.MultiHeadAttention(D, H, dropout=0.1)
    shapes = {k: tuple(v.shape) for k, v in ours_np.state_dict().items()}
    assert shapes == {k: tuple(v.shape) for k, v in ours_t.state_dict().items()}
    assert shapes == {"in_proj.weight": (3 * D, D), "in_proj.bias": (3 * D,), "out_proj.weight": (D, D),
                      "out_proj.bias": (D,)}
    assert [n for n, _ in ours_np.named_parameters()] == [n for n, _ in ours_t.named_parameters()]
    assert sorted(nn_numpy.MultiHeadAttention(D, H, bias=False).state_dict()) == ["in_proj.weight", "out_proj.weight"]
    assert sorted(nn_torch.MultiHeadAttention(D, H, bias=False).state_dict()) == ["in_proj.weight", "out_proj.weight"]
    ours_t.load_state_dict(ours_np.state_dict())
    ours_np.load_state_dict(ours_t.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 4, D)).astype(np.float32)
    expected = ours_t.eval()(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours_np.eval()(x), expected, rtol=1e-5, atol=1e-6)


def test_initialisation_follows_torch():
    layer = nn_numpy.MultiHeadAttention(64, 4, rng=np.random.default_rng(0))
    bound = np.sqrt(6 / (64 + 3 * 64))  # Xavier-uniform over the (3d, d) in_proj weight
    assert layer.in_proj.weight.data.dtype == np.float32
    assert np.abs(layer.in_proj.weight.data).max() <= bound and np.abs(layer.in_proj.weight.data).max() > 0.9 * bound
    assert np.abs(layer.out_proj.weight.data).max() <= 1 / 8
    assert not layer.in_proj.bias.data.any() and not layer.out_proj.bias.data.any()
    t = nn_torch.MultiHeadAttention(64, 4)
    assert t.in_proj.weight.abs().max() <= bound and not t.in_proj.bias.any() and not t.out_proj.bias.any()


# -- NumPy gradients ----------------------------------------------------------------------------------


def _numpy_layer(bias: bool = True) -> nn_numpy.MultiHeadAttention:
    layer = nn_numpy.MultiHeadAttention(6, 2, bias=bias, dtype=np.float64, rng=np.random.default_rng(1))
    for p in layer.parameters():  # non-zero biases, so their gradients are checked meaningfully
        if p.data.ndim == 1:
            p.data[...] = np.random.default_rng(2).standard_normal(p.data.shape)
    return layer


@pytest.mark.parametrize(
    ("inputs", "mask_shape", "causal", "need_weights"),
    [
        ("x", None, False, False),
        ("x", None, True, True),
        ("x,mem", (2, 1, 1, 5), False, False),
        ("x,mem,val", (2, 2, 4, 5), False, True),
        ("x,mem,val", (4, 5), True, False),
    ],
)
def test_numpy_gradients_every_parameter(inputs, mask_shape, causal, need_weights):
    rng = np.random.default_rng(3)
    arrays = {"x": rng.standard_normal((2, 4, 6)), "mem": rng.standard_normal((2, 5, 6)),
              "val": rng.standard_normal((2, 5, 6))}
    mask = None
    if mask_shape is not None:
        mask = rng.random(mask_shape) > 0.3
        mask[..., 0, :] = False  # a query (or everything, for key padding of batch 0) with no key
    layer = _numpy_layer()
    args = [arrays[name] for name in inputs.split(",")]
    result = check_gradients(layer, *args, mask=mask, causal=causal, need_weights=need_weights, max_entries=60)
    assert {"in_proj.weight", "in_proj.bias", "out_proj.weight", "out_proj.bias"} <= set(result.errors)


def test_numpy_gradients_without_bias():
    rng = np.random.default_rng(4)
    result = check_gradients(_numpy_layer(bias=False), rng.standard_normal((2, 3, 6)), rng.standard_normal((2, 4, 6)))
    assert set(result.errors) == {"input[0]", "input[1]", "in_proj.weight", "out_proj.weight"}


@pytest.mark.parametrize("inputs", ["x", "x,mem", "x,mem,val"])
def test_numpy_gradients_equal_torch_autograd(inputs):
    rng = np.random.default_rng(5)
    arrays = {"x": rng.standard_normal((2, 4, 6)), "mem": rng.standard_normal((2, 5, 6)),
              "val": rng.standard_normal((2, 5, 6))}
    ours = _numpy_layer()
    theirs = nn_torch.MultiHeadAttention(6, 2, dtype=torch.float64)
    theirs.load_state_dict(ours.state_dict())
    args = [arrays[name] for name in inputs.split(",")]
    lk = args[1].shape[1] if len(args) > 1 else 4
    mask = rng.random((2, 1, 1, lk)) > 0.3
    out, w = ours(*args, mask=mask, need_weights=True)
    g, g_w = rng.standard_normal(out.shape), rng.standard_normal(w.shape)
    grads = ours.backward((g, g_w))
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert len(grads) == len(args)

    tensors = [torch.tensor(a, requires_grad=True) for a in args]
    t_out, t_w = theirs(*tensors, mask=torch.from_numpy(mask), need_weights=True)
    torch.autograd.backward((t_out, t_w), (torch.from_numpy(g), torch.from_numpy(g_w)))
    np.testing.assert_allclose(out, t_out.detach().numpy(), **TOL)
    for mine, t in zip(grads, tensors):
        np.testing.assert_allclose(mine, t.grad.numpy(), **TOL)
    numpy_params = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(numpy_params[name].grad, p.grad.numpy(), **TOL)


def test_self_attention_gradient_is_the_sum_of_the_three_paths():
    rng = np.random.default_rng(6)
    x, g = rng.standard_normal((2, 4, 6)), rng.standard_normal((2, 4, 6))
    layer = _numpy_layer()
    layer(x)
    dx = layer.backward(g)
    layer(x, x, x)
    dq, dk, dv = layer.backward(g)
    np.testing.assert_allclose(dx, dq + dk + dv, rtol=1e-12)


# -- the optimized torch paths --------------------------------------------------------------------------


def test_torch_fused_projections_equal_separate_ones():
    layer = nn_torch.MultiHeadAttention(D, H, dtype=torch.float64)
    x, mem, _, padding = _inputs(1)
    mask = ~padding[:, None, None, :]
    # key is query (one matmul) vs a copy (three); key is value (two matmuls) vs copies
    torch.testing.assert_close(layer(x), layer(x, x.clone(), x.clone()), rtol=0, atol=1e-13)
    torch.testing.assert_close(layer(x, mem, mask=mask), layer(x, mem, mem.clone(), mask=mask), rtol=0, atol=1e-13)


def test_torch_gradients_flow_through_the_fast_path():
    layer = nn_torch.MultiHeadAttention(D, H, dtype=torch.float64)
    x = _inputs(2)[0].requires_grad_()
    mask = torch.ones(3, 1, 1, 5, dtype=torch.bool)
    mask[1] = False  # batch entry 1: every key padded
    out = layer(x, mask=mask)
    assert (out[1] == layer.out_proj.bias).all()  # no key: attention output 0, only the output bias
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and all(torch.isfinite(p.grad).all() for p in layer.parameters())


def test_dropout_only_in_training():
    torch.manual_seed(0)
    x = torch.randn(2, 6, D)
    layer = nn_torch.MultiHeadAttention(D, H, dropout=0.5)
    assert not torch.equal(layer(x), layer(x))  # training: different dropout masks
    layer.eval()
    torch.testing.assert_close(layer(x), layer(x), rtol=0, atol=0)
    ours_np = nn_numpy.MultiHeadAttention(D, H, dropout=0.5, rng=np.random.default_rng(0))
    xn = x.numpy()
    assert not np.array_equal(ours_np(xn), ours_np(xn))
    ours_np.eval()
    np.testing.assert_array_equal(ours_np(xn), ours_np(xn))


def test_from_pytorch_copies_dropout_and_mode_and_refuses_unsupported_modules():
    ref = torch.nn.MultiheadAttention(D, H, dropout=0.2, batch_first=True)
    assert nn_torch.MultiHeadAttention.from_pytorch(ref).dropout == 0.2
    assert nn_numpy.MultiHeadAttention.from_pytorch(ref.eval()).training is False
    with pytest.raises(ValueError, match=re.escape("expected kdim = vdim = embed_dim = 12, got kdim=5, vdim=12")):
        nn_numpy.MultiHeadAttention.from_pytorch(torch.nn.MultiheadAttention(D, H, kdim=5, batch_first=True))
    with pytest.raises(ValueError, match=re.escape("expected add_bias_kv=False and add_zero_attn=False")):
        nn_torch.MultiHeadAttention.from_pytorch(torch.nn.MultiheadAttention(D, H, add_bias_kv=True))


# -- bad input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("package", ["numpy", "torch"])
def test_bad_input_is_refused(package):
    nn = nn_numpy if package == "numpy" else nn_torch
    make = np.zeros if package == "numpy" else torch.zeros

    def arr(*shape, dtype=None):
        a = make(shape)
        if dtype == "bool":
            return a > 0 if package == "numpy" else a.bool()
        return a.astype(np.float32) if package == "numpy" else a

    with pytest.raises(ValueError, match=re.escape("'d_model' expected a multiple of num_heads=3 (each head gets "
        "d_model / num_heads features), got d_model=10")):
        nn.MultiHeadAttention(10, 3)
    with pytest.raises(ValueError, match=re.escape("'num_heads' must be a positive int, got 0")):
        nn.MultiHeadAttention(10, 0)
    layer = nn.MultiHeadAttention(D, H)
    cases = [
        ((arr(5, D),), {}, "'query' expected shape (B, Lq, 12) (3 dims), got (5, 12)"),
        ((arr(2, 5, 8),), {}, "'query' expected shape (..., 12), got (2, 5, 8)"),
        ((arr(2, 5, D), arr(2, 7, 8)), {}, "'key' expected shape (..., 12), got (2, 7, 8)"),
        ((arr(2, 5, D), arr(3, 7, D)), {}, "'key' expected shape (2, Lk, 12) (the batch size of "
            "'query' (2, 5, 12)), got (3, 7, 12)"),
        ((arr(2, 5, D), arr(2, 7, D), arr(2, 6, D)), {}, "'value' expected the shape of 'key' (2, "
            "7, 12), got (2, 6, 12)"),
        ((arr(2, 5, D),), {"mask": arr(2, 5, 5, dtype="bool")},
         "'mask' expected 2 dims (Lq, Lk) or 4 dims broadcastable to (B, heads, Lq, Lk) "
             "= (2, 3, 5, 5) (key padding: (B, 1, 1, Lk)), got (2, 5, 5)"),
        ((arr(2, 5, D),), {"mask": arr(2, 1, 1, 4, dtype="bool")},
         "'mask' expected a shape broadcastable to (B, heads, Lq, Lk) = (2, 3, 5, 5), got (2, 1, 1, 4)"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(ValueError, match=re.escape(f"MultiHeadAttention: {message}")):
            layer(*args, **kwargs)
    with pytest.raises(TypeError, match=re.escape("MultiHeadAttention: 'mask' must have dtype "
        "bool (True = may attend)")):
        layer(arr(2, 5, D), mask=arr(2, 1, 1, 5))
    with pytest.raises(ValueError, match=re.escape("MultiHeadAttention: 'value' was given without 'key'")):
        layer(arr(2, 5, D), value=arr(2, 5, D))
