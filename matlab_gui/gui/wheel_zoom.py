"""Wheel zoom that adds up the clicks arriving together and zooms once: ten quick clicks (or
the clicks queued while a frame was drawn) cost one re-render at the final zoom, not ten."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore

DELAY_MS = 8  # clicks within this time of the first become one zoom (well under a frame)


class WheelZoom(QtCore.QObject):
    """Zooms a ViewBox around the pointer as pyqtgraph's own wheel zoom does (the same factor
    per click), after `DELAY_MS`. `enabled = False` leaves every click to pyqtgraph."""

    zoomed = QtCore.Signal()  # once per zoom applied

    def __init__(self, view: pg.ViewBox, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.view = view
        self.enabled = True
        self._delta = 0
        self._centre = QtCore.QPointF()
        self._timer = QtCore.QTimer(self, singleShot=True, interval=DELAY_MS)
        self._timer.timeout.connect(self.apply)

    def add(self, delta: int, centre: QtCore.QPointF) -> None:
        """One wheel click (`delta` in eighths of a degree) with the pointer at `centre` (view
        coordinates, taken before any zoom still pending)."""
        self._delta += delta
        self._centre = centre
        if not self._timer.isActive():
            self._timer.start()

    @property
    def pending(self) -> bool:
        """Clicks received and not zoomed yet."""
        return self._timer.isActive()

    def apply(self) -> None:
        self._timer.stop()
        if not self._delta:
            return
        scale = 1.02 ** (self._delta * self.view.state["wheelScaleFactor"])
        self._delta = 0
        r, c = self.view.viewRect(), self._centre
        self.view.setRange(QtCore.QRectF(c + (r.topLeft() - c) * scale,
                                         c + (r.bottomRight() - c) * scale), padding=0)
        self.view.sigRangeChangedManually.emit(self.view.state["mouseEnabled"][:])
        self.zoomed.emit()
