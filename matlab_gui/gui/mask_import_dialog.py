"""File > Import masks: the preview of an import plan (annotate.mask_import), before anything
changes. Shows which file goes onto which image (guesses and images matched twice marked),
every file that is not imported and why, and each mask value with its pixel count and the
class it becomes; asks whether 0 is a class when no class table says, and whether to add the
classes the project lacks. Import applies, Cancel changes nothing."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from matlab_gui.annotate.mask_import import ImportPlan, ValueMapping
from matlab_gui.gui.dialogs import next_colour

Qt = QtCore.Qt
WARN = QtGui.QColor(255, 236, 179)  # a row to look at: a guess, a match twice, lost pixels
NEW = QtGui.QColor(214, 240, 214)  # a class the import adds


def _table(headers: list[str], rows: list[list[str]], name: str) -> QtWidgets.QTableWidget:
    table = QtWidgets.QTableWidget(0, len(headers))
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().hide()
    table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
    table.setSelectionMode(QtWidgets.QAbstractItemView.NoSelection)
    table.setFocusPolicy(Qt.NoFocus)
    table.setWordWrap(True)
    header = table.horizontalHeader()
    for c in range(len(headers) - 1):
        header.setSectionResizeMode(c, QtWidgets.QHeaderView.ResizeToContents)
    header.setSectionResizeMode(len(headers) - 1, QtWidgets.QHeaderView.Stretch)
    _fill(table, rows)
    return table


def _fill(table: QtWidgets.QTableWidget, rows: list[list[str]], right: int = -1) -> None:
    """Put `rows` in the table (column `right` aligned right), rows as tall as their text."""
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            item = QtWidgets.QTableWidgetItem(text)
            item.setToolTip(text)
            if c == right:
                item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            table.setItem(r, c, item)
    table.resizeRowsToContents()


def _shade(table: QtWidgets.QTableWidget, row: int, colour: QtGui.QColor) -> None:
    for c in range(table.columnCount()):
        table.item(row, c).setBackground(colour)
        table.item(row, c).setForeground(QtGui.QColor("black"))


def _group(title: str, widget: QtWidgets.QWidget) -> QtWidgets.QGroupBox:
    box = QtWidgets.QGroupBox(title)
    QtWidgets.QVBoxLayout(box).addWidget(widget)
    return box


class MaskImportDialog(QtWidgets.QDialog):
    def __init__(self, plan: ImportPlan, labelled: set[str] = frozenset(),
                 parent: QtWidgets.QWidget | None = None):
        """`labelled`: ids of images that already have a mask (the import replaces it)."""
        super().__init__(parent)
        self.plan = plan
        self.setWindowTitle("Import masks")
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self._heading(labelled))
        if plan.notes:
            notes = QtWidgets.QLabel("\n".join(f"⚠ {n}" for n in plan.notes))
            notes.setObjectName("importNotes")
            notes.setWordWrap(True)
            notes.setTextInteractionFlags(Qt.TextSelectableByMouse)
            layout.addWidget(notes)
        split = QtWidgets.QSplitter(Qt.Vertical)
        split.setChildrenCollapsible(False)
        split.addWidget(_group(f"Masks → images ({len(plan.matches)})", self._matches()))
        split.addWidget(_group(f"Not imported ({len(plan.skipped)})", self._skipped()))
        values = QtWidgets.QWidget()
        box = QtWidgets.QVBoxLayout(values)
        box.setContentsMargins(0, 0, 0, 0)
        self.values = _table(["Value", "Class table says", "Pixels", "Imported as"], [], "values")
        self.values.setColumnHidden(1, plan.table is None)
        box.addWidget(self.values)
        box.addWidget(self._choices())
        split.addWidget(_group("Mask values → classes", values))
        for k, weight in enumerate((2, 3, 3)):
            split.setStretchFactor(k, weight)
        layout.addWidget(split, 1)
        self.buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.Ok | QtWidgets.QDialogButtonBox.Cancel)
        self.import_button = self.buttons.button(QtWidgets.QDialogButtonBox.Ok)
        self.import_button.setText("Import")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)
        self._refresh()
        self.resize(880, 780)

    # -- parts ----------------------------------------------------------------------------
    def _heading(self, labelled: set[str]) -> QtWidgets.QLabel:
        plan = self.plan
        text = f"From {plan.folder}: {plan.summary()}."
        replaced = sum(1 for m in plan.matches if m.image_id in labelled)
        if replaced:
            text += (f" {replaced} of these images already {'has' if replaced == 1 else 'have'}"
                     " a mask: the import replaces it (Edit > Undo on that image brings it "
                     "back).")
        label = QtWidgets.QLabel(text)
        label.setWordWrap(True)
        return label

    def _matches(self) -> QtWidgets.QTableWidget:
        plan = self.plan
        rows = []
        for m in plan.matches:
            how = m.how + (" — matched twice: the other file is under Not imported"
                           if m.image_id in plan.twice else "")
            rows.append([plan.images[m.image_id], str(m.source), how])
        table = _table(["Image", "← File", "Matched by"], rows, "matches")
        for r, m in enumerate(plan.matches):
            if m.guess or m.image_id in plan.twice:
                _shade(table, r, WARN)
        return table

    def _skipped(self) -> QtWidgets.QTableWidget:
        rows = [[str(s.source), s.reason] for s in self.plan.skipped]
        return _table(["File", "Why not"], rows, "skipped")

    def _choices(self) -> QtWidgets.QWidget:
        box = QtWidgets.QWidget()
        form = QtWidgets.QVBoxLayout(box)
        form.setContentsMargins(0, 0, 0, 0)
        plan = self.plan
        self.zero_class = QtWidgets.QRadioButton(
            "0 is a class: the masks number classes from 0 (value 0 = class 1, value 1 = class 2, …)")
        self.zero_unlabelled = QtWidgets.QRadioButton(
            "0 means unlabelled: value 1 = class 1, value 2 = class 2, …")
        if plan.needs_zero_choice:
            total = sum(plan.counts.values()) or 1
            share = 100 * plan.counts.get(0, 0) / total
            ask = QtWidgets.QLabel(
                f"No class table (classes.csv) came with these masks, so their numbers need "
                f"your word. Value 0 covers {share:.1f} % of the pixels.")
            ask.setWordWrap(True)
            form.addWidget(ask)
            for button in (self.zero_class, self.zero_unlabelled):
                form.addWidget(button)
                button.toggled.connect(self._refresh)
        else:
            told = QtWidgets.QLabel(f"Values named by {plan.table_source}; matched to the "
                                    "project's classes by name.")
            told.setWordWrap(True)
            form.addWidget(told)
            self.zero_class.hide()
            self.zero_unlabelled.hide()
        self.add_missing = QtWidgets.QCheckBox("Add the classes the project lacks")
        self.add_missing.toggled.connect(self._refresh)
        form.addWidget(self.add_missing)
        return box

    # -- state ----------------------------------------------------------------------------
    @property
    def zero_is_class(self) -> bool | None:
        if not self.plan.needs_zero_choice:
            return None
        if self.zero_class.isChecked():
            return True
        return False if self.zero_unlabelled.isChecked() else None

    def mapping(self) -> ValueMapping | None:
        """The value -> class mapping the dialog shows now; None until 0's meaning is chosen."""
        if self.plan.needs_zero_choice and self.zero_is_class is None:
            return None
        return self.plan.mapping(self.zero_is_class, self.add_missing.isChecked(), next_colour)

    def _refresh(self) -> None:
        mapping = self.mapping()
        plan = self.plan
        if mapping is None:
            rows = [[str(v), "", f"{n:,}", "choose what 0 means below"]
                    for v, n in sorted(plan.counts.items())]
        else:
            rows = [[str(r.value), r.name, f"{r.pixels:,}", r.meaning] for r in mapping.rows]
        _fill(self.values, rows, right=2)
        for r, row in enumerate(mapping.rows if mapping is not None else []):
            if row.lost:
                _shade(self.values, r, WARN)
            elif row.new:
                _shade(self.values, r, NEW)
        lost = mapping is not None and any(r.lost for r in mapping.rows)
        self.add_missing.setEnabled(lost or self.add_missing.isChecked())
        self.import_button.setEnabled(mapping is not None and bool(plan.matches))
