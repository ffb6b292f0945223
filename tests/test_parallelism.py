"""Parallelism simulated in NumPy (bigmodel_lib.parallel) and its estimators (bigmodel_lib.scale.parallel):
tensor-parallel layers equal the unsplit ones, the simulated pipeline bubble equals (p-1)/(m+p-1), the ring
all-reduce equals the sum and sends 2(N-1)/N of the array, and ZeRO's per-device bytes match the paper."""

import numpy as np
import pytest

from bigmodel_lib.nn_numpy.multihead import MultiHeadAttention
from bigmodel_lib.nn_numpy.transformer import PositionwiseFeedForward
from bigmodel_lib.parallel import (
    draw_schedule,
    ring_all_reduce,
    simulate_pipeline,
    split_attention,
    split_mlp,
    tensor_parallel_attention,
    tensor_parallel_mlp,
)
from bigmodel_lib.scale import (
    BYTES_PER_PARAMETER,
    ModelShape,
    ParallelLayout,
    all_reduce_bytes_per_device,
    layout_memory_per_device,
    layout_step_seconds,
    pipeline_bubble_fraction,
    tensor_parallel_bytes_per_layer,
    zero_memory_per_device,
)


@pytest.mark.parametrize("tp", [1, 2, 4, 8])
def test_tensor_parallel_mlp_equals_the_unsplit_layer(tp):
    rng = np.random.default_rng(tp)
    layer = PositionwiseFeedForward(16, 64, activation="gelu", dtype=np.float64, rng=rng)
    x = rng.normal(size=(2, 5, 16))
    shards = split_mlp(layer.state_dict(), tp)
    y, partials = tensor_parallel_mlp(x, shards)
    assert len(partials) == tp and shards[0]["linear1.weight"].shape == (64 // tp, 16)
    np.testing.assert_allclose(y, layer.forward(x), rtol=1e-12, atol=1e-12)
    if tp > 1:  # one rank alone is not the answer: the all-reduce is needed
        assert not np.allclose(partials[0], y)


@pytest.mark.parametrize(("heads", "tp", "causal"), [(4, 1, False), (4, 2, False), (4, 4, True), (8, 2, True)])
def test_tensor_parallel_attention_equals_the_unsplit_layer(heads, tp, causal):
    rng = np.random.default_rng(heads + tp)
    layer = MultiHeadAttention(16, heads, dtype=np.float64, rng=rng)
    x = rng.normal(size=(2, 6, 16))
    shards = split_attention(layer.state_dict(), heads, tp)
    y, _ = tensor_parallel_attention(x, shards, causal=causal)
    np.testing.assert_allclose(y, layer.forward(x, causal=causal), rtol=1e-12, atol=1e-12)


def test_tensor_parallel_refuses_a_degree_that_does_not_divide():
    layer = PositionwiseFeedForward(4, 6, activation="gelu", dtype=np.float64)
    with pytest.raises(ValueError, match="d_ff"):
        split_mlp(layer.state_dict(), 4)
    with pytest.raises(ValueError, match="num_heads"):
        split_attention(MultiHeadAttention(12, 3, dtype=np.float64).state_dict(), 3, 2)


@pytest.mark.parametrize("schedule", ["gpipe", "1f1b"])
@pytest.mark.parametrize(("p", "m"), [(1, 1), (1, 4), (2, 1), (2, 8), (4, 4), (4, 16), (8, 3)])
def test_simulated_bubble_equals_the_formula(schedule, p, m):
    run = simulate_pipeline(p, m, schedule)
    assert run.bubble_fraction == pytest.approx(pipeline_bubble_fraction(p, m), abs=1e-12)
    assert run.makespan == pytest.approx((m + p - 1) * 3.0)  # forward 1 + backward 2 per stage
    assert len(run.ops) == 2 * p * m
    expected_peak = [m] * p if schedule == "gpipe" else [min(p - s, m) for s in range(p)]
    assert run.peak_in_flight == expected_peak


def test_simulated_schedule_respects_dependencies_and_never_overlaps_on_a_stage():
    run = simulate_pipeline(4, 6, "1f1b", forward_time=1.0, backward_time=1.5)
    end = {(s, k, j): e for s, k, j, _, e in run.ops}
    for s, kind, j, start, _ in run.ops:
        if kind == "F" and s > 0:
            assert start >= end[(s - 1, "F", j)]
        if kind == "B":
            assert start >= end[(s, "F", j)]
            if s < 3:
                assert start >= end[(s + 1, "B", j)]
    for s in range(4):
        spans = sorted((a, b) for st, _, _, a, b in run.ops if st == s)
        assert all(b1 <= a2 for (_, b1), (a2, _) in zip(spans, spans[1:]))


def test_draw_schedule_draws_every_op():
    import matplotlib

    matplotlib.use("Agg")
    ax = draw_schedule(simulate_pipeline(3, 4, "gpipe"))
    assert len(ax.patches) == 2 * 3 * 4


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])
def test_ring_all_reduce_equals_the_sum_and_sends_2_n_minus_1_over_n(n):
    rng = np.random.default_rng(n)
    arrays = [rng.normal(size=(6, 7)) for _ in range(n)]
    before = [a.copy() for a in arrays]
    result = ring_all_reduce(arrays)
    for out in result.outputs:
        np.testing.assert_allclose(out, np.sum(arrays, axis=0), rtol=1e-12, atol=1e-12)
    assert all(np.array_equal(a, b) for a, b in zip(arrays, before))  # inputs untouched
    assert result.messages_per_rank == 2 * (n - 1)
    # 42 float64 numbers: total bytes sent = 2 (N - 1) x the array (each chunk crosses N - 1 links twice)
    assert sum(result.bytes_sent_per_rank) == 2 * (n - 1) * arrays[0].nbytes
    assert np.mean(result.bytes_sent_per_rank) == pytest.approx(all_reduce_bytes_per_device(arrays[0].nbytes, n))


