"""The mixture-of-experts layer: gradient check (NumPy, float64), NumPy == PyTorch (forward, backward, balancing
loss, drops), the limiting cases (top_k = E is the dense soft mixture, E = 1 is one FFN), the capacity and
token dropping, the balancing loss's values, the MoE GPT, the parameter counts, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bigmodel_lib.contracts.gpt import GPTConfig
from bigmodel_lib.contracts.moe import MoEConfig, expert_capacity, moe_parameter_counts
from bigmodel_lib.gradcheck import check_gradients
from bigmodel_lib.nn_numpy import moe as np_moe
from bigmodel_lib.nn_numpy.functional import softmax
from bigmodel_lib.nn_numpy.module import Module
from bigmodel_lib.nn_numpy.transformer import PositionwiseFeedForward as NumpyFFN
from bigmodel_lib.nn_torch import gpt as t_gpt
from bigmodel_lib.nn_torch import moe as t_moe
from bigmodel_lib.scale import ModelShape

D, D_FF, E = 6, 8, 4
SETTINGS = [(k, cf, norm) for k in (1, 2) for cf in (None, 0.5) for norm in (True, False)]
SETTING_IDS = [f"top{k}-cf{cf}-{'renorm' if norm else 'switch'}" for k, cf, norm in SETTINGS]


def _pair(top_k, capacity_factor=None, normalize_gates=True, num_experts=E, seed=0):
    numpy_layer = np_moe.MoE(D, D_FF, num_experts, top_k, capacity_factor=capacity_factor,
                             normalize_gates=normalize_gates, dtype=np.float64, rng=np.random.default_rng(seed))
    torch_layer = t_moe.MoE(D, D_FF, num_experts, top_k, capacity_factor=capacity_factor,
                            normalize_gates=normalize_gates, dtype=torch.float64)
    torch_layer.load_state_dict(numpy_layer.state_dict())
    return numpy_layer, torch_layer


def _x(shape=(2, 5, D), seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


class WithAux(Module):
    """The layer's two outputs, ``(y, aux_loss)``, so the gradient check covers the balancing loss too."""

    def __init__(self, layer):
        self.layer = layer

    def forward(self, x):
        y = self.layer(x)
        return y, np.asarray(self.layer.aux_loss)

    def backward(self, grads):
        grad_y, grad_aux = grads
        return self.layer.backward(grad_y, aux_grad=float(grad_aux))


@pytest.mark.parametrize(("top_k", "capacity_factor", "normalize_gates"), SETTINGS, ids=SETTING_IDS)
def test_numpy_backward_matches_finite_differences(top_k, capacity_factor, normalize_gates):
    layer, _ = _pair(top_k, capacity_factor, normalize_gates)
    result = check_gradients(WithAux(layer), _x(), max_entries=None)
    assert result.passed
    if capacity_factor is not None:
        assert layer.num_dropped > 0  # the capacity case really drops something


