"""The window as one state model: undo per image across switches, panels that follow the open
project, open/new/quit asking in the right order, images embedded, removable and not doubled,
the recent list, the View and Help menus, and a layout that is remembered."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import tifffile
from PySide6 import QtCore, QtTest, QtWidgets

from matlab_gui.gui import dialogs, menus
from matlab_gui.project import ClassDef, Project

Qt = QtCore.Qt


@pytest.fixture
def two_images(tmp_path, grain_image):
    second = tmp_path / "second.tif"
    tifffile.imwrite(second, 255 - grain_image[1])
    return [grain_image[0], second]


def _saved_project(path, n=1):
    with Project.create(path, [ClassDef(1, "a", (255, 0, 0)), ClassDef(2, "b", (0, 255, 0))]) as p:
        for k in range(n):
            p.add_image(f"img{k}.tif", data=np.full((40, 50), 60 * k + 10, np.uint8))
        p.save()


def test_undo_still_works_after_paging_to_the_next_image_and_back(window, mouse, two_images,
                                                                  qtbot):
    window.open_paths(two_images)
    window.canvas.fit()
    s = window.session
    first = s.image_id
    mouse.drag(window.canvas, [(20, 20), (20, 60)])
    assert s.editor.mask.any()
    QtTest.QTest.keyClick(window, Qt.Key_PageDown)
    qtbot.waitUntil(lambda: s.image_id != first)  # after an autosave that may still run
    QtTest.QTest.keyClick(window, Qt.Key_PageUp)
    qtbot.waitUntil(lambda: s.image_id == first)
    assert s.editor.mask.any()
    QtTest.QTest.keyClick(window, Qt.Key_Z, Qt.ControlModifier)
    assert not s.editor.mask.any()
    assert not window.canvas.overlay.mask.any()


def test_deleting_a_class_keeps_undo_meaningful(window, mouse, grain_image, messages):
    window.open_paths([grain_image[0]])
    window.canvas.fit()
    s = window.session
    window.palette.select(2)
    mouse.drag(window.canvas, [(20, 20), (20, 60)])
    window.delete_class(1)  # Phase 2 becomes class 1
    assert set(np.unique(s.editor.mask)) == {0, 1}
    window.router.undo()
    assert not s.editor.mask.any()
    window.router.redo()
    assert set(np.unique(s.editor.mask)) == {0, 1}


def test_images_are_embedded_unless_added_by_reference(window, grain_image, two_images, monkeypatch):
    window.open_paths([grain_image[0]])
    p = window.session.project
    assert p.record(p.image_ids[0]).embedded
    monkeypatch.setattr(dialogs, "image_paths", lambda _p: [two_images[1]])
    window.actions["add_referenced"].trigger()
    assert [p.record(i).embedded for i in p.image_ids] == [True, False]


def test_the_same_file_added_twice_is_one_image(window, grain_image):
    window.open_paths([grain_image[0]])
    window.open_paths([grain_image[0]])
    assert len(window.session.project.image_ids) == 1
    assert window.images.count() == 1
    assert "Already in the project" in window.statusBar().currentMessage()


def test_remove_selected_images(window, two_images, messages):
    window.open_paths(two_images)
    p = window.session.project
    first, second = p.image_ids
    window.images.select_id(first)
    window.actions["remove_images"].trigger()
    assert p.image_ids == [second] and window.images.count() == 1
    assert window.session.image_id == second
    assert any(kind == "question" and "Remove 1 image" in text for kind, _, text in messages)


def test_a_failed_open_keeps_the_current_project(window, grain_image, tmp_path, messages):
    window.open_paths([grain_image[0]])
    before = window.session
    broken = tmp_path / "broken.mgp"
    broken.write_bytes(b"not an hdf5 file")
    window.open_project(broken)
    assert window.session is before and window.session.image is not None
    assert any(kind == "critical" for kind, _, _ in messages)


def test_new_project_asks_about_unsaved_work_before_the_file_name(
        window, mouse, grain_image, tmp_path, monkeypatch):
    window.open_paths([grain_image[0]])
    window.canvas.fit()
    mouse.drag(window.canvas, [(20, 20), (20, 60)])
    order = []
    monkeypatch.setattr(dialogs, "ask_save", lambda *_: order.append("save?") or "discard")
    monkeypatch.setattr(dialogs, "save_project_path",
                        lambda *_: order.append("where?") or tmp_path / "new.mgp")
    window.actions["new"].trigger()
    assert order == ["save?", "where?"]
    assert window.session.project.path == tmp_path / "new.mgp"


def test_quitting_an_untouched_sample_asks_nothing(window, monkeypatch):
    asked = []
    monkeypatch.setattr(dialogs, "ask_save", lambda *_: asked.append(1) or "discard")
    window.open_sample()
    assert window.session.project.image_ids
    assert window.close_session()
    assert asked == []


def test_the_panels_follow_the_open_project(window, grain_image, tmp_path, qtbot, monkeypatch):
    window.open_paths([grain_image[0]])
    s = window.session
    monkeypatch.setattr(dialogs, "pixel_size", lambda *_: 1e-6)
    window.actions["pixel_size"].trigger()
    assert window.canvas.scale_bar.isVisible()
    s.editor.mask[40:70, 60:100] = 1
    panel = window.model_features.measurements
    with qtbot.waitSignal(panel.worker.finished, timeout=10000):
        panel.measure.click()
    assert panel.table.rowCount() > 0
    window.model_features.training_panel.status.setText("Epoch 3 of 9")
    assert window.close_session()
    assert len(window.levels.curve.getData()[0] or []) == 0
    assert not window.canvas.scale_bar.isVisible()
    other = tmp_path / "other.mgp"
    _saved_project(other)
    window.open_project(other)
    assert panel.table.rowCount() == 0 and not panel.export.isEnabled()
    assert window.model_features.training_panel.status.text() == "No training yet."


def test_hover_does_not_wait_for_a_save(window, grain_image):
    """The status readout of the pixel under the cursor comes from the session's copy of the
    image record, so it runs while a save holds the project's lock."""
    window.open_paths([grain_image[0]])
    project = window.session.project
    held, release = threading.Event(), threading.Event()

    def save_in_progress():
        with project._lock:
            held.set()
            release.wait(10)

    saver = threading.Thread(target=save_in_progress)
    saver.start()
    held.wait(5)
    try:
        window.canvas.hovered.emit(50.0, 70.0)
        assert saver.is_alive(), "hover waited until the save let go of the project"
    finally:
        release.set()
        saver.join()


