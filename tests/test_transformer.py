"""Transformer encoder/decoder layers: equal to torch.nn.Transformer*Layer, gradients checked, fast path kept."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from bigmodel_lib.gradcheck import check_gradients
from bigmodel_lib.nn_numpy import transformer as np_tf
from bigmodel_lib.nn_torch import transformer as t_tf

TOL = {"rtol": 1e-10, "atol": 1e-12}
D, H, FF = 12, 3, 20
B, T, S = 3, 5, 6

ENC_KEYS = {
    "self_attn.in_proj.weight": (3 * D, D), "self_attn.in_proj.bias": (3 * D,),
    "self_attn.out_proj.weight": (D, D), "self_attn.out_proj.bias": (D,),
    "ffn.linear1.weight": (FF, D), "ffn.linear1.bias": (FF,), "ffn.linear2.weight": (D, FF), "ffn.linear2.bias": (D,),
    "norm1.weight": (D,), "norm1.bias": (D,), "norm2.weight": (D,), "norm2.bias": (D,),
}
DEC_KEYS = {
    **ENC_KEYS,
    **{k.replace("self_attn", "cross_attn"): v for k, v in ENC_KEYS.items() if k.startswith("self_attn")},
    "norm3.weight": (D,), "norm3.bias": (D,),
}


def _our_name(torch_name: str) -> str:
    """torch.nn.Transformer*Layer parameter name -> ours."""
    name = torch_name.replace("multihead_attn.", "cross_attn.")
    name = name.replace("in_proj_weight", "in_proj.weight").replace("in_proj_bias", "in_proj.bias")
    return re.sub(r"^(linear[12])\.", r"ffn.\1.", name)


def _randomize(module: torch.nn.Module, seed: int) -> None:
    """Non-trivial biases and LayerNorm gains (torch starts them at 0 and 1)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim == 1:
                p.copy_((1.0 if "norm" in name and name.endswith("weight") else 0.0)
                        + 0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))


def _reference(kind: str, norm_first: bool, activation: str):
    torch.manual_seed(0)
    cls = torch.nn.TransformerEncoderLayer if kind == "encoder" else torch.nn.TransformerDecoderLayer
    ref = cls(D, H, dim_feedforward=FF, dropout=0.0, activation=activation, batch_first=True,
              norm_first=norm_first, dtype=torch.float64)
    _randomize(ref, 1)
    return ref.eval()


def _data(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, D, generator=gen, dtype=torch.float64)
    mem = torch.randn(B, S, D, generator=gen, dtype=torch.float64)
    g = torch.randn(B, T, D, generator=gen, dtype=torch.float64)
    tgt_pad = torch.zeros(B, T, dtype=torch.bool)  # torch: True = ignore; key 0 kept, so causal rows never empty
    tgt_pad[0, 3:] = True
    tgt_pad[2, 2] = True
    mem_pad = torch.zeros(B, S, dtype=torch.bool)
    mem_pad[1, 4:] = True
    mem_pad[2, 0] = True
    return x, mem, g, tgt_pad, mem_pad


def _torch_pass(module, inputs, g, **kwargs):
    """Output, input gradients and parameter gradients (under our names) of a torch module."""
    module.zero_grad()
    leaves = [t.detach().clone().requires_grad_() for t in inputs]
    out = module(*leaves, **kwargs)
    out.backward(g)
    grads = {_our_name(n): p.grad.detach().numpy() for n, p in module.named_parameters()}
    return out.detach().numpy(), [t.grad.numpy() for t in leaves], grads


def _numpy_pass(layer, inputs, g, **kwargs):
    layer.zero_grad()
    out = layer(*(t.numpy() for t in inputs), **kwargs)
    d = layer.backward(g.numpy())
    return out, list(d) if isinstance(d, tuple) else [d], {n: p.grad.copy() for n, p in layer.named_parameters()}


