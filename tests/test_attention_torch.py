"""PyTorch attention: the fast path equals the explicit one and torch's own SDPA; the contract holds."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F

from bigmodel_lib import nn_torch as nn

DT = torch.float64


def randn(gen: torch.Generator, *shape: int, dtype: torch.dtype = DT) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=dtype)


def _causal(lq: int, lk: int) -> torch.Tensor:
    return torch.ones(lq, lk, dtype=torch.bool).tril()


@pytest.mark.parametrize(
    ("lq", "lk", "mask_shape", "causal"),
    [(5, 5, None, False), (5, 5, None, True), (4, 7, None, True), (4, 7, (2, 1, 4, 7), False),
     (6, 6, (2, 1, 1, 6), True), (3, 5, (5,), False)],
)
def test_fast_and_explicit_paths_equal_torch_sdpa(lq, lk, mask_shape, causal):
    gen = torch.Generator().manual_seed(0)
    q, k, v = randn(gen, 2, 3, lq, 8), randn(gen, 2, 3, lk, 8), randn(gen, 2, 3, lk, 4)
    mask = None if mask_shape is None else torch.rand(mask_shape, generator=gen) > 0.2
    if mask is not None:
        mask[..., 0] = True  # torch's own SDPA is compared only where every row has a key
    ref_mask = mask if not causal or mask is None else mask & _causal(lq, lk)
    if ref_mask is not None and ref_mask.ndim == 1:  # torch's SDPA wants a query axis; ours broadcasts
        ref_mask = ref_mask[None, :]
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=ref_mask, is_causal=causal and mask is None)
    fast = nn.scaled_dot_product_attention(q, k, v, mask, causal=causal)
    out, w = nn.scaled_dot_product_attention(q, k, v, mask, causal=causal, need_weights=True)
    torch.testing.assert_close(fast, ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(w @ v, out, rtol=0, atol=1e-12)


@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("causal", [False, True])
def test_fully_masked_rows_give_zeros_and_finite_gradients(need_weights, causal):
    gen = torch.Generator().manual_seed(1)
    q, k, v = (randn(gen, 2, 2, 4, 3).requires_grad_() for _ in range(3))
    mask = torch.ones(2, 1, 4, 4, dtype=torch.bool)
    mask[0, :, 2] = False  # query 2 of batch 0: no key
    mask[1] = False  # batch 1: nothing at all
    result = nn.scaled_dot_product_attention(q, k, v, mask, causal=causal, need_weights=need_weights)
    out = result[0] if need_weights else result
    assert torch.isfinite(out).all()
    assert (out[0, :, 2] == 0).all() and (out[1] == 0).all()
    if need_weights:
        assert (result[1][0, :, 2] == 0).all() and (result[1][1] == 0).all()
        torch.testing.assert_close(result[1][0, :, 0].sum(-1), torch.ones(2, dtype=DT))
    (out * torch.randn(out.shape, generator=gen, dtype=DT)).sum().backward()
    for t in (q, k, v):
        assert torch.isfinite(t.grad).all()
    assert (v.grad[1] == 0).all() and (q.grad[1] == 0).all()  # no allowed key: no gradient either


def test_gradients_of_both_paths_agree():
    gen = torch.Generator().manual_seed(2)
    mask = torch.rand(2, 1, 5, 6, generator=gen) > 0.3
    grads = []
    for need_weights in (False, True):
        q, k, v = (randn(torch.Generator().manual_seed(3), 2, 3, n, 4).requires_grad_() for n in (5, 6, 6))
        result = nn.scaled_dot_product_attention(q, k, v, mask, causal=True, need_weights=need_weights)
        out = result[0] if need_weights else result
        out.pow(2).sum().backward()
        grads.append([t.grad for t in (q, k, v)])
    for fast, explicit in zip(*grads):
        torch.testing.assert_close(fast, explicit, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("need_weights", [False, True])
def test_half_precision_is_finite_and_close_to_float32(dtype, need_weights):
    gen = torch.Generator().manual_seed(4)
    q, k, v = (randn(gen, 2, 4, 16, 32, dtype=torch.float32) for _ in range(3))
    q = q * 30  # logits of a few hundred: exp would overflow float16 without the max shift
    mask = torch.rand(2, 1, 16, 16, generator=gen) > 0.3
    mask[0, 0, 3] = False
    q, k, v = (t.to(dtype) for t in (q, k, v))
    low = nn.scaled_dot_product_attention(q, k, v, mask, need_weights=need_weights)
    # The reference: float32 on the same (rounded) inputs, so only the computation's error is measured.
    ref = nn.scaled_dot_product_attention(q.float(), k.float(), v.float(), mask, need_weights=need_weights)
    ref, low = (ref, low) if need_weights else ((ref,), (low,))
    tol = 1e-2 if dtype == torch.float16 else 5e-2
    for r, lo in zip(ref, low):
        assert lo.dtype == dtype and torch.isfinite(lo).all()
        torch.testing.assert_close(lo.float(), r, rtol=0, atol=tol)


def test_huge_logits_stay_finite_in_every_dtype():
    q = torch.tensor([[1e4, 0.0], [0.0, 1e4]])
    for dtype in (torch.float64, torch.float32, torch.bfloat16):
        for need_weights in (False, True):
            result = nn.scaled_dot_product_attention(q.to(dtype), q.to(dtype), q.to(dtype), need_weights=need_weights)
            out = result[0] if need_weights else result
            assert torch.isfinite(out).all(), (dtype, need_weights)
            torch.testing.assert_close(out.double(), q.double(), rtol=1e-2, atol=0)


def test_modules_match_the_functional():
    gen = torch.Generator().manual_seed(5)
    q, k, v = randn(gen, 2, 3, 4), randn(gen, 2, 5, 4), randn(gen, 2, 5, 6)
    mask = torch.rand(2, 1, 5, generator=gen) > 0.3
    torch.testing.assert_close(nn.ScaledDotProductAttention()(q, k, v, mask, causal=True),
                               nn.scaled_dot_product_attention(q, k, v, mask, causal=True))
    out, w = nn.DotProductAttention(scaled=False)(q, k, v, mask, need_weights=True)
    torch.testing.assert_close(w, nn.masked_softmax(q @ k.transpose(1, 2), mask))
    torch.testing.assert_close(nn.DotProductAttention(scaled=False)(q, k, v, mask), out)


def test_dropout_module_only_in_training():
    gen = torch.Generator().manual_seed(6)
    q, k, v = randn(gen, 4, 32, 8), randn(gen, 4, 32, 8), randn(gen, 4, 32, 8)
    layer = nn.ScaledDotProductAttention(dropout=0.5)
    torch.manual_seed(0)
    _, w = layer(q, k, v, need_weights=True)
    assert 0.4 < (w == 0).double().mean().item() < 0.6
    layer.eval()
    torch.testing.assert_close(layer(q, k, v), nn.scaled_dot_product_attention(q, k, v))


def test_additive_attention_masks_and_keys():
    layer = nn.AdditiveAttention(3, 5, 4, dtype=DT)
    gen = torch.Generator().manual_seed(7)
    mask = torch.ones(2, 1, 6, dtype=torch.bool)
    mask[1, 0, 2:] = False
    out, w = layer(randn(gen, 2, 3, 3), randn(gen, 2, 6, 5), randn(gen, 2, 6, 2), mask, need_weights=True)
    assert out.shape == (2, 3, 2) and w.shape == (2, 3, 6)
    assert (w[1, :, 2:] == 0).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3, dtype=DT))
    assert sorted(layer.state_dict()) == ["W_k.weight", "W_q.weight", "w_v.weight"]


def test_bad_input_is_refused_with_the_numpy_messages():
    q, k, v = torch.zeros(2, 3, 4), torch.zeros(2, 5, 4), torch.zeros(2, 5, 2)
    cases = [
        ((q, torch.zeros(2, 5, 6), v), {}, ValueError, "'k' expected shape (..., Lk, 4) (the feature size "
            "of 'q' (2, 3, 4)), got (2, 5, 6)"),
        ((q, k, v), {"mask": torch.ones(3, 4, dtype=torch.bool)}, ValueError,
         "'mask' expected a shape broadcastable to (..., Lq, Lk) = (2, 3, 5), got (3, 4)"),
        ((q, k, v), {"mask": torch.ones(3, 5)}, TypeError, "'mask' must have dtype bool (True = may "
            "attend), got torch.float32"),
        ((torch.zeros(4), k, v), {}, ValueError, "'q' expected shape (..., Lq, d) (at least 2 dims), got (4,)"),
        ((q.numpy(), k, v), {}, TypeError, "'q' must be a torch.Tensor, got ndarray"),
        ((q, k.double(), v), {}, TypeError, "'k' expected the dtype of 'q' (torch.float32), got torch.float64"),
    ]
    for args, kwargs, exc, message in cases:
        with pytest.raises(exc, match=re.escape(message)):
            nn.scaled_dot_product_attention(*args, **kwargs)
    with pytest.raises(ValueError, match=re.escape("DotProductAttention: 'values' expected shape "
        "(B, Lk, dv) (3 dims), got (5, 2)")):
        nn.DotProductAttention()(q, k, torch.zeros(5, 2))
    with pytest.raises(ValueError, match=re.escape("AdditiveAttention: 'query' expected shape "
        "(..., 3), got (2, 3, 4)")):
        nn.AdditiveAttention(3, 4, 8)(q, k, v)
