"""Every GPU path of the course in one command, with its figures written into ``docs/performance.md``.

Run ``python -m bigmodel_lib.benchmarks.gpu_check`` on a machine with an NVIDIA GPU (``make gpu-check``).
In well under eight minutes on a data-centre GPU it runs:

1. **CNN**: the digits CNN (:class:`bigmodel_lib.nn_torch.DigitsCNN`) trained in float32 (NCHW) and in
   bfloat16 autocast with the ``channels_last`` memory format, same seed: images per second and test accuracy;
2. **cuDNN LSTM**: :class:`bigmodel_lib.nn_torch.LSTM` (one fused cuDNN call for the whole sequence)
   against the same weights stepped through :class:`~bigmodel_lib.nn_torch.LSTMCell` one time step at a
   time: their outputs agree, and how much faster the fused call is;
3. **SDPA backends**: ``F.scaled_dot_product_attention`` with the math, memory-efficient and flash kernels
   forced one at a time (``torch.nn.attention.sdpa_kernel``): time and peak memory as L grows;
4. **GPT training** with ``torch.compile`` and bfloat16 autocast (:class:`bigmodel_lib.nn_torch.GPT`,
   :func:`bigmodel_lib.lm_training.train_step`), next to float32 eager: tokens per second and
5. **MFU** against the datasheet's dense peak for the GPU (:mod:`bigmodel_lib.benchmarks.hardware`),
   with a measured bf16 matmul beside it.

FLOPs follow the course convention: a multiply-add is 2 FLOPs, and training FLOPs per token are forward +
backward, ``6 N + 12 n_layer n_ctx d`` (3 x the forward ``2 N + 4 n_layer n_ctx d``).

It replaces the section between ``<!-- gpu-check:start -->`` and ``<!-- gpu-check:end -->`` of
``docs/performance.md`` (appending it the first time), naming the GPU, the torch / CUDA / cuDNN versions
and the date. Without CUDA it says so on stderr, writes nothing and exits with status 2.
``--cpu-smoke`` runs the same code paths with tiny sizes on the CPU (bf16 autocast on the CPU,
``torch.compile`` with the ``eager`` backend) so that a unit test can exercise them; it prints the section
and writes it only where ``--output`` says. Exit status: 0 when every part ran, 1 when one failed (its
error is in the section), 2 without CUDA.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import platform
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bigmodel_lib.benchmarks.hardware import TFLOPS, datasheet_peak, measure_matmul_flops
from bigmodel_lib.benchmarks.rows import Row, human_bytes, select
from bigmodel_lib.benchmarks.timing import load_average, timed

START_MARKER = "<!-- gpu-check:start -->"
END_MARKER = "<!-- gpu-check:end -->"
DEFAULT_DOC = Path(__file__).resolve().parents[2] / "docs" / "performance.md"
NO_CUDA_EXIT = 2


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How big each part runs: the GPU sizes, or tiny ones for ``--cpu-smoke``."""

    cnn_epochs: int
    cnn_batch: int
    cnn_train_images: int | None  # None = the whole training split
    lstm_shape: tuple[int, int, int, int]  # batch, steps T, input size, hidden size
    lstm_repeats: int
    sdpa_lengths: tuple[int, ...]
    sdpa_shape: tuple[int, int, int]  # batch, heads, d_head
    sdpa_repeats: int
    gpt_runs: tuple[tuple[str, str, int, int], ...]  # (preset or "gpt2-small", mode, batch, steps)
    matmul_n: int


