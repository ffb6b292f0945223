"""The small GPT: NumPy == PyTorch (forward, gradients, training), gradient check, weight tying,
the KV cache (same logits as the uncached model), generation, optimizer groups, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bigmodel_lib.gradcheck import check_gradients
from bigmodel_lib.nn_numpy import gpt as np_gpt
from bigmodel_lib.nn_numpy.losses import CrossEntropyLoss
from bigmodel_lib.nn_numpy.optim import AdamW as NumpyAdamW
from bigmodel_lib.nn_numpy.transformer import layer_state_from_pytorch
from bigmodel_lib.nn_torch import gpt as t_gpt

TINY = np_gpt.GPTConfig(vocab_size=13, block_size=16, n_layer=2, n_head=2, d_model=8)


def _pair(config: np_gpt.GPTConfig = TINY, seed: int = 0) -> tuple[np_gpt.GPT, t_gpt.GPT]:
    torch.manual_seed(seed)
    torch_model = t_gpt.GPT(config, dtype=torch.float64)
    numpy_model = np_gpt.GPT(config, dtype=np.float64, rng=np.random.default_rng(seed))
    numpy_model.load_state_dict(torch_model.state_dict())
    return numpy_model, torch_model


def _ids(shape: tuple[int, int], vocab: int = TINY.vocab_size, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, vocab, shape, generator=torch.Generator().manual_seed(seed))


def test_state_dict_keys_are_identical_and_the_output_layer_is_the_embedding():
    numpy_model, torch_model = _pair()
    assert list(numpy_model.state_dict()) == list(torch_model.state_dict())
    keys = list(torch_model.state_dict())
    assert keys[:2] == ["tok_emb.weight", "pos_emb.weight"] and keys[-2:] == ["norm_f.weight", "norm_f.bias"]
    assert not any("lm_head" in k for k in keys)
    assert "blocks.1.self_attn.in_proj.weight" in keys and "blocks.0.ffn.linear2.weight" in keys
    # tying: V*d fewer parameters than an untied head, and both packages count the same
    c = TINY
    per_block = 12 * c.d_model**2 + 13 * c.d_model
    expected = c.vocab_size * c.d_model + c.block_size * c.d_model + c.n_layer * per_block + 2 * c.d_model
    assert torch_model.num_parameters() == numpy_model.num_parameters() == expected


def test_gpt2_initialization_statistics():
    config = np_gpt.GPTConfig(vocab_size=50, block_size=32, n_layer=4, n_head=4, d_model=64)
    _, model = _pair(config)
    state = model.state_dict()
    assert abs(state["tok_emb.weight"].std().item() - 0.02) < 0.002
    assert abs(state["blocks.0.self_attn.out_proj.weight"].std().item() - 0.02 / np.sqrt(8)) < 0.001
    assert torch.all(state["blocks.0.norm1.weight"] == 1) and torch.all(state["blocks.0.ffn.linear1.bias"] == 0)


@pytest.mark.usefixtures("float64_default")
def test_numpy_forward_and_backward_equal_pytorch():
    numpy_model, torch_model = _pair()
    idx = _ids((3, 11))
    logits_t = torch_model(idx)
    logits_n = numpy_model(idx.numpy())
    np.testing.assert_allclose(logits_n, logits_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    grad = np.random.default_rng(0).standard_normal(logits_n.shape)
    numpy_model.zero_grad()
    numpy_model.backward(grad)
    logits_t.backward(torch.from_numpy(grad))
    numpy_grads = dict(numpy_model.named_parameters())
    for name, param in torch_model.named_parameters():
        np.testing.assert_allclose(numpy_grads[name].grad, param.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


def test_numpy_gpt_passes_a_finite_difference_gradient_check():
    numpy_model, _ = _pair()
    idx = _ids((2, 6)).numpy()
    result = check_gradients(numpy_model, idx, max_entries=30)  # raises on a mismatch
    assert result.passed
    checked = set(result.errors)
    assert {"tok_emb.weight", "pos_emb.weight", "blocks.1.self_attn.in_proj.weight", "norm_f.bias"} <= checked


def test_a_gpt_block_is_pytorchs_pre_ln_encoder_layer_with_a_causal_mask():
    torch.manual_seed(0)
    d, heads = 16, 4
    builtin = torch.nn.TransformerEncoderLayer(d, heads, 4 * d, dropout=0.0, activation="gelu",
                                               batch_first=True, norm_first=True, dtype=torch.float64)
    block = t_gpt.GPTBlock(np_gpt.GPTConfig(vocab_size=5, block_size=8, n_layer=1, n_head=heads, d_model=d),
                           dtype=torch.float64)
    block.load_state_dict(layer_state_from_pytorch(builtin))
    x = torch.randn(2, 7, d, dtype=torch.float64)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(7, dtype=torch.float64)
    expected = builtin(x, src_mask=causal, is_causal=True)
    torch.testing.assert_close(block(x), expected, rtol=1e-10, atol=1e-12)


def test_float64_training_gives_the_same_loss_curve_in_numpy_and_pytorch():
    numpy_model, torch_model = _pair()
    np_opt = NumpyAdamW(numpy_model.parameters(), lr=3e-3, betas=(0.9, 0.95), weight_decay=0.0)
    t_opt = torch.optim.AdamW(torch_model.parameters(), lr=3e-3, betas=(0.9, 0.95), weight_decay=0.0)
    np_loss, t_loss = CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    curves: tuple[list[float], list[float]] = ([], [])
    for step in range(20):
        idx = _ids((4, 9), seed=100 + step)
        x, y = idx[:, :-1], idx[:, 1:]
        logits = numpy_model(x.numpy())
        curves[0].append(float(np_loss(logits, y.numpy())))
        numpy_model.zero_grad()
        numpy_model.backward(np_loss.backward())
        np_opt.step()
        t_opt.zero_grad()
        loss = t_loss(torch_model(x).flatten(0, 1), y.flatten())
        loss.backward()
        t_opt.step()
        curves[1].append(loss.item())
    np.testing.assert_allclose(curves[0], curves[1], rtol=1e-6)
    assert curves[1][-1] < curves[1][0]


# -- the key/value cache ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_cached_forward_gives_the_uncached_logits(dtype, tol):
    torch.manual_seed(0)
    model = t_gpt.GPT(TINY, dtype=dtype).eval()
    idx = _ids((3, 12))
    full = model(idx)
    cache = model.new_cache(3)
    pieces = [model(idx[:, :5], cache), model(idx[:, 5:6], cache), model(idx[:, 6:7], cache), model(idx[:, 7:], cache)]
    assert cache.length == 12
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=tol, atol=tol)


def test_the_cache_stores_keys_and_values_of_every_layer():
    torch.manual_seed(0)
    model = t_gpt.GPT(TINY).eval()
    cache = model.new_cache(2)
    model(_ids((2, 5)), cache)
    d_head = TINY.d_model // TINY.n_head
    assert len(cache.keys) == TINY.n_layer
    assert cache.keys[0].shape == (2, TINY.n_head, TINY.block_size, d_head)
    assert torch.count_nonzero(cache.keys[1][:, :, :5]) > 0 and torch.count_nonzero(cache.keys[1][:, :, 5:]) == 0


def test_cached_generation_equals_uncached_generation_greedy_and_sampled():
    torch.manual_seed(0)
    model = t_gpt.GPT(TINY, dtype=torch.float64)
    prompt = _ids((2, 3))
    # 30 new tokens run past block_size=16, so the fallback to a cropped context is exercised too
    greedy = [model.generate(prompt, 30, temperature=0, use_cache=c) for c in (True, False)]
    assert greedy[0].shape == (2, 33)
    assert torch.equal(greedy[0], greedy[1])
    sampled = [
        model.generate(prompt, 30, temperature=0.8, top_k=5, top_p=0.9, use_cache=c,
                       generator=torch.Generator().manual_seed(7))
        for c in (True, False)
    ]
    assert torch.equal(sampled[0], sampled[1])
    assert model.training, "generate must restore the training mode"


def test_generation_is_reproducible_and_temperature_zero_is_argmax():
    torch.manual_seed(0)
    model = t_gpt.GPT(TINY)
    prompt = _ids((1, 4))
    a = model.generate(prompt, 10, generator=torch.Generator().manual_seed(1))
    b = model.generate(prompt, 10, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    greedy = model.generate(prompt, 1, temperature=0)
    model.eval()
    assert greedy[0, -1] == model(prompt)[0, -1].argmax()


# -- optimizer, FLOPs, bad input ----------------------------------------------------------------------------------


def test_adamw_groups_decay_matrices_only():
    _, model = _pair()
    opt = model.configure_optimizer(learning_rate=1e-3, weight_decay=0.1)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)] for p in no_decay["params"]} == {n for n, p in model.named_parameters() if p.ndim == 1}
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_flops_per_token_follows_6n_plus_attention():
    _, model = _pair()
    c = TINY
    n = model.num_parameters() - c.block_size * c.d_model
    assert model.flops_per_token(16) == 6 * n + 12 * c.n_layer * c.d_model * 16


def test_bad_input_fails_early_with_clear_messages():
    _, model = _pair()
    with pytest.raises(ValueError, match="divisible"):
        t_gpt.GPT(np_gpt.GPTConfig(d_model=10, n_head=4))
    with pytest.raises(TypeError, match="GPTConfig"):
        t_gpt.GPT({"vocab_size": 3})
    with pytest.raises(TypeError, match="integer token ids"):
        model(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="block_size=16"):
        model(_ids((1, 17)))
    with pytest.raises(ValueError, match=r"values must be in \[0, 13\)"):
        model(torch.tensor([[0, 13]]))
    cache = model.new_cache(1)
    model(_ids((1, 10)), cache)
    with pytest.raises(ValueError, match="after 10 cached tokens"):
        model(_ids((1, 7)), cache)
    with pytest.raises(ValueError, match="cache was made for 1"):
        model(_ids((2, 1)), cache)
    numpy_model, _ = _pair()
    with pytest.raises(TypeError, match="NumPy array"):
        numpy_model(_ids((1, 3)))


def test_value_checks_step_aside_so_the_gpt_compiles_as_one_graph() -> None:
    # token-id range checks read tensor values; inside a torch.compile trace they would break the graph
    from bigmodel_lib.contracts.gpt import GPTConfig
    from bigmodel_lib.nn_torch import GPT as TorchGPT

    torch.manual_seed(0)
    model = TorchGPT(GPTConfig(vocab_size=20, block_size=16, n_layer=1, n_head=2, d_model=16)).eval()
    idx = torch.randint(0, 20, (2, 8))
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    torch.testing.assert_close(compiled(idx), model(idx))
    with pytest.raises(ValueError, match="must be in \\[0, 20\\)"):  # and outside a trace they still check
        model(torch.full((1, 4), 20))
