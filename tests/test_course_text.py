"""The course reads on its own: every link resolves, nothing points outside the repository, each
notebook opens with its own title, and the source articles are never called "seeds" (a word the
course keeps for random seeds)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
NOTEBOOKS = sorted((ROOT / "chapters").rglob("*.ipynb"))
MARKDOWN_FILES = sorted([ROOT / "README.md", *(ROOT / "chapters").rglob("*.md"), *(ROOT / "docs").rglob("*.md")])
LIBRARY_FILES = sorted((ROOT / "bigmodel_lib").rglob("*.py"))

# "seed" meaning one of the source articles (random seeds stay: seed_everything(0), seed=3, "per seed")
ARTICLE_AS_SEED = re.compile(
    r"seeds?(?:'s|')?[ _-]?(?:article|code|text|formula|00[0-4])"
    r"|seed[ _-](?:mlp|cnn|rnn|transformer)"
    r"|\bthe seeds\b"
    r"|SEED_(?:0|[A-Z]*MLP|[A-Z]*CODE|[A-Z]*MODEL|[0-9])",
    re.IGNORECASE,
)
OUTSIDE_THE_REPOSITORY = re.compile(r"shared/|seeds/|DESIGN(?:\.md| §)|\.\./\.\./\.\.")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def notebook_cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def learner_texts() -> list[tuple[str, str]]:
    """(where, text) for every markdown file, notebook cell and library source file."""
    texts = [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")) for p in MARKDOWN_FILES + LIBRARY_FILES]
    for path in NOTEBOOKS:
        for i, cell in enumerate(notebook_cells(path)):
            texts.append((f"{path.relative_to(ROOT)} cell {i}", "".join(cell["source"])))
    return texts


def anchors(path: Path) -> set[str]:
    """Explicit anchors (<a id="E3"></a>) of a notebook or markdown file."""
    text = path.read_text(encoding="utf-8")
    return set(re.findall(r"<a (?:id|name)=\\?[\"']([^\"'\\]+)\\?[\"']", text))


def test_the_source_articles_are_never_called_seeds() -> None:
    offenders = [f"{where}: {m.group(0)!r}" for where, text in learner_texts() for m in ARTICLE_AS_SEED.finditer(text)]
    assert offenders == []


def test_nothing_points_outside_the_repository() -> None:
    offenders = [f"{where}: {m.group(0)!r}" for where, text in learner_texts()
                 for m in OUTSIDE_THE_REPOSITORY.finditer(text)]
    assert offenders == []


def markdown_sources() -> list[tuple[Path, str]]:
    sources = [(p, p.read_text(encoding="utf-8")) for p in MARKDOWN_FILES]
    for path in NOTEBOOKS:
        sources += [(path, "".join(c["source"])) for c in notebook_cells(path) if c["cell_type"] == "markdown"]
    return sources


def test_every_relative_link_resolves() -> None:
    broken = []
    for path, text in markdown_sources():
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # web addresses and anchors within the page
            file_part, _, anchor = target.partition("#")
            resolved = (path.parent / file_part).resolve()
            if not resolved.exists():
                broken.append(f"{path.relative_to(ROOT)} -> {target}")
            elif anchor and resolved.suffix in {".ipynb", ".md"} and re.search(r"\d", anchor) \
                    and anchor not in anchors(resolved):  # numbered entries have explicit anchors
                broken.append(f"{path.relative_to(ROOT)} -> {target} (no anchor {anchor!r})")
    assert broken == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_opens_with_its_own_bilingual_title(path: Path) -> None:
    first = notebook_cells(path)[0]
    title = "".join(first["source"]).splitlines()[0]
    assert first["cell_type"] == "markdown" and title.startswith("# "), f"first line: {title!r}"
    assert " · " in title and re.search(r"[\u4e00-\u9fff]", title), f"English · 中文 title expected: {title!r}"


def test_notebook_titles_are_distinct_and_the_start_page_lists_every_notebook() -> None:
    titles = ["".join(notebook_cells(p)[0]["source"]).splitlines()[0] for p in NOTEBOOKS]
    assert len(set(titles)) == len(titles)
    start_page = (ROOT / "chapters" / "README.md").read_text(encoding="utf-8")
    missing = [str(p.relative_to(ROOT / "chapters")) for p in NOTEBOOKS
               if str(p.relative_to(ROOT / "chapters")) not in start_page]
    assert missing == []
