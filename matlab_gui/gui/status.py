"""Status bar read-outs: position, raw value(s), physical position, class, zoom."""

from __future__ import annotations

import numpy as np
from PySide6 import QtWidgets

from matlab_gui.gui.scale_bar import nice_length


def physical(value_m: float) -> str:
    _, unit_label = nice_length(max(abs(value_m), 1e-12))
    unit = unit_label.split()[-1]
    scale = {"mm": 1e-3, "µm": 1e-6, "nm": 1e-9, "pm": 1e-12, "m": 1.0}[unit]
    return f"{value_m / scale:.4g} {unit}"


class StatusReadout:
    """Permanent labels in a QStatusBar; `show` formats one cursor position."""

    def __init__(self, bar: QtWidgets.QStatusBar):
        self.bar = bar
        self.labels = {}
        for key, width in [("pos", 110), ("value", 130), ("phys", 170), ("cls", 150), ("zoom", 80)]:
            label = QtWidgets.QLabel()
            label.setMinimumWidth(width)
            bar.addPermanentWidget(label)
            self.labels[key] = label

    def show(
        self, image: np.ndarray | None, y: float, x: float, pixel_size_m: float | None
    ) -> None:
        if image is None or not (0 <= y < image.shape[0] and 0 <= x < image.shape[1]):
            for key in ("pos", "value", "phys"):
                self.labels[key].setText("")
            return
        iy, ix = int(y), int(x)
        self.labels["pos"].setText(f"x {ix}, y {iy}")
        v = image[iy, ix]
        self.labels["value"].setText(
            "value " + (", ".join(f"{c:g}" for c in v) if np.ndim(v) else f"{v:g}")
        )
        self.labels["phys"].setText(
            f"{physical(x * pixel_size_m)}, {physical(y * pixel_size_m)}"
            if pixel_size_m
            else "no pixel size"
        )

    def set_class(self, text: str) -> None:
        self.labels["cls"].setText(text)

    def set_zoom(self, zoom: float) -> None:
        self.labels["zoom"].setText(f"{zoom * 100:.0f} %")