def test_a_new_batch_run_starts_with_an_empty_table(window):
    from matlab_gui.gui.batch_results import Table

    results = window.model_features.batch_results
    results.set_table(Table(["file", "predicted", "error"], [["a.tif", "x", ""]], ["x"], ["x"]))
    assert results.model.rowCount() == 1
    results.start("Segment /data → /out")
    results.stop("Cancelled; the rows done so far are in the CSV.")
    assert results.model.rowCount() == 0 and not results.export.isEnabled()


def test_recent_files_survive_a_second_launch(window, tmp_path):
    path = tmp_path / "p.mgp"
    _saved_project(path)
    window.open_project(path)
    assert [a.text() for a in window.recent_menu.actions()] == [str(path.resolve())]
    # What the next process reads back from the settings file: a one-item list comes back as
    # a plain string (checked with two processes on this platform's INI settings)
    QtCore.QSettings().setValue(menus.RECENT_KEY, str(path.resolve()))
    from matlab_gui.gui.main_window import MainWindow

    again = MainWindow()  # the next start reads what this one wrote
    try:
        entries = [a.text() for a in again.recent_menu.actions()]
        assert entries == [str(path.resolve())]
    finally:
        again.close()


def test_view_menu_lists_every_dock_and_the_layout_is_remembered(window, qtbot):
    docks = window.findChildren(QtWidgets.QDockWidget)
    toggles = {a.text() for a in window.view_menu.actions()}
    assert {d.windowTitle() for d in docks} <= toggles
    assert {"Model", "Training", "Prediction", "Measurements", "Batch results"} <= toggles
    levels = next(d for d in docks if d.windowTitle() == "Levels")
    levels.hide()
    window.close()
    from matlab_gui.gui.main_window import MainWindow

    again = MainWindow()
    qtbot.addWidget(again)
    again.show()
    try:
        levels = next(d for d in again.findChildren(QtWidgets.QDockWidget)
                      if d.windowTitle() == "Levels")
        assert not levels.isVisible()
    finally:
        again.close()


