"""An image shown through its display pyramid: the ImageItem holds the level the zoom needs,
stretched over the full-resolution rectangle, so view coordinates stay those of the image.
Zooming out windows and draws a screen-sized level instead of re-averaging the whole montage on
every view change; levels changes re-window that level only. Where the level is much larger
than the view (at 100 % and closer, or zoomed in on a 30k x 30k montage) only its part around
the view (the view and one view's size on every side) is windowed, so neither a zoom in nor a
levels change windows the whole montage or a fine level of it; panning past that part moves it.

Levels that take more than a few milliseconds (those computed from a big image) are built in a
worker thread; until the one a zoom needs is ready, every 2^k-th pixel stands in for it, then
the real level replaces it."""

from __future__ import annotations

import logging

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui

from matlab_gui.gui.job_worker import JobWorker
from matlab_gui.imaging.pyramid import DisplayPyramid, level_for

log = logging.getLogger(__name__)

WINDOW_ALIGN = 512  # the full-resolution part shown starts and ends on this grid
SYNC_PIXELS = 1 << 22  # a level computed from at most 4 MP is built at once (a few milliseconds)
_QT_SIDE = 2**15 - 1  # QPainter cannot draw a longer side: pyqtgraph downsamples such images


def _build_level(request, progress=None, cancel=None) -> None:
    pyramid, k = request
    pyramid.build(k, cancel)


class WholeImageItem(pg.ImageItem):
    """An ImageItem whose bounds are the whole image's while it holds a level or a part of it:
    Fit and the view's auto-range look at bounds."""

    whole: QtCore.QRectF | None = None  # the image's rectangle in this item's coordinates

    def boundingRect(self) -> QtCore.QRectF:  # noqa: N802
        if self.whole is None or self.image is None:
            return super().boundingRect()
        return QtCore.QRectF(self.whole)


