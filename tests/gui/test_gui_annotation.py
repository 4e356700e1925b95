"""Painting with the real widgets: brush, fill, polygon, undo/redo, classes, image labels."""

from __future__ import annotations

import numpy as np
from PySide6 import QtCore, QtTest

Qt = QtCore.Qt


def capsule(shape, p0, p1, r):
    """Pixels whose centres lie within r of segment p0-p1 (independent of annotate/)."""
    yy, xx = np.mgrid[: shape[0], : shape[1]] + 0.5
    (y0, x0), (y1, x1) = p0, p1
    dy, dx = y1 - y0, x1 - x0
    t = np.clip(((yy - y0) * dy + (xx - x0) * dx) / max(dy * dy + dx * dx, 1e-12), 0, 1)
    return (yy - y0 - t * dy) ** 2 + (xx - x0 - t * dx) ** 2 <= r * r


def open_grain(window, grain_image):
    window.open_paths([grain_image[0]])
    window.canvas.fit()
    return window.session


def test_brush_stroke_changes_exactly_the_expected_pixels(mouse, window, grain_image):
    s = open_grain(window, grain_image)
    window.options.brush.setValue(5)
    window.palette.select(2)
    seen = mouse.drag(window.canvas, [(30, 20), (35, 60), (40, 100)])
    expected = capsule(s.editor.mask.shape, seen[0], seen[1], 5) | capsule(
        s.editor.mask.shape, seen[1], seen[2], 5
    )
    assert np.array_equal(s.editor.mask == 2, expected)
    assert (s.editor.mask != 0).sum() == expected.sum()
    assert window.windowTitle().startswith("untitled*")
    # the overlay shows it: the tile covering the stroke has the class colour
    item, rgba = window.canvas.overlay._tiles[(0, 0)]
    assert tuple(rgba[35, 60, :3]) == s.project.classes[1].color


def test_eraser_and_brush_size_keys(mouse, window, grain_image):
    s = open_grain(window, grain_image)
    window.options.brush.setValue(8)
    QtTest.QTest.keyClick(window, Qt.Key_BracketRight)
    assert window.options.brush.value() == 10 and window.canvas.brush_radius == 10
    mouse.drag(window.canvas, [(60, 80), (60, 81)])
    painted = (s.editor.mask == 1).sum()
    QtTest.QTest.keyClick(window, Qt.Key_E)
    assert window.router.tool == "eraser"
    mouse.drag(window.canvas, [(60, 80), (60, 81)])
    assert (s.editor.mask == 1).sum() < painted


def test_fill_fills_the_grain(mouse, window, grain_image):
    s = open_grain(window, grain_image)
    window.set_tool("fill")
    mouse.click(window.canvas, 55, 80)
    assert np.array_equal(s.editor.mask == 1, grain_image[1] == 200)


def test_polygon_clicks_then_double_click(mouse, window, grain_image):
    s = open_grain(window, grain_image)
    window.set_tool("polygon")
    for y, x in [(10, 10), (10, 50), (50, 50)]:
        mouse.click(window.canvas, y, x)
    QtTest.QTest.mouseDClick(
        window.canvas.viewport(),
        Qt.LeftButton,
        Qt.NoModifier,
        mouse.widget_pos(window.canvas, 50, 10),
    )
    assert 1500 < (s.editor.mask == 1).sum() < 1800  # the ~41 x 41 square


def test_undo_redo_restore_byte_identical_masks(mouse, window, grain_image):
    s = open_grain(window, grain_image)
    states = [s.editor.mask.copy()]
    for k in range(3):
        mouse.drag(window.canvas, [(20 + 30 * k, 20), (20 + 30 * k, 140)])
        states.append(s.editor.mask.copy())
    window.canvas.setFocus()
    for state in reversed(states[:-1]):
        QtTest.QTest.keyClick(window.canvas, Qt.Key_Z, Qt.ControlModifier)
        assert s.editor.mask.tobytes() == state.tobytes()
    for state in states[1:]:
        QtTest.QTest.keyClick(window.canvas, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
        assert s.editor.mask.tobytes() == state.tobytes()
    # the overlay follows: undo everything and no tile shows a colour
    for _ in range(3):
        window.router.undo()
    assert all(rgba[..., 3].max() == 0 for _, rgba in window.canvas.overlay._tiles.values())


def test_picker_and_number_keys_choose_the_class(mouse, window, grain_image):
    s = open_grain(window, grain_image)
    QtTest.QTest.keyClick(window, Qt.Key_2)
    assert window.router.value == 2
    window.set_tool("fill")
    mouse.click(window.canvas, 55, 80)
    QtTest.QTest.keyClick(window, Qt.Key_1)
    window.set_tool("picker")
    mouse.click(window.canvas, 55, 80)
    assert window.router.value == 2 and s.editor.mask[55, 80] == 2


def test_label_several_images_at_once(mouse, window, grain_image, tmp_path):
    import tifffile

    other = tmp_path / "other.tif"
    tifffile.imwrite(other, grain_image[1])
    window.open_paths([grain_image[0], other])
    window.images.selectAll()
    window.palette.select(2)
    QtTest.QTest.keyClick(window, Qt.Key_L)
    p = window.session.project
    assert [p.get_label(i) for i in p.image_ids] == [2, 2]
    assert "class: Phase 2" in window.images.item(1).text()


def test_delete_class_unlabels_its_pixels_and_shifts_the_rest(mouse, window, grain_image, messages):
    s = open_grain(window, grain_image)
    window.palette.select(2)
    window.set_tool("fill")
    mouse.click(window.canvas, 55, 80)
    window.delete_class(1)
    assert any("become unlabelled" in m for _, _, m in messages)
    assert [c.name for c in s.project.classes] == ["Phase 2"] and s.project.classes[0].index == 1
    assert np.array_equal(s.editor.mask == 1, grain_image[1] == 200)


def test_superpixels_are_computed_in_the_background_and_one_click_labels_one(
    mouse, qtbot, window, grain_image
):
    s = open_grain(window, grain_image)
    window.set_tool("superpixel")
    qtbot.waitUntil(lambda: window.router.superpixels is not None, timeout=10_000)
    assert window.canvas.guides.tile_count > 0  # their edges are shown
    mouse.click(window.canvas, 55, 80)
    sp = window.router.superpixels
    assert np.array_equal(s.editor.mask == 1, sp.labels == sp.labels[55, 80])
    window.set_tool("brush")
    assert window.canvas.guides.tile_count == 0
