"""The errata appendix is complete and indexed: every section of the five articles was read, every section found wrong
is corrected by an entry, every entry cites sections that exist, and the appendix README's index is current."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from bigmodel_lib.data.article_sections import ARTICLE_SECTIONS, ArticleSection
from bigmodel_lib.errata_index import (
    SECTION,
    counts_markdown,
    errata_entries,
    index_by_article,
    index_markdown,
    section_sort_key,
)

README = Path(__file__).parent.parent / "chapters" / "appendix" / "README.md"
ENTRIES = errata_entries()
KNOWN = {(s.article, s.section) for s in ARTICLE_SECTIONS}
CITED = {citation for entry in ENTRIES for citation in entry.citations}


def test_entry_ids_are_unique_and_every_entry_has_a_title_and_cites_a_section() -> None:
    counts = Counter(entry.entry_id for entry in ENTRIES)
    assert [entry_id for entry_id, n in counts.items() if n > 1] == []
    assert [e.entry_id for e in ENTRIES if not e.title] == []
    assert [e.entry_id for e in ENTRIES if not e.citations] == []


def test_every_citation_names_a_section_of_the_table() -> None:
    unknown = [(e.entry_id, c) for e in ENTRIES for c in e.citations if c not in KNOWN]
    assert unknown == []


@pytest.mark.parametrize("section", [s for s in ARTICLE_SECTIONS if s.verdict == "errors"],
                         ids=lambda s: f"{s.article}-{s.section}")
def test_a_section_with_errors_is_corrected_by_an_entry(section: ArticleSection) -> None:
    assert (section.article, section.section) in CITED


def test_a_section_read_as_right_or_vague_is_cited_by_no_entry() -> None:
    assert [s for s in ARTICLE_SECTIONS if s.verdict != "errors" and (s.article, s.section) in CITED] == []


def test_sections_are_listed_once_in_reading_order() -> None:
    keys = [(s.article, section_sort_key(s.section)) for s in ARTICLE_SECTIONS]
    assert len(set(keys)) == len(keys) and keys == sorted(keys)
    assert {s.article for s in ARTICLE_SECTIONS} == {1, 2, 3, 4, 5}


def test_the_readme_index_is_the_one_the_notebooks_give() -> None:
    text = README.read_text(encoding="utf-8")
    assert index_markdown(ENTRIES) in text, "run: python -m bigmodel_lib.errata_index, and paste its tables"
    assert counts_markdown(ENTRIES) in text, "run: python -m bigmodel_lib.errata_index, and paste its tables"


def test_the_parser_reads_numbered_and_named_sections() -> None:
    found = [numbered or named for numbered, named in SECTION.findall("§3.2.1 and §9.4, 参考文献, §摘要")]
    assert found == ["3.2.1", "9.4", "参考文献", "摘要"]
    assert section_sort_key("1.10") > section_sort_key("1.3.2") and section_sort_key("结论") > section_sort_key("9")
    assert set(index_by_article(ENTRIES)) == {1, 2, 3, 4, 5}
    with pytest.raises(ValueError, match="verdict must be one of"):
        ArticleSection(1, "1", "x", "fine")
