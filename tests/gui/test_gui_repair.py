"""Repair mode in the window: a damaged project opens into the repair dialog (driven with real
clicks), which opens what is intact read-only or saves a repaired copy in the background and
opens that; Cancel keeps what the window showed; a healthy project opens without it."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from matlab_gui.gui import dialogs, repair_dialog
from matlab_gui.gui.repair_dialog import RepairDialog
from matlab_gui.progress import Cancelled
from matlab_gui.project import ClassDef, Project
from matlab_gui.project.repair import diagnose

Qt = QtCore.Qt


@pytest.fixture
def project(tmp_path):
    path = tmp_path / "p.mgp"
    with Project.create(path, [ClassDef(1, "a", (255, 0, 0)), ClassDef(2, "b", (0, 255, 0))]) as p:
        ids = [p.add_image(f"img{k}.tif", data=np.full((40, 50), 60 * k, np.uint8))
               for k in range(2)]
        for image_id in ids:
            p.set_mask(image_id, np.ones((40, 50), np.uint8))
        p.save()
    return path, ids


def _damage(path, edit):
    damaged = path.with_name("damaged.mgp")
    shutil.copyfile(path, damaged)
    with h5py.File(damaged, "r+") as f:
        edit(f)
    return damaged


def _drive(monkeypatch, act):
    """Show the real dialog and run `act(dialog)` (clicks) in place of its modal loop."""
    seen = []

    def run(dialog):
        seen.append(dialog)
        dialog.show()
        act(dialog)
        return dialog.result()

    monkeypatch.setattr(RepairDialog, "exec", run)
    return seen


def _rows(dialog) -> list[list[str]]:
    table = dialog.findChild(QtWidgets.QTableWidget, "problems")
    return [[table.item(r, c).text() for c in range(3)] for r in range(table.rowCount())]


def test_a_missing_mask_opens_repair_mode_and_the_copy_opens(window, project, monkeypatch,
                                                           qtbot, tmp_path, messages):
    path, ids = project
    damaged = _damage(path, lambda f: f["masks"].__delitem__(ids[0]))
    before = damaged.read_bytes()
    target = tmp_path / "fixed.mgp"
    monkeypatch.setattr(dialogs, "save_project_path", lambda _p: target)

    def act(dialog):
        rows = _rows(dialog)
        assert rows == [["img0.tif", f"it has a mask, but /masks/{ids[0]} is missing",
                         "the copy keeps the image without a mask"]]
        assert dialog.read_only_button.isEnabled()
        qtbot.mouseClick(dialog.repair_button, Qt.LeftButton)
        qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=20000)

    seen = _drive(monkeypatch, act)
    window.open_paths([damaged])
    assert len(seen) == 1
    assert window.session.project.path == target and not window.session.project.readonly
    assert window.session.project.image_ids == ids
    assert not window.session.project.record(ids[0]).has_mask
    assert any(m[1] == "Repaired copy saved" for m in messages)
    assert damaged.read_bytes() == before
    assert diagnose(target) == []


def test_open_read_only_shows_what_is_intact(window, project, monkeypatch, qtbot, messages):
    path, ids = project
    damaged = _damage(path, lambda f: f["masks"].__delitem__(ids[0]))
    _drive(monkeypatch, lambda d: qtbot.mouseClick(d.read_only_button, Qt.LeftButton))
    window.open_paths([damaged])
    assert window.session.project.path == damaged and window.session.project.readonly
    assert "(read-only)" in window.windowTitle()
    errors = [m for m in messages if m[1] == "Cannot show the image"]
    assert len(errors) == 1 and "is missing" in errors[0][2] and "\n" not in errors[0][2]
    window.show_image(ids[1])
    assert window.session.image_id == ids[1]


def test_damaged_metadata_offers_only_the_copy_and_cancel_keeps_the_shown_project(
        window, project, monkeypatch, qtbot):
    path, ids = project
    window.open_paths([path])
    damaged = _damage(path, lambda f: f.attrs.__setitem__("schema_version", "x"))

    def act(dialog):
        assert not dialog.read_only_button.isEnabled()
        assert "schema version 'x' is not a number" in dialog.findChild(QtWidgets.QLabel).text()
        assert _rows(dialog)[0][0] == "(project)"
        qtbot.mouseClick(dialog.cancel_button, Qt.LeftButton)

    seen = _drive(monkeypatch, act)
    window.open_paths([damaged])
    assert seen and window.session.project.path == path


def test_cancel_stops_a_copy_being_written(window, project, monkeypatch, qtbot, tmp_path):
    path, ids = project
    damaged = _damage(path, lambda f: f.__delitem__("history"))
    monkeypatch.setattr(dialogs, "save_project_path", lambda _p: tmp_path / "fixed.mgp")

    def slow(request, progress=None, cancel=None):
        while not cancel.cancelled:
            QtCore.QThread.msleep(10)
        raise Cancelled()

    monkeypatch.setattr(repair_dialog, "_repair", slow)

    def act(dialog):
        qtbot.mouseClick(dialog.repair_button, Qt.LeftButton)
        assert dialog.worker.busy and not dialog.repair_button.isEnabled()
        qtbot.mouseClick(dialog.cancel_button, Qt.LeftButton)  # stops the job, stays open
        status = dialog.findChild(QtWidgets.QLabel, "status")
        qtbot.waitUntil(lambda: "no copy was written" in status.text(), timeout=5000)
        assert dialog.isVisible() and dialog.repair_button.isEnabled()
        qtbot.mouseClick(dialog.cancel_button, Qt.LeftButton)

    _drive(monkeypatch, act)
    window.open_paths([damaged])
    assert window.session is None
    assert not (tmp_path / "fixed.mgp").exists()


def test_a_failed_copy_is_shown_in_the_dialog(window, project, monkeypatch, qtbot, tmp_path):
    path, ids = project
    damaged = _damage(path, lambda f: f.__delitem__("history"))
    monkeypatch.setattr(dialogs, "save_project_path", lambda _p: tmp_path / "gone" / "x.mgp")

    def act(dialog):
        qtbot.mouseClick(dialog.repair_button, Qt.LeftButton)
        status = dialog.findChild(QtWidgets.QLabel, "status")
        qtbot.waitUntil(lambda: "folder does not exist" in status.text(), timeout=5000)
        qtbot.mouseClick(dialog.cancel_button, Qt.LeftButton)

    _drive(monkeypatch, act)
    window.open_paths([damaged])
    assert window.session is None


def test_a_healthy_project_opens_without_repair_mode(window, project, monkeypatch):
    path, _ = project
    seen = _drive(monkeypatch, lambda d: None)
    window.open_paths([path])
    assert not seen and window.session.project.path == path


def test_unattended_runs_print_the_problems_and_open_nothing(window, project, capsys):
    path, ids = project
    damaged = _damage(path, lambda f: f["masks"].__delitem__(ids[0]))
    dialogs.set_unattended(True)
    try:
        window.open_paths([damaged])
    finally:
        dialogs.set_unattended(False)
    assert window.session is None
    err = capsys.readouterr().err
    assert "Damaged project" in err and "img0.tif" in err
