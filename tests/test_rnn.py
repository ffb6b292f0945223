"""Recurrent layers: BPTT gradient checks, agreement with torch.nn.RNN/LSTM (float64), interchange, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bigmodel_lib import nn_numpy as nrnn
from bigmodel_lib import nn_torch as trnn
from bigmodel_lib.gradcheck import check_gradients, numerical_gradient
from bigmodel_lib.nn_numpy.module import Module

B, T, IN, H = 3, 5, 4, 6
RNG = np.random.default_rng(7)
X = RNG.standard_normal((B, T, IN))
H0 = RNG.standard_normal((1, B, H))
C0 = RNG.standard_normal((1, B, H))
LENGTHS = np.array([5, 2, 4])


pytestmark = pytest.mark.usefixtures("float64_default")


def _randomize(module: torch.nn.Module, seed: int = 0, scale: float = 0.5) -> torch.nn.Module:
    """Non-default weights (and float64), so that a mixed-up gate or transposed matrix shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=generator, dtype=torch.float64) * scale)
    return module.double()


class _FlatLSTM(Module):
    """``(output, h_n, c_n)`` as a flat tuple, so ``check_gradients`` can drive an LSTM."""

    def __init__(self, lstm: nrnn.LSTM) -> None:
        self.lstm = lstm

    def forward(self, x, h0=None, c0=None, **kwargs):
        output, (h_n, c_n) = self.lstm(x, None if h0 is None else (h0, c0), **kwargs)
        return output, h_n, c_n

    def backward(self, grad):
        result = self.lstm.backward((grad[0], (grad[1], grad[2])))
        if isinstance(result, tuple):
            dx, (dh0, dc0) = result
            return dx, dh0, dc0
        return result


class _FlatLSTMCell(Module):
    def __init__(self, cell: nrnn.LSTMCell) -> None:
        self.cell = cell

    def forward(self, x, h, c):
        return self.cell(x, (h, c))

    def backward(self, grad):
        dx, (dh, dc) = self.cell.backward(grad)
        return dx, dh, dc


# -- gradient checks (finite differences, float64) ---------------------------------------------------------


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "padded"])
def test_rnn_bptt_matches_finite_differences_including_initial_state(nonlinearity, lengths):
    layer = nrnn.RNN(IN, H, nonlinearity=nonlinearity, rng=np.random.default_rng(0)).double()
    result = check_gradients(layer, X.copy(), H0.copy(), lengths=lengths)
    assert set(result.errors) == {"input[0]", "input[1]", "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"}


def test_rnn_without_initial_state_or_bias():
    layer = nrnn.RNN(IN, H, bias=False, rng=np.random.default_rng(1)).double()
    assert [name for name, _ in layer.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    check_gradients(layer, X.copy())


@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "padded"])
def test_lstm_bptt_matches_finite_differences_including_initial_state(lengths):
    layer = nrnn.LSTM(IN, H, rng=np.random.default_rng(2)).double()
    result = check_gradients(_FlatLSTM(layer), X.copy(), H0.copy(), C0.copy(), lengths=lengths)
    assert {"input[1]", "input[2]", "lstm.weight_hh_l0"} <= set(result.errors)


def test_lstm_gradient_through_final_cell_state_only():
    """A loss on c_n alone reaches x only through the cell state's additive path."""
    layer = nrnn.LSTM(IN, H, rng=np.random.default_rng(3)).double()
    g_c = RNG.standard_normal((1, B, H))
    layer(X, (H0, C0))
    dx, (dh0, dc0) = layer.backward((None, (None, g_c)))

    def loss():
        return float(np.sum(layer(X, (H0, C0))[1][1] * g_c))

    for array, grad in ((X, dx), (H0, dh0), (C0, dc0)):
        numeric = numerical_gradient(loss, array)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)