def _assert_same(mine, theirs, tol=TOL):
    out_a, d_a, g_a = mine
    out_b, d_b, g_b = theirs
    np.testing.assert_allclose(out_a, out_b, **tol, err_msg="outputs differ")
    assert len(d_a) == len(d_b)
    for i, (a, b) in enumerate(zip(d_a, d_b)):
        np.testing.assert_allclose(a, b, **tol, err_msg=f"gradient of input {i} differs")
    assert set(g_a) == set(g_b), f"{sorted(g_a)} vs {sorted(g_b)}"
    for name in g_a:
        np.testing.assert_allclose(g_a[name], g_b[name], **tol, err_msg=f"gradient of '{name}' differs")


def _to_numpy_kwargs(kwargs):
    return {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in kwargs.items()}


# -- equal to PyTorch's own layers, forward and backward ----------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("masks", ["none", "padding", "causal+padding"])
def test_encoder_equals_torch(norm_first, activation, masks):
    ref = _reference("encoder", norm_first, activation)
    x, _, g, pad, _ = _data()
    ref_kwargs, kwargs = {}, {}
    if "padding" in masks:
        ref_kwargs["src_key_padding_mask"] = pad
        kwargs["mask"] = ~pad[:, None, None, :]  # ours: True = attend, (B, 1, 1, L)
    if "causal" in masks:
        ref_kwargs.update(src_mask=torch.ones(T, T, dtype=torch.bool).triu(1), is_causal=True)
        kwargs["causal"] = True
    expected = _torch_pass(ref, [x], g, **ref_kwargs)
    _assert_same(_torch_pass(t_tf.TransformerEncoderLayer.from_pytorch(ref), [x], g, **kwargs), expected)
    _assert_same(_numpy_pass(np_tf.TransformerEncoderLayer.from_pytorch(ref), [x], g,
                             **_to_numpy_kwargs(kwargs)), expected)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("masks", ["causal", "causal+padding", "none"])
def test_decoder_equals_torch(norm_first, activation, masks):
    ref = _reference("decoder", norm_first, activation)
    x, mem, g, tgt_pad, mem_pad = _data(1)
    ref_kwargs, kwargs = {}, {"causal": "causal" in masks}
    if masks == "causal":  # torch's float mask (-inf above the diagonal) ...
        ref_kwargs.update(tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64),
                          tgt_is_causal=True)
    elif "causal" in masks:  # ... or a bool one (True = not allowed), the type of the padding masks
        ref_kwargs.update(tgt_mask=torch.ones(T, T, dtype=torch.bool).triu(1), tgt_is_causal=True)
    if "padding" in masks:
        ref_kwargs.update(tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=mem_pad)
        kwargs.update(tgt_mask=~tgt_pad[:, None, None, :], memory_mask=~mem_pad[:, None, None, :])
    expected = _torch_pass(ref, [x, mem], g, **ref_kwargs)
    _assert_same(_torch_pass(t_tf.TransformerDecoderLayer.from_pytorch(ref), [x, mem], g, **kwargs), expected)
    _assert_same(_numpy_pass(np_tf.TransformerDecoderLayer.from_pytorch(ref), [x, mem], g,
                             **_to_numpy_kwargs(kwargs)), expected)


def test_decoder_memory_mask_2d_equals_torch():
    ref = _reference("decoder", False, "relu")
    x, mem, g, _, _ = _data(2)
    blocked = torch.zeros(T, S, dtype=torch.bool)  # torch: True = not allowed
    blocked[1, :3] = True
    blocked[4, 2:] = True
    expected = _torch_pass(ref, [x, mem], g, memory_mask=blocked)
    ours = np_tf.TransformerDecoderLayer.from_pytorch(ref)
    _assert_same(_numpy_pass(ours, [x, mem], g, memory_mask=~blocked.numpy(), causal=False), expected)


def test_from_pytorch_without_bias_and_custom_eps():
    ref = torch.nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, batch_first=True, bias=False,
                                           layer_norm_eps=1e-3, dtype=torch.float64).eval()
    x, _, g, _, _ = _data(3)
    expected = _torch_pass(ref, [x], g)
    ours = np_tf.TransformerEncoderLayer.from_pytorch(ref)
    assert ours.norm1.eps == 1e-3 and ours.norm1.bias is None and "ffn.linear1.bias" not in ours.state_dict()
    _assert_same(_numpy_pass(ours, [x], g), expected)
    _assert_same(_torch_pass(t_tf.TransformerEncoderLayer.from_pytorch(ref), [x], g), expected)