GPU_SIZES = Sizes(
    cnn_epochs=20, cnn_batch=128, cnn_train_images=None,
    lstm_shape=(64, 256, 64, 256), lstm_repeats=5,
    sdpa_lengths=(1024, 2048, 4096, 8192, 16384), sdpa_shape=(1, 16, 64), sdpa_repeats=5,
    gpt_runs=(("char-medium", "float32 eager", 64, 20), ("char-medium", "bf16 + compile", 64, 20),
              ("gpt2-small", "bf16 + compile", 16, 20)),
    matmul_n=8192,
)
SMOKE_SIZES = Sizes(
    cnn_epochs=1, cnn_batch=64, cnn_train_images=256,
    lstm_shape=(2, 8, 4, 8), lstm_repeats=2,
    sdpa_lengths=(16, 32), sdpa_shape=(1, 2, 8), sdpa_repeats=2,
    gpt_runs=(("tiny", "float32 eager", 2, 2), ("tiny", "bf16 + compile", 2, 2)),
    matmul_n=64,
)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _gpt_config(name: str) -> Any:
    """A preset of :func:`~bigmodel_lib.benchmarks.gpt.gpt_config`, or ``gpt2-small`` (124 M parameters)."""
    from bigmodel_lib.benchmarks.gpt import gpt_config
    from bigmodel_lib.nn_torch import GPTConfig

    if name == "gpt2-small":  # GPT-2's smallest shape; vocabulary rounded up to a multiple of 64 (nanoGPT)
        return GPTConfig(vocab_size=50304, block_size=1024, n_layer=12, n_head=12, d_model=768, dropout=0.0,
                         bias=True)
    return gpt_config(name)


# -- 1. CNN: float32 NCHW against bf16 autocast + channels_last ------------------------------------------------


def check_cnn(device: torch.device, sizes: Sizes, seed: int = 0) -> list[dict[str, Any]]:
    """Train the digits CNN twice from the same initial weights; images/s (median epoch) and test accuracy."""
    from bigmodel_lib.data.digits import load_digits_split
    from bigmodel_lib.nn_torch import DigitsCNN

    split = load_digits_split()
    n_train = len(split.x_train) if sizes.cnn_train_images is None else sizes.cnn_train_images
    x_train = torch.from_numpy(split.x_train[:n_train]).to(device)  # (N, 1, 8, 8)
    y_train = torch.from_numpy(split.y_train[:n_train]).to(device)  # (N,)
    x_test, y_test = torch.from_numpy(split.x_test).to(device), torch.from_numpy(split.y_test).to(device)
    amp = torch.bfloat16
    results = []
    for label, channels_last, amp_dtype in (("float32, NCHW", False, None),
                                            ("bf16 autocast + channels_last", True, amp)):
        torch.manual_seed(seed)
        model = DigitsCNN(device=device)
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        model = model.to(memory_format=memory_format)
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        order = torch.Generator().manual_seed(seed)
        epoch_seconds = []
        for _ in range(sizes.cnn_epochs):
            permutation = torch.randperm(n_train, generator=order).to(device)
            _sync(device)
            start = time.perf_counter()
            for first in range(0, n_train, sizes.cnn_batch):
                index = permutation[first:first + sizes.cnn_batch]
                xb = x_train[index].contiguous(memory_format=memory_format)  # (b, 1, 8, 8)
                with torch.autocast(device.type, dtype=amp, enabled=amp_dtype is not None):
                    loss = torch.nn.functional.cross_entropy(model(xb).float(), y_train[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            _sync(device)
            epoch_seconds.append(time.perf_counter() - start)
        model.eval()
        with torch.no_grad(), torch.autocast(device.type, dtype=amp, enabled=amp_dtype is not None):
            predictions = model(x_test.contiguous(memory_format=memory_format)).argmax(dim=-1)
        accuracy = float((predictions == y_test).float().mean())
        median = float(np.median(epoch_seconds))
        results.append({"config": label, "epochs": sizes.cnn_epochs, "train_images": n_train,
                        "batch": sizes.cnn_batch, "median_epoch_s": median, "images_per_s": n_train / median,
                        "test_accuracy": accuracy, "final_loss": float(loss.detach())})
    return results


# -- 2. the fused (cuDNN) LSTM against one cell stepped in Python ----------------------------------------------


def check_lstm(device: torch.device, sizes: Sizes, seed: int = 0) -> dict[str, Any]:
    """``nn_torch.LSTM`` (cuDNN on CUDA) against ``nn_torch.LSTMCell`` stepped over T, same weights, float32."""
    from bigmodel_lib.nn_torch import LSTM, LSTMCell

    batch, steps, n_in, hidden = sizes.lstm_shape
    torch.manual_seed(seed)
    fused = LSTM(n_in, hidden, device=device)
    cell = LSTMCell(n_in, hidden, device=device)
    with torch.no_grad():  # the same four matrices: LSTM's "_l0" parameters are the cell's
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(fused, f"{name}_l0"))
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, steps, n_in, generator=generator).to(device).requires_grad_(True)  # (B, T, in)

    def stepped() -> torch.Tensor:
        h = c = torch.zeros(batch, hidden, device=device)
        outputs = []
        for t in range(steps):
            h, c = cell(x[:, t], (h, c))  # (B, H) each
            outputs.append(h)
        return torch.stack(outputs, dim=1)  # (B, T, H)

    with torch.no_grad():
        difference = float((fused(x)[0] - stepped()).abs().max())

    def fused_step() -> None:
        x.grad = None
        fused(x)[0].sum().backward()

    def stepped_step() -> None:
        x.grad = None
        stepped().sum().backward()

    kind = "cpu" if device.type == "cpu" else "gpu"
    timings = timed({("fused", kind, ""): fused_step, ("stepped", kind, ""): stepped_step}, warmup=2,
                    repeats=sizes.lstm_repeats, cuda=device.type == "cuda")
    fused_s, stepped_s = timings[("fused", kind, "")][0].median, timings[("stepped", kind, "")][0].median
    cudnn = device.type == "cuda" and torch.backends.cudnn.is_available() and torch.backends.cudnn.enabled
    # float32 on CUDA may use TF32 inside cuDNN: agreement to ~1e-3 there, ~1e-6 in strict float32
    tolerance = 1e-2 if device.type == "cuda" else 1e-4
    return {"shape": sizes.lstm_shape, "cudnn": cudnn,
            "cudnn_version": torch.backends.cudnn.version() if cudnn else None,
            "max_abs_difference": difference, "tolerance": tolerance, "agree": difference <= tolerance,
            "fused_s": fused_s, "stepped_s": stepped_s, "speedup": stepped_s / fused_s}


