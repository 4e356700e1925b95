"""Repair mode: a damaged project opens into a list of what is missing or inconsistent (the
diagnosis of `project.repair`) with three ways on: open what is intact read-only, save a
repaired copy (written by a background job, the window stays responsive) and open that, or
cancel and keep the project shown before. Unattended runs print the list and open nothing."""

from __future__ import annotations

import sys
from html import escape
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from matlab_gui.errors import UserError
from matlab_gui.gui import dialogs
from matlab_gui.gui.job_worker import JobWorker
from matlab_gui.project import Project
from matlab_gui.project.repair import Problem, RepairReport, diagnose, save_repaired_copy
from matlab_gui.workbench import Session

READ_ONLY, REPAIRED = "read-only", "repaired"
HEADERS = ["Image", "Problem", "The repaired copy"]


def _repair(request: tuple[Path, Path], progress=None, cancel=None) -> RepairReport:
    """The job: the file dialog already asked before a file is replaced."""
    path, dest = request
    return save_repaired_copy(path, dest, overwrite=True, progress=progress, cancel=cancel)


class RepairDialog(QtWidgets.QDialog):
    """The problems of one project and the three choices; after `exec`, `choice` is READ_ONLY,
    REPAIRED (then `report` says what the copy did) or None."""

    def __init__(self, path: Path, problems: list[Problem], failure: str | None,
                 can_read: bool, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent, windowTitle="Damaged project")
        self.path, self.choice, self.report = Path(path), None, None
        self._can_read = can_read
        self.worker = JobWorker(self)
        self.worker.progress.connect(self._progress)
        self.worker.finished.connect(self._saved)
        self.worker.failed.connect(self._failed)
        self.worker.cancelled.connect(lambda: self._idle("Cancelled: no copy was written."))
        intro = f"<b>{escape(self.path.name, quote=False)}</b> is damaged: {len(problems)} thing" \
                f"{'s are' if len(problems) != 1 else ' is'} missing or inconsistent."
        if failure:
            intro += f"<br>It cannot be opened as it is: {escape(failure, quote=False)}"
        text = QtWidgets.QLabel(intro, wordWrap=True, textFormat=QtCore.Qt.RichText)
        text.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        self.table = self._table(problems)
        self.status = QtWidgets.QLabel(wordWrap=True, objectName="status")
        self.bar = QtWidgets.QProgressBar(visible=False)
        buttons = QtWidgets.QDialogButtonBox()
        self.read_only_button = buttons.addButton("Open read-only",
                                                  QtWidgets.QDialogButtonBox.AcceptRole)
        self.repair_button = buttons.addButton("Save repaired copy…",
                                               QtWidgets.QDialogButtonBox.ActionRole)
        self.cancel_button = buttons.addButton(QtWidgets.QDialogButtonBox.Cancel)
        self.read_only_button.setEnabled(can_read)
        self.read_only_button.setToolTip(
            "Open what is intact; damaged images show an error, nothing is saved" if can_read else
            "The project's metadata is damaged: only a repaired copy can be opened")
        self.read_only_button.clicked.connect(self._open_read_only)
        self.repair_button.clicked.connect(self._save_copy)
        self.cancel_button.clicked.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        for widget in (text, self.table, self.status, self.bar, buttons):
            layout.addWidget(widget)
        self.resize(820, 420)

    @staticmethod
    def _table(problems: list[Problem]) -> QtWidgets.QTableWidget:
        table = QtWidgets.QTableWidget(len(problems), len(HEADERS), objectName="problems")
        table.setHorizontalHeaderLabels(HEADERS)
        table.verticalHeader().hide()
        table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        table.setWordWrap(True)
        for row, p in enumerate(problems):
            for column, value in enumerate((p.image or "(project)", p.what, p.fix)):
                item = QtWidgets.QTableWidgetItem(value)
                item.setToolTip(f"{value}\n(image id {p.image_id})" if p.image_id else value)
                table.setItem(row, column, item)
        header = table.horizontalHeader()
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeToContents)
        for column in (1, 2):
            header.setSectionResizeMode(column, QtWidgets.QHeaderView.Stretch)
        table.resizeRowsToContents()
        return table

    def _open_read_only(self) -> None:
        self.choice = READ_ONLY
        self.accept()

    def _save_copy(self) -> None:
        dest = dialogs.save_project_path(self)
        if dest is None:
            return
        if dest.resolve() == self.path.resolve():
            self._idle("The repaired copy must be a new file: choose another name.")
            return
        self.worker.start(_repair, (self.path, dest))
        self.read_only_button.setEnabled(False)
        self.repair_button.setEnabled(False)
        self.bar.setRange(0, 0)
        self.bar.show()
        self.status.setText(f"Saving the repaired copy as {dest.name}…")

    def _progress(self, event) -> None:
        self.bar.setRange(0, max(event.total, 1))
        self.bar.setValue(event.done)
        if event.message:
            self.status.setText(f"Copying {event.message}…")

    def _saved(self, report: RepairReport) -> None:
        self.choice, self.report = REPAIRED, report
        self.accept()

    def _failed(self, message: str) -> None:
        self._idle(message)
        self.status.setStyleSheet("color: #b00020")

    def _idle(self, message: str) -> None:
        self.bar.hide()
        self.status.setStyleSheet("")
        self.status.setText(message)
        self.repair_button.setEnabled(True)
        self.read_only_button.setEnabled(self._can_read)

    def reject(self) -> None:
        """Cancel stops a copy being written (nothing is left of it) before it closes."""
        if self.worker.busy:
            self.worker.cancel()
            return
        super().reject()

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802
        if self.worker.busy:
            self.worker.cancel()
            event.ignore()
            return
        super().closeEvent(event)