def test_from_pytorch_copies_dropout_and_mode_and_refuses_other_activations():
    ref = torch.nn.TransformerDecoderLayer(D, H, FF, dropout=0.2, batch_first=True)
    ours = t_tf.TransformerDecoderLayer.from_pytorch(ref)
    assert ours.training and ours.self_attn.dropout == 0.2 and ours.ffn.dropout.p == 0.2 and ours.dropout3.p == 0.2
    assert np_tf.TransformerDecoderLayer.from_pytorch(ref.eval()).training is False
    silu = torch.nn.TransformerEncoderLayer(D, H, FF, activation=torch.nn.functional.silu, batch_first=True)
    for package in (np_tf, t_tf):
        with pytest.raises(ValueError, match="'activation' expected relu or gelu"):
            package.TransformerEncoderLayer.from_pytorch(silu)


# -- state dicts ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ffn", "encoder", "decoder"])
def test_state_dicts_have_the_same_keys_and_load_both_ways(kind):
    if kind == "ffn":
        ours_np, ours_t = np_tf.PositionwiseFeedForward(D, FF), t_tf.PositionwiseFeedForward(D, FF)
        expected = {k[4:]: v for k, v in ENC_KEYS.items() if k.startswith("ffn.")}
    else:
        name = "TransformerEncoderLayer" if kind == "encoder" else "TransformerDecoderLayer"
        ours_np = getattr(np_tf, name)(D, H, FF, rng=np.random.default_rng(0))
        ours_t = getattr(t_tf, name)(D, H, FF)
        expected = ENC_KEYS if kind == "encoder" else DEC_KEYS
    shapes = {k: tuple(v.shape) for k, v in ours_np.state_dict().items()}
    assert shapes == expected
    assert shapes == {k: tuple(v.shape) for k, v in ours_t.state_dict().items()}
    assert [n for n, _ in ours_np.named_parameters()] == [n for n, _ in ours_t.named_parameters()]
    ours_t.load_state_dict(ours_np.state_dict())
    ours_np.load_state_dict(ours_t.state_dict())
    rng = np.random.default_rng(1)
    x, mem = rng.standard_normal((2, 4, D)).astype(np.float32), rng.standard_normal((2, 3, D)).astype(np.float32)
    args = (x,) if kind != "decoder" else (x, mem)
    expected_out = ours_t.eval()(*(torch.from_numpy(a) for a in args)).detach().numpy()
    np.testing.assert_allclose(ours_np.eval()(*args), expected_out, rtol=1e-5, atol=1e-5)


# -- NumPy gradients: finite differences ----------------------------------------------------------------------


def _numpy_layer(kind: str, norm_first: bool, activation: str = "relu", d: int = 6, h: int = 2, ff: int = 8):
    cls = np_tf.TransformerEncoderLayer if kind == "encoder" else np_tf.TransformerDecoderLayer
    layer = cls(d, h, ff, activation=activation, norm_first=norm_first, dtype=np.float64,
                rng=np.random.default_rng(1))
    rng = np.random.default_rng(2)
    for name, p in layer.named_parameters():  # non-trivial biases and gains, so every gradient counts
        if p.data.ndim == 1:
            gain = name.startswith("norm") and name.endswith("weight")
            p.data[...] = (1.0 if gain else 0.0) + 0.5 * rng.standard_normal(p.data.shape)
    return layer


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("need_weights", [False, True])
def test_encoder_gradients_every_parameter(norm_first, need_weights):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 6))
    mask = np.ones((2, 1, 1, 4), dtype=bool)  # key padding, True = attend
    mask[0, ..., 3] = False
    mask[1, ..., 1] = False
    layer = _numpy_layer("encoder", norm_first, "gelu" if need_weights else "relu")
    result = check_gradients(layer, x, mask=mask, causal=True, need_weights=need_weights, max_entries=30)
    assert set(result.errors) == {"input[0]"} | set(layer.state_dict())


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("need_weights", [False, True])
def test_decoder_gradients_every_parameter(norm_first, need_weights):
    rng = np.random.default_rng(4)
    x, mem = rng.standard_normal((2, 4, 6)), rng.standard_normal((2, 5, 6))
    tgt_mask = np.ones((2, 1, 1, 4), dtype=bool)
    tgt_mask[1, ..., 2:] = False
    memory_mask = np.ones((2, 1, 1, 5), dtype=bool)
    memory_mask[0, ..., 3:] = False
    layer = _numpy_layer("decoder", norm_first, "relu" if need_weights else "gelu")
    result = check_gradients(layer, x, mem, tgt_mask=tgt_mask, memory_mask=memory_mask, need_weights=need_weights,
                             max_entries=25)
    assert set(result.errors) == {"input[0]", "input[1]"} | set(layer.state_dict())


