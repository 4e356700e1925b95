"""Tool options and mask display: brush size, fill tolerance, superpixel count, opacity,
show/hide and outline-only. Emits what the user sets; `display` shows the Workbench's values
(set from a project or a key) without emitting."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

Qt = QtCore.Qt


class ToolOptions(QtWidgets.QWidget):
    brush_changed = QtCore.Signal(int)
    tolerance_changed = QtCore.Signal(float)  # fraction of the display range
    opacity_changed = QtCore.Signal(float)
    show_mask_changed = QtCore.Signal(bool)
    outline_changed = QtCore.Signal(bool)
    superpixels_changed = QtCore.Signal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.brush = QtWidgets.QSpinBox()
        self.brush.setRange(1, 500)
        self.brush.setValue(10)
        self.brush.setSuffix(" px")
        self.brush.setToolTip("Brush and eraser radius ([ and ] keys)")
        self.brush.valueChanged.connect(self.brush_changed)
        self.tolerance = QtWidgets.QDoubleSpinBox()
        self.tolerance.setRange(0, 100)
        self.tolerance.setValue(5)
        self.tolerance.setSuffix(" %")
        self.tolerance.valueChanged.connect(lambda v: self.tolerance_changed.emit(v / 100))
        self.tolerance.setToolTip(
            "Fill takes connected pixels within this fraction of the display range of the clicked value"
        )
        self.segments = QtWidgets.QSpinBox()
        self.segments.setRange(50, 50000)
        self.segments.setSingleStep(250)
        self.segments.setValue(1500)
        self.segments.setToolTip("How many superpixels to over-segment the image into")
        self.segments.editingFinished.connect(
            lambda: self.superpixels_changed.emit(self.segments.value())
        )
        self.opacity = QtWidgets.QSlider(Qt.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(50)
        self.opacity.setToolTip("Mask opacity")
        self.opacity.valueChanged.connect(lambda v: self.opacity_changed.emit(v / 100))
        self.show_mask = QtWidgets.QCheckBox("Show mask (M)")
        self.show_mask.setChecked(True)
        self.show_mask.toggled.connect(self.show_mask_changed)
        self.outline = QtWidgets.QCheckBox("Outline only (O)")
        self.outline.toggled.connect(self.outline_changed)
        form = QtWidgets.QFormLayout(self)
        form.setContentsMargins(4, 4, 4, 4)
        form.addRow("Brush size", self.brush)
        form.addRow("Fill tolerance", self.tolerance)
        form.addRow("Superpixels", self.segments)
        form.addRow("Opacity", self.opacity)
        form.addRow(self.show_mask)
        form.addRow(self.outline)

    def display(self, values: dict) -> None:
        """Display view settings (keys of workbench.state.VIEW_DEFAULTS) without emitting."""
        widgets = {"brush": (self.brush, int), "tolerance": (self.tolerance, lambda v: 100 * v),
                   "segments": (self.segments, int), "opacity": (self.opacity, lambda v: round(100 * v)),
                   "outline": (self.outline, bool), "show_mask": (self.show_mask, bool)}
        for key, value in values.items():
            widget, to_widget = widgets[key]
            widget.blockSignals(True)
            if isinstance(widget, QtWidgets.QCheckBox):
                widget.setChecked(to_widget(value))
            else:
                widget.setValue(to_widget(value))
            widget.blockSignals(False)

