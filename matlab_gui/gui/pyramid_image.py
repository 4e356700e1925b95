"""An image shown through its display pyramid: the ImageItem holds the level the zoom needs
(the whole image at 100 % and closer), stretched over the full-resolution rectangle, so view
coordinates stay those of the image. Zooming out windows and draws a screen-sized level instead
of re-averaging the whole montage on every view change; levels changes re-window that level only.

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

SYNC_PIXELS = 1 << 22  # a level computed from at most 4 MP is built at once (a few milliseconds)
_QT_SIDE = 2**15 - 1  # QPainter cannot draw a longer side: pyqtgraph downsamples such images


def _build_level(request, progress=None, cancel=None) -> None:
    pyramid, k = request
    pyramid.build(k, cancel)


class PyramidImage(QtCore.QObject):
    """Drives one ImageItem in one ViewBox. `enabled = False` shows images as before (the whole
    image, pyqtgraph's own downsampling); the speed benchmark compares the two."""

    def __init__(self, item: pg.ImageItem, view: pg.ViewBox, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.item, self.view = item, view
        self.enabled = True
        self.pyramid: DisplayPyramid | None = None
        self.level = 0  # the level shown (0: full resolution)
        self.exact = True  # False while a preview stands in for the level
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
        self.pyramid = self._shown = None
        self.item.clear()
        self.item.resetTransform()

    def update_level(self, *_) -> None:
        """The zoom changed, or a level was built: show the level the zoom needs."""
        p = self.pyramid
        if p is None:
            return
        if self.item.image is not self._shown:  # someone else gave the item an image
            self.pyramid = None
            return
        k = self._wanted()
        if k != self.level or not self.exact and p.ready(k) is not None:
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
            level = p.preview(k)
            self._request(k)
        (h, w), (lh, lw) = p.base.shape[:2], level.shape[:2]
        self.item.setTransform(QtGui.QTransform.fromScale(w / lw, h / lh))
        self.item.setImage(level, **{**opts, "autoLevels": False,
                                     "autoDownsample": max(lh, lw) > _QT_SIDE})
        self._shown, self.level = self.item.image, k

    def _show_whole(self, data: np.ndarray, opts: dict) -> None:
        self.pyramid = self._shown = None
        self.level, self.exact = 0, True
        self.item.resetTransform()
        self.item.setImage(data, **{**opts, "autoLevels": False, "autoDownsample": True})

    def _request(self, k: int) -> None:
        if not self._worker.busy:  # else the build running ends in update_level, which asks again
            self._worker.start(_build_level, (self.pyramid, k))

    def _build_failed(self, message: str) -> None:
        """Out of memory, say: show the whole image as before rather than a preview for good."""
        log.warning("display pyramid: %s", message)
        if self.pyramid is not None and self.item.image is self._shown:
            self._show_whole(self.pyramid.base, {})