class PyramidImage(QtCore.QObject):
    """Drives its ImageItem (`item`, to be added to `view` by the caller). `enabled = False`
    shows images as before (the whole image, pyqtgraph's own downsampling); the speed benchmark
    compares the two."""

    def __init__(self, view: pg.ViewBox, parent: QtCore.QObject | None = None, **item_opts):
        super().__init__(parent)
        self.item, self.view = WholeImageItem(**item_opts), view
        self.enabled = True
        self.pyramid: DisplayPyramid | None = None
        self.level = 0  # the level shown (0: full resolution)
        self.exact = True  # False while a preview stands in for the level
        self.part: tuple[int, int, int, int] | None = None  # (y0, x0, y1, x1) of the level shown
        self._scale = (1.0, 1.0)  # image pixels per pixel of the level shown (y, x)
        self._shown: np.ndarray | None = None  # what this object gave the item last
        self._worker = JobWorker(self)
        self._worker.finished.connect(self.update_level)
        self._worker.cancelled.connect(self.update_level)
        self._worker.failed.connect(self._build_failed)
        view.sigTransformChanged.connect(self.update_level)

    def set_image(self, data: np.ndarray, **opts) -> None:
        """Show `data`; `opts` (levels, lut) as for ImageItem.setImage. The same array again
        keeps the levels already built."""
        if not self.enabled:
            self._show_whole(data, opts)
            return
        if self.pyramid is None or self.pyramid.base is not data:
            self._worker.cancel()  # a build for the image shown before
            self.pyramid = DisplayPyramid(data)
        self._show(self._wanted(), opts)

    def clear(self) -> None:
        self.pyramid = self._shown = self.part = None
        self.item.clear()
        self._place(QtGui.QTransform(), None)

    def update_level(self, *_) -> None:
        """The zoom changed, or a level was built: show the level the zoom needs."""
        p = self.pyramid
        if p is None:
            return
        if self.item.image is not self._shown:  # someone else gave the item an image
            self.pyramid = None
            return
        k = self._wanted()
        if k != self.level or not self.exact and p.ready(k) is not None or not self._covers_view():
            self._show(k, {})
        elif not self.exact:
            self._request(k)  # still waiting: make sure a build is on its way

    def _wanted(self) -> int:
        px, py = self.view.viewPixelSize()  # image pixels per screen pixel
        return level_for(min(px, py), self.pyramid.count)

    def _show(self, k: int, opts: dict) -> None:
        p = self.pyramid
        level = p.ready(k)
        if level is None and p.work(k) <= SYNC_PIXELS:
            level = p.build(k)
        self.exact = level is not None
        if level is None:
            self._request(k)
            self._show_part_of(p.shape(k), lambda box: p.preview(k, box), opts)
        else:
            self._show_part_of(level.shape[:2], lambda box: level[box[0]:box[2], box[1]:box[3]],
                               opts)
        self.level = k

    def _show_part_of(self, shape: tuple[int, int], cut, opts: dict) -> None:
        """Give the item the level of this shape, or only its part around the view when that
        is much smaller (`cut((y0, x0, y1, x1))` gives the pixels), stretched over the image's
        rectangle."""
        h, w = self.pyramid.base.shape[:2]
        lh, lw = shape
        sx, sy = w / lw, h / lh
        self.part = self._part(lh, lw, sy, sx)
        y0, x0, y1, x1 = self.part or (0, 0, lh, lw)
        shown = cut((y0, x0, y1, x1))
        self._place(QtGui.QTransform(sx, 0, 0, sy, x0 * sx, y0 * sy),
                    QtCore.QRectF(-x0, -y0, lw, lh))
        self._scale = (sy, sx)
        self.item.setImage(shown, **{**opts, "autoLevels": False,
                                     "autoDownsample": max(shown.shape[:2]) > _QT_SIDE})
        self._shown = self.item.image

    def _place(self, transform: QtGui.QTransform, whole: QtCore.QRectF | None) -> None:
        self.item.prepareGeometryChange()
        self.item.whole = whole
        self.item.setTransform(transform)

    def _part(self, lh: int, lw: int, sy: float, sx: float) -> tuple[int, int, int, int] | None:
        """The part of an lh x lw level (sy, sx image pixels per level pixel) worth windowing:
        the view and one view's size around it, on the WINDOW_ALIGN grid, in level pixels; None
        when that is most of the level anyway (zoomed out, where the level fits the screen)."""
        r = self.view.viewRect()
        top, bottom, left, right = r.top() / sy, r.bottom() / sy, r.left() / sx, r.right() / sx
        margin = max(bottom - top, right - left)

        def span(lo: float, hi: float, n: int) -> tuple[int, int]:
            start = int(min(max(0, (lo - margin) // WINDOW_ALIGN * WINDOW_ALIGN), n - 1))
            end = int(max(min(n, -(-(hi + margin) // WINDOW_ALIGN) * WINDOW_ALIGN), start + 1))
            return start, end

        (y0, y1), (x0, x1) = span(top, bottom, lh), span(left, right, lw)
        return None if 2 * (y1 - y0) * (x1 - x0) > lh * lw else (y0, x0, y1, x1)

    def _covers_view(self) -> bool:
        """Whether the part shown (if only a part is) still holds all of the image in view."""
        if self.part is None:
            return True
        h, w = self.pyramid.base.shape[:2]
        (sy, sx), (y0, x0, y1, x1) = self._scale, self.part
        r = self.view.viewRect()
        return (y0 * sy <= max(0, r.top()) and x0 * sx <= max(0, r.left())
                and min(h, r.bottom()) <= y1 * sy and min(w, r.right()) <= x1 * sx)

    def _show_whole(self, data: np.ndarray, opts: dict) -> None:
        self.pyramid = self._shown = self.part = None
        self.level, self.exact = 0, True
        self._place(QtGui.QTransform(), None)
        self.item.setImage(data, **{**opts, "autoLevels": False, "autoDownsample": True})

    def _request(self, k: int) -> None:
        if not self._worker.busy:  # else the build running ends in update_level, which asks again
            self._worker.start(_build_level, (self.pyramid, k))

    def _build_failed(self, message: str) -> None:
        """Out of memory, say: show the whole image as before rather than a preview for good."""
        log.warning("display pyramid: %s", message)
        if self.pyramid is not None and self.item.image is self._shown:
            self._show_whole(self.pyramid.base, {})
