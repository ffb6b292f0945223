"""Pruning: NumPy masks equal torch.nn.utils.prune's, structured removal keeps the function of the kept parts,
and the parameter and FLOP counts are exact."""

import copy

import numpy as np
import pytest
import torch

from bigmodel_lib.compression import pruning
from bigmodel_lib.lm_training import TrainConfig, train_language_model
from bigmodel_lib.nn_torch.gpt import GPT, GPTConfig

CONFIG = GPTConfig(vocab_size=20, block_size=16, n_layer=2, n_head=4, d_model=32)


def model(dtype=torch.float64):
    torch.manual_seed(0)
    return GPT(CONFIG, dtype=dtype).eval()


def batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 20, (3, 16), generator=g), torch.randint(0, 20, (3, 16), generator=g)


@pytest.mark.parametrize("scope", ["global", "layer"])
@pytest.mark.parametrize("sparsity", [0.0, 0.3, 0.5, 0.9, 1.0])
def test_numpy_masks_equal_torch_prune(scope, sparsity):
    net = model(torch.float32)
    weights = {f"{n}.weight": m.weight.detach().numpy().copy() for n, m in pruning.prunable_linears(net).items()}
    ours = pruning.magnitude_masks(weights, sparsity, scope=scope)
    theirs = pruning.torch_prune_linears(net, sparsity, scope=scope)
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert np.array_equal(ours[name], theirs[name].numpy()), name
    # prune.remove left plain parameters holding the zeros
    linears = pruning.prunable_linears(net)
    assert all(not hasattr(m, "weight_orig") for m in linears.values())
    total = sum(w.size for w in weights.values())
    removed = sum(int((~mask).sum()) for mask in ours.values())
    assert pruning.sparsity_of([m.weight for m in linears.values()]) == pytest.approx(removed / total)
    if scope == "global":
        assert removed == round(sparsity * total)
    else:
        for name, w in weights.items():
            assert int((~ours[name]).sum()) == round(sparsity * w.size)


def test_global_masks_remove_the_smallest_weights_overall():
    rng = np.random.default_rng(0)
    weights = {"a": rng.normal(size=(8, 8)), "b": 10 * rng.normal(size=(4, 8))}
    masks = pruning.magnitude_masks(weights, 0.5)
    kept = np.concatenate([np.abs(w[masks[k]]) for k, w in weights.items()])
    dropped = np.concatenate([np.abs(w[~masks[k]]) for k, w in weights.items()])
    assert dropped.max() <= kept.min()
    assert (~masks["a"]).sum() > (~masks["b"]).sum()  # the small-weight matrix loses more
    with pytest.raises(ValueError, match="sparsity"):
        pruning.magnitude_masks(weights, 1.5)
    with pytest.raises(ValueError, match="scope"):
        pruning.magnitude_masks(weights, 0.5, scope="row")


def test_masked_fine_tune_keeps_pruned_weights_at_zero():
    net = model(torch.float32).train()
    masks = pruning.torch_prune_linears(net, 0.6)
    data = torch.randint(0, 20, (400,))
    config = TrainConfig(steps=5, batch_size=4, block_size=16, warmup_steps=1, eval_every=5, eval_batches=1)
    train_language_model(net, net.configure_optimizer(1e-2), data, data, config,
                         step_fn=pruning.masked_train_step(masks), progress=False)
    params = dict(net.named_parameters())
    for name, mask in masks.items():
        assert torch.all(params[name][~mask] == 0), name
        assert torch.any(params[name][mask] != 0), name


def test_keeping_everything_is_the_same_model():
    net = model()
    x, _ = batch()
    same = pruning.remove_heads_and_neurons(net, keep_heads=[range(4)] * 2, keep_neurons=[range(128)] * 2)
    assert torch.allclose(same(x), net(x), atol=1e-12, rtol=0)


