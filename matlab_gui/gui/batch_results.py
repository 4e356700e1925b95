"""The Batch dock: progress of a folder run, then its results table, histogram and CSV export.

Classify and segment results become one table shape (file, predicted class or phase fractions,
probabilities, error) so sorting, filtering (by class, by error) and export are written once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from matlab_gui.errors import UserError
from matlab_gui.imaging.write import write_csv
from matlab_gui.jobs.predict import Outcome

Qt = QtCore.Qt
ALL, ERRORS, OK = "All files", "Errors only", "Without errors"
PATH_ROLE = Qt.UserRole + 1


@dataclass
class Table:
    headers: list[str]
    rows: list[list]  # first column the path, last the error
    class_names: list[str]
    predicted: list[str]  # per row: the class (classify) or the dominant phase (segment)

    def histogram(self) -> np.ndarray:
        """Files per predicted class (classify) or the mean phase fraction (segment)."""
        if "predicted" in self.headers:
            return np.array([self.predicted.count(n) for n in self.class_names], float)
        good = [r[1:-1] for r in self.rows if not r[-1]]
        return np.mean(good, axis=0) if good else np.zeros(len(self.class_names))


def classify_table(result) -> Table:
    names = result.class_names
    rows = [[r.path, r.predicted, *(r.probabilities or [None] * len(names)), r.error]
            for r in result.rows]
    return Table(["file", "predicted", *(f"p {n}" for n in names), "error"], rows, names,
                 [r.predicted for r in result.rows])


def segment_table(result) -> Table:
    names = result.class_names
    rows = [[str(o.path), *(o.fractions or [None] * len(names)), o.error] for o in result.images]
    predicted = [names[int(np.argmax(o.fractions))] if o.fractions else "" for o in result.images]
    return Table(["file", *(f"fraction {n}" for n in names), "error"], rows, names, predicted)


class _Filter(QtCore.QSortFilterProxyModel):
    """Rows of one class, only errors, only successes, or all."""

    def __init__(self):
        super().__init__()
        self.mode = ALL
        self.predicted: list[str] = []
        self.setSortRole(Qt.EditRole)

    def set_mode(self, mode: str) -> None:
        if not hasattr(self, "beginFilterChange"):  # Qt < 6.9
            self.mode = mode
            self.invalidateFilter()
            return
        self.beginFilterChange()
        self.mode = mode
        self.endFilterChange(QtCore.QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, row: int, _parent) -> bool:  # noqa: N802
        model = self.sourceModel()
        error = model.item(row, model.columnCount() - 1).text()
        if self.mode == ALL:
            return True
        if self.mode == ERRORS:
            return bool(error)
        if self.mode == OK:
            return not error
        return not error and self.predicted[row] == self.mode


def _item(value) -> QtGui.QStandardItem:
    item = QtGui.QStandardItem()
    item.setEditable(False)
    if isinstance(value, float):
        item.setData(value, Qt.EditRole)  # sorts as a number
        item.setData(f"{value:.3f}", Qt.DisplayRole)
    else:
        item.setData("" if value is None else str(value), Qt.DisplayRole)
        item.setToolTip(item.text())
    return item


class BatchResults(QtWidgets.QWidget):
    cancel_requested = QtCore.Signal()
    open_requested = QtCore.Signal(str)  # a result's image path (double-click)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.table: Table | None = None
        self.status = QtWidgets.QLabel("Batch > Classify folder… or Segment folder…",
                                       wordWrap=True)
        self.bar = QtWidgets.QProgressBar(textVisible=True)
        self.cancel = QtWidgets.QPushButton("Cancel", enabled=False)
        self.filter = QtWidgets.QComboBox()
        self.export = QtWidgets.QPushButton("Export CSV…", enabled=False)
        self.model = QtGui.QStandardItemModel()
        self.proxy = _Filter()
        self.proxy.setSourceModel(self.model)
        self.view = QtWidgets.QTableView(sortingEnabled=True, alternatingRowColors=True)
        self.view.setModel(self.proxy)
        self.view.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectRows)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(22)
        self.histogram = pg.PlotWidget()
        self.histogram.setMaximumHeight(160)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.6, brush="#0072b2")
        self.histogram.addItem(self.bars)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(self.bar, 1)
        top.addWidget(self.cancel)
        tools = QtWidgets.QHBoxLayout()
        tools.addWidget(QtWidgets.QLabel("Show"))
        tools.addWidget(self.filter, 1)
        tools.addWidget(self.export)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.status)
        layout.addLayout(top)
        layout.addLayout(tools)
        layout.addWidget(self.view, 3)
        layout.addWidget(self.histogram, 1)
        self.cancel.clicked.connect(self.cancel_requested)
        self.filter.currentTextChanged.connect(self.proxy.set_mode)
        self.export.clicked.connect(self._ask_export)
        self.view.doubleClicked.connect(
            lambda index: self.open_requested.emit(index.siblingAtColumn(0).data(PATH_ROLE)))

    def start(self, what: str) -> None:
        """A new run: the last run's rows go, so a cancelled run never shows another's table."""
        self.table = None
        self.model.clear()
        self.filter.clear()
        self.export.setEnabled(False)
        self.bars.setOpts(x=[], height=[])
        self.status.setText(what)
        self.bar.setRange(0, 0)
        self.cancel.setEnabled(True)

    def show_progress(self, event) -> None:
        if event.stage not in ("classify", "image"):
            return  # the tiles inside one image
        self.bar.setRange(0, event.total)
        self.bar.setValue(event.done)
        failed = event.metrics.get("failed")
        self.bar.setFormat(f"{event.done} / {event.total}"
                           + (f"  ·  {failed} failed" if failed else ""))

    def stop(self, message: str) -> None:
        self.status.setText(message)
        self.cancel.setEnabled(False)
        self.bar.setRange(0, 1)
        self.bar.setValue(1 if self.table else 0)

    def set_table(self, table: Table) -> None:
        self.table = table
        self.model.clear()
        self.model.setHorizontalHeaderLabels(table.headers)
        for values in table.rows:
            items = [_item(v) for v in values]
            items[0].setData(values[0], PATH_ROLE)
            items[0].setData(Path(values[0]).name, Qt.DisplayRole)
            items[0].setToolTip(values[0])
            self.model.appendRow(items)
        self.proxy.predicted = table.predicted
        self.filter.blockSignals(True)
        self.filter.clear()
        self.filter.addItems([ALL, ERRORS, OK, *table.class_names])
        self.filter.blockSignals(False)
        self.proxy.set_mode(ALL)
        self.view.sortByColumn(len(table.headers) - 1, Qt.DescendingOrder)  # failures first
        self.view.resizeColumnsToContents()
        self.export.setEnabled(True)
        self.bars.setOpts(x=np.arange(len(table.class_names)), height=table.histogram())
        self.histogram.getAxis("bottom").setTicks([list(enumerate(table.class_names))])
        self.histogram.setTitle("files per class" if "predicted" in table.headers
                                else "mean phase fraction")
        failed = sum(1 for r in table.rows if r[-1])
        self.stop(f"{len(table.rows)} files, {failed} failed"
                  + (" (Show: Errors only lists why)" if failed else ""))

    def export_csv(self, path: Path) -> None:
        """The rows as filtered now, full paths, numbers unrounded; written atomically."""
        shown = [self.proxy.mapToSource(self.proxy.index(i, 0)).row()
                 for i in range(self.proxy.rowCount())]
        write_csv(Path(path), self.table.headers, [self.table.rows[row] for row in shown])

    def _ask_export(self) -> None:
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export results", "results.csv",
                                                        "CSV (*.csv)")
        if path:
            self.export_csv(Path(path))


def batch_outcome(result, path: Path, image_id: str) -> Outcome | None:
    """A batch run's prediction of one file as the Prediction dock's outcome: a classifier's
    probabilities, or the segment job's written mask (read back from the output folder)."""
    from matlab_gui.imaging import read_mask
    from matlab_gui.jobs.segment import model_labels

    key = path.resolve()
    if hasattr(result, "rows"):
        row = next((r for r in result.rows if Path(r.path).resolve() == key), None)
        if row is None or not row.probabilities:
            return None
        return Outcome(image_id, probabilities=np.asarray(row.probabilities))
    done = next((o for o in result.images if Path(o.path).resolve() == key and not o.error), None)
    masks = [f for f in (done.files if done else []) if f.stem.endswith("_mask")]
    if not masks or not masks[0].is_file():
        return None
    try:
        return Outcome(image_id, labels=model_labels(read_mask(masks[0])))
    except (UserError, ValueError):  # replaced or edited since the run
        return None
