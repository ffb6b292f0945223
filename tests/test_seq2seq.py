"""Seq2seq with additive attention: gradient checks, NumPy == PyTorch (float64), decoding, masks, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bigmodel_lib.gradcheck import check_gradients
from bigmodel_lib.nn_numpy import seq2seq as nseq
from bigmodel_lib.nn_numpy.losses import CrossEntropyLoss
from bigmodel_lib.nn_numpy.module import Module
from bigmodel_lib.nn_numpy.optim import Adam
from bigmodel_lib.nn_torch import seq2seq as tseq
from bigmodel_lib.nn_torch.attention import AdditiveAttention as TorchAdditiveAttention

SRC_V, TGT_V, E, H, A = 9, 7, 5, 6, 4
BOS, EOS = 1, 2
SRC = np.array([[4, 5, 6, 7, 8, 3], [5, 3, 4, 0, 0, 0], [8, 8, 7, 6, 5, 0]])
MASK = SRC != 0
TGT_IN = np.array([[1, 3, 4, 5], [1, 6, 5, 3], [1, 4, 4, 3]])


pytestmark = pytest.mark.usefixtures("float64_default")


def _pair(use_attention: bool, seed: int = 0):
    """A torch model with non-trivial float64 weights and the NumPy model loaded from it."""
    torch.manual_seed(seed)
    theirs = tseq.Seq2Seq(SRC_V, TGT_V, E, H, attention_dim=A, use_attention=use_attention).double()
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            p.normal_(0.0, 0.6)
            if name.endswith("embed.weight"):
                p[0] = 0.0  # the padding row stays zero, as Embedding(padding_idx=0) keeps it
    ours = nseq.Seq2Seq(SRC_V, TGT_V, E, H, attention_dim=A, use_attention=use_attention, dtype=np.float64)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def _t(a):
    return torch.from_numpy(np.asarray(a))


class _LogitsOnly(Module):
    def __init__(self, model):
        self.model = model

    def forward(self, src, tgt_in, src_mask):
        return self.model(src, tgt_in, src_mask)[0]

    def backward(self, g):
        return self.model.backward(g)


class _LogitsAndWeights(Module):
    def __init__(self, model):
        self.model = model

    def forward(self, src, tgt_in, src_mask):
        return self.model(src, tgt_in, src_mask)

    def backward(self, g):
        return self.model.backward(g)


@pytest.mark.parametrize("use_attention", [True, False], ids=["attention", "no-attention"])
def test_state_dict_keys_are_identical_in_both_packages(use_attention):
    ours, theirs = _pair(use_attention)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    has_attention = any(k.startswith("attention.") for k in ours.state_dict())
    assert has_attention == use_attention
    assert ours.state_dict()["decoder.weight_ih"].shape == (4 * H, E + H)  # fed [E y_{t-1}; c_t]
    assert ours.state_dict()["out.weight"].shape == (TGT_V, 2 * H)  # reads [s_t; c_t]


@pytest.mark.parametrize("use_attention", [True, False], ids=["attention", "no-attention"])
def test_numpy_backward_matches_finite_differences(use_attention):
    ours, _ = _pair(use_attention, seed=1)
    wrapper = _LogitsAndWeights(ours) if use_attention else _LogitsOnly(ours)
    result = check_gradients(wrapper, SRC, TGT_IN, MASK, max_entries=12, rtol=1e-5, atol=1e-7)
    checked = {name.split(".", 1)[1] for name in result.errors}
    assert set(ours.state_dict()) == checked  # every parameter, encoder and embeddings included


@pytest.mark.parametrize("use_attention", [True, False], ids=["attention", "no-attention"])
def test_numpy_and_torch_agree_on_logits_weights_and_every_gradient(use_attention):
    ours, theirs = _pair(use_attention, seed=2)
    logits, weights = ours(SRC, TGT_IN, MASK)
    logits_t, weights_t = theirs(_t(SRC), _t(TGT_IN), _t(MASK))
    np.testing.assert_allclose(logits, logits_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    rng = np.random.default_rng(0)
    g_logits = rng.standard_normal(logits.shape)
    loss = (logits_t * _t(g_logits)).sum()
    g_weights = None
    if use_attention:
        np.testing.assert_allclose(weights, weights_t.detach().numpy(), rtol=1e-10, atol=1e-12)
        g_weights = rng.standard_normal(weights.shape)
        loss = loss + (weights_t * _t(g_weights)).sum()
    else:
        assert weights is None and weights_t is None
    ours.zero_grad()
    ours(SRC, TGT_IN, MASK)
    assert ours.backward((g_logits, g_weights)) is None  # token ids get no gradient
    loss.backward()
    torch_grads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, torch_grads[name].grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=f"gradient of {name}")


def test_torch_hoisted_attention_equals_additive_attention_forward():
    _, theirs = _pair(True, seed=3)
    memory = theirs.encode(_t(SRC), _t(MASK))
    h = torch.randn(3, H)
    context, weights = theirs.attend(h, memory)
    reference = TorchAdditiveAttention(H, H, A)
    reference.load_state_dict(theirs.attention.state_dict())
    ref_context, ref_weights = reference(h[:, None], memory["enc_out"], memory["enc_out"], memory["mask"],
                                         need_weights=True)
    torch.testing.assert_close(context, ref_context[:, 0])
    torch.testing.assert_close(weights, ref_weights[:, 0])


def test_attention_weights_sum_to_one_over_real_characters_only():
    ours, _ = _pair(True, seed=4)
    _, weights = ours(SRC, TGT_IN, MASK)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-12)
    assert np.all(weights[~np.broadcast_to(MASK[:, None, :], weights.shape)] == 0.0)


@pytest.mark.parametrize("package", ["numpy", "torch"])
def test_extra_padding_changes_nothing(package):
    """A source's logits do not depend on how much padding its batch adds."""
    ours, theirs = _pair(True, seed=5)
    wide_src = np.concatenate([SRC, np.zeros((3, 4), dtype=SRC.dtype)], axis=1)
    wide_mask = wide_src != 0
    if package == "numpy":
        narrow, wide = ours(SRC, TGT_IN, MASK)[0], ours(wide_src, TGT_IN, wide_mask)[0]
    else:
        narrow = theirs(_t(SRC), _t(TGT_IN), _t(MASK))[0].detach().numpy()
        wide = theirs(_t(wide_src), _t(TGT_IN), _t(wide_mask))[0].detach().numpy()
    np.testing.assert_allclose(wide, narrow, rtol=1e-10, atol=1e-12)
    single = ours(SRC[1:2, :3], TGT_IN[1:2], MASK[1:2, :3])[0]  # the second row alone, unpadded
    np.testing.assert_allclose(single[0], narrow[1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("use_attention", [True, False], ids=["attention", "no-attention"])
def test_greedy_decoding_agrees_and_is_consistent_with_teacher_forcing(use_attention):
    ours, theirs = _pair(use_attention, seed=6)
    tokens, weights = ours.greedy_decode(SRC, 6, BOS, EOS, MASK, need_weights=True)
    tokens_t, weights_t = theirs.greedy_decode(_t(SRC), 6, BOS, EOS, _t(MASK), need_weights=True)
    np.testing.assert_array_equal(tokens, tokens_t.numpy())
    if use_attention:
        np.testing.assert_allclose(weights, weights_t.numpy(), rtol=1e-10, atol=1e-12)
    else:
        assert weights is None and weights_t is None
    assert tokens.dtype == np.int64 and tokens.shape[0] == 3 and tokens.shape[1] <= 6
    # Feeding the decoded tokens back with teacher forcing reproduces them as the argmax.
    tgt_in = np.concatenate([np.full((3, 1), BOS), tokens[:, :-1]], axis=1)
    logits, _ = ours(SRC, tgt_in, MASK)
    for row in range(3):
        ended = np.flatnonzero(tokens[row] == EOS)
        stop = ended[0] + 1 if ended.size else tokens.shape[1]
        np.testing.assert_array_equal(logits[row, :stop].argmax(axis=-1), tokens[row, :stop])
        assert np.all(tokens[row, stop:] == 0)  # after eos: padding


def test_greedy_decoding_stops_at_eos_and_leaves_pending_backward_intact():
    ours, _ = _pair(True, seed=7)
    ours.out.bias.data[:] = -10.0
    ours.out.bias.data[EOS] = 10.0  # every row ends at once
    ours.out.weight.data *= 0.0
    assert ours.greedy_decode(SRC, 8, BOS, EOS, MASK).tolist() == [[EOS], [EOS], [EOS]]

    ours, _ = _pair(True, seed=8)
    g = np.random.default_rng(1).standard_normal((3, 4, TGT_V))
    ours.zero_grad()
    ours(SRC, TGT_IN, MASK)
    ours.backward(g)
    expected = {n: p.grad.copy() for n, p in ours.named_parameters()}
    ours.zero_grad()
    ours(SRC, TGT_IN, MASK)
    ours.greedy_decode(SRC[:2, :3], 5, BOS, EOS)  # between forward and backward
    ours.backward(g)
    for name, p in ours.named_parameters():
        np.testing.assert_array_equal(p.grad, expected[name])


def test_numpy_training_on_a_tiny_copy_task_drives_the_loss_down():
    rng = np.random.default_rng(0)
    src = rng.integers(3, 7, size=(16, 4))
    model = nseq.Seq2Seq(SRC_V, SRC_V, 8, 16, rng=np.random.default_rng(0))
    tgt_in = np.concatenate([np.full((16, 1), BOS), src], axis=1)
    tgt_out = np.concatenate([src, np.full((16, 1), EOS)], axis=1)
    loss_fn, optimizer = CrossEntropyLoss(), Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(60):
        logits, _ = model(src, tgt_in)
        losses.append(float(loss_fn(logits, tgt_out)))
        optimizer.zero_grad()
        model.backward(loss_fn.backward())
        optimizer.step()
    assert losses[-1] < 0.25 * losses[0], losses[::10]


# -- bad input ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("package", ["numpy", "torch"])
@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((SRC.astype(np.float64), TGT_IN, MASK), TypeError, r"'src' must have an integer dtype"),
        ((SRC[0], TGT_IN, None), ValueError, r"'src' expected shape \(B, S\) \(2 dims\), got \(6,\)"),
        ((SRC, TGT_IN, MASK.astype(np.int64)), TypeError, r"'src_mask' must have dtype bool"),
        ((SRC, TGT_IN, MASK[:, :4]), ValueError, r"'src_mask' expected the shape of 'src' \(3, 6\), got \(3, 4\)"),
        ((SRC, TGT_IN, ~MASK), ValueError, r"must be True at position 0"),
        ((SRC, TGT_IN, np.array([[1, 0, 1, 1, 1, 1]] * 3, bool)), ValueError, r"must be right-padded"),
        ((SRC, TGT_IN[:2], MASK), ValueError, r"'tgt_in' expected batch size 3 \(that of 'src'\), got \(2, 4\)"),
        ((SRC + 10, TGT_IN, MASK), ValueError, r"'ids' must be in \[0, 9\)"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(package, args, error, message):
    ours, theirs = _pair(True)
    model, convert = (ours, lambda a: a) if package == "numpy" else (theirs, lambda a: None if a is None else _t(a))
    with pytest.raises(error, match=message):
        model(*(convert(a) for a in args))


@pytest.mark.parametrize("package", ["numpy", "torch"])
def test_greedy_decode_refuses_bad_arguments(package):
    ours, theirs = _pair(True)
    model, src = (ours, SRC) if package == "numpy" else (theirs, _t(SRC))
    with pytest.raises(ValueError, match=r"'max_len' must be a positive int, got 0"):
        model.greedy_decode(src, 0, BOS, EOS)
    with pytest.raises(ValueError, match=r"'bos' must be a token id in \[0, 7\), got 7"):
        model.greedy_decode(src, 3, 7, EOS)


def test_constructor_and_backward_misuse():
    with pytest.raises(ValueError, match="'hidden_size' must be a positive int, got 0"):
        nseq.Seq2Seq(5, 5, 4, 0)
    with pytest.raises(ValueError, match="'attention_dim' must be a positive int"):
        tseq.Seq2Seq(5, 5, 4, 4, attention_dim=-1)
    model = nseq.Seq2Seq(5, 5, 4, 4, use_attention=False)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        model.backward(np.zeros((1, 1, 5)))
    model(np.array([[3, 4]]), np.array([[1, 3]]))
    with pytest.raises(ValueError, match="no attention"):
        model.backward((np.zeros((1, 2, 5), np.float32), np.zeros((1, 2, 2), np.float32)))
    with pytest.raises(ValueError, match=r"'grad_out' expected the forward output's shape \(1, 2, 5\)"):
        model.backward(np.zeros((1, 3, 5), np.float32))
