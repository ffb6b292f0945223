"""NumPy attention: values checked by hand, gradients by finite differences, bad input refused."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from bigmodel_lib import nn_numpy as nn
from bigmodel_lib.gradcheck import check_gradients


def randn(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape)


class FixedRng:
    """Draws the same dropout mask every call, so finite differences see one fixed function."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def random(self, shape: tuple[int, ...], dtype: type = np.float64) -> np.ndarray:
        return np.random.default_rng(self.seed).random(shape, dtype=dtype)


# -- values -----------------------------------------------------------------------------------------


def test_sdpa_matches_the_formula_by_hand():
    # q = k = e_1, e_2 (d = 4): the scores are 1/sqrt(4) = 0.5 on the diagonal and 0 elsewhere.
    q = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])
    v = np.array([[1.0, 2.0], [3.0, 4.0]])
    out, w = nn.scaled_dot_product_attention(q, q, v, need_weights=True)
    p = math.exp(0.5) / (math.exp(0.5) + 1)
    np.testing.assert_allclose(w, [[p, 1 - p], [1 - p, p]], rtol=1e-14)
    np.testing.assert_allclose(out, [[p * 1 + (1 - p) * 3, p * 2 + (1 - p) * 4],
                                     [(1 - p) * 1 + p * 3, (1 - p) * 2 + p * 4]], rtol=1e-14)


def test_sdpa_loop_reference_with_mask_and_causal():
    rng = np.random.default_rng(0)
    q, k, v = randn(rng, 2, 3, 5, 4), randn(rng, 2, 3, 7, 4), randn(rng, 2, 3, 7, 6)
    mask = rng.random((2, 1, 5, 7)) > 0.3
    out, w = nn.scaled_dot_product_attention(q, k, v, mask, causal=True, need_weights=True)
    for b in range(2):
        for h in range(3):
            for i in range(5):
                allowed = [j for j in range(7) if mask[b, 0, i, j] and j <= i]
                s = np.array([q[b, h, i] @ k[b, h, j] / 2.0 for j in allowed])
                p = np.exp(s - s.max()) / np.exp(s - s.max()).sum() if allowed else s
                expected_w = np.zeros(7)
                expected_w[allowed] = p
                np.testing.assert_allclose(w[b, h, i], expected_w, atol=1e-14)
                np.testing.assert_allclose(out[b, h, i], expected_w @ v[b, h], atol=1e-14)


def test_module_and_functional_agree_and_dtype_is_kept():
    rng = np.random.default_rng(1)
    q, k, v = (randn(rng, 2, 4, 8).astype(np.float32) for _ in range(3))
    out_f, w_f = nn.scaled_dot_product_attention(q, k, v, causal=True, need_weights=True)
    out_m, w_m = nn.ScaledDotProductAttention()(q, k, v, causal=True, need_weights=True)
    assert out_f.dtype == w_f.dtype == np.float32
    np.testing.assert_array_equal(out_f, out_m)
    np.testing.assert_array_equal(w_f, w_m)
    np.testing.assert_allclose(out_f, nn.scaled_dot_product_attention(q, k, v, causal=True), rtol=1e-6, atol=1e-6)


def test_causal_with_more_keys_than_queries_is_top_left_aligned():
    rng = np.random.default_rng(2)
    q, k, v = randn(rng, 3, 4), randn(rng, 5, 4), randn(rng, 5, 2)
    _, w = nn.scaled_dot_product_attention(q, k, v, causal=True, need_weights=True)
    np.testing.assert_array_equal(w > 0, np.tril(np.ones((3, 5), dtype=bool)))


def test_unscaled_dot_product_uses_raw_scores():
    rng = np.random.default_rng(3)
    q, k, v = randn(rng, 2, 3, 4), randn(rng, 2, 5, 4), randn(rng, 2, 5, 3)
    _, w = nn.DotProductAttention(scaled=False)(q, k, v, need_weights=True)
    np.testing.assert_allclose(w, nn.softmax(q @ k.transpose(0, 2, 1)), rtol=1e-13)
    _, w_scaled = nn.DotProductAttention()(q, k, v, need_weights=True)
    np.testing.assert_allclose(w_scaled, nn.softmax(q @ k.transpose(0, 2, 1) / 2.0), rtol=1e-13)


def test_additive_attention_score_by_hand():
    rng = np.random.default_rng(4)
    layer = nn.AdditiveAttention(3, 5, 4, rng=rng).double()
    query, keys, values = randn(rng, 2, 2, 3), randn(rng, 2, 6, 5), randn(rng, 2, 6, 2)
    mask = np.ones((2, 1, 6), dtype=bool)
    mask[1, 0, 4:] = False
    out, w = layer(query, keys, values, mask, need_weights=True)
    wq, wk, wv = layer.W_q.weight.data, layer.W_k.weight.data, layer.w_v.weight.data[0]
    for b in range(2):
        for i in range(2):
            scores = np.array([wv @ np.tanh(wq @ query[b, i] + wk @ keys[b, j]) for j in range(6)])
            allowed = mask[b, 0]
            e = np.where(allowed, np.exp(scores - scores[allowed].max()), 0.0)
            np.testing.assert_allclose(w[b, i], e / e.sum(), atol=1e-14)
            np.testing.assert_allclose(out[b, i], (e / e.sum()) @ values[b], atol=1e-14)
    assert sorted(layer.state_dict()) == ["W_k.weight", "W_q.weight", "w_v.weight"]