def test_cells_match_finite_differences():
    rng = np.random.default_rng(4)
    x, h, c = rng.standard_normal((B, IN)), rng.standard_normal((B, H)), rng.standard_normal((B, H))
    check_gradients(nrnn.RNNCell(IN, H, rng=rng).double(), x, h)
    check_gradients(nrnn.RNNCell(IN, H, nonlinearity="relu", rng=rng).double(), x, h)
    check_gradients(_FlatLSTMCell(nrnn.LSTMCell(IN, H, rng=rng).double()), x, h, c)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_rnn_with_output_layer_gradients(kind):
    model = nrnn.RNNWithOutput(IN, H, 3, kind=kind, rng=np.random.default_rng(5)).double()

    class _OutputOnly(Module):  # y only (the final state is checked above)
        def __init__(self, inner):
            self.inner = inner

        def forward(self, x):
            return self.inner(x)[0]

        def backward(self, g):
            return self.inner.backward(g)

    result = check_gradients(_OutputOnly(model), X.copy())
    assert "inner.out.weight" in result.errors and "inner.out.bias" in result.errors


# -- agreement with PyTorch's built-ins ----------------------------------------------------------------------


def _torch_pass(module, x, state, lengths, g_out, g_state):
    """Run a built-in (batch_first) RNN/LSTM, packed when ``lengths`` is given; return outputs and grads."""
    xt = torch.tensor(x, requires_grad=True)
    is_lstm = isinstance(module, torch.nn.LSTM)
    st = tuple(torch.tensor(s, requires_grad=True) for s in state)
    hx = st if is_lstm else st[0]
    if lengths is None:
        out, final = module(xt, hx)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), batch_first=True,
                                                         enforce_sorted=False)
        out, final = module(packed, hx)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    finals = final if is_lstm else (final,)
    loss = (out * torch.from_numpy(g_out)).sum() + sum((f * torch.from_numpy(g)).sum() for f, g in zip(finals, g_state))
    module.zero_grad()
    loss.backward()
    grads = {name: p.grad.numpy().copy() for name, p in module.named_parameters()}
    return (out.detach().numpy(), [f.detach().numpy() for f in finals], xt.grad.numpy(),
            [s.grad.numpy() for s in st], grads)


def _numpy_pass(layer, x, state, lengths, g_out, g_state):
    layer.zero_grad()
    is_lstm = isinstance(layer, nrnn.LSTM)
    out, final = layer(x, tuple(state) if is_lstm else state[0], lengths=lengths)
    finals = list(final) if is_lstm else [final]
    dx, dstate = layer.backward((g_out, tuple(g_state) if is_lstm else g_state[0]))
    dstates = list(dstate) if is_lstm else [dstate]
    return out, finals, dx, dstates, {name: p.grad.copy() for name, p in layer.named_parameters()}


def _assert_same(ours, theirs):
    names = ["output", "final states", "dL/dx", "dL/d initial state"]
    for name, a, b in zip(names, ours[:4], theirs[:4]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12, err_msg=name)
    assert list(ours[4]) == list(theirs[4])
    for name in ours[4]:
        np.testing.assert_allclose(ours[4][name], theirs[4][name], rtol=1e-10, atol=1e-12,
                                   err_msg=f"gradient of {name}")


@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "packed"])
@pytest.mark.parametrize("kind", ["rnn", "rnn-relu", "lstm"])
def test_from_pytorch_agrees_with_builtin_in_outputs_states_and_every_gradient(kind, lengths):
    torch.manual_seed(0)
    if kind == "lstm":
        builtin = _randomize(torch.nn.LSTM(IN, H, batch_first=True))
        ours, state = nrnn.LSTM.from_pytorch(builtin), [H0, C0]
    else:
        builtin = _randomize(torch.nn.RNN(IN, H, batch_first=True, nonlinearity=kind[4:] or "tanh"))
        ours, state = nrnn.RNN.from_pytorch(builtin), [H0]
    assert list(ours.state_dict()) == list(builtin.state_dict())
    g_out = RNG.standard_normal((B, T, H))
    g_state = [RNG.standard_normal((1, B, H)) for _ in state]
    theirs = _torch_pass(builtin, X, state, lengths, g_out, g_state)
    _assert_same(_numpy_pass(ours, X, state, lengths, g_out, g_state), theirs)
    # The torch twin (a subclass of the built-in) gives the same numbers, lengths handled inside.
    twin = (trnn.LSTM if kind == "lstm" else trnn.RNN).from_pytorch(builtin)
    xt = torch.tensor(X)
    st = tuple(torch.tensor(s) for s in state)
    out, final = twin(xt, st if kind == "lstm" else st[0], lengths=None if lengths is None else torch.tensor(lengths))
    np.testing.assert_allclose(out.detach().numpy(), theirs[0], rtol=1e-12, atol=1e-14)
    finals = final if kind == "lstm" else (final,)
    for a, b in zip(finals, theirs[1]):
        np.testing.assert_allclose(a.detach().numpy(), b, rtol=1e-12, atol=1e-14)


