"""A real English text corpus that is already on every machine with Python: Python's own documentation.

Nothing is downloaded. The corpus is

1. the *topics* of the interactive help system (``pydoc_data.topics``, shipped with CPython): the
   chapters of the Python Language Reference -- statements, expressions, the data model -- as plain
   text, about 0.47 MB; then
2. the docstrings of :data:`DOCSTRING_MODULES`, a fixed list of standard-library modules, read from
   their source files (each module's docstring, then those of its public classes, their public
   methods and its public functions, in source order).

It is deterministic for a given Python version (the text changes a little between versions, which
is why :func:`corpus_summary` reports a SHA-256 to compare). Character level: :class:`CharTokenizer`
maps each distinct character to an id.
"""

from __future__ import annotations

import ast
import hashlib
import sys
import sysconfig
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["DOCSTRING_MODULES", "CharTokenizer", "corpus_summary", "load_python_docs", "split_ids"]

DOCSTRING_MODULES = (
    "argparse", "collections", "configparser", "contextlib", "csv", "dataclasses", "datetime", "difflib",
    "email.message", "enum", "functools", "heapq", "inspect", "io", "json", "logging", "optparse", "os",
    "pathlib", "pprint", "random", "re", "shutil", "socket", "statistics", "string", "subprocess", "tarfile",
    "tempfile", "textwrap", "threading", "typing", "urllib.parse", "zipfile",
)


def _module_docstrings(module_name: str) -> str:
    """The docstrings of a module's source file: the module's, then each public top-level class and
    function's (with the docstrings of a class's public methods), in source order.

    Read from the source with ``ast``, not from the imported module: a running program may replace
    module attributes (IPython, for one, swaps ``inspect.getfile``), which would make the corpus depend
    on what else is loaded.
    """
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    base = stdlib / module_name.replace(".", "/")
    source = next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.exists()), None)
    if source is None:  # some modules (io, os) are frozen into the interpreter; their .py still ships
        raise RuntimeError(f"text_corpus: no source file for the standard-library module {module_name!r} in {stdlib}")
    tree = ast.parse(source.read_text(encoding="utf-8"))
    parts = [ast.get_docstring(tree) or ""]
    public = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for node in tree.body:
        if not isinstance(node, public) or node.name.startswith("_"):
            continue
        doc = ast.get_docstring(node)
        if doc:
            parts.append(f"{node.name}\n{doc}")
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, public) and not item.name.startswith("_") and ast.get_docstring(item):
                    parts.append(f"{node.name}.{item.name}\n{ast.get_docstring(item)}")
    return "\n\n".join(p for p in parts if p)


@lru_cache(maxsize=1)
def load_python_docs() -> str:
    """The corpus as one string (cached): help topics, then module docstrings, separated by blank lines."""
    from pydoc_data.topics import topics  # noqa: PLC0415 -- a large module, imported only when needed

    help_text = "\n\n".join(topics[key] for key in sorted(topics))
    docstrings = "\n\n".join(_module_docstrings(name) for name in DOCSTRING_MODULES)
    return help_text + "\n\n" + docstrings


def corpus_summary(text: str) -> dict[str, object]:
    """Size in characters and UTF-8 bytes, distinct characters, SHA-256 and the Python version."""
    raw = text.encode("utf-8")
    return {
        "characters": len(text),
        "bytes": len(raw),
        "distinct_characters": len(set(text)),
        "sha256": hashlib.sha256(raw).hexdigest()[:16],
        "python": sys.version.split()[0],
    }


@dataclass(frozen=True)
class CharTokenizer:
    """Characters <-> ids ``0..V-1``, in sorted order of the characters seen in the training text."""

    chars: tuple[str, ...]

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        return cls(tuple(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """``int64 (len(text),)``; a character outside the vocabulary raises ``ValueError`` naming it."""
        index = {c: i for i, c in enumerate(self.chars)}
        unknown = sorted(set(text) - index.keys())
        if unknown:
            raise ValueError(f"CharTokenizer.encode: characters not in the vocabulary: {unknown[:10]!r}")
        return np.fromiter((index[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids: object) -> str:
        return "".join(self.chars[int(i)] for i in np.asarray(ids).reshape(-1))


def split_ids(ids: np.ndarray, val_fraction: float = 0.1, num_chunks: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """``(train, val)``: cut the stream into ``num_chunks`` contiguous pieces, send an evenly spread
    ``val_fraction`` of them to validation and the rest to training (each side concatenated in order).

    Contiguous pieces mean no validation sentence also appears in training; spreading them over the
    whole stream means both sides see the same mix of text (the help topics and the docstrings differ
    in style, and a split at one point would put only docstrings in validation). Chunk ``i`` goes to
    validation when ``floor((i + 1) f) > floor(i f)``, ``f = val_fraction``.
    """
    ids = np.asarray(ids)
    if not 0 < val_fraction < 1:
        raise ValueError(f"split_ids: 'val_fraction' must be in (0, 1), got {val_fraction}")
    if not (isinstance(num_chunks, int) and 2 <= num_chunks <= len(ids)):
        raise ValueError(f"split_ids: 'num_chunks' must be an int in [2, len(ids)={len(ids)}], got {num_chunks!r}")
    chunks = np.array_split(ids, num_chunks)
    slack = 1e-9  # so that e.g. 30 * 0.1 = 3.0000000000000004 and 3 * 1.0 count the same
    is_val = [int((i + 1) * val_fraction + slack) > int(i * val_fraction + slack) for i in range(num_chunks)]
    train = np.concatenate([c for c, v in zip(chunks, is_val) if not v])
    val = np.concatenate([c for c, v in zip(chunks, is_val) if v])
    return train, val
