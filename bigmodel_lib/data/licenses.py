"""A second English text, of another domain, already on the machine: the software licenses of Debian/Ubuntu.

``/usr/share/common-licenses/`` holds the full texts of the common free-software licenses (Apache-2.0, Artistic,
BSD, CC0-1.0, GFDL, GPL, LGPL, MPL: about 0.24 MB of legal English on Debian 12). The directory belongs to the package
``base-files``, which every Debian and Ubuntu system has (it is "Essential"), so a fresh CI machine has it too;
nothing is downloaded. :func:`load_license_texts` fails with a clear message where the directory is missing
(another operating system): the fine-tuning notebook needs it.

Two uses in the course (notebook 05.9):

* :func:`load_license_texts` -- a *new domain* for a language model pre-trained on Python's documentation
  (:mod:`bigmodel_lib.data.text_corpus`). :func:`map_to_vocabulary` writes it in the pre-trained model's
  characters: a tab becomes a space, a form feed a newline, any other unknown character a space.
* :func:`make_source_lines` -- a labelled task: which text does a line come from (the Language Reference, a
  standard-library docstring, or a license)?
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bigmodel_lib.data.text_corpus import load_python_docs, split_ids

__all__ = ["LICENSE_DIR", "SOURCE_NAMES", "LineDataset", "load_license_texts", "make_source_lines",
           "map_to_vocabulary", "python_docs_parts"]

LICENSE_DIR = Path("/usr/share/common-licenses")

#: Class names of :func:`make_source_lines`, in label order.
SOURCE_NAMES = ("language reference", "stdlib docstring", "license")

#: Characters of the license texts the Python-docs vocabulary lacks, and what they become.
DEFAULT_REPLACEMENTS = {"\t": " ", "\x0c": "\n"}


def load_license_texts(directory: str | Path = LICENSE_DIR) -> str:
    """The license files of ``directory`` (regular files only: ``GPL`` is a link to ``GPL-3``), sorted by name,
    joined by blank lines."""
    directory = Path(directory)
    files = sorted(p for p in directory.iterdir() if p.is_file() and not p.is_symlink()) if directory.is_dir() else []
    if not files:
        raise FileNotFoundError(
            f"load_license_texts: no license files in {directory}. On Debian/Ubuntu they come with the package "
            "'base-files' (always installed); elsewhere pass directory= a folder of plain-text files")
    return "\n\n".join(p.read_text(encoding="utf-8", errors="replace").strip() for p in files)


def map_to_vocabulary(text: str, vocabulary: Iterable[str], replacements: Mapping[str, str] | None = None,
                      fallback: str = " ") -> tuple[str, dict[str, int]]:
    """``text`` with every character outside ``vocabulary`` replaced (``replacements``, else ``fallback``), and
    how many times each unknown character was replaced."""
    known = set(vocabulary)
    table = dict(DEFAULT_REPLACEMENTS if replacements is None else replacements)
    for where, value in (("replacements", "".join(table.values())), ("fallback", fallback)):
        if not set(value) <= known:
            raise ValueError(f"map_to_vocabulary: '{where}' must map to characters of the vocabulary, got {value!r}")
    unknown = Counter(c for c in text if c not in known)
    if not unknown:
        return text, {}
    mapped = "".join(c if c in known else table.get(c, fallback) for c in text)
    return mapped, dict(unknown)


def python_docs_parts() -> tuple[str, str]:
    """``(language reference, docstrings)``: the two parts of :func:`~bigmodel_lib.data.text_corpus.load_python_docs`.

    The corpus is the help topics, a blank line, then the docstrings; the first part's length is recomputed here.
    """
    from pydoc_data.topics import topics  # noqa: PLC0415

    text = load_python_docs()
    reference_length = len("\n\n".join(topics[key] for key in sorted(topics)))
    return text[:reference_length], text[reference_length + 2:]


@dataclass(frozen=True)
class LineDataset:
    """Lines of text and their source labels (``0..len(class_names)-1``), split into training and validation."""

    train_texts: tuple[str, ...]
    train_labels: np.ndarray
    val_texts: tuple[str, ...]
    val_labels: np.ndarray
    class_names: tuple[str, ...]

    def summary(self) -> str:
        counts = [(name, int((self.train_labels == k).sum()), int((self.val_labels == k).sum()))
                  for k, name in enumerate(self.class_names)]
        return "; ".join(f"{name}: {tr} train / {va} val" for name, tr, va in counts)


def _lines(text: str, min_chars: int, max_chars: int) -> list[str]:
    """Stripped lines cut to ``max_chars`` that keep at least ``min_chars`` characters (order kept)."""
    cut = (line.strip()[:max_chars].rstrip() for line in text.splitlines())
    return [line for line in cut if len(line) >= min_chars]


def make_source_lines(vocabulary: Iterable[str], *, min_chars: int = 16, max_chars: int = 48,
                      per_class: int = 1500, val_fraction: float = 0.2, seed: int = 0) -> LineDataset:
    """Which text is a line from: :data:`SOURCE_NAMES` ``[0]`` the Language Reference (help topics), ``[1]`` a
    standard-library docstring, ``[2]`` a license (mapped to ``vocabulary``).

    Lines are stripped (the indentation would give the answer away too easily) and cut to ``max_chars``; a line
    that occurs more than once anywhere (license versions repeat whole paragraphs) is dropped everywhere, so no
    line is in both splits. Each source's lines are split by contiguous chunks (:func:`split_ids`: every
    ``1/val_fraction``-th chunk to validation), then ``per_class`` lines per class are drawn (all if fewer), in
    the ratio ``1 - val_fraction : val_fraction``.
    """
    reference, docstrings = python_docs_parts()
    licenses, _ = map_to_vocabulary(load_license_texts(), vocabulary)
    per_source = [_lines(t, min_chars, max_chars) for t in (reference, docstrings, licenses)]
    counts = Counter(line for lines in per_source for line in lines)
    rng = np.random.default_rng(seed)
    splits: dict[str, list[tuple[str, int]]] = {"train": [], "val": []}
    for label, lines in enumerate(per_source):
        unique = [line for line in lines if counts[line] == 1]
        train_idx, val_idx = split_ids(np.arange(len(unique)), val_fraction=val_fraction, num_chunks=50)
        for name, idx, share in (("train", train_idx, 1 - val_fraction), ("val", val_idx, val_fraction)):
            take = min(len(idx), round(per_class * share))
            chosen = np.sort(rng.choice(idx, size=take, replace=False))
            splits[name] += [(unique[i], label) for i in chosen]
    order = {name: rng.permutation(len(items)) for name, items in splits.items()}
    train = [splits["train"][i] for i in order["train"]]
    val = [splits["val"][i] for i in order["val"]]
    return LineDataset(
        train_texts=tuple(t for t, _ in train), train_labels=np.array([y for _, y in train], dtype=np.int64),
        val_texts=tuple(t for t, _ in val), val_labels=np.array([y for _, y in val], dtype=np.int64),
        class_names=SOURCE_NAMES,
    )
