"""The shipped table of landmark models: well-formed, every number sourced, estimates flagged, and the
published compute of GPT-3, Chinchilla and Gopher consistent with the library's estimator."""

from __future__ import annotations

import json
import math
from importlib import resources

import pytest

from bigmodel_lib import scale
from bigmodel_lib.benchmarks.hardware import GPU_SPECS
from bigmodel_lib.data.landmark_models import (
    ACCELERATOR_GENERATIONS,
    FLOPS_KINDS,
    TOKENS_KINDS,
    LandmarkModel,
    landmark_model,
    landmark_models,
)
from bigmodel_lib.scale import six_n_d

ROWS = landmark_models()


def test_the_table_is_shipped_as_package_data_and_covers_2012_to_2023():
    raw = json.loads(resources.files("bigmodel_lib.data").joinpath("landmark_models.json").read_text("utf-8"))
    assert len(raw["models"]) == len(ROWS) >= 12
    assert ROWS[0].year == 2012 and ROWS[-1].year == 2023
    assert len({row.model for row in ROWS}) == len(ROWS)


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.model)
def test_types_and_ranges(row: LandmarkModel):
    assert isinstance(row.year, int) and 2012 <= row.year <= 2023
    assert isinstance(row.parameters, float) and 1e7 < row.parameters < 1e13
    if row.training_tokens is not None:
        assert isinstance(row.training_tokens, float) and 1e9 < row.training_tokens < 1e14
    if row.training_flops is not None:
        assert isinstance(row.training_flops, float) and 1e17 < row.training_flops < 1e26
    if row.accelerators is not None:
        assert isinstance(row.accelerators, int) and row.accelerators >= 1 and row.accelerator


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.model)
def test_every_number_is_sourced(row: LandmarkModel):
    assert row.paper and "(" in row.paper and str(row.year) in row.paper  # "Authors (year), title"
    for source in (row.parameters_source, row.tokens_source, row.flops_source, row.hardware_source):
        assert isinstance(source, str) and len(source) > 10
    # a number the paper states is located: a table, section, appendix or the abstract
    located = ("Table", "table", "section", "Appendix", "appendix", "abstract")
    assert any(word in row.parameters_source for word in located)
    if row.tokens_kind is not None:
        assert any(word in row.tokens_source for word in located)
    if row.flops_kind == "published":
        assert any(word in row.flops_source for word in located)


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.model)
def test_estimated_and_published_compute_are_flagged(row: LandmarkModel):
    assert row.flops_kind in FLOPS_KINDS and row.tokens_kind in TOKENS_KINDS
    assert (row.training_tokens is None) == (row.tokens_kind is None)
    if row.flops_kind == "estimated (6ND)":
        assert row.training_tokens is not None
        assert row.training_flops == 6 * row.parameters * row.training_tokens
    elif row.flops_kind == "published":
        assert row.training_flops is not None
    else:
        assert row.training_flops is None


def test_the_stored_estimates_are_left_empty_in_the_data_file():
    # an estimate is computed, never typed in: the file stores null for every "estimated (6ND)" row
    raw = json.loads(resources.files("bigmodel_lib.data").joinpath("landmark_models.json").read_text("utf-8"))
    for model in raw["models"]:
        if model["flops_kind"] == "estimated (6ND)":
            assert model["training_flops"] is None, model["model"]


def test_years_do_not_go_backwards_and_models_grow_overall():
    years = [row.year for row in ROWS]
    assert years == sorted(years)
    first_five, last_five = ROWS[:5], ROWS[-5:]
    assert max(row.parameters for row in first_five) < min(row.parameters for row in last_five)


def test_bert_tokens_are_the_arithmetic_its_source_shows():
    bert = landmark_model("BERT-large")
    assert bert.tokens_kind == "derived"
    assert bert.training_tokens == pytest.approx(0.9e6 * 256 * 128 + 0.1e6 * 256 * 512, rel=1e-3)


def test_an_unknown_model_name_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="GPT-3 175B"):
        landmark_model("GPT-5")


# -- the published compute against the library's estimator (bigmodel_lib.scale) ---------------------
# scale counts model FLOPs: 6 N D plus the attention term 12 n_layer n_ctx d_model per token (forward +
# backward). Tolerances: GPT-3 (Table D.1) and Chinchilla (the budget of Table 3) count model FLOPs too:
# within 5 %. Gopher's own figure (6.31e23, appendix F) also counts rematerialisation, one more forward
# pass (2 N of the 6 N per token: a factor 4/3), so it is compared with 4/3 of the estimate, within 10 %.


def gopher_family_shape(n_layer: int, d_model: int, n_head: int):
    # Rae et al. 2021 Table 1 / Hoffmann et al. 2022 Table 4: 32k SentencePiece vocabulary, 2048 context,
    # RMSNorm, relative positions (no position table), a GELU MLP of 4 d_model.
    return scale.ModelShape(vocab_size=32_000, n_layer=n_layer, d_model=d_model, n_head=n_head, context=2048,
                            mlp="gelu", norm="rmsnorm", positions="rope", bias=False, tied_embeddings=True)


def test_gpt3_published_compute_agrees_with_the_estimator():
    gpt3 = landmark_model("GPT-3 175B")
    estimate = scale.ModelShape.gpt3("GPT-3 175B").training_flops(gpt3.training_tokens)
    assert estimate / gpt3.training_flops == pytest.approx(1.0, abs=0.05)


def test_chinchilla_published_compute_agrees_with_the_estimator():
    chinchilla = landmark_model("Chinchilla")
    estimate = gopher_family_shape(80, 8192, 64).training_flops(chinchilla.training_tokens)
    assert estimate / chinchilla.training_flops == pytest.approx(1.0, abs=0.05)
    assert six_n_d(chinchilla.parameters, chinchilla.training_tokens) / chinchilla.training_flops == pytest.approx(
        1.0, abs=0.05)


def test_gopher_published_compute_is_the_estimate_plus_rematerialisation():
    gopher = landmark_model("Gopher")
    estimate = gopher_family_shape(80, 16384, 128).training_flops(gopher.training_tokens)
    assert gopher.training_flops / (estimate * 4 / 3) == pytest.approx(1.0, abs=0.10)


# -- accelerator generations ---------------------------------------------------------------------------

def test_accelerator_generations_are_sourced_and_grow():
    years = [g.year for g in ACCELERATOR_GENERATIONS]
    assert years == sorted(years) and len(years) >= 4
    peaks = [g.training_peak_flops for g in ACCELERATOR_GENERATIONS]
    assert all(later > earlier for earlier, later in zip(peaks, peaks[1:]))
    for generation in ACCELERATOR_GENERATIONS:
        assert generation.training_dtype in ("fp32", "fp16", "bf16")
        assert generation.fp32_peak_flops <= generation.training_peak_flops
        assert "datasheet" in generation.source and str(generation.year) in generation.source


def test_generations_in_the_hardware_table_take_its_figures():
    by_name = {spec.name: spec for spec in GPU_SPECS}
    shared = [g for g in ACCELERATOR_GENERATIONS if g.name in by_name]
    assert len(shared) >= 3
    for generation in shared:
        spec = by_name[generation.name]
        assert generation.training_peak_flops == spec.peak(generation.training_dtype)
        assert generation.fp32_peak_flops == spec.fp32
        assert math.isfinite(generation.training_peak_flops)
