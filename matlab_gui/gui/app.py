"""Start the Qt application, open the given files (or the bundled sample), optionally screenshot."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from matlab_gui.errors import UserError
from matlab_gui.resources import sample_images


def _parse_size(size: str | None) -> tuple[int, int] | None:
    if not size:
        return None
    try:
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise UserError(f"--size must look like 1280x800, not {size!r}") from None
    return w, h


def run_gui(paths: list[str], screenshot: str | None = None, size: str | None = None) -> int:
    from matlab_gui.gui.main_window import MainWindow

    wh = _parse_size(size)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("matlab_gui")
    window = MainWindow()
    if wh:
        window.resize(*wh)
    targets = [Path(p) for p in paths] or sample_images()[:1]
    try:
        window.open_paths(targets)
    except UserError as exc:
        if screenshot:
            raise
        QtWidgets.QMessageBox.warning(window, "Cannot open", str(exc))
    window.show()
    if screenshot:
        QtWidgets.QApplication.processEvents()
        QtCore.QThread.msleep(50)
        QtWidgets.QApplication.processEvents()
        if not window.grab().save(screenshot):
            raise UserError("cannot write the screenshot there", screenshot)
        return 0
    return app.exec()
