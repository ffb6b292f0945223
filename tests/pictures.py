"""Helpers for the widget tests: decode the PNG a widget drew, and tell whether two pictures differ."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def pixels(png: bytes) -> np.ndarray:
    """A PNG decoded to an (H, W, 3) uint8 array (fails if the bytes are not a PNG)."""
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return np.asarray(image.convert("RGB"))


def assert_picture_changed(before: bytes, after: bytes) -> None:
    a, b = pixels(before), pixels(after)
    assert a.shape == b.shape, "the picture changed size: the layout should stay put"
    changed = np.any(a != b, axis=-1).mean()
    assert changed > 0.0005, f"only {changed:.4%} of the pixels changed"
