"""Start the Qt application, open the given files (or the bundled sample), optionally screenshot."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6 import QtGui, QtWidgets

from matlab_gui.errors import UserError
from matlab_gui.gui import image_limit
from matlab_gui.resources import resources_dir


def _parse_size(size: str | None) -> tuple[int, int] | None:
    if not size:
        return None
    try:
        w, h = (int(v) for v in size.lower().split("x"))
    except ValueError:
        raise UserError(f"--size must look like 1280x800, not {size!r}") from None
    return w, h


def application() -> QtWidgets.QApplication:
    """The QApplication with the app's names (for QSettings) and style sheet."""
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setOrganizationName("matlab_gui")
    app.setApplicationName("matlab_gui")
    app.setDesktopFileName("matlab-gui")  # matches installer/matlab-gui.desktop (Wayland icon)
    icon = resources_dir() / "icons" / "matlab-gui.png"
    if icon.is_file():
        app.setWindowIcon(QtGui.QIcon(str(icon)))
    # Jobs run Python in threads beside the GUI; the default 5 ms GIL hand-over made repaints wait
    # (event-loop p95 81 ms with a Python-heavy job, 26 ms at 1 ms).
    sys.setswitchinterval(0.001)
    image_limit.apply_saved()
    style = resources_dir() / "style" / "app.qss"
    if style.is_file():
        app.setStyleSheet(style.read_text(encoding="utf-8"))
    return app


def _open(window, paths: list[str], recover: bool = True) -> None:
    if paths:
        window.open_paths([Path(p) for p in paths])
    elif not (recover and window.offer_recovery()):
        window.open_sample()


def run_gui(paths: list[str], screenshot: str | None = None, size: str | None = None) -> int:
    from matlab_gui.gui import dialogs
    from matlab_gui.gui.main_window import MainWindow

    wh = _parse_size(size)
    app = application()
    window = MainWindow()
    if wh:
        window.resize(*wh)
    window.show()
    if not screenshot:
        _open(window, paths)
        return app.exec()
    dialogs.set_unattended(True)  # nobody is there to click a message away
    try:
        _open(window, paths, recover=False)
        window.wait_until_idle()
        if not window.grab().save(screenshot):
            raise UserError("cannot write the screenshot there", screenshot)
        window.workbench.close()  # the window object lives on: nothing open for its autosave
        return 0
    finally:
        dialogs.set_unattended(False)
