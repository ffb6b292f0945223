"""Seeding and device selection."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from bigmodel_lib import describe_device, get_numpy_rng, pick_device, seed_everything


def test_seed_everything_seeds_all_generators() -> None:
    seed_everything(7)
    first = (random.random(), np.random.rand(), get_numpy_rng().random(), torch.rand(1).item())
    seed_everything(7)
    second = (random.random(), np.random.rand(), get_numpy_rng().random(), torch.rand(1).item())
    assert first == second


def test_seed_everything_refuses_non_integers() -> None:
    with pytest.raises(TypeError, match="'seed' must be an int, got float"):
        seed_everything(1.5)


def test_pick_device_reports_one_line(capsys, monkeypatch) -> None:
    monkeypatch.delenv("BIGMODEL_DEVICE", raising=False)
    device = pick_device()
    line = capsys.readouterr().out.strip()
    assert "\n" not in line and line.startswith(device.type + ":")
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert device.type == expected


def test_pick_device_can_be_forced(monkeypatch) -> None:
    monkeypatch.setenv("BIGMODEL_DEVICE", "cpu")
    assert pick_device(verbose=False).type == "cpu"
    assert describe_device("cpu").startswith("cpu:")


def test_limit_cpu_threads_sets_and_restores() -> None:
    from threadpoolctl import threadpool_info

    from bigmodel_lib import limit_cpu_threads

    before = torch.get_num_threads()
    blas_before = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    with limit_cpu_threads(1):
        assert torch.get_num_threads() == 1
        assert all(info["num_threads"] == 1 for info in threadpool_info() if info["user_api"] == "blas")
    assert torch.get_num_threads() == before
    assert [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"] == blas_before
    with limit_cpu_threads(None):
        assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="'n' must be a positive int or None, got 0"):
        limit_cpu_threads(0)


def test_progress_is_plain_tqdm_outside_a_notebook(capsys) -> None:
    from bigmodel_lib.progress import progress

    bar = progress(range(3), desc="steps")
    assert list(bar) == [0, 1, 2]
    assert "steps: 100%" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["gpu", "cuda0", "CPU:0", "tpu", "", "cuda:x"])
def test_bigmodel_device_rejects_unknown_values(value, monkeypatch) -> None:
    from bigmodel_lib.utils import parse_device_setting

    with pytest.raises(ValueError, match="cpu, cuda, cuda:N"):
        parse_device_setting(value)


def test_bigmodel_device_accepts_cpu_and_rejects_absent_gpus(monkeypatch) -> None:
    import torch

    from bigmodel_lib.utils import parse_device_setting, pick_device

    monkeypatch.setenv("BIGMODEL_DEVICE", " CPU ")
    assert pick_device(verbose=False) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no CUDA GPU"):
        parse_device_setting("cuda:0")


def test_limit_cpu_threads_has_a_readable_repr() -> None:
    from bigmodel_lib import limit_cpu_threads

    with limit_cpu_threads(1) as limit:
        assert repr(limit) == "limit_cpu_threads(1): NumPy's BLAS and PyTorch use 1 thread each"
    with limit_cpu_threads(2) as limit:
        assert "use 2 threads each" in repr(limit)
