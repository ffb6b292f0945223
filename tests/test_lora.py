"""LoRALinear in both packages: frozen base, B = 0 start, merge equality, NumPy gradients against finite
differences, NumPy == PyTorch for the same state_dict, and the GPT helpers (apply, count, merge)."""

import numpy as np
import pytest
import torch

from bigmodel_lib.contracts.gpt import GPTConfig
from bigmodel_lib.contracts.lora import adamw_state_bytes, lora_parameter_count
from bigmodel_lib.gradcheck import check_gradients
from bigmodel_lib.nn_numpy.linear import Linear as NumpyLinear
from bigmodel_lib.nn_numpy.lora import LoRALinear as NumpyLoRALinear
from bigmodel_lib.nn_torch.gpt import GPT
from bigmodel_lib.nn_torch.lora import (
    LoRALinear,
    apply_lora,
    count_parameters,
    merge_lora,
    optimizer_state_bytes,
)

KEYS = ["lora_A", "lora_B", "base.weight", "base.bias"]


def numpy_layer(in_features=6, out_features=5, rank=2, alpha=4.0, bias=True, seed=0, trained_b=True):
    rng = np.random.default_rng(seed)
    layer = NumpyLoRALinear(NumpyLinear(in_features, out_features, bias=bias, dtype=np.float64, rng=rng),
                            rank=rank, alpha=alpha, rng=rng)
    if trained_b:  # B = 0 at the start: give it values so that every term of the formulas is exercised
        layer.lora_B.data = rng.standard_normal(layer.lora_B.data.shape)
    return layer


class AdapterOnly:
    """The layer as check_gradients sees it: A and B are the parameters (the frozen base gets no gradient)."""

    def __init__(self, layer):
        self.layer = layer

    def __call__(self, x):
        return self.layer(x)

    def backward(self, grad_out):
        return self.layer.backward(grad_out)

    def named_parameters(self):
        return [("lora_A", self.layer.lora_A), ("lora_B", self.layer.lora_B)]

    def zero_grad(self):
        self.layer.zero_grad()


def test_state_dict_keys_are_identical_in_both_packages():
    torch_layer = LoRALinear(torch.nn.Linear(6, 5), rank=2, alpha=4.0)
    assert list(numpy_layer().state_dict()) == KEYS
    assert list(torch_layer.state_dict()) == KEYS


@pytest.mark.parametrize("bias", [True, False])
def test_numpy_gradients_of_a_b_and_x_match_finite_differences_and_the_base_stays_frozen(bias):
    layer = numpy_layer(bias=bias)
    x = np.random.default_rng(1).standard_normal((3, 4, 6))  # (B, T, d_in)
    result = check_gradients(AdapterOnly(layer), x)
    assert set(result.errors) == {"input[0]", "lora_A", "lora_B"}
    assert not layer.base.weight.grad.any()
    if bias:
        assert not layer.base.bias.grad.any()


def test_the_adapted_layer_starts_equal_to_the_base():
    for layer_np in (numpy_layer(trained_b=False),):
        x = np.random.default_rng(2).standard_normal((4, 6))
        np.testing.assert_array_equal(layer_np(x), layer_np.base(x))
    base = torch.nn.Linear(6, 5)
    layer_t = LoRALinear(base, rank=3, alpha=8.0)
    x_t = torch.randn(4, 6)
    assert torch.equal(layer_t(x_t), base(x_t))


@pytest.mark.parametrize("bias", [True, False])
def test_merged_linear_equals_the_adapted_layer_in_both_packages(bias):
    layer_np = numpy_layer(bias=bias)
    x = np.random.default_rng(3).standard_normal((2, 7, 6))
    merged_np = layer_np.merged()
    assert type(merged_np) is NumpyLinear
    np.testing.assert_allclose(merged_np(x), layer_np(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(merged_np.weight.data,
                               layer_np.base.weight.data + 2.0 * layer_np.lora_B.data @ layer_np.lora_A.data)

    layer_t = LoRALinear(torch.nn.Linear(6, 5, bias=bias, dtype=torch.float64), rank=2, alpha=4.0)
    layer_t.load_state_dict(layer_np.state_dict())
    merged_t = layer_t.merged()
    x_t = torch.from_numpy(x)
    with torch.no_grad():
        torch.testing.assert_close(merged_t(x_t), layer_t(x_t), rtol=1e-12, atol=1e-12)
    assert set(dict(merged_t.named_parameters())) == ({"weight", "bias"} if bias else {"weight"})


def test_numpy_and_torch_agree_on_outputs_and_gradients_for_the_same_state_dict():
    layer_np = numpy_layer()
    layer_t = LoRALinear(torch.nn.Linear(6, 5, dtype=torch.float64), rank=2, alpha=4.0)
    layer_t.load_state_dict(layer_np.state_dict())
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 6))
    grad_out = rng.standard_normal((3, 4, 5))
    out_np = layer_np(x)
    dx_np = layer_np.backward(grad_out)
    x_t = torch.tensor(x, requires_grad=True)
    out_t = layer_t(x_t)
    out_t.backward(torch.from_numpy(grad_out))
    np.testing.assert_allclose(out_np, out_t.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx_np, x_t.grad.numpy(), rtol=1e-12, atol=1e-12)
    for name in ("lora_A", "lora_B"):
        np.testing.assert_allclose(getattr(layer_np, name).grad, getattr(layer_t, name).grad.numpy(),
                                   rtol=1e-12, atol=1e-12)
    assert layer_t.base.weight.grad is None and layer_t.base.bias.grad is None  # frozen: no gradient at all
    back = numpy_layer(seed=9)
    back.load_state_dict(layer_t.state_dict())  # and the other way round
    np.testing.assert_allclose(back(x), out_np, rtol=1e-12, atol=1e-12)


