"""The runner for the source articles' code: errors are printed and returned, repairs are exact."""

import sys

import pytest

from bigmodel_lib.source_code import patch_source, run_source_code, run_with_keras_stub


def test_run_source_code_returns_none_and_fills_namespace() -> None:
    namespace: dict = {}
    assert run_source_code("x = 1 + 1", namespace) is None
    assert namespace["x"] == 2


def test_run_source_code_prints_and_returns_the_error(capsys: pytest.CaptureFixture[str]) -> None:
    message = run_source_code("undefined_name + 1")
    assert message == "NameError: name 'undefined_name' is not defined"
    assert capsys.readouterr().out.strip() == message


def test_patch_source_replaces_exactly_one_passage() -> None:
    assert patch_source("a = 1\nb = 2", "b = 2", "b = 3") == "a = 1\nb = 3"
    with pytest.raises(ValueError, match="found 0"):
        patch_source("a = 1", "c", "d")
    with pytest.raises(ValueError, match="found 2"):
        patch_source("a a", "a", "b")


def test_keras_stub_runs_a_sequential_model_and_restores_modules(capsys: pytest.CaptureFixture[str]) -> None:
    before = sys.modules.get("tensorflow")
    code = (
        "from tensorflow.keras.models import Sequential\n"
        "from tensorflow.keras.layers import Dense, LSTM\n"
        "model = Sequential([LSTM(64, input_shape=(timesteps, 3)), Dense(2)])\n"
        "model.compile(optimizer='adam')\nmodel.fit(x_train, y_train)\n"
    )
    assert run_with_keras_stub(code, {"timesteps": 5, "x_train": 0, "y_train": 0}) is None
    assert "ran to the end (with the stub)" in capsys.readouterr().out
    # without the names the snippet never defines, the reader's first error is shown
    assert run_with_keras_stub(code) == "NameError: name 'timesteps' is not defined"
    assert sys.modules.get("tensorflow") is before
