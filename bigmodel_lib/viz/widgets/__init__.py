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

from bigmodel_lib.viz.widgets.explorer import AttentionExplorer
from bigmodel_lib.viz.widgets.playgrounds import (
    MaskPlayground,
    PositionalEncodingExplorer,
    SoftmaxTemperaturePlayground,
)
from bigmodel_lib.viz.widgets.scale_calculator import ScaleCalculator

__all__ = [
    "AttentionExplorer",
    "MaskPlayground",
    "PositionalEncodingExplorer",
    "ScaleCalculator",
    "SoftmaxTemperaturePlayground",
]
