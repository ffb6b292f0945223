"""The glossary (bigmodel_lib/data/glossary.py) is well formed, points at the notebooks that teach each
term, and the course's Chinese follows it.

Quotations: the course quotes the source articles verbatim, and a quotation keeps the article's words (the
articles write 变压器 for "Transformer", 跨注意力 for "cross-attention", …). A quotation is recognised as a
markdown blockquote line (starting with ``>``, how the appendix quotes a passage) or a span in corner brackets
「…」 (how the course quotes a phrase inline); code (fenced blocks and inline code spans) is skipped too. See
:func:`bigmodel_lib.data.glossary.course_prose`. Everything else is the course's own text and must use the
glossary's terms. "Transformer" as 变压器 is allowed **only** inside a quotation in ``chapters/appendix/``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from bigmodel_lib.data.glossary import CHAPTERS, GLOSSARY, GlossaryTerm, course_prose, find_terms, terms_by_chapter

ROOT = Path(__file__).parent.parent
CHAPTERS_DIR = ROOT / "chapters"
NOTEBOOKS = sorted(CHAPTERS_DIR.rglob("*.ipynb"))
MARKDOWN_FILES = sorted([ROOT / "README.md", *CHAPTERS_DIR.rglob("*.md"), *(ROOT / "docs").glob("*.md")])


def markdown_cells(path: Path) -> list[tuple[int, str]]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [(i, "".join(c["source"])) for i, c in enumerate(cells) if c["cell_type"] == "markdown"]


def course_texts() -> list[tuple[str, Path, str]]:
    """(where, path, markdown) for every notebook markdown cell and every markdown file of the course."""
    texts = [(str(p.relative_to(ROOT)), p, p.read_text(encoding="utf-8")) for p in MARKDOWN_FILES]
    for path in NOTEBOOKS:
        texts += [(f"{path.relative_to(ROOT)} cell {i}", path, text) for i, text in markdown_cells(path)]
    return texts


def offending_lines(where: str, text: str, pattern: re.Pattern) -> list[str]:
    return [f"{where}, line {n}: {pattern.search(line).group(0)!r} in {line.strip()[:120]!r}"
            for n, line in enumerate(text.splitlines(), 1) if pattern.search(line)]


# ---- the data ----

def test_the_glossary_is_big_enough_and_every_field_is_filled() -> None:
    assert len(GLOSSARY) >= 120
    for term in GLOSSARY:
        assert isinstance(term, GlossaryTerm)
        for field in ("english", "chinese", "first_taught", "definition_en"):
            value = getattr(term, field)
            assert isinstance(value, str) and value.strip() == value and value, f"{term.english}: {field}={value!r}"
        assert "\n" not in term.definition_en, f"{term.english}: the definition is one line"
        assert isinstance(term.avoid, tuple) and isinstance(term.aliases, tuple)
        assert term.chinese not in term.avoid, f"{term.english}: avoids its own Chinese term"


@pytest.mark.parametrize("field", ["english", "chinese"])
def test_no_term_appears_twice(field: str) -> None:
    counts = Counter(getattr(t, field).lower() for t in GLOSSARY)
    assert [value for value, n in counts.items() if n > 1] == []


def test_an_avoided_variant_is_no_other_terms_chinese() -> None:
    chinese = {t.chinese: t.english for t in GLOSSARY}
    clashes = [(t.english, variant, chinese[other]) for t in GLOSSARY for variant in t.avoid
               for other in chinese if variant in other]
    assert clashes == []


@pytest.mark.parametrize("term", GLOSSARY, ids=lambda t: t.english)
def test_first_taught_notebook_exists_has_the_section_and_mentions_the_term(term: GlossaryTerm) -> None:
    path = CHAPTERS_DIR / term.first_taught
    assert path.suffix == ".ipynb" and path.is_file(), f"{term.english}: no notebook {term.first_taught}"
    markdown = "\n".join(text for _, text in markdown_cells(path))
    if term.section:
        heading = re.compile(rf"^#{{1,6}}\s+{re.escape(term.section)}\s", re.MULTILINE)
        assert heading.search(markdown), f"{term.english}: no heading '{term.section} …' in {term.first_taught}"
    assert any(s.lower() in markdown.lower() for s in term.spellings), \
        f"{term.english}: {term.first_taught} mentions none of {term.spellings}"


def test_terms_are_grouped_by_chapter_in_course_order() -> None:
    grouped = terms_by_chapter()
    assert list(grouped) == [c for c in CHAPTERS if c in grouped]
    assert sum(len(terms) for terms in grouped.values()) == len(GLOSSARY)
    assert set(grouped) <= set(CHAPTERS)


def test_find_terms_searches_both_languages() -> None:
    assert [t.english for t in find_terms("键值缓存")] == ["key/value cache (KV cache)"]
    assert "attention" in [t.english for t in find_terms("ATTENTION")]
    assert find_terms("no such term anywhere") == []


def test_course_prose_drops_quotations_and_code_only() -> None:
    text = "> 变压器的架构如下\n我们说 Transformer，「变压器」是原文的词。\n```\n变压器 = 1\n```\n`变压器` 变压器"
    prose = course_prose(text)
    assert prose.count("变压器") == 1 and prose.splitlines()[-1].strip() == "变压器"
    assert len(prose.splitlines()) == len(text.splitlines())


# ---- consistency of the course's Chinese ----

def test_no_course_text_uses_an_avoided_variant() -> None:
    rules = [(variant, term) for term in GLOSSARY for variant in term.avoid]
    pattern = re.compile("|".join(re.escape(v) for v, _ in rules))
    english = {v: t for v, t in rules}
    offenders = []
    for where, _, text in course_texts():
        for line in offending_lines(where, course_prose(text), pattern):
            variant = re.search(r"'([^']*)' in", line).group(1)
            term = english[variant]
            offenders.append(f"{line} -> for {term.english!r} write {term.chinese!r}")
    assert offenders == [], "\n".join(offenders)


def test_transformer_is_never_translated_as_an_electrical_transformer() -> None:
    """变压器 only inside a quotation of the source articles in the appendix."""
    pattern = re.compile("变压器")
    offenders = []
    for where, path, text in course_texts():
        in_appendix = (CHAPTERS_DIR / "appendix") in path.parents
        offenders += offending_lines(where, course_prose(text) if in_appendix else text, pattern)
    assert offenders == [], "\n".join(offenders)


def test_the_source_articles_are_yuanwen_in_chinese() -> None:
    """种子 ("seed") only as 随机种子 (a random seed), never for the source articles, which are 原文."""
    pattern = re.compile("(?<!随机)种子")
    offenders = [line for where, _, text in course_texts()
                 for line in offending_lines(where, course_prose(text), pattern)]
    assert offenders == [], "\n".join(offenders)
    source_articles = next(t for t in GLOSSARY if t.english == "the source articles")
    assert source_articles.chinese == "原文"
    assert any("原文" in course_prose(text) for _, _, text in course_texts())


def test_the_checks_find_an_avoided_variant_and_spare_a_quotation() -> None:
    """The consistency checks are not vacuous: the same scan flags a variant in prose, not in a quotation."""
    pattern = re.compile("|".join(re.escape(v) for t in GLOSSARY for v in t.avoid))
    text = "每个令牌的计算量\n> 原文：变压器的架构如下\n原文称其为「跨注意力」，随机种子为 0\n`标记器`"
    found = offending_lines("example", course_prose(text), pattern)
    assert found == ["example, line 1: '令牌' in '每个令牌的计算量'"]
    assert offending_lines("example", course_prose("种子文章"), re.compile("(?<!随机)种子")) != []
