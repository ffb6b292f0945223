"""The exercises of notebook 6.8: the reference passes, an answer rounded as asked passes, named slips are named."""

from __future__ import annotations

import pytest

from bigmodel_lib.exercises import ch06_cost


def test_references_pass(capsys: pytest.CaptureFixture[str]) -> None:
    for exercise in (ch06_cost.gpu_hours, ch06_cost.test_examples):
        assert exercise.check(exercise.reference())
    assert "checked" in capsys.readouterr().out


def test_gpu_hours_rounded_to_three_figures_passes_and_slips_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    exact = 1e21 / (989.5e12 * 0.35) / 3600
    assert abs(exact - 802.07) < 0.01
    assert ch06_cost.gpu_hours.check(802)
    assert not ch06_cost.gpu_hours.check(281)
    assert "MFU" in capsys.readouterr().out
    assert not ch06_cost.gpu_hours.check(2.887e6)
    assert "3600" in capsys.readouterr().out
    assert not ch06_cost.gpu_hours.check(790)


def test_test_examples_is_an_exact_int_and_slips_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    assert ch06_cost.test_examples.reference() == 1537
    assert ch06_cost.test_examples.check(1537)
    assert not ch06_cost.test_examples.check(1536)
    assert not ch06_cost.test_examples.check(1600)
    assert "z = 2" in capsys.readouterr().out
    assert not ch06_cost.test_examples.check(2401)
    assert "worst case" in capsys.readouterr().out
