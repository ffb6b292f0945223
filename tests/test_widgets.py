"""The attention widgets and capture_attention, headless: controls really change the picture.

Widgets are built without a front end (ipywidgets then talks to no one), their controls are set
from code as a learner's mouse would, and the rendered PNG is decoded and compared.
"""

from __future__ import annotations

import base64
import subprocess
import sys

import numpy as np
import pytest
import torch

from bigmodel_lib import nn_numpy, nn_torch
from bigmodel_lib.nn_numpy.functional import softmax
from bigmodel_lib.viz.capture import AttentionCapture, capture_attention, find_attention_modules
from bigmodel_lib.viz.widgets import (
    AttentionExplorer,
    MaskPlayground,
    PositionalEncodingExplorer,
    SoftmaxTemperaturePlayground,
)
from tests.pictures import WIDGET_VIEW, assert_picture_changed, pixels


def random_weights(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return softmax(np.random.default_rng(seed).standard_normal(shape) * 2.5)


# -- a small encoder-decoder in PyTorch, built from library modules -----------------------------------------


class TinySeq2Seq(nn_torch.Module):
    """Encoder self-attention, decoder causal self-attention, cross-attention: one of each."""

    def __init__(self, d_model: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.encoder_attn = nn_torch.MultiHeadAttention(d_model, heads)
        self.decoder_attn = nn_torch.MultiHeadAttention(d_model, heads)
        self.cross_attn = nn_torch.MultiHeadAttention(d_model, heads)

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        memory = source + self.encoder_attn(source)
        y = target + self.decoder_attn(target, causal=True)
        return y + self.cross_attn(y, memory)


@pytest.fixture
def seq2seq() -> tuple[TinySeq2Seq, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    return TinySeq2Seq().eval(), torch.randn(2, 5, 16), torch.randn(2, 3, 16)


# -- capture_attention -----------------------------------------------------------------------------------------


def test_capture_torch_records_what_need_weights_returns(seq2seq) -> None:
    model, source, target = seq2seq
    with torch.no_grad():
        expected_out = model(source, target)
        with capture_attention(model) as att:
            out = model(source, target)
        # the same weights, computed directly with need_weights=True
        memory = source + model.encoder_attn(source)
        _, encoder_w = model.encoder_attn(source, need_weights=True)
        _, decoder_w = model.decoder_attn(target, causal=True, need_weights=True)
        y = target + model.decoder_attn(target, causal=True)
        _, cross_w = model.cross_attn(y, memory, need_weights=True)
    torch.testing.assert_close(out, expected_out, rtol=1e-5, atol=1e-6)  # fused vs explicit path
    assert list(att) == ["encoder_attn", "decoder_attn", "cross_attn"]
    for name, direct in (("encoder_attn", encoder_w), ("decoder_attn", decoder_w), ("cross_attn", cross_w)):
        (recorded,) = att[name]
        assert isinstance(recorded, np.ndarray)
        np.testing.assert_allclose(recorded, direct.numpy(), rtol=1e-5, atol=1e-6)
    assert att["cross_attn"][0].shape == (2, 2, 3, 5)  # (B, heads, Lq, Lk)


def test_capture_tells_the_kinds_apart_and_stacks_them(seq2seq) -> None:
    model, source, target = seq2seq
    with torch.no_grad(), capture_attention(model) as att:
        model(source, target)
    assert att.kind("encoder_attn") == "self"
    assert att.kind("decoder_attn") == "causal"
    assert att.kind("cross_attn") == "cross"
    assert att.kinds() == ["self", "causal", "cross"]
    assert att.names("cross") == ["cross_attn"]
    assert att.stack("cross").shape == (1, 2, 3, 5)
    np.testing.assert_array_equal(att.stack("self", batch_index=1)[0], att["encoder_attn"][0][1])
    with pytest.raises(ValueError, match="differ in shape.*pass kind="):
        att.stack()  # (5, 5), (3, 3) and (3, 5) cannot share one array
    with pytest.raises(ValueError, match="'kind' must be one of"):
        att.stack("encoder")
    with pytest.raises(ValueError, match="batch_index"):
        att.stack("self", batch_index=2)
    assert "cross_attn [MultiHeadAttention, cross]: 1 call(s), weights (2, 2, 3, 5)" in repr(att)


def test_capture_leaves_no_trace_after_the_block(seq2seq) -> None:
    model, source, target = seq2seq
    modules = [model.encoder_attn, model.decoder_attn, model.cross_attn]
    with capture_attention(model):
        assert all("forward" in vars(m) for m in modules)  # wrapped on the instance, inside only
    for module in modules:
        assert "forward" not in vars(module)  # the class's forward again: the fused fast path
        assert module.forward.__func__ is type(module).forward


def test_capture_restores_forward_after_an_exception(seq2seq) -> None:
    model, source, _ = seq2seq
    with pytest.raises(ValueError, match="MultiHeadAttention"):
        with capture_attention(model):
            model.encoder_attn(source[..., :7])  # wrong width: the layer itself complains
    assert all("forward" not in vars(m) for m in (model.encoder_attn, model.decoder_attn, model.cross_attn))
    with pytest.raises(RuntimeError, match="boom"):
        with capture_attention(model):
            raise RuntimeError("boom")
    assert "forward" not in vars(model.cross_attn)


def test_capture_gives_the_caller_what_it_asked_for() -> None:
    torch.manual_seed(0)
    mha = nn_torch.MultiHeadAttention(8, 2).eval()
    x = torch.randn(1, 4, 8)
    with torch.no_grad(), capture_attention(mha) as att:
        out_only = mha(x)
        out, weights = mha(x, need_weights=True)
    assert isinstance(out_only, torch.Tensor)
    torch.testing.assert_close(out_only, out)
    np.testing.assert_array_equal(att["MultiHeadAttention"][1], weights.numpy())  # the model itself is captured
    assert len(att["MultiHeadAttention"]) == 2  # one entry per call


def test_capture_numpy_models_weights_outputs_and_gradients() -> None:
    rng = np.random.default_rng(0)
    model = nn_numpy.Sequential(nn_numpy.Linear(8, 8, rng=rng), nn_numpy.MultiHeadAttention(8, 2, rng=rng))
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    grad = rng.standard_normal((2, 5, 8)).astype(np.float32)
    expected_out = model(x)
    expected_dx = model.backward(grad)
    with capture_attention(model) as att:
        out = model(x)
        dx = model.backward(grad)  # backward still works on what the captured forward cached
    np.testing.assert_array_equal(out, expected_out)
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-6)
    assert list(att) == ["1"]  # Sequential's child names, as in PyTorch
    hidden = model[0](x)
    _, direct = model[1](hidden, need_weights=True)
    np.testing.assert_array_equal(att["1"][0], direct)
    assert att.stack().shape == (1, 2, 5, 5)
    assert "forward" not in vars(model[1])


def test_capture_skips_attention_nested_in_attention() -> None:
    mha = nn_numpy.MultiHeadAttention(8, 2)  # holds a ScaledDotProductAttention child
    container = nn_numpy.Sequential(mha)
    assert list(find_attention_modules(container)) == ["0"]


def test_capture_torch_builtin_multihead_and_transformer_fast_path() -> None:
    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, batch_first=True).eval()
    x = torch.randn(2, 6, 16)
    fast_path_before = torch.backends.mha.get_fastpath_enabled()
    with torch.no_grad():
        expected = layer(x)
        with capture_attention(layer) as att:
            out = layer(x)  # eval + no_grad would take the fused path that bypasses self_attn.forward
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert att["self_attn"][0].shape == (2, 2, 6, 6)  # per head, not averaged
    assert torch.backends.mha.get_fastpath_enabled() == fast_path_before
    assert "forward" not in vars(layer.self_attn)


def test_nested_captures_both_record_and_unwind() -> None:
    mha = nn_numpy.MultiHeadAttention(8, 2)
    x = np.random.default_rng(0).standard_normal((1, 3, 8)).astype(np.float32)
    with capture_attention(mha) as outer:
        with capture_attention(mha) as inner:
            mha(x)
        assert "forward" in vars(mha)  # the outer wrapper is back
    assert "forward" not in vars(mha)
    np.testing.assert_array_equal(outer["MultiHeadAttention"][0], inner["MultiHeadAttention"][0])


def test_capture_refuses_what_it_cannot_capture() -> None:
    with pytest.raises(TypeError, match="must be a nn_numpy.Module or a torch.nn.Module, got ndarray"):
        with capture_attention(np.zeros(3)):
            pass
    with pytest.raises(ValueError, match="found no attention module in Linear"):
        with capture_attention(nn_torch.Linear(4, 4)):
            pass
    att = AttentionCapture({"attn": nn_numpy.MultiHeadAttention(4, 1)})
    with pytest.raises(ValueError, match="was not called"):
        att.kind("attn")
    with pytest.raises(KeyError, match="no attention module named 'other'"):
        att["other"]


def test_importing_the_viz_modules_does_not_import_torch() -> None:
    code = ("import sys, bigmodel_lib.viz.capture, bigmodel_lib.viz.widgets; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# -- AttentionExplorer ------------------------------------------------------------------------------------------

TOKENS = "the cat sat on the mat".split()


@pytest.fixture
def explorer() -> AttentionExplorer:
    return AttentionExplorer(random_weights((2, 3, 6, 6)), TOKENS)


@pytest.mark.parametrize(
    ("control", "value"),
    [("head_selector", 2), ("head_selector", "mean"), ("layer_selector", 1), ("query_selector", 3),
     ("threshold_slider", 0.2)],
)
def test_explorer_control_changes_the_picture(explorer: AttentionExplorer, control: str, value) -> None:
    before = explorer.png()
    getattr(explorer, control).value = value
    assert_picture_changed(before, explorer.png())
    assert explorer.last_redraw_s < 5.0


def test_explorer_draws_the_selected_matrix(explorer: AttentionExplorer) -> None:
    weights = explorer._groups[0].weights
    explorer.layer_selector.value = 1
    explorer.head_selector.value = 2
    scene = explorer._scene()
    np.testing.assert_array_equal(scene.image.get_array(), weights[1, 2])
    explorer.head_selector.value = "mean"
    np.testing.assert_allclose(scene.image.get_array(), weights[1].mean(axis=0))
    explorer.threshold_slider.value = 0.1
    shown = scene.image.get_array()
    np.testing.assert_array_equal(np.ma.getmaskarray(shown), weights[1].mean(axis=0) < 0.1)
    explorer.query_selector.value = 4
    assert scene.row_box.get_visible() and scene.row_box.get_y() == 3.5
    row = weights[1].mean(axis=0)[4]
    top = int(row.argmax())
    assert f"attends most to <b>{TOKENS[top]}</b> ({top}) {row[top]:.2f}" in explorer.readout.value
    # fewer links when the threshold rises
    explorer.query_selector.value = -1
    links_low = len(scene.links.get_segments())
    explorer.threshold_slider.value = 0.3
    assert len(scene.links.get_segments()) < links_low


def test_explorer_blitted_picture_equals_a_full_redraw(explorer: AttentionExplorer) -> None:
    explorer.head_selector.value = 1
    explorer.query_selector.value = 2
    explorer.threshold_slider.value = 0.05
    blitted = explorer.png()
    full = explorer._scene().picture.render(full=True)
    np.testing.assert_array_equal(pixels(blitted), pixels(full))


def test_explorer_from_a_capture_toggles_between_kinds(seq2seq) -> None:
    model, source, target = seq2seq
    with torch.no_grad(), capture_attention(model) as att:
        model(source, target)
    source_tokens, target_tokens = list("abcde"), ["<bos>", "x", "y"]
    explorer = AttentionExplorer(att, target_tokens, source_tokens)
    assert [key for _, key in explorer.kind_selector.options] == ["self", "causal", "cross"]
    assert explorer.kind_row.layout.display != "none"  # the row of the kind toggle
    before = explorer.png()
    assert pixels(before).shape[:2] == pixels(explorer.initial_png).shape[:2]
    explorer.kind_selector.value = "cross"
    assert_picture_changed_or_resized(before, explorer.png())
    assert [label for label, _ in explorer.query_selector.options] == ["all", "0 · <bos>", "1 · x", "2 · y"]
    assert explorer.layer_selector.options[0][0] == "0: cross_attn"
    np.testing.assert_allclose(explorer._scene().image.get_array(), att.stack("cross")[0, 0])
    explorer.kind_selector.value = "self"  # back to a scene built before: reused
    assert len(explorer._scenes) == 2


def assert_picture_changed_or_resized(before: bytes, after: bytes) -> None:
    a, b = pixels(before), pixels(after)
    assert a.shape != b.shape or np.any(a != b)


def test_explorer_accepts_tensors_mappings_and_two_token_lists() -> None:
    weights = torch.from_numpy(random_weights((4, 3, 5)))  # (heads, Lq, Lk)
    explorer = AttentionExplorer(weights, ["a", "b", "c"], ["p", "q", "r", "s", "t"], head="mean", query=1)
    assert explorer.head_selector.value == "mean" and explorer.query_selector.value == 1
    mapping = {"encoder": random_weights((2, 2, 4, 4)), "decoder": random_weights((1, 2, 3, 3), seed=1)}
    explorer = AttentionExplorer(mapping, ["x", "y", "z"], ["a", "b", "c", "d"], kind="decoder")
    assert explorer._scene().group.query_tokens == ["x", "y", "z"]
    explorer.kind_selector.value = "encoder"
    assert explorer._scene().group.key_tokens == ["a", "b", "c", "d"]
    single = AttentionExplorer(random_weights((3, 3)), ["a", "b", "c"])
    assert single.kind_row.layout.display == "none"  # nothing to toggle: the kind row is hidden
    assert single.layer_selector.disabled


def test_explorer_readout_escapes_tokens() -> None:
    explorer = AttentionExplorer(random_weights((3, 3)), ["<bos>", "a&b", "c"], query=0)
    assert "&lt;bos&gt;" in explorer.readout.value and "<bos>" not in explorer.readout.value


def test_explorer_display_leaves_a_static_png(explorer: AttentionExplorer) -> None:
    bundle = explorer._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and bundle[WIDGET_VIEW]["model_id"] == explorer.model_id
    assert base64.b64decode(bundle["image/png"]) == explorer.initial_png
    assert "AttentionExplorer" in bundle["text/plain"]
    start = explorer.initial_png
    explorer.head_selector.value = 1
    assert explorer.initial_png == start  # the static picture is the starting state
    assert base64.b64decode(explorer._repr_mimebundle_()["image/png"]) == start
    assert explorer.static_image().data == start


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        ((random_weights((2, 4, 4)), ["a", "b", "c"]), {}, ValueError,
         r"\(Lq, Lk\) = \(4, 4\), but 'tokens_q' has 3 tokens"),
        ((random_weights((2, 4, 4)), "a b c d"), {}, TypeError, "sequence of token strings, got str"),
        ((random_weights((1, 2, 2, 4, 4)), list("abcd")), {}, ValueError, "a batch\\? pass one element"),
        ((np.full((4, 4), -0.1), list("abcd")), {}, ValueError, r"finite, >= 0"),
        ((np.full((4, 4), np.nan), list("abcd")), {}, ValueError, "NaN"),
        (([[0.5, 0.5]], ["a"]), {}, TypeError, "NumPy array or a torch tensor, got list"),
        ((random_weights((2, 4, 4)), list("abcd")), {"head": 2}, ValueError, r"'head' must be in \[0, 1\], got 2"),
        ((random_weights((2, 4, 4)), list("abcd")), {"layer": 1}, ValueError, r"'layer' must be in \[0, 0\]"),
        ((random_weights((2, 4, 4)), list("abcd")), {"kind": "cross"}, ValueError, "'kind' must be one of"),
        ((random_weights((2, 4, 4)), list("abcd")), {"threshold": 0.8}, ValueError, "'threshold' must be a number in"),
        ((random_weights((2, 4, 4)), list("abcd")), {"head": "avg"}, ValueError, "'head' must be an int or 'mean'"),
        ((random_weights((2, 4, 4)), list("abcd")), {"query": 4}, ValueError, r"'query' must be in \[0, 3\]"),
        ((random_weights((2, 4, 4)), []), {}, ValueError, "at least one token"),
        (({}, ["a"]), {}, ValueError, "empty mapping"),
    ],
)
def test_explorer_refuses_bad_input_clearly(args, kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        AttentionExplorer(*args, **kwargs)


def test_explorer_refuses_an_empty_capture() -> None:
    with capture_attention(nn_numpy.MultiHeadAttention(4, 1)) as att:
        pass
    with pytest.raises(ValueError, match="the capture is empty"):
        AttentionExplorer(att, ["a"])


def test_explorer_on_64_tokens_builds_and_redraws() -> None:
    tokens = [f"t{i}" for i in range(64)]
    explorer = AttentionExplorer(random_weights((2, 4, 64, 64)), tokens)
    before = explorer.png()
    explorer.query_selector.value = 10
    assert_picture_changed(before, explorer.png())
    assert pixels(explorer.png()).shape[1] <= 1150  # no wider than the page shows it


# -- the playgrounds ---------------------------------------------------------------------------------------------


def test_softmax_playground_sharpens_without_scaling() -> None:
    playground = SoftmaxTemperaturePlayground(d_k=256, scaled=True)
    scaled_max = playground.weights().max()
    before = playground.png()
    playground.scale_checkbox.value = False
    assert playground.weights().max() > scaled_max
    assert playground.weights().max() > 0.95  # raw dot products over 256 dims: saturated
    assert "saturated" in playground.readout.value
    assert_picture_changed(before, playground.png())
    before = playground.png()
    playground.temperature_slider.value = 10.0
    assert playground.weights().max() < 0.95
    assert_picture_changed(before, playground.png())
    before = playground.png()
    playground.d_k_slider.value = 1
    assert_picture_changed(before, playground.png())
    np.testing.assert_allclose(playground.weights().sum(), 1.0)


def test_softmax_playground_bars_show_the_softmax() -> None:
    playground = SoftmaxTemperaturePlayground(n_keys=5, d_k=16, temperature=2.0)
    heights = np.array([bar.get_height() for bar in playground.weight_bars])
    logits = np.array([bar.get_height() for bar in playground.logit_bars])
    np.testing.assert_allclose(heights, softmax(logits))
    expected = playground._keys[:, :16] @ playground._query[:16] / 4.0 / 2.0
    np.testing.assert_allclose(logits, expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"d_k": 100}, "'d_k' must be one of"), ({"n_keys": 1}, r"'n_keys' must be in \[2, 32\]"),
     ({"temperature": 0.0}, "'temperature' must be a number in")],
)
def test_softmax_playground_refuses_bad_input(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        SoftmaxTemperaturePlayground(**kwargs)


def test_mask_playground_zeros_exactly_the_masked_weights() -> None:
    playground = MaskPlayground(["a", "b", "c", "d", "e"], real_length=3)
    assert playground.sequence() == ["a", "b", "c", "<pad>", "<pad>"]
    before = playground.png()
    playground.causal_checkbox.value = True
    assert_picture_changed(before, playground.png())
    allowed, weights = playground.allowed(), playground.weights()
    assert np.all(weights[~allowed] == 0)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert int((~allowed).sum()) == 10 + 3  # the upper triangle + padding keys below it
    assert "13 of 25 weights are exactly 0" in playground.readout.value
    np.testing.assert_array_equal(playground._picture.figure.axes[0].images[0].get_array(), allowed)


def test_mask_playground_left_padding_with_causal_leaves_empty_rows_not_nan() -> None:
    playground = MaskPlayground(["a", "b", "c", "d"], real_length=2, padding_side="left", causal=True)
    weights = playground.weights()
    assert playground.sequence() == ["<pad>", "<pad>", "a", "b"]
    assert np.all(np.isfinite(weights))
    np.testing.assert_array_equal(weights[:2], 0.0)
    assert "queries [0, 1] may attend to nothing" in playground.readout.value
    before = playground.png()
    playground.length_slider.value = 4  # the labels change: a full redraw
    assert_picture_changed(before, playground.png())
    assert [t.get_text() for t in playground.ax_weights.get_yticklabels()] == ["a", "b", "c", "d"]


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [((["a"] * 17,), {}, ValueError, "at most 16 tokens"), (("abc",), {}, TypeError, "sequence of token strings"),
     ((["a", "b"],), {"real_length": 3}, ValueError, r"'real_length' must be in \[0, 2\]"),
     ((["a", "b"],), {"padding_side": "top"}, ValueError, "'padding_side' must be one of")],
)
def test_mask_playground_refuses_bad_input(args, kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        MaskPlayground(*args, **kwargs)


def test_positional_explorer_follows_its_sliders() -> None:
    explorer = PositionalEncodingExplorer(max_len=50, d_model=16, position=5, dimension=2)
    table = nn_numpy.sinusoidal_positional_encoding(50, 16, dtype=np.float64)
    np.testing.assert_allclose(explorer.wave.get_ydata(), table[:, 2])
    before = explorer.png()
    explorer.position_slider.value = 30
    assert_picture_changed(before, explorer.png())
    np.testing.assert_allclose(explorer.dots.get_ydata(), table @ table[30])
    before = explorer.png()
    explorer.dimension_slider.value = 9
    assert_picture_changed(before, explorer.png())
    np.testing.assert_allclose(explorer.wave.get_ydata(), table[:, 9])
    assert "(cos)" in explorer.ax_wave.get_title()
    assert f"{table[30, 9]:+.3f}" in explorer.readout.value


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"d_model": 15}, "'d_model' must be even"), ({"position": 100}, r"'position' must be in \[0, 99\]"),
     ({"max_len": 1}, r"'max_len' must be in")],
)
def test_positional_explorer_refuses_bad_input(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        PositionalEncodingExplorer(**kwargs)


@pytest.mark.parametrize("make", [SoftmaxTemperaturePlayground, MaskPlayground, PositionalEncodingExplorer])
def test_every_playground_leaves_a_static_png(make) -> None:
    widget = make()
    bundle = widget._repr_mimebundle_()
    assert WIDGET_VIEW in bundle
    assert pixels(base64.b64decode(bundle["image/png"])).shape == pixels(widget.png()).shape


@pytest.mark.parametrize("package", ["numpy", "torch"])
def test_capture_finds_the_attention_inside_whole_transformer_layers(package) -> None:
    """Encoder/decoder layers take need_weights but are not attention modules: their MHAs are wrapped,
    and each call is classified by its real key (a decoder layer returns three values, once a crash)."""
    import numpy as np
    import torch

    from bigmodel_lib import nn_numpy, nn_torch
    from bigmodel_lib.viz import capture_attention

    cfg = {"src_vocab": 7, "tgt_vocab": 9, "d_model": 8, "num_heads": 2, "d_ff": 12, "num_encoder_layers": 2,
           "num_decoder_layers": 1, "max_len": 16, "pad_id": 0}
    src = np.array([[3, 4, 5, 6, 0], [4, 4, 3, 0, 0]])
    tgt = np.array([[1, 5, 6], [1, 7, 8]])
    if package == "numpy":
        model = nn_numpy.Transformer(**cfg, rng=np.random.default_rng(0))
        run = lambda: model(src, tgt)  # noqa: E731
    else:
        torch.manual_seed(0)
        model = nn_torch.Transformer(**cfg).eval()
        run = lambda: model(torch.from_numpy(src), torch.from_numpy(tgt))  # noqa: E731
    with capture_attention(model) as att:
        out = run()
    assert sorted(att) == ["decoder.layers.0.cross_attn", "decoder.layers.0.self_attn",
                           "encoder.layers.0.self_attn", "encoder.layers.1.self_attn"]
    assert att.names("self") == ["encoder.layers.0.self_attn", "encoder.layers.1.self_attn"]
    assert att.names("causal") == ["decoder.layers.0.self_attn"]
    assert att.names("cross") == ["decoder.layers.0.cross_attn"]
    assert att["decoder.layers.0.cross_attn"][0].shape == (2, 2, 3, 5)
    assert out.shape == (2, 3, 9)
