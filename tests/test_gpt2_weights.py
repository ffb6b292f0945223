"""GPT-2's weights in the course's GPT: the key map, Conv1D transposes, sizes from shapes, and logits equal to
Hugging Face's ``GPT2LMHeadModel`` in NumPy and PyTorch, float64 and float32. Offline: models from configs only."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # transformers must never reach the network here

import numpy as np
import pytest
import torch

from bigmodel_lib.contracts.gpt import (
    GPTConfig,
    gpt2_config_from_state,
    gpt2_key_map,
    gpt2_state_from_ours,
    gpt2_state_to_ours,
)
from bigmodel_lib.nn_numpy import gpt as np_gpt
from bigmodel_lib.nn_numpy.transformer import TransformerEncoderLayer as NumpyEncoderLayer
from bigmodel_lib.nn_torch import gpt as t_gpt
from bigmodel_lib.nn_torch.transformer import TransformerEncoderLayer as TorchEncoderLayer
from tests.agreement import assert_same_pass

transformers = pytest.importorskip("transformers")

SIZES = {"n_layer": 2, "n_head": 4, "n_embd": 32, "vocab_size": 100, "n_positions": 64}


def _hf_gpt2(dtype: torch.dtype = torch.float64, seed: int = 0, **overrides) -> transformers.GPT2LMHeadModel:
    """A small random GPT-2; every parameter redrawn (LayerNorm gains and all biases too), so a swapped or
    untransposed key changes the logits."""
    config = transformers.GPT2Config(**{**SIZES, **overrides}, bos_token_id=SIZES["vocab_size"] - 1,
                                     eos_token_id=SIZES["vocab_size"] - 1)
    torch.manual_seed(seed)
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
                param.copy_(1 + 0.2 * torch.randn_like(param))
            else:
                param.copy_((0.2 if param.ndim == 2 else 0.1) * torch.randn_like(param))
    return model.to(dtype)


def _ids(shape=(3, 20), seed=1) -> torch.Tensor:
    return torch.randint(0, SIZES["vocab_size"], shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("prefix", [True, False], ids=["transformer.-prefix", "hub-names"])
def test_logits_equal_transformers_in_numpy_and_pytorch(dtype, tol, prefix):
    hf = _hf_gpt2(dtype)
    state = hf.state_dict() if prefix else hf.transformer.state_dict()
    assert ("lm_head.weight" in state) == prefix and any(k.startswith("transformer.") for k in state) == prefix
    idx = _ids()
    with torch.no_grad():
        expected = hf(idx).logits
    assert expected.abs().max() > 1.0  # logits large enough for the comparison to mean something
    torch_model = t_gpt.GPT.from_gpt2(state, n_head=SIZES["n_head"]).eval()
    numpy_model = np_gpt.GPT.from_gpt2(state, n_head=SIZES["n_head"])
    with torch.no_grad():
        logits_torch = torch_model(idx)
    logits_numpy = numpy_model(idx.numpy())
    assert logits_torch.dtype == dtype and logits_numpy.dtype == np.dtype(str(dtype).replace("torch.", ""))
    torch.testing.assert_close(logits_torch, expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(logits_numpy, expected.numpy(), rtol=tol, atol=tol)


def test_sizes_come_from_the_shapes_and_the_config_is_gpt2s():
    hf = _hf_gpt2(torch.float32, n_layer=3, n_embd=48, n_positions=40, vocab_size=70)
    config = gpt2_config_from_state(hf.state_dict(), n_head=6)
    assert config == GPTConfig(vocab_size=70, block_size=40, n_layer=3, n_head=6, d_model=48, dropout=0.0,
                               bias=True, gelu_approximate="tanh", layer_norm_eps=1e-5)
    model = t_gpt.GPT.from_gpt2(hf.state_dict(), n_head=6)
    assert model.config == config and model.tok_emb.weight.dtype == torch.float32
    # the tied head is counted once: GPT-2's parameter count (without lm_head) equals ours
    assert model.num_parameters() == sum(p.numel() for p in hf.transformer.parameters())
    assert np_gpt.GPT.from_gpt2(hf.state_dict(), n_head=6, dtype=np.float64).tok_emb.weight.data.dtype == np.float64


def test_the_key_map_transposes_exactly_the_four_conv1d_weights_and_round_trips():
    hf = _hf_gpt2(torch.float32)
    state = hf.state_dict()
    config = gpt2_config_from_state(state, n_head=4)
    keys = gpt2_key_map(config)
    assert len(keys) == len(state) - 1  # every GPT-2 parameter but the tied lm_head
    transposed = {k.gpt2.split(".", 2)[-1] for k in keys if k.transposed}
    assert transposed == {"attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"}
    for key in keys:
        assert tuple(state["transformer." + key.gpt2].shape) == key.gpt2_shape
    ours = gpt2_state_to_ours(state, config)
    model = t_gpt.GPT(config)
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert {k.ours: k.our_shape for k in keys} == {k: tuple(v.shape) for k, v in model.state_dict().items()}
    back = gpt2_state_from_ours(ours, config, prefix="transformer.", lm_head=True)
    assert list(back) == list(state)  # same keys, same order
    for name, value in state.items():
        assert torch.equal(back[name], value), name
    # and the other way: a course model's weights load into Hugging Face's GPT-2 and give the same logits
    torch.manual_seed(3)
    ours_model = t_gpt.GPT(config, dtype=torch.float64).eval()
    hf64 = _hf_gpt2(torch.float64, seed=5)
    hf64.load_state_dict(gpt2_state_from_ours(ours_model.state_dict(), config, prefix="transformer.", lm_head=True))
    idx = _ids()
    with torch.no_grad():
        torch.testing.assert_close(hf64(idx).logits, ours_model(idx), rtol=1e-10, atol=1e-10)


def test_mask_buffers_of_older_checkpoints_are_skipped_and_numpy_arrays_load():
    hf = _hf_gpt2(torch.float64)
    state = {k: v.numpy() for k, v in hf.transformer.state_dict().items()}  # e.g. safetensors.numpy.load_file
    n_ctx = SIZES["n_positions"]
    for layer in range(SIZES["n_layer"]):  # what pytorch_model.bin and the hub's model.safetensors carry
        state[f"h.{layer}.attn.bias"] = np.tril(np.ones((n_ctx, n_ctx), dtype=np.uint8))[None, None]
        state[f"h.{layer}.attn.masked_bias"] = np.array(-1e4)
    idx = _ids()
    with torch.no_grad():
        expected = hf(idx).logits.numpy()
    np.testing.assert_allclose(np_gpt.GPT.from_gpt2(state, n_head=4)(idx.numpy()), expected, rtol=1e-10, atol=1e-10)
    with torch.no_grad():
        logits = t_gpt.GPT.from_gpt2(state, n_head=4).eval()(idx).numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-10, atol=1e-10)


def test_greedy_generation_agrees_with_transformers_and_between_packages():
    hf = _hf_gpt2(torch.float64)
    prompt = _ids((1, 5))
    with torch.no_grad():
        expected = hf.generate(prompt, max_new_tokens=12, do_sample=False, pad_token_id=SIZES["vocab_size"] - 1)
    torch_model = t_gpt.GPT.from_gpt2(hf.state_dict(), n_head=4)
    assert torch.equal(torch_model.generate(prompt, 12, temperature=0), expected)
    numpy_model = np_gpt.GPT.from_gpt2(hf.state_dict(), n_head=4)
    ids = prompt.numpy()
    for _ in range(12):
        ids = np.concatenate([ids, numpy_model(ids)[:, -1].argmax(-1, keepdims=True)], axis=1)
    np.testing.assert_array_equal(ids, expected.numpy())


def test_bad_state_dicts_fail_with_clear_messages():
    state = dict(_hf_gpt2(torch.float32).state_dict())
    with pytest.raises(TypeError, match="'state_dict' must be a mapping"):
        t_gpt.GPT.from_gpt2([1, 2], n_head=4)
    missing = {k: v for k, v in state.items() if k != "transformer.h.1.mlp.c_fc.bias"}
    for package in (t_gpt, np_gpt):
        with pytest.raises(ValueError, match=r"GPT.from_gpt2: .*missing keys \[h\.1\.mlp\.c_fc\.bias\]"):
            package.GPT.from_gpt2(missing, n_head=4)
    with pytest.raises(ValueError, match=r"unexpected keys \[h\.0\.attn\.rotary\.weight\]"):
        np_gpt.GPT.from_gpt2({**state, "transformer.h.0.attn.rotary.weight": torch.zeros(3)}, n_head=4)
    with pytest.raises(ValueError, match="'lm_head.weight' differs from 'wte.weight'"):
        t_gpt.GPT.from_gpt2({**state, "lm_head.weight": state["lm_head.weight"] + 1}, n_head=4)
    with pytest.raises(ValueError, match="no 'wte.weight'"):
        t_gpt.GPT.from_gpt2({"foo.weight": torch.zeros(2, 2)}, n_head=4)
    with pytest.raises(ValueError, match="divisible"):
        t_gpt.GPT.from_gpt2(state, n_head=5)
    wide = _hf_gpt2(torch.float32, n_inner=64).state_dict()
    with pytest.raises(ValueError, match=r"'h\.0\.mlp\.c_fc\.weight' expected shape \(32, 128\), got \(32, 64\)"):
        np_gpt.GPT.from_gpt2(wide, n_head=4)
    both = {**state, "wte.weight": state["transformer.wte.weight"]}
    with pytest.raises(ValueError, match="both with and without"):
        t_gpt.GPT.from_gpt2(both, n_head=4)


# -- the pieces GPT-2 needs in GPTConfig: the tanh GELU and the LayerNorm eps ---------------------------------------


def test_config_defaults_keep_the_exact_gelu_and_bad_values_fail():
    config = GPTConfig()
    assert config.gelu_approximate == "none" and config.layer_norm_eps == 1e-5
    model = t_gpt.GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=2, d_model=8))
    assert model.blocks[0].ffn.activation.approximate == "none" and model.norm_f.eps == 1e-5
    with pytest.raises(ValueError, match=r"'config.gelu_approximate' must be one of \['none', 'tanh'\], got 'fast'"):
        t_gpt.GPT(GPTConfig(gelu_approximate="fast"))
    with pytest.raises(ValueError, match=r"'config.layer_norm_eps' must be a number in \(0, 1\), got 0"):
        np_gpt.GPT(GPTConfig(layer_norm_eps=0))
    with pytest.raises(ValueError, match="needs activation='gelu'"):
        TorchEncoderLayer(8, 2, 16, activation="relu", gelu_approximate="tanh")


@pytest.mark.usefixtures("float64_default")
def test_tanh_gelu_and_eps_reach_every_layer_and_both_packages_agree_forward_and_backward():
    config = GPTConfig(vocab_size=11, block_size=12, n_layer=2, n_head=2, d_model=8, gelu_approximate="tanh",
                       layer_norm_eps=1e-3)
    torch.manual_seed(0)
    torch_model = t_gpt.GPT(config)
    numpy_model = np_gpt.GPT(config, dtype=np.float64)
    numpy_model.load_state_dict(torch_model.state_dict())
    assert all(b.ffn.activation.approximate == "tanh" and b.norm1.eps == 1e-3 for b in torch_model.blocks)
    assert all(b.ffn.activation.approximate == "tanh" and b.norm2.eps == 1e-3 for b in numpy_model.blocks)
    assert torch_model.norm_f.eps == numpy_model.norm_f.eps == 1e-3
    idx = torch.randint(0, 11, (2, 9), generator=torch.Generator().manual_seed(0))
    assert_same_pass(numpy_model, torch_model, idx.numpy())  # logits and every gradient, float64
    # the exact GELU gives other logits: the switch does something
    exact = t_gpt.GPT(GPTConfig(**{**config.to_dict(), "gelu_approximate": "none"}))
    exact.load_state_dict(torch_model.state_dict())
    assert not torch.allclose(exact(idx), torch_model(idx), rtol=0, atol=1e-9)


def test_encoder_layers_with_tanh_gelu_convert_from_pytorch():
    torch.manual_seed(0)
    builtin = torch.nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True, norm_first=True,
                                               activation=torch.nn.GELU(approximate="tanh"),
                                               dtype=torch.float64).eval()
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    expected = builtin(x)
    ours_torch = TorchEncoderLayer.from_pytorch(builtin)
    ours_numpy = NumpyEncoderLayer.from_pytorch(builtin)
    assert ours_torch.ffn.gelu_approximate == ours_numpy.ffn.gelu_approximate == "tanh"
    torch.testing.assert_close(ours_torch(x), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours_numpy(x.numpy()), expected.detach().numpy(), rtol=1e-10, atol=1e-12)
