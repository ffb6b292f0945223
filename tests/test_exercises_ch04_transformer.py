"""Chapter 04 (Transformer) exercises: references pass, agree with the models, and the usual slips are named."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bigmodel_lib import nn_numpy
from bigmodel_lib.exercises import ch04_transformer as ex
from bigmodel_lib.exercises.core import Exercise
from bigmodel_lib.nn_numpy.transformer_model import Transformer as NumpyTransformer
from bigmodel_lib.nn_torch.transformer_model import Transformer as TorchTransformer
from bigmodel_lib.viz import capture_attention

EXERCISES = [getattr(ex, name) for name in ex.__all__ if isinstance(getattr(ex, name), Exercise)]


def test_every_exercise_of_the_notebook_is_listed() -> None:
    assert len(EXERCISES) == 5
    assert len({exercise.key for exercise in EXERCISES}) == 5


# -- 1. parameters of an encoder layer ------------------------------------------------------------------------


def test_encoder_layer_parameters_match_torch_and_name_the_slips() -> None:
    d, h, f = ex.ENC_D_MODEL, ex.ENC_HEADS, ex.ENC_D_FF
    layer = torch.nn.TransformerEncoderLayer(d, h, dim_feedforward=f, batch_first=True)
    count = sum(p.numel() for p in layer.parameters())
    assert ex.encoder_layer_parameters.checker(count)[0]
    assert ex.encoder_layer_parameters.checker(float(count))[0]
    slips = {
        3 * h * d * d + d * d + 4 * d + 2 * d * f + f + d + 4 * d: "number of heads",
        count - 4 * d: "LayerNorms",
        count - (3 * d + d + f + d): "biases",
        count - (d * d + d): "output projection",
        count - (d * f + d): "two linear layers",
        sum(p.numel() for p in torch.nn.TransformerDecoderLayer(d, h, f).parameters()): "decoder layer",
    }
    for wrong, words in slips.items():
        ok, feedback = ex.encoder_layer_parameters.checker(wrong)
        assert not ok and words in feedback, (wrong, feedback)
    ok, feedback = ex.encoder_layer_parameters.checker(count + 1)
    assert not ok and "is not" in feedback
    with pytest.raises(TypeError):
        ex.encoder_layer_parameters.checker(count + 0.5)


# -- 2. the causal mask -----------------------------------------------------------------------------------------


def test_causal_mask_is_what_the_library_means_by_causal() -> None:
    t = ex.CAUSAL_LENGTH
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, t, 3)) for _ in range(3))
    mask = ex.causal_mask.reference()
    np.testing.assert_allclose(nn_numpy.scaled_dot_product_attention(q, k, v, mask=mask),
                               nn_numpy.scaled_dot_product_attention(q, k, v, causal=True))
    # torch's square subsequent mask is -inf exactly where ours is False
    torch_mask = torch.nn.Transformer.generate_square_subsequent_mask(t).numpy()
    np.testing.assert_array_equal(np.isinf(torch_mask), ~mask)


@pytest.mark.parametrize("form", ["bool", "int", "list", "tensor"])
def test_causal_mask_accepts_the_usual_forms(form) -> None:
    mask = ex.causal_mask.reference()
    answer = {"bool": mask, "int": mask.astype(int), "list": mask.astype(int).tolist(),
              "tensor": torch.ones(ex.CAUSAL_LENGTH, ex.CAUSAL_LENGTH, dtype=torch.bool).tril()}[form]
    assert ex.causal_mask.checker(answer)[0]


def test_causal_mask_names_the_slips() -> None:
    t = ex.CAUSAL_LENGTH
    ones = np.ones((t, t), dtype=bool)
    slips = {
        "future": np.triu(ones),
        "True = blocked": np.triu(ones, k=1),
        "diagonal": np.tril(ones, k=-1),
        "additive": torch.nn.Transformer.generate_square_subsequent_mask(t).numpy(),
        "shape": np.tril(np.ones((t + 1, t + 1), dtype=bool)),
        "True/False": np.tril(ones) * 2,
        "not the causal pattern": np.eye(t, dtype=bool),
    }
    for words, wrong in slips.items():
        ok, feedback = ex.causal_mask.checker(wrong)
        assert not ok and words in feedback, (words, feedback)
    with pytest.raises(TypeError):
        ex.causal_mask.checker("tril")


# -- 3. the shape of the cross-attention weights ----------------------------------------------------------------


def test_cross_attention_shape_is_what_capture_records() -> None:
    b, heads, s, real, chars = (ex.CROSS_BATCH, ex.CROSS_HEADS, ex.CROSS_SOURCE_PADDED, ex.CROSS_REAL_SOURCE,
                                ex.CROSS_TARGET_CHARS)
    model = TorchTransformer(20, 15, 8, heads, 16, 1, 2, max_len=32)
    src = torch.randint(4, 20, (b, s))
    src[0, real:] = 0  # the first date is padded after its real characters
    tgt_in = torch.randint(4, 15, (b, chars + 1))
    tgt_in[:, 0] = 1  # <bos>
    with torch.no_grad(), capture_attention(model) as att:
        model(src, tgt_in)
    shapes = {att[name][-1].shape for name in att.names("cross")}
    assert shapes == {ex.cross_attention_shape.reference()}
    assert ex.cross_attention_shape.checker(torch.Size(shapes.pop()))[0]
    weights = att["decoder.layers.0.cross_attn"][-1][0]  # (heads, T, S) of the first date
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
    assert np.all(weights[:, :, real:] == 0)


def test_cross_attention_shape_names_the_slips() -> None:
    b, heads, s, real, t = (ex.CROSS_BATCH, ex.CROSS_HEADS, ex.CROSS_SOURCE_PADDED, ex.CROSS_REAL_SOURCE,
                            ex.CROSS_TARGET_CHARS + 1)
    slips = {
        (b, heads, s, t): "rows are the queries",
        (b, t, s): "per head",
        (b, heads, t, t): "self-attention (T x T)",
        (b, heads, s, s): "encoder's self-attention",
        (b, heads, t + 1, s): "<eos> is only in the output",
        (b, heads, t - 1, s): "<bos> is a decoder position",
        (b, heads, t, real): "padded positions",
    }
    for wrong, words in slips.items():
        ok, feedback = ex.cross_attention_shape.checker(wrong)
        assert not ok and words in feedback, (wrong, feedback)


# -- 4. the input of the first layer ----------------------------------------------------------------------------


def test_input_vector_is_what_the_model_computes() -> None:
    model = NumpyTransformer(6, 6, ex.INPUT_D_MODEL, 2, 8, 1, 1, max_len=8, dtype=np.float64,
                             rng=np.random.default_rng(0))
    model.src_embed.weight.data[5] = ex.INPUT_EMBEDDING_ROW
    ids = np.array([[4, 5, 4]])  # the token of interest is the second character, position 1
    x = model.src_pos(model.src_embed(ids))[0, ex.INPUT_POSITION]
    assert ex.input_vector.checker(x)[0]
    np.testing.assert_allclose(x, ex.input_vector.reference(), rtol=1e-12)
    np.testing.assert_allclose(ex.input_vector.reference(),
                               2 * ex.INPUT_EMBEDDING_ROW + [np.sin(1), np.cos(1), np.sin(0.01), np.cos(0.01)])


def test_input_vector_names_the_slips() -> None:
    e = ex.INPUT_EMBEDDING_ROW
    pe = lambda p: np.array([np.sin(p), np.cos(p), np.sin(p / 100), np.cos(p / 100)])  # noqa: E731
    slips = {
        "source article 3": 2 * e * pe(1),
        "not scaled": e * pe(1),
        "scaled by sqrt(d_model) = 2": e + pe(1),
        "not divided": e / 2 + pe(1),
        "not the positional encoding": 2 * (e + pe(1)),
        "position 0's": 2 * e + pe(0),
        "position 2's": 2 * e + pe(2),
        "swapped": 2 * e + pe(1)[[1, 0, 3, 2]],
    }
    for words, wrong in slips.items():
        ok, feedback = ex.input_vector.checker(wrong)
        assert not ok and words in feedback, (words, feedback)
    ok, feedback = ex.input_vector.checker(2 * e)
    assert not ok and "shape" not in feedback
    ok, feedback = ex.input_vector.checker(e[:3])
    assert not ok and "shape" in feedback


# -- 5. decoder calls in greedy decoding ------------------------------------------------------------------------


def test_greedy_decoder_passes_count_what_greedy_decode_does() -> None:
    """A model that writes 10 digits then <eos>: count model.decode's calls and the prefix lengths it reads."""
    bos, eos, digit, vocab = 1, 2, 5, 8
    model = NumpyTransformer(vocab, vocab, 8, 2, 16, 1, 1, max_len=32, rng=np.random.default_rng(0))
    original, prefixes = model.decode, []

    def decode(tgt_in_ids, memory, src_mask=None):
        prefixes.append(tgt_in_ids.shape[1])
        logits = original(tgt_in_ids, memory, src_mask)
        forced = np.full(logits.shape, -1e9, dtype=logits.dtype)
        forced[:, -1, digit if tgt_in_ids.shape[1] <= ex.DECODE_TARGET_CHARS else eos] = 0.0
        return forced

    model.decode = decode
    out = model.greedy_decode(np.array([[4, 5, 6], [7, 4, 0]]), bos, eos, ex.DECODE_MAX_LEN)
    np.testing.assert_array_equal(out, [[digit] * ex.DECODE_TARGET_CHARS + [eos]] * 2)
    answer = (len(prefixes), sum(prefixes))
    assert answer == ex.greedy_decoder_passes.reference()
    assert ex.greedy_decoder_passes.checker(list(answer))[0]