def test_feed_forward_gradients():
    layer = np_tf.PositionwiseFeedForward(6, 10, activation="gelu", dtype=np.float64, rng=np.random.default_rng(5))
    check_gradients(layer, np.random.default_rng(6).standard_normal((2, 3, 6)))


@pytest.mark.parametrize("kind", ["encoder", "decoder"])
def test_numpy_gradients_with_weights_equal_torch_autograd(kind):
    """The attention-weight outputs get gradients too: compare against our nn_torch layer's autograd."""
    rng = np.random.default_rng(7)
    ours = _numpy_layer(kind, norm_first=kind == "decoder")
    cls = t_tf.TransformerEncoderLayer if kind == "encoder" else t_tf.TransformerDecoderLayer
    theirs = cls(6, 2, 8, norm_first=kind == "decoder", dtype=torch.float64)
    theirs.load_state_dict(ours.state_dict())
    args = [rng.standard_normal((2, 4, 6))] + ([rng.standard_normal((2, 5, 6))] if kind == "decoder" else [])
    outs = ours(*args, need_weights=True)
    grads_out = tuple(rng.standard_normal(o.shape) for o in outs)
    d = ours.backward(grads_out)
    d = d if isinstance(d, tuple) else (d,)

    leaves = [torch.tensor(a, requires_grad=True) for a in args]
    t_outs = theirs(*leaves, need_weights=True)
    torch.autograd.backward(t_outs, tuple(torch.from_numpy(g) for g in grads_out))
    for o, t in zip(outs, t_outs):
        np.testing.assert_allclose(o, t.detach().numpy(), **TOL)
    for mine, leaf in zip(d, leaves):
        np.testing.assert_allclose(mine, leaf.grad.numpy(), **TOL)
    numpy_params = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(numpy_params[name].grad, p.grad.numpy(), **TOL, err_msg=name)


# -- the PyTorch fast path and dropout ------------------------------------------------------------------------------


def test_torch_layers_keep_the_fused_attention_path(fused_sdpa_calls):
    calls = fused_sdpa_calls
    x, mem, _, tgt_pad, mem_pad = (t.float() if t.is_floating_point() else t for t in _data())
    enc, dec = t_tf.TransformerEncoderLayer(D, H, FF), t_tf.TransformerDecoderLayer(D, H, FF, norm_first=True)
    enc(x, ~tgt_pad[:, None, None, :])
    assert len(calls) == 1
    dec(x, mem, memory_mask=~mem_pad[:, None, None, :])
    assert len(calls) == 3
    _, w = enc(x, need_weights=True)
    _, w_self, w_cross = dec(x, mem, need_weights=True)
    assert len(calls) == 3  # weights requested: the explicit formula
    assert w.shape == (B, H, T, T) and w_self.shape == (B, H, T, T) and w_cross.shape == (B, H, T, S)
    assert torch.all(w_self.triu(1) == 0)  # the decoder's self-attention is causal by default


