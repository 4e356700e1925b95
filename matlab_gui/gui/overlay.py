"""The mask overlay as a grid of RGBA tiles: an edit recolours and re-uploads only the tiles its
rectangle touches, so a brush dab on an 8k x 8k mask costs about one 512 x 512 tile."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from matlab_gui.annotate.rect import Rect, full
from matlab_gui.annotate.render import colorize

TILE = 512


class TiledOverlay:
    """Tiles are created lazily where the mask has labels; empty areas cost nothing."""

    def __init__(self, view: pg.ViewBox, tile: int = TILE, z: float = 10):
        self.view = view
        self.z = z
        self.tile = tile
        self.mask: np.ndarray | None = None
        self.lut = np.zeros((256, 4), np.uint8)
        self.outline_only = False
        self.opacity = 0.5
        self.visible = True
        self._tiles: dict[tuple[int, int], tuple[pg.ImageItem, np.ndarray]] = {}

    def set_mask(self, mask: np.ndarray | None) -> None:
        self.clear()
        self.mask = mask
        if mask is not None:
            self.refresh(full(mask.shape))

    def clear(self) -> None:
        for item, _ in self._tiles.values():
            self.view.removeItem(item)
        self._tiles.clear()

    def set_lut(self, lut: np.ndarray) -> None:
        self.lut = lut
        self.redraw()

    def set_outline_only(self, on: bool) -> None:
        self.outline_only = on
        self.set_opacity(self.opacity)
        self.redraw()

    def set_opacity(self, opacity: float) -> None:
        self.opacity = opacity
        for item, _ in self._tiles.values():
            item.setOpacity(self._shown_opacity)

    @property
    def _shown_opacity(self) -> float:
        """Outlines are one pixel wide: drawn opaque (unless the slider is at 0) to stay visible."""
        return min(1.0, 4 * self.opacity) if self.outline_only else self.opacity

    def set_visible(self, on: bool) -> None:
        self.visible = on
        for item, _ in self._tiles.values():
            item.setVisible(on)

    def redraw(self) -> None:
        if self.mask is not None:
            self.refresh(full(self.mask.shape))

    def refresh(self, rect: Rect | None) -> None:
        """Recolour the part of the mask under `rect` (an edit's returned rectangle)."""
        if rect is None or self.mask is None or rect.empty:
            return
        if self.outline_only:  # an edge pixel depends on its neighbours
            rect = rect.grow(1, self.mask.shape)
        t = self.tile
        for ty in range(rect.y0 // t, (rect.y1 - 1) // t + 1):
            for tx in range(rect.x0 // t, (rect.x1 - 1) // t + 1):
                box = Rect(ty * t, tx * t, (ty + 1) * t, (tx + 1) * t).clip(self.mask.shape)
                part = Rect(
                    max(rect.y0, box.y0),
                    max(rect.x0, box.x0),
                    min(rect.y1, box.y1),
                    min(rect.x1, box.x1),
                )
                tile = self._tiles.get((ty, tx))
                if tile is None:
                    if not self.mask[box.slices].any():
                        continue
                    tile = self._new_tile(ty, tx, box)
                    part = box
                item, rgba = tile
                rgba[part.relative_to(box).slices] = colorize(
                    self.mask, part, self.lut, self.outline_only
                )
                item.updateImage()

    def _new_tile(self, ty: int, tx: int, box: Rect) -> tuple[pg.ImageItem, np.ndarray]:
        rgba = np.zeros((box.y1 - box.y0, box.x1 - box.x0, 4), np.uint8)
        item = pg.ImageItem(rgba, levels=None, autoDownsample=False)
        item.setPos(box.x0, box.y0)
        item.setZValue(self.z)
        item.setOpacity(self._shown_opacity)
        item.setVisible(self.visible)
        self.view.addItem(item, ignoreBounds=True)  # the image defines the view bounds
        self._tiles[(ty, tx)] = (item, rgba)
        return item, rgba

    @property
    def tile_count(self) -> int:
        return len(self._tiles)
