"""Smart click finds a particle's edge from the image alone, on any pixel type."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from matlab_gui.annotate import Editor
from matlab_gui.annotate.smart_region import smart_box_region, smart_region

SHAPE = (200, 240)


def disk(cy, cx, r, shape=SHAPE):
    yy, xx = np.mgrid[: shape[0], : shape[1]] + 0.5
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def as_mask(found, shape=SHAPE):
    rect, footprint = found
    out = np.zeros(shape, bool)
    out[rect.slices] = footprint
    return out


def edge_error(pred, truth):
    """Largest distance (px) from either outline to the other."""
    def outline(a):
        return a & ~ndimage.binary_erosion(a)
    to_truth = ndimage.distance_transform_edt(~outline(truth))
    to_pred = ndimage.distance_transform_edt(~outline(pred))
    return max(to_truth[outline(pred)].max(), to_pred[outline(truth)].max())


TRUTH = disk(100, 110, 30)
NOISE = np.random.default_rng(1).normal(0, 1, SHAPE)
IMAGES = {
    "uint8": np.where(TRUTH, 200, 40).astype(np.uint8),
    "uint8 noisy": np.clip(np.where(TRUTH, 170, 70) + 20 * NOISE, 0, 255).astype(np.uint8),
    "uint16 full range": np.where(TRUTH, 60000, 3000).astype(np.uint16),
    "uint16 1000-1400 noisy": (np.where(TRUTH, 1350, 1050) + 15 * NOISE).astype(np.uint16),
    "uint16 1000-1400 hot pixels": (np.where(TRUTH, 1350, 1050) + 15 * NOISE).astype(np.uint16),
    "float": np.where(TRUTH, 0.8, 0.1).astype(np.float32),
    "float with NaN": np.where(TRUTH, 0.8, 0.1).astype(np.float32),
    "rgb": np.stack([np.where(TRUTH, 200, 40)] * 3, -1).astype(np.uint8),
}

IMAGES["uint16 1000-1400 hot pixels"][::23, ::19] = 65535  # a camera's stuck pixels
IMAGES["float with NaN"][5, 5] = np.nan


@pytest.mark.parametrize("kind", IMAGES)
def test_a_click_fills_the_disk_to_its_edge(kind):
    found = as_mask(smart_region(IMAGES[kind], (100, 110)))
    assert edge_error(found, TRUTH) <= 2
    assert (found ^ TRUTH).sum() < 0.03 * TRUTH.sum()


@pytest.mark.parametrize("kind", ["uint8 noisy", "uint16 1000-1400 noisy", "uint16 1000-1400 hot pixels"])
def test_a_box_around_the_disk_fills_it(kind):
    found = as_mask(smart_box_region(IMAGES[kind], (62, 72, 138, 148)))
    assert edge_error(found, TRUTH) <= 2


def test_a_speck_under_the_pointer_still_selects_the_particle_around_it():
    image = np.clip(np.where(TRUTH, 60, 200) + 10 * NOISE, 0, 255).astype(np.uint8)
    image[99:102, 109:112] = 200  # a bright dot inside the dark particle, clicked
    found = as_mask(smart_region(image, (100, 110)))
    assert edge_error(found, TRUTH) <= 2


def test_a_touching_particle_of_another_brightness_stays_out():
    other = disk(100, 170, 30)
    image = np.clip(np.where(TRUTH, 200, np.where(other, 120, 40)) + 10 * NOISE, 0, 255)
    found = as_mask(smart_region(image.astype(np.uint8), (100, 110)))
    assert edge_error(found, TRUTH) <= 2
    assert not (found & other).any()


def test_a_touching_particle_of_the_same_brightness_is_mostly_left_out():
    other = disk(100, 170, 30)
    image = np.clip(np.where(TRUTH | other, 200, 40) + 10 * NOISE, 0, 255).astype(np.uint8)
    found = as_mask(smart_region(image, (100, 110)))
    assert (found & TRUTH).sum() > 0.95 * TRUTH.sum()
    assert (found & other).sum() < 0.05 * other.sum()  # the neck between them is cut


@pytest.mark.parametrize("radius, click", [(60, (150, 150)), (110, (150, 150)), (60, (150, 100))])
def test_a_particle_wider_than_the_first_window_is_found_whole(radius, click):
    shape = (300, 300)
    truth = disk(150, 150, radius, shape)
    noise = np.random.default_rng(3).normal(0, 15, shape)
    image = (np.where(truth, 1350, 1050) + noise).astype(np.uint16)
    assert edge_error(as_mask(smart_region(image, click), shape), truth) <= 2


def test_on_a_4096_image_only_a_window_around_the_click_is_segmented(monkeypatch):
    from matlab_gui.annotate import smart_region as module

    sizes = []
    real = module.watershed
    monkeypatch.setattr(module, "watershed", lambda g, m: sizes.append(g.shape) or real(g, m))
    big = np.full((4096, 4096), 1200, np.uint16)
    big += np.random.default_rng(2).integers(0, 40, big.shape, dtype=np.uint16)
    truth = disk(2000, 2000, 40, big.shape)
    big[truth] = 1380
    found = smart_region(big, (2000, 2000))
    assert edge_error(as_mask(found, big.shape), truth) <= 2
    assert sizes and max(h * w for h, w in sizes) <= 257 * 257  # the disk's, not the image's


@pytest.mark.parametrize("click", [(-1, 5), (5, 240), (200, 0)])
def test_a_click_outside_the_image_finds_nothing(click):
    rect, footprint = smart_region(IMAGES["uint8"], click)
    assert rect.empty and footprint.size == 0


def test_a_box_outside_the_image_or_too_thin_finds_nothing():
    assert smart_box_region(IMAGES["uint8"], (300, 300, 400, 400))[0].empty
    assert smart_box_region(IMAGES["uint8"], (50, 50, 51, 150))[0].empty


def test_painting_the_region_is_one_undo_step():
    ed = Editor(np.zeros(SHAPE, np.uint8))
    ed.paint_region(*smart_region(IMAGES["uint8"], (100, 110)), 3)
    assert np.array_equal(ed.mask == 3, TRUTH)
    ed.undo()
    assert not ed.mask.any()


def test_a_click_fills_real_precipitates_of_a_superalloy(shared_data):
    from PIL import Image

    from matlab_gui.imaging import read_image

    image = read_image(shared_data / "nasa_super" / "images" / "spot1_0d_0.tif").data
    labels, _ = ndimage.label(np.array(Image.open(shared_data / "nasa_super" / "masks" /
                                                  "spot1_0d_0.png")) == 1)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    scores = []
    for label in np.argsort(sizes)[::-1][:8]:  # the eight largest secondary gamma-prime
        truth = labels == label
        depth = ndimage.distance_transform_edt(truth)
        click = np.unravel_index(np.argmax(depth), depth.shape)
        found = as_mask(smart_region(image, click), truth.shape)
        scores.append((found & truth).sum() / (found | truth).sum())
    assert np.median(scores) > 0.8, scores
