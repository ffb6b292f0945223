"""The chapter-01 calculator: what training a model of a given size costs in time, money and memory.

Every number comes from :mod:`bigmodel_lib.scale` (FLOPs, time, cost, memory) and the hardware table of
:mod:`bigmodel_lib.benchmarks.hardware` (each GPU's dense datasheet peak). The price per GPU-hour is the
reader's input: the default is an assumption, labelled as one, not a quote.
"""

from __future__ import annotations

import math

import ipywidgets as widgets
import matplotlib
import numpy as np

from bigmodel_lib.benchmarks.hardware import GIB, GPU_SPECS
from bigmodel_lib.data.landmark_models import landmark_model
from bigmodel_lib.scale import (
    CHINCHILLA_TOKENS_PER_PARAMETER,
    GPT3_TRAINING_TOKENS,
    ModelShape,
    gpu_spec,
    training_cost_usd,
    training_memory,
    training_time_seconds,
)
from bigmodel_lib.viz.widgets._figure import (
    _RC,
    ACCENT,
    HEAD_COLORS,
    MUTED_TEXT,
    _check_choice,
    _FigureWidget,
    _PngFigure,
)

SECONDS_PER_DAY = 86_400.0
#: Named shapes the calculator offers; "custom" means: use the parameter slider's value and 6 N D.
PRESETS: dict[str, ModelShape | None] = {
    "custom": None,
    "GPT-2 small": ModelShape.gpt2("small"),
    "GPT-2 XL": ModelShape.gpt2("xl"),
    "LLaMA-2 7B": ModelShape.llama2_7b(),
    "GPT-3 175B": ModelShape.gpt3("GPT-3 175B"),
}
#: Training tokens the presets' papers publish (choosing the preset sets them; GPT-2's are not published):
#: GPT-3, 300B (Brown et al. 2020, section 2.2); Llama 2, 2.0T for every size (Touvron et al. 2023, Table 1).
PRESET_TOKENS: dict[str, float] = {
    "GPT-3 175B": GPT3_TRAINING_TOKENS,
    "LLaMA-2 7B": landmark_model("Llama 2 70B").training_tokens,
}
#: Numbers of GPUs on the slider: powers of two, 1 .. 16384.
GPU_COUNTS = tuple(2**i for i in range(15))
#: An assumed price, USD per GPU-hour: set your own (cloud list prices differ by provider, region and year).
ASSUMED_USD_PER_GPU_HOUR = 2.0


def mixed_precision_peak(gpu: str) -> tuple[float, str]:
    """``(dense peak FLOP/s, dtype)`` for mixed-precision training on ``gpu`` (a name in the hardware table):
    bfloat16 where the GPU has it, float16 otherwise (V100, T4)."""
    spec = gpu_spec(gpu)
    return (spec.bf16, "bf16") if spec.bf16 is not None else (spec.fp16, "fp16")


def _format_duration(seconds: float) -> str:
    days = seconds / SECONDS_PER_DAY
    if days >= 365:
        return f"{days / 365.25:,.1f} years"
    if days >= 1:
        return f"{days:,.1f} days"
    return f"{seconds / 3600:,.1f} hours"


def _format_usd(usd: float) -> str:
    for scale, unit in ((1e9, " billion"), (1e6, " million"), (1e3, " thousand")):
        if usd >= scale:
            return f"${usd / scale:,.2f}{unit}"
    return f"${usd:,.2f}"


