"""The performance benchmarks (scaling, hardware peaks, GPT throughput) run, on tiny sizes, on the CPU.

Only structure and sanity are checked -- positive times, exact analytic sizes, MFU in (0, 1] --
never a speed threshold: timings on a shared machine vary, the real runs are ``python -m``.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from bigmodel_lib import limit_cpu_threads
from bigmodel_lib.benchmarks import gpt, hardware, scaling

# -- hardware: the datasheet table and MFU -----------------------------------------------------------


@pytest.mark.parametrize(
    ("device_name", "expected"),
    [
        ("NVIDIA H100 80GB HBM3", "H100 SXM"),
        ("NVIDIA H100 PCIe", "H100 PCIe"),
        ("NVIDIA H100 NVL", "H100 NVL"),
        ("NVIDIA H200", "H200 SXM"),
        ("NVIDIA A100-SXM4-80GB", "A100"),
        ("NVIDIA A100 80GB PCIe", "A100"),
        ("NVIDIA A10", "A10"),
        ("NVIDIA L4", "L4"),
        ("NVIDIA L40S", "L40S"),
        ("NVIDIA L40", "L40"),
        ("Tesla T4", "T4"),
        ("Tesla V100-SXM2-16GB", "V100 SXM2"),
        ("Tesla V100-PCIE-32GB", "V100 PCIe"),
        ("NVIDIA GeForce RTX 4090", "RTX 4090"),
        ("NVIDIA GeForce RTX 3090", "RTX 3090"),
    ],
)
def test_lookup_gpu_by_device_name(device_name, expected):
    assert hardware.lookup_gpu(device_name).name == expected


@pytest.mark.parametrize("device_name", ["NVIDIA A10G", "NVIDIA GeForce RTX 4090 D", "NVIDIA GeForce RTX 3090 Ti",
                                         "NVIDIA GeForce RTX 4090 Laptop GPU", "NVIDIA RTX A6000",
                                         "AMD Instinct MI300X", ""])
def test_unknown_gpus_get_no_datasheet_peak(device_name):
    assert hardware.lookup_gpu(device_name) is None
    assert hardware.lookup_peak_flops(device_name, torch.bfloat16) is None


def test_datasheet_peaks_are_dense_and_per_dtype():
    assert hardware.lookup_peak_flops("NVIDIA H100 80GB HBM3", torch.bfloat16) == 989.5e12  # 1979 sparse / 2
    assert hardware.lookup_peak_flops("NVIDIA H100 80GB HBM3", "tf32") == 494.5e12
    assert hardware.lookup_peak_flops("NVIDIA H100 80GB HBM3", torch.float32) == 67e12
    assert hardware.lookup_peak_flops("NVIDIA A100-SXM4-40GB", "bf16") == 312e12
    assert hardware.lookup_peak_flops("Tesla T4", torch.bfloat16) is None  # no bf16 on Turing
    assert hardware.lookup_peak_flops("Tesla T4", torch.float16) == 65e12
    for spec in hardware.GPU_SPECS:
        tensor = [p for p in (spec.bf16, spec.fp16, spec.tf32) if p is not None]
        assert spec.fp32 > 0 and all(p >= spec.fp32 for p in tensor), spec.name
        assert spec.source, spec.name
    with pytest.raises(ValueError, match="'dtype' must be one of bf16, fp16, tf32, fp32"):
        hardware.dtype_key(torch.int8)


def test_mfu_is_achieved_over_peak():
    assert hardware.mfu(1000.0, 6e6, 60e9) == pytest.approx(0.1)  # 1000 tok/s * 6 MFLOP = 6 GFLOP/s of 60
    assert hardware.mfu(2, 3, 12) == pytest.approx(0.5)
    for bad in (0, -1.0, float("nan"), float("inf"), True, "1"):
        with pytest.raises(ValueError, match="must be a positive finite number"):
            hardware.mfu(bad, 1.0, 1.0)
    with pytest.raises(ValueError, match="'peak_flops' must be a positive finite number, got 0"):
        hardware.mfu(1.0, 1.0, 0)


def test_measured_matmul_peak_on_the_cpu():
    flops = hardware.measure_matmul_flops("cpu", torch.float32, n=64, repeats=2, warmup=1)
    assert flops > 0
    peak = hardware.peak_flops("cpu", n=64, repeats=2)
    assert peak.source == "measured" and peak.flops > 0 and "64x64" in peak.detail
    with pytest.raises(ValueError, match="'n' must be a positive int, got 0"):
        hardware.measure_matmul_flops("cpu", n=0)
    with pytest.raises(ValueError, match="'dtype' must be a floating torch dtype"):
        hardware.measure_matmul_flops("cpu", torch.int32, n=8)


# -- scaling: the pure helpers -------------------------------------------------------------------------


def test_attention_weights_bytes_is_b_h_l_l_itemsize():
    assert scaling.attention_weights_bytes(2, 8, 1024) == 2 * 8 * 1024 * 1024 * 4
    assert scaling.attention_weights_bytes(1, 1, 3, itemsize=2, length_k=5) == 30
    # doubling L quadruples the weights
    assert scaling.attention_weights_bytes(1, 4, 2048) == 4 * scaling.attention_weights_bytes(1, 4, 1024)
    with pytest.raises(ValueError, match="'heads' must be a positive int, got 0"):
        scaling.attention_weights_bytes(1, 0, 8)


def test_encoder_layer_flops_cross_at_2d_plus_dff():
    d, d_ff = 128, 512
    at_crossover = scaling.encoder_layer_flops(2 * d + d_ff, d, d_ff)
    assert at_crossover["linear"] == at_crossover["attention"]
    short, long = scaling.encoder_layer_flops(64, d, d_ff), scaling.encoder_layer_flops(4096, d, d_ff)
    assert short["linear"] > short["attention"] and long["attention"] > long["linear"]


def test_counts_follow_the_course_flop_convention():
    from bigmodel_lib.benchmarks import counts

    # a multiply-add is 2 FLOPs; forward + backward = 3 x forward
    n, n_layer, d, n_ctx = 85_000_000, 12, 768, 1024
    forward = counts.gpt_flops_per_token(n, n_layer, d, n_ctx, training=False)
    assert forward == 2 * n + 4 * n_layer * n_ctx * d
    assert counts.gpt_flops_per_token(n, n_layer, d, n_ctx) == 3 * forward == 6 * n + 12 * n_layer * n_ctx * d
    # with the FFN counted, attention passes the layer's linear part at L = 2 d + d_ff, not at L = 2 d
    for d_model, d_ff in ((128, 512), (768, 3072), (64, 100)):
        crossover = counts.attention_layer_crossover(d_model, d_ff)
        assert crossover == 2 * d_model + d_ff
        below = counts.encoder_layer_flops(crossover - 1, d_model, d_ff)
        above = counts.encoder_layer_flops(crossover + 1, d_model, d_ff)
        assert below["attention"] < below["linear"] and above["attention"] > above["linear"]
    assert counts.attention_layer_crossover(128) == 6 * 128
    # the same numbers through the scaling module (kept importable for notebooks and tests)
    assert scaling.encoder_layer_flops is counts.encoder_layer_flops
    with pytest.raises(ValueError, match="'d_ff' must be a positive int"):
        counts.attention_layer_crossover(128, 0)


def test_gpt_flops_per_token_is_forward_plus_backward():
    from bigmodel_lib.benchmarks import counts
    from bigmodel_lib.nn_torch import GPT

    config = gpt.gpt_config("tiny")
    model = GPT(config, device="meta")
    non_embedding = model.num_parameters() - config.block_size * config.d_model  # the position table: a lookup
    assert model.flops_per_token(config.block_size) == counts.gpt_flops_per_token(
        non_embedding, config.n_layer, config.d_model, config.block_size, training=True)


def test_fitted_slope_and_select_and_lengths():
    lengths = [64, 128, 256, 512]
    assert scaling.fitted_slope(lengths, [3e-6 * n**2 for n in lengths]) == pytest.approx(2.0)
    assert scaling.fitted_slope(lengths, [5.0 * n for n in lengths]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="expected >= 2 lengths"):
        scaling.fitted_slope([64], [1.0])
    rows = [{"benchmark": "a", "impl": "x", "pass": "forward", "length": 8, "median_s": 1.0},
            {"benchmark": "a", "impl": "y", "pass": "forward", "length": 8, "median_s": 2.0}]
    assert scaling.select(rows, impl="y", pass_="forward") == {8: 2.0}
    with pytest.raises(ValueError, match="strictly increasing"):
        scaling.check_lengths("f", [64, 32])
    with pytest.raises(ValueError, match="at least one"):
        scaling.check_lengths("f", [])


# -- scaling: the quick run ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quick_rows():
    with limit_cpu_threads(1):  # one thread: on a shared 2-core machine two would wait on each other
        return scaling.run(quick=True, device="cpu")


def test_quick_scaling_run_structure(quick_rows):
    assert isinstance(quick_rows, list) and all(isinstance(r, dict) for r in quick_rows)
    benchmarks = {r["benchmark"] for r in quick_rows}
    assert benchmarks == {"attention", "multihead", "encoder_layer", "memory"}  # no CUDA rows on this machine
    timed = [r for r in quick_rows if r["benchmark"] != "memory"]
    assert all(r["median_s"] > 0 and r["best_s"] > 0 and r["best_s"] <= r["median_s"] for r in timed)
    if scaling.CPU_TIME_AVAILABLE:  # CPU time of the CPU rows (not on Windows: its CPU clock is too coarse)
        assert all(r["cpu_median_s"] > 0 and r["cpu_best_s"] <= r["cpu_median_s"] for r in timed)
    assert all(r["device"] == "cpu" for r in quick_rows)
    attention = {(r["impl"], r["pass"]) for r in quick_rows if r["benchmark"] == "attention"}
    assert attention == {("numpy", "forward"), ("torch-cpu", "forward"), ("torch-cpu", "forward+backward")}
    layer = {(r["impl"], r["pass"]) for r in quick_rows if r["benchmark"] == "encoder_layer"}
    assert layer == {(i, p) for i in ("numpy", "torch-cpu") for p in ("forward", "forward+backward")}
    assert sorted(scaling.select(quick_rows, benchmark="attention", impl="numpy")) == list(scaling.QUICK_LENGTHS)


def test_quick_scaling_memory_rows(quick_rows):
    memory = [r for r in quick_rows if r["benchmark"] == "memory"]
    analytic = [r for r in memory if r["impl"] == "analytic"]
    assert analytic and all(r["kind"] == "computed" for r in analytic)
    for r in analytic:
        assert r["bytes"] == r["batch"] * r["heads"] * r["length"] * r["length"] * 4
    measured = [r for r in memory if r["kind"] == "measured"]
    assert {r["method"] for r in measured} == {"tracemalloc", "torch.profiler"}
    assert all(isinstance(r["bytes"], int) and r["bytes"] > 0 for r in measured)
    for impl in ("numpy", "torch-explicit"):  # both build the (B, h, L, L) matrix: at least that much memory
        peaks = scaling.select(quick_rows, "bytes", benchmark="memory", impl=impl, pass_="forward")
        weights = scaling.select(quick_rows, "bytes", benchmark="memory", impl="analytic")
        assert all(peaks[n] >= weights[n] for n in weights), impl


def test_quick_scaling_report_and_main(quick_rows, capsys):
    text = scaling.report(quick_rows)
    assert "Ratios measured in this run" in text and "SDPA forward, NumPy / torch-CPU" in text
    assert re.search(r"Peak memory of one attention call", text)
    assert scaling.main(["--quick", "--device", "cpu", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "machine:" in out and "load average before:" in out and "GPU rows not measured" in out


def test_scaling_rejects_bad_arguments():
    with pytest.raises(ValueError, match="'cuda_device' must be a CUDA device"):
        scaling.time_attention([8], cuda_device="cpu")
    with pytest.raises(ValueError, match="'d_head' must be a positive int, got 0"):
        scaling.time_attention([8], d_head=0)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="torch.cuda.is_available\\(\\) is False"):
            scaling.run(quick=True, device="cuda")


def test_timed_records_wall_and_cpu_time_interleaved():
    calls: list[str] = []
    functions = {("a", "cpu", "forward"): lambda: calls.append("a"), ("b", "cpu", "forward"): lambda: calls.append("b")}
    result = scaling.timed(functions, warmup=1, repeats=3)
    assert calls == ["a", "b"] * 4
    for wall, cpu in result.values():
        assert len(wall.seconds) == 3
        assert (cpu is not None and len(cpu.seconds) == 3) if scaling.CPU_TIME_AVAILABLE else cpu is None


def test_tracemalloc_peak_sees_numpy_arrays():
    n_bytes = scaling.tracemalloc_peak_bytes(lambda: np.ones((256, 256), dtype=np.float32))
    assert n_bytes >= 256 * 256 * 4
    assert scaling.torch_cpu_peak_bytes(lambda: torch.ones(256, 256)) >= 256 * 256 * 4


# -- GPT training throughput ---------------------------------------------------------------------------------


def test_gpt_training_benchmark_quick_on_cpu():
    with limit_cpu_threads(1):
        result = gpt.bench_gpt_training("tiny", device="cpu", batch_size=2, steps=2, warmup=1, peak_n=128)
    config = gpt.gpt_config("tiny")
    assert result["device"] == "cpu" and result["dtype"] == "float32" and not result["compiled"]
    assert result["tokens_per_step"] == 2 * config.block_size and result["steps"] == 2
    assert result["median_s"] > 0 and result["tokens_per_s"] > 0
    n = config.vocab_size * config.d_model + config.n_layer * (12 * config.d_model**2 + 13 * config.d_model) \
        + 2 * config.d_model  # tied weights, biases, LayerNorms; the position table is not a matmul
    assert result["flops_per_token"] == pytest.approx(6 * n + 12 * config.n_layer * config.d_model * config.block_size)
    assert result["achieved_flops"] == pytest.approx(result["tokens_per_s"] * result["flops_per_token"])
    assert 0 < result["mfu"] <= 1
    if scaling.CPU_TIME_AVAILABLE:
        assert 0 < result["mfu_cpu_time"] <= 1 and result["step_cpu_s"] > 0
    assert result["peak_source"] == "measured" and "128x128" in result["peak_detail"]  # CPU: measured, interleaved
    given = hardware.Peak(1e15, "datasheet", "a made-up peak")
    again = gpt.bench_gpt_training("tiny", device="cpu", batch_size=2, steps=1, warmup=0, peak=given)
    assert again["peak_flops"] == 1e15 and again["mfu"] == pytest.approx(again["achieved_flops"] / 1e15)
    assert again["mfu_cpu_time"] is None  # a given peak has no CPU-time twin
    assert math.isfinite(result["loss_last"]) and abs(result["loss_first"] - math.log(config.vocab_size)) < 0.5


def test_gpt_benchmark_rejects_bad_arguments():
    with pytest.raises(ValueError, match="'compile_model' is only used on CUDA"):
        gpt.bench_gpt_training("tiny", device="cpu", compile_model=True)
    # with a named backend the compiled path runs on any device (how gpu_check --cpu-smoke exercises it)
    traced = gpt.bench_gpt_training("tiny", device="cpu", batch_size=2, steps=1, warmup=1, peak_n=64,
                                    compile_model=True, compile_backend="eager")
    assert traced["compiled"] and traced["tokens_per_s"] > 0
    with pytest.raises(ValueError, match="'seq_len' must be <= config.block_size=16, got 32"):
        gpt.bench_gpt_training("tiny", device="cpu", seq_len=32)
    with pytest.raises(ValueError, match="float16 autocast needs a GradScaler"):
        gpt.bench_gpt_training("tiny", device="cpu", amp_dtype=torch.float16)
    with pytest.raises(ValueError, match="'preset' must be one of"):
        gpt.gpt_config("huge")


def test_gpt_benchmark_main_quick(capsys):
    assert gpt.main(["--quick", "--device", "cpu", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "tokens/s" in out and "MFU" in out and "not measured in this run" in out


def test_generation_benchmark_cached_and_uncached_agree_and_report_sizes():
    with limit_cpu_threads(1):
        results = gpt.bench_generation("tiny", context_lengths=(12, 16), prompt_len=4, device="cpu", warmup=0,
                                       repeats=1)
    config = gpt.gpt_config("tiny")
    assert [r["context"] for r in results] == [12, 16] and [r["new_tokens"] for r in results] == [8, 12]
    for r in results:
        assert r["cached_s"] > 0 and r["uncached_s"] > 0
        assert r["speedup"] == pytest.approx(r["uncached_s"] / r["cached_s"])
        assert r["cache_bytes"] == 2 * config.n_layer * r["context"] * config.d_model * 4  # K and V, float32
    assert "speed-up" in gpt.format_generation(results)
    with pytest.raises(ValueError, match="exceed prompt_len=8"):
        gpt.bench_generation("tiny", context_lengths=(8,), device="cpu")
