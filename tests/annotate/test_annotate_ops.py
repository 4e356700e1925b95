"""Every editing operation: what it changes and the rectangle it reports."""

from __future__ import annotations

import numpy as np

from matlab_gui.annotate import Editor, Rect
from matlab_gui.annotate.classes import deletion_mapping, remap
from matlab_gui.annotate.rect import bounding
from matlab_gui.annotate.regions import superpixels
from matlab_gui.annotate.render import colorize, outline, palette


def changed_rect(a: np.ndarray, b: np.ndarray) -> Rect:
    return bounding(a != b)


def test_dab_is_a_disc_and_rect_covers_exactly_the_change():
    ed = Editor(np.zeros((50, 60), np.uint8))
    before = ed.mask.copy()
    rect = ed.begin_stroke(20.5, 30.5, 3, 2)
    ed.end_stroke()
    yy, xx = np.mgrid[:50, :60]
    expected = (yy + 0.5 - 20.5) ** 2 + (xx + 0.5 - 30.5) ** 2 <= 9
    assert np.array_equal(ed.mask == 2, expected)
    assert rect == changed_rect(before, ed.mask) == Rect(18 - 1, 28 - 1, 24, 34)


def test_stroke_interpolates_between_positions_without_gaps():
    ed = Editor(np.zeros((40, 100), np.uint8))
    ed.begin_stroke(20, 5, 2, 1)
    ed.stroke_to(20, 90)
    ed.end_stroke()
    assert ed.mask[20, 5:90].all() and ed.mask[:17].sum() == 0


def test_eraser_is_value_zero_and_clipped_at_edges():
    ed = Editor(np.ones((10, 10), np.uint8))
    rect = ed.begin_stroke(0, 0, 3, 0)
    ed.end_stroke()
    assert rect.y0 == 0 and rect.x0 == 0 and ed.mask[0, 0] == 0 and ed.mask[9, 9] == 1


def test_fill_selects_a_grain_within_tolerance():
    img = np.full((40, 40), 1000, np.uint16)
    img[10:20, 5:15] = 3000
    img[12, 7] = 3040  # within tolerance
    ed = Editor(np.zeros((40, 40), np.uint8))
    rect = ed.fill(img, 15, 10, 100, 3)
    assert rect == Rect(10, 5, 20, 15)
    assert np.array_equal(ed.mask == 3, img >= 3000)


def test_fill_on_rgb_uses_grey_levels():
    img = np.zeros((20, 20, 3), np.uint8)
    img[5:10, 5:10] = 200
    ed = Editor(np.zeros((20, 20), np.uint8))
    assert ed.fill(img, 7, 7, 10, 1) == Rect(5, 5, 10, 10)


def test_polygon_fill():
    ed = Editor(np.zeros((30, 30), np.uint8))
    rect = ed.polygon([(5, 5), (5, 20), (20, 20), (20, 5)], 4)
    assert rect == Rect(5, 5, 21, 21) and (ed.mask == 4).sum() == 16 * 16


def test_superpixel_click_fills_one_segment():
    img = np.zeros((64, 64), np.uint8)
    img[:, 32:] = 255
    sp = superpixels(img, 0, 255, n_segments=4, compactness=0.01)
    ed = Editor(np.zeros((64, 64), np.uint8))
    rect = ed.superpixel(sp, 10, 50, 2)
    painted = ed.mask == 2
    assert painted[10, 50] and np.array_equal(painted, sp.labels == sp.labels[10, 50])
    assert rect == bounding(painted)


def test_superpixels_of_a_large_image_are_computed_downscaled_with_full_size_labels():
    img = np.random.default_rng(0).integers(0, 65535, (3000, 1000), dtype=np.uint16)
    sp = superpixels(img, 0, 65535, n_segments=50, max_side=500)
    assert sp.labels.shape == img.shape and sp.labels.min() >= 1


def test_remap_delete_and_reorder():
    mask = np.array([[0, 1, 2, 3]], np.uint8)
    assert remap(mask, deletion_mapping(2, 3)).tolist() == [[0, 1, 0, 2]]
    assert remap(mask, {1: 2, 2: 1}).tolist() == [[0, 2, 1, 3]]
    ed = Editor(mask.copy())
    ed.polygon([(-1, -1), (-1, 1.5), (2, 1.5), (2, -1)], 3)  # pixels 0 and 1 -> class 3
    assert ed.mask.tolist() == [[3, 3, 2, 3]]
    assert ed.remap(deletion_mapping(1, 3)) == Rect(0, 0, 1, 4)
    assert ed.mask.tolist() == [[2, 2, 1, 2]]
    ed.undo()  # the stroke's undo restores the phases it covered, renumbered too
    assert ed.mask.tolist() == [[0, 0, 1, 2]]
    ed.redo()
    assert ed.mask.tolist() == [[2, 2, 1, 2]]


def test_pick_class_under_cursor():
    ed = Editor(np.array([[0, 5]], np.uint8))
    assert ed.class_at(0, 1) == 5 and ed.class_at(0, 0) == 0 and ed.class_at(3, 3) is None


def test_nothing_changed_returns_none_and_records_no_step():
    ed = Editor(np.ones((10, 10), np.uint8))
    ed.begin_stroke(5, 5, 2, 1)
    assert ed.end_stroke() is None and ed.undo() is None


def test_colorize_and_outline():
    mask = np.zeros((10, 10), np.uint8)
    mask[2:8, 2:8] = 1
    lut = palette({1: (255, 0, 0)})
    rgba = colorize(mask, Rect(0, 0, 10, 10), lut)
    assert tuple(rgba[5, 5]) == (255, 0, 0, 255) and rgba[0, 0, 3] == 0
    edge = outline(mask, Rect(0, 0, 10, 10))
    assert edge[2, 5] and not edge[5, 5] and not edge[0, 0]
    crop = colorize(mask, Rect(4, 4, 6, 6), lut, outline_only=True)
    assert crop[..., 3].sum() == 0  # interior only: no edge there
