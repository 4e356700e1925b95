"""A colour bar that only shows a colour map (pyqtgraph's GradientWidget is an editor whose
menu imports matplotlib, half a second at start-up, for a bar nobody edits)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtGui, QtWidgets


class ColourBar(QtWidgets.QLabel):
    def __init__(self, name: str = "viridis", height: int = 16):
        super().__init__()
        self.lut = pg.colormap.get(name).getLookupTable(0.0, 1.0, 256)  # (256, 3) uint8
        self.setFixedHeight(height)
        self.setMinimumWidth(64)
        self.setScaledContents(True)
        row = np.ascontiguousarray(np.repeat(self.lut[None], 2, axis=0))
        image = QtGui.QImage(row.data, 256, 2, 3 * 256, QtGui.QImage.Format_RGB888)
        self.setPixmap(QtGui.QPixmap.fromImage(image.copy()))

    def lookup_table(self) -> np.ndarray:
        return self.lut
