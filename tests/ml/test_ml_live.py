"""Live mode's classifier: a few strokes on a two-texture micrograph predict the whole image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from matlab_gui.errors import UserError
from matlab_gui.ml import live


def two_textures(size: int = 384, dtype=np.uint8, seed: int = 0):
    """A smooth grey matrix with a disk of fine striped texture of the same mean brightness:
    only texture tells them apart. Returns the image and its truth (1 matrix, 2 disk)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    truth = np.where((xx - size / 2) ** 2 + (yy - size / 2) ** 2 < (size * 0.3) ** 2, 2, 1)
    matrix = cv2.GaussianBlur(rng.normal(0, 25, (size, size)), (0, 0), 4) + 120
    stripes = 120 + 45 * np.sin(xx / 2.0) + rng.normal(0, 10, (size, size))
    image = np.where(truth == 2, stripes, matrix)
    top = 255 if dtype == np.uint8 else 4000
    return np.clip(image * top / 255, 0, top).astype(dtype), truth.astype(np.uint8)


def strokes(size: int) -> np.ndarray:
    """Three brush strokes: one across the disk, two across the matrix."""
    mask = np.zeros((size, size), np.uint8)
    c = size // 2
    mask[c - 3:c + 3, c - size // 5:c + size // 5] = 2
    mask[size // 10:size // 10 + 6, size // 8:-size // 8] = 1
    mask[-size // 10 - 6:-size // 10, size // 8:-size // 8] = 1
    return mask


def iou(labels, truth, value):
    return ((labels == value) & (truth == value)).sum() / ((labels == value) | (truth == value)).sum()


@pytest.fixture(scope="module")
def textures():
    image, truth = two_textures()
    return image, truth, live.image_features(image)


@pytest.mark.parametrize("method", live.METHODS)
def test_a_few_strokes_predict_the_whole_image(textures, method):
    image, truth, features = textures
    mask = strokes(image.shape[0])
    assert (mask > 0).mean() < 0.05  # the strokes cover under 5 % of the pixels
    p = live.predict_live(features, mask, [1, 2], method)
    assert p.labels.shape == truth.shape and p.labels.dtype == np.uint8
    assert iou(p.labels, truth, 2) > 0.9 and iou(p.labels, truth, 1) > 0.9
    np.testing.assert_allclose(p.probabilities.sum(0), 1.0, atol=1e-4)
    assert p.uncertainty.max() <= 1.0 and p.uncertainty.mean() < 0.5


def test_sixteen_bit_images_work_alike():
    image, truth = two_textures(256, np.uint16)
    features = live.image_features(image)
    p = live.predict_live(features, strokes(256), [1, 2])
    assert iou(p.labels, truth, 2) > 0.9


def test_a_class_not_painted_gets_no_pixels_and_one_class_is_not_enough(textures):
    image, truth, features = textures
    mask = strokes(image.shape[0])
    mask[mask == 2] = 3  # the disk painted as class 3; class 2 exists but is not painted
    p = live.predict_live(features, mask, [1, 2, 3])
    assert p.values == [1, 2, 3] and not (p.labels == 2).any()
    assert p.probabilities[1].max() == 0 and iou(p.labels, np.where(truth == 2, 3, 1), 3) > 0.9
    # uncertainty over the classes it knows: 1 where the two painted ones are even
    assert p.uncertainty.max() > 0.9
    with pytest.raises(UserError, match="two classes"):
        live.predict_live(features, np.where(mask == 2, 0, mask), [1, 2])


def test_a_long_stroke_is_subsampled(textures, monkeypatch):
    image, truth, features = textures
    monkeypatch.setattr(live, "SAMPLES_PER_CLASS", 50)
    x, y = live.painted_cells(np.where(truth == 2, 2, 1).astype(np.uint8), features, [1, 2])
    assert np.bincount(y).tolist() == [50, 50] and x.shape == (100, features.grid.shape[2])


def test_the_grid_is_one_cell_a_pixel_up_to_its_bound():
    assert live.grid_shape(100, 60) == (100, 60)
    assert live.grid_shape(8192, 4096) == (512, 256)
    image = np.zeros((300, 2000), np.uint8)
    features = live.image_features(image, max_grid=128)
    assert features.grid.shape[:2] == (19, 128) and features.image_shape == (300, 2000)


def test_features_come_from_the_current_models_encoder(tiny_segmenter):
    image, _ = two_textures(128)
    features = live.image_features(image, tiny_segmenter)
    imagenet = live.image_features(image)
    assert features.source == "the encoder of tiny"
    assert imagenet.source.startswith(("ImageNet", "a random"))
    filters = live.filter_features(np.zeros((8, 8), np.float32)).shape[-1]
    # the encoders' own maps beside the filters: ResNet-10t's and EfficientNet-Lite0's widths
    assert features.grid.shape[-1] - filters == 64 + 64 + 128 + 256
    assert imagenet.grid.shape[-1] - filters == 16 + 24 + 40 + 112
