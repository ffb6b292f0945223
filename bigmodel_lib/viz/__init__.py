"""Pictures of what models do: static attention plots, attention capture, interactive explorers.

The widgets import ipywidgets (not torch); each also leaves a static PNG of its starting state.
"""

from bigmodel_lib.viz.attention_plots import draw_attention_matrix, plot_attention_grid, plot_attention_heatmap
from bigmodel_lib.viz.capture import AttentionCapture, capture_attention
from bigmodel_lib.viz.widgets import (
    AttentionExplorer,
    MaskPlayground,
    PositionalEncodingExplorer,
    SoftmaxTemperaturePlayground,
)

__all__ = [
    "AttentionCapture",
    "AttentionExplorer",
    "MaskPlayground",
    "PositionalEncodingExplorer",
    "SoftmaxTemperaturePlayground",
    "capture_attention",
    "draw_attention_matrix",
    "plot_attention_grid",
    "plot_attention_heatmap",
]
