"""The main window (placeholder until the annotation workbench lands): shows one micrograph."""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6 import QtWidgets

from matlab_gui import __version__


class MainWindow(QtWidgets.QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle(f"matlab_gui {__version__}")
        self.view = pg.ImageView()
        self.setCentralWidget(self.view)
        self.statusBar().showMessage("Ready")
        self.resize(1200, 800)

    def open_paths(self, paths: list[Path]) -> None:
        from matlab_gui.imaging import read_image
        from matlab_gui.imaging.display import auto_levels

        if not paths:
            return
        image = read_image(paths[0])
        lo, hi = auto_levels(image.data)
        self.view.setImage(image.data, axes={"x": 1, "y": 0, "c": 2} if image.data.ndim == 3 else {"x": 1, "y": 0}, levels=(lo, hi))
        self.statusBar().showMessage(f"{image.meta.path.name}  {image.meta.width}x{image.meta.height}  {image.meta.dtype}")