def _open(parent, path: Path, readonly: bool = False) -> Session | None:
    try:
        return Session.open(path, readonly=readonly)
    except UserError as exc:
        dialogs.error(parent, "Cannot open the project", str(exc))
        return None


def _opens_read_only(path: Path) -> bool:
    try:
        Project.open(path, readonly=True).close()
    except UserError:
        return False
    return True


def _decide(parent, path: Path, problems: list[Problem], failure: str | None,
            can_read: bool) -> Session | None:
    if dialogs._unattended:  # noqa: SLF001 - nobody is there to choose: open nothing
        print(f"Damaged project: {path}" + (f": {failure}" if failure else ""), file=sys.stderr)
        for p in problems:
            print(f"  {p.line()}", file=sys.stderr)
        return None
    dialog = RepairDialog(path, problems, failure, can_read, parent)
    if dialog.exec() != QtWidgets.QDialog.Accepted:
        return None
    if dialog.choice == READ_ONLY:
        return _open(parent, path, readonly=True)
    report = dialog.report
    session = _open(parent, report.copy)
    if session is not None:
        left = f", {report.left_out} left out" if report.left_out else ""
        dialogs.info(parent, "Repaired copy saved",
                     f"{report.copy} holds {report.images} images{left}; {len(report.problems)} "
                     f"problems were resolved as listed. {path.name} is unchanged.")
    return session


def open_damaged(parent, path: Path, failure: UserError) -> Session | None:
    """After opening `path` failed: repair mode when it is a damaged project, else the error
    as it was. The session to show, or None."""
    path = Path(path)
    try:
        problems = diagnose(path)
    except UserError:  # no project at all, or one from a newer app: nothing to repair
        problems = []
    if not problems:
        dialogs.error(parent, "Cannot open the project", str(failure))
        return None
    return _decide(parent, path, problems, failure.problem, _opens_read_only(path))


def check_opened(parent, session: Session) -> Session | None:
    """A project that opened but is damaged (a mask missing, a history lost…) closes again and
    goes into repair mode; a healthy one is returned as it is."""
    path = session.project.path
    try:
        problems = diagnose(path)
    except UserError:
        return session  # it opened: what it lacks shows when it is read
    if not problems:
        return session
    session.close()
    return _decide(parent, path, problems, None, True)
