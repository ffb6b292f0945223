"""Progress bars that leave their final state in a saved notebook.

``tqdm.auto`` draws a widget in Jupyter. A notebook saved after running, then read without a kernel
(on GitHub, as HTML, in nbviewer), shows the widget's text fallback from when it was *created*:
a bar frozen at "0%". Here tqdm still does the formatting (rate, ETA, postfix), but in a notebook
it writes its line into one display output that is updated in place (``display_id``), so the saved
file holds the last line the reader saw: ``100%|██████████| 700/700 [01:28<00:00, 7.9it/s, loss=1.72]``.
Outside IPython it is plain tqdm on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.std import tqdm

T = TypeVar("T")


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (where ``display`` reaches a front end), False in a terminal."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


class _DisplayLine:
    """A file-like object for tqdm: every write replaces the text of one notebook output."""

    def __init__(self) -> None:
        from IPython.display import display

        self._last = ""
        self._handle = display({"text/plain": ""}, raw=True, display_id=True)

    def write(self, text: str) -> None:
        # tqdm writes "\r<line>" for each refresh (and sometimes a bare "\n"): keep the last line
        line = text.replace("\n", "\r").split("\r")[-1].rstrip() or text.strip()
        if line and line != self._last:
            self._last = line
            self._handle.update({"text/plain": line}, raw=True)

    def flush(self) -> None:
        pass


def progress(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str | None = None,
             **kwargs: Any) -> tqdm:
    """``tqdm(iterable, total=..., desc=...)`` whose final line stays in a saved notebook.

    Use it as tqdm: ``for step in progress(range(n), desc="train"): ...; bar.set_postfix(loss=...)``.
    Extra keyword arguments go to tqdm; ``mininterval`` defaults to 0.5 s to keep messages few.
    """
    kwargs.setdefault("mininterval", 0.5)
    kwargs.setdefault("dynamic_ncols", False)
    if _in_notebook() and not kwargs.get("disable"):  # a disabled bar must not leave an empty output behind
        kwargs.setdefault("file", _DisplayLine())
        kwargs.setdefault("ncols", 100)
        kwargs.setdefault("ascii", False)
    return tqdm(iterable, total=total, desc=desc, **kwargs)
