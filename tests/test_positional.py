"""Positional encodings: the formula at hand-computed entries, the rotation property, both packages."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from bigmodel_lib import nn_numpy, nn_torch
from bigmodel_lib.gradcheck import check_gradients


def test_formula_at_hand_computed_entries():
    pe = nn_numpy.sinusoidal_positional_encoding(50, 4, dtype=np.float64)
    # d_model = 4: frequencies 1/10000^(0/4) = 1 and 1/10000^(2/4) = 1/100
    np.testing.assert_array_equal(pe[0], [0.0, 1.0, 0.0, 1.0])
    np.testing.assert_allclose(pe[1], [math.sin(1), math.cos(1), math.sin(0.01), math.cos(0.01)], rtol=1e-15)
    np.testing.assert_allclose(pe[7], [math.sin(7), math.cos(7), math.sin(0.07), math.cos(0.07)], rtol=1e-14)
    big = nn_numpy.sinusoidal_positional_encoding(100, 512, dtype=np.float64)
    np.testing.assert_allclose(big[99, 510], math.sin(99 / 10000 ** (510 / 512)), rtol=1e-14)
    np.testing.assert_allclose(big[99, 511], math.cos(99 / 10000 ** (510 / 512)), rtol=1e-14)
    np.testing.assert_allclose(big[3, 2], math.sin(3 / 10000 ** (2 / 512)), rtol=1e-14)
    assert nn_numpy.sinusoidal_positional_encoding(10, 8).dtype == np.float32


def test_odd_d_model_ends_with_a_sine_column():
    pe = nn_numpy.sinusoidal_positional_encoding(20, 5, dtype=np.float64)
    assert pe.shape == (20, 5)
    np.testing.assert_allclose(pe[:, 4], np.sin(np.arange(20) / 10000 ** (4 / 5)), rtol=1e-14)
    np.testing.assert_allclose(pe[:, 3], np.cos(np.arange(20) / 10000 ** (2 / 5)), rtol=1e-14)


@pytest.mark.parametrize("d_model", [1, 6, 7, 64])
def test_numpy_and_torch_tables_agree(d_model):
    np.testing.assert_allclose(
        nn_numpy.sinusoidal_positional_encoding(64, d_model, dtype=np.float64),
        nn_torch.sinusoidal_positional_encoding(64, d_model, dtype=torch.float64).numpy(),
        rtol=1e-13, atol=1e-13,
    )


def test_shift_by_k_is_a_fixed_rotation_per_frequency_pair():
    d_model, k = 16, 5
    pe = nn_numpy.sinusoidal_positional_encoding(200, d_model, dtype=np.float64)
    # Built from the formula: [sin(a + b), cos(a + b)] = [[cos b, sin b], [-sin b, cos b]] [sin a, cos a]
    rotation = np.zeros((d_model, d_model))
    for i in range(d_model // 2):
        b = k / 10000 ** (2 * i / d_model)
        rotation[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = [[math.cos(b), math.sin(b)], [-math.sin(b), math.cos(b)]]
    np.testing.assert_allclose(pe[k:], pe[:-k] @ rotation.T, atol=1e-12)
    # ... and the 2x2 map of each (sin, cos) pair fitted by least squares from positions 0..99 is
    # that same rotation: it depends on the offset k only, not on the position, and carries over.
    for i in range(d_model // 2):
        pair = slice(2 * i, 2 * i + 2)
        fitted, *_ = np.linalg.lstsq(pe[:100, pair], pe[k : 100 + k, pair], rcond=None)
        np.testing.assert_allclose(fitted.T, rotation[pair, pair], atol=1e-8)
        np.testing.assert_allclose(pe[150:-k, pair] @ fitted, pe[150 + k :, pair], atol=1e-10)
    np.testing.assert_allclose(np.linalg.norm(pe, axis=1), math.sqrt(d_model / 2), rtol=1e-12)


def test_sinusoidal_module_adds_the_table_and_has_no_state():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 6)).astype(np.float32)
    layer = nn_numpy.SinusoidalPositionalEncoding(6, max_len=10)
    y = layer(x)
    assert y.dtype == np.float32
    table = nn_numpy.sinusoidal_positional_encoding(7, 6)
    np.testing.assert_allclose(y - x, np.broadcast_to(table, x.shape), atol=1e-6)
    t_layer = nn_torch.SinusoidalPositionalEncoding(6, max_len=10)
    np.testing.assert_allclose(t_layer(torch.from_numpy(x)).numpy(), y, rtol=1e-6, atol=1e-6)
    assert layer.state_dict() == {} and dict(t_layer.state_dict()) == {}
    assert t_layer.double().pe.dtype == torch.float64  # the buffer follows .to()/.double()
    x64 = x.astype(np.float64)  # NumPy computes in the dtype given: the exact float64 table
    np.testing.assert_array_equal(layer(x64), x64 + nn_numpy.sinusoidal_positional_encoding(7, 6, dtype=np.float64))
    t_exact = nn_torch.SinusoidalPositionalEncoding(6, max_len=10, dtype=torch.float64)
    np.testing.assert_array_equal(t_exact(torch.from_numpy(x64)).numpy(), layer(x64))
    np.testing.assert_array_equal(t_layer.float()(torch.from_numpy(x)).numpy(), y)  # float32: the same numbers
    check_gradients(layer, rng.standard_normal((2, 7, 6)))  # backward: the identity


def test_learned_embedding_gradients_and_agreement():
    rng = np.random.default_rng(1)
    layer = nn_numpy.LearnedPositionalEmbedding(9, 4, dtype=np.float64, rng=rng)
    result = check_gradients(layer, rng.standard_normal((3, 5, 4)))
    assert set(result.errors) == {"input[0]", "weight"}
    assert abs(layer.weight.data.std() - 0.02) < 0.01
    x, g = rng.standard_normal((3, 5, 4)), rng.standard_normal((3, 5, 4))
    layer.zero_grad()
    out = layer(x)
    np.testing.assert_array_equal(layer.backward(g), g)
    np.testing.assert_allclose(layer.weight.grad[:5], g.sum(axis=0), rtol=1e-14)
    assert not layer.weight.grad[5:].any()  # positions not used get no gradient

    t_layer = nn_torch.LearnedPositionalEmbedding(9, 4, dtype=torch.float64)
    assert list(t_layer.state_dict()) == ["weight"]
    t_layer.load_state_dict(layer.state_dict())
    tx = torch.tensor(x, requires_grad=True)
    t_out = t_layer(tx)
    t_out.backward(torch.from_numpy(g))
    np.testing.assert_allclose(t_out.detach().numpy(), out, rtol=1e-14)
    np.testing.assert_allclose(t_layer.weight.grad.numpy(), layer.weight.grad, rtol=1e-14)
    emb = torch.nn.Embedding(9, 4, dtype=torch.float64)  # GPT-2 style position table
    np.testing.assert_array_equal(nn_numpy.LearnedPositionalEmbedding.from_pytorch(emb).weight.data,
                                  emb.weight.detach().numpy())
    torch.testing.assert_close(nn_torch.LearnedPositionalEmbedding.from_pytorch(emb).weight, emb.weight)


@pytest.mark.parametrize("package", ["numpy", "torch"])
def test_too_long_or_wrong_width_is_refused(package):
    nn = nn_numpy if package == "numpy" else nn_torch
    x = np.zeros((2, 12, 8), dtype=np.float32)
    x = x if package == "numpy" else torch.from_numpy(x)
    for layer in (nn.SinusoidalPositionalEncoding(8, max_len=10), nn.LearnedPositionalEmbedding(10, 8)):
        name = type(layer).__name__
        with pytest.raises(ValueError, match=re.escape(f"{name}: 'x' expected a sequence length L <= "
            f"max_len=10, got L=12 in shape (2, 12, 8)")):
            layer(x)
        with pytest.raises(ValueError, match=re.escape(f"{name}: 'x' expected shape (B, L, 8), got (2, 12, 6)")):
            layer(x[..., :6])
    with pytest.raises(ValueError, match=re.escape("sinusoidal_positional_encoding: 'd_model' "
        "must be a positive int, got 0")):
        nn.sinusoidal_positional_encoding(10, 0)
