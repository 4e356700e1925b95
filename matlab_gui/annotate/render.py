"""Colouring a mask crop for display (RGBA), filled or outline-only. numpy only, so the canvas
can recolour just the rectangle an edit changed."""

from __future__ import annotations

import numpy as np

from matlab_gui.annotate.rect import Rect


def palette(colors: dict[int, tuple[int, int, int]], size: int = 256) -> np.ndarray:
    """(size, 4) uint8 lookup table: index 0 and unknown classes transparent."""
    lut = np.zeros((max(size, max(colors, default=0) + 1), 4), np.uint8)
    for index, (r, g, b) in colors.items():
        lut[index] = (r, g, b, 255)
    return lut


def outline(mask: np.ndarray, rect: Rect) -> np.ndarray:
    """Boolean edge pixels of `rect`: labelled pixels with a 4-neighbour of another class."""
    outer = rect.grow(1, mask.shape)
    m = mask[outer.slices]
    edge = np.zeros(m.shape, bool)
    edge[1:, :] |= m[1:, :] != m[:-1, :]
    edge[:-1, :] |= m[:-1, :] != m[1:, :]
    edge[:, 1:] |= m[:, 1:] != m[:, :-1]
    edge[:, :-1] |= m[:, :-1] != m[:, 1:]
    edge &= m != 0
    return edge[rect.relative_to(outer).slices]


def colorize(
    mask: np.ndarray, rect: Rect, lut: np.ndarray, outline_only: bool = False
) -> np.ndarray:
    """RGBA (h, w, 4) of `mask[rect]` through `lut`; outline-only keeps just the edges."""
    crop = mask[rect.slices]
    rgba = lut[np.minimum(crop, len(lut) - 1)]
    if outline_only:
        rgba[~outline(mask, rect)] = 0
    return rgba