def test_removed_heads_and_neurons_equal_zeroed_output_weights():
    net = model()
    x, _ = batch()
    keep_heads, keep_neurons = [[0, 2], [1, 2, 3]], [list(range(0, 128, 2)), list(range(100))]
    pruned = pruning.remove_heads_and_neurons(net, keep_heads=keep_heads, keep_neurons=keep_neurons)
    zeroed = copy.deepcopy(net)
    with torch.no_grad():
        for layer, block in enumerate(zeroed.blocks):
            for head in set(range(4)) - set(keep_heads[layer]):
                block.self_attn.out_proj.weight[:, head * 8:(head + 1) * 8] = 0
            dropped = sorted(set(range(128)) - set(keep_neurons[layer]))
            block.ffn.linear2.weight[:, dropped] = 0
    assert torch.allclose(pruned(x), zeroed(x), atol=1e-12, rtol=0)
    assert [b.self_attn.num_heads for b in pruned.blocks] == [2, 3]
    assert [b.ffn.d_ff for b in pruned.blocks] == [64, 100]
    assert [b.self_attn.num_heads for b in net.blocks] == [4, 4]  # the original is untouched


def test_no_head_left_passes_the_residual_through():
    net = model()
    x, _ = batch()
    pruned = pruning.remove_heads_and_neurons(net, keep_heads=[[], range(4)])
    zeroed = copy.deepcopy(net)
    with torch.no_grad():
        zeroed.blocks[0].self_attn.out_proj.weight.zero_()
    assert torch.allclose(pruned(x), zeroed(x), atol=1e-12, rtol=0)


def test_parameter_and_flop_counts_are_exact():
    net = model()
    assert 3 * pruning.forward_flops_per_token(net, 16) == net.flops_per_token(16)
    pruned = pruning.remove_heads_and_neurons(net, keep_heads=[[0, 2], [1, 2, 3]],
                                              keep_neurons=[list(range(64)), list(range(100))])
    removed = net.num_parameters() - sum(p.numel() for p in pruned.parameters())
    d, dh = CONFIG.d_model, CONFIG.d_head
    assert removed == 3 * pruning.head_parameters(d, dh) + (64 + 28) * pruning.neuron_parameters(d)
    assert pruning.forward_flops_per_token(pruned, 16) == \
        pruning.forward_flops_per_token(net, 16) - 2 * removed - 4 * 16 * 3 * dh


def test_importance_scores_have_one_number_per_head_and_neuron():
    net = model()
    taylor = pruning.taylor_importance(net, [batch(0), batch(1)])
    norms = pruning.weight_norm_importance(net)
    for scores in (taylor, norms):
        assert scores["heads"].shape == (2, 4) and scores["neurons"].shape == (2, 128)
        assert np.all(scores["heads"] >= 0) and np.all(scores["neurons"] >= 0)
    assert all(p.grad is None for p in net.parameters())
    # the Taylor score of a head is |dL/d gate|: check one against a finite difference of the loss
    x, y = batch(0)
    only = pruning.taylor_importance(net, [(x, y)])["heads"][1, 2]
    eps = 1e-6

    def loss_with_gate(value):
        scaled = copy.deepcopy(net)
        with torch.no_grad():
            scaled.blocks[1].self_attn.out_proj.weight[:, 16:24] *= value
        return torch.nn.functional.cross_entropy(scaled(x).flatten(0, 1), y.flatten()).item()

    numeric = abs(loss_with_gate(1 + eps) - loss_with_gate(1 - eps)) / (2 * eps)
    assert only == pytest.approx(numeric, rel=1e-3)


def test_bad_keep_lists_are_refused():
    net = model()
    with pytest.raises(ValueError, match="keep_heads"):
        pruning.remove_heads_and_neurons(net, keep_heads=[[0]])
    with pytest.raises(ValueError, match="keep_heads"):
        pruning.remove_heads_and_neurons(net, keep_heads=[[0, 7], [0]])
    with pytest.raises(ValueError, match="keep_neurons"):
        pruning.remove_heads_and_neurons(net, keep_neurons=[[0, 500], [0]])
