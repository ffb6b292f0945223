"""Tiled (flash) attention equals plain attention and PyTorch's SDPA, forward and backward, in float64.

Also: a hypothesis property over shapes and block sizes, a finite-difference gradient check, the
memory claim (peak traced memory at L = 4096 far below one L x L matrix, the plain path at least one)
and the input checks.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from bigmodel_lib import nn_numpy, nn_torch
from bigmodel_lib.benchmarks.memory import tracemalloc_peak_bytes
from bigmodel_lib.gradcheck import check_gradients

TOL = {"rtol": 1e-12, "atol": 1e-12}
PROPERTY = settings(derandomize=True, max_examples=20, deadline=None)

# (batch dims of q, of k and v, Lq, Lk, causal, mask kind, block_q, block_k)
CASES = {
    "plain": ((2,), (2,), 12, 12, False, None, 4, 4),
    "causal": ((2,), (2,), 12, 12, True, None, 4, 4),
    "causal_lq_lt_lk": ((2,), (2,), 7, 19, True, None, 4, 5),
    "causal_lq_gt_lk": ((2,), (2,), 19, 7, True, None, 5, 3),
    "bool_mask": ((2,), (2,), 10, 13, False, "random", 3, 4),
    "mask_and_causal": ((2,), (2,), 13, 13, True, "random", 4, 3),
    "key_padding_mask": ((2,), (2,), 9, 11, False, "padding", 4, 4),
    "batch_and_heads": ((2, 3), (2, 3), 9, 9, True, "random", 4, 4),
    "broadcast_heads": ((2, 3), (2, 1), 9, 9, False, None, 4, 4),
    "blocks_do_not_divide": ((1,), (1,), 37, 37, True, None, 16, 16),
    "block_larger_than_l": ((2,), (2,), 11, 13, False, "random", 64, 64),
    "no_batch_dims": ((), (), 8, 10, False, None, 3, 3),
}


def make_case(name: str, dtype=np.float64):
    batch_q, batch_kv, lq, lk, causal, mask_kind, block_q, block_k = CASES[name]
    rng = np.random.default_rng(sorted(CASES).index(name))
    q = rng.standard_normal(batch_q + (lq, 8)).astype(dtype)
    k = rng.standard_normal(batch_kv + (lk, 8)).astype(dtype)
    v = rng.standard_normal(batch_kv + (lk, 5)).astype(dtype)
    batch = np.broadcast_shapes(batch_q, batch_kv)
    mask = None
    if mask_kind == "random":
        mask = rng.random(batch + (lq, lk)) < 0.6
        mask[(0,) * len(batch) + (1,)] = False  # one query with no allowed key at all -> output 0, not NaN
    elif mask_kind == "padding":
        lengths = np.array([lk, lk - 4])
        mask = (np.arange(lk)[None, :] < lengths[:, None])[:, None, :]  # (B, 1, Lk): key padding
    grad_out = rng.standard_normal(batch + (lq, 5)).astype(dtype)
    return q, k, v, mask, causal, block_q, block_k, grad_out


def numpy_plain(q, k, v, mask, causal, grad_out):
    layer = nn_numpy.ScaledDotProductAttention()
    out = layer.forward(q, k, v, mask, causal=causal)
    return out, layer.backward(grad_out)


def numpy_flash(q, k, v, mask, causal, block_q, block_k, grad_out):
    layer = nn_numpy.FlashAttention(block_q, block_k)
    out = layer.forward(q, k, v, mask, causal=causal)
    return out, layer.backward(grad_out)


def torch_run(fn, q, k, v, grad_out):
    """``fn(q, k, v)`` on float64 tensors, backpropagate ``grad_out``; NumPy output and (dq, dk, dv)."""
    tensors = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    out = fn(*tensors)
    out.backward(torch.from_numpy(grad_out))
    return out.detach().numpy(), tuple(t.grad.numpy() for t in tensors)


def torch_sdpa_reference(mask, causal):
    """PyTorch's own ``F.scaled_dot_product_attention``, with rows that have no allowed key set to 0.

    (Some SDPA backends return NaN for such a row; the library's contract is 0, so the row attends to
    every key -- finite -- and is multiplied by 0, as ``nn_torch.scaled_dot_product_attention`` does.)
    """
    def fn(q, k, v):
        lq, lk = q.shape[-2], k.shape[-2]
        if mask is None:
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        allowed = torch.from_numpy(mask)
        if causal:
            allowed = allowed & torch.ones(lq, lk, dtype=torch.bool).tril()
        has_key = allowed.any(dim=-1, keepdim=True)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed | ~has_key) * has_key
    return fn


def assert_all_close(a, b, what):
    out_a, grads_a = a
    out_b, grads_b = b
    np.testing.assert_allclose(out_a, out_b, err_msg=f"{what}: outputs differ", **TOL)
    for name, ga, gb in zip(("dq", "dk", "dv"), grads_a, grads_b):
        assert ga.shape == gb.shape, f"{what}: {name} shapes {ga.shape} vs {gb.shape}"
        np.testing.assert_allclose(ga, gb, err_msg=f"{what}: {name} differs", **TOL)


@pytest.mark.parametrize("name", sorted(CASES))
def test_numpy_flash_equals_plain_numpy_and_torch_sdpa(name: str) -> None:
    q, k, v, mask, causal, block_q, block_k, grad_out = make_case(name)
    flash = numpy_flash(q, k, v, mask, causal, block_q, block_k, grad_out)
    assert_all_close(flash, numpy_plain(q, k, v, mask, causal, grad_out), "numpy flash vs numpy plain")
    assert_all_close(flash, torch_run(torch_sdpa_reference(mask, causal), q, k, v, grad_out),
                     "numpy flash vs torch F.scaled_dot_product_attention")
    assert all(np.isfinite(x).all() for x in (flash[0], *flash[1]))


@pytest.mark.parametrize("name", sorted(CASES))
def test_torch_flash_equals_torch_sdpa(name: str) -> None:
    q, k, v, mask, causal, block_q, block_k, grad_out = make_case(name)
    tmask = None if mask is None else torch.from_numpy(mask)

    def flash(tq, tk, tv):
        return nn_torch.flash_attention(tq, tk, tv, tmask, causal=causal, block_q=block_q, block_k=block_k)

    assert_all_close(torch_run(flash, q, k, v, grad_out),
                     torch_run(torch_sdpa_reference(mask, causal), q, k, v, grad_out), "torch flash vs torch SDPA")


def test_fully_masked_row_gives_zero_output_and_zero_gradient() -> None:
    q, k, v, mask, causal, block_q, block_k, grad_out = make_case("bool_mask")
    out, (dq, _, _) = numpy_flash(q, k, v, mask, causal, block_q, block_k, grad_out)
    np.testing.assert_array_equal(out[0, 1], 0.0)
    np.testing.assert_array_equal(dq[0, 1], 0.0)
    tq = torch.tensor(q, requires_grad=True)
    tout = nn_torch.FlashAttention(block_q, block_k)(tq, torch.tensor(k), torch.tensor(v), torch.from_numpy(mask))
    tout.backward(torch.from_numpy(grad_out))
    assert torch.equal(tout[0, 1], torch.zeros_like(tout[0, 1]))
    assert torch.equal(tq.grad[0, 1], torch.zeros_like(tq.grad[0, 1]))


def test_low_dimensional_masks_broadcast_like_plain_attention() -> None:
    rng = np.random.default_rng(3)
    q, k, v = rng.standard_normal((2, 6, 4)), rng.standard_normal((2, 9, 4)), rng.standard_normal((2, 9, 3))
    for mask in (rng.random(9) < 0.7, np.array(True), rng.random((6, 1)) < 0.5):
        expected = nn_numpy.scaled_dot_product_attention(q, k, v, mask)
        np.testing.assert_allclose(nn_numpy.flash_attention(q, k, v, mask, block_q=4, block_k=4), expected, **TOL)
        got = nn_torch.flash_attention(*(torch.from_numpy(a) for a in (q, k, v)), torch.from_numpy(mask),
                                       block_q=4, block_k=4)
        np.testing.assert_allclose(got.numpy(), expected, **TOL)


def test_the_input_dtype_is_kept() -> None:
    q, k, v, mask, causal, block_q, block_k, grad_out = make_case("mask_and_causal", np.float32)
    out, grads = numpy_flash(q, k, v, mask, causal, block_q, block_k, grad_out)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    expected = nn_numpy.scaled_dot_product_attention(q, k, v, mask, causal=causal)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    tout = nn_torch.flash_attention(*(torch.from_numpy(a) for a in (q, k, v)), torch.from_numpy(mask), causal=causal)
    assert tout.dtype == torch.float32


@st.composite
def flash_inputs(draw: st.DrawFn) -> dict:
    lq, lk = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    batch = (draw(st.integers(1, 2)),)
    mask = rng.random(batch + (lq, lk)) < draw(st.sampled_from([0.0, 0.4, 1.0])) if draw(st.booleans()) else None
    return {
        "q": draw(st.sampled_from([1.0, 30.0])) * rng.standard_normal(batch + (lq, 3)),  # 30: large logits
        "k": rng.standard_normal(batch + (lk, 3)),
        "v": rng.standard_normal(batch + (lk, 2)),
        "mask": mask,
        "causal": draw(st.booleans()),
        "block_q": draw(st.integers(1, 13)),
        "block_k": draw(st.integers(1, 13)),
        "grad_out": rng.standard_normal(batch + (lq, 2)),
    }


@PROPERTY
@given(flash_inputs())
def test_property_flash_equals_plain_for_any_shape_and_blocks(case: dict) -> None:
    q, k, v, mask, causal, grad_out = (case[key] for key in ("q", "k", "v", "mask", "causal", "grad_out"))
    flash = numpy_flash(q, k, v, mask, causal, case["block_q"], case["block_k"], grad_out)
    out, grads = numpy_plain(q, k, v, mask, causal, grad_out)
    np.testing.assert_allclose(flash[0], out, rtol=1e-10, atol=1e-10)
    for got, expected in zip(flash[1], grads):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("causal", [False, True])
def test_flash_backward_passes_the_finite_difference_check(causal: bool) -> None:
    rng = np.random.default_rng(11)
    q, k, v = rng.standard_normal((2, 7, 4)), rng.standard_normal((2, 9, 4)), rng.standard_normal((2, 9, 3))
    mask = rng.random((2, 7, 9)) < 0.7
    check_gradients(nn_numpy.FlashAttention(block_q=3, block_k=4), q, k, v, mask, causal=causal)


def test_peak_memory_at_4096_is_far_below_one_score_matrix() -> None:
    """float64, one head, L = 4096, d = 64, forward + backward: flash < 1/8 of an L x L matrix, plain >= one."""
    length, d = 4096, 64
    score_matrix_bytes = length * length * 8  # 128 MiB
    rng = np.random.default_rng(0)
    q, k, v, grad_out = (rng.standard_normal((length, d)) for _ in range(4))

    def forward_backward(make_layer):
        def run() -> None:
            layer = make_layer()  # created inside: what its forward keeps for the backward counts too
            layer.forward(q, k, v)
            layer.backward(grad_out)
        return run

    flash_peak = tracemalloc_peak_bytes(forward_backward(nn_numpy.FlashAttention))
    plain_peak = tracemalloc_peak_bytes(forward_backward(nn_numpy.ScaledDotProductAttention))
    assert flash_peak < score_matrix_bytes / 8, f"flash peak {flash_peak / 2**20:.1f} MiB"
    assert plain_peak >= score_matrix_bytes, f"plain peak {plain_peak / 2**20:.1f} MiB"


@pytest.mark.parametrize("package", ["numpy", "torch"])
def test_bad_input_names_the_argument(package: str) -> None:
    lib = nn_numpy if package == "numpy" else nn_torch
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(shape) for shape in ((2, 5, 4), (2, 6, 4), (2, 6, 3))]
    q, k, v = arrays if package == "numpy" else [torch.from_numpy(a) for a in arrays]
    for bad_block in ({"block_q": 0}, {"block_k": -2}, {"block_q": 2.5}):
        name = next(iter(bad_block))
        with pytest.raises(ValueError, match=f"'{name}' must be a positive int"):
            lib.flash_attention(q, k, v, **bad_block)
        with pytest.raises(ValueError, match=f"'{name}' must be a positive int"):
            lib.FlashAttention(**bad_block)
    with pytest.raises(ValueError, match=r"'k' expected shape \(\.\.\., Lk, 4\)"):
        lib.flash_attention(q, k[..., :3], v)
    with pytest.raises(ValueError, match=r"'v' expected shape \(\.\.\., 6, dv\)"):
        lib.flash_attention(q, k, v[:, :5])
    with pytest.raises(ValueError, match="'mask' expected a shape broadcastable"):
        wrong_mask = np.ones((2, 5, 7), dtype=bool)  # 7 keys, but k has 6
        lib.flash_attention(q, k, v, wrong_mask if package == "numpy" else torch.from_numpy(wrong_mask))
    with pytest.raises(TypeError, match="'causal' must be a bool"):
        lib.flash_attention(q, k, v, causal=1)


def test_numpy_backward_checks_its_protocol() -> None:
    layer = nn_numpy.FlashAttention()
    rng = np.random.default_rng(0)
    q = rng.standard_normal((3, 4))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(q)
    layer.forward(q, q, q)
    with pytest.raises(ValueError, match="'grad_out' expected the forward output's shape"):
        layer.backward(q[:2])
