"""The Measurements dock: phase fractions and particle statistics of the current annotation or
prediction, in µm when the image's pixel size is known; copy/export as CSV; size histogram.

Measuring (jobs/measure.py) labels particles with scikit-image, seconds on a large mask, so it
runs in a JobWorker on a copy of the mask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtGui, QtWidgets

from matlab_gui.gui.job_worker import JobWorker
from matlab_gui.jobs.measure import MeasureRequest, run_measure, table_csv, table_of

ANNOTATION, PREDICTION = "Annotation", "Prediction"


class MeasurePanel(QtWidgets.QWidget):
    def __init__(self, window, prediction_layer):
        super().__init__()
        self.window, self.prediction = window, prediction_layer
        self.worker = JobWorker(self)
        self.measurement = None
        self.source = QtWidgets.QComboBox()
        self.source.addItems([ANNOTATION, PREDICTION])
        self.measure = QtWidgets.QPushButton("Measure")
        self.copy = QtWidgets.QPushButton("Copy", enabled=False)
        self.export = QtWidgets.QPushButton("Export CSV…", enabled=False)
        self.table = QtWidgets.QTableWidget(0, 0, editTriggers=QtWidgets.QTableWidget.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.size_class = QtWidgets.QComboBox()
        self.histogram = pg.PlotWidget(title="particle size distribution")
        self.histogram.setMaximumHeight(170)
        self.bars = pg.BarGraphItem(x=[], height=[], width=1, brush="#009e73")
        self.histogram.addItem(self.bars)
        row = QtWidgets.QHBoxLayout()
        for w in (self.source, self.measure, self.copy, self.export):
            row.addWidget(w)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.size_class)
        layout.addWidget(self.histogram)
        self.measure.clicked.connect(self.start)
        self.copy.clicked.connect(
            lambda: QtGui.QGuiApplication.clipboard().setText(table_csv(*table_of(self.measurement))))
        self.export.clicked.connect(self._ask_export)
        self.size_class.currentIndexChanged.connect(lambda _: self._draw_histogram())
        self.worker.finished.connect(self._measured)

    def _mask(self) -> np.ndarray | None:
        s = self.window.session
        if s is None or s.editor is None:
            return None
        if self.source.currentText() == ANNOTATION:
            return s.editor.mask.copy()
        outcome = self.prediction.current()
        return None if outcome is None or not outcome.project_indices else outcome.labels.copy()

    def start(self) -> None:
        s, mask = self.window.session, self._mask()
        if mask is None:
            return
        classes = {c.index: c.name for c in s.project.classes}
        names = ["unlabelled", *(classes.get(i, str(i)) for i in range(1, max(classes) + 1))]
        pixel_size = s.record.pixel_size_m
        self.worker.start(run_measure, MeasureRequest(mask, names, pixel_size))

    def clear(self) -> None:
        """Nothing measured (another project was opened)."""
        self.worker.cancel()
        self.measurement = None
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        self.size_class.clear()
        self.bars.setOpts(x=[], height=[])
        self.copy.setEnabled(False)
        self.export.setEnabled(False)

    def _measured(self, measurement) -> None:
        self.measurement = measurement
        header, rows = table_of(self.measurement)
        self.table.setColumnCount(len(header))
        self.table.setHorizontalHeaderLabels(header)
        self.table.setRowCount(len(rows))
        for r, values in enumerate(rows):
            for c, v in enumerate(values):
                text = "" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)
                self.table.setItem(r, c, QtWidgets.QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.size_class.blockSignals(True)
        self.size_class.clear()
        self.size_class.addItems([c.name for c in measurement.classes[1:]])
        self.size_class.blockSignals(False)
        self.copy.setEnabled(True)
        self.export.setEnabled(True)
        self._draw_histogram()

    def _draw_histogram(self) -> None:
        index = self.size_class.currentIndex() + 1
        if self.measurement is None or index < 1:
            return
        sizes = self.measurement.classes[index].particles.equivalent_diameter
        counts, edges = np.histogram(sizes, bins=20) if sizes.size else ([], np.zeros(1))
        self.bars.setOpts(x=(edges[:-1] + edges[1:]) / 2, height=counts,
                          width=float(edges[1] - edges[0]) if len(edges) > 1 else 1)
        self.histogram.setLabel("bottom", f"equivalent diameter ({self.measurement.length_unit})")

    def export_csv(self, path: Path) -> None:
        Path(path).write_text(table_csv(*table_of(self.measurement)), encoding="utf-8")

    def _ask_export(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export measurements",
                                                        "measurements.csv", "CSV (*.csv)")
        if path:
            self.export_csv(Path(path))
