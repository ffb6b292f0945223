"""The attention benchmark and its timing helpers run (tiny sizes here; the real run is `python -m`)."""

from __future__ import annotations

import re

import pytest

from bigmodel_lib.benchmarks import attention, timing


def test_compare_times_every_function_interleaved():
    calls: list[str] = []
    result = timing.compare({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, warmup=1, repeats=3)
    assert calls == ["a", "b"] * 4  # warm-up round, then the three timed rounds, interleaved
    assert set(result) == {"a", "b"} and all(len(t.seconds) == 3 for t in result.values())
    assert result["a"].best <= result["a"].median
    assert re.fullmatch(r"a: median \d+\.\d\d ms, best \d+\.\d\d ms \(3 runs\)", str(result["a"]))
    with pytest.raises(ValueError, match=re.escape("expected warmup >= 0 and repeats >= 1, got warmup=0, repeats=0")):
        timing.compare({"a": lambda: None}, warmup=0, repeats=0)
    assert "logical CPUs" in timing.machine_description()


def test_attention_benchmarks_run_on_tiny_sizes(capsys):
    mha = attention.bench_multihead(batch=1, length=8, d_model=8, heads=2, repeats=2, warmup=1)
    sdpa = attention.bench_numpy_sdpa(batch=1, heads=2, length=8, d_head=4, repeats=2, warmup=1)
    for timings in (mha, sdpa):
        assert len(timings) == 2 and all(t.median > 0 for t in timings.values())
    assert attention._report("tiny", sdpa, limit=1e9) is True
    assert "requirement <= 1e+09: PASS" in capsys.readouterr().out
