"""Notebook 6.5's exercises: the reference answers agree with an independent count, the exact int passes (as an int
or a whole float), and the usual slips fail with a message naming them."""

import math

import pytest
import torch

from bigmodel_lib.exercises import ch06_labels as ex
from bigmodel_lib.exercises.core import Exercise
from bigmodel_lib.lm_training import get_batch

EXERCISES = [getattr(ex, name) for name in ex.__all__ if isinstance(getattr(ex, name), Exercise)]


def verdict(exercise, answer):
    return exercise.checker(answer)


def test_every_exercise_is_listed_and_its_reference_passes():
    assert {e.key for e in EXERCISES} == {"ch06_labels.free_targets", "ch06_labels.break_even_tasks",
                                          "ch06_labels.flat_mlp_parameters"}
    for exercise in EXERCISES:
        ok, message = verdict(exercise, exercise.reference())
        assert ok and "checked" in message, exercise.key


def test_the_checker_wants_one_whole_number(capsys):
    assert verdict(ex.break_even_tasks, 12.0)[0]
    assert not ex.break_even_tasks.check(50_000 / 4_500)
    assert "whole number" in capsys.readouterr().out
    assert not ex.break_even_tasks.check((12, 12))


# -- free targets ----------------------------------------------------------------------------------------------------

def test_free_targets_count_the_windows_of_get_batch():
    tokens, block = ex.TEXT["tokens"], ex.TEXT["block_size"]
    windows = tokens // (block + 1)
    assert ex.free_targets.reference() == windows * block == 992_124
    # one window as get_batch cuts it: block inputs, block targets shifted by one, from block + 1 tokens
    data = torch.arange(block + 1)
    x, y = get_batch(data, 1, block, torch.Generator().manual_seed(0))
    assert x.numel() == y.numel() == block and torch.equal(y[0, :-1], x[0, 1:])
    assert verdict(ex.free_targets, 992_124)[0]
    assert not verdict(ex.free_targets, 992_125)[0]


@pytest.mark.parametrize(("answer", "words"), [
    (7_812, "counts windows"),
    (999_998, "needs block_size + 1 tokens"),
    (999_936, "first token is never a target"),
])
def test_free_targets_name_the_slips(answer, words):
    ok, message = verdict(ex.free_targets, answer)
    assert not ok and words in message, message


# -- break-even ------------------------------------------------------------------------------------------------------

def test_break_even_is_the_first_n_where_pretraining_costs_no_more():
    b = ex.BREAK_EVEN
    n = next(n for n in range(1, 1000)
             if b["pretrain_steps"] + b["finetune_steps"] * n <= b["scratch_steps"] * n)
    assert ex.break_even_tasks.reference() == n == 12
    assert not verdict(ex.break_even_tasks, 13)[0]


@pytest.mark.parametrize(("answer", "words"), [
    (11, "rounded down"),
    (math.ceil(50_000 / 6_000), "divide by the steps saved"),
])
def test_break_even_names_the_slips(answer, words):
    ok, message = verdict(ex.break_even_tasks, answer)
    assert not ok and words in message, message


# -- flat MLP --------------------------------------------------------------------------------------------------------

def test_flat_mlp_parameters_match_torch():
    m = ex.FLAT_MLP
    mlp = torch.nn.Sequential(torch.nn.Linear(m["length"] * m["width"], m["hidden"]), torch.nn.ReLU(),
                              torch.nn.Linear(m["hidden"], m["hidden"]), torch.nn.ReLU(),
                              torch.nn.Linear(m["hidden"], m["classes"]))
    count = sum(p.numel() for p in mlp.parameters())
    assert ex.flat_mlp_parameters.reference() == count == 148_420
    assert verdict(ex.flat_mlp_parameters, count)[0]
    assert not verdict(ex.flat_mlp_parameters, count + 1)[0]


@pytest.mark.parametrize(("answer", "words"), [
    (148_000, "biases are missing"),
    (52_420, "13 x 40 numbers"),
    (108_220, "three Linear layers"),
])
def test_flat_mlp_parameters_name_the_slips(answer, words):
    ok, message = verdict(ex.flat_mlp_parameters, answer)
    assert not ok and words in message, message
