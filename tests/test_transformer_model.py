"""The full encoder-decoder Transformer: gradients, NumPy == PyTorch, training agreement, learning, bad input."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
import torch

from bigmodel_lib import nn_numpy, nn_torch
from bigmodel_lib.gradcheck import check_gradients
from bigmodel_lib.nn_numpy import transformer_model as np_tm
from bigmodel_lib.nn_torch import transformer_model as t_tm

PAD, BOS, EOS = 0, 1, 2
TINY = {"src_vocab": 7, "tgt_vocab": 9, "d_model": 8, "num_heads": 2, "d_ff": 12,
        "num_encoder_layers": 2, "num_decoder_layers": 2, "max_len": 16, "pad_id": PAD}


def _ids(rng: np.random.Generator, batch: int, length: int, vocab: int, pad_from: dict[int, int]) -> np.ndarray:
    """Random ids in [3, vocab), row ``b`` right-padded with PAD from column ``pad_from[b]``."""
    ids = rng.integers(3, vocab, (batch, length))
    for row, start in pad_from.items():
        ids[row, start:] = PAD
    return ids


def _pair(norm_first: bool, seed: int = 0, **overrides):
    cfg = {**TINY, **overrides}
    numpy_model = np_tm.Transformer(**cfg, norm_first=norm_first, dtype=np.float64, rng=np.random.default_rng(seed))
    torch_model = t_tm.Transformer(**cfg, norm_first=norm_first, dtype=torch.float64)
    torch_model.load_state_dict(numpy_model.state_dict())
    return numpy_model, torch_model


def test_state_dict_keys_are_identical_and_named_as_documented():
    for norm_first in (False, True):
        numpy_model, torch_model = _pair(norm_first)
        keys = list(numpy_model.state_dict())
        assert keys == list(torch_model.state_dict())
        assert keys[:2] == ["src_embed.weight", "tgt_embed.weight"]
        assert keys[-2:] == ["output_proj.weight", "output_proj.bias"]
        assert "encoder.layers.1.ffn.linear2.bias" in keys and "decoder.layers.1.cross_attn.in_proj.weight" in keys
        assert ("encoder.norm.weight" in keys) == ("decoder.norm.bias" in keys) == norm_first
        numpy_model.load_state_dict(torch_model.state_dict())  # and back


def test_token_embedding_is_scaled_lookup_and_positions_are_added():
    emb = np_tm.TokenEmbedding(5, 4, padding_idx=0, dtype=np.float64, rng=np.random.default_rng(0))
    ids = np.array([[1, 0, 3]])
    np.testing.assert_allclose(emb(ids), 2.0 * emb.weight.data[ids])  # sqrt(4) = 2
    assert np.all(emb(ids)[0, 1] == 0)  # the padding row
    model, _ = _pair(False)
    x = model.src_pos(model.src_embed(ids))
    table = nn_numpy.sinusoidal_positional_encoding(3, 8, dtype=np.float64)
    np.testing.assert_allclose((x - model.src_embed(ids))[0], table)


@pytest.mark.parametrize("norm_first", [False, True])
def test_gradients_every_parameter(norm_first):
    model, _ = _pair(norm_first, num_encoder_layers=1, num_decoder_layers=2)
    # The padding rows get no gradient by design (as torch's padding_idx); let them have the true one here so
    # finite differences can check every entry, while the source padding mask is still built from pad_id.
    model.src_embed.padding_idx = model.tgt_embed.padding_idx = None
    rng = np.random.default_rng(3)
    src = _ids(rng, 2, 5, 7, {1: 3})
    tgt = _ids(rng, 2, 4, 9, {0: 3})
    result = check_gradients(model, src, tgt, max_entries=4, seed=1)
    assert set(result.errors) == {name for name, _ in model.named_parameters()}


@pytest.mark.parametrize("norm_first", [False, True])
def test_numpy_equals_torch_logits_and_every_gradient(norm_first, float64_default):
    numpy_model, torch_model = _pair(norm_first)
    rng = np.random.default_rng(4)
    src = _ids(rng, 3, 6, 7, {0: 4, 2: 1})
    tgt = _ids(rng, 3, 5, 9, {1: 2})
    logits = numpy_model(src, tgt)
    torch_logits = torch_model(torch.from_numpy(src), torch.from_numpy(tgt))
    np.testing.assert_allclose(logits, torch_logits.detach().numpy(), rtol=1e-10, atol=1e-12)
    grad = rng.standard_normal(logits.shape)
    assert numpy_model.backward(grad) == (None, None)
    (torch_logits * torch.from_numpy(grad)).sum().backward()
    torch_grads = {name: p.grad.numpy() for name, p in torch_model.named_parameters()}
    for name, p in numpy_model.named_parameters():
        np.testing.assert_allclose(p.grad, torch_grads[name], rtol=1e-9, atol=1e-12, err_msg=name)
    # encode / decode compose to forward; greedy decoding agrees too
    memory = numpy_model.encode(src)
    np.testing.assert_allclose(numpy_model.decode(tgt, memory, numpy_model.source_mask(src)), logits)
    out = numpy_model.greedy_decode(src, BOS, EOS, 6)
    np.testing.assert_array_equal(out, torch_model.greedy_decode(torch.from_numpy(src), BOS, EOS, 6).numpy())


def _copy_batches(steps: int, batch: int, length: int, vocab: int, seed: int):
    """Copy-task batches with variable lengths: (src, tgt_in = [BOS] + src, tgt_out = src + [EOS]), PAD-padded."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        lengths = rng.integers(2, length + 1, batch)
        src = np.full((batch, length), PAD)
        tgt_in = np.full((batch, length + 1), PAD)
        tgt_out = np.full((batch, length + 1), PAD)
        for b, n in enumerate(lengths):
            tokens = rng.integers(3, vocab, n)
            src[b, :n] = tokens
            tgt_in[b, 0], tgt_in[b, 1:n + 1] = BOS, tokens
            tgt_out[b, :n], tgt_out[b, n] = tokens, EOS
        yield src, tgt_in, tgt_out


