"""The chapter-01 calculator, headless: its numbers are the estimators', and its controls change the picture."""

from __future__ import annotations

import math

import pytest

from bigmodel_lib.benchmarks.hardware import GPU_SPECS, TFLOPS
from bigmodel_lib.scale import ModelShape, training_cost_usd, training_memory, training_time_seconds
from bigmodel_lib.viz.widgets import ScaleCalculator
from bigmodel_lib.viz.widgets.scale_calculator import ASSUMED_USD_PER_GPU_HOUR, PRESETS, mixed_precision_peak
from tests.pictures import WIDGET_VIEW, assert_picture_changed


@pytest.fixture(scope="module")
def calculator() -> ScaleCalculator:
    return ScaleCalculator()


def test_defaults_are_llama2_7b_on_2t_tokens_with_the_estimators_numbers(calculator):
    shape = ModelShape.llama2_7b()
    assert calculator.preset.value == "LLaMA-2 7B" and calculator.n_params == shape.num_parameters() == 6_738_415_616
    assert calculator.tokens == pytest.approx(2e12)
    r = calculator.results()
    flops = shape.training_flops(2e12)
    assert r["flops"] == pytest.approx(flops)
    peak = 312 * TFLOPS  # A100, dense bf16, from the hardware table
    assert mixed_precision_peak("A100") == (peak, "bf16")
    assert r["seconds"] == pytest.approx(training_time_seconds(flops, peak_flops=peak, mfu=0.4, n_devices=1024))
    assert r["seconds"] == pytest.approx(flops / (1024 * peak * 0.4))
    assert r["usd"] == pytest.approx(training_cost_usd(flops, peak_flops=peak, mfu=0.4,
                                                       usd_per_device_hour=ASSUMED_USD_PER_GPU_HOUR, n_devices=1024))
    assert r["usd"] == pytest.approx(r["seconds"] / 3600 * 1024 * ASSUMED_USD_PER_GPU_HOUR)
    memory = training_memory(shape.num_parameters(), precision="mixed-bf16", optimizer="adam")
    assert r["bytes_replicated"] == memory.total == 16 * shape.num_parameters()
    assert r["bytes_sharded"] == pytest.approx(memory.total / 1024)
    assert r["gpu_memory_bytes"] == 80 * 2**30  # the A100 80GB of the hardware table


def test_the_readout_states_the_numbers_and_the_price_is_labelled_an_assumption(calculator):
    text = calculator.readout.value
    assert "FLOPs" in text and "days" in text and "$" in text and "GiB" in text
    labels = [child.value for row in calculator.children for child in getattr(row, "children", ())
              if isinstance(getattr(child, "value", None), str)]
    assert any("assumption" in label for label in labels)


@pytest.mark.parametrize(("control", "value"), [
    ("gpus_slider", 64), ("mfu_slider", 0.2), ("gpu", "H100 SXM"), ("tokens_slider", 300.0),
    ("price", 4.0), ("preset", "GPT-3 175B"),
])
def test_each_control_changes_the_picture_or_the_readout(control, value):
    widget = ScaleCalculator()
    before_png, before_text = widget.png(), widget.readout.value
    getattr(widget, control).value = value
    assert widget.readout.value != before_text
    if control != "price":  # the price shows in the readout only
        assert_picture_changed(before_png, widget.png())


def test_more_gpus_same_cost_less_time():
    widget = ScaleCalculator(n_gpus=256)
    before = widget.results()
    widget.gpus_slider.value = 1024
    after = widget.results()
    assert after["seconds"] == pytest.approx(before["seconds"] / 4)
    assert after["usd"] == pytest.approx(before["usd"])
    assert after["bytes_sharded"] == pytest.approx(before["bytes_sharded"] / 4)


def test_moving_the_parameter_slider_makes_the_model_custom_with_6nd():
    widget = ScaleCalculator()
    widget.params_slider.value = 13.0
    assert widget.preset.value == "custom"
    assert widget.n_params == pytest.approx(13e9)
    assert widget.training_flops() == pytest.approx(6 * 13e9 * widget.tokens)
    widget.preset.value = "GPT-3 175B"  # back to a preset: its exact shape again, and its published tokens
    assert widget.n_params == PRESETS["GPT-3 175B"].num_parameters()
    assert widget.tokens == pytest.approx(300e9)
    assert math.isclose(widget.params_slider.value * 1e9, widget.n_params, rel_tol=0.03)
    assert widget.preset.value == "GPT-3 175B"


def test_gpus_without_bfloat16_use_their_float16_peak():
    for spec in GPU_SPECS:
        peak, dtype = mixed_precision_peak(spec.name)
        assert (peak, dtype) == ((spec.bf16, "bf16") if spec.bf16 is not None else (spec.fp16, "fp16"))
    assert mixed_precision_peak("V100 SXM2") == (125 * TFLOPS, "fp16")
    with pytest.raises(ValueError, match="gpu"):
        mixed_precision_peak("GTX 480")


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"preset": "GPT-5"}, "preset"), ({"gpu": "TPU"}, "gpu"), ({"n_gpus": 3}, "n_gpus"), ({"mfu": 1.5}, "mfu"),
    ({"tokens": -1.0}, "tokens"), ({"preset": "custom"}, "params"), ({"params": 10.0}, "params"),
    ({"usd_per_gpu_hour": 0}, "usd_per_gpu_hour"),
])
def test_bad_arguments_fail_early_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ScaleCalculator(**kwargs)


def test_display_carries_a_static_png_of_the_starting_state(calculator):
    bundle = calculator._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and bundle["image/png"]
    assert "run the notebook" in bundle["text/plain"]
    assert "bigmodel-scale-calculator" in calculator._dom_classes
