"""Footprints of the drawing tools: which pixels a dab, a stroke or a polygon covers.

Each returns (rect, region): the clipped bounding rectangle and a boolean array of its size.
The editor writes a class into `mask[rect][region]`; nothing here touches the mask.
"""

from __future__ import annotations

import numpy as np
from skimage.draw import polygon as _polygon

from matlab_gui.annotate.rect import EMPTY, Rect


def _span(ya: float, yb: float, xa: float, xb: float, r: float, shape) -> Rect:
    """Pixels whose centres (i + 0.5) can lie within r of the box [ya, yb] x [xa, xb]."""
    return Rect(
        int(np.ceil(ya - r - 0.5)),
        int(np.ceil(xa - r - 0.5)),
        int(np.floor(yb + r - 0.5)) + 1,
        int(np.floor(xb + r - 0.5)) + 1,
    ).clip(shape)


def disc(cy: float, cx: float, radius: float, shape: tuple[int, ...]) -> tuple[Rect, np.ndarray]:
    """Pixels whose centres lie within `radius` of (cy, cx); radius 0.5 is one pixel."""
    r = max(float(radius), 0.5)
    rect = _span(cy, cy, cx, cx, r, shape)
    if rect.empty:
        return EMPTY, np.zeros((0, 0), bool)
    yy = np.arange(rect.y0, rect.y1)[:, None] + 0.5 - cy
    xx = np.arange(rect.x0, rect.x1)[None, :] + 0.5 - cx
    return rect, yy * yy + xx * xx <= r * r


def segment(
    p0: tuple[float, float], p1: tuple[float, float], radius: float, shape: tuple[int, ...]
) -> tuple[Rect, np.ndarray]:
    """A capsule: every pixel within `radius` of the segment p0-p1 (a stroke between two mouse
    positions), so fast mouse moves leave no gaps."""
    (y0, x0), (y1, x1) = p0, p1
    r = max(float(radius), 0.5)
    rect = _span(min(y0, y1), max(y0, y1), min(x0, x1), max(x0, x1), r, shape)
    if rect.empty:
        return EMPTY, np.zeros((0, 0), bool)
    py = np.arange(rect.y0, rect.y1)[:, None] + 0.5 - y0
    px = np.arange(rect.x0, rect.x1)[None, :] + 0.5 - x0
    dy, dx = y1 - y0, x1 - x0
    length2 = dy * dy + dx * dx
    t = np.clip((py * dy + px * dx) / length2, 0.0, 1.0) if length2 > 0 else 0.0
    ey, ex = py - t * dy, px - t * dx
    return rect, ey * ey + ex * ex <= r * r


def polygon(points: list[tuple[float, float]], shape: tuple[int, ...]) -> tuple[Rect, np.ndarray]:
    """Interior of a closed polygon given as (y, x) vertices (polygon and lasso tools)."""
    if len(points) < 3:
        return EMPTY, np.zeros((0, 0), bool)
    pts = np.asarray(points, dtype=float)
    rows, cols = _polygon(pts[:, 0], pts[:, 1], shape=shape[:2])
    if rows.size == 0:
        return EMPTY, np.zeros((0, 0), bool)
    rect = Rect(int(rows.min()), int(cols.min()), int(rows.max()) + 1, int(cols.max()) + 1)
    region = np.zeros((rect.y1 - rect.y0, rect.x1 - rect.x0), bool)
    region[rows - rect.y0, cols - rect.x0] = True
    return rect, region
