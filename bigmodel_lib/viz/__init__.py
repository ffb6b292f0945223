"""Pictures of what models do: static attention plots first (interactive explorers build on them)."""

from bigmodel_lib.viz.attention_plots import draw_attention_matrix, plot_attention_grid, plot_attention_heatmap

__all__ = ["draw_attention_matrix", "plot_attention_grid", "plot_attention_heatmap"]