class ScaleCalculator(_FigureWidget):
    """Parameters and tokens in; training FLOPs, time, cost and memory per GPU out.

    * FLOPs: a preset's ``ModelShape.training_flops(tokens)`` (forward + backward, attention term
      included), or ``6 N D`` for a custom parameter count ``N``;
    * time: ``FLOPs / (n_gpus * peak * MFU)`` with the GPU's dense mixed-precision datasheet peak
      (:func:`bigmodel_lib.scale.training_time_seconds`); cost: time x GPUs x price per GPU-hour;
    * memory: mixed-precision Adam, 16 bytes per parameter (weights, gradients, optimizer state:
      :func:`bigmodel_lib.scale.training_memory`), per GPU when every GPU keeps a full copy (plain
      data parallelism) and when the state is split evenly over the GPUs (ZeRO-3 / FSDP), against the
      GPU's memory from the hardware table. Activations come on top and depend on the batch: they are
      not in the picture.

    Controls: ``preset``, ``params_slider`` (billions), ``tokens_slider`` (billions), ``gpu``,
    ``gpus_slider``, ``mfu_slider``, ``price`` (USD per GPU-hour). Choosing a preset sets its exact
    parameter count and, where its paper publishes them, its training tokens (``PRESET_TOKENS``); moving
    the parameter slider away from it makes the model "custom". ``tokens=None``: the preset's published
    tokens, else 20 per parameter (the Chinchilla rule).
    """

    _css_class = "bigmodel-scale-calculator"

    def __init__(self, preset: str = "LLaMA-2 7B", *, params: float | None = None, tokens: float | None = None,
                 gpu: str = "A100", n_gpus: int = 1024, mfu: float = 0.4,
                 usd_per_gpu_hour: float = ASSUMED_USD_PER_GPU_HOUR) -> None:
        where = "ScaleCalculator"
        _check_choice(where, "preset", preset, list(PRESETS))
        _check_choice(where, "gpu", gpu, [s.name for s in GPU_SPECS])
        _check_choice(where, "n_gpus", n_gpus, GPU_COUNTS)
        if not isinstance(mfu, (int, float)) or not 0.05 <= mfu <= 0.8:
            raise ValueError(f"{where}: 'mfu' must be a number in [0.05, 0.8] (the slider's range), got {mfu!r}")
        if preset == "custom" and params is None:
            raise ValueError(f"{where}: preset 'custom' needs 'params' (a number of parameters)")
        if params is None:
            params = PRESETS[preset].num_parameters()
        if tokens is None:  # the preset's published tokens, else the Chinchilla rule of 20 per parameter
            tokens = PRESET_TOKENS.get(preset, CHINCHILLA_TOKENS_PER_PARAMETER * params)
        for name, value in (("tokens", tokens), ("usd_per_gpu_hour", usd_per_gpu_hour)):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{where}: '{name}' must be a positive number, got {value!r}")
        if not isinstance(params, (int, float)) or not 1e6 <= params <= 1e13:
            raise ValueError(f"{where}: 'params' must be a number of parameters in [1e6, 1e13], got {params!r}")
        if not 1e8 <= tokens <= 1e14:
            raise ValueError(f"{where}: 'tokens' must be in [1e8, 1e14], got {tokens!r}")

        style = {"description_width": "130px"}
        wide = widgets.Layout(width="420px")
        self.preset = widgets.Dropdown(options=list(PRESETS), value=preset, description="model",
                                       style=style, layout=widgets.Layout(width="300px"))
        self.params_slider = widgets.FloatLogSlider(value=params / 1e9, base=10, min=-3, max=4, step=0.01,
                                                    description="parameters (B)", readout_format=".4g",
                                                    continuous_update=False, style=style, layout=wide)
        self.tokens_slider = widgets.FloatLogSlider(value=tokens / 1e9, base=10, min=-1, max=5, step=0.01,
                                                    description="tokens (B)", readout_format=".4g",
                                                    continuous_update=False, style=style, layout=wide)
        self.gpu = widgets.Dropdown(options=[s.name for s in GPU_SPECS], value=gpu, description="GPU",
                                    style=style, layout=widgets.Layout(width="300px"))
        self.gpus_slider = widgets.SelectionSlider(options=list(GPU_COUNTS), value=n_gpus, description="number of GPUs",
                                                   continuous_update=False, style=style, layout=wide)
        self.mfu_slider = widgets.FloatSlider(value=float(mfu), min=0.05, max=0.8, step=0.01, description="MFU",
                                              readout_format=".2f", continuous_update=False, style=style, layout=wide)
        self.price = widgets.BoundedFloatText(value=float(usd_per_gpu_hour), min=0.01, max=1000.0, step=0.1,
                                              description="USD per GPU-hour", style=style,
                                              layout=widgets.Layout(width="240px"))
        self.preset.observe(self._preset_changed, names="value")
        self.params_slider.observe(self._params_changed, names="value")
        self._observe(self.tokens_slider, self.gpu, self.gpus_slider, self.mfu_slider, self.price)

        picture = _PngFigure(11.0, 3.6)
        with matplotlib.rc_context(_RC):
            self.ax_memory, self.ax_time = picture.figure.subplots(1, 2, width_ratios=[1, 1.25])
        note = widgets.HTML(f"<span style='color:{MUTED_TEXT};font-size:0.9em'>price: an assumption "
                            f"(${ASSUMED_USD_PER_GPU_HOUR:g} by default), type your own</span>")
        super().__init__("What training costs: time, money, memory",
                         [[self.preset, self.gpu], [self.params_slider, self.tokens_slider],
                          [self.gpus_slider, self.mfu_slider], [self.price, note]], picture)

    # -- the numbers -----------------------------------------------------------------------------------------
    @property
    def n_params(self) -> float:
        shape = PRESETS[self.preset.value]
        return float(shape.num_parameters()) if shape is not None else self.params_slider.value * 1e9

    @property
    def tokens(self) -> float:
        return self.tokens_slider.value * 1e9

    def training_flops(self) -> float:
        """Forward + backward FLOPs of the whole run: the preset's shape, or ``6 N D`` for a custom ``N``."""
        shape = PRESETS[self.preset.value]
        return float(shape.training_flops(self.tokens)) if shape is not None else 6.0 * self.n_params * self.tokens

    def results(self) -> dict[str, float]:
        """What the picture and the readout show: FLOPs, seconds, USD, bytes per GPU (replicated / sharded)."""
        peak, _ = mixed_precision_peak(self.gpu.value)
        flops, n_gpus, mfu = self.training_flops(), self.gpus_slider.value, self.mfu_slider.value
        memory = training_memory(self.n_params, precision="mixed-bf16", optimizer="adam")
        return {
            "flops": flops,
            "seconds": training_time_seconds(flops, peak_flops=peak, mfu=mfu, n_devices=n_gpus),
            "usd": training_cost_usd(flops, peak_flops=peak, mfu=mfu, usd_per_device_hour=self.price.value,
                                     n_devices=n_gpus),
            "bytes_replicated": float(memory.total),
            "bytes_sharded": float(memory.total) / n_gpus,
            "gpu_memory_bytes": float(gpu_spec(self.gpu.value).memory_bytes),
        }

    # -- the controls ----------------------------------------------------------------------------------------
    def _preset_changed(self, change: object = None) -> None:
        shape = PRESETS[self.preset.value]
        if shape is not None:  # show the preset's exact count on the slider (it may snap to the slider's step)
            self._batching = True
            try:
                self.params_slider.value = shape.num_parameters() / 1e9
                if self.preset.value in PRESET_TOKENS:
                    self.tokens_slider.value = PRESET_TOKENS[self.preset.value] / 1e9
            finally:
                self._batching = False
        self._refresh()

    def _params_changed(self, change: object = None) -> None:
        if self._batching:
            return
        shape = PRESETS[self.preset.value]
        if shape is not None and not math.isclose(self.params_slider.value * 1e9, shape.num_parameters(), rel_tol=0.03):
            self._batching = True  # a parameter count of one's own: the model becomes "custom"
            try:
                self.preset.value = "custom"
            finally:
                self._batching = False
        self._refresh()

    # -- the picture -----------------------------------------------------------------------------------------
    def _update(self) -> bool:
        r = self.results()
        peak, dtype = mixed_precision_peak(self.gpu.value)
        n_gpus, capacity = self.gpus_slider.value, gpu_spec(self.gpu.value).memory_bytes
        memory = training_memory(self.n_params, precision="mixed-bf16", optimizer="adam")
        parts = (("weights", memory.weights), ("gradients", memory.gradients), ("Adam state", memory.optimizer_state))

        ax = self.ax_memory
        ax.clear()
        labels = ["every GPU a full copy", f"sharded over {n_gpus:,}"]
        width = 0.2
        for column, divisor in enumerate((1, n_gpus)):
            values = [value / divisor / GIB for _, value in parts] + [memory.total / divisor / GIB]
            colors = [*HEAD_COLORS[:3], "#495057"]
            names = [name for name, _ in parts] + ["total"]
            for k, (value, color, name) in enumerate(zip(values, colors, names)):
                ax.bar(column + (k - 1.5) * width, value, width=width * 0.9, color=color,
                       label=name if column == 0 else None)
        ax.axhline(capacity / GIB, color=ACCENT, linestyle="--", linewidth=1.2)
        ax.text(-0.45, capacity / GIB * 1.15, f"one {self.gpu.value}: {capacity / GIB:g} GiB", color=ACCENT,
                va="bottom", fontsize=8, bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1})
        ax.set_yscale("log")
        top = max(r["bytes_replicated"], capacity) / GIB
        bottom = min(memory.weights / n_gpus, capacity) / GIB
        ax.set_ylim(bottom / 5, top * 30)
        ax.set_xlim(-0.5, 1.5)
        ax.set_xticks([0, 1], labels)
        ax.set_ylabel("GiB per GPU")
        ax.set_title(f"training state: {memory.bytes_per_parameter:g} bytes x {self.n_params / 1e9:.3g} B parameters")
        ax.legend(loc="upper right", frameon=False, fontsize=8, ncols=2)

        ax = self.ax_time
        ax.clear()
        counts = np.array(GPU_COUNTS, dtype=float)
        days = r["seconds"] * n_gpus / counts / SECONDS_PER_DAY  # the same work split over more GPUs
        ax.plot(counts, days, "-", color=HEAD_COLORS[0])
        ax.plot([n_gpus], [r["seconds"] / SECONDS_PER_DAY], "o", markersize=10, markerfacecolor="none",
                markeredgecolor=ACCENT, markeredgewidth=2)
        for level, text in ((1.0, "1 day"), (30.0, "1 month"), (365.25, "1 year")):
            ax.axhline(level, color="#adb5bd", linestyle=":", linewidth=1)
            ax.text(counts[0], level, text, color="#868e96", fontsize=8, va="bottom")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("number of GPUs")
        ax.set_ylabel("days of training")
        ax.set_title(f"{r['flops']:.3g} FLOPs: {self.gpu.value}, {dtype} peak {peak / 1e12:g} TFLOP/s, "
                     f"MFU {self.mfu_slider.value:.2f}")

        fits = ("fits" if r["bytes_replicated"] <= capacity else "does not fit") + " on one GPU"
        fits_sharded = "fits" if r["bytes_sharded"] <= capacity else "does not fit"
        self.readout.value = (
            f"<b>{r['flops']:.3g}</b> FLOPs (forward + backward) &rarr; <b>{_format_duration(r['seconds'])}</b> on "
            f"{n_gpus:,} &times; {self.gpu.value}, <b>{_format_usd(r['usd'])}</b> at "
            f"${self.price.value:g} per GPU-hour. Training state {r['bytes_replicated'] / GIB:,.1f} GiB: {fits}; "
            f"sharded over {n_gpus:,} GPUs, {r['bytes_sharded'] / GIB:,.2f} GiB each ({fits_sharded} in "
            f"{capacity / GIB:g} GiB, before activations)."
        )
        return True  # axes are rebuilt: a full redraw

    def _summary(self) -> str:
        return f"ScaleCalculator({self.preset.value}, {self.gpus_slider.value} x {self.gpu.value})"