def test_help_lists_the_shortcuts_and_tips_show_no_ampersand(window):
    keys = dict((text, key) for key, text in menus.shortcut_table(window))
    assert keys["Undo"] == "Ctrl+Z" and keys["Brush"] == "B"
    dialog = next(a for a in window.menuBar().actions() if a.text() == "&Help").menu().actions()[0]
    dialog.trigger()
    table = window.findChild(QtWidgets.QTableWidget, "shortcuts")
    assert table is not None and table.rowCount() >= len(keys)
    tips = [a.statusTip() for a in QtWidgets.QWidget.actions(window) if "&" in a.statusTip()]
    assert tips == []


def test_class_keys_work_after_typing_in_a_panel(window, mouse, grain_image, qtbot):
    """Typed a brush size, moved back onto the image, pressed 2: class 2, not a brush of 2."""
    from PySide6 import QtGui

    window.open_paths([grain_image[0]])
    window.canvas.fit()
    brush = window.options.brush
    brush.setFocus()
    qtbot.waitUntil(brush.hasFocus)
    size = brush.value()
    here = QtCore.QPointF(30, 30)
    QtWidgets.QApplication.sendEvent(window.canvas, QtGui.QEnterEvent(here, here, here))
    QtTest.QTest.keyClick(QtWidgets.QApplication.focusWidget(), Qt.Key_2)
    assert window.workbench.current_class == 2 and brush.value() == size


def test_equalised_and_clahe_views_from_the_levels_panel(window, grain_image, qtbot):
    """The Levels panel's Contrast list shows the image equalised or with CLAHE (computed in
    the background); the data stay as they were, and the choice is kept in the project."""
    from matlab_gui.imaging.display import clahe, equalised_view

    data = grain_image[1].astype(np.uint16) * 257  # 16-bit: the views are 8-bit
    data[:10] = 90 * 257  # a third grey level, so equalisation has something to spread
    tifffile.imwrite(grain_image[0], data)
    window.open_paths([grain_image[0]])
    s, combo = window.session, window.levels.contrast
    with qtbot.waitSignal(window.workers.contrast_ready, timeout=10000):
        combo.setCurrentIndex(combo.findData("clahe"))
    qtbot.waitUntil(lambda: window.canvas.image_item.image.dtype == np.uint8)
    assert np.array_equal(window.canvas.image_item.image, clahe(data))
    with qtbot.waitSignal(window.workers.contrast_ready, timeout=10000):
        combo.setCurrentIndex(combo.findData("equalised"))
    assert np.array_equal(window.canvas.image_item.image, equalised_view(data))
    assert np.array_equal(s.image, data) and s.project.settings["contrast"] == "equalised"
    combo.setCurrentIndex(combo.findData("linear"))
    assert window.canvas.image_item.image.dtype == np.uint16


def _crashed_untitled(tmp_path, monkeypatch, grain_image):
    """An untitled project autosaved with one image, left behind as a crash leaves it."""
    import tempfile

    from matlab_gui.workbench import Session

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    s = Session.untitled_project()
    s.project.add_image(grain_image[0])
    s.project.save()
    s.project.close()  # the process died: its lock is gone, the folder stays
    return s.project.path