def test_masked_softmax_public_helper():
    scores = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    mask = np.array([[True, False, True], [False, False, False]])
    p = nn.masked_softmax(scores, mask)
    np.testing.assert_allclose(p[0], [1 / (1 + math.e**2), 0, math.e**2 / (1 + math.e**2)], rtol=1e-14)
    np.testing.assert_array_equal(p[1], 0.0)
    np.testing.assert_array_equal(scores, [[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])  # input untouched


def test_empty_key_set_gives_zeros():
    q, k, v = np.ones((2, 3)), np.ones((0, 3)), np.ones((0, 4))
    out, w = nn.scaled_dot_product_attention(q, k, v, need_weights=True)
    assert w.shape == (2, 0)
    np.testing.assert_array_equal(out, np.zeros((2, 4)))


# -- dropout ----------------------------------------------------------------------------------------


def test_dropout_only_in_train_mode_and_weights_are_the_applied_ones():
    rng = np.random.default_rng(5)
    q, k, v = randn(rng, 4, 16, 8), randn(rng, 4, 16, 8), randn(rng, 4, 16, 8)
    layer = nn.ScaledDotProductAttention(dropout=0.25, rng=np.random.default_rng(0))
    out, w = layer(q, k, v, need_weights=True)
    _, w_clean = nn.scaled_dot_product_attention(q, k, v, need_weights=True)
    dropped = w == 0
    assert 0.2 < dropped.mean() < 0.3
    np.testing.assert_allclose(w[~dropped], w_clean[~dropped] / 0.75, rtol=1e-13)
    np.testing.assert_allclose(out, w @ v, rtol=1e-12)
    layer.eval()
    np.testing.assert_allclose(layer(q, k, v), nn.scaled_dot_product_attention(q, k, v), rtol=1e-12, atol=1e-15)


def test_dropout_gradients_use_the_cached_mask():
    rng = np.random.default_rng(6)
    layer = nn.ScaledDotProductAttention(dropout=0.3, rng=FixedRng(7))
    check_gradients(layer, randn(rng, 2, 3, 4), randn(rng, 2, 5, 4), randn(rng, 2, 5, 3), need_weights=True)


# -- gradients --------------------------------------------------------------------------------------


def test_softmax_gradient():
    check_gradients(nn.Softmax(), np.random.default_rng(7).standard_normal((3, 4, 5)))


@pytest.mark.parametrize(
    ("lq", "lk", "mask_shape", "causal", "need_weights"),
    [
        (4, 4, None, False, False),
        (4, 6, (2, 1, 4, 6), False, True),  # per-query mask, weights also differentiated
        (5, 5, None, True, False),
        (3, 6, (2, 1, 1, 6), True, True),  # key padding + causal, Lq != Lk
    ],
)
def test_sdpa_gradients(lq, lk, mask_shape, causal, need_weights):
    rng = np.random.default_rng(8)
    q, k, v = randn(rng, 2, 3, lq, 4), randn(rng, 2, 3, lk, 4), randn(rng, 2, 3, lk, 5)
    mask = None
    if mask_shape is not None:
        mask = rng.random(mask_shape) > 0.3
        mask[0, 0, 0] = False  # a row (or a whole batch entry) with nothing allowed
    check_gradients(nn.ScaledDotProductAttention(), q, k, v, mask, causal=causal, need_weights=need_weights)


def test_sdpa_gradients_with_broadcast_batch_dims():
    rng = np.random.default_rng(9)
    q, k, v = randn(rng, 2, 3, 4, 4), randn(rng, 2, 1, 5, 4), randn(rng, 5, 3)  # k, v shared over heads
    check_gradients(nn.ScaledDotProductAttention(), q, k, v)


@pytest.mark.parametrize("scaled", [True, False])
def test_dot_product_attention_gradients(scaled):
    rng = np.random.default_rng(10)
    mask = rng.random((2, 3, 5)) > 0.4
    check_gradients(nn.DotProductAttention(scaled), randn(rng, 2, 3, 4), randn(rng, 2, 5, 4), randn(rng, 2, 5, 2),
                    mask, need_weights=True)


def test_additive_attention_gradients():
    rng = np.random.default_rng(11)
    layer = nn.AdditiveAttention(3, 5, 4, rng=rng).double()
    mask = np.ones((2, 1, 6), dtype=bool)
    mask[0, 0, 3:] = False
    result = check_gradients(layer, randn(rng, 2, 3, 3), randn(rng, 2, 6, 5), randn(rng, 2, 6, 2), mask,
                             need_weights=True)
    assert set(result.errors) == {"input[0]", "input[1]", "input[2]", "W_q.weight", "W_k.weight", "w_v.weight"}


# -- bad input --------------------------------------------------------------------------------------


def _err(message: str) -> str:
    return re.escape(message)


@pytest.mark.parametrize(
    ("shapes", "exc", "message"),
    [
        (((2, 3, 4), (2, 5, 6), (2, 5, 2)), ValueError, "'k' expected shape (..., Lk, 4) (the feature size "
            "of 'q' (2, 3, 4)), got (2, 5, 6)"),
        (((2, 3, 4), (2, 5, 4), (2, 6, 2)), ValueError, "'v' expected shape (..., 5, dv) (one row per key "
            "of 'k' (2, 5, 4)), got (2, 6, 2)"),
        (((4,), (5, 4), (5, 2)), ValueError, "'q' expected shape (..., Lq, d) (at least 2 dims), got (4,)"),
        (((2, 3, 4), (3, 5, 4), (3, 5, 2)), ValueError, "leading (batch) dims of 'q' (2, 3, 4), 'k' (3, 5, 4)"),
    ],
)
def test_sdpa_rejects_bad_shapes(shapes, exc, message):
    q, k, v = (np.zeros(s) for s in shapes)
    with pytest.raises(exc, match=_err(message)):
        nn.scaled_dot_product_attention(q, k, v)


def test_sdpa_rejects_bad_masks_and_types():
    q, k, v = np.zeros((2, 3, 4)), np.zeros((2, 5, 4)), np.zeros((2, 5, 2))
    with pytest.raises(ValueError, match=_err("'mask' expected a shape broadcastable to (..., "
        "Lq, Lk) = (2, 3, 5), got (3, 4)")):
        nn.scaled_dot_product_attention(q, k, v, np.ones((3, 4), dtype=bool))
    with pytest.raises(ValueError, match=_err("broadcastable to (..., Lq, Lk) = (2, 3, 5), got (1, 2, 3, 5)")):
        nn.scaled_dot_product_attention(q, k, v, np.ones((1, 2, 3, 5), dtype=bool))
    with pytest.raises(TypeError, match=_err("'mask' must have dtype bool (True = may attend), got float64")):
        nn.scaled_dot_product_attention(q, k, v, np.ones((3, 5)))
    with pytest.raises(TypeError, match=_err("'k' expected the dtype of 'q' (float64), got float32")):
        nn.scaled_dot_product_attention(q, k.astype(np.float32), v)
    with pytest.raises(TypeError, match=_err("'q' must be a NumPy array, got list")):
        nn.scaled_dot_product_attention([[1.0]], k, v)
    with pytest.raises(TypeError, match=_err("'v' must have a floating-point dtype, got int64")):
        nn.scaled_dot_product_attention(q, k, np.zeros((2, 5, 2), dtype=np.int64))
    with pytest.raises(ValueError, match=_err("'dropout_p' must be in [0, 1), got 1.0")):
        nn.scaled_dot_product_attention(q, k, v, dropout_p=1.0)


def test_layers_reject_bad_input():
    rng = np.random.default_rng(12)
    with pytest.raises(ValueError, match=_err("DotProductAttention: 'query' expected shape "
        "(B, Lq, d) (3 dims), got (3, 4)")):
        nn.DotProductAttention()(randn(rng, 3, 4), randn(rng, 1, 5, 4), randn(rng, 1, 5, 2))
    with pytest.raises(ValueError, match=_err("DotProductAttention: 'keys' expected batch size 2 (that "
        "of 'query' (2, 3, 4)), got (1, 5, 4)")):
        nn.DotProductAttention()(randn(rng, 2, 3, 4), randn(rng, 1, 5, 4), randn(rng, 1, 5, 2))
    layer = nn.AdditiveAttention(3, 5, 4)
    with pytest.raises(ValueError, match=_err("AdditiveAttention: 'keys' expected shape (..., 5), got (2, 6, 3)")):
        layer(randn(rng, 2, 2, 3).astype(np.float32), randn(rng, 2, 6, 3).astype(np.float32), randn(rng, 2, 6, 2))
    with pytest.raises(ValueError, match=_err("AdditiveAttention: 'mask' expected a shape broadcastable "
        "to (B, Lq, Lk) = (2, 2, 6), got (3, 6)")):
        layer(np.zeros((2, 2, 3), np.float32), np.zeros((2, 6, 5), np.float32), np.zeros((2, 6, 2), np.float32),
              np.ones((3, 6), dtype=bool))
    with pytest.raises(ValueError, match=_err("AdditiveAttention: 'values' expected shape (2, 6, dv) (one row "
        "per key of 'keys' (2, 6, 5)), got (2, 4, 2)")):
        layer(np.zeros((2, 2, 3), np.float32), np.zeros((2, 6, 5), np.float32), np.zeros((2, 4, 2), np.float32))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        nn.ScaledDotProductAttention().backward(np.zeros((2, 3)))
    sdpa = nn.ScaledDotProductAttention()
    sdpa(randn(rng, 3, 4), randn(rng, 5, 4), randn(rng, 5, 2))
    with pytest.raises(ValueError, match=_err("'grad_out' expected the forward output's shape (3, 2), got (3, 4)")):
        sdpa.backward(np.zeros((3, 4)))
