"""Small modal dialogs: messages, questions, names, colours, pixel size, file paths.
Functions, so tests can monkeypatch QMessageBox/QInputDialog underneath. Unattended runs
(`--screenshot`) print messages to stderr and take the safe answer instead of waiting for a
click nobody will make."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6 import QtGui, QtWidgets

from matlab_gui.project import PROJECT_SUFFIX

MB = QtWidgets.QMessageBox
COLOURS = [
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
]
PROJECT_FILTER = f"matlab_gui projects (*{PROJECT_SUFFIX})"
IMAGE_FILTER = "Micrographs (*.tif *.tiff *.png *.jpg *.jpeg *.bmp);;All files (*)"


def next_colour(index: int) -> tuple[int, int, int]:
    return COLOURS[(index - 1) % len(COLOURS)]


_unattended = False


def set_unattended(on: bool) -> None:
    global _unattended
    _unattended = on


def _tell(show, parent, title: str, message: str) -> None:
    """A message box, or stderr when nobody is there to close one."""
    if _unattended:
        print(f"{title}: {message}", file=sys.stderr)
        return
    show(parent, title, message)


def error(parent, title: str, message: str) -> None:
    _tell(MB.critical, parent, title, message)


def warning(parent, title: str, message: str) -> None:
    _tell(MB.warning, parent, title, message)


def info(parent, title: str, message: str) -> None:
    _tell(MB.information, parent, title, message)


def ask_yes(parent, title: str, message: str) -> bool:
    """A yes/no question; unattended runs answer no."""
    if _unattended:
        print(f"{title}: {message}", file=sys.stderr)
        return False
    return MB.question(parent, title, message, MB.Yes | MB.No, MB.Yes) == MB.Yes


def ask_save(parent, name: str) -> str:
    """'save', 'discard' or 'cancel' for a project with unsaved changes."""
    answer = MB.question(
        parent,
        "Unsaved changes",
        f"Save the changes to {name} before closing?",
        MB.Save | MB.Discard | MB.Cancel,
        MB.Save,
    )
    return {MB.Save: "save", MB.Discard: "discard"}.get(answer, "cancel")


def confirm_delete_class(parent, name: str, index: int, count: int) -> bool:
    after = (
        f" Classes {index + 1}–{count} move up one index (their pixels follow)."
        if index < count
        else ""
    )
    text = (
        f"Delete class {index} “{name}”?\n\nPixels painted with it become unlabelled in every "
        f"image, and images labelled “{name}” lose their label.{after}\nThis cannot be undone."
    )
    return MB.question(parent, "Delete class", text, MB.Yes | MB.No, MB.No) == MB.Yes


def text(parent, title: str, label: str, value: str = "") -> str | None:
    s, ok = QtWidgets.QInputDialog.getText(parent, title, label, text=value)
    return s.strip() if ok and s.strip() else None


def colour(parent, rgb: tuple[int, int, int]) -> tuple[int, int, int] | None:
    c = QtWidgets.QColorDialog.getColor(QtGui.QColor(*rgb), parent, "Class colour")
    return (c.red(), c.green(), c.blue()) if c.isValid() else None


def pixel_size(parent, current_m: float | None) -> float | None:
    """Pixel size in metres from a value in nm; 0 clears it; None when cancelled."""
    value, ok = QtWidgets.QInputDialog.getDouble(
        parent,
        "Set pixel size",
        "Pixel size in nanometres (0 = unknown):",
        (current_m or 0) * 1e9,
        0,
        1e9,
        4,
    )
    return value * 1e-9 if ok else None


def choice(parent, title: str, label: str, items: list[str]) -> str | None:
    item, ok = QtWidgets.QInputDialog.getItem(parent, title, label, items, 0, False)
    return item if ok else None


def progress(parent, label: str, total: int) -> QtWidgets.QProgressDialog:
    dlg = QtWidgets.QProgressDialog(label, "Stop", 0, total, parent)
    dlg.setMinimumDuration(500)
    return dlg


def save_project_path(parent) -> Path | None:
    path, _ = QtWidgets.QFileDialog.getSaveFileName(parent, "Save project as", "", PROJECT_FILTER)
    if not path:
        return None
    path = Path(path)
    return path if path.suffix == PROJECT_SUFFIX else path.with_name(path.name + PROJECT_SUFFIX)


def open_project_path(parent) -> Path | None:
    path, _ = QtWidgets.QFileDialog.getOpenFileName(parent, "Open project", "", PROJECT_FILTER)
    return Path(path) if path else None


def image_paths(parent) -> list[Path]:
    paths, _ = QtWidgets.QFileDialog.getOpenFileNames(parent, "Open images", "", IMAGE_FILTER)
    return [Path(p) for p in paths]


def folder(parent, title: str) -> Path | None:
    path = QtWidgets.QFileDialog.getExistingDirectory(parent, title)
    return Path(path) if path else None


MOUSE = [("Wheel", "Zoom around the cursor"), ("Middle drag or Space + drag", "Pan"),
         ("Left drag", "Use the current tool")]


def shortcuts(parent, keys: list[tuple[str, str]]) -> QtWidgets.QDialog:
    """Help > Keyboard shortcuts: every key of the window's actions, and the mouse."""
    dialog = QtWidgets.QDialog(parent, windowTitle="Keyboard shortcuts")
    rows = keys + MOUSE
    table = QtWidgets.QTableWidget(len(rows), 2, dialog)
    table.setObjectName("shortcuts")
    table.setHorizontalHeaderLabels(["Keys", "Action"])
    table.verticalHeader().hide()
    table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
    for r, (key, text) in enumerate(rows):
        table.setItem(r, 0, QtWidgets.QTableWidgetItem(key))
        table.setItem(r, 1, QtWidgets.QTableWidgetItem(text))
    table.resizeColumnsToContents()
    table.horizontalHeader().setStretchLastSection(True)
    buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.Close, rejected=dialog.reject)
    layout = QtWidgets.QVBoxLayout(dialog)
    layout.addWidget(table)
    layout.addWidget(buttons)
    dialog.resize(580, 600)
    dialog.show()
    return dialog


def about(parent, version: str) -> None:
    MB.about(
        parent,
        "About matlab_gui",
        f"<b>matlab_gui {version}</b><p>Label micrographs, fine-tune CNNs and run them.</p>",
    )
