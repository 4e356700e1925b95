"""The Set scale dialog: a length in pixels (a line drawn, or the scale bar found), the length
the bar stands for, the pixel size that makes (shown as it is typed) and which images get it."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6 import QtWidgets

from matlab_gui.errors import UserError
from matlab_gui.imaging.scale_from_image import pixel_size_from_length
from matlab_gui.imaging.scale_label import ScaleLabel, ocr_available
from matlab_gui.imaging.units import format_pixel_size

UNITS = ("nm", "µm", "mm")


@dataclass(frozen=True)
class ScopeCounts:
    """How many images each choice of "Apply to" would change, and the size they share."""

    selected: int
    same_size: int
    width: int
    height: int


class ScaleDialog(QtWidgets.QDialog):
    """`source` says where `length_px` came from ("line" or "bar"); a bar's `label`, when OCR
    read one, prefills the known length (the user confirms or edits it)."""

    def __init__(self, length_px: float, current_m: float | None, counts: ScopeCounts,
                 source: str = "line", label: ScaleLabel | None = None,
                 label_text: str | None = None, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("scaleDialog")
        self.setWindowTitle("Set scale")
        self.length_px = float(length_px)
        what = "Scale bar found" if source == "bar" else "Line drawn"
        self.measured = QtWidgets.QLabel(f"<b>{what}: {self.length_px:.1f} px long</b>")
        self.read = QtWidgets.QLabel(self._read_note(source, label, label_text))
        self.read.setWordWrap(True)
        self.read.setObjectName("note")
        self.value = QtWidgets.QDoubleSpinBox(decimals=3, minimum=0, maximum=1e6)
        self.value.setSpecialValueText("type the bar's length")
        self.value.setObjectName("knownLength")
        self.unit = QtWidgets.QComboBox()
        self.unit.addItems(UNITS)
        self.unit.setCurrentText("µm")
        if label is not None:
            self.unit.setCurrentText(label.unit if label.unit in UNITS else "mm")
            self.value.setValue(label.value if label.unit in UNITS else label.value * 1e3)
        self.result = QtWidgets.QLabel()
        self.result.setObjectName("pixelSize")
        now = format_pixel_size(current_m) if current_m else "uncalibrated"
        self.scopes = {
            "image": QtWidgets.QRadioButton("This image"),
            "selected": QtWidgets.QRadioButton(f"The selected images ({counts.selected})"),
            "same_size": QtWidgets.QRadioButton(
                f"All {counts.width} × {counts.height} images in the project ({counts.same_size})"),
        }
        self.scopes["image"].setChecked(True)
        self.scopes["selected"].setEnabled(counts.selected > 1)
        self.scopes["same_size"].setEnabled(counts.same_size > 1)
        self.buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.Ok | QtWidgets.QDialogButtonBox.Cancel)
        self.ok = self.buttons.button(QtWidgets.QDialogButtonBox.Ok)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        length = QtWidgets.QHBoxLayout()
        length.addWidget(self.value, 1)
        length.addWidget(self.unit)
        scope = QtWidgets.QVBoxLayout()
        scope.setSpacing(2)
        for button in self.scopes.values():
            scope.addWidget(button)
        form = QtWidgets.QFormLayout()
        form.addRow("Known length", length)
        form.addRow("Pixel size", self.result)
        form.addRow("Now", QtWidgets.QLabel(now))
        form.addRow("Apply to", scope)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.measured)
        layout.addWidget(self.read)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self.value.valueChanged.connect(self._update)
        self.unit.currentTextChanged.connect(self._update)
        self._update()
        self.resize(max(420, self.sizeHint().width()), self.sizeHint().height())
        self.value.setFocus()
        self.value.selectAll()

    @staticmethod
    def _read_note(source: str, label: ScaleLabel | None, text: str | None) -> str:
        if source != "bar":
            return "Type the length the line stands for, as the scale bar's label says."
        if label is not None:
            return f"Its label reads “{label}”: check it, then OK."
        if text:
            return f"Its label was read as “{text}”, which is not a length: type it."
        if not ocr_available():
            return ("Type the length its label shows (install Tesseract OCR to have labels "
                    "read).")
        return "Its label could not be read: type the length it shows."

    def _update(self) -> None:
        """The pixel size as typed, or why there is none yet; OK only with a valid one."""
        try:
            metres = self.pixel_size_m()
        except UserError as exc:
            metres = None
            self.result.setText("—" if self.value.value() == 0 else str(exc))
        else:
            self.result.setText(f"<b>{format_pixel_size(metres)}</b> per pixel")
        self.ok.setEnabled(metres is not None)

    def pixel_size_m(self) -> float:
        """Metres per pixel from the lengths in the dialog (UserError while not valid)."""
        return pixel_size_from_length(self.length_px, self.value.value(), self.unit.currentText())

    def scope(self) -> str:
        return next(name for name, button in self.scopes.items() if button.isChecked())

    def set_length(self, value: float, unit: str) -> None:
        """Type a known length (tests and scripts)."""
        self.unit.setCurrentText(unit)
        self.value.setValue(value)
