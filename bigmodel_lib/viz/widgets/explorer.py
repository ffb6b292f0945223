"""The attention explorer: layer, head, query row, head view (query -> key links) and threshold.

Run ``python -m bigmodel_lib.viz.widgets`` to measure its redraw time.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import matplotlib
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from bigmodel_lib.nn_numpy.functional import softmax
from bigmodel_lib.viz.attention_plots import draw_attention_matrix
from bigmodel_lib.viz.capture import KIND_LABELS, AttentionCapture
from bigmodel_lib.viz.widgets._figure import (
    _RC,
    ACCENT,
    HEAD_COLORS,
    HIDDEN_CELL,
    MAX_IMAGE_WIDTH_PX,
    MAX_LINKS,
    MAX_THRESHOLD,
    MEAN_COLOR,
    MIN_LINK_ALPHA,
    MUTED_TEXT,
    _as_float_array,
    _check_choice,
    _check_int_range,
    _entropy,
    _FigureWidget,
    _labelled,
    _PngFigure,
    _shape_str,
    _token_list,
)

# -- the attention explorer ----------------------------------------------------------------------------------


@dataclass
class _AttentionGroup:
    """One kind of attention the explorer can show: a stack of layers over the same tokens."""

    key: str  # the value of the kind toggle: "self", "causal", "cross", or a name given by the caller
    label: str  # what the toggle shows
    layer_names: list[str]
    weights: np.ndarray  # (layers, heads, Lq, Lk)
    query_tokens: list[str]
    key_tokens: list[str]


def _as_layers_heads(where: str, name: str, value: Any) -> np.ndarray:
    """``(Lq, Lk)``, ``(heads, Lq, Lk)`` or ``(layers, heads, Lq, Lk)`` -> ``(layers, heads, Lq, Lk)``."""
    array = _as_float_array(where, name, value)
    if array.ndim not in (2, 3, 4) or 0 in array.shape:
        extra = (" -- a batch? pass one element, e.g. weights[0]" if array.ndim == 5 else "")
        raise ValueError(
            f"{where}: '{name}' expected shape (Lq, Lk), (heads, Lq, Lk) or (layers, heads, Lq, Lk), "
            f"got {_shape_str(array.shape)}{extra}"
        )
    not_finite = int((~np.isfinite(array)).sum())
    if not_finite:
        raise ValueError(f"{where}: '{name}' must hold attention weights (finite, >= 0), got {not_finite} NaN/inf")
    if array.min() < 0:
        raise ValueError(f"{where}: '{name}' must hold attention weights (finite, >= 0), got a minimum of "
                         f"{array.min():.3g}")
    return array.reshape((1,) * (4 - array.ndim) + array.shape)


def _labels_for(
    where: str, group: str, kind: str | None, shape: tuple[int, int], tokens_q: list[str], tokens_k: list[str]
) -> tuple[list[str], list[str]]:
    """Row and column labels of a group: by its kind first, else whichever token lists fit its shape.

    Cross-attention: rows are ``tokens_q`` (decoder), columns ``tokens_k`` (encoder). Causal
    (decoder) self-attention: ``tokens_q`` both ways; encoder self-attention: ``tokens_k`` both ways
    (``tokens_k`` defaults to ``tokens_q``, so a single model needs only ``tokens_q``).
    """
    preferred = {"cross": (tokens_q, tokens_k), "causal": (tokens_q, tokens_q), "self": (tokens_k, tokens_k)}
    candidates = [preferred[kind]] if kind in preferred else []
    candidates += [(tokens_q, tokens_k), (tokens_q, tokens_q), (tokens_k, tokens_k)]
    for rows, cols in candidates:
        if (len(rows), len(cols)) == shape:
            return rows, cols
    raise ValueError(
        f"{where}: the {group} weights are (Lq, Lk) = {_shape_str(shape)}, but 'tokens_q' has {len(tokens_q)} "
        f"tokens and 'tokens_k' {len(tokens_k)}; give one token per query row and per key column"
    )


def _groups_from(
    where: str, source: Any, tokens_q: list[str], tokens_k: list[str], batch_index: int
) -> list[_AttentionGroup]:
    if isinstance(source, AttentionCapture):
        if not source.names():
            raise ValueError(
                f"{where}: the capture is empty -- call the model inside the 'with capture_attention' block"
            )
        groups = []
        for kind in source.kinds():
            weights = _as_layers_heads(where, f"capture[{kind!r}]", source.stack(kind, batch_index=batch_index))
            rows, cols = _labels_for(where, KIND_LABELS[kind], kind, weights.shape[2:], tokens_q, tokens_k)
            groups.append(_AttentionGroup(kind, KIND_LABELS[kind], source.names(kind), weights, rows, cols))
        return groups
    if isinstance(source, Mapping):
        if not source:
            raise ValueError(f"{where}: 'weights_or_capture' is an empty mapping")
        groups = []
        for name, value in source.items():
            weights = _as_layers_heads(where, f"weights_or_capture[{name!r}]", value)
            rows, cols = _labels_for(where, repr(name), None, weights.shape[2:], tokens_q, tokens_k)
            layer_names = [f"layer {i}" for i in range(weights.shape[0])]
            groups.append(_AttentionGroup(str(name), str(name), layer_names, weights, rows, cols))
        return groups
    weights = _as_layers_heads(where, "weights_or_capture", source)
    rows, cols = _labels_for(where, "attention", None, weights.shape[2:], tokens_q, tokens_k)
    return [_AttentionGroup("attention", "attention", [f"layer {i}" for i in range(weights.shape[0])],
                            weights, rows, cols)]


class _ExplorerScene:
    """The figure of one attention group: heatmap (left) and head view (right), artists kept for reuse.

    Built once per group (the text-heavy part); :meth:`show` then only changes artist data.
    """

    def __init__(self, group: _AttentionGroup) -> None:
        self.group = group
        n_layers, n_heads, n_queries, n_keys = group.weights.shape
        self.vmax = float(group.weights.max()) or 1.0  # one colour scale for the whole group
        longest = max(len(token) for token in group.query_tokens + group.key_tokens)
        # Sizes in inches. The head view needs ~0.11 in per token; the heatmap has square cells, as
        # large as the height (less title and labels) and a width of at most 6.6 in allow.
        height = float(np.clip(0.11 * max(n_queries, n_keys) + 2.0, 4.2, 9.0))
        cell = min((height - 1.4) / n_queries, 6.6 / n_keys)
        self.matrix_height = cell * n_queries
        heat_width = cell * n_keys + 0.12 * min(longest, 16) + 1.3  # + tick labels, axis label, colour bar
        lines_width = 3.9 + 0.06 * min(longest, 16)
        self.picture = _PngFigure(heat_width + lines_width, height)
        figure = self.picture.figure
        with matplotlib.rc_context(_RC):
            # Two sub-figures, each laid out on its own: the tall token columns of the head view must not
            # squeeze the heatmap's margins (one shared constrained layout clipped its axis label).
            heat_figure, lines_figure = figure.subfigures(1, 2, width_ratios=[heat_width, lines_width], wspace=0.0)
            self.ax_heat, self.ax_lines = heat_figure.subplots(), lines_figure.subplots()
            self._build_heatmap(n_queries, n_keys)
            self._build_head_view(n_queries, n_keys, longest)
        self.picture.set_moving([self.image, self.row_box, self.ax_heat.title, self.links, self.focus_links,
                                 self.key_bars, self.focus_label])

    def _build_heatmap(self, n_queries: int, n_keys: int) -> None:
        group, ax = self.group, self.ax_heat
        self.image = draw_attention_matrix(ax, group.weights[0, 0], group.query_tokens, group.key_tokens,
                                           vmin=0.0, vmax=self.vmax, cmap="viridis")
        self.image.set_cmap(matplotlib.colormaps["viridis"].with_extremes(bad=HIDDEN_CELL))
        tick_size = float(np.clip(560 / max(n_queries, n_keys, 1), 5.5, 9))
        ax.tick_params(labelsize=tick_size)
        ax.set_xlabel("key (attended to)")
        ax.set_ylabel("query (attending)")
        ax.set_title(" ")
        for spine in ax.spines.values():
            spine.set_visible(False)
        shrink = float(np.clip(self.matrix_height / (self.picture.figure.get_figheight() - 1.1), 0.3, 1.0))
        colorbar = ax.figure.colorbar(self.image, ax=ax, shrink=shrink, pad=0.015, aspect=25 * shrink)
        colorbar.set_label("attention weight", color=MUTED_TEXT)
        colorbar.outline.set_visible(False)
        self.row_box = Rectangle((-0.5, -0.5), n_keys, 1.0, fill=False, edgecolor=ACCENT, linewidth=2.0,
                                 visible=False, zorder=5)
        ax.add_patch(self.row_box)

    def _build_head_view(self, n_queries: int, n_keys: int, longest: int) -> None:
        """Tokens in two columns, a line from every query to every key (drawn per render)."""
        ax = self.ax_lines
        # y positions in [0, 1] (top to bottom), so queries and keys share the height even if Lq != Lk.
        self.query_y = (np.arange(n_queries) + 0.5) / n_queries
        self.key_y = (np.arange(n_keys) + 0.5) / n_keys
        q_y, k_y = np.meshgrid(self.query_y, self.key_y, indexing="ij")  # (Lq, Lk) each
        segments = np.zeros((n_queries, n_keys, 2, 2))
        segments[..., 0, 0], segments[..., 0, 1] = 0.0, q_y  # start: query i at x = 0
        segments[..., 1, 0], segments[..., 1, 1] = 1.0, k_y  # end: key j at x = 1
        self.segments = segments.reshape(-1, 2, 2)
        height_in = self.picture.figure.get_figheight()
        font_size = float(np.clip(0.78 * 72 * (height_in - 1.0) / max(n_queries, n_keys), 5.5, 11))
        margin = 0.06 + 0.026 * min(longest, 16) * font_size / 9  # room for the labels, in x units
        self.bar_width = max(margin - 0.02, 0.16)
        ax.set_xlim(-margin - 0.02, 1.0 + max(margin, self.bar_width) + 0.04)
        ax.set_ylim(1.0, 0.0)
        ax.axis("off")
        ax.set_title("head view: query → key links", pad=18)
        ax.text(-0.04, -0.01, "queries", ha="right", va="bottom", fontsize=9, color=MUTED_TEXT, style="italic")
        ax.text(1.04, -0.01, "keys", ha="left", va="bottom", fontsize=9, color=MUTED_TEXT, style="italic")
        for y, token in zip(self.query_y, self.group.query_tokens):
            ax.text(-0.04, y, token, ha="right", va="center", fontsize=font_size)
        # Bars behind the key labels: how much attention each key receives.
        self.key_bars = LineCollection(
            [[(1.02, y), (1.02, y)] for y in self.key_y], linewidths=max(font_size * 1.15, 4), capstyle="butt",
            zorder=1,
        )
        ax.add_collection(self.key_bars)
        for y, token in zip(self.key_y, self.group.key_tokens):
            ax.text(1.04, y, token, ha="left", va="center", fontsize=font_size, zorder=3)
        self.links = LineCollection([], linewidths=1.1, zorder=2, capstyle="round")
        self.focus_links = LineCollection([], linewidths=2.4, zorder=4, capstyle="round")
        ax.add_collection(self.links)
        ax.add_collection(self.focus_links)
        # The selected query, re-labelled on top in the accent colour.
        self.focus_label = ax.text(-0.04, 0.0, "", ha="right", va="center", fontsize=font_size, color="white",
                                   fontweight="bold", zorder=6, visible=False,
                                   bbox={"boxstyle": "round,pad=0.18", "facecolor": ACCENT, "edgecolor": "none"})

    def show(self, layer: int, head: int | str, query: int, threshold: float) -> np.ndarray:
        """Move the artists to this (layer, head, query, threshold); return the ``(Lq, Lk)`` matrix shown."""
        group = self.group
        per_head = group.weights[layer]  # (heads, Lq, Lk)
        matrix = per_head.mean(axis=0) if head == "mean" else per_head[head]  # (Lq, Lk)
        color = np.array(matplotlib.colors.to_rgb(MEAN_COLOR if head == "mean" else
                                                  HEAD_COLORS[head % len(HEAD_COLORS)]))
        n_queries, n_keys = matrix.shape

        # Heatmap: the matrix, cells below the threshold hidden, the selected query's row boxed.
        self.image.set_data(np.ma.masked_less(matrix, threshold) if threshold > 0 else matrix)
        head_name = "mean of the heads" if head == "mean" else f"head {head}"
        self.ax_heat.set_title(f"{group.layer_names[layer]} · {head_name}", fontsize=9.5)
        self.row_box.set_visible(query >= 0)
        if query >= 0:
            self.row_box.set_y(query - 0.5)

        # Head view: the strongest links above the threshold, opacity ~ sqrt(weight) so that weak
        # but real links stay visible; the selected query's links drawn bold on top.
        flat = matrix.ravel()
        alpha = np.sqrt(np.clip(flat, 0.0, 1.0))
        shown = (flat >= threshold) & (alpha >= MIN_LINK_ALPHA)
        if query >= 0:
            shown[query * n_keys:(query + 1) * n_keys] = False  # drawn by focus_links instead
            alpha = alpha * 0.22  # the other queries fade into the background
        index = np.flatnonzero(shown)
        if index.size > MAX_LINKS:
            index = index[np.argpartition(flat[index], -MAX_LINKS)[-MAX_LINKS:]]
        index = index[np.argsort(flat[index], kind="stable")]  # strong links drawn last, on top
        self.links.set_segments(self.segments[index])
        self.links.set_color(np.column_stack([np.broadcast_to(color, (index.size, 3)), alpha[index]]))

        if query >= 0:
            row = matrix[query]
            keep = np.flatnonzero((row >= threshold) & (np.sqrt(row) >= MIN_LINK_ALPHA))
            self.focus_links.set_segments(self.segments[query * n_keys + keep])
            strength = np.sqrt(row[keep] / max(float(row.max()), 1e-12))  # the row's strongest link: opaque
            self.focus_links.set_color(np.column_stack([np.broadcast_to(color, (keep.size, 3)), strength]))
            self.focus_label.set_text(group.query_tokens[query])
            self.focus_label.set_y(self.query_y[query])
            received = row
        else:
            self.focus_links.set_segments([])
            received = matrix.mean(axis=0)  # the attention each key gets, averaged over the queries
        self.focus_label.set_visible(query >= 0)
        bar_scale = self.bar_width / max(float(received.max()), 1e-12)
        bars = np.zeros((n_keys, 2, 2))
        bars[:, :, 1] = self.key_y[:, None]
        bars[:, 0, 0] = 1.02
        bars[:, 1, 0] = 1.02 + received * bar_scale
        self.key_bars.set_segments(bars)
        self.key_bars.set_color(np.column_stack([np.broadcast_to(color, (n_keys, 3)), np.full(n_keys, 0.3)]))
        return matrix


class AttentionExplorer(_FigureWidget):
    """Explore attention weights: layer, head (or their mean), one query's row, a threshold.

    Parameters
    ----------
    weights_or_capture :
        * an :class:`~bigmodel_lib.viz.capture.AttentionCapture` (``with capture_attention(model) as
          att``): every kind of attention it holds -- encoder self-, decoder self-, cross-attention --
          gets a button of the kind toggle, its modules are the layers;
        * an array or tensor ``(Lq, Lk)``, ``(heads, Lq, Lk)`` or ``(layers, heads, Lq, Lk)``;
        * a mapping ``{name: such an array}``: one toggle button per name.
    tokens_q : one label per query row -- the decoder's (target) tokens of an encoder-decoder.
    tokens_k : one label per key column of cross-attention -- the encoder's (source) tokens, which
        also label the encoder self-attention. Default: ``tokens_q``.
    batch_index : which batch element of a capture to show.
    kind, layer, head, query, threshold : the starting state (``head="mean"`` averages the heads;
        ``query=None`` highlights no query).

    The picture: left, the attention matrix (rows = queries, columns = keys; cells below the
    threshold greyed out); right, the *head view* (as in bertviz): a line from each query to each
    key, more opaque for a larger weight, and bars behind the keys showing the attention they
    receive (from the selected query, or on average). Controls: ``kind_selector``,
    ``layer_selector``, ``head_selector``, ``query_selector``, ``threshold_slider`` -- set their
    ``.value`` from code as well as with the mouse.
    """

    _css_class = "bigmodel-attention-explorer"

    def __init__(
        self,
        weights_or_capture: Any,
        tokens_q: Sequence[str],
        tokens_k: Sequence[str] | None = None,
        *,
        batch_index: int = 0,
        kind: str | None = None,
        layer: int = 0,
        head: int | str = 0,
        query: int | None = None,
        threshold: float = 0.0,
        title: str = "Attention explorer",
    ) -> None:
        where = "AttentionExplorer"
        queries = _token_list(where, "tokens_q", tokens_q)
        keys = queries if tokens_k is None else _token_list(where, "tokens_k", tokens_k)
        if isinstance(batch_index, bool) or not isinstance(batch_index, (int, np.integer)):
            raise TypeError(f"{where}: 'batch_index' must be an int, got {type(batch_index).__name__}")
        self._groups = _groups_from(where, weights_or_capture, queries, keys, int(batch_index))
        self._scenes: dict[int, _ExplorerScene] = {}

        group_keys = [group.key for group in self._groups]
        kind = group_keys[0] if kind is None else kind
        _check_choice(where, "kind", kind, group_keys)
        group = self._groups[group_keys.index(kind)]
        n_layers, n_heads, n_queries, _ = group.weights.shape
        layer = _check_int_range(where, "layer", layer, 0, n_layers - 1)
        if isinstance(head, str) and head != "mean":
            raise ValueError(f"{where}: 'head' must be an int or 'mean', got {head!r}")
        if head != "mean":
            head = _check_int_range(where, "head", head, 0, n_heads - 1)
        query = -1 if query is None else _check_int_range(where, "query", query, 0, n_queries - 1)
        if not isinstance(threshold, (int, float)) or not 0.0 <= float(threshold) <= MAX_THRESHOLD:
            raise ValueError(f"{where}: 'threshold' must be a number in [0, {MAX_THRESHOLD}], got {threshold!r}")

        self.kind_selector = widgets.ToggleButtons(options=[(g.label, g.key) for g in self._groups], value=kind,
                                                   style={"button_width": "auto"})
        self.layer_selector = widgets.Dropdown(description="layer", style={"description_width": "62px"},
                                               layout=widgets.Layout(width="300px"))
        self.head_selector = widgets.ToggleButtons(style={"button_width": "62px"})
        self.query_selector = widgets.SelectionSlider(
            options=[("all", -1)], description="query", continuous_update=True, readout=True,
            style={"description_width": "62px"}, layout=widgets.Layout(width="430px"),
        )
        self.threshold_slider = widgets.FloatSlider(
            value=float(threshold), min=0.0, max=MAX_THRESHOLD, step=0.01, description="hide below",
            readout_format=".2f",
            continuous_update=True, style={"description_width": "80px"}, layout=widgets.Layout(width="330px"),
        )
        self._set_group_options(group, layer, head, query)
        self.kind_selector.observe(self._on_kind_change, names="value")
        self._observe(self.layer_selector, self.head_selector, self.query_selector, self.threshold_slider)
        self.kind_row = _labelled("attention", self.kind_selector)
        self.kind_row.layout.display = "flex" if len(self._groups) > 1 else "none"  # nothing to toggle otherwise
        super().__init__(
            title,
            [[self.kind_row], [self.layer_selector, _labelled("head", self.head_selector, "48px")],
             [self.query_selector, self.threshold_slider]],
            self._scene().picture,
        )

    # -- state --------------------------------------------------------------------------------------
    @property
    def _group_index(self) -> int:
        return [g.key for g in self._groups].index(self.kind_selector.value)

    def _scene(self) -> _ExplorerScene:
        """The figure of the current group, built the first time it is shown (then kept)."""
        index = self._group_index
        if index not in self._scenes:
            self._scenes[index] = _ExplorerScene(self._groups[index])
        return self._scenes[index]

    def _set_group_options(self, group: _AttentionGroup, layer: int, head: int | str, query: int) -> None:
        """Fill the layer/head/query controls for ``group`` without a redraw per control."""
        self._batching = True
        try:
            n_layers, n_heads, _, _ = group.weights.shape
            self.layer_selector.options = [(f"{i}: {name}" if name != f"layer {i}" else name, i)
                                           for i, name in enumerate(group.layer_names)]
            self.layer_selector.value = min(layer, n_layers - 1)
            self.layer_selector.disabled = n_layers == 1
            self.head_selector.options = [("mean", "mean")] + [(str(h), h) for h in range(n_heads)]
            self.head_selector.value = head if head == "mean" or head < n_heads else 0
            self.head_selector.tooltips = ["mean over heads"] + [f"head {h}" for h in range(n_heads)]
            self.query_selector.options = [("all", -1)] + [(f"{i} · {token}", i)
                                                            for i, token in enumerate(group.query_tokens)]
            self.query_selector.value = query if query < len(group.query_tokens) else -1
        finally:
            self._batching = False

    def _on_kind_change(self, change: Any) -> None:
        group = self._groups[self._group_index]
        self._set_group_options(group, self.layer_selector.value, self.head_selector.value, -1)
        self._picture = self._scene().picture
        max_width = min(self._picture.width_px, MAX_IMAGE_WIDTH_PX)
        self.image.layout.width = f"{max_width}px"
        self._refresh()

    def _render(self) -> bytes:
        scene = self._scene()
        query, threshold = self.query_selector.value, float(self.threshold_slider.value)
        matrix = scene.show(self.layer_selector.value, self.head_selector.value, query, threshold)
        self.readout.value = self._describe(scene.group, matrix, query, threshold)
        return scene.picture.render()  # blitted, except the first render of a scene

    @staticmethod
    def _describe(group: _AttentionGroup, matrix: np.ndarray, query: int, threshold: float) -> str:
        """One line under the controls saying, in numbers, what the picture shows."""
        hidden = int((matrix < threshold).sum()) if threshold > 0 else 0
        hidden_text = f" · {hidden} of {matrix.size} weights below {threshold:.2f} hidden" if hidden else ""
        if query >= 0:
            row = matrix[query]
            top = np.argsort(row)[::-1][:3]
            # (tokens such as <bos> are text, not HTML tags: escaped)
            parts = ", ".join(f"<b>{html.escape(group.key_tokens[j])}</b> ({j}) {row[j]:.2f}" for j in top)
            query_token = html.escape(group.query_tokens[query])
            return (f"<span style='color:{MUTED_TEXT}'>query <b style='color:{ACCENT}'>{query_token}</b> ({query}) "
                    f"attends most to {parts}{hidden_text}</span>")
        rows = matrix[matrix.sum(axis=1) > 0]  # (a fully masked query has an all-zero row)
        entropy = float(_entropy(rows / rows.sum(axis=1, keepdims=True)).mean()) if len(rows) else 0.0
        uniform = math.log(matrix.shape[1])
        return (f"<span style='color:{MUTED_TEXT}'>mean entropy of a row {entropy:.2f} nats "
                f"(uniform over {matrix.shape[1]} keys: {uniform:.2f}) · pick a query to see its row{hidden_text}"
                f"</span>")

    def _summary(self) -> str:
        def count(n: int, noun: str) -> str:
            return f"{n} {noun}{'' if n == 1 else 's'}"

        shapes = ", ".join(f"{g.label}: {count(g.weights.shape[0], 'layer')} x {count(g.weights.shape[1], 'head')}, "
                           f"{g.weights.shape[2]}x{g.weights.shape[3]}" for g in self._groups)
        return f"AttentionExplorer({shapes})"

    @property
    def figure(self) -> Figure:
        return self._scene().picture.figure


# -- benchmark: python -m bigmodel_lib.viz.widgets ---------------------------------------------------------


def benchmark_redraw(n_tokens: int = 64, n_layers: int = 2, n_heads: int = 4, repeats: int = 4) -> dict[str, float]:
    """Median seconds per control change of an explorer on ``n_tokens`` tokens (prints a table).

    Two clocks: *wall* is what the learner waits (it grows when other programs share the CPU),
    *CPU* is the work the redraw itself costs (update + draw + PNG encoding).
    """
    weights = softmax(np.random.default_rng(0).standard_normal((n_layers, n_heads, n_tokens, n_tokens)) * 3)
    start = time.perf_counter()
    explorer = AttentionExplorer(weights, [f"tok{i}" for i in range(n_tokens)])
    print(f"AttentionExplorer, {n_tokens} tokens, {n_layers} layers x {n_heads} heads "
          f"(built in {time.perf_counter() - start:.2f} s); median per control change:")
    changes = {
        "head": (explorer.head_selector, [1, 2, 3, "mean", 0]),
        "layer": (explorer.layer_selector, [1, 0]),
        "query": (explorer.query_selector, [5, 17, 40, -1]),
        "threshold": (explorer.threshold_slider, [0.05, 0.1, 0.2, 0.0]),
    }
    timings = {}
    for name, (control, values) in changes.items():
        wall, cpu = [], []
        for _ in range(repeats):
            for value in values:
                cpu_start = time.process_time()
                control.value = value
                cpu.append(time.process_time() - cpu_start)
                wall.append(explorer.last_redraw_s)
        timings[name] = float(np.median(wall))
        print(f"  {name:<10} wall {1000 * np.median(wall):6.1f} ms   CPU {1000 * np.median(cpu):6.1f} ms")
    return timings
