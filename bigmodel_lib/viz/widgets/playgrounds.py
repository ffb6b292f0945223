"""The chapter-03 playgrounds: softmax temperature and 1/sqrt(d_k), masks, positional encodings."""

from __future__ import annotations

import math
from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib
import numpy as np
from matplotlib import patheffects

from bigmodel_lib.nn_numpy.attention import scaled_dot_product_attention
from bigmodel_lib.nn_numpy.functional import softmax
from bigmodel_lib.nn_numpy.positional import sinusoidal_positional_encoding
from bigmodel_lib.viz.attention_plots import draw_attention_matrix
from bigmodel_lib.viz.widgets._figure import (
    _RC,
    ACCENT,
    HEAD_COLORS,
    HIDDEN_CELL,
    MUTED_TEXT,
    _check_choice,
    _check_int_range,
    _entropy,
    _FigureWidget,
    _labelled,
    _PngFigure,
    _token_list,
)

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
