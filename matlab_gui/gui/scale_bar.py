"""A scale bar in physical units, sized to a round length for the current zoom."""

from __future__ import annotations

import math

import pyqtgraph as pg

_UNITS = [(1e-3, "mm"), (1e-6, "µm"), (1e-9, "nm"), (1e-12, "pm")]


def nice_length(metres: float) -> tuple[float, str]:
    """The largest 1-2-5 round length <= `metres`, and its label ("20 µm")."""
    exponent = math.floor(math.log10(metres))
    for step in (5, 2, 1):
        value = step * 10.0**exponent
        if value <= metres:
            break
    for scale, unit in _UNITS:
        if value >= scale * 0.999:
            return value, f"{value / scale:.3g} {unit}"
    return value, f"{value:.3g} m"


class ScaleBar(pg.ScaleBar):
    """pyqtgraph's bar, re-sized on every zoom to a round physical length of ~1/5 the view."""

    def __init__(self):
        super().__init__(size=1, width=6, brush=pg.mkBrush(255, 255, 255), pen=pg.mkPen(0, 0, 0))
        self.pixel_size_m: float | None = None
        self.text.setColor(pg.mkColor(255, 255, 255))

    def set_pixel_size(self, metres: float | None) -> None:
        self.pixel_size_m = metres
        self.setVisible(bool(metres))
        self.updateBar()

    def updateBar(self) -> None:  # noqa: N802 (pyqtgraph's name)
        view = self.parentItem()
        if view is None or not self.pixel_size_m:
            return
        x0, x1 = view.viewRange()[0]
        length_m, label = nice_length(max((x1 - x0) / 5, 1e-9) * self.pixel_size_m)
        self.size = length_m / self.pixel_size_m
        self.text.setText(label)
        super().updateBar()
