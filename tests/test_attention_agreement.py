"""NumPy and PyTorch attention agree: outputs, weights and every gradient, on random shapes (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bigmodel_lib import nn_numpy, nn_torch

TOL = {"rtol": 1e-10, "atol": 1e-12}


def _random_case(seed: int) -> dict:
    """Random batch dims, lengths, feature sizes, mask (maybe with empty rows) and causal flag."""
    rng = np.random.default_rng(seed)
    batch = tuple(int(n) for n in rng.integers(1, 4, size=rng.integers(0, 3)))
    lq, lk, d, dv = (int(n) for n in rng.integers(1, 7, size=4))
    case = {
        "q": rng.standard_normal(batch + (lq, d)),
        "k": rng.standard_normal(batch + (lk, d)),
        "v": rng.standard_normal(batch + (lk, dv)),
        "mask": None,
        "causal": bool(rng.integers(2)),
        "grad": rng.standard_normal(batch + (lq, dv)),
        "grad_w": rng.standard_normal(batch + (lq, lk)),
    }
    if rng.integers(3):
        mask_shape = tuple(n if rng.integers(2) else 1 for n in batch + (lq, lk))
        case["mask"] = rng.random(mask_shape) > 0.35
    return case


@pytest.mark.parametrize("seed", range(12))
def test_sdpa_numpy_equals_torch_forward_and_backward(seed):
    case = _random_case(seed)
    q, k, v, mask, causal = case["q"], case["k"], case["v"], case["mask"], case["causal"]
    layer = nn_numpy.ScaledDotProductAttention()
    out, w = layer(q, k, v, mask, causal=causal, need_weights=True)
    grads = layer.backward((case["grad"], case["grad_w"]))

    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    tmask = None if mask is None else torch.from_numpy(mask)
    t_out, t_w = nn_torch.scaled_dot_product_attention(tq, tk, tv, tmask, causal=causal, need_weights=True)
    torch.autograd.backward((t_out, t_w), (torch.from_numpy(case["grad"]), torch.from_numpy(case["grad_w"])))
    np.testing.assert_allclose(out, t_out.detach().numpy(), **TOL)
    np.testing.assert_allclose(w, t_w.detach().numpy(), **TOL)
    for ours, t in zip(grads, (tq, tk, tv)):
        np.testing.assert_allclose(ours, t.grad.numpy(), **TOL)
    # the torch fast path and the NumPy functional agree too
    fast = nn_torch.scaled_dot_product_attention(tq.detach(), tk.detach(), tv.detach(), tmask, causal=causal)
    np.testing.assert_allclose(nn_numpy.scaled_dot_product_attention(q, k, v, mask, causal=causal), fast.numpy(), **TOL)


@pytest.mark.parametrize("scaled", [True, False])
def test_dot_product_attention_numpy_equals_torch(scaled):
    rng = np.random.default_rng(20)
    query, keys, values = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 2))
    mask = rng.random((2, 1, 5)) > 0.3
    layer = nn_numpy.DotProductAttention(scaled)
    out, w = layer(query, keys, values, mask, need_weights=True)
    g = rng.standard_normal(out.shape)
    grads = layer.backward(g)
    tensors = [torch.tensor(a, requires_grad=True) for a in (query, keys, values)]
    t_out, t_w = nn_torch.DotProductAttention(scaled)(*tensors, torch.from_numpy(mask), need_weights=True)
    t_out.backward(torch.from_numpy(g))
    np.testing.assert_allclose(out, t_out.detach().numpy(), **TOL)
    np.testing.assert_allclose(w, t_w.detach().numpy(), **TOL)
    for ours, t in zip(grads, tensors):
        np.testing.assert_allclose(ours, t.grad.numpy(), **TOL)


def test_additive_attention_numpy_equals_torch_including_parameter_gradients():
    rng = np.random.default_rng(21)
    ours = nn_numpy.AdditiveAttention(3, 5, 4, dtype=np.float64, rng=rng)
    theirs = nn_torch.AdditiveAttention(3, 5, 4, dtype=torch.float64)
    theirs.load_state_dict(ours.state_dict())
    query, keys, values = rng.standard_normal((2, 3, 3)), rng.standard_normal((2, 6, 5)), rng.standard_normal((2, 6, 2))
    mask = rng.random((2, 3, 6)) > 0.3
    mask[0, 1] = False
    out, w = ours(query, keys, values, mask, need_weights=True)
    g, g_w = rng.standard_normal(out.shape), rng.standard_normal(w.shape)
    grads = ours.backward((g, g_w))
    tensors = [torch.tensor(a, requires_grad=True) for a in (query, keys, values)]
    t_out, t_w = theirs(*tensors, torch.from_numpy(mask), need_weights=True)
    torch.autograd.backward((t_out, t_w), (torch.from_numpy(g), torch.from_numpy(g_w)))
    np.testing.assert_allclose(out, t_out.detach().numpy(), **TOL)
    np.testing.assert_allclose(w, t_w.detach().numpy(), **TOL)
    for mine, t in zip(grads, tensors):
        np.testing.assert_allclose(mine, t.grad.numpy(), **TOL)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(dict(ours.named_parameters())[name].grad, p.grad.numpy(), **TOL)
    # and the other way round: NumPy loads the torch state dict
    back = nn_numpy.AdditiveAttention(3, 5, 4, dtype=np.float64)
    back.load_state_dict(theirs.state_dict())
    np.testing.assert_allclose(back(query, keys, values, mask), out, **TOL)


@pytest.mark.parametrize("seed", range(4))
def test_multihead_numpy_equals_torch_on_random_shapes(seed):
    rng = np.random.default_rng(30 + seed)
    heads = int(rng.integers(1, 4))
    d_model = heads * int(rng.integers(1, 4))
    b, lq, lk = (int(n) for n in rng.integers(1, 5, size=3))
    ours = nn_numpy.MultiHeadAttention(d_model, heads, bias=bool(seed % 2), dtype=np.float64, rng=rng)
    theirs = nn_torch.MultiHeadAttention(d_model, heads, bias=bool(seed % 2), dtype=torch.float64)
    theirs.load_state_dict(ours.state_dict())
    x, mem = rng.standard_normal((b, lq, d_model)), rng.standard_normal((b, lk, d_model))
    mask = rng.random((b, 1, 1, lk)) > 0.3
    for args, tensors in (((x,), (torch.tensor(x),)), ((x, mem), (torch.tensor(x), torch.tensor(mem)))):
        out = ours(*args, mask=mask if len(args) == 2 else None, causal=len(args) == 1)
        t_out = theirs(*tensors, mask=torch.from_numpy(mask) if len(args) == 2 else None, causal=len(args) == 1)
        np.testing.assert_allclose(out, t_out.detach().numpy(), **TOL)