# -- 3. SDPA backends --------------------------------------------------------------------------------------------


def check_sdpa(device: torch.device, sizes: Sizes) -> list[Row]:
    """:func:`~bigmodel_lib.benchmarks.cuda_sdpa.sdpa_backends` at ``sizes.sdpa_lengths``."""
    from bigmodel_lib.benchmarks.cuda_sdpa import sdpa_backends

    batch, heads, d_head = sizes.sdpa_shape
    return sdpa_backends(sizes.sdpa_lengths, device=device, batch=batch, heads=heads, d_head=d_head,
                         repeats=sizes.sdpa_repeats, warmup=2)


# -- 4 and 5. GPT training with compile and bf16, and MFU ----------------------------------------------------------


def check_gpt(device: torch.device, sizes: Sizes, *, smoke: bool, deadline: float) -> list[dict[str, Any]]:
    """Training throughput and MFU of each ``sizes.gpt_runs`` entry; runs that would start after
    ``deadline`` (a ``time.perf_counter`` value) are skipped and say so."""
    from bigmodel_lib.benchmarks.gpt import bench_gpt_training

    results = []
    for name, mode, batch, steps in sizes.gpt_runs:
        if time.perf_counter() > deadline:
            results.append({"preset": name, "mode": mode, "skipped": "time budget spent before this run"})
            continue
        compiled = "compile" in mode
        kwargs: dict[str, Any] = {"amp_dtype": torch.bfloat16 if "bf16" in mode else None,
                                  "compile_model": compiled}
        if smoke:  # the CPU: trace with the eager backend (no code generation), a small measured peak
            kwargs.update(compile_backend="eager" if compiled else None, peak_n=sizes.matmul_n, warmup=1)
        result = bench_gpt_training(_gpt_config(name), device=device, batch_size=batch, steps=steps, **kwargs)
        results.append({"preset": name, "mode": mode, **result})
    return results


def check_matmul_peak(device: torch.device, sizes: Sizes) -> dict[str, Any]:
    """The datasheet's dense bf16 peak (CUDA GPUs in the table) next to a measured bf16 matmul."""
    peak = datasheet_peak(device, torch.bfloat16)
    measured = measure_matmul_flops(device, torch.bfloat16, sizes.matmul_n, repeats=5, warmup=2)
    return {"datasheet": None if peak is None else peak.flops,
            "datasheet_detail": None if peak is None else peak.detail, "measured": measured, "n": sizes.matmul_n}


# -- the section of docs/performance.md -----------------------------------------------------------------------------