def test_the_next_start_offers_to_recover_untitled_work(window, grain_image, tmp_path,
                                                        monkeypatch, messages):
    from matlab_gui.gui.app import _open

    path = _crashed_untitled(tmp_path, monkeypatch, grain_image)
    _open(window, [])  # a start without files: recovery first, else the sample
    s = window.session
    assert s.untitled and s.project.path == path and len(s.project.image_ids) == 1
    assert any(t == "Recover unsaved work" and "1 image" in m for _, t, m in messages)


def test_declined_recovery_discards_the_leftover(window, grain_image, tmp_path, monkeypatch):
    path = _crashed_untitled(tmp_path, monkeypatch, grain_image)
    monkeypatch.setattr(dialogs, "ask_yes", lambda *_: False)
    assert not window.offer_recovery()
    assert not path.parent.exists() and window.session is None


def test_relink_from_the_image_menu(window, grain_image, tmp_path, monkeypatch, messages):
    window.add_images([grain_image[0]], embed=False)
    moved = tmp_path / "moved"
    moved.mkdir()
    grain_image[0].rename(moved / grain_image[0].name)
    monkeypatch.setattr(dialogs, "folder", lambda *_: moved)
    window.actions["relink"].trigger()
    p = window.session.project
    assert p.missing_images() == [] and p.record(p.image_ids[0]).source_path.startswith(str(moved))
    assert any("Found 1 of 1" in m for _, _, m in messages)


def test_view_settings_have_one_home(window, mouse, grain_image, tmp_path):
    """Fill uses the tolerance the panel shows; [ ] and M change the panel too; a reopened
    project comes back with its brush, tolerance and overlay settings."""
    window.open_paths([grain_image[0]])
    o, wb = window.options, window.workbench
    assert o.tolerance.value() == pytest.approx(100 * window.router.tolerance)
    QtTest.QTest.keyClick(window, Qt.Key_BracketRight)
    assert o.brush.value() == wb.view["brush"] == window.router.radius == 12
    QtTest.QTest.keyClick(window, Qt.Key_M)
    assert not o.show_mask.isChecked() and not window.canvas.overlay.visible
    o.tolerance.setValue(20)
    o.opacity.setValue(80)
    assert wb.view["tolerance"] == pytest.approx(0.2) and wb.view["opacity"] == pytest.approx(0.8)
    path = tmp_path / "kept.mgp"
    window.save_as(path)
    window.close_session()
    wb.set_view(brush=3, tolerance=0.01)
    window.open_project(path)
    assert o.brush.value() == 12 and o.tolerance.value() == pytest.approx(20)
    assert not o.show_mask.isChecked() and o.opacity.value() == 80


def test_switching_images_and_levels_do_not_wait_for_a_save(window, two_images, qtbot):
    """A save that takes long (many embedded images): PgDown and the levels return at once;
    the switch happens when the save is done, and the levels reach the project then."""
    window.open_paths(two_images)
    s = window.session
    first, second = s.project.image_ids
    s.wait()
    release = threading.Event()
    real_save = s.project.save

    def slow_save(*a, **kw):
        release.wait(10)
        return real_save(*a, **kw)

    s.project.save = slow_save
    s.project.set_label(first, 1)  # something to save
    s.autosave()
    assert s.saving
    try:
        window.show_image(second)
        window._levels_changed(10.0, 20.0, 1.0)
        assert s.saving, "the window waited for the save"
        assert s.image_id == first and "Saving" in window.statusBar().currentMessage()
    finally:
        release.set()
    qtbot.waitUntil(lambda: s.image_id == second, timeout=10000)
    s.wait()
    s.flush()
    assert s.project.settings["levels"][first] == [10.0, 20.0, 1.0]


def test_the_first_stroke_marks_the_image_labelled_in_the_list(window, mouse, grain_image):
    window.open_paths([grain_image[0]])
    window.canvas.fit()
    assert "unlabelled" in window.images.item(0).text()
    mouse.drag(window.canvas, [(20, 20), (20, 60)])
    assert "labelled" in window.images.item(0).text()
    assert "unlabelled" not in window.images.item(0).text()
    assert window.windowTitle().startswith("untitled*")
