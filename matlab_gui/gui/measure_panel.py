"""The Measurements dock: phase fractions and particle statistics of the current annotation or
prediction, in µm when the image's pixel size is known; touching particles split per class,
cleanup and the edge rule as stated options; a table per class or per particle, copy/export as
CSV, a size histogram, and the particles outlined and numbered on the image.

Measuring (jobs/measure.py) labels particles with scikit-image, seconds on a large mask, so it
runs in a JobWorker on a copy of the mask."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from matlab_gui.gui.job_worker import JobWorker
from matlab_gui.gui.overlay import TiledOverlay
from matlab_gui.imaging.measure import MeasureOptions
from matlab_gui.imaging.overlays import LABEL_MIN_PX, PALETTE, hex_to_rgb
from matlab_gui.imaging.particles import ParticleOptions
from matlab_gui.imaging.write import csv_text, write_csv
from matlab_gui.jobs.measure import (
    MeasureRequest,
    MeasureSpec,
    grain_lines,
    measure_for_view,
    particle_rows,
    table_of,
)

ANNOTATION, PREDICTION = "Annotation", "Prediction"
PER_CLASS, PER_PARTICLE = "Per class", "Per particle"
NO_GRAINS = "— (no grain size)"
MAX_IDS = 400  # id labels drawn on the canvas at most (more would hide the image)


class MeasurePanel(QtWidgets.QWidget):
    def __init__(self, window, prediction_layer):
        super().__init__()
        self.window, self.prediction = window, prediction_layer
        self.worker = JobWorker(self)
        self.view = None  # the last MeasuredView
        self.source = QtWidgets.QComboBox()
        self.source.addItems([ANNOTATION, PREDICTION])
        self.measure = QtWidgets.QPushButton("Measure")
        self.copy = QtWidgets.QPushButton("Copy", enabled=False)
        self.export = QtWidgets.QPushButton("Export CSV…", enabled=False)
        self.split = QtWidgets.QListWidget()
        self.split.setToolTip("Separate touching particles of the ticked classes at their necks "
                              "(distance-transform watershed)")
        self.split.setMaximumHeight(58)
        self.min_area = QtWidgets.QSpinBox(minimum=0, maximum=10**7, suffix=" px")
        self.min_area.setToolTip("Particles smaller than this are removed before measuring")
        self.fill_holes = QtWidgets.QCheckBox("Fill holes")
        self.exclude_edge = QtWidgets.QCheckBox("Leave out edge-cut", checked=True)
        self.exclude_edge.setToolTip("Particles cut by the image edge stay in the particle list "
                                     "and the area fractions, not in the size statistics")
        self.show_particles = QtWidgets.QCheckBox("Outline on the image", checked=True)
        self.show_particles.setToolTip("The particles of the class shown below, a colour each, "
                                       "numbered as in the per-particle table")
        self.boundary = QtWidgets.QComboBox()
        self.boundary.setToolTip("The class painted or predicted on the grain boundaries: "
                                 "ASTM E112 grain size of the grains between them")
        self.grain_text = QtWidgets.QLabel(wordWrap=True, visible=False)
        self.table_kind = QtWidgets.QComboBox()
        self.table_kind.addItems([PER_CLASS, PER_PARTICLE])
        self.table = QtWidgets.QTableWidget(0, 0, editTriggers=QtWidgets.QTableWidget.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setSortingEnabled(True)
        self.notes = QtWidgets.QLabel(wordWrap=True)
        self.size_class = QtWidgets.QComboBox()
        self.histogram = pg.PlotWidget()
        self.histogram.setMaximumHeight(170)
        self.bars = pg.BarGraphItem(x=[], height=[], width=1, brush="#009e73")
        self.histogram.addItem(self.bars)
        self.outlines = TiledOverlay(window.canvas.view, z=12)
        lut = np.zeros((len(PALETTE) + 1, 4), np.uint8)
        lut[1:] = [(*hex_to_rgb(c), 255) for c in PALETTE]
        self.outlines.set_lut(lut)
        self.outlines.set_opacity(1.0)
        self.id_items: list[pg.TextItem] = []
        self._layout()
        self._connect()

    def _layout(self) -> None:
        row = QtWidgets.QHBoxLayout()
        for w in (self.source, self.measure, self.copy, self.export):
            row.addWidget(w)
        options = QtWidgets.QGroupBox("Particles")
        form = QtWidgets.QFormLayout(options)
        form.addRow("Split touching:", self.split)
        form.addRow("Minimum area:", self._side_by_side(self.min_area, self.fill_holes))
        form.addRow(self._side_by_side(self.exclude_edge, self.show_particles))
        form.addRow("Grain boundaries:", self.boundary)
        shown = self._side_by_side(QtWidgets.QLabel("Table:"), self.table_kind,
                                   QtWidgets.QLabel("Class:"), self.size_class)
        small = self.notes.font()
        small.setPointSizeF(small.pointSizeF() * 0.9)
        self.notes.setFont(small)
        self.histogram.setMaximumHeight(130)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(options)
        layout.addWidget(self.grain_text)
        layout.addWidget(shown)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.notes)
        layout.addWidget(self.histogram)

    @staticmethod
    def _side_by_side(*widgets) -> QtWidgets.QWidget:
        box = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        for w in widgets:
            row.addWidget(w)
        return box

    def _connect(self) -> None:
        self.measure.clicked.connect(self.start)
        self.copy.clicked.connect(lambda: QtGui.QGuiApplication.clipboard().setText(self.csv()))
        self.export.clicked.connect(self._ask_export)
        self.size_class.currentIndexChanged.connect(lambda _: self._show_class())
        self.table_kind.currentIndexChanged.connect(lambda _: self._fill_table())
        self.show_particles.toggled.connect(lambda _: self._draw_outlines())
        self.worker.finished.connect(self._measured)
        self.worker.failed.connect(self._failed)
        signals = self.window.signals
        signals.classes.connect(lambda _: self._list_classes())
        signals.project.connect(lambda _: self._list_classes())
        signals.image.connect(lambda _: self.clear())
        signals.pixel_size.connect(lambda _: self.clear())  # the sizes shown are in the old unit

    # -- options ----------------------------------------------------------------------
    def _list_classes(self) -> None:
        """One tick box per project class; ticks kept by name across refreshes."""
        ticked = set(self.split_names())
        boundary = self.boundary.currentText()
        self.split.clear()
        self.boundary.clear()
        self.boundary.addItem(NO_GRAINS, None)
        s = self.window.session
        for c in [] if s is None else s.project.classes:
            self.boundary.addItem(c.name, c.index)
            item = QtWidgets.QListWidgetItem(c.name)
            item.setData(QtCore.Qt.UserRole, c.index)
            item.setFlags(item.flags() | QtCore.Qt.ItemIsUserCheckable)
            item.setCheckState(QtCore.Qt.Checked if c.name in ticked else QtCore.Qt.Unchecked)
            self.split.addItem(item)
        self.boundary.setCurrentIndex(max(self.boundary.findText(boundary), 0))

    def split_names(self) -> list[str]:
        return [self.split.item(i).text() for i in range(self.split.count())
                if self.split.item(i).checkState() == QtCore.Qt.Checked]

    def set_split(self, names: list[str]) -> None:
        for i in range(self.split.count()):
            item = self.split.item(i)
            item.setCheckState(QtCore.Qt.Checked if item.text() in names else QtCore.Qt.Unchecked)

    def options(self) -> MeasureOptions:
        values = frozenset(self.split.item(i).data(QtCore.Qt.UserRole) for i in range(self.split.count())
                           if self.split.item(i).checkState() == QtCore.Qt.Checked)
        particles = ParticleOptions(fill_holes=self.fill_holes.isChecked(),
                                    min_area_px=self.min_area.value(),
                                    exclude_edge=self.exclude_edge.isChecked())
        return MeasureOptions(particles, values)

    def spec(self) -> MeasureSpec:
        """The options as names and a pixel area, for a batch over images of the model's classes."""
        boundary = self.boundary.currentData()
        return MeasureSpec(tuple(self.split_names()), str(self.min_area.value()),
                           self.fill_holes.isChecked(), self.exclude_edge.isChecked(),
                           grain_boundary=() if boundary is None else (self.boundary.currentText(),))

    # -- measuring --------------------------------------------------------------------
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
        boundary = self.boundary.currentData()
        grains = frozenset() if boundary is None else frozenset({boundary})
        request = MeasureRequest(mask, names, s.record.pixel_size_m, self.options(), grains)
        self.worker.start(measure_for_view, request)

    def clear(self) -> None:
        """Nothing measured (another image or project is shown)."""
        self.worker.cancel()
        self.view = None
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        self.notes.clear()
        self.grain_text.clear()
        self.grain_text.hide()
        self.size_class.clear()
        self.bars.setOpts(x=[], height=[])
        self.copy.setEnabled(False)
        self.export.setEnabled(False)
        self._draw_outlines()

    def _failed(self, message: str) -> None:
        self.clear()
        self.notes.setText(f"Could not measure: {message}")

    def _measured(self, view) -> None:
        self.view = view
        m = view.measurement
        self._fill_table()
        self.notes.setText("\n".join(f"{c.name}: {n}" for c in m.classes[1:] for n in c.particles.notes()))
        self.grain_text.setText("" if view.grains is None else "\n".join(grain_lines(view.grains)))
        self.grain_text.setVisible(view.grains is not None)
        self.size_class.blockSignals(True)
        self.size_class.clear()
        self.size_class.addItems([c.name for c in m.classes[1:]])
        self.size_class.setCurrentIndex(self._first_shown(m) - 1)
        self.size_class.blockSignals(False)
        self.copy.setEnabled(True)
        self.export.setEnabled(True)
        self._show_class()

    def _first_shown(self, m) -> int:
        """The class to show first: the first one split, else the one with most particles."""
        ticked = self.options().split
        for c in m.classes[1:]:
            if c.value in ticked:
                return c.value
        return max(m.classes[1:], key=lambda c: len(c.particles.table)).value

    def _show_class(self) -> None:
        self._draw_histogram()
        self._draw_outlines()

    def rows(self) -> tuple[list[str], list[list]]:
        """The table shown: per class or per particle, in the measurement's units."""
        kind = particle_rows if self.table_kind.currentText() == PER_PARTICLE else table_of
        return kind(self.view.measurement)

    def csv(self) -> str:
        return csv_text(*self.rows())

    def _fill_table(self) -> None:
        if self.view is None:
            return
        header, rows = self.rows()
        self.table.setSortingEnabled(False)
        self.table.clear()
        self.table.setColumnCount(len(header))
        self.table.setHorizontalHeaderLabels(header)
        self.table.setRowCount(len(rows))
        for r, values in enumerate(rows):
            for c, v in enumerate(values):
                item = QtWidgets.QTableWidgetItem()
                if isinstance(v, bool):
                    item.setText("yes" if v else "no")
                elif isinstance(v, int | float):
                    item.setData(QtCore.Qt.DisplayRole, float(f"{v:.4g}") if isinstance(v, float) else v)
                else:
                    item.setText("" if v is None else str(v))
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        self.table.setSortingEnabled(True)

    def _draw_outlines(self) -> None:
        """The shown class's particles outlined, a colour each, numbered where there is room
        (the ids of the per-particle table)."""
        for item in self.id_items:
            self.window.canvas.view.removeItem(item)
        self.id_items = []
        index = self.size_class.currentIndex() + 1
        if self.view is None or index < 1 or not self.show_particles.isChecked():
            self.outlines.set_mask(None)
            return
        c = self.view.measurement.classes[index]
        self.outlines.set_mask(self.view.outline_codes(c.value))
        t = c.particles.table
        wide = np.flatnonzero(t.feret_min >= LABEL_MIN_PX)
        for i in wide[np.argsort(-t.feret_min[wide], kind="stable")][:MAX_IDS]:
            text = pg.TextItem(str(c.particles.first_id + int(i)), color=(255, 255, 255),
                               anchor=(0.5, 0.5), fill=pg.mkBrush(0, 0, 0, 140))
            text.setPos(float(t.centroid_x[i]), float(t.centroid_y[i]))
            text.setZValue(13)
            self.window.canvas.view.addItem(text, ignoreBounds=True)
            self.id_items.append(text)

    def _draw_histogram(self) -> None:
        index = self.size_class.currentIndex() + 1
        if self.view is None or index < 1:
            return
        m = self.view.measurement
        particles = m.classes[index].particles
        sizes = particles.equivalent_diameter[particles.measured]
        counts, edges = np.histogram(sizes, bins=20) if sizes.size else ([], np.zeros(1))
        self.bars.setOpts(x=(edges[:-1] + edges[1:]) / 2, height=counts,
                          width=float(edges[1] - edges[0]) if len(edges) > 1 else 1)
        self.histogram.setLabel("bottom", f"equivalent diameter ({m.length_unit})")

    def export_csv(self, path: Path) -> None:
        write_csv(path, *self.rows())

    def _ask_export(self) -> None:
        name = "particles.csv" if self.table_kind.currentText() == PER_PARTICLE else "measurements.csv"
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export measurements", name, "CSV (*.csv)")
        if path:
            self.export_csv(Path(path))
