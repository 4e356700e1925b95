"""Smart click in the real window: a click previews a region, Enter paints it, Esc drops it."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtTest

Qt = QtCore.Qt


def shown(window) -> np.ndarray:
    """The previewed region as a mask of the whole image."""
    rect, region = window.canvas.preview
    out = np.zeros(window.session.editor.mask.shape, bool)
    out[rect.slices] = region
    return out


def preview_after_click(qtbot, mouse, window, grain_image, y=55, x=80):
    window.open_paths([grain_image[0]])
    window.canvas.fit()
    window.set_tool("smart")
    window.palette.select(2)
    mouse.click(window.canvas, y, x)
    qtbot.waitUntil(lambda: window.canvas.preview is not None, timeout=5000)
    return window.session


def test_a_click_shows_the_grain_as_a_preview_and_leaves_the_mask(qtbot, mouse, window, grain_image):
    s = preview_after_click(qtbot, mouse, window, grain_image)
    grain = grain_image[1] == 200
    assert (shown(window) ^ grain).sum() <= 8  # the grain, give or take its corner pixels
    assert window.canvas.preview_item.isVisible()
    assert not s.editor.mask.any()
    assert "Enter accepts, Esc discards" in window.statusBar().currentMessage()


def test_enter_paints_the_region_in_the_current_class_as_one_undo_step(
    qtbot, mouse, window, grain_image
):
    s = preview_after_click(qtbot, mouse, window, grain_image)
    region = shown(window)
    QtTest.QTest.keyClick(window.canvas, Qt.Key_Return)
    assert np.array_equal(s.editor.mask == 2, region) and (s.editor.mask != 0).sum() > 1100
    assert window.canvas.preview is None and not window.canvas.preview_item.isVisible()
    QtTest.QTest.keyClick(window.canvas, Qt.Key_Z, Qt.ControlModifier)
    assert not s.editor.mask.any()


def test_escape_discards_the_preview(qtbot, mouse, window, grain_image):
    s = preview_after_click(qtbot, mouse, window, grain_image)
    QtTest.QTest.keyClick(window.canvas, Qt.Key_Escape)
    assert window.canvas.preview is None and not window.canvas.preview_item.isVisible()
    QtTest.QTest.keyClick(window.canvas, Qt.Key_Return)
    assert not s.editor.mask.any()


def test_a_dragged_box_previews_the_grain_in_it(qtbot, mouse, window, grain_image):
    s = preview_after_click(qtbot, mouse, window, grain_image, 10, 10)  # matrix first
    mouse.drag(window.canvas, [(35, 55), (50, 80), (75, 105)])
    grain = grain_image[1] == 200
    qtbot.waitUntil(lambda: (shown(window) ^ grain).sum() <= 8, timeout=5000)
    assert not s.editor.mask.any()
