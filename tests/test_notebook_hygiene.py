"""Notebooks are stored clean and every one of them is executed by nbval in `make test`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bigmodel_lib.notebook_tools import find_notebooks, problems, strip

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = find_notebooks(ROOT / "chapters")


def test_there_are_chapter_notebooks() -> None:
    assert NOTEBOOKS, "chapters/ holds no notebooks"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_is_stored_clean(notebook: Path) -> None:
    found = problems(notebook)
    assert not found, "\n".join(found) + "\nfix: python -m bigmodel_lib.notebook_tools strip chapters"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_has_bilingual_headings_and_a_parameters_cell(notebook: Path) -> None:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    headings = [line for cell in nb["cells"] if cell["cell_type"] == "markdown"
                for line in "".join(cell["source"]).splitlines() if line.startswith("#")]
    assert headings, "no headings"
    assert any("·" in h for h in headings), "headings should be bilingual: 'English · 中文'"
    if "appendix" not in notebook.parts:  # chapter notebooks: bigger runs are one parameter away
        tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"expected one cell tagged 'parameters', found {len(tagged)}"


def test_every_notebook_is_collected_by_nbval() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "--nbval-lax", "--nbval-current-env", "chapters"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    collected = result.stdout
    for notebook in NOTEBOOKS:
        assert str(notebook.relative_to(ROOT)) + "::" in collected, f"nbval does not collect {notebook}"


def test_strip_removes_outputs(tmp_path: Path) -> None:
    dirty = {
        "cells": [{"cell_type": "code", "execution_count": 3, "metadata": {}, "outputs": [{"output_type": "stream",
                   "name": "stdout", "text": "hi"}], "source": "print('hi')"}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                     "widgets": {"state": {}}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    path = tmp_path / "dirty.ipynb"
    path.write_text(json.dumps(dirty), encoding="utf-8")
    assert len(problems(path)) == 3
    assert strip(path)
    assert problems(path) == []
    assert not strip(path)  # idempotent
