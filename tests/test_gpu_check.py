"""``python -m bigmodel_lib.benchmarks.gpu_check``: refuses cleanly without CUDA, and its ``--cpu-smoke``
mode runs every code path (CNN bf16 + channels_last, fused LSTM, SDPA backends, GPT with bf16 autocast and
``torch.compile``, MFU) on tiny sizes and writes its section between the markers. No timing is checked."""

from __future__ import annotations

import pytest
import torch

from bigmodel_lib.benchmarks import gpu_check

BEFORE = "# Performance\n\nIntro text.\n"
AFTER = "\n## Later section\n\nkept as it was.\n"


def test_replace_section_appends_then_replaces():
    section = f"{gpu_check.START_MARKER}\nfirst\n{gpu_check.END_MARKER}\n"
    once = gpu_check.replace_section(BEFORE, section)
    assert once.startswith(BEFORE.rstrip("\n")) and once.endswith(section)
    document = BEFORE + "\n" + section.rstrip("\n") + AFTER
    again = gpu_check.replace_section(document, section.replace("first", "second"))
    assert "second" in again and "first" not in again
    assert again.startswith(BEFORE) and again.endswith(AFTER)
    assert again.count(gpu_check.START_MARKER) == 1 and again.count(gpu_check.END_MARKER) == 1


@pytest.mark.parametrize("broken", [gpu_check.START_MARKER, gpu_check.END_MARKER,
                                    f"{gpu_check.END_MARKER}\n{gpu_check.START_MARKER}"])
def test_replace_section_rejects_broken_markers(broken):
    with pytest.raises(ValueError, match="expected one"):
        gpu_check.replace_section(BEFORE + broken, "x")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the refusal path is not taken")
def test_without_cuda_it_refuses_and_writes_nothing(tmp_path, capsys):
    doc = tmp_path / "performance.md"
    doc.write_text(BEFORE)
    assert gpu_check.main(["--output", str(doc)]) == gpu_check.NO_CUDA_EXIT != 0
    assert doc.read_text() == BEFORE
    err = capsys.readouterr().err
    assert "no CUDA GPU" in err and "nothing was written" in err and "--cpu-smoke" in err


def test_cpu_smoke_runs_every_part_and_writes_the_section(tmp_path, capsys):
    doc = tmp_path / "performance.md"
    stale = f"{gpu_check.START_MARKER}\nstale figures\n{gpu_check.END_MARKER}"
    doc.write_text(BEFORE + "\n" + stale + AFTER)
    assert gpu_check.main(["--cpu-smoke", "--output", str(doc)]) == 0
    text = doc.read_text()
    assert "stale figures" not in text and text.startswith(BEFORE) and text.endswith(AFTER)
    section = text[text.index(gpu_check.START_MARKER):text.index(gpu_check.END_MARKER)]
    assert "CPU smoke run" in section and f"torch {torch.__version__}" in section and "failed" not in section
    for heading in ("### CNN", "### LSTM", "### SDPA backends", "### GPT training"):
        assert heading in section
    assert "bf16 autocast + channels_last" in section and "bf16 + compile" in section
    assert "The two outputs agree" in section  # the fused LSTM equals the stepped cell
    assert "forward + backward" in section  # the FLOP convention is stated
    assert "MFU" in section


def test_cpu_smoke_parts_return_plain_data():
    sizes = gpu_check.SMOKE_SIZES
    device = torch.device("cpu")
    lstm = gpu_check.check_lstm(device, sizes)
    assert lstm["agree"] and not lstm["cudnn"] and lstm["fused_s"] > 0
    rows = gpu_check.check_sdpa(device, sizes)
    math_peak = [r for r in rows if r["benchmark"] == "memory" and r["impl"] == "cpu-math"
                 and r["pass"] == "forward" and r["length"] == sizes.sdpa_lengths[-1]]
    weights = [r for r in rows if r["impl"] == "analytic" and r["length"] == sizes.sdpa_lengths[-1]]
    assert math_peak[0]["bytes"] >= weights[0]["bytes"]  # the math kernel builds the (B, h, L, L) weights


def test_the_docs_page_holds_one_gpu_check_section():
    text = gpu_check.DEFAULT_DOC.read_text(encoding="utf-8")
    assert text.count(gpu_check.START_MARKER) == 1 and text.count(gpu_check.END_MARKER) == 1
    assert gpu_check.replace_section(text, f"{gpu_check.START_MARKER}\nnew\n{gpu_check.END_MARKER}\n").count("new") >= 1
