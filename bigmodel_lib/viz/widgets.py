"""Interactive attention widgets: the explorer, and the chapter-03 playgrounds.

::

    from bigmodel_lib.viz.capture import capture_attention
    from bigmodel_lib.viz.widgets import AttentionExplorer

    with capture_attention(model) as att:
        model(source_ids, target_ids)
    AttentionExplorer(att, tokens_q=target_tokens, tokens_k=source_tokens)   # layer, head, query, threshold

    SoftmaxTemperaturePlayground()    # how 1/sqrt(d_k) and the temperature shape the softmax
    MaskPlayground()                  # padding and causal masks: which weights vanish
    PositionalEncodingExplorer()      # the sinusoidal table, one position and one dimension at a time

Every widget is an ``ipywidgets.VBox``: controls on top, the picture below. The picture is a
matplotlib figure rendered to PNG in the kernel and shown in an ``ipywidgets.Image`` -- no ipympl,
no JavaScript of our own, nothing fetched from the network, so it works offline and in any
Jupyter front end. Speed comes from drawing little: each widget keeps one figure for its life and
only updates the data of its artists; the explorer draws its text (token labels, ticks) once and
afterwards repaints only the parts that move (*blitting*), so a control change on 64 tokens costs
a fraction of a second (``python -m bigmodel_lib.viz.widgets`` measures it).

Displayed in a notebook, a widget also puts a PNG of its starting state into the output (in the
same display data as the widget), so the notebook read without a kernel -- on GitHub, in a
rendered book -- still shows the picture.
"""

from __future__ import annotations

import base64
import html
import io
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import matplotlib
import numpy as np
from matplotlib import patheffects
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PIL import Image as PILImage  # a dependency of matplotlib

from bigmodel_lib.nn_numpy.attention import scaled_dot_product_attention
from bigmodel_lib.nn_numpy.functional import softmax
from bigmodel_lib.nn_numpy.positional import sinusoidal_positional_encoding
from bigmodel_lib.viz.attention_plots import draw_attention_matrix
from bigmodel_lib.viz.capture import KIND_LABELS, AttentionCapture

__all__ = [
    "AttentionExplorer",
    "MaskPlayground",
    "PositionalEncodingExplorer",
    "SoftmaxTemperaturePlayground",
]

# -- looks ---------------------------------------------------------------------------------------------------

#: One colour per head (Tableau 10), so "head 2" has the same colour in every view.
HEAD_COLORS = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
               "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
MEAN_COLOR = "#5b5f97"  # the mean over heads: a neutral indigo, no head's colour
ACCENT = "#e03131"  # the selected query, everywhere
HIDDEN_CELL = "#eceff3"  # heatmap cells below the threshold
MUTED_TEXT = "#495057"

_RC = {  # matplotlib settings of every widget figure (applied while the figure is built)
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.labelcolor": MUTED_TEXT,
    "axes.edgecolor": "#adb5bd",
    "xtick.color": MUTED_TEXT,
    "ytick.color": MUTED_TEXT,
    "axes.spines.top": False,
    "axes.spines.right": False,
}

#: The head view draws at most this many query -> key links, the strongest (about 10 per query
#: for 64 tokens): more would only add haze, and every line costs drawing time.
MAX_LINKS = 640
#: A link fainter than this opacity is not drawn (it would not be visible).
MIN_LINK_ALPHA = 0.025
#: The explorer's threshold slider goes up to this weight (hiding more would hide nearly everything).
MAX_THRESHOLD = 0.5
#: Widths of widget images on screen are capped at this many CSS pixels (they shrink with the page).
MAX_IMAGE_WIDTH_PX = 1150


# -- small helpers -------------------------------------------------------------------------------------------


