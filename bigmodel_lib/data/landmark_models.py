"""Landmark models 2012-2023 and accelerator generations: the published numbers behind "models grew".

Two small tables, every number with the place in its paper or datasheet that states it:

* :func:`landmark_models` -- year, parameters, training tokens, training compute and hardware of
  about a dozen models from AlexNet (2012) to Llama 2 (2023), read from ``landmark_models.json`` (shipped
  with the package). Where a paper states no compute, the figure is **estimated** as ``6 N D``
  (forward + backward, a multiply-add = 2 FLOPs, the attention term left out;
  :func:`bigmodel_lib.scale.six_n_d`) and flagged ``flops_kind == "estimated (6ND)"``; where even that does not apply
  (a CNN reuses each weight at many positions; unknown tokens) the compute stays ``None``.
* :data:`ACCELERATOR_GENERATIONS` -- one NVIDIA data-centre GPU per generation, K40 (2013) to H100
  (2022): the dense peak FLOP/s a training run could use (fp32 before 16-bit arithmetic, then fp16 /
  bf16 on tensor cores) and the fp32 peak. Peaks and years of GPUs in the library's hardware table
  (:data:`bigmodel_lib.benchmarks.hardware.GPU_SPECS`) are taken from it, not copied.

::

    from bigmodel_lib.data.landmark_models import landmark_models, landmark_model, ACCELERATOR_GENERATIONS
    rows = landmark_models()
    landmark_model("GPT-3 175B").training_flops      # 3.14e23, published (Brown et al. 2020, Table D.1)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from bigmodel_lib.benchmarks.hardware import GPU_SPECS, TFLOPS
from bigmodel_lib.scale import six_n_d

__all__ = [
    "ACCELERATOR_GENERATIONS",
    "FLOPS_KINDS",
    "TOKENS_KINDS",
    "AcceleratorGeneration",
    "LandmarkModel",
    "landmark_model",
    "landmark_models",
]

#: How a row's training compute was obtained.
FLOPS_KINDS = ("published", "estimated (6ND)", "not published")
#: How a row's training tokens were obtained (``None``: not stated or not meaningful).
TOKENS_KINDS = ("published", "derived", None)


@dataclass(frozen=True)
class LandmarkModel:
    """One row of the table; every number comes with a ``*_source`` naming where its paper states it."""

    year: int
    model: str
    organisation: str
    architecture: str
    paper: str
    parameters: float
    parameters_source: str
    training_tokens: float | None
    tokens_kind: str | None
    tokens_source: str
    training_flops: float | None
    flops_kind: str
    flops_source: str
    accelerators: int | None
    accelerator: str | None
    hardware_source: str

    @property
    def flops_published(self) -> bool:
        return self.flops_kind == "published"

    @property
    def tokens_per_parameter(self) -> float | None:
        return None if self.training_tokens is None else self.training_tokens / self.parameters


def _row(raw: dict) -> LandmarkModel:
    fields = dict(raw)
    where = f"landmark_models.json, {fields.get('model', '?')!r}"
    if fields["flops_kind"] not in FLOPS_KINDS or fields["tokens_kind"] not in TOKENS_KINDS:
        raise ValueError(f"{where}: unknown flops_kind {fields['flops_kind']!r} "
                         f"or tokens_kind {fields['tokens_kind']!r}")
    if fields["flops_kind"] == "estimated (6ND)":
        if fields["training_flops"] is not None:
            raise ValueError(f"{where}: an estimated row stores no compute; it is computed from parameters and tokens")
        fields["training_flops"] = six_n_d(fields["parameters"], fields["training_tokens"])
    elif (fields["training_flops"] is None) != (fields["flops_kind"] == "not published"):
        raise ValueError(f"{where}: compute {fields['training_flops']!r} does not fit "
                         f"flops_kind {fields['flops_kind']!r}")
    return LandmarkModel(**fields)


@cache
def landmark_models() -> tuple[LandmarkModel, ...]:
    """The rows of ``landmark_models.json`` in year order, estimated compute filled in (flagged)."""
    text = resources.files("bigmodel_lib.data").joinpath("landmark_models.json").read_text(encoding="utf-8")
    rows = tuple(_row(raw) for raw in json.loads(text)["models"])
    return tuple(sorted(rows, key=lambda row: row.year))


def landmark_model(name: str) -> LandmarkModel:
    """The row whose ``model`` is ``name`` (e.g. ``"GPT-3 175B"``, ``"Chinchilla"``)."""
    rows = {row.model: row for row in landmark_models()}
    if name not in rows:
        raise ValueError(f"landmark_model: 'name' must be one of {sorted(rows)}, got {name!r}")
    return rows[name]


@dataclass(frozen=True)
class AcceleratorGeneration:
    """One GPU generation: the dense peak a training run could use, and the plain fp32 peak."""

    year: int  # the launch year
    name: str
    training_dtype: str  # the fastest dense arithmetic training used on it: "fp32", "fp16" or "bf16"
    training_peak_flops: float
    fp32_peak_flops: float
    source: str


def _from_hardware_table(name: str, dtype: str, note: str) -> AcceleratorGeneration:
    """A generation whose year and peaks are read from the library's hardware table (one source per figure)."""
    spec = next(spec for spec in GPU_SPECS if spec.name == name)
    return AcceleratorGeneration(spec.year, name, dtype, spec.peak(dtype), spec.fp32,
                                 f"{spec.source}, launched {spec.year} (via bigmodel_lib.benchmarks.hardware); {note}")


ACCELERATOR_GENERATIONS: tuple[AcceleratorGeneration, ...] = (
    # Kepler has no fast 16-bit arithmetic: training ran in fp32.
    AcceleratorGeneration(2013, "K40", "fp32", 4.29 * TFLOPS, 4.29 * TFLOPS,
                          "NVIDIA Tesla K40 datasheet: 4.29 TFLOP/s single precision (base clock); "
                          "launched November 2013"),
    # Pascal: fp16 at twice the fp32 rate on the CUDA cores, no tensor cores yet.
    AcceleratorGeneration(2016, "P100 SXM2", "fp16", 21.2 * TFLOPS, 10.6 * TFLOPS,
                          "NVIDIA Tesla P100 datasheet (NVLink version): 21.2 TFLOP/s half, 10.6 single precision; "
                          "launched April 2016"),
    _from_hardware_table("V100 SXM2", "fp16", "the first tensor cores"),
    _from_hardware_table("A100", "bf16", "bf16 on tensor cores"),
    _from_hardware_table("H100 SXM", "bf16", "bf16 on tensor cores"),
)