@pytest.mark.parametrize(("top_k", "capacity_factor", "normalize_gates"), SETTINGS, ids=SETTING_IDS)
def test_numpy_equals_torch_forward_backward_and_balancing_loss(top_k, capacity_factor, normalize_gates):
    numpy_layer, torch_layer = _pair(top_k, capacity_factor, normalize_gates)
    assert list(numpy_layer.state_dict()) == list(torch_layer.state_dict())
    x = _x()
    grad_y = np.random.default_rng(2).standard_normal(x.shape)
    aux_weight = 0.37
    numpy_layer.zero_grad()
    y = numpy_layer(x)
    dx = numpy_layer.backward(grad_y, aux_grad=aux_weight)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch_layer(xt)
    (torch.sum(yt * torch.from_numpy(grad_y)) + aux_weight * torch_layer.aux_loss).backward()
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    numpy_params = dict(numpy_layer.named_parameters())
    for name, p in torch_layer.named_parameters():
        np.testing.assert_allclose(numpy_params[name].grad, p.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
    assert numpy_layer.aux_loss == pytest.approx(torch_layer.aux_loss.item(), abs=1e-12)
    np.testing.assert_array_equal(numpy_layer.expert_load, torch_layer.expert_load.numpy())
    assert numpy_layer.num_dropped == int(torch_layer.num_dropped)
    assert numpy_layer.capacity == torch_layer.capacity


@pytest.mark.parametrize("normalize_gates", [True, False])
def test_top_k_equal_to_num_experts_is_the_dense_soft_mixture(normalize_gates):
    layer, torch_layer = _pair(E, None, normalize_gates)
    x = _x()
    weights = softmax(x @ layer.router.weight.data.T)  # (B, T, E)
    dense = sum(weights[..., e:e + 1] * expert(x) for e, expert in enumerate(layer.experts))
    np.testing.assert_allclose(layer(x), dense, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(torch_layer(torch.from_numpy(x)).detach().numpy(), dense, rtol=1e-12, atol=1e-14)


def test_one_expert_with_top_1_is_one_ffn():
    layer, torch_layer = _pair(1, None, True, num_experts=1)
    ffn = NumpyFFN(D, D_FF, 0.0, "gelu", dtype=np.float64)
    ffn.load_state_dict({k.removeprefix("experts.0."): v for k, v in layer.state_dict().items() if "experts" in k})
    x = _x()
    np.testing.assert_allclose(layer(x), ffn(x), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(torch_layer(torch.from_numpy(x)).detach().numpy(), ffn(x), rtol=1e-13, atol=1e-14)
    assert layer.aux_loss == pytest.approx(1.0)  # one expert: f = P = 1, E f P = 1


def test_capacity_drops_the_later_tokens_of_an_overfull_expert():
    # three experts, top-1; the router sends tokens 0, 1, 2, 3 to expert 0 and token 4 to expert 1
    layer = np_moe.MoE(3, 4, 3, 1, capacity_factor=1.0, dtype=np.float64, rng=np.random.default_rng(0))
    logits = np.array([[5.0, 0, 0], [4, 0, 0], [3, 0, 0], [2, 0, 0], [0, 1, 0]])
    capacity = expert_capacity(5, 3, 1, 1.0)
    assert capacity == math.ceil(5 / 3) == 2
    chosen, kept = np_moe.route_tokens(logits, 1, capacity)
    assert chosen.ravel().tolist() == [0, 0, 0, 0, 1]
    assert kept.ravel().tolist() == [True, True, False, False, True]  # token order: the first two stay
    chosen_t, kept_t = t_moe.route_tokens(torch.from_numpy(logits), 1, capacity)
    assert chosen_t.ravel().tolist() == chosen.ravel().tolist() and kept_t.ravel().tolist() == kept.ravel().tolist()
    # a dropped token gets exactly zero from the layer
    x = np.zeros((1, 5, 3))
    layer.router.weight.data[...] = np.eye(3)
    x[0, :, :] = logits / 10  # same ranking as the logits above through an identity router
    y = layer(x)
    assert layer.num_dropped == 2 and layer.capacity == 2
    np.testing.assert_array_equal(y[0, 2:4], 0.0)
    assert np.all(np.abs(y[0, :2]).sum(-1) > 0)
    assert expert_capacity(5, 3, 1, None) is None


def test_without_capacity_nothing_is_dropped_and_top_2_counts_two_assignments_per_token():
    layer, _ = _pair(2)
    layer(_x((3, 7, D)))
    assert layer.num_dropped == 0 and layer.capacity is None
    assert layer.expert_load.sum() == pytest.approx(1.0)
    counts = layer.expert_load * 3 * 7 * 2  # 21 tokens, two assignments each
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)
    assert round(counts.sum()) == 42


def test_balancing_loss_is_one_when_uniform_and_num_experts_when_collapsed():
    layer, _ = _pair(1)
    layer.router.weight.data[...] = 0.0  # every probability 1/E; argsort breaks the tie towards expert 0
    layer(_x())
    assert layer.aux_loss == pytest.approx(1.0)  # f = (1, 0, 0, 0), P = 1/E each: E * 1 * 1/E
    layer.router.weight.data[...] = 0.0
    layer.router.weight.data[0, 0] = 1e4  # expert 0 takes every token whose x_0 > 0, with certainty
    x = np.abs(_x())
    layer(x)
    assert layer.aux_loss == pytest.approx(E, rel=1e-9)


def test_moe_gpt_keys_counts_and_training_losses():
    config = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, d_model=8)
    torch.manual_seed(0)
    model = t_moe.MoEGPT(config, MoEConfig(num_experts=3, top_k=1), dtype=torch.float64)
    dense = t_gpt.GPT(config, dtype=torch.float64)
    keys = list(model.state_dict())
    assert "blocks.1.ffn.router.weight" in keys and "blocks.0.ffn.experts.2.linear2.bias" in keys
    assert not any(k.startswith("blocks.0.ffn.linear") for k in keys)
    ffn = sum(p.numel() for p in dense.blocks[0].ffn.parameters())
    assert model.num_parameters() == dense.num_parameters() + config.n_layer * (2 * ffn + 3 * config.d_model)
    assert model.num_active_parameters() == dense.num_parameters() + config.n_layer * 3 * config.d_model
    assert model.flops_per_token(8) == dense.flops_per_token(8) + 6 * config.n_layer * 3 * config.d_model
    # the library's counts from the shapes agree with the model's
    counts = moe_parameter_counts(ModelShape.from_gpt_config(config), 3, 1)
    assert counts["total"] == model.num_parameters() and counts["active"] == model.num_active_parameters()
    assert counts["training_flops_per_token"] == model.flops_per_token(8)
    idx = torch.randint(0, 11, (4, 8), generator=torch.Generator().manual_seed(0))
    logits = model(idx)
    assert logits.shape == (4, 8, 11)
    assert model.expert_load().shape == (2, 3)
    torch.testing.assert_close(model.expert_load().sum(-1), torch.ones(2, dtype=torch.float64))
    assert model.aux_loss.requires_grad and 2.0 <= model.aux_loss.item() <= 2 * 3
    (torch.nn.functional.cross_entropy(logits.flatten(0, 1), idx.flatten()) + 0.01 * model.aux_loss).backward()
    assert model.blocks[0].ffn.router.weight.grad.abs().sum() > 0
    assert model.num_dropped == 0


def test_moe_gpt_with_one_expert_equals_the_gpt():
    config = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, d_model=8)
    torch.manual_seed(0)
    dense = t_gpt.GPT(config, dtype=torch.float64)
    moe = t_moe.MoEGPT(config, MoEConfig(num_experts=1, top_k=1), dtype=torch.float64)
    state = {k.replace(".ffn.", ".ffn.experts.0."): v for k, v in dense.state_dict().items()}
    state.update({f"blocks.{layer}.ffn.router.weight": torch.zeros(1, 8, dtype=torch.float64) for layer in range(2)})
    moe.load_state_dict(state)
    idx = torch.randint(0, 11, (2, 8), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(moe(idx), dense(idx), rtol=1e-12, atol=1e-12)


def test_mixtral_8x7b_counts_from_its_published_shapes():
    # Jiang et al. 2024, Table 1: dim 4096, 32 layers, head_dim 128, 32 heads, 8 kv heads, hidden 14336,
    # vocab 32000, 8 experts, top 2; "47B" parameters of which "13B" active
    shape = ModelShape(vocab_size=32000, n_layer=32, d_model=4096, n_head=32, n_kv_head=8, d_ff=14336,
                       context=32768, mlp="swiglu", norm="rmsnorm", positions="rope", bias=False,
                       tied_embeddings=False)
    counts = moe_parameter_counts(shape, 8, 2)
    assert counts["total"] == 46_702_792_704
    assert counts["active"] == 12_879_925_248


@pytest.mark.parametrize("pkg", ["numpy", "torch"])
@pytest.mark.parametrize(("kwargs", "error", "pattern"), [
    ({"top_k": 5}, ValueError, "'top_k' must be <= num_experts=4"),
    ({"capacity_factor": 0.0}, ValueError, "'capacity_factor' must be None"),
    ({"capacity_factor": -1}, ValueError, "'capacity_factor' must be None"),
    ({"num_experts": 0}, ValueError, "'num_experts' must be a positive int"),
    ({"normalize_gates": "yes"}, TypeError, "'normalize_gates' must be a bool"),
])
def test_bad_arguments_are_refused(pkg, kwargs, error, pattern):
    args = {"d_model": D, "d_ff": D_FF, "num_experts": E, "top_k": 1, **kwargs}
    cls = np_moe.MoE if pkg == "numpy" else t_moe.MoE
    top_k = args.pop("top_k")
    with pytest.raises(error, match=pattern):
        cls(args.pop("d_model"), args.pop("d_ff"), args.pop("num_experts"), top_k, **args)


@pytest.mark.parametrize("pkg", ["numpy", "torch"])
def test_bad_input_shapes_are_refused(pkg):
    numpy_layer, torch_layer = _pair(1)
    layer, wrap = (numpy_layer, np.asarray) if pkg == "numpy" else (torch_layer, torch.from_numpy)
    with pytest.raises(ValueError, match=r"MoE: 'x' expected shape \(B, T, 6\) \(3 dims\), got \(5, 6\)"):
        layer(wrap(np.zeros((5, D))))
    with pytest.raises(ValueError, match=r"MoE: 'x' expected shape \(\.\.\., 6\), got \(2, 5, 7\)"):
        layer(wrap(np.zeros((2, 5, 7))))
    with pytest.raises(TypeError, match="must have a floating-point dtype"):
        layer(wrap(np.zeros((2, 5, D), dtype=np.int64)))
    with pytest.raises(TypeError, match="'moe' must be a MoEConfig"):
        t_moe.MoEGPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, d_model=4), {"num_experts": 2})


