"""What every widget shares: the looks, input checks, and a matplotlib figure shown as a PNG."""

from __future__ import annotations

import base64
import html
import io
import time
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import matplotlib
import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image as PILImage  # a dependency of matplotlib

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
