"""Opening, saving and reopening; 16-bit contrast; unreadable files; the screenshot command."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from matlab_gui.gui import dialogs


def test_save_close_reopen_shows_the_same_state(
    mouse, qtbot, window, grain_image, tmp_path, monkeypatch
):
    from matlab_gui.gui.main_window import MainWindow

    window.open_paths([grain_image[0]])
    window.canvas.fit()
    window.palette.select(2)
    mouse.drag(window.canvas, [(30, 30), (60, 100)])
    window.label_selected(1)
    window.options.opacity.setValue(70)
    window.levels.set_levels(10, 220, 1.5)
    window._levels_changed(10, 220, 1.5)
    mask = window.session.editor.mask.copy()
    target = tmp_path / "labels"
    monkeypatch.setattr(dialogs, "save_project_path", lambda _p: target.with_suffix(".mgp"))
    assert window.save()  # untitled: asks for a path
    assert not window.windowTitle().startswith("labels.mgp*")
    window.close()

    again = MainWindow()
    qtbot.addWidget(again)
    again.show()
    again.open_paths([target.with_suffix(".mgp")])
    s = again.session
    assert s.editor.mask.tobytes() == mask.tobytes()
    assert s.project.get_label(s.image_id) == 1
    assert again.options.opacity.value() == 70
    assert again.levels.levels() == (10, 220, 1.5)
    assert again.palette.current == 2
    assert "labels.mgp" in again.windowTitle() and "*" not in again.windowTitle()
    again.close()


def test_16bit_tiff_shows_a_sensible_contrast(mouse, window, tmp_path):
    rng = np.random.default_rng(0)
    data = (1000 + 3000 * rng.random((300, 400))).astype(np.uint16)  # uses 5 % of the range
    path = tmp_path / "sem16.tif"
    tifffile.imwrite(path, data)
    window.open_paths([path])
    lo, hi = window.canvas.image_item.getLevels()
    assert 1000 <= lo < 1200 and 3800 < hi <= 4000
    window.canvas.image_item.render()
    shown = window.canvas.image_item.qimage
    grey = np.asarray(shown.convertToFormat(shown.Format.Format_Grayscale8).constBits()).reshape(
        shown.height(), -1
    )
    assert grey.min() < 20 and grey.max() > 235 and window.session.image.dtype == np.uint16


def test_corrupt_file_gives_a_dialog_and_the_others_open(
    mouse, window, grain_image, tmp_path, messages, monkeypatch
):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"II*\x00 this is not a tiff")
    good2 = tmp_path / "second.tif"
    tifffile.imwrite(good2, grain_image[1])
    monkeypatch.setattr(dialogs, "image_paths", lambda _p: [grain_image[0], bad, good2])
    window.actions["open_images"].trigger()
    names = [window.session.project.record(i).name for i in window.session.project.image_ids]
    assert names == ["grain.tif", "second.tif"]
    warnings = [m for kind, _, m in messages if kind == "warning"]
    assert len(warnings) == 1 and "broken.tif" in warnings[0]


def test_export_and_import_masks_round_trip(mouse, window, grain_image, tmp_path, monkeypatch):
    window.open_paths([grain_image[0]])
    window.set_tool("fill")
    mouse.click(window.canvas, 55, 80)
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(dialogs, "choice", lambda *a: "Class-index PNG")
    monkeypatch.setattr(dialogs, "folder", lambda *a: out)
    window.actions["export"].trigger()
    assert (out / "grain.png").is_file()
    window.router.undo()
    assert not window.session.editor.mask.any()
    from matlab_gui.gui.mask_import_dialog import MaskImportDialog

    def preview(dialog):  # the preview (tests/gui/test_gui_mask_import.py): accept it
        if dialog.plan.needs_zero_choice:
            dialog.zero_unlabelled.click()
        dialog.import_button.click()
        return dialog.result()

    monkeypatch.setattr(MaskImportDialog, "exec", preview)
    window.actions["import"].trigger()
    assert np.array_equal(window.session.editor.mask == 1, grain_image[1] == 200)


def test_screenshot_command(mouse, tmp_path, grain_image, qapp):
    from matlab_gui.gui.app import run_gui

    out = tmp_path / "shot.png"
    assert run_gui([str(grain_image[0])], screenshot=str(out), size="800x600") == 0
    assert out.stat().st_size > 10_000


def test_autosave_runs_in_the_background_and_clears_the_dirty_marker(
    mouse, qtbot, window, grain_image, tmp_path
):
    window.open_paths([grain_image[0]])
    assert window.save_as(tmp_path / "auto.mgp")
    mouse.drag(window.canvas, [(30, 30), (60, 100)])
    assert "*" in window.windowTitle()
    window._autosave_now()
    qtbot.waitUntil(
        lambda: not window.session.saving and "*" not in window.windowTitle(), timeout=10_000
    )
    from matlab_gui.project import Project

    with Project.open(tmp_path / "auto.mgp") as p:
        assert p.get_mask(p.image_ids[0]).tobytes() == window.session.editor.mask.tobytes()


def test_untitled_project_is_discarded_with_its_folder(window, grain_image):
    window.open_paths([grain_image[0]])
    folder = window.session.project.path.parent
    assert folder.is_dir()
    assert window.close_session()  # the fixture answers Discard
    assert not folder.exists()


def test_closing_after_only_panning_saves_the_view_without_asking(
    mouse, qtbot, window, grain_image, tmp_path, messages
):
    window.open_paths([grain_image[0]])
    assert window.save_as(tmp_path / "view.mgp")
    window.canvas.set_view_rect([10.0, 50.0, 10.0, 40.0])
    assert window.close_session()
    assert not [m for kind, _, m in messages if kind == "question"]
    from matlab_gui.project import Project

    with Project.open(tmp_path / "view.mgp") as p:
        assert p.settings["views"][p.image_ids[0]][0] == pytest.approx(10.0, abs=15)


def test_window_carries_the_app_icon(window):
    """The taskbar / window-switcher icon (also the .desktop entry's) is the bundled one."""
    from PySide6 import QtWidgets

    icon = QtWidgets.QApplication.instance().windowIcon()
    assert not icon.isNull() and not window.windowIcon().isNull()
    assert QtWidgets.QApplication.instance().desktopFileName() == "matlab-gui"