def test_cells_agree_with_builtin_cells():
    rng = np.random.default_rng(8)
    x, h, c = rng.standard_normal((B, IN)), rng.standard_normal((B, H)), rng.standard_normal((B, H))
    g_h, g_c = rng.standard_normal((B, H)), rng.standard_normal((B, H))

    builtin = _randomize(torch.nn.RNNCell(IN, H))
    ours = nrnn.RNNCell.from_pytorch(builtin)
    xt, ht = torch.tensor(x, requires_grad=True), torch.tensor(h, requires_grad=True)
    out = builtin(xt, ht)
    (out * torch.from_numpy(g_h)).sum().backward()
    np.testing.assert_allclose(ours(x, h), out.detach().numpy(), rtol=1e-12)
    dx, dh = ours.backward(g_h)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(dh, ht.grad.numpy(), rtol=1e-10)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, dict(builtin.named_parameters())[name].grad.numpy(), rtol=1e-10)

    builtin = _randomize(torch.nn.LSTMCell(IN, H))
    ours = nrnn.LSTMCell.from_pytorch(builtin)
    xt, ht, ct = (torch.tensor(a, requires_grad=True) for a in (x, h, c))
    h_new, c_new = builtin(xt, (ht, ct))
    ((h_new * torch.from_numpy(g_h)).sum() + (c_new * torch.from_numpy(g_c)).sum()).backward()
    ours_h, ours_c = ours(x, (h, c))
    np.testing.assert_allclose(ours_h, h_new.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours_c, c_new.detach().numpy(), rtol=1e-12)
    dx, (dh, dc) = ours.backward((g_h, g_c))
    for a, b in ((dx, xt), (dh, ht), (dc, ct)):
        np.testing.assert_allclose(a, b.grad.numpy(), rtol=1e-10)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, dict(builtin.named_parameters())[name].grad.numpy(), rtol=1e-10)
    twin = trnn.LSTMCell.from_pytorch(builtin)
    torch.testing.assert_close(twin(torch.tensor(x), (torch.tensor(h), torch.tensor(c)))[1], c_new.detach())


def test_state_grads_are_the_gradients_reaching_each_hidden_state():
    """``state_grads[:, t]`` is dL/dh_t, as autograd finds it on an unrolled cell (what 04.2 plots)."""
    for kind in ("rnn", "lstm"):
        builtin = _randomize(torch.nn.RNN(IN, H, batch_first=True) if kind == "rnn"
                             else torch.nn.LSTM(IN, H, batch_first=True), seed=1)
        ours = (nrnn.RNN if kind == "rnn" else nrnn.LSTM).from_pytorch(builtin)
        g_out = np.zeros((B, T, H))
        g_out[:, -1] = RNG.standard_normal((B, H))  # a loss on the last step only
        ours(X)
        ours.backward(g_out)
        cell = torch.nn.RNNCell(IN, H) if kind == "rnn" else torch.nn.LSTMCell(IN, H)
        cell.load_state_dict({k[:-3]: v for k, v in builtin.state_dict().items()})  # weight_ih_l0 -> weight_ih
        h = c = torch.zeros(B, H)
        states = []
        for t in range(T):
            if kind == "rnn":
                h = cell(torch.tensor(X[:, t]), h)
            else:
                h, c = cell(torch.tensor(X[:, t]), (h, c))
            h.retain_grad()
            states.append(h)
        (states[-1] * torch.from_numpy(g_out[:, -1])).sum().backward()
        expected = np.stack([s.grad.numpy() for s in states], axis=1)
        np.testing.assert_allclose(ours.state_grads, expected, rtol=1e-10, atol=1e-14)


