"""The GPT exported to ONNX and run by ONNX Runtime computes PyTorch's logits, at shapes not used at export.

Tolerance: float32, ``rtol=1.3e-6, atol=1e-5`` (``torch.testing.assert_close``'s defaults for float32) on every
logit. Each export takes several seconds, so one small model is exported once per module.
"""

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from bigmodel_lib.deploy import (  # noqa: E402
    compare_with_torch,
    cross_entropy_from_logits,
    export_gpt,
    greedy_generate,
    make_session,
    onnx_file_sizes,
    onnx_op_counts,
    quantize_int8,
    run_logits,
    validation_loss,
)
from bigmodel_lib.deploy.onnx_export import FLOAT32_ATOL, FLOAT32_RTOL  # noqa: E402
from bigmodel_lib.nn_torch.gpt import GPT, GPTConfig  # noqa: E402

VOCAB = 40
EXPORT_SHAPE = (2, 16)  # what export_gpt traces with by default
NEW_SHAPE = (3, 29)  # neither batch size nor length was seen at export


def random_ids(shape, seed=1):
    return torch.randint(0, VOCAB, shape, generator=torch.Generator().manual_seed(seed))


def small_gpt(**extra):
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=VOCAB, block_size=32, n_layer=2, n_head=4, d_model=32, **extra)
    model = GPT(config).eval()
    with torch.no_grad():  # biases and LayerNorm gains start at 0 and 1: randomize them so a misplaced one shows
        for param in model.parameters():
            if param.ndim == 1:
                param.add_(0.1 * torch.randn_like(param))
    return model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = small_gpt()
    path = export_gpt(model, tmp_path_factory.mktemp("onnx") / "gpt.onnx")
    return model, path, make_session(path)


def test_onnx_logits_equal_torch_at_a_new_batch_size_and_length(exported):
    model, _, session = exported
    assert NEW_SHAPE[0] != EXPORT_SHAPE[0] and NEW_SHAPE[1] != EXPORT_SHAPE[1]
    ids = random_ids(NEW_SHAPE)
    comparison = compare_with_torch(model, session, ids)
    assert comparison.shape == (*NEW_SHAPE, VOCAB)
    assert comparison.passed, comparison
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(run_logits(session, ids)), model(ids),
                                   rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)


@pytest.mark.parametrize("shape", [(1, 1), (5, 32), (1, 7)])
def test_both_axes_are_dynamic_down_to_one_and_up_to_block_size(exported, shape):
    model, _, session = exported
    assert compare_with_torch(model, session, random_ids(shape, seed=2)).passed


def test_graph_inputs_are_named_and_symbolic(exported):
    _, _, session = exported
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, out.name) == ("idx", "logits")
    assert inp.type == "tensor(int64)"
    assert all(isinstance(dim, str) for dim in inp.shape)  # both axes symbolic, none fixed at 2 or 16
    assert out.shape[-1] == VOCAB


def test_external_data_holds_the_weights(exported):
    model, path, _ = exported
    sizes = onnx_file_sizes(path)
    assert list(sizes)[0] == path.name and len(sizes) == 2  # the graph, then one weights file
    weight_bytes = 4 * model.num_parameters()
    # the weights file holds the float32 parameters, as the exporter's optimizer left them: matrices stored
    # pre-transposed for MatMul, equal constants merged, a few folded slices kept -- within 10 % of 4 N bytes
    assert 0.9 * weight_bytes <= sizes[path.name + ".data"] <= 1.1 * weight_bytes
    assert onnx_op_counts(path)["LayerNormalization"] == 2 * model.config.n_layer + 1


def test_greedy_generation_matches_uncached_torch_generation(exported):
    model, _, session = exported
    prompt = random_ids((2, 5), seed=3)
    expected = model.generate(prompt, 40, temperature=0, use_cache=False)  # runs past block_size=32: cropped
    got = greedy_generate(session, prompt, 40, model.config.block_size)
    np.testing.assert_array_equal(got, expected.numpy())


def test_validation_loss_equals_torch_cross_entropy(exported):
    model, _, session = exported
    batches = [(random_ids((2, 12), seed=s), random_ids((2, 12), seed=s + 10)) for s in range(3)]
    with torch.no_grad():
        expected = np.mean([torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten()).item()
                            for x, y in batches])
    assert validation_loss(session, batches) == pytest.approx(expected, abs=1e-5)


def test_cross_entropy_from_logits_of_uniform_logits_is_log_vocab():
    assert cross_entropy_from_logits(np.zeros((2, 3, 7), np.float32), np.zeros((2, 3), np.int64)) == \
        pytest.approx(np.log(7))


def test_int8_quantization_shrinks_the_file_and_stays_close(exported, tmp_path):
    model, path, session = exported
    quantized = quantize_int8(path, tmp_path / "gpt.int8.onnx")
    assert len(onnx_file_sizes(quantized)) == 1  # one file, no external data
    assert sum(onnx_file_sizes(quantized).values()) < 0.7 * sum(onnx_file_sizes(path).values())
    assert onnx_op_counts(quantized).get("MatMulInteger", 0) >= 1
    ids = random_ids(NEW_SHAPE)
    gap = np.abs(run_logits(make_session(quantized), ids) - run_logits(session, ids)).max()
    spread = np.abs(run_logits(session, ids)).max()
    assert 0 < gap < 0.1 * spread  # int8 changes the logits a little, not wholesale


def test_export_refuses_example_sizes_torch_export_would_freeze():
    model = small_gpt()
    with pytest.raises(ValueError, match="example_batch"):
        export_gpt(model, "unused.onnx", example_batch=1)
    with pytest.raises(ValueError, match="example_length"):
        export_gpt(model, "unused.onnx", example_length=33)


def test_rope_gqa_gpt_exports_with_dynamic_length(tmp_path):
    # the rotary embedding reads the length as positions.shape[0], which torch.export keeps symbolic
    model = small_gpt(position="rope", n_kv_head=2)
    session = make_session(export_gpt(model, tmp_path / "gpt_rope.onnx"))
    for shape in (NEW_SHAPE, (1, 45)):  # RoPE has no position table: longer than block_size works too
        comparison = compare_with_torch(model, session, random_ids(shape))
        assert comparison.passed, comparison
