"""PySide6 + pyqtgraph desktop window. Draws the core's state and routes input to it."""

from matlab_gui.gui.main_window import MainWindow

__all__ = ["MainWindow"]