def _shape_str(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _as_float_array(where: str, name: str, value: Any) -> np.ndarray:
    """A float64 NumPy copy of an array or a torch tensor (detached, on the CPU)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().double().numpy()
    if not isinstance(value, np.ndarray):
        raise TypeError(f"{where}: '{name}' must be a NumPy array or a torch tensor, got {type(value).__name__}")
    if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)):
        raise TypeError(f"{where}: '{name}' must hold real numbers, got dtype {value.dtype}")
    return value.astype(np.float64)


def _token_list(where: str, name: str, tokens: Any) -> list[str]:
    if isinstance(tokens, str) or not isinstance(tokens, Sequence):
        hint = f" (e.g. {tokens.split()!r})" if isinstance(tokens, str) else ""
        raise TypeError(f"{where}: '{name}' must be a sequence of token strings, got {type(tokens).__name__}{hint}")
    if len(tokens) == 0:
        raise ValueError(f"{where}: '{name}' must hold at least one token, got an empty sequence")
    return [str(token) for token in tokens]


def _check_choice(where: str, name: str, value: Any, allowed: Sequence[Any]) -> None:
    if value not in allowed:
        raise ValueError(f"{where}: '{name}' must be one of {list(allowed)}, got {value!r}")


def _check_int_range(where: str, name: str, value: Any, low: int, high: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise TypeError(f"{where}: '{name}' must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{where}: '{name}' must be in [{low}, {high}], got {value}")
    return int(value)


def _labelled(text: str, control: widgets.Widget, width: str = "62px") -> widgets.HBox:
    """``control`` with its name on its left (a ToggleButtons' own description wraps above the buttons)."""
    label = widgets.HTML(f"<div style='text-align:right;padding-right:8px'>{text}</div>",
                         layout=widgets.Layout(width=width, min_width=width))
    return widgets.HBox([label, control], layout=widgets.Layout(align_items="center", margin="0 12px 0 0"))


def _entropy(p: np.ndarray) -> np.ndarray:
    """Shannon entropy in nats of each distribution along the last axis (zeros contribute nothing)."""
    positive = p > 0
    return -np.where(positive, p * np.log(np.where(positive, p, 1.0)), 0.0).sum(axis=-1)


class _PngFigure:
    """A matplotlib figure that lives outside pyplot and is rendered to PNG bytes on demand.

    ``render(full=True)`` draws everything. Artists registered with :meth:`set_moving` are the
    only ones that change between renders: they are left out of the full draw, which is then
    saved (the *background*), so ``render(full=False)`` just restores that background and paints
    the moving artists over it -- no text layout, no tick computation (classic blitting).

    The constrained layout runs once, at the first draw (or at :meth:`lock_layout`), and is then
    kept: the panels never jump when a label changes, and no later draw pays for the layout.
    """

    def __init__(self, width_in: float, height_in: float, dpi: float = 100.0) -> None:
        # No wider than the page shows it: pixels beyond that cost drawing and encoding time only.
        dpi = min(dpi, MAX_IMAGE_WIDTH_PX / width_in)
        with matplotlib.rc_context(_RC):
            self.figure = Figure(figsize=(width_in, height_in), dpi=dpi, layout="constrained")
        self.canvas = FigureCanvasAgg(self.figure)
        self.figure.patch.set_facecolor("white")
        self._moving: list[Artist] = []
        self._background: Any = None

    def set_moving(self, artists: Sequence[Artist]) -> None:
        for artist in artists:
            artist.set_animated(True)  # skipped by canvas.draw(), painted by draw_artist()
        self._moving = list(artists)
        self._background = None

    def lock_layout(self) -> None:
        """Lay the panels out for what the figure shows now, and keep that layout from then on.

        Call it while the figure shows its widest labels, so that later, narrower ones fit too.
        """
        if self.figure.get_layout_engine() is not None:
            self.figure.canvas.draw()  # runs the constrained layout
            self.figure.set_layout_engine("none")

    def render(self, full: bool = False) -> bytes:
        if full or self._background is None:
            self.canvas.draw()  # everything but the moving artists (and the layout, the first time)
            if self.figure.get_layout_engine() is not None:
                self.figure.set_layout_engine("none")
            self._background = self.canvas.copy_from_bbox(self.figure.bbox)
        else:
            self.canvas.restore_region(self._background)
        for artist in self._moving:
            if artist.get_visible():
                self.figure.draw_artist(artist)
        return self.png()

    def png(self) -> bytes:
        """The canvas as it is now, as PNG bytes (RGB: the figure is opaque; fast zlib level)."""
        rgba = np.asarray(self.canvas.buffer_rgba())
        buffer = io.BytesIO()
        PILImage.fromarray(rgba[..., :3]).save(buffer, format="png", compress_level=1)
        return buffer.getvalue()

    @property
    def width_px(self) -> int:
        return int(round(self.figure.get_figwidth() * self.figure.dpi))


class _FigureWidget(widgets.VBox):
    """Base of every widget here: title, control rows, a one-line readout, the picture.

    Sub-classes hand over their :class:`_PngFigure` and implement :meth:`_update`, which moves
    the artists to the controls' current values and returns ``True`` when the static parts
    changed too (then the whole figure is redrawn, else only the moving artists).
    """

    _css_class = "bigmodel-widget"

    def __init__(self, title: str, control_rows: Sequence[Sequence[widgets.Widget]], picture: _PngFigure) -> None:
        self._picture = picture
        self._batching = False
        #: Seconds the last control change took to redraw (update + draw + PNG), for the curious.
        self.last_redraw_s = float("nan")
        self.image = widgets.Image(
            format="png",
            layout=widgets.Layout(width=f"{min(picture.width_px, MAX_IMAGE_WIDTH_PX)}px", max_width="100%",
                                  height="auto", margin="4px 0 0 0"),
        )
        self.image.add_class("bigmodel-widget-image")
        self.readout = widgets.HTML(layout=widgets.Layout(margin="2px 0 0 4px"))
        heading = widgets.HTML(f"<div style='font-size:1.15em;font-weight:600;margin:2px 0 4px 4px'>"
                               f"{html.escape(title)}</div>")
        rows = [widgets.HBox(list(row), layout=widgets.Layout(flex_flow="row wrap", align_items="center"))
                for row in control_rows if row]
        super().__init__(children=[heading, *rows, self.readout, self.image],
                         layout=widgets.Layout(padding="6px", border="1px solid #dee2e6", width="fit-content",
                                               max_width="100%"))
        self.add_class("bigmodel-widget")
        self.add_class(self._css_class)
        self._refresh()  # the first picture (a full draw: there is no background to reuse yet)
        #: PNG bytes of the starting state: the static picture left in the notebook's output.
        self.initial_png: bytes = self.image.value

    # -- drawing ------------------------------------------------------------------------------------
    def _update(self) -> bool:
        raise NotImplementedError

    def _render(self) -> bytes:
        static_changed = self._update()
        return self._picture.render(full=static_changed)

    def _refresh(self, change: Any = None) -> None:
        """Bring the picture in line with the controls (the observer of every control)."""
        if self._batching:  # several controls are being set together: draw once, at the end
            return
        start = time.perf_counter()
        with matplotlib.rc_context(_RC):  # titles and labels set while updating get the widget's style
            self.image.value = self._render()
        self.last_redraw_s = time.perf_counter() - start

    def _observe(self, *controls: widgets.Widget) -> None:
        for control in controls:
            control.observe(self._refresh, names="value")

    # -- what a notebook shows ------------------------------------------------------------------------
    @property
    def figure(self) -> Figure:
        """The matplotlib figure behind the picture (kept and updated for the widget's life)."""
        return self._picture.figure

    def png(self) -> bytes:
        """The picture as it is now, as PNG bytes."""
        return self.image.value

    def static_image(self) -> Any:
        """The starting state as an ``IPython.display.Image`` (e.g. to display it on its own)."""
        from IPython.display import Image

        return Image(data=self.initial_png, format="png")

    def _summary(self) -> str:
        return type(self).__name__

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        """The widget view plus a PNG of the starting state, in one display.

        A live front end shows the widget (it ranks the widget mimetype first); a page rendered
        without a kernel (nbconvert, GitHub, a book) shows the PNG instead.
        """
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        bundle["image/png"] = base64.b64encode(self.initial_png).decode("ascii")
        bundle["text/plain"] = f"{self._summary()} (run the notebook to interact; the picture shows its start)"
        return bundle


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
        shapes = ", ".join(f"{g.label}: {g.weights.shape[0]} layers x {g.weights.shape[1]} heads, "
                           f"{g.weights.shape[2]}x{g.weights.shape[3]}" for g in self._groups)
        return f"AttentionExplorer({shapes})"

    @property
    def figure(self) -> Figure:
        return self._scene().picture.figure


# -- softmax temperature and 1/sqrt(d_k) ---------------------------------------------------------------------


class SoftmaxTemperaturePlayground(_FigureWidget):
    """See the softmax sharpen: raw dot products grow with ``d_k``; ``1/sqrt(d_k)`` and ``T`` tame them.

    One random query and ``n_keys`` random keys with standard-normal entries (``seed``): their
    dot product has variance ``d_k``, so without scaling the logits spread out as ``d_k`` grows
    and the softmax collapses onto one key (its gradient vanishes). ``q.k / sqrt(d_k)`` keeps
    unit variance whatever ``d_k``. The temperature divides the logits once more:
    ``softmax(z / T)`` is flatter for ``T > 1``, sharper for ``T < 1``.

    Panels: the logits, the weights, and the mean entropy of the weights against ``d_k`` for
    scaled and unscaled scores (over many random draws) with the current setting marked.
    Controls: ``d_k_slider``, ``scale_checkbox``, ``temperature_slider``.
    """

    _css_class = "bigmodel-softmax-playground"
    D_K_CHOICES = tuple(2**i for i in range(11))  # 1 .. 1024
    #: The logits' axis snaps to +-one of these, so most changes only repaint the bars (blitting).
    LOGIT_LIMITS = (2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0)

    def __init__(self, n_keys: int = 8, *, d_k: int = 64, scaled: bool = True, temperature: float = 1.0,
                 seed: int = 0) -> None:
        where = "SoftmaxTemperaturePlayground"
        self.n_keys = _check_int_range(where, "n_keys", n_keys, 2, 32)
        _check_choice(where, "d_k", d_k, self.D_K_CHOICES)
        if not isinstance(temperature, (int, float)) or not 0.1 <= float(temperature) <= 10.0:
            raise ValueError(f"{where}: 'temperature' must be a number in [0.1, 10], got {temperature!r}")
        rng = np.random.default_rng(seed)
        d_max = self.D_K_CHOICES[-1]
        self._query = rng.standard_normal(d_max)  # the first d_k entries are the query of dimension d_k
        self._keys = rng.standard_normal((self.n_keys, d_max))
        # 256 more random (query, keys) draws for the entropy curves; the score with the first d
        # dimensions is a prefix sum of the per-dimension products q_i k_i.
        queries = rng.standard_normal((256, d_max))
        keys = rng.standard_normal((256, self.n_keys, d_max))
        prefix_sums = np.cumsum(queries[:, None, :] * keys, axis=-1)  # (draws, keys, d_max)
        self._curve_scores = np.stack([prefix_sums[..., d - 1] for d in self.D_K_CHOICES])  # (n_dk, draws, keys)
        self._curves_temperature = float("nan")  # the temperature the entropy curves were computed for
        self._logit_limit = float("nan")  # the current +- limit of the logits' axis

        self.d_k_slider = widgets.SelectionSlider(options=list(self.D_K_CHOICES), value=d_k, description="d_k",
                                                  continuous_update=True, style={"description_width": "100px"},
                                                  layout=widgets.Layout(width="400px"))
        self.scale_checkbox = widgets.Checkbox(value=bool(scaled), description="divide by √d_k", indent=False,
                                               layout=widgets.Layout(width="150px", margin="0 0 0 16px"))
        self.temperature_slider = widgets.FloatLogSlider(value=float(temperature), base=10, min=-1, max=1,
                                                         step=0.05, description="temperature T",
                                                         continuous_update=True, readout_format=".2f",
                                                         style={"description_width": "100px"},
                                                         layout=widgets.Layout(width="400px"))
        self._observe(self.d_k_slider, self.scale_checkbox, self.temperature_slider)

        picture = _PngFigure(11.0, 3.5)
        with matplotlib.rc_context(_RC):
            self.ax_logits, self.ax_weights, self.ax_curve = picture.figure.subplots(1, 3, width_ratios=[1, 1, 1.1])
            labels = [f"k{j}" for j in range(self.n_keys)]
            positions = np.arange(self.n_keys)
            self.logit_bars = self.ax_logits.bar(positions, np.zeros(self.n_keys), color=HEAD_COLORS[0], width=0.7)
            self.ax_logits.axhline(0, color="#adb5bd", linewidth=0.8)
            self.ax_logits.set_xticks(positions, labels)
            self.ax_logits.set_xlabel("key")
            self.ax_logits.set_ylabel("logit  z = q·k (/√d_k) / T")
            self.ax_logits.set_title(" ")
            self.weight_bars = self.ax_weights.bar(positions, np.zeros(self.n_keys), color=HEAD_COLORS[1], width=0.7)
            self.ax_weights.axhline(1 / self.n_keys, color="#868e96", linestyle="--", linewidth=1)
            self.ax_weights.text(self.n_keys - 0.5, 1 / self.n_keys + 0.02, "uniform", ha="right", va="bottom",
                                 color="#868e96", fontsize=8)
            self.ax_weights.set_ylim(0, 1.02)
            self.ax_weights.set_xticks(positions, labels)
            self.ax_weights.set_xlabel("key")
            self.ax_weights.set_ylabel("softmax weight")
            self.ax_weights.set_title(" ")
            (self.curve_scaled,) = self.ax_curve.plot([], [], "-o", color=HEAD_COLORS[0], markersize=3,
                                                      label="q·k / √d_k")
            (self.curve_raw,) = self.ax_curve.plot([], [], "-o", color=HEAD_COLORS[2], markersize=3, label="q·k")
            (self.marker,) = self.ax_curve.plot([], [], "o", markersize=11, markerfacecolor="none",
                                                markeredgecolor=ACCENT, markeredgewidth=2)
            self.ax_curve.axhline(math.log(self.n_keys), color="#868e96", linestyle="--", linewidth=1)
            self.ax_curve.set_xscale("log", base=2)
            self.ax_curve.set_xlim(0.7, self.D_K_CHOICES[-1] * 1.4)
            self.ax_curve.set_ylim(-0.05, math.log(self.n_keys) * 1.08)
            self.ax_curve.set_xlabel("d_k")
            self.ax_curve.set_ylabel("mean entropy of the weights (nats)")
            self.ax_curve.set_title("peakedness vs d_k (256 random draws)")
            self.ax_curve.legend(loc="lower left", frameon=False, fontsize=8)
            self.ax_logits.set_ylim(-self.LOGIT_LIMITS[-1], self.LOGIT_LIMITS[-1])  # the widest tick labels...
            picture.lock_layout()  # ...decide the layout
        picture.set_moving([*self.logit_bars, *self.weight_bars, self.ax_logits.title, self.ax_weights.title,
                            self.curve_scaled, self.curve_raw, self.marker])
        super().__init__("Softmax, √d_k and temperature", [[self.d_k_slider, self.scale_checkbox],
                                                           [self.temperature_slider]], picture)

    def weights(self) -> np.ndarray:
        """The softmax weights currently shown, ``(n_keys,)``."""
        return softmax(self._logits())

    def _logits(self) -> np.ndarray:
        d_k = self.d_k_slider.value
        scores = self._keys[:, :d_k] @ self._query[:d_k]  # (n_keys, d_k) @ (d_k,) -> (n_keys,)
        if self.scale_checkbox.value:
            scores = scores / math.sqrt(d_k)
        return scores / self.temperature_slider.value

    def _update(self) -> bool:
        logits = self._logits()
        weights = softmax(logits)
        for bar, value in zip(self.logit_bars, logits):
            bar.set_height(value)
        for bar, value in zip(self.weight_bars, weights):
            bar.set_height(value)
        self.ax_logits.set_title(f"logits: spread (std) {logits.std():.2f}")
        entropy, uniform = float(_entropy(weights)), math.log(self.n_keys)
        self.ax_weights.set_title(f"weights: max {weights.max():.2f}, entropy {entropy:.2f} / {uniform:.2f}")

        temperature = self.temperature_slider.value
        if temperature != self._curves_temperature:  # the curves depend on T only: recompute when it moves
            d_ks = np.array(self.D_K_CHOICES, dtype=float)
            scaled = self._curve_scores / np.sqrt(d_ks)[:, None, None] / temperature  # (n_dk, draws, keys)
            raw = self._curve_scores / temperature
            self.curve_scaled.set_data(d_ks, _entropy(softmax(scaled)).mean(axis=-1))
            self.curve_raw.set_data(d_ks, _entropy(softmax(raw)).mean(axis=-1))
            self._curves_temperature = temperature
        current = (self.curve_scaled if self.scale_checkbox.value else self.curve_raw).get_ydata()
        self.marker.set_data([self.d_k_slider.value], [current[self.D_K_CHOICES.index(self.d_k_slider.value)]])
        verdict = ("the softmax has saturated: one key takes (almost) everything and its gradient vanishes"
                   if weights.max() > 0.95 else "the weights spread over several keys")
        self.readout.value = (f"<span style='color:{MUTED_TEXT}'>d_k = {self.d_k_slider.value}, "
                              f"{'scaled by 1/√d_k' if self.scale_checkbox.value else 'not scaled'}, "
                              f"T = {temperature:.2f}: {verdict}</span>")

        needed = float(np.abs(logits).max()) * 1.08
        limit = next((rung for rung in self.LOGIT_LIMITS if rung >= needed), needed)
        if limit == self._logit_limit:
            return False  # same axis: only the moving artists are repainted
        self._logit_limit = limit
        self.ax_logits.set_ylim(-limit, limit)
        return True


# -- masks ---------------------------------------------------------------------------------------------------


class MaskPlayground(_FigureWidget):
    """Padding and causal masks: switch them on and watch which attention weights become exactly 0.

    A short sentence is filled up with ``<pad>`` to ``len(tokens)`` positions; its token vectors
    are random (``seed``). The weights come from the library's
    ``nn_numpy.scaled_dot_product_attention(x, x, x, mask, causal=..., need_weights=True)`` with
    ``mask`` the key-padding mask (``True`` = may attend). Padding on the *left* with a causal
    mask leaves the first queries with no key at all: their row is all zeros, never NaN.

    Controls: ``length_slider`` (real tokens), ``padding_side`` (right/left), ``causal_checkbox``.
    """

    _css_class = "bigmodel-mask-playground"
    PAD = "<pad>"

    def __init__(self, tokens: Sequence[str] = ("the", "cat", "sat", "on", "the", "mat"), *,
                 real_length: int | None = None, padding_side: str = "right", causal: bool = False,
                 seed: int = 0) -> None:
        where = "MaskPlayground"
        self.tokens = _token_list(where, "tokens", tokens)
        n = len(self.tokens)
        if n > 16:
            raise ValueError(f"{where}: 'tokens' must hold at most 16 tokens (a readable grid), got {n}")
        real_length = max(n - 2, 1) if real_length is None else real_length
        real_length = _check_int_range(where, "real_length", real_length, 0, n)
        _check_choice(where, "padding_side", padding_side, ("right", "left"))
        self._x = np.random.default_rng(seed).standard_normal((n, 8))  # one random vector per position
        self._shown_sequence: list[str] = []

        self.length_slider = widgets.IntSlider(value=real_length, min=0, max=n, description="real tokens",
                                               continuous_update=True, style={"description_width": "80px"},
                                               layout=widgets.Layout(width="330px"))
        self.padding_side = widgets.ToggleButtons(options=["right", "left"], value=padding_side,
                                                  style={"button_width": "60px"})
        self.causal_checkbox = widgets.Checkbox(value=bool(causal), description="causal mask (no peeking)",
                                                indent=False, layout=widgets.Layout(width="210px",
                                                                                    margin="0 0 0 16px"))
        self._observe(self.length_slider, self.padding_side, self.causal_checkbox)

        size = float(np.clip(0.42 * n + 1.6, 3.4, 7.5))
        picture = _PngFigure(2 * size + 1.2, size + 0.2)
        widest = [max(self.tokens + [self.PAD], key=len)] * n  # lay out for the longest label everywhere
        blank = np.zeros((n, n))
        with matplotlib.rc_context(_RC):
            self.ax_mask, self.ax_weights = picture.figure.subplots(1, 2)
            self.mask_image = draw_attention_matrix(self.ax_mask, blank, widest, widest, vmin=0.0, vmax=1.0,
                                                    cmap=matplotlib.colors.ListedColormap(["#343a40", "#ffffff"]))
            edges = np.arange(n + 1) - 0.5  # a thin grid, so white cells stand apart from the page
            grid = [self.ax_mask.vlines(edges, -0.5, n - 0.5, color="#adb5bd", linewidth=0.6),
                    self.ax_mask.hlines(edges, -0.5, n - 0.5, color="#adb5bd", linewidth=0.6)]
            self.ax_mask.set_xlim(-0.52, n - 0.48)
            self.ax_mask.set_ylim(n - 0.48, -0.52)
            self.ax_mask.set_title("mask: white = may attend")
            self.ax_mask.set_ylabel("query")
            self.ax_mask.set_xlabel("key")
            self.weight_image = draw_attention_matrix(self.ax_weights, blank, widest, widest, vmin=0.0, vmax=1.0,
                                                      cmap="viridis")
            self.weight_image.set_cmap(matplotlib.colormaps["viridis"].with_extremes(bad=HIDDEN_CELL))
            self.ax_weights.set_title("attention weights (grey = exactly 0)")
            self.ax_weights.set_xlabel("key")
            self.cell_texts = [[self.ax_weights.text(j, i, "", ha="center", va="center", fontsize=7.5)
                                for j in range(n)] for i in range(n)]
            for ax in (self.ax_mask, self.ax_weights):
                for spine in ax.spines.values():
                    spine.set_visible(False)
            picture.lock_layout()
        # Moving artists are painted over the background in this order: the grid goes over the mask.
        cells = [text for row in self.cell_texts for text in row]
        picture.set_moving([self.mask_image, *grid, self.weight_image, *cells])
        super().__init__("Masks: padding and causal", [[self.length_slider, _labelled("pad on", self.padding_side),
                                                        self.causal_checkbox]], picture)

    def sequence(self) -> list[str]:
        """The tokens as shown: the first ``real tokens`` words, ``<pad>`` on the chosen side."""
        n, real = len(self.tokens), self.length_slider.value
        words = self.tokens[:real]
        pads = [self.PAD] * (n - real)
        return pads + words if self.padding_side.value == "left" else words + pads

    def _is_real(self) -> np.ndarray:
        return np.array([token != self.PAD for token in self.sequence()])

    def allowed(self) -> np.ndarray:
        """``(L, L)`` bool: ``True`` where query ``i`` may attend to key ``j`` (padding and causal combined)."""
        is_real = self._is_real()
        allowed = np.broadcast_to(is_real[None, :], (len(is_real), len(is_real))).copy()
        if self.causal_checkbox.value:
            allowed &= np.tril(np.ones_like(allowed))
        return allowed

    def weights(self) -> np.ndarray:
        """``(L, L)`` attention weights under the current masks (from the library's attention)."""
        x = self._x[None]  # (1, L, 8)
        key_padding = self._is_real()[None, None, :]  # (1, 1, Lk): True = a real token, may attend
        _, weights = scaled_dot_product_attention(x, x, x, key_padding, causal=self.causal_checkbox.value,
                                                  need_weights=True)
        return weights[0]

    def _update(self) -> bool:
        sequence, allowed, weights = self.sequence(), self.allowed(), self.weights()
        n = len(sequence)
        self.mask_image.set_data(allowed.astype(float))
        self.weight_image.set_data(np.ma.masked_where(~allowed, weights))
        for i in range(n):
            for j in range(n):
                text = self.cell_texts[i][j]
                if allowed[i, j]:
                    text.set_text(f"{weights[i, j]:.2f}")
                    text.set_color("black" if weights[i, j] > 0.55 else "white")
                else:
                    text.set_text("0")
                    text.set_color("#868e96")
        zeros = int((~allowed).sum())
        empty_rows = [i for i in range(n) if not allowed[i].any()]
        empty = (f" · queries {empty_rows} may attend to nothing: their row is all 0 (not NaN)"
                 if empty_rows else "")
        self.readout.value = (f"<span style='color:{MUTED_TEXT}'>{zeros} of {n * n} weights are exactly 0; "
                              f"every other row sums to 1{empty}</span>")
        if sequence == self._shown_sequence:
            return False  # same labels: only the cells are repainted
        self._shown_sequence = sequence
        for ax in (self.ax_mask, self.ax_weights):
            ax.set_yticks(range(n), sequence)
            ax.set_xticks(range(n), sequence, rotation=45, ha="right", rotation_mode="anchor")
        return True


# -- positional encoding -------------------------------------------------------------------------------------


class PositionalEncodingExplorer(_FigureWidget):
    """The sinusoidal table, one position and one dimension at a time.

    Left: the ``(max_len, d_model)`` table of ``nn_numpy.sinusoidal_positional_encoding`` with a
    cross-hair at the chosen position (row) and dimension (column). Middle: the chosen dimension
    along the positions -- a sine or cosine whose wavelength grows with the dimension. Right: the
    dot product of the chosen position's code with every other one: it peaks at the position and
    depends only on the distance, the property attention can use to find neighbours.

    Controls: ``position_slider``, ``dimension_slider``.
    """

    _css_class = "bigmodel-positional-explorer"

    def __init__(self, max_len: int = 100, d_model: int = 64, *, position: int = 20, dimension: int = 6) -> None:
        where = "PositionalEncodingExplorer"
        _check_int_range(where, "max_len", max_len, 2, 4096)
        _check_int_range(where, "d_model", d_model, 2, 1024)
        if d_model % 2:
            raise ValueError(f"{where}: 'd_model' must be even (sin/cos pairs), got {d_model}")
        position = _check_int_range(where, "position", position, 0, max_len - 1)
        dimension = _check_int_range(where, "dimension", dimension, 0, d_model - 1)
        self.table = sinusoidal_positional_encoding(max_len, d_model, dtype=np.float64)  # (max_len, d_model)
        self._similarity = self.table @ self.table.T  # (max_len, max_len): PE_p . PE_p'

        self.position_slider = widgets.IntSlider(value=position, min=0, max=max_len - 1, description="position",
                                                 continuous_update=True, style={"description_width": "70px"},
                                                 layout=widgets.Layout(width="420px"))
        self.dimension_slider = widgets.IntSlider(value=dimension, min=0, max=d_model - 1, description="dimension",
                                                  continuous_update=True, style={"description_width": "70px"},
                                                  layout=widgets.Layout(width="420px"))
        self._observe(self.position_slider, self.dimension_slider)

        picture = _PngFigure(12.0, 3.8)
        positions = np.arange(max_len)
        with matplotlib.rc_context(_RC):
            self.ax_table, self.ax_wave, self.ax_dot = picture.figure.subplots(1, 3, width_ratios=[1.1, 1, 1])
            image = self.ax_table.imshow(self.table, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1,
                                         interpolation="nearest")
            picture.figure.colorbar(image, ax=self.ax_table, pad=0.02, aspect=30).outline.set_visible(False)
            self.ax_table.set_xlabel("dimension (even = sin, odd = cos)")
            self.ax_table.set_ylabel("position")
            self.ax_table.set_title(f"PE table, d_model = {d_model}")
            halo = [patheffects.Stroke(linewidth=3.6, foreground="white"), patheffects.Normal()]
            self.row_line = self.ax_table.axhline(position, color="#212529", linewidth=1.6, path_effects=halo)
            self.column_line = self.ax_table.axvline(dimension, color="#212529", linewidth=1.6, path_effects=halo)
            (self.cell_marker,) = self.ax_table.plot([dimension], [position], "o", markersize=9, markeredgewidth=2,
                                                     markerfacecolor="none", markeredgecolor=ACCENT,
                                                     path_effects=halo)

            (self.wave,) = self.ax_wave.plot(positions, self.table[:, dimension], color=HEAD_COLORS[0])
            (self.wave_marker,) = self.ax_wave.plot([position], [self.table[position, dimension]], "o",
                                                    color=ACCENT, markersize=7)
            self.ax_wave.set_ylim(-1.15, 1.15)
            self.ax_wave.set_xlim(0, max_len - 1)
            self.ax_wave.set_xlabel("position")
            self.ax_wave.set_ylabel("PE value")
            self.ax_wave.set_title(" ")

            (self.dots,) = self.ax_dot.plot(positions, self._similarity[position], color=HEAD_COLORS[4])
            (self.dot_marker,) = self.ax_dot.plot([position], [self._similarity[position, position]], "o",
                                                  color=ACCENT, markersize=7)
            low = float(self._similarity.min())
            self.ax_dot.set_ylim(low - 0.05 * d_model, d_model / 2 * 1.08)
            self.ax_dot.set_xlim(0, max_len - 1)
            self.ax_dot.set_xlabel("other position p'")
            self.ax_dot.set_ylabel("PE[p] · PE[p']")
            self.ax_dot.set_title(" ")
        picture.set_moving([self.row_line, self.column_line, self.cell_marker, self.wave, self.wave_marker,
                            self.ax_wave.title, self.dots, self.dot_marker, self.ax_dot.title])
        super().__init__("Sinusoidal positional encoding", [[self.position_slider], [self.dimension_slider]],
                         picture)

    def _update(self) -> bool:
        position, dimension = self.position_slider.value, self.dimension_slider.value
        d_model = self.table.shape[1]
        pair = dimension // 2
        wavelength = 2 * math.pi * 10000 ** (2 * pair / d_model)
        self.row_line.set_ydata([position, position])
        self.column_line.set_xdata([dimension, dimension])
        self.cell_marker.set_data([dimension], [position])
        self.wave.set_ydata(self.table[:, dimension])
        self.wave_marker.set_data([position], [self.table[position, dimension]])
        function = "sin" if dimension % 2 == 0 else "cos"
        self.ax_wave.set_title(f"dimension {dimension} ({function}): wavelength {wavelength:,.0f} positions")
        self.dots.set_ydata(self._similarity[position])
        self.dot_marker.set_data([position], [self._similarity[position, position]])
        self.ax_dot.set_title(f"PE[{position}] · PE[p'] for every p'")
        value = self.table[position, dimension]
        self.readout.value = (f"<span style='color:{MUTED_TEXT}'>PE[{position}, {dimension}] = {function}"
                              f"({position} / 10000^({2 * pair}/{d_model})) = <b>{value:+.3f}</b> · "
                              f"the dot product depends only on the distance |p - p'|</span>")
        return False


# -- benchmark: python -m bigmodel_lib.viz.widgets -----------------------------------------------------------


def _benchmark(n_tokens: int = 64, n_layers: int = 2, n_heads: int = 4, repeats: int = 4) -> dict[str, float]:
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


if __name__ == "__main__":
    _benchmark()
