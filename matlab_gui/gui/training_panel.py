"""The Training dock: live loss and validation curves, epoch, ETA, device, Stop & keep, Cancel.

Fed with the train job's `Progress` events (step events carry the batch loss and ETA, a
"validate" event closes each epoch with its mean loss and validation scores)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

MONITORED = ("mean_iou", "balanced_accuracy", "accuracy", "mean_f1")


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def _plot(title: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(title=f"{title} by epoch")
    plot.setMinimumHeight(110)
    plot.showGrid(x=True, y=True, alpha=0.3)
    plot.addLegend(offset=(-5, 5))
    return plot


class TrainingPanel(QtWidgets.QWidget):
    cancel_requested = QtCore.Signal()
    stop_requested = QtCore.Signal()  # end now and keep the best epoch so far

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.status = QtWidgets.QLabel("No training yet.", wordWrap=True)
        self.device = QtWidgets.QLabel()
        self.start_from = QtWidgets.QLabel(wordWrap=True)  # the weights the run starts from
        self.start_from.hide()
        self.bar = QtWidgets.QProgressBar(textVisible=True)
        self.stop = QtWidgets.QPushButton(
            "Stop && keep", enabled=False,
            toolTip="End training now and keep the best epoch so far as the new model")
        self.cancel = QtWidgets.QPushButton(
            "Cancel", enabled=False, toolTip="End training and discard it; the previous model stays")
        self.loss_plot = _plot("Loss")
        self.metric_plot = _plot("Validation")
        self.step_curve = self.loss_plot.plot([], [], name="batch", pen=pg.mkPen(150, 150, 150))
        self.epoch_curve = self.loss_plot.plot([], [], name="epoch", pen=pg.mkPen("#0072b2", width=2),
                                               symbol="o", symbolSize=5)
        self.metric_curve = self.metric_plot.plot([], [], name="—", pen=pg.mkPen("#d55e00", width=2),
                                                  symbol="o", symbolSize=5)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.bar, 1)
        row.addWidget(self.stop)
        row.addWidget(self.cancel)
        layout = QtWidgets.QVBoxLayout(self)
        for w in (self.status, self.device, self.start_from):
            layout.addWidget(w)
        layout.addLayout(row)
        layout.addWidget(self.loss_plot, 1)
        layout.addWidget(self.metric_plot, 1)
        self.cancel.clicked.connect(self.cancel_requested)
        self.stop.clicked.connect(self._stop_clicked)
        self._reset()

    def _reset(self) -> None:
        self.steps: list[tuple[float, float]] = []  # (fractional epoch, batch loss)
        self.epochs: list[dict] = []
        self.metric_name: str | None = None
        for curve in (self.step_curve, self.epoch_curve, self.metric_curve):
            curve.setData([], [])

    def clear(self) -> None:
        """No training on show (another project was opened)."""
        self._reset()
        self.status.setText("No training yet.")
        self.device.setText("")
        self.start_from.hide()
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.setFormat("")

    def start(self, what: str, device: str) -> None:
        self._reset()
        self.status.setText(what)
        self.device.setText(f"Device: {device}")
        self.bar.setRange(0, 0)
        self.cancel.setEnabled(True)
        self.stop.setEnabled(True)

    def _stop_clicked(self) -> None:
        self.stop.setEnabled(False)
        self.status.setText("Stopping after this step; the best epoch so far is kept…")
        self.stop_requested.emit()

    def show_start(self, weight_source: str) -> None:
        """What the model starts from; a random start is a visible warning (it needs many more
        labels and epochs), not a line on stderr."""
        random = weight_source.startswith("random")
        self.start_from.setText(("⚠ Starts from " if random else "Starts from ") + weight_source)
        self.start_from.setStyleSheet("color: #b35900; font-weight: bold" if random else "")
        self.start_from.show()

    def show_progress(self, event) -> None:
        m = event.metrics
        if event.stage == "validate":
            self._epoch_done(event)
        elif "loss" in m and "epoch" in m:
            steps_per_epoch = max(1, event.total // max(1, m.get("epochs", 1)))
            self.steps.append((m["epoch"] - 1 + m.get("step", 0) / steps_per_epoch, m["loss"]))
            self.step_curve.setData(*zip(*self.steps, strict=True))
            self.bar.setRange(0, event.total)
            self.bar.setValue(event.done)
            self.bar.setFormat(f"epoch {m['epoch']}/{m.get('epochs', '?')}  ·  "
                               f"ETA {format_eta(m.get('eta_s'))}")
        elif event.message:
            self.status.setText(event.message)

    def _epoch_done(self, event) -> None:
        m = event.metrics
        self.epochs.append(m)
        self.epoch_curve.setData([e["epoch"] for e in self.epochs],
                                 [e["loss"] for e in self.epochs])
        name = self.metric_name or next((k for k in MONITORED if k in m), None)
        if name is None:
            self.metric_plot.setTitle("Validation: none (every labelled image is used to train)")
        else:
            self.metric_name = name
            points = [(e["epoch"], e[name]) for e in self.epochs if name in e]
            self.metric_curve.setData(*zip(*points, strict=True))
            self.metric_plot.plotItem.legend.items[0][1].setText(name)
        self.status.setText(f"Epoch {m['epoch']} of {m.get('epochs', event.total)}: "
                            f"loss {m['loss']:.4f}"
                            + (f", {name} {m[name]:.3f}" if name in m else "")
                            + f" (best epoch {m.get('best_epoch', m['epoch'])})")

    def finish(self, message: str) -> None:
        self.status.setText(message)
        self.bar.setRange(0, 1)
        self.bar.setValue(1)
        self.bar.setFormat("")
        self.cancel.setEnabled(False)
        self.stop.setEnabled(False)
