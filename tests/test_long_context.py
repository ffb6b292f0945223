"""Sliding-window masks and linear attention: definitions, NumPy == PyTorch, causality, gradients, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bigmodel_lib import nn_numpy, nn_torch
from bigmodel_lib.gradcheck import check_gradients
from bigmodel_lib.nn_torch.gpt import GPT, GPTConfig
from bigmodel_lib.scale.long_context import (
    attention_forward_flops,
    attention_saved_numbers,
    decoding_state_numbers,
)


def _qkv(shape_q=(2, 3, 9, 4), shape_k=(2, 3, 9, 4), dv=5, seed=0):
    rng = np.random.default_rng(seed)
    q = rng.normal(size=shape_q)
    k = rng.normal(size=shape_k)
    v = rng.normal(size=shape_k[:-1] + (dv,))
    return q, k, v


def _elu_plus_one(x):
    return np.where(x > 0, x + 1, np.exp(np.minimum(x, 0)))


# -- sliding window ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("lq", "lk", "window"), [(1, 1, 1), (6, 6, 1), (6, 6, 3), (7, 7, 7), (5, 9, 2), (9, 5, 4)])
def test_sliding_window_mask_is_its_definition(lq, lk, window):
    brute = np.array([[0 <= i - j < window for j in range(lk)] for i in range(lq)])
    assert np.array_equal(nn_numpy.sliding_window_mask(lq, lk, window), brute)
    assert torch.equal(nn_torch.sliding_window_mask(lq, lk, window), torch.from_numpy(brute))
    # at most `window` keys per query, its own position included when it exists
    assert nn_numpy.sliding_window_mask(lq, lk, window).sum(axis=1).max() <= window


@pytest.mark.parametrize("window", [8, 9, 50])
def test_a_window_as_long_as_the_sequence_is_plain_causal_attention(window):
    q, k, v = _qkv(shape_q=(2, 8, 4), shape_k=(2, 8, 4))
    mask = nn_numpy.sliding_window_mask(8, 8, window)
    windowed = nn_numpy.scaled_dot_product_attention(q, k, v, mask=mask)
    causal = nn_numpy.scaled_dot_product_attention(q, k, v, causal=True)
    np.testing.assert_allclose(windowed, causal, rtol=0, atol=1e-14)
    tq, tk, tv = (torch.from_numpy(x) for x in (q, k, v))
    torch_windowed = nn_torch.scaled_dot_product_attention(tq, tk, tv, mask=nn_torch.sliding_window_mask(8, 8, window))
    np.testing.assert_allclose(torch_windowed.numpy(), causal, rtol=0, atol=1e-12)


def test_a_short_window_differs_from_causal_attention_and_ignores_far_keys():
    q, k, v = _qkv(shape_q=(1, 8, 4), shape_k=(1, 8, 4))
    mask = nn_numpy.sliding_window_mask(8, 8, 3)
    out = nn_numpy.scaled_dot_product_attention(q, k, v, mask=mask)
    assert np.abs(out - nn_numpy.scaled_dot_product_attention(q, k, v, causal=True)).max() > 1e-3
    changed = v.copy()
    changed[0, 0] += 10.0  # key 0 is outside the window of queries 3..7
    out2 = nn_numpy.scaled_dot_product_attention(q, k, changed, mask=mask)
    assert np.array_equal(out2[0, 3:], out[0, 3:]) and not np.allclose(out2[0, :3], out[0, :3])


# -- linear attention -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("causal", [False, True])
def test_linear_attention_equals_its_quadratic_definition(causal):
    q, k, v = _qkv()
    scores = _elu_plus_one(q) @ np.swapaxes(_elu_plus_one(k), -1, -2)  # phi(Q) phi(K)^T, (..., L, L)
    if causal:
        scores = scores * np.tril(np.ones((9, 9)))
    reference = (scores @ v) / (scores.sum(axis=-1, keepdims=True) + 1e-6)
    np.testing.assert_allclose(nn_numpy.linear_attention(q, k, v, causal=causal), reference, rtol=0, atol=1e-12)
    torch_out = nn_torch.linear_attention(*(torch.from_numpy(x) for x in (q, k, v)), causal=causal)
    np.testing.assert_allclose(torch_out.numpy(), reference, rtol=0, atol=1e-12)


def test_non_causal_linear_attention_takes_a_different_number_of_keys():
    q, k, v = _qkv(shape_q=(2, 5, 4), shape_k=(2, 11, 4), dv=3)
    out = nn_numpy.linear_attention(q, k, v)
    assert out.shape == (2, 5, 3)
    torch_out = nn_torch.linear_attention(*(torch.from_numpy(x) for x in (q, k, v)))
    np.testing.assert_allclose(torch_out.numpy(), out, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("feature_map", ["elu+1", "relu"])
def test_linear_attention_numpy_equals_torch_forward_and_backward(causal, feature_map):
    q, k, v = _qkv(shape_q=(2, 1, 9, 4), shape_k=(1, 3, 9, 4))  # leading dims broadcast
    grad = np.random.default_rng(1).normal(size=(2, 3, 9, 5))
    layer = nn_numpy.LinearAttention(feature_map=feature_map)
    out = layer.forward(q, k, v, causal=causal)
    dq, dk, dv = layer.backward(grad)
    tq, tk, tv = (torch.from_numpy(x).requires_grad_() for x in (q, k, v))
    torch_out = nn_torch.LinearAttention(feature_map=feature_map)(tq, tk, tv, causal=causal)
    torch_out.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(torch_out.detach().numpy(), out, rtol=1e-10, atol=1e-12)
    for ours, theirs in ((dq, tq), (dk, tk), (dv, tv)):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("causal", [False, True])
def test_linear_attention_gradients_match_finite_differences(causal):
    q, k, v = _qkv(shape_q=(2, 6, 3), shape_k=(2, 6, 3), dv=4)
    assert check_gradients(nn_numpy.LinearAttention(), q, k, v, causal=causal).passed


@pytest.mark.parametrize("package", ["numpy", "torch"])
def test_causal_linear_attention_never_looks_ahead(package):
    q, k, v = _qkv(shape_q=(1, 10, 4), shape_k=(1, 10, 4))
    changed = [x.copy() for x in (q, k, v)]
    for x in changed:
        x[0, 6] += 3.0  # change token 6 in queries, keys and values
    if package == "numpy":
        before = nn_numpy.linear_attention(q, k, v, causal=True)
        after = nn_numpy.linear_attention(*changed, causal=True)
    else:
        before, after = (nn_torch.linear_attention(*(torch.from_numpy(x) for x in xs), causal=True).numpy()
                         for xs in ((q, k, v), changed))
    assert np.array_equal(before[0, :6], after[0, :6])
    assert np.abs(before[0, 6:] - after[0, 6:]).min() > 0


def test_linear_attention_keeps_float32():
    q, k, v = (x.astype(np.float32) for x in _qkv())
    assert nn_numpy.linear_attention(q, k, v, causal=True).dtype == np.float32


# -- GPT variants -----------------------------------------------------------------------------------------------


def test_gpt_with_a_long_window_equals_the_gpt_and_linear_gpt_is_causal():
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=11, block_size=12, n_layer=2, n_head=2, d_model=8)
    model = GPT(config, dtype=torch.float64).eval()
    ids = torch.randint(0, 11, (2, 12))
    with torch.no_grad():
        full = model(ids)
        windowed = nn_torch.with_attention(model, "window", window=12)(ids)
        short = nn_torch.with_attention(model, "window", window=3)(ids)
        linear_model = nn_torch.with_attention(model, "linear")
        linear = linear_model(ids)
        changed = ids.clone()
        changed[:, 7] = (changed[:, 7] + 1) % 11
        linear_changed = linear_model(changed)
        back = nn_torch.with_attention(model, "softmax")(ids)
    torch.testing.assert_close(windowed, full, rtol=0, atol=1e-12)
    assert (short - full).abs().max() > 1e-6 and (linear - full).abs().max() > 1e-6
    assert torch.equal(linear_changed[:, :7], linear[:, :7])
    assert not torch.allclose(linear_changed[:, 7:], linear[:, 7:])
    torch.testing.assert_close(back, full, rtol=0, atol=0)
    assert set(model.state_dict()) == set(GPT(config).state_dict())
    with pytest.raises(ValueError, match="KV cache is not supported"):
        nn_torch.with_attention(model, "linear")(ids[:, :3], model.new_cache(2))


def test_receptive_field_grows_by_window_minus_one_per_layer():
    torch.manual_seed(0)
    window, n_layer, length = 4, 3, 16
    config = GPTConfig(vocab_size=7, block_size=length, n_layer=n_layer, n_head=1, d_model=8)
    model = nn_torch.with_attention(GPT(config, dtype=torch.float64).eval(), "window", window=window)
    ids = torch.randint(0, 7, (1, length))
    last = length - 1
    for position in range(length):
        changed = ids.clone()
        changed[0, position] = (changed[0, position] + 1) % 7
        with torch.no_grad():
            moved = (model(changed)[0, last] - model(ids)[0, last]).abs().max().item()
        assert (moved > 0) == (position >= last - n_layer * (window - 1)), position


# -- costs ------------------------------------------------------------------------------------------------------


def test_costs_follow_the_formulas_and_cross_at_d_head():
    assert attention_forward_flops("full", 64, 4, 16) == 4 * 64 * 64 * 4 * 16
    assert attention_forward_flops("window", 64, 4, 16, window=8) == 4 * 64 * 8 * 4 * 16
    assert attention_forward_flops("window", 64, 4, 16, window=100) == attention_forward_flops("full", 64, 4, 16)
    assert attention_forward_flops("linear", 16, 4, 16) == attention_forward_flops("full", 16, 4, 16)
    assert attention_forward_flops("linear", 17, 4, 16) < attention_forward_flops("full", 17, 4, 16)
    assert attention_saved_numbers("linear", 10, 2, 4, causal=False) == 2 * 4 * 5
    assert decoding_state_numbers("full", 1000, 2, 4) == 2 * 1000 * 2 * 4
    assert decoding_state_numbers("linear", 1000, 2, 4) == decoding_state_numbers("linear", 10, 2, 4)
    with pytest.raises(ValueError, match="needs 'window'"):
        attention_forward_flops("window", 64, 4, 16)
    with pytest.raises(ValueError, match="'kind' must be one of"):
        attention_forward_flops("sparse", 64, 4, 16)


# -- bad input --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("package", [nn_numpy, nn_torch])
def test_bad_input_names_the_argument(package):
    convert = (lambda x: x) if package is nn_numpy else torch.from_numpy
    q, k, v = (convert(x) for x in _qkv(shape_q=(2, 5, 4), shape_k=(2, 5, 4)))
    with pytest.raises(ValueError, match="'window' must be a positive int, got 0"):
        package.sliding_window_mask(5, 5, 0)
    with pytest.raises(ValueError, match="'lq' must be a positive int"):
        package.sliding_window_mask(0, 5, 2)
    with pytest.raises(ValueError, match=r"'feature_map' must be one of \('elu\+1', 'relu'\), got 'softmax'"):
        package.linear_attention(q, k, v, feature_map="softmax")
    with pytest.raises(ValueError, match="'eps' must be a positive number, got 0"):
        package.linear_attention(q, k, v, eps=0)
    with pytest.raises(TypeError, match="'causal' must be a bool"):
        package.linear_attention(q, k, v, causal=1)
    with pytest.raises(ValueError, match=r"causal=True expected as many queries as keys .* Lq = 3 and Lk = 5"):
        package.linear_attention(q[:, :3], k, v, causal=True)
    with pytest.raises(ValueError, match=r"'k' expected shape \(\.\.\., Lk, 4\)"):
        package.linear_attention(q, k[..., :3], v)
    with pytest.raises(TypeError, match="'k' expected the dtype of 'q'"):
        package.linear_attention(q, k.astype(np.float32) if package is nn_numpy else k.float(), v)
    wrong_kind = torch.from_numpy(np.asarray(q)) if package is nn_numpy else np.asarray(q)
    with pytest.raises(TypeError, match="'q' must be a"):
        package.linear_attention(wrong_kind, k, v)
    with pytest.raises(ValueError, match="'feature_map' must be one of"):
        package.LinearAttention(feature_map="cos")


def test_numpy_backward_checks_its_gradient_and_order():
    layer = nn_numpy.LinearAttention()
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(np.zeros((2, 5, 4)))
    q, k, v = _qkv(shape_q=(2, 5, 4), shape_k=(2, 5, 4), dv=4)
    layer.forward(q, k, v)
    with pytest.raises(ValueError, match="'grad_out' expected the forward output's shape"):
        layer.backward(np.zeros((2, 5, 3)))


def test_with_attention_refuses_unknown_kinds():
    model = GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, d_model=4))
    with pytest.raises(ValueError, match="'kind' must be one of"):
        nn_torch.with_attention(model, "flash")
    with pytest.raises(ValueError, match="'window' must be a positive int"):
        nn_torch.with_attention(model, "window")
    with pytest.raises(ValueError, match="only for kind='window'"):
        nn_torch.with_attention(model, "linear", window=4)


@pytest.mark.parametrize("length", [1, 63, 64, 65, 130, 200])
def test_torch_chunks_give_the_numpy_prefix_sums_at_every_length(length):
    q, k, v = _qkv(shape_q=(1, 2, length, 3), shape_k=(2, 1, length, 3), dv=2)
    torch_out = nn_torch.linear_attention(*(torch.from_numpy(x) for x in (q, k, v)), causal=True)
    np.testing.assert_allclose(torch_out.numpy(), nn_numpy.linear_attention(q, k, v, causal=True), rtol=0, atol=1e-12)


def test_the_variants_keep_rope_and_shared_key_value_heads():
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=11, block_size=12, n_layer=2, n_head=4, n_kv_head=2, d_model=16, position="rope")
    model = GPT(config, dtype=torch.float64).eval()
    ids = torch.randint(0, 11, (2, 12))
    with torch.no_grad():
        full = model(ids)
        windowed = nn_torch.with_attention(model, "window", window=12)(ids)
        linear = nn_torch.with_attention(model, "linear")(ids)
    torch.testing.assert_close(windowed, full, rtol=0, atol=1e-12)
    assert torch.isfinite(linear).all()


def test_low_precision_inputs_are_summed_in_float32():
    q, k, v = _qkv(shape_q=(1, 2, 300, 8), shape_k=(1, 2, 300, 8), dv=8)
    exact = nn_numpy.linear_attention(q, k, v, causal=True)
    half = nn_torch.linear_attention(*(torch.from_numpy(x).bfloat16() for x in (q, k, v)), causal=True)
    assert half.dtype == torch.bfloat16
    np.testing.assert_allclose(half.float().numpy(), exact, rtol=0, atol=0.05)  # bfloat16 inputs and output only
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = nn_torch.linear_attention(*(torch.from_numpy(x).float() for x in (q, k, v)), causal=True)
    np.testing.assert_allclose(inside.float().numpy(), exact, rtol=0, atol=1e-5)


def test_a_sliding_window_layer_built_directly_needs_its_window():
    layer = nn_torch.SlidingWindowSelfAttention(8, 2, window=3)
    assert layer.window == 3 and "window=3" in repr(layer)
    with pytest.raises(ValueError, match="'window' must be a positive int"):
        nn_torch.SlidingWindowSelfAttention(8, 2, window=0)