# -- the PyTorch twins and state_dict interchange ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_numpy_and_torch_twins_interchange_state_dicts(kind):
    torch.manual_seed(3)
    twin = trnn.RNNWithOutput(IN, H, 2, kind=kind, dtype=torch.float64)
    ours = nrnn.RNNWithOutput(IN, H, 2, kind=kind, dtype=np.float64)
    assert list(ours.state_dict()) == list(twin.state_dict())
    ours.load_state_dict(twin.state_dict())
    y, _ = ours(X)
    yt, _ = twin(torch.tensor(X))
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12)
    # And back: float32 NumPy weights into a float64 twin keep the twin's dtype.
    single = nrnn.RNNWithOutput(IN, H, 2, kind=kind, rng=np.random.default_rng(0))
    twin.load_state_dict(single.state_dict())
    assert twin.rnn.weight_hh_l0.dtype == torch.float64
    np.testing.assert_allclose(twin.out.weight.detach().numpy(), single.out.weight.data, rtol=1e-7)


def test_torch_twins_are_the_fused_builtins():
    assert isinstance(trnn.RNN(IN, H), torch.nn.RNN) and trnn.RNN(IN, H).batch_first
    assert isinstance(trnn.LSTM(IN, H), torch.nn.LSTM) and trnn.LSTM(IN, H).num_layers == 1


def test_padded_steps_keep_the_state_and_output_zeros():
    layer = nrnn.LSTM(IN, H, rng=np.random.default_rng(9)).double()
    out, (h_n, c_n) = layer(X, lengths=LENGTHS)
    for b, n in enumerate(LENGTHS):
        alone, (h_alone, c_alone) = layer(X[b : b + 1, :n])
        np.testing.assert_allclose(out[b, :n], alone[0], rtol=1e-12)
        np.testing.assert_array_equal(out[b, n:], 0.0)
        np.testing.assert_allclose(h_n[0, b], h_alone[0, 0], rtol=1e-12)
        np.testing.assert_allclose(c_n[0, b], c_alone[0, 0], rtol=1e-12)


def test_init_gate_biases_sets_the_summed_bias_in_both_packages():
    ours = nrnn.LSTM(IN, H).init_gate_biases(forget=4.0, input=-4.0)
    twin = trnn.LSTM(IN, H).init_gate_biases(forget=4.0, input=-4.0)
    for total in (ours.bias_ih_l0.data + ours.bias_hh_l0.data, (twin.bias_ih_l0 + twin.bias_hh_l0).detach().numpy()):
        np.testing.assert_allclose(total[:H], -4.0)
        np.testing.assert_allclose(total[H : 2 * H], 4.0)
    assert not np.allclose(ours.bias_ih_l0.data[2 * H :], 0.0)  # g and o untouched
    with pytest.raises(ValueError, match="bias=False"):
        nrnn.LSTM(IN, H, bias=False).init_gate_biases()


def test_float32_stays_float32():
    layer = nrnn.LSTM(IN, H)
    out, (h_n, _) = layer(X.astype(np.float32))
    assert out.dtype == np.float32 and h_n.dtype == np.float32
    assert layer.backward(np.ones_like(out)).dtype == np.float32


