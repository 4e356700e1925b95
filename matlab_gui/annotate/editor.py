"""The editing model of one image's mask: every tool's operation, undoable, each returning the
rectangle it changed (None when nothing changed) so the canvas redraws only that."""

from __future__ import annotations

import numpy as np

from matlab_gui.annotate import shapes
from matlab_gui.annotate.classes import remap
from matlab_gui.annotate.history import History
from matlab_gui.annotate.rect import Rect, full
from matlab_gui.annotate.regions import Superpixels, flood_region


class Editor:
    """Holds the live mask (uint8/uint16, 0 = unlabelled) and its undo history.

    A brush stroke is `begin_stroke`, `stroke_to` per mouse position, `end_stroke`; it is one
    undo step. Every other operation is one step by itself."""

    def __init__(self, mask: np.ndarray, history: History | None = None):
        self.mask = mask
        self.history = history if history is not None else History()
        self.version = 0  # bumps on every change; lets the GUI know when to save
        self._last: tuple[float, float] | None = None
        self._stroke_value = 0
        self._stroke_radius = 1.0

    # -- generic write -----------------------------------------------------------------
    def _paint(self, rect: Rect, region: np.ndarray, value: int) -> Rect | None:
        if rect.empty:
            return None
        target = self.mask[rect.slices]
        if not np.any(target[region] != value):
            return None
        self.history.record(self.mask, rect)
        target[region] = value
        self.version += 1
        return rect

    def _single(self, rect: Rect, region: np.ndarray, value: int) -> Rect | None:
        self.history.begin()
        self._paint(rect, region, value)
        return self.history.end(self.mask)

    # -- brush and eraser (eraser = value 0) ---------------------------------------------
    def begin_stroke(self, y: float, x: float, radius: float, value: int) -> Rect | None:
        self.history.begin()
        self._last, self._stroke_value, self._stroke_radius = (y, x), value, radius
        return self._paint(*shapes.disc(y, x, radius, self.mask.shape), value)

    def stroke_to(self, y: float, x: float) -> Rect | None:
        if self._last is None:
            return None
        seg = shapes.segment(self._last, (y, x), self._stroke_radius, self.mask.shape)
        self._last = (y, x)
        return self._paint(*seg, self._stroke_value)

    def end_stroke(self) -> Rect | None:
        self._last = None
        return self.history.end(self.mask)

    @property
    def stroking(self) -> bool:
        return self._last is not None

    # -- region tools ------------------------------------------------------------------
    def fill(self, image: np.ndarray, y: int, x: int, tolerance: float, value: int) -> Rect | None:
        return self._single(*flood_region(image, y, x, tolerance), value)

    def polygon(self, points: list[tuple[float, float]], value: int) -> Rect | None:
        return self._single(*shapes.polygon(points, self.mask.shape), value)

    def superpixel(self, sp: Superpixels, y: int, x: int, value: int) -> Rect | None:
        return self._single(*sp.region(y, x), value)

    def paint_region(self, rect: Rect, region: np.ndarray, value: int) -> Rect | None:
        """Paint a region found elsewhere (a Smart click preview the user accepted)."""
        return self._single(rect, region, value)

    def remap(self, mapping: dict[int, int]) -> Rect | None:
        """Re-number classes in the whole mask and in its undo history (after a class delete
        or reorder). Not an undo step itself: the class list it follows is not undoable."""
        new = remap(self.mask, mapping)
        self.history.remap(mapping)
        if np.array_equal(new, self.mask):
            return None
        self.mask[...] = new
        self.version += 1
        return full(self.mask.shape)

    def assign(self, labels: np.ndarray, where: np.ndarray | None = None) -> Rect | None:
        """Write `labels` into the mask (only `where`, when given) as one undo step: Accept of
        a prediction, an imported mask."""
        region = np.ones(self.mask.shape, bool) if where is None else np.asarray(where, bool)
        ys, xs = np.nonzero(region)
        if ys.size == 0:
            return None
        rect = Rect(int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1)
        self.history.begin()
        self.history.record(self.mask, rect)
        target = self.mask[rect.slices]
        sub = region[rect.slices]
        target[sub] = labels[rect.slices][sub].astype(self.mask.dtype)
        end = self.history.end(self.mask)
        self.version += end is not None
        return end

    def class_at(self, y: int, x: int) -> int | None:
        """The class painted under (y, x), for the picker tool; None outside the image."""
        h, w = self.mask.shape
        return int(self.mask[y, x]) if 0 <= y < h and 0 <= x < w else None

    # -- history -----------------------------------------------------------------------
    def undo(self) -> Rect | None:
        rect = self.history.undo(self.mask)
        self.version += rect is not None
        return rect

    def redo(self) -> Rect | None:
        rect = self.history.redo(self.mask)
        self.version += rect is not None
        return rect
