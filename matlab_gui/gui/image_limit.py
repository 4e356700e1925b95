"""Image > Largest image to open…: the pixel budget the readers check headers against, kept in
the user's settings so it holds for every window and every later session."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from matlab_gui.imaging import limits

KEY = "limits/max_gigapixels"


def apply_saved() -> None:
    """Use the budget the user chose earlier (none saved: the environment's or the default)."""
    value = QtCore.QSettings().value(KEY)
    try:
        gigapixels = float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        gigapixels = None
    limits.set_max_pixels(None if gigapixels is None or gigapixels <= 0
                          else int(gigapixels * 1e9))


def ask(parent) -> None:
    """Let the user raise (or lower) the budget; it takes effect for the next image opened."""
    current = limits.max_pixels() / 1e9
    value, ok = QtWidgets.QInputDialog.getDouble(
        parent, "Largest image to open",
        "Largest image to open, in gigapixels\n(1 gigapixel = a 32k x 32k montage; 16-bit needs "
        "2 GB of memory per gigapixel):",
        round(current, 2), 0.01, 10000, 2)
    if not ok:
        return
    QtCore.QSettings().setValue(KEY, value)
    limits.set_max_pixels(int(value * 1e9))