@pytest.mark.parametrize("top_k", [1, 2])
def test_numpy_moe_gpt_equals_torch_moe_gpt_with_the_balancing_loss(top_k):
    config = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, d_model=8)
    moe_config = MoEConfig(num_experts=3, top_k=top_k, capacity_factor=1.0, normalize_gates=False)
    torch.manual_seed(0)
    torch_model = t_moe.MoEGPT(config, moe_config, dtype=torch.float64)
    numpy_model = np_moe.MoEGPT(config, moe_config, dtype=np.float64, rng=np.random.default_rng(0))
    assert list(numpy_model.state_dict()) == list(torch_model.state_dict())
    numpy_model.load_state_dict(torch_model.state_dict())
    idx = torch.randint(0, 11, (3, 8), generator=torch.Generator().manual_seed(2))
    grad_logits = np.random.default_rng(3).standard_normal((3, 8, 11))
    aux_weight = 0.5
    logits = torch_model(idx)
    (torch.sum(logits * torch.from_numpy(grad_logits)) + aux_weight * torch_model.aux_loss).backward()
    numpy_model.zero_grad()
    np.testing.assert_allclose(numpy_model(idx.numpy()), logits.detach().numpy(), rtol=1e-10, atol=1e-12)
    numpy_model.backward(grad_logits, aux_grad=aux_weight)
    assert numpy_model.aux_loss == pytest.approx(torch_model.aux_loss.item(), abs=1e-12)
    assert numpy_model.num_dropped == torch_model.num_dropped > 0
    np.testing.assert_array_equal(numpy_model.expert_load(), torch_model.expert_load().numpy())
    numpy_params = dict(numpy_model.named_parameters())
    for name, p in torch_model.named_parameters():
        np.testing.assert_allclose(numpy_params[name].grad, p.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
    assert all(layer.aux_grad == 0.0 for layer in numpy_model.moe_layers())  # reset after the backward pass


def test_set_capacity_factor_reaches_every_layer_and_refuses_bad_values():
    config = GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, d_model=8)
    for model in (t_moe.MoEGPT(config, MoEConfig(num_experts=3)),
                  np_moe.MoEGPT(config, MoEConfig(num_experts=3), rng=np.random.default_rng(0))):
        model.set_capacity_factor(1.25)
        assert [layer.capacity_factor for layer in model.moe_layers()] == [1.25, 1.25]
        with pytest.raises(ValueError, match="'capacity_factor' must be None"):
            model.set_capacity_factor(0)
        model.set_capacity_factor(None)
        assert all(layer.capacity_factor is None for layer in model.moe_layers())
