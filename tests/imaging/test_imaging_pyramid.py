"""The display pyramid: each level is the image averaged over 2^k x 2^k blocks, built on demand."""

from __future__ import annotations

import numpy as np
import pytest

from matlab_gui.imaging.pyramid import DisplayPyramid, halve, level_for
from matlab_gui.progress import Cancelled, CancelToken


def _block_mean(a: np.ndarray, s: int) -> np.ndarray:
    h, w = a.shape[:2]
    return a.reshape(h // s, s, w // s, s, *a.shape[2:]).mean(axis=(1, 3))


def test_halving_an_even_image_averages_2x2_blocks_in_its_dtype():
    a = np.random.default_rng(0).integers(0, 65536, (64, 80), dtype=np.uint16)
    half = halve(a)
    assert half.dtype == np.uint16 and half.shape == (32, 40)
    assert np.abs(half - _block_mean(a.astype(np.float64), 2)).max() <= 0.5


def test_halving_an_odd_image_keeps_its_edge_and_its_mean():
    a = np.zeros((7, 9), np.float32)
    a[:, -1] = 1.0  # a bright last column must still show at the right edge
    half = halve(a)
    assert half.shape == (4, 5)
    assert half[:, -1].min() > 0.4 and half[:, :-1].max() < 0.5
    assert half.mean() == pytest.approx(a.mean(), abs=0.05)


def test_level_k_is_the_mean_over_2_to_the_k_blocks():
    a = np.random.default_rng(1).random((256, 384)).astype(np.float32) * 1000
    p = DisplayPyramid(a)
    level = p.build(3)
    assert level.shape == p.shape(3) == (32, 48)
    assert np.allclose(level, _block_mean(a.astype(np.float64), 8), atol=1e-3)


def test_colour_and_many_channel_images_keep_their_channels():
    rgb = np.random.default_rng(2).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert np.abs(halve(rgb).astype(float) - _block_mean(rgb.astype(float), 2)).max() <= 0.5
    stack = np.random.default_rng(3).random((20, 30, 6)).astype(np.float32)
    assert np.allclose(halve(stack), _block_mean(stack, 2), atol=1e-6)
    assert halve(np.ones((4, 4), bool)).dtype == np.float32  # a dtype OpenCV cannot average


@pytest.mark.parametrize(
    ("image_px_per_screen_px", "level"),
    [(0.25, 0), (1.0, 0), (1.99, 0), (2.0, 1), (3.99, 1), (10.5, 3), (1e9, 8), (float("nan"), 0)],
)
def test_the_level_for_a_zoom_has_at_least_one_pixel_per_screen_pixel(image_px_per_screen_px, level):
    assert DisplayPyramid(np.zeros((8000, 8000), np.uint8)).count == 9  # 8000 … 63, 32
    assert level_for(image_px_per_screen_px, 9) == level


def test_levels_are_built_once_on_demand_and_the_base_is_never_copied():
    a = np.zeros((300, 500), np.uint16)
    p = DisplayPyramid(a)
    assert p.ready(0) is a and p.ready(1) is None
    two = p.build(2)
    assert p.ready(1) is not None and p.ready(2) is two and p.ready(3) is None
    p.build(4)
    assert p.ready(2) is two  # the levels below were reused, not rebuilt
    assert p.build(99) is p.ready(p.count - 1)


def test_the_preview_has_the_shape_of_its_level_and_costs_no_averaging():
    a = np.arange(137 * 151, dtype=np.uint16).reshape(137, 151)
    p = DisplayPyramid(a)
    assert p.preview(2).shape == p.build(2).shape
    assert np.array_equal(p.preview(2), a[::4, ::4])
    assert np.array_equal(p.preview(2, (3, 5, 35, 38)), a[::4, ::4][3:35, 5:38])  # a part of it


def test_a_cancelled_build_stores_no_level():
    p = DisplayPyramid(np.zeros((256, 256), np.uint8))
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        p.build(3, token)
    assert p.ready(1) is None


def test_the_work_of_a_level_is_what_its_build_would_read():
    p = DisplayPyramid(np.zeros((1000, 600), np.uint8))
    assert p.work(0) == 0 and p.work(3) == 1000 * 600
    p.build(2)
    assert p.work(2) == 0 and p.work(5) == 250 * 150  # from level 2, not from the image
