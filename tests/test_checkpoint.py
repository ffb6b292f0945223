"""Checkpoints: a round trip restores model and optimizer exactly (training continues as if never
stopped), loading uses weights_only=True (a pickle carrying code is refused), and bad files fail clearly."""

from __future__ import annotations

import pickle

import pytest
import torch

from bigmodel_lib.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint
from bigmodel_lib.lm_training import get_batch, train_step
from bigmodel_lib.nn_torch.gpt import GPT, GPTConfig

CONFIG = GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=2, d_model=8)
DATA = torch.arange(500) % 7


def _model_and_optimizer(seed: int = 0):
    torch.manual_seed(seed)
    model = GPT(CONFIG)
    return model, model.configure_optimizer(learning_rate=1e-2)


def _train(model, opt, steps: int, seed: int) -> list[float]:
    gen = torch.Generator().manual_seed(seed)
    return [train_step(model, opt, *get_batch(DATA, 4, 8, gen)).item() for _ in range(steps)]


def test_resuming_from_a_checkpoint_continues_exactly_like_uninterrupted_training(tmp_path):
    model, opt = _model_and_optimizer()
    _train(model, opt, 5, seed=1)
    path = save_checkpoint(tmp_path / "ckpt.pt", model, opt, step=5, extra={"note": "after 5 steps", "loss": [1.5]})
    uninterrupted = _train(model, opt, 5, seed=2)

    other, other_opt = _model_and_optimizer(seed=123)  # different weights before loading
    checkpoint = load_checkpoint(path, other, other_opt)
    assert checkpoint["step"] == 5 and checkpoint["extra"] == {"note": "after 5 steps", "loss": [1.5]}
    assert checkpoint["config"] == CONFIG.to_dict() and checkpoint["format"] == CHECKPOINT_FORMAT
    assert _train(other, other_opt, 5, seed=2) == uninterrupted


def test_loading_refuses_a_pickle_that_would_run_code(tmp_path):
    class RunsCode:
        def __reduce__(self):
            return (print, ("this ran while loading",))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"format": CHECKPOINT_FORMAT, "model": RunsCode()}, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        load_checkpoint(path)


def test_saving_non_plain_extra_fails_now_and_leaves_no_file(tmp_path):
    model, _ = _model_and_optimizer()
    path = tmp_path / "bad.pt"
    with pytest.raises(TypeError, match="weights_only"):
        save_checkpoint(path, model, extra={"generator": torch.Generator()})
    assert not path.exists() and not list(tmp_path.iterdir())


def test_bad_paths_and_foreign_files(tmp_path):
    model, opt = _model_and_optimizer()
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save(model.state_dict(), foreign)  # a bare state_dict, not our format
    with pytest.raises(ValueError, match="is not a"):
        load_checkpoint(foreign, model)
    no_opt = save_checkpoint(tmp_path / "weights.pt", model)
    with pytest.raises(ValueError, match="no optimizer state"):
        load_checkpoint(no_opt, model, opt)


def test_a_compiled_wrapper_is_saved_as_the_model_inside():
    from bigmodel_lib.checkpoint import _unwrap

    model, _ = _model_and_optimizer()

    class Wrapper(torch.nn.Module):  # what torch.compile returns keeps the model as _orig_mod
        def __init__(self, inner):
            super().__init__()
            self._orig_mod = inner

    assert _unwrap(Wrapper(model)) is model and _unwrap(model) is model


def test_a_config_saved_before_new_fields_existed_still_matches() -> None:
    from bigmodel_lib.checkpoint import config_matches, model_config_dict
    from bigmodel_lib.contracts.gpt import GPTConfig
    from bigmodel_lib.nn_torch import GPT

    model = GPT(GPTConfig(vocab_size=20, block_size=8, n_layer=1, n_head=2, d_model=8))
    stored = model_config_dict(model)
    newest_field = list(stored)[-1]
    older = {key: value for key, value in stored.items() if key != newest_field}  # as an older library saved it
    assert config_matches(older, model)
    assert not config_matches({**older, "n_layer": 2}, model)
    assert not config_matches({**stored, "no_such_field": 1}, model)
