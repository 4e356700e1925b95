"""The image list: thumbnail, name, size, state (unlabelled / labelled / predicted) and the
image-level class of every image in the project; several can be selected to label at once."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from matlab_gui.project import ClassDef, ImageRecord

Qt = QtCore.Qt
THUMB = 64


def describe(record: ImageRecord, classes: dict[int, ClassDef]) -> str:
    h, w = record.shape[:2]
    state = (
        "predicted" if record.has_prediction else "labelled" if record.has_mask else "unlabelled"
    )
    label = classes[record.label].name if record.label in classes else "—"
    return f"{record.name}\n{w}×{h} · {state}\nclass: {label}"


class ImageList(QtWidgets.QListWidget):
    image_activated = QtCore.Signal(str)  # image id

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("imageList")
        self.setIconSize(QtCore.QSize(THUMB, THUMB))
        self.setSelectionMode(QtWidgets.QAbstractItemView.ExtendedSelection)
        self.setUniformItemSizes(True)
        self.currentItemChanged.connect(self._current_changed)
        self._placeholder = QtGui.QPixmap(THUMB, THUMB)
        self._placeholder.fill(QtGui.QColor(90, 90, 90))

    def set_records(self, records: list[ImageRecord], classes: list[ClassDef]) -> None:
        """Rebuild the rows (keeping thumbnails already made)."""
        icons = {self.item(r).data(Qt.UserRole): self.item(r).icon() for r in range(self.count())}
        current = self.current_id
        self.blockSignals(True)
        self.clear()
        lookup = {c.index: c for c in classes}
        for rec in records:
            item = QtWidgets.QListWidgetItem(
                icons.get(rec.id, QtGui.QIcon(self._placeholder)), describe(rec, lookup)
            )
            item.setData(Qt.UserRole, rec.id)
            item.setToolTip(rec.source_path or rec.name)
            self.addItem(item)
        self.blockSignals(False)
        if current:
            self.select_id(current)

    def update_record(self, record: ImageRecord, classes: list[ClassDef]) -> None:
        item = self._item(record.id)
        if item is not None:
            item.setText(describe(record, {c.index: c for c in classes}))

    def set_thumbnail(self, image_id: str, image: QtGui.QImage) -> None:
        item = self._item(image_id)
        if item is not None:
            item.setIcon(QtGui.QIcon(QtGui.QPixmap.fromImage(image)))

    @property
    def current_id(self) -> str | None:
        item = self.currentItem()
        return item.data(Qt.UserRole) if item else None

    def selected_ids(self) -> list[str]:
        return [i.data(Qt.UserRole) for i in self.selectedItems()] or (
            [self.current_id] if self.current_id else []
        )

    def select_id(self, image_id: str) -> None:
        item = self._item(image_id)
        if item is not None:
            self.setCurrentItem(item)

    def step(self, delta: int) -> None:
        """Next (+1) / previous (-1) image."""
        if self.count():
            self.setCurrentRow(max(0, min(self.count() - 1, self.currentRow() + delta)))

    def _item(self, image_id: str) -> QtWidgets.QListWidgetItem | None:
        for r in range(self.count()):
            if self.item(r).data(Qt.UserRole) == image_id:
                return self.item(r)
        return None

    def _current_changed(self, item, _previous) -> None:
        if item is not None:
            self.image_activated.emit(item.data(Qt.UserRole))