def environment(device: torch.device) -> dict[str, str]:
    """Device name and versions, for the section's heading."""
    cuda = device.type == "cuda"
    return {
        "device": torch.cuda.get_device_name(device) if cuda else f"CPU ({platform.processor() or platform.machine()})",
        "torch": torch.__version__,
        "cuda": str(torch.version.cuda) if cuda else "none (CPU smoke run)",
        "cudnn": str(torch.backends.cudnn.version()) if cuda and torch.backends.cudnn.is_available() else "n/a",
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
    }


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1e3:.2f}"


def _flops(value: float) -> str:
    """FLOP/s with a unit that keeps the number readable (TFLOP/s on a GPU, GFLOP/s on a small CPU run)."""
    return f"{value / TFLOPS:.1f} TFLOP/s" if value >= 0.1 * TFLOPS else f"{value / 1e9:.2f} GFLOP/s"


def _failed(name: str, error: str) -> list[str]:
    return [f"**{name}: failed** in this run: `{error}`", ""]


def render_section(env: dict[str, str], parts: dict[str, Any], errors: dict[str, str], *, smoke: bool,
                   wall_s: float, load: tuple[str, str]) -> str:
    """The Markdown section, markers included."""
    title = "GPU check · GPU 检查" + (" (CPU smoke run: tiny sizes, not GPU figures)" if smoke else "")
    lines = [START_MARKER, f"## {title}", "",
             f"Written by `python -m bigmodel_lib.benchmarks.gpu_check{' --cpu-smoke' if smoke else ''}` on "
             f"{env['date']}. **Device:** {env['device']}; torch {env['torch']}, CUDA {env['cuda']}, cuDNN "
             f"{env['cudnn']}, Python {env['python']}. Whole run: {wall_s:.0f} s; load average before "
             f"{load[0]}, after {load[1]}. Every figure below comes from this one run; rerunning the command "
             "replaces this section.", ""]

    lines += ["### CNN: float32 against bf16 autocast + channels_last", ""]
    if "cnn" in errors:
        lines += _failed("CNN", errors["cnn"])
    elif "cnn" in parts:
        cnn = parts["cnn"]
        epochs = f"{cnn[0]['epochs']} epoch{'' if cnn[0]['epochs'] == 1 else 's'}"
        lines += [f"`nn_torch.DigitsCNN` on the digits, {cnn[0]['train_images']} training images, batch "
                  f"{cnn[0]['batch']}, {epochs} of Adam from the same initial weights.", "",
                  "| configuration | median epoch (ms) | images/s | test accuracy |", "|---|---:|---:|---:|"]
        lines += [f"| {r['config']} | {r['median_epoch_s'] * 1e3:.1f} | {r['images_per_s']:,.0f} | "
                  f"{r['test_accuracy']:.3f} |" for r in cnn]
        ratio = cnn[1]["images_per_s"] / cnn[0]["images_per_s"]
        lines += ["", f"bf16 + channels_last / float32 throughput: {ratio:.2f}. 8 x 8 images are far too small to "
                  "fill a GPU: this shows the path works, not what it gains on large images.", ""]

    lines += ["### LSTM: one fused call (cuDNN on CUDA) against a cell stepped in Python", ""]
    if "lstm" in errors:
        lines += _failed("LSTM", errors["lstm"])
    elif "lstm" in parts:
        r = parts["lstm"]
        batch, steps, n_in, hidden = r["shape"]
        backend = f"cuDNN {r['cudnn_version']}" if r["cudnn"] else "no cuDNN (CPU kernel)"
        verdict = "agree" if r["agree"] else "DO NOT agree"
        lines += [f"Batch {batch}, T = {steps}, input {n_in}, hidden {hidden}, float32, forward + backward; "
                  f"fused path: {backend}.", "",
                  "| fused `nn_torch.LSTM` (ms) | stepped `LSTMCell` (ms) | stepped / fused | max abs difference |",
                  "|---:|---:|---:|---:|",
                  f"| {_ms(r['fused_s'])} | {_ms(r['stepped_s'])} | {r['speedup']:.1f} | "
                  f"{r['max_abs_difference']:.1e} |", "",
                  f"The two outputs {verdict} within {r['tolerance']:g}.", ""]

    lines += ["### SDPA backends: math, memory-efficient, flash", ""]
    if "sdpa" in errors:
        lines += _failed("SDPA", errors["sdpa"])
    elif "sdpa" in parts:
        rows = parts["sdpa"]
        first = next(r for r in rows if r["benchmark"] == "memory")
        kind = first["device"]
        lines += [f"`F.scaled_dot_product_attention` forced to one kernel with `torch.nn.attention.sdpa_kernel`; "
                  f"q, k, v of shape (B, h, L, d_head) = ({first['batch']}, {first['heads']}, L, {first['d_head']}), "
                  f"{first['dtype']}. Median ms per call (forward / forward + backward) and peak memory of forward + "
                  "backward above the inputs; `n/a` = the kernel cannot run these inputs here (reason below).", ""]
        names = ("math", "efficient", "flash")
        lines += ["| L | " + " | ".join(f"{n} ms" for n in names) + " | " + " | ".join(f"{n} peak" for n in names)
                  + " | weights B·h·L² |", "|---:|" + "---:|" * 7]
        for length in sorted({r["length"] for r in rows}):
            cells = []
            for name in names:
                fwd = select(rows, benchmark=f"{kind}_sdpa", impl=f"{kind}-{name}", pass_="forward").get(length)
                both = select(rows, benchmark=f"{kind}_sdpa", impl=f"{kind}-{name}",
                              pass_="forward+backward").get(length)
                cells.append("n/a" if fwd is None else f"{_ms(fwd)} / {_ms(both)}")
            for name in names:
                peak = select(rows, "bytes", benchmark="memory", impl=f"{kind}-{name}",
                              pass_="forward+backward").get(length)
                cells.append(human_bytes(peak))
            weights = select(rows, "bytes", benchmark="memory", impl="analytic").get(length)
            lines.append(f"| {length} | " + " | ".join(cells) + f" | {human_bytes(weights)} |")
        notes = sorted({(r["impl"], r["note"]) for r in rows if r["benchmark"] == "memory" and r.get("note")})
        lines += [""] + [f"* {impl} not run: {note}" for impl, note in notes] + ([""] if notes else [])

    lines += ["### GPT training: torch.compile and bf16, and MFU", ""]
    if "peak" in errors:
        lines += _failed("matmul peak", errors["peak"])
    elif "peak" in parts:
        p = parts["peak"]
        sheet = "not in the table" if p["datasheet"] is None else _flops(p["datasheet"])
        lines += [f"bf16 peak: datasheet (dense) {sheet}; measured {p['n']} x {p['n']} bf16 matmul "
                  f"{_flops(p['measured'])}"
                  + ("" if p["datasheet"] is None else f" = {p['measured'] / p['datasheet']:.0%} of the datasheet")
                  + ".", ""]
    if "gpt" in errors:
        lines += _failed("GPT training", errors["gpt"])
    elif "gpt" in parts:
        lines += ["Training steps (forward, cross-entropy, backward, clipping, AdamW) on random tokens. FLOPs per "
                  "token are **forward + backward**: `6 N + 12 n_layer n_ctx d` (`GPT.flops_per_token`); MFU = "
                  "tokens/s x FLOPs per token / peak, the peak from the datasheet for the matmul dtype (bf16, or "
                  "TF32 for float32 when PyTorch allows it) when the GPU is in the table, else measured.", "",
                  "| model | mode | parameters | batch x T | ms/step | tokens/s | achieved | peak (source) | MFU |",
                  "|---|---|---:|---|---:|---:|---:|---|---:|"]
        for r in parts["gpt"]:
            if "skipped" in r:
                lines.append(f"| {r['preset']} | {r['mode']} | | | skipped: {r['skipped']} | | | | |")
                continue
            lines.append(f"| {r['preset']} | {r['mode']} | {r['parameters']:,} | {r['batch_size']} x {r['seq_len']} | "
                         f"{r['median_s'] * 1e3:.1f} | {r['tokens_per_s']:,.0f} | {_flops(r['achieved_flops'])} | "
                         f"{_flops(r['peak_flops'])} ({r['peak_source']}) | {r['mfu']:.1%} |")
        lines.append("")
    lines.append(END_MARKER)
    return "\n".join(lines) + "\n"


