"""Chapter 06 answers every FAQ question of the five source articles: each is quoted verbatim where it is answered."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bigmodel_lib.data.faq import FAQ, FAQ_GROUPS, VERDICTS, FaqQuestion, faq_question, questions_in

CHAPTERS = Path(__file__).parent.parent / "chapters"
INDEX_NOTEBOOK = CHAPTERS / "06_faq" / "06_0_questions.ipynb"


def markdown_of(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown")


def test_twenty_questions_as_the_articles_ask_them() -> None:
    assert len(FAQ) == 20
    assert Counter(q.article for q in FAQ) == {1: 3, 2: 4, 3: 4, 4: 4, 5: 5}
    assert len({q.key for q in FAQ}) == len(FAQ) and len({q.question_zh for q in FAQ}) == len(FAQ)
    assert all(q.verdict in VERDICTS for q in FAQ)


def test_every_group_answers_at_least_one_question_and_every_question_has_a_group() -> None:
    assert {q.notebook for q in FAQ} == set(FAQ_GROUPS)
    assert sum(len(questions_in(nb)) for nb in FAQ_GROUPS) == len(FAQ)


@pytest.mark.parametrize("question", FAQ, ids=lambda q: q.key)
def test_each_question_is_quoted_verbatim_in_the_notebook_that_answers_it(question: FaqQuestion) -> None:
    notebook = CHAPTERS / question.notebook
    assert notebook.is_file(), f"{question.key}: {question.notebook} does not exist"
    assert question.question_zh in markdown_of(notebook), f"{question.key} is not quoted in {question.notebook}"


def test_the_index_notebook_quotes_every_question_and_links_every_answer() -> None:
    text = markdown_of(INDEX_NOTEBOOK)
    missing = [q.key for q in FAQ if q.question_zh not in text]
    assert missing == []
    unlinked = [nb for nb in FAQ_GROUPS if f"]({Path(nb).name})" not in text]
    assert unlinked == []


def test_lookups_and_bad_input() -> None:
    assert faq_question("5-Q2").article == 5
    assert faq_question("4-Q9.1").source == "source article 4 (原文4), §9.1"
    with pytest.raises(KeyError, match="no FAQ question"):
        faq_question("6-Q1")
    with pytest.raises(ValueError, match="notebook must be one of"):
        questions_in("06_faq/06_9_missing.ipynb")
    with pytest.raises(ValueError, match="verdict must be one of"):
        FaqQuestion("x", 1, "§1", "问", "q", "a", "great", "06_faq/06_3_speed.ipynb")