def test_effective_weight_property_gives_the_same_function_and_gradients():
    layer = LoRALinear(torch.nn.Linear(6, 5, dtype=torch.float64), rank=2, alpha=4.0)
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(3, 6, dtype=torch.float64)
    direct = layer(x)
    through_weight = torch.nn.functional.linear(x, layer.weight, layer.bias)
    torch.testing.assert_close(direct, through_weight)
    through_weight.sum().backward()
    assert layer.lora_A.grad is not None and layer.lora_B.grad is not None and layer.base.weight.grad is None


@pytest.mark.parametrize(("rank", "alpha", "error"), [(0, 1.0, "rank"), (6, 1.0, "rank"), (2.5, 1.0, "rank"),
                                                      (2, 0.0, "alpha"), (2, float("nan"), "alpha")])
def test_bad_arguments_are_named_in_both_packages(rank, alpha, error):
    with pytest.raises((ValueError, TypeError), match=error):
        NumpyLoRALinear(NumpyLinear(6, 5), rank=rank, alpha=alpha)
    with pytest.raises((ValueError, TypeError), match=error):
        LoRALinear(torch.nn.Linear(6, 5), rank=rank, alpha=alpha)
    with pytest.raises(TypeError, match="base"):
        LoRALinear(torch.nn.Conv1d(6, 5, 1), rank=1)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="x"):
        numpy_layer()(np.zeros((2, 7)))
    with pytest.raises(ValueError, match="x"):
        LoRALinear(torch.nn.Linear(6, 5), rank=2)(torch.zeros(2, 7))


def tiny_gpt():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=20, block_size=16, n_layer=2, n_head=2, d_model=16))


def test_apply_lora_freezes_the_gpt_counts_the_adapter_and_merges_back():
    model = tiny_gpt()
    idx = torch.randint(0, 20, (2, 10))
    with torch.no_grad():
        before = model(idx)
    names = apply_lora(model, rank=2, alpha=4.0)
    assert names == [f"blocks.{i}.self_attn.{p}" for i in range(2) for p in ("in_proj", "out_proj")]
    with torch.no_grad():
        torch.testing.assert_close(model(idx), before)  # B = 0: the same model until trained
    counts = count_parameters(model)
    per_block = lora_parameter_count(16, 48, 2) + lora_parameter_count(16, 16, 2)
    assert counts["trainable"] == 2 * per_block
    assert counts["total"] == tiny_gpt().num_parameters() + counts["trainable"]

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):  # a few steps: B moves away from 0, the frozen weights do not move
        frozen_before = model.blocks[0].self_attn.in_proj.base.weight.clone()
        loss = torch.nn.functional.cross_entropy(model(idx).flatten(0, 1), idx.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        assert torch.equal(model.blocks[0].self_attn.in_proj.base.weight, frozen_before)
    assert model.blocks[0].self_attn.in_proj.lora_B.abs().sum() > 0
    assert optimizer_state_bytes(optimizer) == adamw_state_bytes(counts["trainable"]) + 4 * 2 * len(names)

    with torch.no_grad():
        adapted = model(idx)
        assert merge_lora(model) == len(names)
        torch.testing.assert_close(model(idx), adapted, rtol=1e-5, atol=1e-5)
    assert sum(p.numel() for p in model.parameters()) == tiny_gpt().num_parameters()


def test_apply_lora_refuses_targets_that_match_nothing():
    with pytest.raises(ValueError, match="targets"):
        apply_lora(tiny_gpt(), rank=2, targets=("no_such_layer",))


def test_apply_lora_can_wrap_the_feed_forward_layers_too():
    model = tiny_gpt()
    names = apply_lora(model, rank=2, targets=("ffn.linear1", "ffn.linear2"))
    assert len(names) == 4 and all(isinstance(model.get_submodule(n), LoRALinear) for n in names)
