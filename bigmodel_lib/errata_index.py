"""The index of the errata appendix by source article and section, read from the appendix notebooks.

Every entry of ``chapters/appendix/errata_*.ipynb`` opens with an anchor and a heading, ``<a id="02-E3"></a>`` then
``## 02-E3 · title`` (or ``###`` where a notebook groups entries), and names what it corrects in lines
``**原文:** source article N (原文N), §S …``. This module collects those citations, so the appendix README's index by
article and section is built from the notebooks themselves and a test can check it is complete::

    python -m bigmodel_lib.errata_index            # prints the index table
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bigmodel_lib.data.article_sections import ARTICLE_SECTIONS, ArticleSection

__all__ = ["ErrataEntry", "SECTION", "counts_markdown", "entries_per_article", "errata_entries", "index_by_article",
           "index_markdown", "section_sort_key"]

APPENDIX = Path(__file__).resolve().parent.parent / "chapters" / "appendix"
_ANCHOR = re.compile(r"<a id=\"([^\"]+)\"></a>")
_HEADING = re.compile(r"^#{2,3} (\S+) · (.+)$", re.MULTILINE)
_CITATION = re.compile(r"^\*\*原文:\*\* source article ([1-5]) \(原文\1\),? ?(.*)$", re.MULTILINE)
#: A section as the articles number it, "§3.2.1", "§9.4", or a named part, "参考文献", "§摘要", "结论", "结语".
SECTION = re.compile(r"§\s?([0-9]+(?:\.[0-9]+)*)|§?(参考文献|摘要|结论|结语)")


@dataclass(frozen=True)
class ErrataEntry:
    """One entry of the appendix: its ID, notebook, title and the (article, section) pairs it corrects."""

    entry_id: str
    notebook: str
    title: str
    citations: tuple[tuple[int, str], ...]

    @property
    def link(self) -> str:
        return f"[{self.entry_id}]({self.notebook}#{self.entry_id})"


def _markdown_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown"]


def errata_entries(appendix: Path = APPENDIX) -> list[ErrataEntry]:
    """Every anchored entry of every ``errata_*.ipynb`` in ``appendix``, in notebook order.

    An entry runs from its anchor to the next anchor (its text may span several markdown cells)."""
    entries = []
    for path in sorted(appendix.glob("errata_*.ipynb")):
        text = "\n".join(_markdown_cells(path))
        anchors = list(_ANCHOR.finditer(text))
        for i, anchor in enumerate(anchors):
            body = text[anchor.end(): anchors[i + 1].start() if i + 1 < len(anchors) else len(text)]
            heading = _HEADING.search(body)
            title = heading.group(2).strip() if heading else ""
            citations = []
            for article, rest in _CITATION.findall(body):
                for numbered, named in SECTION.findall(rest):
                    section = numbered or named
                    if (int(article), section) not in citations:
                        citations.append((int(article), section))
            entries.append(ErrataEntry(anchor.group(1), path.name, title, tuple(citations)))
    return entries


def section_sort_key(section: str) -> tuple:
    """Reading order: the abstract (摘要) first, numbered sections in numeric order ("1.3.2" < "1.10"), then the
    named closing parts (结论, 结语, 参考文献)."""
    if section == "摘要":
        return (-1, (), section)
    if section[0].isdigit():
        return (0, tuple(int(part) for part in section.split(".")), "")
    return (1, (), section)


def index_by_article(entries: list[ErrataEntry]) -> dict[int, dict[str, list[ErrataEntry]]]:
    """article -> section -> the entries citing it, both in reading order."""
    table: dict[int, dict[str, list[ErrataEntry]]] = defaultdict(lambda: defaultdict(list))
    for entry in entries:
        for article, section in entry.citations:
            table[article][section].append(entry)
    return {a: dict(sorted(table[a].items(), key=lambda kv: section_sort_key(kv[0]))) for a in sorted(table)}


def index_markdown(entries: list[ErrataEntry], sections: tuple[ArticleSection, ...] = ARTICLE_SECTIONS) -> str:
    """The README's index: one row per section of every article, with the links of the entries that correct it,
    or the verdict of the reading where nothing needed correcting."""
    cited = index_by_article(entries)
    lines = ["| 原文 | § | section · 小节 | entries · 勘误 |", "|---|---|---|---|"]
    for section in sections:
        found = cited.get(section.article, {}).get(section.section, [])
        cell = ", ".join(entry.link for entry in found) if found else f"— ({section.verdict})"
        lines.append(f"| 原文{section.article} | §{section.section} | 「{section.title_zh}」 | {cell} |")
    return "\n".join(lines)


def entries_per_article(entries: list[ErrataEntry]) -> dict[int, int]:
    """How many distinct entries correct something in each article."""
    return {article: len({e.entry_id for cited in sections.values() for e in cited})
            for article, sections in index_by_article(entries).items()}


def counts_markdown(entries: list[ErrataEntry], sections: tuple[ArticleSection, ...] = ARTICLE_SECTIONS) -> str:
    """Per article: sections read, sections with errors, and the distinct entries that correct it."""
    per_article = entries_per_article(entries)
    lines = ["| 原文 | sections read · 已读小节 | with errors · 有误小节 | entries · 勘误条目 |", "|---|---|---|---|"]
    for article in sorted({s.article for s in sections}):
        read = [s for s in sections if s.article == article]
        wrong = [s for s in read if s.verdict == "errors"]
        lines.append(f"| 原文{article} | {len(read)} | {len(wrong)} | {per_article.get(article, 0)} |")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - a maintainer's command
    found = errata_entries()
    uncited = [entry.entry_id for entry in found if not entry.citations]
    print(counts_markdown(found), index_markdown(found), sep="\n\n")
    if uncited:
        print("\nentries without a '**原文:** source article N (原文N), §S' line:", ", ".join(uncited), file=sys.stderr)