def test_greedy_decoder_passes_names_the_slips() -> None:
    slips = {(10, 55): "<eos> is generated", (12, 78): "<bos> is given", (11, 11): "re-reads",
             (11, 121): "prefix grows", (11, 77): "first call reads just one"}
    for wrong, words in slips.items():
        ok, feedback = ex.greedy_decoder_passes.checker(wrong)
        assert not ok and words in feedback, (wrong, feedback)


# -- precision and success messages ------------------------------------------------------------------------------


def test_input_vector_accepts_the_answer_rounded_as_asked_and_names_no_slip_within_the_tolerance() -> None:
    reference = ex.input_vector.reference()
    ok, feedback = ex.input_vector.checker(np.round(reference, 3))  # "each to 3 decimal places"
    assert ok and "PE[1]" in feedback and "0.001" in feedback
    assert ex.input_vector.checker(reference.round(3).tolist())[0]
    ok, feedback = ex.input_vector.checker(reference + np.array([0.0, 0.0, 0.0, 0.003]))
    assert not ok and "off by" in feedback  # a plain miss is not dressed up as a named slip
    e = ex.INPUT_EMBEDDING_ROW
    pe = lambda p: np.array([np.sin(p), np.cos(p), np.sin(p / 100), np.cos(p / 100)])  # noqa: E731
    for slip in (2 * e * pe(1), e + pe(1), 2 * e + pe(0), 2 * e + pe(2), 2 * e + pe(1)[[1, 0, 3, 2]]):
        assert np.abs(slip - reference).max() > 1e-3  # each named slip lies outside the tolerance
        ok, feedback = ex.input_vector.checker(np.round(slip, 3))  # and is named when rounded as asked
        assert not ok and "off by" not in feedback


def test_success_messages_say_what_was_checked() -> None:
    expected_words = [
        (ex.encoder_layer_parameters, ["49,984", "heads does not enter"]),
        (ex.causal_mask, ["keys 0..i"]),
        (ex.cross_attention_shape, ["(32, 4, 11, 19)", "padded source"]),
        (ex.input_vector, ["sqrt(4) E[id] + PE[1]"]),
        (ex.greedy_decoder_passes, ["(11, 66)", "<eos> included"]),
    ]
    for exercise, words in expected_words:
        ok, feedback = exercise.checker(exercise.reference())
        assert ok and all(w in feedback for w in words), (exercise.key, feedback)


def test_prompts_state_the_precision_wanted() -> None:
    assert "exact int" in ex.encoder_layer_parameters.prompt
    assert "3 decimal places" in ex.input_vector.prompt and "0.001" in ex.input_vector.prompt
    assert "four ints" in ex.cross_attention_shape.prompt
    assert "exact ints" in ex.greedy_decoder_passes.prompt