@pytest.mark.parametrize("norm_first", [False, True])
def test_numpy_and_torch_adam_training_agree(norm_first, float64_default):
    cfg = {"src_vocab": 8, "tgt_vocab": 8, "num_encoder_layers": 1, "num_decoder_layers": 1}
    numpy_model, torch_model = _pair(norm_first, seed=5, **cfg)
    numpy_opt = nn_numpy.Adam(numpy_model.parameters(), lr=1e-2)
    torch_opt = torch.optim.Adam(torch_model.parameters(), lr=1e-2)
    criterion = nn_numpy.CrossEntropyLoss(ignore_index=PAD)
    torch_criterion = nn_torch.CrossEntropyLoss(ignore_index=PAD)
    numpy_losses, torch_losses = [], []
    for src, tgt_in, tgt_out in _copy_batches(50, 16, 5, 8, seed=6):
        numpy_opt.zero_grad()
        loss = criterion(numpy_model(src, tgt_in), tgt_out)
        numpy_model.backward(criterion.backward())
        numpy_opt.step()
        numpy_losses.append(float(loss))

        torch_opt.zero_grad()
        t_logits = torch_model(torch.from_numpy(src), torch.from_numpy(tgt_in))
        t_loss = torch_criterion(t_logits, torch.from_numpy(tgt_out))
        t_loss.backward()
        torch_opt.step()
        torch_losses.append(t_loss.item())
    np.testing.assert_allclose(numpy_losses, torch_losses, rtol=1e-6)
    assert numpy_losses[-1] < 0.5 * numpy_losses[0], "the model should be learning"
    for name, value in torch_model.state_dict().items():
        np.testing.assert_allclose(numpy_model.state_dict()[name], value.numpy(), rtol=1e-6, atol=1e-9, err_msg=name)


def test_numpy_transformer_learns_to_reverse_held_out_sequences():
    """Reverse 5 tokens over 5 symbols (vocab 8 with PAD/BOS/EOS): 100% greedy accuracy on 300 unseen sequences."""
    vocab, length, batch = 8, 5, 64
    sequences = np.array(list(itertools.product(range(3, vocab), repeat=length)))  # all 5^5 = 3125
    rng = np.random.default_rng(0)
    order = rng.permutation(len(sequences))
    held_out, train = sequences[order[:300]], sequences[order[300:]]
    model = np_tm.Transformer(vocab, vocab, 16, 2, 32, 1, 1, max_len=16, rng=np.random.default_rng(0))
    opt = nn_numpy.Adam(model.parameters(), lr=1e-2)
    criterion = nn_numpy.CrossEntropyLoss(ignore_index=PAD)
    start = time.perf_counter()
    for _ in range(150):
        src = train[rng.integers(0, len(train), batch)]
        target = src[:, ::-1]
        tgt_in = np.concatenate([np.full((batch, 1), BOS), target], axis=1)
        tgt_out = np.concatenate([target, np.full((batch, 1), EOS)], axis=1)
        opt.zero_grad()
        criterion(model(src, tgt_in), tgt_out)
        model.backward(criterion.backward())
        opt.step()
    elapsed = time.perf_counter() - start
    out = model.greedy_decode(held_out, BOS, EOS, length + 1)
    expected = np.concatenate([held_out[:, ::-1], np.full((len(held_out), 1), EOS)], axis=1)
    assert out.shape == expected.shape
    accuracy = float(np.mean(np.all(out == expected, axis=1)))
    assert accuracy == 1.0, f"held-out sequence accuracy {accuracy:.3f} after {elapsed:.1f}s"
    assert model.training  # greedy_decode restores the mode