# -- bad input ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("package", [nrnn, trnn], ids=["numpy", "torch"])
@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda m, a: m.RNN(4, 6)(a(np.zeros((3, 4)))), ValueError,
         r"RNN: 'x' expected shape \(B, T, 4\) \(batch first\) \(3 dims\), got \(3, 4\)"),
        (lambda m, a: m.LSTM(4, 6)(a(np.zeros((2, 3, 5)))), ValueError,
         r"LSTM: 'x' expected shape \(\.\.\., 4\), got \(2, 3, 5\)"),
        (lambda m, a: m.RNN(4, 6)(a(np.zeros((2, 3, 4), np.int64))), TypeError,
         r"'x' must have a floating-point dtype, got int64"),
        (lambda m, a: m.RNN(4, 6)(a(np.zeros((2, 0, 4)))), ValueError, r"at least one time step"),
        (lambda m, a: m.RNN(4, 6, dtype=_dt(m))(a(np.zeros((2, 3, 4))), a(np.zeros((2, 6)))), ValueError,
         r"RNN: 'h0' expected shape \(1, 2, 6\), got \(2, 6\)"),
        (lambda m, a: m.LSTM(4, 6, dtype=_dt(m))(a(np.zeros((2, 3, 4))),
                                                  (a(np.zeros((1, 2, 6))), a(np.zeros((1, 2, 5))))), ValueError,
         r"LSTM: 'c0' expected shape \(1, 2, 6\), got \(1, 2, 5\)"),
        (lambda m, a: m.LSTM(4, 6)(a(np.zeros((2, 3, 4))), a(np.zeros((1, 2, 6)))), TypeError,
         r"'state' must be a tuple \(h0, c0\)"),
        (lambda m, a: m.RNN(4, 6, dtype=_dt(m))(a(np.zeros((2, 3, 4))), lengths=a(np.array([3, 4]))), ValueError,
         r"'lengths' must be in \[1, 3\] \(the number of time steps\), got values in \[3, 4\]"),
        (lambda m, a: m.RNN(4, 6, dtype=_dt(m))(a(np.zeros((2, 3, 4))), lengths=a(np.array([3]))), ValueError,
         r"'lengths' expected shape \(2,\)"),
        (lambda m, a: m.RNN(4, 6, dtype=_dt(m))(a(np.zeros((2, 3, 4))), lengths=a(np.array([3.0, 1.0]))), TypeError,
         r"'lengths' must have an integer dtype"),
        (lambda m, a: m.LSTMCell(4, 6)(a(np.zeros((2, 3, 4)))), ValueError, r"LSTMCell: 'x' expected shape \(B, 4\)"),
        (lambda m, a: m.RNN(4, 6, nonlinearity="sigmoid"), ValueError,
         r"'nonlinearity' must be one of \('tanh', 'relu'\)"),
        (lambda m, a: m.RNNWithOutput(4, 6, 2, kind="gru"), ValueError, r"'kind' must be one of \('rnn', 'lstm'\)"),
        (lambda m, a: m.LSTM(0, 6), ValueError, r"'input_size' must be a positive int, got 0"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(package, call, error, message):
    as_input = (lambda a: a) if package is nrnn else (lambda a: torch.from_numpy(a))
    with pytest.raises(error, match=message):
        call(package, as_input)


def _dt(package):
    return np.float64 if package is nrnn else torch.float64


def test_numpy_models_refuse_tensors_and_backward_before_forward():
    with pytest.raises(TypeError, match=r"'x' must be a NumPy array, got Tensor"):
        nrnn.RNN(4, 6)(torch.zeros(2, 3, 4))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        nrnn.LSTM(4, 6).backward(np.zeros((2, 3, 6)))
    layer = nrnn.RNN(4, 6)
    layer(np.zeros((2, 3, 4), np.float32))
    with pytest.raises(ValueError, match=r"'grad_out' expected the forward output's shape \(2, 3, 6\), got \(2, 6\)"):
        layer.backward(np.zeros((2, 6), np.float32))


@pytest.mark.parametrize("package", [nrnn, trnn], ids=["numpy", "torch"])
def test_from_pytorch_refuses_layouts_it_cannot_represent(package):
    with pytest.raises(ValueError, match="expected num_layers=1, got 2"):
        package.LSTM.from_pytorch(torch.nn.LSTM(4, 6, num_layers=2))
    with pytest.raises(ValueError, match="expected bidirectional=False"):
        package.RNN.from_pytorch(torch.nn.RNN(4, 6, bidirectional=True))
    with pytest.raises(ValueError, match="expected proj_size=0, got 3"):
        package.LSTM.from_pytorch(torch.nn.LSTM(4, 6, proj_size=3))
    with pytest.raises(TypeError, match="expected a torch.nn.LSTM, got GRU"):
        package.LSTM.from_pytorch(torch.nn.GRU(4, 6))
