"""``python -m bigmodel_lib.viz.widgets``: how long the explorer takes to redraw 64 tokens."""

from bigmodel_lib.viz.widgets.explorer import benchmark_redraw

benchmark_redraw()
