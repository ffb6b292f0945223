"""What every exercise of every chapter must do, checked once for all of them.

Each module of ``bigmodel_lib.exercises`` (except ``core``) is a chapter's (or notebook's) set. For every
:class:`Exercise` in it: the reference answer passes and prints "correct"; placeholders and nonsense fail
without raising; it has a prompt, hints and a solution; its key is unique; and some notebook asks it
(``<module>.<name>.check(`` appears in a chapter notebook), so no checker is orphaned. The chapter files
``test_exercises_<module>.py`` test what is specific: each answer against the library, each named mistake.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import bigmodel_lib.exercises as exercises_package
from bigmodel_lib.exercises.core import Exercise

MODULES = sorted(m.name for m in pkgutil.iter_modules(exercises_package.__path__) if m.name != "core")
LOADED = {module: importlib.import_module(f"bigmodel_lib.exercises.{module}") for module in MODULES}
ALL = [
    (module, name, getattr(LOADED[module], name))
    for module in MODULES
    for name in LOADED[module].__all__
    if isinstance(getattr(LOADED[module], name), Exercise)
]
IDS = [exercise.key for _, _, exercise in ALL]
NOTEBOOK_TEXT = "\n".join(p.read_text(encoding="utf-8")
                          for p in (Path(__file__).parent.parent / "chapters").rglob("*.ipynb"))


def test_every_module_has_exercises_and_keys_are_unique():
    assert set(MODULES) >= {"ch02", "ch03", "ch04_cnn", "ch04_rnn", "ch04_transformer", "ch04_gpt", "ch04_performance"}
    assert {module for module, _, _ in ALL} == set(MODULES)
    assert len(set(IDS)) == len(IDS)


@pytest.mark.parametrize(("module", "name", "exercise"), ALL, ids=IDS)
def test_key_is_the_name_the_notebook_calls(module, name, exercise):
    # the key printed in every verdict, "[ch04_gpt.perplexity]", is what the reader typed to call it
    assert exercise.key == f"{module}.{name}"


@pytest.mark.parametrize(("module", "name", "exercise"), ALL, ids=IDS)
def test_reference_solution_passes_and_prints_correct(module, name, exercise, capsys):
    assert exercise.check(exercise.reference()) is True
    assert "correct" in capsys.readouterr().out


@pytest.mark.parametrize(("module", "name", "exercise"), ALL, ids=IDS)
def test_placeholder_and_nonsense_answers_fail_without_raising(module, name, exercise, capsys):
    assert exercise.check(...) is False
    assert exercise.check("no idea") is False
    assert exercise.check([[1.5, 2.0], [3.0]]) is False  # ragged: the wrong kind of answer altogether
    assert "not yet" in capsys.readouterr().out


@pytest.mark.parametrize(("module", "name", "exercise"), ALL, ids=IDS)
def test_every_exercise_has_a_prompt_hints_a_solution_and_a_notebook(module, name, exercise, capsys):
    assert exercise.prompt and exercise.hints and exercise.solution_text
    exercise.hint()
    assert "hint 1/" in capsys.readouterr().out
    assert f"{module}.{name}.check(" in NOTEBOOK_TEXT, f"no notebook asks {module}.{name}"
