"""Training throughput of the course's small GPT: tokens per second and model FLOPs utilisation (MFU).

Run ``python -m bigmodel_lib.benchmarks.gpt`` (``--quick`` for a seconds-long smoke run). It times
full training steps -- forward, cross-entropy, backward, gradient clipping, AdamW
(:func:`bigmodel_lib.lm_training.train_step`) -- on random tokens, and reports::

    tokens/s  = batch_size * seq_len / (median seconds per step)
    achieved  = tokens/s * model.flops_per_token(seq_len)        (forward + backward: 6 N + 12 n_layer d T)
    MFU       = achieved / peak                                   (hardware.mfu)

``peak`` is that of the device actually present: the datasheet figure for a known GPU and the dtype of
its matmuls (:func:`bigmodel_lib.benchmarks.hardware.datasheet_peak`), otherwise -- and always on the
CPU -- a large matmul in the same dtype, timed interleaved with the training steps, so both see the
same load. On the CPU the model runs in float32, eagerly; on CUDA also with bfloat16 autocast (where
the GPU supports it) and ``torch.compile``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from typing import Any

import torch

from bigmodel_lib._checks import check_positive_int
from bigmodel_lib.benchmarks.hardware import (
    TFLOPS,
    Peak,
    datasheet_peak,
    default_matmul_size,
    matmul_workload,
    measured_detail,
    mfu,
)
from bigmodel_lib.benchmarks.timing import load_average, machine_description, timed
from bigmodel_lib.utils import limit_cpu_threads, pick_device


def gpt_config(preset: str = "course") -> Any:
    """A :class:`~bigmodel_lib.nn_numpy.gpt.GPTConfig` by name.

    * ``course``: the model notebook 04.5 trains -- 108 characters, 64 positions, 3 layers, 4 heads, d = 96;
    * ``char-small``: a step up -- 96 symbols, 128 positions, 4 layers, 4 heads, d = 128;
    * ``char-medium``: nanoGPT's Shakespeare-character size -- 256 positions, 6 layers, 6 heads, d = 384;
    * ``tiny``: 16 positions, 2 layers, 2 heads, d = 32 (tests and ``--quick``).
    """
    from bigmodel_lib.nn_torch.gpt import GPTConfig

    presets = {
        "course": GPTConfig(vocab_size=108, block_size=64, n_layer=3, n_head=4, d_model=96, dropout=0.0, bias=True),
        "char-small": GPTConfig(vocab_size=96, block_size=128, n_layer=4, n_head=4, d_model=128, dropout=0.0,
                                bias=True),
        "char-medium": GPTConfig(vocab_size=96, block_size=256, n_layer=6, n_head=6, d_model=384, dropout=0.0,
                                 bias=True),
        "tiny": GPTConfig(vocab_size=96, block_size=16, n_layer=2, n_head=2, d_model=32, dropout=0.0, bias=True),
    }
    if preset not in presets:
        raise ValueError(f"gpt_config: 'preset' must be one of {sorted(presets)}, got {preset!r}")
    return presets[preset]


def _resolve_amp(amp_dtype: Any, device: torch.device) -> torch.dtype | None:
    """``"auto"``: bfloat16 on a CUDA GPU that supports it, otherwise none (float32 throughout)."""
    if isinstance(amp_dtype, str):
        if amp_dtype != "auto":
            raise ValueError(f"bench_gpt_training: 'amp_dtype' must be 'auto', None or a torch dtype, "
                             f"got {amp_dtype!r}")
        cuda = device.type == "cuda" and torch.cuda.is_available()
        return torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else None
    if amp_dtype is None:
        return None
    if amp_dtype not in (torch.bfloat16, torch.float16):
        raise ValueError(f"bench_gpt_training: 'amp_dtype' must be torch.bfloat16 or torch.float16, got {amp_dtype!r}")
    if amp_dtype == torch.float16:
        raise ValueError("bench_gpt_training: float16 autocast needs a GradScaler, which train_step does not use; "
                         "pass torch.bfloat16 or None")
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"bench_gpt_training: this GPU ({torch.cuda.get_device_name(device)}) does not support "
                         "bfloat16; pass amp_dtype=None")
    return amp_dtype


def bench_gpt_training(
    config: Any = None,
    *,
    device: torch.device | str | None = None,
    batch_size: int | None = None,
    seq_len: int | None = None,
    steps: int = 5,
    warmup: int | None = None,
    amp_dtype: Any = "auto",
    compile_model: bool | str = "auto",
    peak: Peak | None = None,
    peak_n: int | None = None,
    learning_rate: float = 3e-4,
    seed: int = 0,
    compile_backend: str | None = None,
) -> dict[str, Any]:
    """Time ``steps`` training steps (after ``warmup``) of ``GPT(config)``; return throughput and MFU as a dict.

    ``config``: a ``GPTConfig`` or a preset name (:func:`gpt_config`; default ``"course"``).
    ``warmup``: untimed steps first (default 2, or 5 when compiling: compilation happens in them).
    ``device``: ``None`` = :func:`~bigmodel_lib.utils.pick_device`. ``batch_size``: default 8 on the
    CPU, 64 on a GPU. ``seq_len``: default ``config.block_size``. ``amp_dtype``: ``"auto"`` (bfloat16
    on a CUDA GPU that supports it), ``None`` or ``torch.bfloat16``. ``compile_model``: ``"auto"`` (on
    CUDA only), ``True`` (CUDA only, unless ``compile_backend`` is given) or ``False``.
    ``compile_backend``: a ``torch.compile`` backend name (e.g. ``"eager"``, which traces the model
    without generating code) to compile with on any device: how ``gpu_check --cpu-smoke`` exercises the
    compiled path on a CPU. ``peak``: a :class:`~bigmodel_lib.benchmarks.hardware.Peak`
    to divide by; by default the datasheet figure of a known GPU for the matmul dtype, otherwise (the CPU,
    an unknown GPU) an ``(n, n)`` matmul (``n = peak_n``, default ``hardware.default_matmul_size``)
    timed **interleaved** with the training steps, so that both see the same load on a shared machine;
    its best FLOP/s is the peak (what the hardware *can* do), compared with the median step. On the CPU
    both are also timed in CPU time (``timing.timed``), giving ``mfu_cpu_time``, which waiting for a
    busy core does not distort; on an idle machine with one thread it equals ``mfu``.
    The inputs are random token ids (the loss stays near ``ln V``): speed does not depend on the text.
    """
    from bigmodel_lib.lm_training import maybe_compile, train_step
    from bigmodel_lib.nn_torch.gpt import GPT, GPTConfig

    where = "bench_gpt_training"
    config = gpt_config("course" if config is None else config) if not isinstance(config, GPTConfig) else config
    device = pick_device(verbose=False) if device is None else torch.device(device)
    cuda = device.type == "cuda"
    if cuda and not torch.cuda.is_available():
        raise ValueError(f"{where}: 'device' is {device}, but torch.cuda.is_available() is False")
    batch_size = (64 if device.type != "cpu" else 8) if batch_size is None else batch_size
    seq_len = config.block_size if seq_len is None else seq_len
    for name, value in (("batch_size", batch_size), ("seq_len", seq_len), ("steps", steps)):
        check_positive_int(where, name, value)
    if seq_len > config.block_size:
        raise ValueError(f"{where}: 'seq_len' must be <= config.block_size={config.block_size}, got {seq_len}")
    amp = _resolve_amp(amp_dtype, device)
    if compile_model == "auto":
        compile_model = cuda
    warmup = (5 if compile_model else 2) if warmup is None else warmup  # compiling happens in the first calls
    if warmup < 0:
        raise ValueError(f"{where}: 'warmup' must be >= 0, got {warmup}")
    if compile_model and not cuda and compile_backend is None:
        raise ValueError(f"{where}: 'compile_model' is only used on CUDA here (on a CPU compiling costs tens of "
                         f"seconds for little gain), got compile_model=True with device {device}")

    torch.manual_seed(seed)
    model = GPT(config, device=device)
    optimizer = model.configure_optimizer(learning_rate=learning_rate, weight_decay=0.1, betas=(0.9, 0.95))
    if compile_model and compile_backend is not None:
        runner = torch.compile(model, backend=compile_backend)
    else:
        runner = maybe_compile(model, device) if compile_model else model
    generator = torch.Generator(device="cpu").manual_seed(seed)
    tokens = torch.randint(0, config.vocab_size, (batch_size, seq_len + 1), generator=generator)  # (B, T+1)
    x, y = tokens[:, :-1].to(device), tokens[:, 1:].to(device)  # (B, T) each; y[:, t] = x[:, t+1]
    losses: list[torch.Tensor] = []

    def step() -> None:
        losses.append(train_step(runner, optimizer, x, y, grad_clip=1.0, amp_dtype=amp))

    matmul_dtype = amp if amp is not None else torch.float32  # what the model's matrix products run in
    peak = datasheet_peak(device, matmul_dtype) if peak is None else peak
    kind = "cpu" if device.type == "cpu" else "gpu"  # CPU functions also get their CPU time recorded
    functions: dict[tuple[str, str, str], Any] = {("train step", kind, ""): step}
    n = default_matmul_size(device) if peak_n is None else peak_n
    if peak is None:  # measure the peak now, interleaved with the steps: a busy moment slows both alike
        matmul, matmul_flops = matmul_workload(device, matmul_dtype, n)
        functions[("matmul", kind, "")] = matmul
    timings = timed(functions, warmup=warmup, repeats=steps, cuda=cuda)
    timing, step_cpu = timings[("train step", kind, "")]
    peak_cpu_time = None
    if peak is None:
        matmul_wall, matmul_cpu = timings[("matmul", kind, "")]
        peak = Peak(matmul_flops / matmul_wall.best, "measured",
                    measured_detail(device, matmul_dtype, n, f"best of {steps}, interleaved with the steps"))
        peak_cpu_time = None if matmul_cpu is None or matmul_cpu.best <= 0 else matmul_flops / matmul_cpu.best
    tokens_per_step = batch_size * seq_len
    tokens_per_second = tokens_per_step / timing.median
    flops_per_token = float(model.flops_per_token(seq_len))
    mfu_cpu_time = None
    if step_cpu is not None and step_cpu.median > 0 and peak_cpu_time is not None:
        mfu_cpu_time = mfu(tokens_per_step / step_cpu.median, flops_per_token, peak_cpu_time)
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if cuda else f"{device.type} ({os.cpu_count()} logical CPUs)",
        "dtype": str(matmul_dtype).replace("torch.", ""),
        "amp": amp is not None,
        "compiled": bool(compile_model),
        "threads": torch.get_num_threads(),
        "config": config.to_dict(),
        "parameters": model.num_parameters(),
        "batch_size": batch_size,
        "seq_len": seq_len,
        "tokens_per_step": tokens_per_step,
        "median_s": timing.median,
        "best_s": timing.best,
        "steps": len(timing.seconds),
        "tokens_per_s": tokens_per_second,
        "flops_per_token": flops_per_token,
        "achieved_flops": tokens_per_second * flops_per_token,
        "peak_flops": peak.flops,
        "peak_source": peak.source,
        "peak_detail": peak.detail,
        "mfu": mfu(tokens_per_second, flops_per_token, peak.flops),
        "step_cpu_s": None if step_cpu is None else step_cpu.median,
        "peak_flops_cpu_time": peak_cpu_time,
        "mfu_cpu_time": mfu_cpu_time,
        "loss_first": float(losses[0]),
        "loss_last": float(losses[-1]),
    }


MATMUL_OP_MARKERS = ("mm", "scaled_dot_product", "flash_attention", "linear", "matmul")


def profile_train_step(
    config: Any = None,
    *,
    batch_size: int = 8,
    seq_len: int | None = None,
    top: int = 8,
    seed: int = 0,
) -> dict[str, Any]:
    """Where one CPU training step's time goes, from ``torch.profiler`` (self time of every operator).

    Categories: ``matrix products`` (``mm``/``addmm``/``bmm``, the fused attention kernel, their
    backward nodes), ``optimizer`` (everything inside ``AdamW.step``), ``other operators`` (GELU,
    LayerNorm, softmax, cross-entropy, copies, additions ...) and ``outside operators`` (the wall
    time of the step not spent in any operator: Python, the autograd engine's bookkeeping).
    Returns ``{"seconds": {category: s}, "wall_s": s, "top": [(op name, self seconds), ...]}``.
    CPU only: on a GPU, operators' CPU time is launch time, not the work.
    """
    from torch.profiler import ProfilerActivity, profile

    from bigmodel_lib.benchmarks.memory import quiet_stderr
    from bigmodel_lib.lm_training import train_step
    from bigmodel_lib.nn_torch.gpt import GPT, GPTConfig

    config = gpt_config("course" if config is None else config) if not isinstance(config, GPTConfig) else config
    seq_len = config.block_size if seq_len is None else seq_len
    for name, value in (("batch_size", batch_size), ("seq_len", seq_len), ("top", top)):
        check_positive_int("profile_train_step", name, value)
    torch.manual_seed(seed)
    model = GPT(config)
    optimizer = model.configure_optimizer(learning_rate=3e-4, weight_decay=0.1, betas=(0.9, 0.95))
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, config.vocab_size, (batch_size, seq_len + 1), generator=generator)  # (B, T+1)
    x, y = tokens[:, :-1], tokens[:, 1:]  # (B, T) each
    train_step(model, optimizer, x, y)  # warm-up: first-call allocations and AdamW's state
    with quiet_stderr(), profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        train_step(model, optimizer, x, y)
        wall = time.perf_counter() - start

    def category(event: Any) -> str:
        parent = event
        while parent is not None:
            if parent.name.startswith("Optimizer.step"):
                return "optimizer (AdamW)"
            parent = parent.cpu_parent
        name = event.name.lower()
        return "matrix products" if any(m in name for m in MATMUL_OP_MARKERS) else "other operators"

    seconds = {"matrix products": 0.0, "other operators": 0.0, "optimizer (AdamW)": 0.0}
    per_op: dict[str, float] = {}
    for event in prof.events():
        self_s = event.self_cpu_time_total / 1e6  # microseconds -> seconds
        seconds[category(event)] += self_s
        per_op[event.name] = per_op.get(event.name, 0.0) + self_s
    seconds["outside operators"] = max(0.0, wall - sum(seconds.values()))
    ranked = sorted(per_op.items(), key=lambda item: -item[1])[:top]
    return {"seconds": seconds, "wall_s": wall, "top": ranked}


def format_results(results: list[dict[str, Any]]) -> str:
    """One line per run: what ran, tokens/s, achieved and peak TFLOP/s, MFU."""
    header = (f"{'model':<12}{'device':<7}{'dtype':<10}{'compile':<8}{'params':>10}{'B x T':>10}{'ms/step':>10}"
              f"{'tokens/s':>11}{'MFLOP/tok':>10}{'achieved':>11}{'peak':>11}  {'peak from':<10}{'MFU':>8}"
              f"{'MFU (CPU time)':>16}")
    lines = [header]
    for r in results:
        lines.append(
            f"{r.get('preset', ''):<12}{r['device']:<7}{r['dtype']:<10}{'yes' if r['compiled'] else 'no':<8}"
            f"{r['parameters']:>10,}{str(r['batch_size']) + 'x' + str(r['seq_len']):>10}{r['median_s'] * 1e3:>10.1f}"
            f"{r['tokens_per_s']:>11,.0f}{r['flops_per_token'] / 1e6:>10.2f}"
            f"{r['achieved_flops'] / TFLOPS:>9.3f} T{r['peak_flops'] / TFLOPS:>9.3f} T  {r['peak_source']:<10}"
            f"{r['mfu']:>8.1%}"
            + (f"{r['mfu_cpu_time']:>16.1%}" if r.get("mfu_cpu_time") is not None else f"{'-':>16}")
        )
    lines.append("(MFLOP/tok: training FLOPs per token, forward + backward, 6 N + 12 n_layer d T; "
                 "achieved and peak in TFLOP/s, wall-clock; peak from: datasheet = dense table value for this GPU "
                 "and dtype, measured = a large matmul timed interleaved with the steps; MFU (CPU time): the same "
                 "ratio in CPU seconds, steadier on a shared machine)")
    return "\n".join(lines)


def run(*, device: torch.device | str | None = None, quick: bool = False, presets: list[str] | None = None,
        steps: int | None = None, batch_size: int | None = None) -> list[dict[str, Any]]:
    """The CPU run (float32, eager) of each preset, and on CUDA also fp32 eager and bf16 + compile."""
    device = pick_device(verbose=False) if device is None else torch.device(device)
    cuda = device.type == "cuda" and torch.cuda.is_available()
    presets = (["tiny"] if quick else (["course", "char-small", "char-medium"] if cuda else ["course", "char-small"])) \
        if presets is None else presets
    steps = steps or (2 if quick else 5)
    results = []
    for preset in presets:
        config = gpt_config(preset)
        runs: list[dict[str, Any]] = [{"device": "cpu", "amp_dtype": None, "compile_model": False}]
        if cuda:
            runs.append({"device": device, "amp_dtype": None, "compile_model": False})
            runs.append({"device": device, "amp_dtype": "auto", "compile_model": True})
        for kwargs in runs:
            warmup = 1 if quick and not kwargs["compile_model"] else None  # None: 2, or 5 when compiling
            result = bench_gpt_training(config, batch_size=batch_size or (2 if quick else None), steps=steps,
                                        warmup=warmup, peak_n=256 if quick else None, **kwargs)
            results.append({"preset": preset, **result})
    return results


def bench_generation(
    config: Any = None,
    *,
    context_lengths: tuple[int, ...] = (64, 128, 256, 512),
    prompt_len: int = 8,
    device: torch.device | str | None = None,
    warmup: int = 1,
    repeats: int = 3,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Greedy generation from a ``prompt_len``-token prompt until the context is full, with and without
    the KV cache, for each context length (``config`` with ``block_size`` set to it).

    Without the cache, step ``n`` re-runs all ``n`` positions: the whole generation costs about
    ``sum_n n ~ L^2 / 2`` position-passes; with it, ``L``. Both give the same tokens (checked before
    timing). Returns one dict per length: ``context``, ``new_tokens``, ``cached_s``, ``uncached_s``
    (medians, interleaved), ``speedup = uncached / cached`` and ``cache_bytes`` (the cache's buffers).
    """
    from bigmodel_lib.nn_torch.gpt import GPT, GPTConfig

    where = "bench_generation"
    base = gpt_config("course" if config is None else config) if not isinstance(config, GPTConfig) else config
    device = pick_device(verbose=False) if device is None else torch.device(device)
    check_positive_int(where, "prompt_len", prompt_len)
    results = []
    for context in context_lengths:
        check_positive_int(where, "context", context)
        if context <= prompt_len:
            raise ValueError(f"{where}: every context length must exceed prompt_len={prompt_len}, got {context}")
        torch.manual_seed(seed)
        model = GPT(dataclasses.replace(base, block_size=context), device=device).eval()
        prompt = torch.randint(0, base.vocab_size, (1, prompt_len), generator=torch.Generator().manual_seed(seed))
        prompt = prompt.to(device)
        new = context - prompt_len

        def generate(use_cache: bool, model: Any = model, prompt: torch.Tensor = prompt, new: int = new) -> Any:
            return model.generate(prompt, new, temperature=0, use_cache=use_cache)

        if not torch.equal(generate(True), generate(False)):
            raise AssertionError(f"{where}: cached and uncached generation differ at context {context}")
        functions = {("cached", "gen", ""): lambda: generate(True), ("uncached", "gen", ""): lambda: generate(False)}
        timings = timed(functions, warmup=warmup, repeats=repeats, cuda=device.type == "cuda")
        cached, uncached = timings[("cached", "gen", "")][0], timings[("uncached", "gen", "")][0]
        cache = model.new_cache(1)
        results.append({
            "context": context, "new_tokens": new, "cached_s": cached.median, "uncached_s": uncached.median,
            "speedup": uncached.median / cached.median,
            "cache_bytes": sum(t.numel() * t.element_size() for t in cache.keys + cache.values),
            "device": str(device),
        })
    return results


def format_generation(results: list[dict[str, Any]]) -> str:
    lines = ["greedy generation, one sequence, until the context is full (median seconds):",
             f"{'context':>8} {'new tokens':>11} {'with cache':>11} {'without':>10} {'speed-up':>9} {'cache size':>11}"]
    for r in results:
        lines.append(f"{r['context']:>8} {r['new_tokens']:>11} {r['cached_s']:>11.3f} {r['uncached_s']:>10.3f} "
                     f"{r['speedup']:>8.1f}x {r['cache_bytes'] / 2**10:>8.0f} KiB")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (and NumPy's BLAS)")
    parser.add_argument("--quick", action="store_true", help="a tiny model, two steps: a smoke run")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per run (median kept)")
    parser.add_argument("--batch-size", type=int, default=None, help="sequences per step (default 8 CPU, 64 GPU)")
    parser.add_argument("--presets", default=None, help="comma-separated: course, char-small, char-medium, tiny")
    args = parser.parse_args(argv)
    device = pick_device(verbose=False) if args.device == "auto" else torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda was asked for, but torch.cuda.is_available() is False")
    with limit_cpu_threads(args.threads):
        print(f"machine: {machine_description()}")
        cuda_note = "" if device.type == "cuda" else " (no CUDA: GPU throughput not measured in this run)"
        print(f"device: {device}{cuda_note}")
        print(f"load average before: {load_average()}")
        presets = args.presets.split(",") if args.presets else None
        results = run(device=device, quick=args.quick, presets=presets, steps=args.steps, batch_size=args.batch_size)
        print(format_results(results))
        for r in results:
            print(f"  peak for {r['preset']} on {r['device']} ({r['dtype']}): {r['peak_detail']}")
        lengths = (16, 32) if args.quick else (64, 128, 256, 512)
        generation = bench_generation("tiny" if args.quick else "course", context_lengths=lengths, device=device,
                                      repeats=1 if args.quick else 3)
        print(format_generation(generation))
        print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