def test_greedy_decode_stops_at_eos_and_pads_after_it():
    model, torch_model = _pair(False)
    model.output_proj.bias.data[:] = 0
    model.output_proj.weight.data[:] = 0
    model.output_proj.bias.data[EOS] = 1.0  # always predicts EOS
    src = np.array([[3, 4, 5], [6, 0, 0]])
    np.testing.assert_array_equal(model.greedy_decode(src, BOS, EOS, 5), [[EOS], [EOS]])
    torch_model.load_state_dict(model.state_dict())
    np.testing.assert_array_equal(torch_model.greedy_decode(torch.from_numpy(src), BOS, EOS, 5).numpy(),
                                  [[EOS], [EOS]])


@pytest.mark.parametrize("package", ["numpy", "torch"])
def test_bad_input_is_refused(package):
    numpy_model, torch_model = _pair(False)
    model = numpy_model if package == "numpy" else torch_model
    to = (lambda a: a) if package == "numpy" else torch.from_numpy
    src, tgt = to(np.array([[3, 4, 5]])), to(np.array([[1, 3]]))
    with pytest.raises(ValueError, match=r"'src_ids' values must be in \[0, 7\), got values in \[3, 7\]"):
        model(to(np.array([[3, 4, 7]])), tgt)
    with pytest.raises(ValueError, match=r"'tgt_in_ids' values must be in \[0, 9\), got values in \[-1, 3\]"):
        model(src, to(np.array([[-1, 3]])))
    with pytest.raises(ValueError, match=r"'src_ids' expected 2 dims \(B, L\) of token ids, got shape \(3,\)"):
        model(to(np.array([3, 4, 5])), tgt)
    with pytest.raises(ValueError, match=r"'tgt_in_ids' expected batch size 1 \(that of 'src_ids' \(1, 3\)\), "
                                         r"got shape \(2, 2\)"):
        model(src, to(np.array([[1, 3], [1, 4]])))
    with pytest.raises(TypeError, match="'src_ids' must hold integer token ids, got dtype float64"):
        model(to(np.array([[3.0, 4.0]])), tgt)
    with pytest.raises(ValueError, match=r"'tgt_in_ids' expected a length 1 <= L <= max_len=16, got shape \(1, 17\)"):
        model(src, to(np.full((1, 17), 3)))
    with pytest.raises(TypeError, match="'src_ids' must be a"):
        model([[3, 4]], tgt)
    with pytest.raises(ValueError, match=r"'memory' expected shape \(1, L, 8\)"):
        model.decode(tgt, to(np.zeros((2, 3, 8))))
    with pytest.raises(ValueError, match="'eos_id' must be an int in"):
        model.greedy_decode(src, BOS, 9, 4)
    cls = np_tm.Transformer if package == "numpy" else t_tm.Transformer
    with pytest.raises(ValueError, match=r"'pad_id' must be an int in .* = \[0, 7\) or None, got 7"):
        cls(**{**TINY, "pad_id": 7})
    with pytest.raises(ValueError, match="d_model"):
        cls(**{**TINY, "d_model": 9})
    if package == "numpy":
        with pytest.raises(RuntimeError, match="backward called before forward"):
            np_tm.Transformer(**TINY).backward(np.zeros((1, 2, 9)))


def test_torch_model_keeps_the_fused_attention_path(fused_sdpa_calls):
    calls = fused_sdpa_calls
    model = t_tm.Transformer(**TINY)  # float32, 2 encoder + 2 decoder layers
    logits = model(torch.tensor([[3, 4, 0]]), torch.tensor([[1, 3]]))
    assert logits.shape == (1, 2, 9) and logits.dtype == torch.float32
    assert len(calls) == 2 + 2 * 2  # every self- and cross-attention took the fused path
