"""The class palette: pick the class to paint; add, rename, recolour, reorder, delete.

It only shows the class list and asks; the main window changes the project and masks."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from matlab_gui.gui.icons import swatch
from matlab_gui.project import ClassDef

Qt = QtCore.Qt


class ClassPalette(QtWidgets.QWidget):
    current_changed = QtCore.Signal(int)  # class index (>= 1)
    add_requested = QtCore.Signal()
    rename_requested = QtCore.Signal(int)
    recolour_requested = QtCore.Signal(int)
    move_requested = QtCore.Signal(int, int)  # index, -1 up / +1 down
    delete_requested = QtCore.Signal(int)
    label_requested = QtCore.Signal(int)  # set as image-level label of the selected images

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.list = QtWidgets.QListWidget()
        self.list.setObjectName("classList")
        self.list.currentRowChanged.connect(self._row_changed)
        self.list.itemDoubleClicked.connect(lambda _: self.rename_requested.emit(self.current))
        buttons = QtWidgets.QGridLayout()
        specs = [
            ("Add", "Add a class", lambda: self.add_requested.emit()),
            (
                "Rename",
                "Rename the selected class",
                lambda: self.rename_requested.emit(self.current),
            ),
            (
                "Colour",
                "Change the colour of the selected class",
                lambda: self.recolour_requested.emit(self.current),
            ),
            (
                "Up",
                "Move the class up (its index and pixels follow)",
                lambda: self.move_requested.emit(self.current, -1),
            ),
            ("Down", "Move the class down", lambda: self.move_requested.emit(self.current, 1)),
            (
                "Delete",
                "Delete the class (its painted pixels become unlabelled)",
                lambda: self.delete_requested.emit(self.current),
            ),
        ]
        for i, (text, tip, slot) in enumerate(specs):
            b = QtWidgets.QPushButton(text)
            b.setToolTip(tip)
            b.clicked.connect(slot)
            buttons.addWidget(b, i // 3, i % 3)
        self.label_button = QtWidgets.QPushButton("Label selected images (L)")
        self.label_button.setToolTip("Give the images selected in the list this image-level class")
        self.label_button.clicked.connect(lambda: self.label_requested.emit(self.current))
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        layout.addWidget(self.label_button)

    @property
    def current(self) -> int:
        item = self.list.currentItem()
        return item.data(Qt.UserRole) if item else 0

    def set_classes(self, classes: list[ClassDef], current: int | None = None) -> None:
        keep = current if current is not None else self.current
        self.list.blockSignals(True)
        self.list.clear()
        for c in classes:
            item = QtWidgets.QListWidgetItem(swatch(c.color), f"{c.index}  {c.name}")
            item.setData(Qt.UserRole, c.index)
            self.list.addItem(item)
        self.list.blockSignals(False)
        self.select(keep if any(c.index == keep for c in classes) else 1)

    def select(self, index: int) -> None:
        for row in range(self.list.count()):
            if self.list.item(row).data(Qt.UserRole) == index:
                self.list.setCurrentRow(row)
                return

    def _row_changed(self, row: int) -> None:
        if row >= 0:
            self.current_changed.emit(self.list.item(row).data(Qt.UserRole))