def test_dropout_only_in_training():
    torch.manual_seed(0)
    x = torch.randn(2, 6, D)
    layer = t_tf.TransformerEncoderLayer(D, H, FF, dropout=0.3)
    assert not torch.equal(layer(x), layer(x))
    layer.eval()
    torch.testing.assert_close(layer(x), layer(x), rtol=0, atol=0)
    ours = np_tf.TransformerDecoderLayer(D, H, FF, dropout=0.3, rng=np.random.default_rng(0))
    xn, mn = x.numpy(), np.random.default_rng(1).standard_normal((2, 3, D)).astype(np.float32)
    assert not np.array_equal(ours(xn, mn), ours(xn, mn))
    ours.eval()
    np.testing.assert_array_equal(ours(xn, mn), ours(xn, mn))


# -- bad input ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("package", ["numpy", "torch"])
def test_bad_input_is_refused(package):
    tf = np_tf if package == "numpy" else t_tf

    def arr(*shape, dtype=None):
        a = np.zeros(shape, dtype=np.float32)
        a = a > 0 if dtype == "bool" else a
        return a if package == "numpy" else torch.from_numpy(a)

    for cls in ("TransformerEncoderLayer", "TransformerDecoderLayer"):
        message = f"{cls}: 'd_model' expected a multiple of num_heads=3 (each head gets d_model / num_heads features)"
        with pytest.raises(ValueError, match=re.escape(f"{message}, got d_model=10")):
            getattr(tf, cls)(10, 3, 16)
        with pytest.raises(ValueError, match=re.escape(f"{cls}: 'd_ff' must be a positive int, got 0")):
            getattr(tf, cls)(D, H, 0)
        with pytest.raises(ValueError, match=re.escape(f"{cls}: 'activation' must be one of ['relu', 'gelu'], "
                                                       "got 'tanh'")):
            getattr(tf, cls)(D, H, FF, activation="tanh")

    enc = tf.TransformerEncoderLayer(D, H, FF, norm_first=True)
    cases = [
        ((arr(2, 5, 8),), {}, "'x' expected shape (..., 12), got (2, 5, 8)"),
        ((arr(5, D),), {}, "'x' expected shape (B, L, 12) (3 dims), got (5, 12)"),
        ((arr(2, 5, D), arr(2, 1, 1, 4, dtype="bool")), {},
         "'mask' expected 2 dims (Lq, Lk) or 4 dims broadcastable to (B, heads, Lq, Lk) = (2, 3, 5, 5) "
         "(key padding: (B, 1, 1, Lk)), got (2, 1, 1, 4)"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(ValueError, match=re.escape(f"TransformerEncoderLayer: {message}")):
            enc(*args, **kwargs)
    with pytest.raises(TypeError, match=re.escape("TransformerEncoderLayer: 'mask' must have dtype bool")):
        enc(arr(2, 5, D), arr(2, 1, 1, 5))

    dec = tf.TransformerDecoderLayer(D, H, FF)
    cases = [
        ((arr(2, 5, D), arr(3, 7, D)), {}, "'memory' expected shape (2, L, 12) (the batch size of 'x'), "
                                           "got (3, 7, 12)"),
        ((arr(2, 5, D), arr(2, 7, 8)), {}, "'memory' expected shape (..., 12), got (2, 7, 8)"),
        ((arr(2, 5, 4), arr(2, 7, D)), {}, "'x' expected shape (..., 12), got (2, 5, 4)"),
        ((arr(2, 5, D), arr(2, 7, D)), {"memory_mask": arr(2, 1, 1, 5, dtype="bool")},
         "'memory_mask' expected 2 dims (Lq, Lk) or 4 dims broadcastable to (B, heads, Lq, Lk) = (2, 3, 5, 7) "
         "(key padding: (B, 1, 1, Lk)), got (2, 1, 1, 5)"),
        ((arr(2, 5, D), arr(2, 7, D)), {"tgt_mask": arr(5, 7, dtype="bool")},
         "'tgt_mask' expected 2 dims (Lq, Lk) or 4 dims broadcastable to (B, heads, Lq, Lk) = (2, 3, 5, 5) "
         "(key padding: (B, 1, 1, Lk)), got (5, 7)"),
    ]
    for args, kwargs, message in cases:
        with pytest.raises(ValueError, match=re.escape(f"TransformerDecoderLayer: {message}")):
            dec(*args, **kwargs)
