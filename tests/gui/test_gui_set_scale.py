"""Image > Set scale… and Find scale bar… in the real window: a line dragged over the bar and
its typed length calibrate this image, or every image of its size; the bar burned into an image
is found and measured for the dialog; nothing changes on Cancel or Esc."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import tifffile
from PySide6 import QtCore, QtTest

Qt = QtCore.Qt


@pytest.fixture
def three_images(tmp_path):
    """Two 120 x 160 images and one 160 x 120: paths in that order."""
    paths = []
    for k, shape in enumerate([(120, 160), (120, 160), (160, 120)]):
        data = np.full(shape, 40 + 30 * k, np.uint8)
        data[20:50, 30:70] = 200
        paths.append(tmp_path / f"img{k}.tif")
        tifffile.imwrite(paths[-1], data)
    return paths


def _pixel_sizes(window):
    p = window.session.project
    return [p.record(i).pixel_size_m for i in p.image_ids]


def _line_points(window) -> int:
    xs = window.canvas.path_item.getData()[0]
    return 0 if xs is None else len(xs)


def _draw_line(qtbot, mouse, window, y, x0, x1):
    """Set scale, then a drag from (y, x0) to (y, x1); returns the dialog and the line's length
    in image pixels as the canvas saw it."""
    window.canvas.fit()
    window.actions["set_scale"].trigger()
    seen = mouse.drag(window.canvas, [(y, x0), (y, (x0 + x1) / 2), (y, x1)])
    qtbot.waitUntil(lambda: window.scale.dialog is not None, timeout=3000)
    (ya, xa), (yb, xb) = seen[0], seen[-1]
    return window.scale.dialog, math.hypot(yb - ya, xb - xa)


def test_a_line_and_a_typed_length_set_the_pixel_size_of_the_image(
        qtbot, mouse, window, three_images):
    window.open_paths(three_images)
    window.images.select_id(window.session.project.image_ids[0])
    dialog, length = _draw_line(qtbot, mouse, window, 100, 20, 120)
    assert dialog.length_px == pytest.approx(length, abs=1e-6)
    assert 98 < length < 102 and _line_points(window) == 2  # the line stays shown
    dialog.set_length(10, "µm")
    assert "µm" in dialog.result.text() or "nm" in dialog.result.text()
    assert dialog.ok.isEnabled()
    dialog.ok.click()
    assert _pixel_sizes(window) == [pytest.approx(10e-6 / length), None, None]
    assert window.canvas.scale_bar.isVisible()
    assert window.canvas.scale_bar.pixel_size_m == pytest.approx(10e-6 / length)
    assert window.scale.dialog is None and _line_points(window) == 0
    assert "*" in window.windowTitle()


def test_all_images_of_the_same_size_get_it_and_no_others(qtbot, mouse, window, three_images):
    window.open_paths(three_images)
    window.images.select_id(window.session.project.image_ids[0])
    dialog, length = _draw_line(qtbot, mouse, window, 100, 30, 130)
    assert "All 160 × 120 images in the project (2)" in dialog.scopes["same_size"].text()
    dialog.set_length(500, "nm")
    dialog.scopes["same_size"].click()
    dialog.ok.click()
    expected = pytest.approx(500e-9 / length)
    assert _pixel_sizes(window) == [expected, expected, None]


def test_the_selected_images_get_it_whatever_their_size(qtbot, mouse, window, three_images):
    window.open_paths(three_images)
    ids = window.session.project.image_ids
    window.images.select_id(ids[0])
    for row in (0, 2):
        window.images.item(row).setSelected(True)
    dialog, length = _draw_line(qtbot, mouse, window, 100, 30, 130)
    assert dialog.scopes["selected"].text() == "The selected images (2)"
    dialog.set_length(2, "µm")
    dialog.scopes["selected"].click()
    dialog.ok.click()
    expected = pytest.approx(2e-6 / length)
    assert _pixel_sizes(window) == [expected, None, expected]


def test_the_pixel_size_shows_live_and_ok_waits_for_a_length(qtbot, mouse, window, three_images):
    window.open_paths(three_images[:1])
    dialog, length = _draw_line(qtbot, mouse, window, 60, 10, 110)
    assert not dialog.ok.isEnabled() and dialog.result.text() == "—"
    dialog.set_length(1, "mm")
    assert dialog.result.text() == f"<b>{1e-3 / length * 1e6:.4g} µm</b> per pixel"
    dialog.set_length(2, "nm")
    assert dialog.result.text().startswith(f"<b>{2e-9 / length * 1e9:.4g} nm")


def test_cancel_leaves_the_pixel_size_as_it_was(qtbot, mouse, window, three_images):
    window.open_paths(three_images)
    window.session.set_pixel_size(7e-9)
    dialog, _ = _draw_line(qtbot, mouse, window, 100, 20, 120)
    dialog.set_length(10, "µm")
    dialog.buttons.button(dialog.buttons.StandardButton.Cancel).click()
    assert window.session.project.record(window.session.image_id).pixel_size_m == 7e-9
    assert window.scale.dialog is None


def test_esc_stops_the_line_and_the_tool_gets_the_mouse_back(qtbot, mouse, window, three_images):
    window.open_paths(three_images[:1])
    window.canvas.fit()
    window.set_tool("brush")
    window.actions["set_scale"].trigger()
    assert window.router.gesture is not None
    QtTest.QTest.keyClick(window.canvas, Qt.Key_Escape)
    assert window.router.gesture is None
    mouse.drag(window.canvas, [(60, 20), (60, 100)])
    assert window.scale.dialog is None
    assert window.session.editor.mask.any()  # the drag painted: the brush has the mouse again
    assert window.session.project.record(window.session.image_id).pixel_size_m is None


def test_a_click_is_not_a_line(qtbot, mouse, window, three_images):
    window.open_paths(three_images[:1])
    window.canvas.fit()
    window.actions["set_scale"].trigger()
    mouse.click(window.canvas, 60, 60)
    assert window.scale.dialog is None and window.router.gesture is not None


def test_find_scale_bar_measures_the_bar_for_the_dialog(qtbot, window, tmp_path, scale_bar_image):
    image, _ = scale_bar_image(480, 640, 180, 6)
    tifffile.imwrite(tmp_path / "sem.tif", image)
    window.open_paths([tmp_path / "sem.tif"])
    with qtbot.waitSignal(window.scale.worker.finished, timeout=20000):
        window.actions["find_scale_bar"].trigger()
    dialog = window.scale.dialog
    assert dialog is not None and dialog.length_px == pytest.approx(180, rel=0.01)
    assert "Scale bar found: 18" in dialog.measured.text()
    assert window.canvas.highlight_item.isVisible()
    if shutil.which("tesseract"):  # OCR read the label: prefilled, for the user to confirm
        assert (dialog.value.value(), dialog.unit.currentText()) == (10, "µm")
        assert "reads “10 µm”" in dialog.read.text()
    else:
        dialog.set_length(10, "µm")
    dialog.ok.click()
    assert window.session.record.pixel_size_m == pytest.approx(10e-6 / 180, rel=0.01)
    assert not window.canvas.highlight_item.isVisible()


def test_find_scale_bar_without_ocr_asks_for_the_length(qtbot, window, tmp_path, scale_bar_image,
                                                        monkeypatch):
    from matlab_gui.imaging import scale_label

    monkeypatch.setattr(scale_label.shutil, "which", lambda _name: None)
    image, _ = scale_bar_image(480, 640, 150, 6, bright=False)
    tifffile.imwrite(tmp_path / "sem.tif", image)
    window.open_paths([tmp_path / "sem.tif"])
    with qtbot.waitSignal(window.scale.worker.finished, timeout=20000):
        window.actions["find_scale_bar"].trigger()
    dialog = window.scale.dialog
    assert dialog.length_px == pytest.approx(150, rel=0.01)
    assert dialog.value.value() == 0 and not dialog.ok.isEnabled()
    assert "install Tesseract" in dialog.read.text()


def test_no_bar_found_says_so_and_points_at_set_scale(qtbot, window, messages, three_images):
    window.open_paths(three_images[:1])
    with qtbot.waitSignal(window.scale.worker.finished, timeout=20000):
        window.actions["find_scale_bar"].trigger()
    assert window.scale.dialog is None
    assert messages and "No scale bar" in messages[-1][2] and "Set scale" in messages[-1][2]
