"""bigmodel_lib.benchmarks.activation_memory: model-state bytes, bytes saved for backward, activation checkpointing."""

import pytest
import torch

from bigmodel_lib.benchmarks.activation_memory import gpt_loss, measure_saved_tensors, model_state_bytes
from bigmodel_lib.contracts.gpt import GPTConfig
from bigmodel_lib.nn_torch.gpt import GPT

CONFIG = GPTConfig(vocab_size=40, block_size=16, n_layer=3, n_head=2, d_model=32)


def make_batch(batch=4, length=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, CONFIG.vocab_size, (batch, length + 1), generator=g)
    return ids[:, :-1], ids[:, 1:]


def gradients(model):
    return [p.grad.clone() for p in model.parameters()]


def test_model_state_bytes_counts_weights_gradients_and_adam_state():
    torch.manual_seed(0)
    model = GPT(CONFIG)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    n = model.num_parameters()
    assert model_state_bytes(model, optimizer) == {"weights": 4 * n, "gradients": 0, "optimizer_state": 0}
    idx, targets = make_batch()
    gpt_loss(model, idx, targets).backward()
    optimizer.step()
    assert model_state_bytes(model, optimizer) == {"weights": 4 * n, "gradients": 4 * n, "optimizer_state": 8 * n}
    assert model_state_bytes(model) == {"weights": 4 * n, "gradients": 4 * n, "optimizer_state": 0}


def test_gpt_loss_equals_the_model_forward():
    torch.manual_seed(0)
    model = GPT(CONFIG)
    idx, targets = make_batch()
    expected = torch.nn.functional.cross_entropy(model(idx).reshape(-1, CONFIG.vocab_size), targets.reshape(-1))
    torch.testing.assert_close(gpt_loss(model, idx, targets), expected, rtol=0, atol=1e-6)


def test_measure_saved_tensors_counts_an_activation_once_and_skips_parameters():
    weight = torch.randn(8, 8, requires_grad=True)
    x = torch.randn(5, 8, requires_grad=True)

    def fn():
        h = x @ weight        # saves x and weight
        return (h * h).sum()  # saves h (twice, one storage)

    saved = measure_saved_tensors(fn, exclude=[weight])
    assert saved.total_bytes == 2 * 5 * 8 * 4 and saved.n_storages == 2
    assert measure_saved_tensors(fn).total_bytes == (2 * 5 * 8 + 8 * 8) * 4
    with pytest.raises(TypeError, match="callable"):
        measure_saved_tensors(42)


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_checkpointing_keeps_block_inputs_only_and_the_same_gradients(dropout):
    config = GPTConfig(**{**CONFIG.to_dict(), "dropout": dropout})
    torch.manual_seed(0)
    model = GPT(config)
    idx, targets = make_batch()
    params = list(model.parameters())
    results = {}
    for mode in (False, True):
        model.zero_grad()
        torch.manual_seed(1)  # the same dropout masks in both runs
        saved = measure_saved_tensors(lambda mode=mode: gpt_loss(model, idx, targets, checkpoint_blocks=mode),
                                      exclude=params)
        saved.result.backward()
        results[mode] = (saved, gradients(model))
    plain, checkpointed = results[False][0].total_bytes, results[True][0].total_bytes
    block_inputs = config.n_layer * idx.numel() * config.d_model * 4
    assert checkpointed < plain / 2
    assert checkpointed > block_inputs  # the block inputs plus what lies outside the blocks (norm, logits, loss)
    for a, b in zip(results[False][1], results[True][1]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_gpt_loss_rejects_bad_input():
    model = GPT(CONFIG)
    idx, targets = make_batch()
    with pytest.raises(ValueError, match="int64"):
        gpt_loss(model, idx.float(), targets)
    with pytest.raises(ValueError, match="differ in shape"):
        gpt_loss(model, idx, targets[:, :-1])
    long_idx, long_targets = make_batch(length=CONFIG.block_size + 1)
    with pytest.raises(ValueError, match="block_size"):
        gpt_loss(model, long_idx, long_targets)
