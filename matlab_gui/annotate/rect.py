"""Rectangles of changed pixels: every edit returns one so the display redraws only that."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Rect:
    """Half-open pixel rectangle rows [y0, y1) x columns [x0, x1)."""

    y0: int
    x0: int
    y1: int
    x1: int

    @property
    def empty(self) -> bool:
        return self.y1 <= self.y0 or self.x1 <= self.x0

    @property
    def area(self) -> int:
        return 0 if self.empty else (self.y1 - self.y0) * (self.x1 - self.x0)

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def union(self, other: Rect | None) -> Rect:
        if other is None or other.empty:
            return self
        if self.empty:
            return other
        return Rect(
            min(self.y0, other.y0),
            min(self.x0, other.x0),
            max(self.y1, other.y1),
            max(self.x1, other.x1),
        )

    def clip(self, shape: tuple[int, ...]) -> Rect:
        h, w = shape[:2]
        return Rect(max(self.y0, 0), max(self.x0, 0), min(self.y1, h), min(self.x1, w))

    def grow(self, n: int, shape: tuple[int, ...]) -> Rect:
        return Rect(self.y0 - n, self.x0 - n, self.y1 + n, self.x1 + n).clip(shape)

    def relative_to(self, outer: Rect) -> Rect:
        return Rect(self.y0 - outer.y0, self.x0 - outer.x0, self.y1 - outer.y0, self.x1 - outer.x0)


EMPTY = Rect(0, 0, 0, 0)


def full(shape: tuple[int, ...]) -> Rect:
    return Rect(0, 0, int(shape[0]), int(shape[1]))


def bounding(region: np.ndarray) -> Rect:
    """Bounding rectangle of the True pixels of a 2-D boolean array (EMPTY when none)."""
    rows = np.flatnonzero(region.any(axis=1))
    if rows.size == 0:
        return EMPTY
    cols = np.flatnonzero(region[rows[0] : rows[-1] + 1].any(axis=0))
    return Rect(int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)
