"""Undo/redo that keeps only the changed rectangle of each step (before and after crops).

Memory is bounded by a byte budget as well as a step count, so hundreds of brush strokes on
an 8k x 8k mask cost megabytes, not a copy of the mask per step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from matlab_gui.annotate.rect import Rect


@dataclass
class Step:
    """One undoable edit: crops of the mask before and after, per changed rectangle."""

    rects: list[Rect] = field(default_factory=list)
    before: list[np.ndarray] = field(default_factory=list)
    after: list[np.ndarray] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.before) + sum(a.nbytes for a in self.after)

    @property
    def rect(self) -> Rect:
        out = self.rects[0]
        for r in self.rects[1:]:
            out = out.union(r)
        return out


class History:
    """Undo and redo stacks of `Step`s on one mask."""

    def __init__(self, max_steps: int = 200, max_bytes: int = 512 * 2**20):
        self.max_steps = max_steps
        self.max_bytes = max_bytes
        self._undo: list[Step] = []
        self._redo: list[Step] = []
        self._open: Step | None = None

    # -- recording ---------------------------------------------------------------------
    def begin(self) -> None:
        """Start a step; every `record` until `end` belongs to it (one brush stroke)."""
        if self._open is None:
            self._open = Step()

    def record(self, mask: np.ndarray, rect: Rect) -> None:
        """Remember the pixels of `rect` before they are changed (call before writing)."""
        if rect.empty:
            return
        self.begin()
        self._open.rects.append(rect)
        self._open.before.append(mask[rect.slices].copy())

    def end(self, mask: np.ndarray) -> Rect | None:
        """Close the open step: capture the after crops, merge them when that is smaller,
        drop the step if nothing changed. Returns the step's rectangle."""
        step, self._open = self._open, None
        if step is None or not step.rects:
            return None
        union = step.rect
        if union.area <= sum(r.area for r in step.rects):
            before = mask[union.slices].copy()
            for r, crop in zip(reversed(step.rects), reversed(step.before), strict=True):
                before[r.relative_to(union).slices] = crop
            step = Step([union], [before])
        step.after = [mask[r.slices].copy() for r in step.rects]
        if all(np.array_equal(b, a) for b, a in zip(step.before, step.after, strict=True)):
            return None
        self._undo.append(step)
        self._redo.clear()
        self._trim()
        return union

    def _trim(self) -> None:
        total = sum(s.nbytes for s in self._undo)
        while self._undo and (len(self._undo) > self.max_steps or total > self.max_bytes):
            total -= self._undo.pop(0).nbytes

    # -- undo / redo -------------------------------------------------------------------
    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self._undo) + sum(s.nbytes for s in self._redo)

    def __len__(self) -> int:
        return len(self._undo)

    def undo(self, mask: np.ndarray) -> Rect | None:
        if not self._undo:
            return None
        step = self._undo.pop()
        for r, crop in zip(reversed(step.rects), reversed(step.before), strict=True):
            mask[r.slices] = crop
        self._redo.append(step)
        return step.rect

    def redo(self, mask: np.ndarray) -> Rect | None:
        if not self._redo:
            return None
        step = self._redo.pop()
        for r, crop in zip(step.rects, step.after, strict=True):
            mask[r.slices] = crop
        self._undo.append(step)
        return step.rect

    def remap(self, mapping: dict[int, int]) -> None:
        """Renumber the classes in every recorded crop, as the mask itself was renumbered, so
        undo and redo keep restoring the same phases after a class is deleted or moved."""
        from matlab_gui.annotate.classes import remap

        for step in (*self._undo, *self._redo):
            step.before = [remap(c, mapping) for c in step.before]
            step.after = [remap(c, mapping) for c in step.after]

    def clear(self) -> None:
        self._undo.clear()
        self._redo.clear()
        self._open = None