def test_zero_stages_match_the_papers_figure_1():
    # Rajbhandari et al. 2020, Figure 1: Psi = 7.5B, N_d = 64, K = 12 -> 120 GB, 31.4 GB, 16.6 GB, 1.9 GB
    expected_gb = {0: 120.0, 1: 31.4, 2: 16.6, 3: 1.9}
    for stage, gb in expected_gb.items():
        assert zero_memory_per_device(7.5e9, stage, 64).total / 1e9 == pytest.approx(gb, abs=0.05)
    fp32 = zero_memory_per_device(1000, 3, 4, "fp32")
    assert (fp32.weights, fp32.gradients, fp32.optimizer_state) == (1000.0, 1000.0, 2000.0)
    assert zero_memory_per_device(1000, 0, 4, BYTES_PER_PARAMETER["fp32"]).total == 16000.0
    with pytest.raises(ValueError, match="stage"):
        zero_memory_per_device(1000, 4, 2)


def test_communication_and_layout_estimators():
    assert all_reduce_bytes_per_device(1000, 1) == 0.0
    assert all_reduce_bytes_per_device(1000, 4) == 1500.0
    assert tensor_parallel_bytes_per_layer(1, 2048, 12288, 1) == 0.0
    assert tensor_parallel_bytes_per_layer(1, 10, 10, 2, bytes_per_value=2) == 4 * 1 * 200.0
    assert pipeline_bubble_fraction(8, 24) == pytest.approx(7 / 31)
    shape = ModelShape.gpt3()
    layout = ParallelLayout(dp=16, tp=8, pp=8, micro_batch=1, global_batch=1536)
    assert layout.devices == 1024 and layout.micro_batches == 96
    memory = layout_memory_per_device(shape, layout)
    assert memory["weights"] == pytest.approx(2 * shape.num_parameters() / 64)
    assert memory["optimizer_state"] == pytest.approx(12 * shape.num_parameters() / 64 / 16)
    time = layout_step_seconds(shape, layout, peak_flops=312e12, mfu=0.5)
    assert time["compute"] == pytest.approx(shape.training_flops(1536 * 2048) / (1024 * 312e12 * 0.5))
    assert time["total"] == pytest.approx(time["compute"] / (1 - 7 / 103))
    with pytest.raises(ValueError, match="global_batch"):
        layout_memory_per_device(shape, ParallelLayout(dp=3, tp=1, pp=1, micro_batch=1, global_batch=4))
