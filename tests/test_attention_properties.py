"""Properties attention must have whatever the input (hypothesis, derandomized: the same cases every run)."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bigmodel_lib import nn_numpy, nn_torch

PROPERTY = settings(derandomize=True, max_examples=25, deadline=None)


@st.composite
def attention_inputs(draw: st.DrawFn) -> dict:
    """Random sizes, values (scale up to 1e4: huge logits), a random mask and causal flag."""
    b, lq, lk, d = (draw(st.integers(1, 4)) for _ in range(4))
    seed = draw(st.integers(0, 2**32 - 1))
    magnitude = draw(st.sampled_from([1.0, 10.0, 1e4]))
    rng = np.random.default_rng(seed)
    mask = rng.random((b, lq, lk)) < draw(st.sampled_from([0.0, 0.3, 0.7, 1.0]))  # 0.0: nothing allowed
    return {
        "q": magnitude * rng.standard_normal((b, lq, d)),
        "k": rng.standard_normal((b, lk, d)),
        "v": rng.standard_normal((b, lk, 3)),
        "mask": mask if draw(st.booleans()) else None,
        "causal": draw(st.booleans()),
        "rng": rng,
    }


def _allowed(case: dict) -> np.ndarray:
    b, lq, lk = case["q"].shape[0], case["q"].shape[1], case["k"].shape[1]
    allowed = np.ones((b, lq, lk), dtype=bool) if case["mask"] is None else case["mask"].copy()
    if case["causal"]:
        allowed &= np.tril(np.ones((lq, lk), dtype=bool))
    return allowed


def _both(case: dict, need_weights: bool = True):
    """NumPy and torch (explicit and fast path) results for one case."""
    q, k, v, mask, causal = case["q"], case["k"], case["v"], case["mask"], case["causal"]
    numpy_result = nn_numpy.scaled_dot_product_attention(q, k, v, mask, causal=causal, need_weights=need_weights)
    tmask = None if mask is None else torch.from_numpy(mask)
    tensors = [torch.from_numpy(a) for a in (q, k, v)]
    torch_result = nn_torch.scaled_dot_product_attention(*tensors, tmask, causal=causal, need_weights=need_weights)
    return numpy_result, torch_result


@PROPERTY
@given(attention_inputs())
def test_weights_are_a_distribution_over_allowed_keys(case):
    allowed = _allowed(case)
    has_key = allowed.any(axis=-1)
    (out, w), (t_out, t_w) = _both(case)
    fast = nn_torch.scaled_dot_product_attention(*(torch.from_numpy(case[n]) for n in "qkv"),
                                                 None if case["mask"] is None else torch.from_numpy(case["mask"]),
                                                 causal=case["causal"])
    for weights in (w, t_w.numpy()):
        assert np.all(weights >= 0)
        assert np.all(weights[~allowed] == 0)
        np.testing.assert_allclose(weights.sum(-1)[has_key], 1.0, rtol=1e-12)
        assert np.all(weights[~has_key] == 0)
    for output in (out, t_out.numpy(), fast.numpy()):
        assert np.all(np.isfinite(output))  # also with logits ~1e4
        assert np.all(output[~has_key] == 0)  # a query with no key: exactly zero, never NaN
    np.testing.assert_allclose(out, fast.numpy(), rtol=1e-9, atol=1e-12)


@PROPERTY
@given(attention_inputs())
def test_masked_keys_and_values_change_nothing(case):
    assume(case["mask"] is not None)
    allowed = _allowed(case)
    # keys masked for every query of a batch entry may be replaced by anything
    unused = ~allowed.any(axis=1)  # (B, Lk)
    k2, v2 = case["k"].copy(), case["v"].copy()
    noise = case["rng"]
    k2[unused] = 1e3 * noise.standard_normal(k2[unused].shape)
    v2[unused] = 1e3 * noise.standard_normal(v2[unused].shape)
    changed = dict(case, k=k2, v=v2)
    (out, w), (t_out, t_w) = _both(case)
    (out2, w2), (t_out2, t_w2) = _both(changed)
    np.testing.assert_array_equal(w, w2)
    np.testing.assert_allclose(out, out2, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(t_out.numpy(), t_out2.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(t_w.numpy(), t_w2.numpy())


@PROPERTY
@given(st.integers(1, 5), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_self_attention_without_positions_is_permutation_equivariant(length, heads, seed):
    rng = np.random.default_rng(seed)
    d_model = 2 * heads
    x = rng.standard_normal((2, length, d_model))
    perm = rng.permutation(length)
    layer = nn_numpy.MultiHeadAttention(d_model, heads, dtype=np.float64, rng=rng)
    out, w = layer(x, need_weights=True)
    out_p, w_p = layer(x[:, perm], need_weights=True)
    np.testing.assert_allclose(out_p, out[:, perm], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w_p, w[:, :, perm][:, :, :, perm], rtol=1e-10, atol=1e-12)
    t_layer = nn_torch.MultiHeadAttention(d_model, heads, dtype=torch.float64)
    t_layer.load_state_dict(layer.state_dict())
    t_out = t_layer(torch.from_numpy(x)).detach()
    np.testing.assert_allclose(t_layer(torch.from_numpy(x[:, perm])).detach().numpy(), t_out.numpy()[:, perm],
                               rtol=1e-10, atol=1e-12)
    # ... and adding positions breaks it (that is what they are for)
    if length > 2 and not np.array_equal(perm, np.arange(length)):
        pe = nn_numpy.SinusoidalPositionalEncoding(d_model, max_len=8)
        with_pos = layer(pe(x))
        assert not np.allclose(layer(pe(x[:, perm])), with_pos[:, perm])


@PROPERTY
@given(attention_inputs())
def test_causal_outputs_ignore_the_future(case):
    q, v = case["q"], case["v"]
    lq, lk = q.shape[1], case["k"].shape[1]
    assume(lk >= 2)
    cut = min(lq, lk - 1)  # queries 0..cut-1 may only see keys 0..cut-1
    k2, v2 = case["k"].copy(), v.copy()
    k2[:, cut:] += 5.0
    v2[:, cut:] -= 7.0
    out = nn_numpy.scaled_dot_product_attention(q, case["k"], v, case["mask"], causal=True)
    out2 = nn_numpy.scaled_dot_product_attention(q, k2, v2, case["mask"], causal=True)
    np.testing.assert_allclose(out[:, :cut], out2[:, :cut], rtol=1e-12, atol=1e-12)