def replace_section(document: str, section: str) -> str:
    """``document`` with the text between the markers (included) replaced by ``section``, or with
    ``section`` appended when the markers are absent. A lone or misordered marker is an error."""
    starts, ends = document.count(START_MARKER), document.count(END_MARKER)
    if starts == ends == 0:
        return document.rstrip("\n") + "\n\n" + section
    begin, end = document.find(START_MARKER), document.find(END_MARKER)
    if starts != 1 or ends != 1 or end < begin:
        raise ValueError(f"replace_section: expected one {START_MARKER} followed by one {END_MARKER}, found "
                         f"{starts} and {ends}")
    return document[:begin] + section.rstrip("\n") + document[end + len(END_MARKER):]


# -- the whole run ------------------------------------------------------------------------------------------------


def run(device: torch.device, *, smoke: bool = False, budget_s: float = 450.0
        ) -> tuple[dict[str, Any], dict[str, str]]:
    """Every part on ``device``; returns ``(results by part, errors by part)``. A part that raises is
    recorded in ``errors`` (its traceback on stderr) and the next part runs."""
    sizes = SMOKE_SIZES if smoke else GPU_SIZES
    start = time.perf_counter()
    steps: dict[str, Callable[[], Any]] = {
        "cnn": lambda: check_cnn(device, sizes),
        "lstm": lambda: check_lstm(device, sizes),
        "sdpa": lambda: check_sdpa(device, sizes),
        "peak": lambda: check_matmul_peak(device, sizes),
        "gpt": lambda: check_gpt(device, sizes, smoke=smoke, deadline=start + budget_s),
    }
    parts: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, step in steps.items():
        part_start = time.perf_counter()
        print(f"[gpu_check] {name} ...", flush=True)
        try:
            parts[name] = step()
        except Exception as error:  # record it and go on: the other parts are still worth having
            traceback.print_exc()
            errors[name] = f"{type(error).__name__}: {str(error).strip().splitlines()[0][:300] if str(error) else ''}"
        finally:
            if device.type == "cuda":
                torch.cuda.empty_cache()
        print(f"[gpu_check] {name}: {'failed' if name in errors else 'done'} in "
              f"{time.perf_counter() - part_start:.1f} s", flush=True)
    return parts, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-smoke", action="store_true",
                        help="run the same code paths with tiny sizes on the CPU (for tests); writes only to --output")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"the Markdown file whose GPU-check section is replaced (default on CUDA: {DEFAULT_DOC})")
    parser.add_argument("--device", default="cuda", help="the CUDA device, e.g. cuda:1 (default cuda)")
    parser.add_argument("--budget-s", type=float, default=450.0,
                        help="GPT runs that would start after this many seconds are skipped (default 450)")
    args = parser.parse_args(argv)

    if args.cpu_smoke:
        device = torch.device("cpu")
    else:
        if not torch.cuda.is_available():
            print(f"gpu_check: no CUDA GPU here (torch.cuda.is_available() is False; torch {torch.__version__}, "
                  f"built with CUDA {torch.version.cuda}). Nothing was measured and nothing was written. Run it on "
                  "a machine with an NVIDIA GPU, or pass --cpu-smoke to exercise the code with tiny sizes on the "
                  "CPU.", file=sys.stderr)
            return NO_CUDA_EXIT
        device = torch.device(args.device)
        if device.type != "cuda":
            parser.error(f"--device must be a CUDA device (cuda, cuda:N), got {args.device!r}")
    output = args.output if (args.output is not None or args.cpu_smoke) else DEFAULT_DOC
    if output is not None and not output.is_file():
        parser.error(f"--output {output} does not exist (the section is written into an existing Markdown file)")

    load_before = load_average()
    start = time.perf_counter()
    env = environment(device)
    print(f"[gpu_check] {env['device']}, torch {env['torch']}, CUDA {env['cuda']}", flush=True)
    parts, errors = run(device, smoke=args.cpu_smoke, budget_s=args.budget_s)
    section = render_section(env, parts, errors, smoke=args.cpu_smoke, wall_s=time.perf_counter() - start,
                             load=(load_before, load_average()))
    print(section)
    if output is not None:
        output.write_text(replace_section(output.read_text(encoding="utf-8"), section), encoding="utf-8")
        print(f"[gpu_check] wrote the section into {output}")
    else:
        print("[gpu_check] --cpu-smoke without --output: nothing written")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
