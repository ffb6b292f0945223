"""Grouped-query / multi-query attention and rotary position embeddings (RoPE), in both packages.

GQA: equal to PyTorch's own grouped SDPA (``enable_gqa=True``) and to an explicit ``repeat_interleave``
reference; NumPy == torch forward and backward; NumPy backward gradient-checked; the KV cache shrinks by
``n_head / n_kv_head`` and its bytes equal ``bigmodel_lib.scale``'s estimate. RoPE: the score after rotation
depends on the positions only through ``m - n`` (hypothesis), norms are kept, NumPy == torch, the backward is
the inverse rotation; a RoPE GPT's cached logits equal its uncached ones and it runs beyond ``block_size``.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from bigmodel_lib import nn_numpy, nn_torch
from bigmodel_lib.checkpoint import config_matches
from bigmodel_lib.gradcheck import check_gradients
from bigmodel_lib.nn_numpy import gpt as np_gpt
from bigmodel_lib.nn_numpy.positional import RotaryEmbedding as NumpyRotary
from bigmodel_lib.nn_numpy.positional import rotary_cos_sin, rotary_embedding
from bigmodel_lib.nn_torch import gpt as t_gpt
from bigmodel_lib.nn_torch.positional import RotaryEmbedding as TorchRotary
from bigmodel_lib.nn_torch.positional import rotary_embedding as torch_rotary_embedding
from bigmodel_lib.scale import ModelShape

# -- GQA in MultiHeadAttention ------------------------------------------------------------------------------------


def _mha_pair(num_kv_heads: int | None, rope_base: float | None = None, d_model: int = 12, num_heads: int = 6):
    torch.manual_seed(0)
    torch_layer = nn_torch.MultiHeadAttention(d_model, num_heads, num_kv_heads=num_kv_heads, rope_base=rope_base,
                                              dtype=torch.float64)
    with torch.no_grad():  # non-zero biases, so their gradients matter
        torch_layer.in_proj.bias.normal_()
        torch_layer.out_proj.bias.normal_()
    numpy_layer = nn_numpy.MultiHeadAttention(d_model, num_heads, num_kv_heads=num_kv_heads, rope_base=rope_base,
                                              dtype=np.float64, rng=np.random.default_rng(0))
    numpy_layer.load_state_dict(torch_layer.state_dict())
    return numpy_layer, torch_layer


@pytest.mark.parametrize("num_kv_heads", [None, 6, 3, 2, 1])
def test_kv_projection_shapes_and_keys(num_kv_heads):
    numpy_layer, torch_layer = _mha_pair(num_kv_heads)
    kv = (num_kv_heads or 6) * 2  # d_head = 12 / 6 = 2
    shapes_t = {k: tuple(v.shape) for k, v in torch_layer.state_dict().items()}
    shapes_n = {k: tuple(v.shape) for k, v in numpy_layer.state_dict().items()}
    assert shapes_t == shapes_n == {"in_proj.weight": (12 + 2 * kv, 12), "in_proj.bias": (12 + 2 * kv,),
                                    "out_proj.weight": (12, 12), "out_proj.bias": (12,)}
    # Xavier-uniform bound of the stacked matrix, the same rule in both packages
    bound = math.sqrt(6.0 / (12 + 12 + 2 * kv))
    fresh = nn_numpy.MultiHeadAttention(12, 6, num_kv_heads=num_kv_heads, rng=np.random.default_rng(5))
    assert np.abs(fresh.in_proj.weight.data).max() <= bound
    assert torch_layer.in_proj.weight.abs().max().item() <= bound


def _explicit_gqa(layer: nn_torch.MultiHeadAttention, x: torch.Tensor, causal: bool, rope: bool = False):
    """GQA written out: project, split heads, repeat each K/V head for its query group, attend, merge."""
    d, kv, dh = layer.d_model, layer.kv_width, layer.head_dim
    w, b = layer.in_proj.weight, layer.in_proj.bias
    batch, length, _ = x.shape
    q = (x @ w[:d].T + b[:d]).view(batch, length, -1, dh).transpose(1, 2)  # (B, h, L, dh)
    k = (x @ w[d:d + kv].T + b[d:d + kv]).view(batch, length, -1, dh).transpose(1, 2)  # (B, h_kv, L, dh)
    v = (x @ w[d + kv:].T + b[d + kv:]).view(batch, length, -1, dh).transpose(1, 2)  # (B, h_kv, L, dh)
    if rope:
        q, k = torch_rotary_embedding(q, base=layer.rope_base), torch_rotary_embedding(k, base=layer.rope_base)
    group = layer.num_heads // layer.num_kv_heads
    k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)  # (B, h, L, dh)
    scores = q @ k.transpose(-2, -1) / math.sqrt(dh)
    if causal:
        scores = scores.masked_fill(~torch.ones(length, length, dtype=torch.bool).tril(), float("-inf"))
    heads = scores.softmax(-1) @ v  # (B, h, L, dh)
    return layer.out_proj(heads.transpose(1, 2).reshape(batch, length, d)), (q, k, v)


@pytest.mark.parametrize("num_kv_heads", [6, 3, 2, 1])
@pytest.mark.parametrize("causal", [False, True])
def test_torch_gqa_equals_explicit_repeat_and_pytorch_enable_gqa(num_kv_heads, causal):
    _, layer = _mha_pair(num_kv_heads)
    x = torch.randn(2, 5, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ours = layer(x, causal=causal)
    explicit, _ = _explicit_gqa(layer, x, causal)
    torch.testing.assert_close(ours, explicit, rtol=1e-12, atol=1e-12)
    # PyTorch's own grouped SDPA on the un-repeated K and V (num_kv_heads heads)
    q, k, v = layer._qkv(x, "qkv")
    assert k.shape == (2, num_kv_heads, 5, 2)
    heads = F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
    theirs = layer.out_proj(heads.transpose(1, 2).reshape(2, 5, 12))
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("num_kv_heads", "rope_base"), [(3, None), (1, None), (2, 10000.0), (6, 100.0)])
@pytest.mark.parametrize("inputs", ["x", "x,mem"])
def test_numpy_equals_torch_forward_and_backward(num_kv_heads, rope_base, inputs):
    numpy_layer, torch_layer = _mha_pair(num_kv_heads, rope_base)
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal((2, 4, 12)), rng.standard_normal((2, 7, 12))][: len(inputs.split(","))]
    out_n = numpy_layer(*arrays, causal=len(arrays) == 1)
    grad = rng.standard_normal(out_n.shape)
    numpy_layer.zero_grad()
    d_inputs = numpy_layer.backward(grad)
    d_inputs = d_inputs if isinstance(d_inputs, tuple) else (d_inputs,)
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    out_t = torch_layer(*tensors, causal=len(arrays) == 1)
    out_t.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(out_n, out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    for d_n, t in zip(d_inputs, tensors):
        np.testing.assert_allclose(d_n, t.grad.numpy(), rtol=1e-10, atol=1e-12)
    grads_n = dict(numpy_layer.named_parameters())
    for name, p in torch_layer.named_parameters():
        np.testing.assert_allclose(grads_n[name].grad, p.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize(("num_kv_heads", "rope_base"), [(3, None), (1, None), (2, 10000.0)])
def test_numpy_gqa_and_rope_gradients_pass_the_finite_difference_check(num_kv_heads, rope_base):
    numpy_layer, _ = _mha_pair(num_kv_heads, rope_base)
    rng = np.random.default_rng(3)
    result = check_gradients(numpy_layer, rng.standard_normal((2, 4, 12)), causal=True, max_entries=60)
    assert {"input[0]", "in_proj.weight", "in_proj.bias", "out_proj.weight"} <= set(result.errors)
    mask = rng.random((2, 1, 1, 5)) > 0.3
    mask[..., 0] = True
    check_gradients(numpy_layer, rng.standard_normal((2, 3, 12)), rng.standard_normal((2, 5, 12)),
                    rng.standard_normal((2, 5, 12)), mask=mask, max_entries=60)


def test_multi_query_attention_shares_one_key_head_across_all_query_heads():
    _, layer = _mha_pair(1)
    x = torch.randn(1, 4, 12, dtype=torch.float64)
    _, (_, k, v) = _explicit_gqa(layer, x, causal=False)
    for head in range(1, 6):  # every query head sees the very same keys and values
        assert torch.equal(k[:, head], k[:, 0]) and torch.equal(v[:, head], v[:, 0])


@pytest.mark.parametrize("package", [nn_numpy, nn_torch])
def test_bad_kv_heads_and_rope_are_refused(package):
    with pytest.raises(ValueError, match=re.escape("'num_kv_heads' must divide the number of query heads 6")):
        package.MultiHeadAttention(12, 6, num_kv_heads=4)
    with pytest.raises(ValueError, match="'num_kv_heads' must be a positive int, got 0"):
        package.MultiHeadAttention(12, 6, num_kv_heads=0)
    with pytest.raises(ValueError, match="'head_dim' must be even"):
        package.MultiHeadAttention(12, 4, rope_base=10000.0)  # d_head = 3
    with pytest.raises(ValueError, match="'base' must be a number > 1"):
        package.MultiHeadAttention(12, 6, rope_base=1.0)


# -- RoPE -------------------------------------------------------------------------------------------------------


def test_rotation_angle_of_position_m_and_pair_i():
    cos, sin = rotary_cos_sin(np.array([0, 3]), head_dim=8, base=10000.0)
    theta = 10000.0 ** (-np.arange(0, 8, 2) / 8)  # 1, 0.1, 0.01, 0.001
    np.testing.assert_allclose(np.arctan2(sin[1, :4], cos[1, :4]), 3 * theta, rtol=1e-14)
    np.testing.assert_array_equal(cos[:, :4], cos[:, 4:])  # rotate-half: pair (i, i + d/2) shares its angle
    np.testing.assert_array_equal(cos[0], 1.0)
    x = np.zeros(8)
    x[0] = 1.0  # feature 0 pairs with feature 4: (1, 0) turns to (cos 3, sin 3)
    y = rotary_embedding(x[None, None, :].repeat(4, axis=1), base=10000.0)[0, 3]
    np.testing.assert_allclose([y[0], y[4]], [math.cos(3.0), math.sin(3.0)], atol=1e-15)


@settings(max_examples=40, deadline=None)
@given(m=st.integers(0, 500), n=st.integers(0, 500), shift=st.integers(-200, 200),
       seed=st.integers(0, 2**16), half=st.sampled_from([1, 2, 8, 32]))
def test_score_after_rotation_depends_only_on_m_minus_n(m, n, shift, seed, half):
    head_dim = 2 * half
    q, k = np.random.default_rng(seed).standard_normal((2, 1, head_dim))
    shift = max(shift, -min(m, n))  # keep positions >= 0

    def score(pos_q: int, pos_k: int) -> float:
        return float(rotary_embedding(q, np.array([pos_q]))[0] @ rotary_embedding(k, np.array([pos_k]))[0])

    assert score(m, n) == pytest.approx(score(m + shift, n + shift), rel=1e-9, abs=1e-9 * head_dim)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), start=st.integers(0, 10_000))
def test_rotation_preserves_norms_and_inverse_undoes_it(seed, start):
    x = np.random.default_rng(seed).standard_normal((2, 3, 5, 16))
    positions = np.arange(start, start + 5)
    y = rotary_embedding(x, positions)
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-12)
    np.testing.assert_allclose(rotary_embedding(y, positions, inverse=True), x, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numpy_rope_equals_torch_forward_and_backward(dtype):
    x = np.random.default_rng(4).standard_normal((2, 3, 7, 8)).astype(dtype)
    numpy_layer, torch_layer = NumpyRotary(8, base=500.0), TorchRotary(8, base=500.0)
    assert numpy_layer.state_dict() == {} and dict(torch_layer.state_dict()) == {}
    y_n = numpy_layer(x, start=11)
    xt = torch.tensor(x, requires_grad=True)
    y_t = torch_layer(xt, start=11)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(y_n, y_t.detach().numpy(), rtol=tol, atol=tol)
    assert y_n.dtype == dtype
    grad = np.random.default_rng(5).standard_normal(x.shape).astype(dtype)
    y_t.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(numpy_layer.backward(grad), xt.grad.numpy(), rtol=tol, atol=tol)


def test_numpy_rope_backward_passes_the_finite_difference_check():
    result = check_gradients(NumpyRotary(6, base=50.0), np.random.default_rng(6).standard_normal((2, 4, 6)), start=3)
    assert set(result.errors) == {"input[0]"}


@pytest.mark.parametrize("package", [nn_numpy.positional, nn_torch.positional])
def test_bad_rope_input_is_refused(package):
    with pytest.raises(ValueError, match="'head_dim' must be even"):
        package.RotaryEmbedding(7)
    x = np.zeros((2, 5, 6)) if package is nn_numpy.positional else torch.zeros(2, 5, 6)
    with pytest.raises(ValueError, match=re.escape("'x' expected shape (..., L, 8)")):
        package.RotaryEmbedding(8)(x)
    with pytest.raises(ValueError, match="'positions' expected 5 entries"):
        positions = np.arange(3) if package is nn_numpy.positional else torch.arange(3)
        package.rotary_embedding(x, positions)


# -- the GPT with n_kv_head and position ----------------------------------------------------------------------------

GQA_ROPE = np_gpt.GPTConfig(vocab_size=13, block_size=16, n_layer=2, n_head=4, d_model=16, n_kv_head=2,
                            position="rope")
CONFIGS = [GQA_ROPE,
           np_gpt.GPTConfig(vocab_size=13, block_size=16, n_layer=2, n_head=4, d_model=16, n_kv_head=1),
           np_gpt.GPTConfig(vocab_size=13, block_size=16, n_layer=2, n_head=4, d_model=16, position="rope",
                            rope_base=100.0)]


def _gpt_pair(config: np_gpt.GPTConfig):
    torch.manual_seed(0)
    torch_model = t_gpt.GPT(config, dtype=torch.float64)
    numpy_model = np_gpt.GPT(config, dtype=np.float64, rng=np.random.default_rng(0))
    numpy_model.load_state_dict(torch_model.state_dict())
    return numpy_model, torch_model


def _ids(shape, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, 13, shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("config", CONFIGS)
def test_gpt_numpy_equals_torch_forward_and_backward(config):
    numpy_model, torch_model = _gpt_pair(config)
    keys = list(torch_model.state_dict())
    assert keys == list(numpy_model.state_dict())
    assert ("pos_emb.weight" in keys) == (config.position == "learned")
    assert torch_model.state_dict()["blocks.0.self_attn.in_proj.weight"].shape == (16 + 2 * 4 * config.kv_heads, 16)
    assert torch_model.num_parameters() == numpy_model.num_parameters() == ModelShape.from_gpt_config(
        config).num_parameters()
    idx = _ids((3, 11))
    logits_t = torch_model(idx)
    logits_n = numpy_model(idx.numpy())
    np.testing.assert_allclose(logits_n, logits_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    grad = np.random.default_rng(2).standard_normal(logits_n.shape)
    logits_t.backward(torch.from_numpy(grad))
    numpy_model.zero_grad()
    numpy_model.backward(grad)
    grads_n = dict(numpy_model.named_parameters())
    for name, p in torch_model.named_parameters():
        np.testing.assert_allclose(grads_n[name].grad, p.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


def test_gpt_with_gqa_and_rope_passes_the_gradient_check():
    config = np_gpt.GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=4, d_model=8, n_kv_head=2,
                              position="rope")
    model = np_gpt.GPT(config, dtype=np.float64, rng=np.random.default_rng(3))
    ids = np.random.default_rng(4).integers(0, 7, (2, 5))
    loss = nn_numpy.CrossEntropyLoss()
    targets = np.random.default_rng(5).integers(0, 7, (2 * 5,))

    class Loss:  # the GPT and its loss as one scalar-valued module for check_gradients
        def __init__(self):
            self.model = model

        def named_parameters(self):
            return model.named_parameters()

        def zero_grad(self):
            model.zero_grad()

        def __call__(self, idx):
            return loss(model(idx).reshape(-1, 7), targets)

        def backward(self, g=1.0):
            model.backward(loss.backward().reshape(2, 5, 7) * g)

    result = check_gradients(Loss(), ids, max_entries=40)
    assert "blocks.0.self_attn.in_proj.weight" in result.errors and "pos_emb.weight" not in result.errors


@pytest.mark.parametrize("config", CONFIGS)
def test_cached_logits_equal_uncached_with_gqa_and_rope(config):
    _, model = _gpt_pair(config)
    model.eval()
    idx = _ids((2, 16), seed=3)
    with torch.no_grad():
        full = model(idx)
        cache = model.new_cache(2)
        pieces = [model(idx[:, :5], cache), model(idx[:, 5:6], cache), model(idx[:, 6:13], cache),
                  model(idx[:, 13:], cache)]
    assert cache.length == 16
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=1e-10, atol=1e-12)
    assert cache.keys[0].shape == (2, config.kv_heads, 16, 4)
    if config.position == "rope":  # the cache holds keys rotated at their absolute positions
        _, k, _ = model.blocks[0].self_attn._qkv(model.blocks[0].norm1(model.tok_emb(idx)), "qkv")
        torch.testing.assert_close(cache.keys[0], torch_rotary_embedding(k, base=config.rope_base))
    with pytest.raises(ValueError, match="the KV cache's capacity" if config.position == "rope" else "block_size"):
        model(idx[:, :1], cache)


@pytest.mark.parametrize("n_kv_head", [None, 4, 2, 1])
def test_kv_cache_bytes_shrink_by_n_head_over_n_kv_head_and_match_the_estimator(n_kv_head):
    config = np_gpt.GPTConfig(vocab_size=13, block_size=32, n_layer=3, n_head=4, d_model=16, n_kv_head=n_kv_head)
    model = t_gpt.GPT(config)
    cache = model.new_cache(batch_size=5)
    full = t_gpt.GPT(np_gpt.GPTConfig(vocab_size=13, block_size=32, n_layer=3, n_head=4, d_model=16)).new_cache(5)
    assert full.nbytes == cache.nbytes * 4 // config.kv_heads
    shape = ModelShape.from_gpt_config(config)
    assert cache.nbytes == shape.kv_cache_bytes(batch=5, bytes_per_value=4)  # float32 cache


def test_rope_gpt_runs_beyond_block_size_and_learned_positions_refuse():
    numpy_model, torch_model = _gpt_pair(GQA_ROPE)
    idx = _ids((1, 40))
    np.testing.assert_allclose(numpy_model(idx.numpy()), torch_model(idx).detach().numpy(), rtol=1e-10, atol=1e-12)
    learned = t_gpt.GPT(np_gpt.GPTConfig(vocab_size=13, block_size=16, n_layer=1, n_head=2, d_model=8))
    with pytest.raises(ValueError, match="more than block_size=16"):
        learned(idx)
    generated = torch_model.generate(idx[:, :3], 20, temperature=0)  # past block_size: falls back to cropping
    assert generated.shape == (1, 23)


@pytest.mark.parametrize("package", [np_gpt, t_gpt])
def test_bad_gpt_config_is_refused(package):
    with pytest.raises(ValueError, match=re.escape("'config.n_kv_head' must divide the number of query heads 4")):
        package.GPT(np_gpt.GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=4, d_model=8, n_kv_head=3))
    unknown = re.escape("'config.position' must be one of ['learned', 'rope'], got 'alibi'")
    with pytest.raises(ValueError, match=unknown):
        package.GPT(np_gpt.GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=4, d_model=8, position="alibi"))
    with pytest.raises(ValueError, match="position='rope' needs an even d_head"):
        package.GPT(np_gpt.GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=8, d_model=8, position="rope"))


def test_old_checkpoint_configs_without_the_new_fields_still_match():
    model = t_gpt.GPT(np_gpt.GPTConfig(vocab_size=13, block_size=8, n_layer=1, n_head=2, d_model=8))
    stored = model.config.to_dict()
    for field in ("n_kv_head", "position", "rope_base"):
        del stored[field]  # what a checkpoint saved before these fields existed holds
    assert config_matches(stored, model)
    assert not config_matches({**stored, "position": "rope"}, model)
