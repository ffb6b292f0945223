"""Static pictures of attention weights: one matrix, or a layer x head grid of them.

Both functions take NumPy arrays or torch tensors (any device; they are detached and copied to the
CPU) and return the matplotlib :class:`~matplotlib.figure.Figure`, so a notebook can show it, save
it, or inspect what was drawn::

    from bigmodel_lib.viz import plot_attention_heatmap, plot_attention_grid
    plot_attention_heatmap(weights[0, 0], query_labels=tokens, key_labels=tokens)   # (Lq, Lk)
    plot_attention_grid(weights[0], query_labels=tokens, key_labels=tokens)          # (heads, Lq, Lk)
    plot_attention_grid(all_layers, layer_names=["layer 1", "layer 2"])               # (layers, heads, Lq, Lk)

Rows are queries (who is looking, 查询), columns are keys (what is looked at, 键): row ``i`` of a
softmax attention matrix sums to 1. :func:`draw_attention_matrix` draws one matrix into an existing
``Axes``; the interactive explorers build on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

__all__ = ["draw_attention_matrix", "plot_attention_grid", "plot_attention_heatmap"]

#: Matrices with at most this many cells get their values written in each cell by default.
AUTO_ANNOTATE_MAX_CELLS = 144
#: Above this many tokens only every n-th tick is labelled, so labels never overlap.
MAX_TICK_LABELS = 40


def _shape_str(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _as_numpy(where: str, weights: Any, accepted: dict[int, str]) -> np.ndarray:
    """A float64 NumPy copy of ``weights`` (array or tensor) whose number of dims is in ``accepted``."""
    if hasattr(weights, "detach"):  # a torch tensor, possibly on a GPU or requiring grad
        weights = weights.detach().cpu().double().numpy()  # lossless for every float dtype, bfloat16 too
    if not isinstance(weights, np.ndarray):
        raise TypeError(
            f"{where}: 'weights' must be a NumPy array or a torch tensor, got {type(weights).__name__}"
        )
    if not (np.issubdtype(weights.dtype, np.floating) or np.issubdtype(weights.dtype, np.integer)
            or weights.dtype == np.bool_):
        raise TypeError(f"{where}: 'weights' must hold real numbers, got dtype {weights.dtype}")
    if weights.ndim not in accepted or 0 in weights.shape:
        expected = " or ".join(accepted.values())
        raise ValueError(f"{where}: 'weights' expected shape {expected}, got {_shape_str(weights.shape)}")
    return weights.astype(np.float64)


def _check_labels(where: str, name: str, labels: Sequence[Any] | None, size: int, axis: str) -> list[str] | None:
    """Labels as strings, one per row/column; ``None`` stays ``None`` (positions 0..size-1 are shown)."""
    if labels is None:
        return None
    if isinstance(labels, str):
        raise TypeError(f"{where}: '{name}' must be a sequence of labels, not one string (use list({labels!r}))")
    labels = [str(label) for label in labels]
    if len(labels) != size:
        raise ValueError(f"{where}: '{name}' has {len(labels)} labels, but the weights have {size} {axis}")
    return labels


def _tick_positions(size: int) -> np.ndarray:
    step = int(np.ceil(size / MAX_TICK_LABELS))
    return np.arange(0, size, step)


def _color_limits(data: np.ndarray, vmin: float | None, vmax: float | None) -> tuple[float, float]:
    """Zero at the bottom of the scale (weights are >= 0) unless the data go below it."""
    finite = data[np.isfinite(data)]
    low = min(0.0, float(finite.min())) if finite.size else 0.0
    high = float(finite.max()) if finite.size else 1.0
    low = low if vmin is None else float(vmin)
    high = high if vmax is None else float(vmax)
    if high <= low:  # a constant matrix (all zeros: a fully masked row block) still gets a scale
        high = low + 1.0
    return low, high


def draw_attention_matrix(
    ax: Axes,
    weights: np.ndarray,
    query_labels: Sequence[str] | None = None,
    key_labels: Sequence[str] | None = None,
    *,
    vmin: float = 0.0,
    vmax: float = 1.0,
    cmap: str = "viridis",
    annotate: bool = False,
    fmt: str = ".2f",
    show_query_labels: bool = True,
    show_key_labels: bool = True,
    key_label_rotation: float = 45.0,
) -> AxesImage:
    """Draw one ``(Lq, Lk)`` matrix into ``ax`` (already checked, labels already strings).

    Row ``i`` (query ``i``) is drawn top to bottom, column ``j`` (key ``j``) left to right, one
    square cell per weight, exactly as the numbers sit in the array. Returns the image so the
    caller can attach a colour bar or update it with ``set_data``.
    """
    n_queries, n_keys = weights.shape
    image = ax.imshow(weights, cmap=cmap, vmin=vmin, vmax=vmax, aspect="equal", interpolation="nearest")
    rows, cols = _tick_positions(n_queries), _tick_positions(n_keys)
    ax.set_yticks(rows)
    ax.set_xticks(cols)
    if show_query_labels:
        ax.set_yticklabels([query_labels[i] for i in rows] if query_labels is not None else [str(i) for i in rows])
    else:
        ax.set_yticklabels([])
    if show_key_labels:
        texts = [key_labels[j] for j in cols] if key_labels is not None else [str(j) for j in cols]
        rotate = key_labels is not None and any(len(t) > 1 for t in texts)
        ax.set_xticklabels(texts, rotation=key_label_rotation if rotate else 0.0,
                           ha="right" if rotate else "center", rotation_mode="anchor")
    else:
        ax.set_xticklabels([])
    ax.tick_params(length=0)
    if annotate:
        cmap_obj = image.get_cmap()
        for i in range(n_queries):
            for j in range(n_keys):
                value = weights[i, j]
                if not np.isfinite(value):
                    continue
                red, green, blue, _ = cmap_obj(image.norm(value))
                dark_background = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
                ax.text(j, i, format(value, fmt), ha="center", va="center", fontsize=8,
                        color="white" if dark_background else "black")
    return image


def plot_attention_heatmap(
    weights: Any,
    query_labels: Sequence[Any] | None = None,
    key_labels: Sequence[Any] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    *,
    annotate: bool | None = None,
    fmt: str = ".2f",
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    colorbar: bool = True,
    xlabel: str = "key",
    ylabel: str = "query",
) -> Figure:
    """Plot one attention matrix ``(Lq, Lk)`` with token labels on both axes and a colour bar.

    Parameters
    ----------
    weights : array or tensor of shape ``(Lq, Lk)``; row ``i`` holds query ``i``'s weights.
    query_labels, key_labels : one label per row / column (default: the positions 0, 1, ...).
    ax : draw into this ``Axes`` instead of a new figure.
    annotate : write each value in its cell; ``None`` does so for matrices up to 12 x 12.
    vmin, vmax : colour scale; default ``min(0, data) .. max(data)``.

    Returns the :class:`~matplotlib.figure.Figure` holding the plot.
    """
    where = "plot_attention_heatmap"
    data = _as_numpy(where, weights, {2: "(Lq, Lk)"})
    n_queries, n_keys = data.shape
    queries = _check_labels(where, "query_labels", query_labels, n_queries, "query rows")
    keys = _check_labels(where, "key_labels", key_labels, n_keys, "key columns")
    if ax is None:
        width = float(np.clip(0.42 * n_keys + 2.2, 4.6, 11.0))
        height = float(np.clip(0.42 * n_queries + 1.4, 3.4, 10.0))
        fig, ax = plt.subplots(figsize=(width, height), layout="constrained")
    else:
        fig = ax.figure
    low, high = _color_limits(data, vmin, vmax)
    if annotate is None:
        annotate = data.size <= AUTO_ANNOTATE_MAX_CELLS
    image = draw_attention_matrix(ax, data, queries, keys, vmin=low, vmax=high, cmap=cmap,
                                  annotate=annotate, fmt=fmt)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    if colorbar:
        fig.colorbar(image, ax=ax, label="attention weight", shrink=0.9)
    return fig


def plot_attention_grid(
    weights: Any,
    query_labels: Sequence[Any] | None = None,
    key_labels: Sequence[Any] | None = None,
    layer_names: Sequence[Any] | None = None,
    *,
    head_names: Sequence[Any] | None = None,
    title: str | None = None,
    annotate: bool = False,
    fmt: str = ".2f",
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    panel_size: float = 2.6,
) -> Figure:
    """Plot a grid of attention matrices: one row per layer, one column per head, one colour scale.

    Parameters
    ----------
    weights : array or tensor ``(heads, Lq, Lk)`` (one layer) or ``(layers, heads, Lq, Lk)``.
    query_labels, key_labels : one label per query row / key column, shown on the outer panels.
    layer_names : one name per layer (default ``layer 0, layer 1, ...``).
    head_names : one name per head (default ``head 0, head 1, ...``).
    vmin, vmax : the colour scale shared by every panel (default ``min(0, data) .. max(data)``), so
        a bright cell means the same weight in every panel.

    Returns the :class:`~matplotlib.figure.Figure`; its first ``layers * heads`` axes are the
    panels in row-major order, the last one is the shared colour bar.
    """
    where = "plot_attention_grid"
    data = _as_numpy(where, weights, {3: "(heads, Lq, Lk)", 4: "(layers, heads, Lq, Lk)"})
    if data.ndim == 3:
        data = data[np.newaxis]  # (heads, Lq, Lk) -> (1, heads, Lq, Lk)
    n_layers, n_heads, n_queries, n_keys = data.shape
    queries = _check_labels(where, "query_labels", query_labels, n_queries, "query rows")
    keys = _check_labels(where, "key_labels", key_labels, n_keys, "key columns")
    layers = _check_labels(where, "layer_names", layer_names, n_layers, "layers")
    heads = _check_labels(where, "head_names", head_names, n_heads, "heads")
    name_rows = layers is not None or n_layers > 1
    layers = layers if layers is not None else [f"layer {i}" for i in range(n_layers)]
    heads = heads if heads is not None else [f"head {h}" for h in range(n_heads)]

    low, high = _color_limits(data, vmin, vmax)
    aspect = n_queries / n_keys
    fig, axes = plt.subplots(
        n_layers, n_heads, squeeze=False, layout="constrained",
        figsize=(panel_size * n_heads + 1.4, panel_size * aspect * n_layers + 0.8 + (0.3 if title else 0.0)),
    )
    image = None
    for layer in range(n_layers):
        for head in range(n_heads):
            ax = axes[layer, head]
            image = draw_attention_matrix(
                ax, data[layer, head], queries, keys, vmin=low, vmax=high, cmap=cmap, annotate=annotate,
                fmt=fmt, show_query_labels=head == 0, show_key_labels=layer == n_layers - 1,
            )
            if layer == 0:
                ax.set_title(heads[head])
            if head == 0:
                ax.set_ylabel(f"{layers[layer]}\nquery" if name_rows else "query")
            if layer == n_layers - 1:
                ax.set_xlabel("key")
    fig.colorbar(image, ax=axes, label="attention weight", shrink=0.85)
    if title is not None:
        fig.suptitle(title)
    return fig
