"""Batch > Classify folder… / Segment folder…: which folder, which model, where to write.

Only models of the task are offered, and Run checks that the output can be written before the
dialog closes, so a bad path is said before any image is processed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6 import QtWidgets

from matlab_gui.errors import UserError
from matlab_gui.imaging.write import check_output

CLASSIFY, SEGMENT = "classify", "segment"


@dataclass
class BatchChoice:
    kind: str
    folder: Path
    recursive: bool
    model_key: str
    out: Path  # classify: the CSV; segment: the output folder
    measure: bool = False  # segment: particles per image, with the Measurements dock's options


def default_out(kind: str, folder: Path) -> Path:
    return folder / ("classification.csv" if kind == CLASSIFY else "segmentation")


class BatchDialog(QtWidgets.QDialog):
    def __init__(self, kind: str, models: list[tuple[str, str]], current: str | None,
                 parent: QtWidgets.QWidget | None = None):
        """`models`: (key, label) of the models of this kind's task."""
        super().__init__(parent)
        self.kind = kind
        self.setWindowTitle("Classify a folder" if kind == CLASSIFY else "Segment a folder")
        self.folder = QtWidgets.QLineEdit(placeholderText="folder of micrographs")
        self.recursive = QtWidgets.QCheckBox("include subfolders")
        self.model = QtWidgets.QComboBox()
        for key, label in models:
            self.model.addItem(label, key)
        self.model.setCurrentIndex(max(0, self.model.findData(current)))
        self.out = QtWidgets.QLineEdit(
            placeholderText="results CSV" if kind == CLASSIFY else "output folder")
        form = QtWidgets.QFormLayout(self)
        form.addRow("Folder", self._with_browse(self.folder, self._browse_folder))
        form.addRow("", self.recursive)
        form.addRow("Model", self.model)
        form.addRow("Write to", self._with_browse(self.out, self._browse_out))
        self.measure = QtWidgets.QCheckBox("Measure particles of every image (measurements.csv)")
        self.measure.setToolTip("With the options set in the Measurements dock: split, minimum "
                                "area, holes, edge rule, grain boundaries")
        if kind == SEGMENT:
            form.addRow("", self.measure)
        self.buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.Ok | QtWidgets.QDialogButtonBox.Cancel)
        self.buttons.button(QtWidgets.QDialogButtonBox.Ok).setText("Run")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        self.folder.textChanged.connect(self._folder_changed)
        self._folder_changed("")
        self.resize(520, self.sizeHint().height())

    @staticmethod
    def _with_browse(edit: QtWidgets.QLineEdit, slot) -> QtWidgets.QWidget:
        box = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        button = QtWidgets.QPushButton("Browse…")
        button.clicked.connect(slot)
        row.addWidget(button)
        return box

    def _folder_changed(self, text: str) -> None:
        ok = bool(text) and Path(text).is_dir() and self.model.count() > 0
        self.buttons.button(QtWidgets.QDialogButtonBox.Ok).setEnabled(ok)
        if ok and not self.out.isModified():
            self.out.setText(str(default_out(self.kind, Path(text))))

    def _browse_folder(self) -> None:
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Folder of micrographs")
        if path:
            self.folder.setText(path)

    def _browse_out(self) -> None:
        if self.kind == CLASSIFY:
            path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Results CSV", self.out.text(),
                                                            "CSV (*.csv)")
        else:
            path = QtWidgets.QFileDialog.getExistingDirectory(self, "Output folder")
        if path:
            self.out.setText(path)
            self.out.setModified(True)

    def accept(self) -> None:
        """Run, unless the output cannot be written (said here, the dialog stays open)."""
        out = self.choice().out
        try:
            check_output(out, folder=self.kind == SEGMENT)
        except UserError as exc:
            QtWidgets.QMessageBox.warning(self, "Cannot write the results", str(exc))
            return
        super().accept()

    def choice(self) -> BatchChoice:
        folder = Path(self.folder.text())
        out = Path(self.out.text()) if self.out.text() else default_out(self.kind, folder)
        return BatchChoice(self.kind, folder, self.recursive.isChecked(), self.model.currentData(),
                           out, self.kind == SEGMENT and self.measure.isChecked())
