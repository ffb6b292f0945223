"""bigmodel_lib.compression.quantization: the rounding error bound (hypothesis, derandomized), exact zero, the
integer ranges, packed sizes, bad input, and the PyTorch helpers on a small GPT."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bigmodel_lib.compression.quantization import (
    called_linear_names,
    capture_outputs,
    dequantize,
    dynamic_quantize_linears,
    fake_quantize,
    fake_quantize_model,
    integer_range,
    quantizable_weight_names,
    quantize,
    quantized_model_nbytes,
    state_dict_nbytes,
)
from bigmodel_lib.nn_torch.gpt import GPT, GPTConfig

PROPERTY = settings(derandomize=True, max_examples=60, deadline=None)

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)
matrices = hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12), elements=finite)
OPTIONS = [
    {"granularity": "tensor"},
    {"granularity": "channel", "axis": 0},
    {"granularity": "channel", "axis": 1},
    {"granularity": "group", "group_size": 1},
]


@PROPERTY
@given(w=matrices, bits=st.sampled_from([2, 3, 4, 8]), scheme=st.sampled_from(["symmetric", "asymmetric"]),
       option=st.sampled_from(OPTIONS))
def test_rounding_error_is_at_most_half_a_step_everywhere(w, bits, scheme, option):
    qt = quantize(w, bits, scheme=scheme, **option)
    qmin, qmax = integer_range(bits, scheme)
    assert qt.q.dtype == np.int8 and qt.q.shape == w.shape
    assert qt.q.min() >= qmin and qt.q.max() <= qmax
    error = np.abs(w - dequantize(qt))
    assert np.all(error <= qt.scale_per_element() / 2 * (1 + 1e-9) + 1e-12)


@PROPERTY
@given(w=matrices, bits=st.sampled_from([3, 4, 8]), option=st.sampled_from(OPTIONS))
def test_zero_is_exact_and_asymmetric_zero_point_in_range(w, bits, option):
    w = w.copy()
    w.flat[0] = 0.0
    for scheme in ("symmetric", "asymmetric"):
        qt = quantize(w, bits, scheme=scheme, **option)
        assert dequantize(qt).flat[0] == 0.0
        qmin, qmax = integer_range(bits, scheme)
        assert np.all((qt.zero_point >= qmin) & (qt.zero_point <= qmax))


def test_scale_per_element_by_hand():
    w = np.arange(24, dtype=np.float64).reshape(2, 3, 4) - 11.5
    channel = quantize(w, 8, granularity="channel", axis=1)
    for j in range(3):
        np.testing.assert_array_equal(channel.scale_per_element()[:, j, :], channel.scale[j])
    group = quantize(w, 8, granularity="group", group_size=2)
    np.testing.assert_array_equal(group.scale_per_element().reshape(-1), np.repeat(group.scale, 2))
    np.testing.assert_array_equal(quantize(w, 8).scale_per_element(), quantize(w, 8).scale[0])


def test_group_error_bound_with_several_groups_and_3d():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 4, 64)).astype(np.float32)
    w[1, 2, 5] = 40.0                                        # an outlier: it only widens its own group's step
    qt = quantize(w, 4, granularity="group", group_size=16)
    assert qt.scale.shape == (3 * 4 * 4,)
    assert np.all(np.abs(w - dequantize(qt)) <= qt.scale_per_element() / 2 * (1 + 1e-6))
    assert dequantize(qt).dtype == np.float32
    per_tensor = np.abs(w - fake_quantize(w, 4)).mean()
    assert np.abs(w - dequantize(qt)).mean() < per_tensor / 5


def test_integer_ranges_and_known_values():
    assert integer_range(8, "symmetric") == (-127, 127)
    assert integer_range(8, "asymmetric") == (-128, 127)
    assert integer_range(4, "symmetric") == (-7, 7)
    assert integer_range(4, "asymmetric") == (-8, 7)
    w = np.array([[-1.0, 0.5, 2.0]])
    qt = quantize(w, 8)
    assert qt.scale[0] == pytest.approx(2.0 / 127) and qt.q.tolist() == [[-64, 32, 127]]
    qa = quantize(w, 8, scheme="asymmetric")
    assert qa.scale[0] == pytest.approx(3.0 / 255)
    assert int(qa.zero_point[0]) == round(-128 + 1.0 / (3.0 / 255))      # -43: the integer that stands for 0.0
    assert qa.q.min() == -128 and qa.q.max() == 127                       # the whole range is used
    positive = quantize(np.array([[1.0, 2.0, 3.0]]), 8, scheme="asymmetric")
    assert positive.zero_point[0] == -128                                 # the range is widened to hold 0


def test_symmetric_maps_minus_w_to_minus_q():
    w = np.linspace(-1, 1, 41)[None, :]
    qt = quantize(w, 4)
    np.testing.assert_array_equal(qt.q[0], -qt.q[0][::-1])


def test_all_zero_blocks_and_channels():
    w = np.zeros((2, 4))
    w[1] = [1.0, -2.0, 0.5, 0.0]
    for scheme in ("symmetric", "asymmetric"):
        qt = quantize(w, 8, scheme=scheme, granularity="channel")
        np.testing.assert_array_equal(dequantize(qt)[0], 0.0)
        assert np.all(np.isfinite(qt.scale))


def test_nbytes_packed():
    w = np.ones((64, 256), dtype=np.float32)
    assert quantize(w, 8).nbytes_packed == 64 * 256 + 4
    assert quantize(w, 4, granularity="channel").nbytes_packed == 64 * 256 // 2 + 4 * 64
    g = quantize(w, 4, granularity="group", group_size=64)
    assert g.nbytes_packed == 64 * 256 // 2 + 4 * 256
    assert g.bits_per_weight == pytest.approx(4.5)
    a = quantize(w, 4, scheme="asymmetric", granularity="group", group_size=64)
    assert a.nbytes_packed == 64 * 256 // 2 + 4 * 256 + 256 // 2                 # + a 4-bit zero point per group
    assert quantize(np.ones((1, 3)), 3).nbytes_packed == math.ceil(9 / 8) + 4


@pytest.mark.parametrize(("call", "error", "words"), [
    (lambda: quantize([1.0, 2.0]), TypeError, "'w' must be a NumPy array"),
    (lambda: quantize(np.arange(4)), TypeError, "floating-point"),
    (lambda: quantize(np.zeros((0, 3))), ValueError, "at least one"),
    (lambda: quantize(np.array([1.0, np.nan])), ValueError, "finite"),
    (lambda: quantize(np.ones(4), 1), ValueError, "'bits'"),
    (lambda: quantize(np.ones(4), 16), ValueError, "'bits'"),
    (lambda: quantize(np.ones(4), 4.0), ValueError, "'bits'"),
    (lambda: quantize(np.ones(4), scheme="affine"), ValueError, "'scheme'"),
    (lambda: quantize(np.ones(4), granularity="row"), ValueError, "'granularity'"),
    (lambda: quantize(np.ones((2, 6)), granularity="group", group_size=4), ValueError, "'group_size'"),
    (lambda: quantize(np.ones((2, 6)), granularity="channel", axis=2), ValueError, "'axis'"),
    (lambda: dequantize(np.ones(3)), TypeError, "'qt'"),
])
def test_bad_input_names_the_argument(call, error, words):
    with pytest.raises(error, match=words):
        call()


# -- the PyTorch helpers, on a tiny GPT -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_gpt():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=40, block_size=16, n_layer=2, n_head=2, d_model=32)).eval()


def test_fake_quantize_model_changes_only_the_named_weights(tiny_gpt):
    names = quantizable_weight_names(tiny_gpt)
    assert "blocks.0.self_attn.in_proj.weight" in names and "tok_emb.weight" not in names
    assert "tok_emb.weight" in quantizable_weight_names(tiny_gpt, embedding=True)
    quantized = fake_quantize_model(tiny_gpt, 4, granularity="group", group_size=16)
    before, after = tiny_gpt.state_dict(), quantized.state_dict()
    for key in before:
        if key in names:
            expected = fake_quantize(before[key].double().numpy(), 4, granularity="group", group_size=16)
            np.testing.assert_allclose(after[key].numpy(), expected, rtol=0, atol=1e-6)
            assert not torch.equal(before[key], after[key])
        else:
            assert torch.equal(before[key], after[key]), key
    ids = torch.randint(0, 40, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        eight = fake_quantize_model(tiny_gpt, 8, granularity="channel")(ids)
        gap8, gap4 = (eight - tiny_gpt(ids)).abs().max(), (quantized(ids) - tiny_gpt(ids)).abs().max()
    assert 0 < gap8 < gap4


def test_quantized_model_nbytes(tiny_gpt):
    names = quantizable_weight_names(tiny_gpt)
    sizes = quantized_model_nbytes(tiny_gpt, 8)
    weights = sum(tiny_gpt.state_dict()[name].numel() for name in names)
    assert sizes["quantized"] == weights + 4 * len(names)
    everything = sum(t.numel() * 4 for t in tiny_gpt.state_dict().values())
    assert sizes["other"] == everything - 4 * weights and sizes["total"] == sizes["quantized"] + sizes["other"]
    assert state_dict_nbytes(tiny_gpt) > everything
    with pytest.raises(ValueError, match="'names'"):
        quantized_model_nbytes(tiny_gpt, 8, names=["nope.weight"])


def test_dynamic_quantization_converts_the_called_linears(tiny_gpt):
    ids = torch.randint(0, 40, (2, 16), generator=torch.Generator().manual_seed(1))
    called = called_linear_names(tiny_gpt, ids)
    # in_proj's weight is sliced by F.linear and the output layer is F.linear with tok_emb.weight: not called
    assert set(called) == {f"blocks.{i}.{m}" for i in range(2) for m in ("self_attn.out_proj", "ffn.linear1",
                                                                       "ffn.linear2")}
    quantized, converted = dynamic_quantize_linears(tiny_gpt, ids)
    assert sorted(converted) == sorted(called)
    assert isinstance(tiny_gpt.blocks[0].ffn.linear1, torch.nn.Linear)          # the original is untouched
    with torch.no_grad():
        gap = (quantized(ids) - tiny_gpt(ids)).abs().max().item()
    assert 0 < gap < 0.1
    assert state_dict_nbytes(quantized) < state_dict_nbytes(tiny_gpt)


def test_capture_outputs(tiny_gpt):
    ids = torch.randint(0, 40, (2, 16), generator=torch.Generator().manual_seed(2))
    found = capture_outputs(tiny_gpt, ids, lambda name, module: name.endswith("norm2"))
    assert sorted(found) == ["blocks.0.norm2", "blocks.1.norm2"]
    assert all(v.shape == (2, 16, 32) and v.dtype == np.float64 for v in found.values())
    with torch.no_grad():
        h = tiny_gpt.tok_emb(ids) + tiny_gpt.pos_emb(torch.arange(16))
        h = h + tiny_gpt.blocks[0].self_attn.forward_causal(tiny_gpt.blocks[0].norm1(h))
        expected = tiny_gpt.blocks[0].norm2(h).double().numpy()
    np.testing.assert_allclose(found["blocks.0.norm2"], expected, atol=1e-6)
    assert not any(module._forward_hooks for module in tiny_gpt.modules())          # the hooks are gone
