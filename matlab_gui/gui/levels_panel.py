"""Histogram with draggable black/white levels, gamma and auto-contrast by percentiles.
Changes only how the image is displayed, never its data."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

HIST_SAMPLES = 1_000_000


def histogram(data: np.ndarray, bins: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Histogram of a strided sample (fast on 8k images), over the data's actual range."""
    step = max(1, int(np.sqrt(data.size / HIST_SAMPLES)))
    sample = data[::step, ::step].ravel()
    lo, hi = float(sample.min()), float(sample.max())
    counts, edges = np.histogram(sample, bins=bins, range=(lo, hi if hi > lo else lo + 1))
    return counts, edges


class LevelsPanel(QtWidgets.QWidget):
    levels_changed = QtCore.Signal(float, float, float)  # low, high, gamma
    auto_requested = QtCore.Signal()
    contrast_changed = QtCore.Signal(str)  # "linear", "equalised" or "clahe"

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("histogram")
        self.plot.setMinimumHeight(110)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideAxis("left")
        self.plot.setMenuEnabled(False)
        self.curve = self.plot.plot(stepMode="center", fillLevel=0, brush=(120, 160, 220, 150))
        self.region = pg.LinearRegionItem(brush=(255, 255, 255, 30))
        self.region.sigRegionChangeFinished.connect(self._emit)
        self.plot.addItem(self.region)
        self.gamma = QtWidgets.QDoubleSpinBox()
        self.gamma.setRange(0.1, 5.0)
        self.gamma.setSingleStep(0.1)
        self.gamma.setValue(1.0)
        self.gamma.setToolTip("Display gamma (>1 brightens the dark phases)")
        self.gamma.valueChanged.connect(self._emit)
        self.info = QtWidgets.QLabel()
        self.info.setObjectName("levelsInfo")
        auto = QtWidgets.QPushButton("Auto")
        auto.setToolTip("Auto-contrast: levels at the 0.5th and 99.5th percentiles")
        auto.clicked.connect(self.auto_requested)
        self.contrast = QtWidgets.QComboBox(objectName="contrast")
        for text, mode in [("Linear (levels, gamma)", "linear"), ("Equalised", "equalised"),
                           ("CLAHE (adaptive)", "clahe")]:
            self.contrast.addItem(text, mode)
        self.contrast.setToolTip("How the image is shown; the data are never changed. Equalised "
                                 "and CLAHE bring out faint phases in dim or uneven micrographs")
        self.contrast.currentIndexChanged.connect(self._contrast_chosen)
        view_row = QtWidgets.QHBoxLayout()
        view_row.addWidget(QtWidgets.QLabel("Contrast"))
        view_row.addWidget(self.contrast, 1)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Gamma"))
        row.addWidget(self.gamma)
        row.addStretch(1)
        row.addWidget(auto)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.plot)
        layout.addWidget(self.info)
        layout.addLayout(view_row)
        layout.addLayout(row)

    def set_data(self, data: np.ndarray) -> None:
        counts, edges = histogram(data)
        self.curve.setData(edges, np.log1p(counts))

    def set_contrast(self, mode: str) -> None:
        """Show a contrast view without emitting a change."""
        self.contrast.blockSignals(True)
        self.contrast.setCurrentIndex(max(0, self.contrast.findData(mode)))
        self.contrast.blockSignals(False)
        self.region.setMovable(mode == "linear")

    def _contrast_chosen(self, _index: int) -> None:
        mode = self.contrast.currentData()
        self.region.setMovable(mode == "linear")
        self.contrast_changed.emit(mode)

    def clear(self) -> None:
        """No image: no histogram and no levels (after a project closes)."""
        self.curve.setData([], [])
        self.info.setText("")

    def set_levels(self, lo: float, hi: float, gamma: float) -> None:
        """Show levels without emitting a change."""
        self.region.blockSignals(True)
        self.gamma.blockSignals(True)
        self.region.setRegion((lo, hi))
        self.gamma.setValue(gamma)
        self.region.blockSignals(False)
        self.gamma.blockSignals(False)
        self._show(lo, hi)

    def levels(self) -> tuple[float, float, float]:
        lo, hi = self.region.getRegion()
        return float(lo), float(hi), float(self.gamma.value())

    def _show(self, lo: float, hi: float) -> None:
        self.info.setText(f"levels {lo:.6g} – {hi:.6g}")

    def _emit(self, *_):
        lo, hi, g = self.levels()
        self._show(lo, hi)
        self.levels_changed.emit(lo, hi, g)
