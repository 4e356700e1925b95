"""PySide6 + pyqtgraph desktop window. Draws the core's state and routes input to it."""

from matlab_gui.gui.pyside_refcount import apply as _keep_none_alive

_keep_none_alive()

from matlab_gui.gui.main_window import MainWindow  # noqa: E402

__all__ = ["MainWindow"]
