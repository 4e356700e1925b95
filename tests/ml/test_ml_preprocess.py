"""Pixels become model input the same way everywhere: bit depth, channels, whole-image statistics."""

from __future__ import annotations

import numpy as np
import pytest

from matlab_gui.ml.preprocess import input_stats, to_model_input
from matlab_gui.ml.zoo import default_card

CARD = default_card("segmentation", "unet", ["a", "b"], in_channels=1)


def test_12_bit_data_in_16_bit_stretches_to_the_full_range():
    image = np.random.default_rng(0).integers(0, 4096, (64, 64)).astype(np.uint16)
    x = to_model_input(image, CARD) * CARD.normalisation.std[0] + CARD.normalisation.mean[0]
    assert x.shape == (1, 64, 64) and x.dtype == np.float32
    assert x.min() == pytest.approx(0, abs=1e-6) and x.max() == pytest.approx(1, abs=1e-6)
    assert np.percentile(x, 50) == pytest.approx(0.5, abs=0.05)


def test_grey_into_rgb_and_rgb_into_grey():
    grey = np.random.default_rng(1).integers(0, 255, (16, 16)).astype(np.uint8)
    rgb_card = default_card("segmentation", "unet", ["a", "b"], in_channels=3)
    x = to_model_input(grey, rgb_card)
    assert x.shape == (3, 16, 16) and np.array_equal(x[0], x[2])
    colour = np.dstack([grey, grey, grey])
    stats = input_stats(grey, CARD)
    np.testing.assert_allclose(to_model_input(colour, CARD, stats), to_model_input(grey, CARD, stats), atol=1e-5)


def test_whole_image_statistics_make_tiles_match_the_whole():
    image = np.random.default_rng(2).normal(1000, 200, (128, 128)).clip(0, 65535).astype(np.uint16)
    stats = input_stats(image, CARD)
    whole = to_model_input(image, CARD, stats)
    tile = to_model_input(image[32:96, 40:104], CARD, stats)
    np.testing.assert_array_equal(tile, whole[:, 32:96, 40:104])


@pytest.mark.parametrize("dtype", ["int8", "int32", "uint32"])
def test_pixel_types_opencv_cannot_resize_are_resized_in_their_own_type(dtype):
    """The "dtype" normalisation reads the type's range, so the type must survive the resize."""
    import cv2

    from matlab_gui.ml.preprocess import resize_image

    info = np.iinfo(dtype)
    image = np.linspace(info.min, info.max, 64 * 48).reshape(64, 48).astype(dtype)
    small = resize_image(image, 16, 12)
    expected = cv2.resize(image.astype(np.float64), (12, 16), interpolation=cv2.INTER_AREA)
    assert small.dtype == image.dtype and small.shape == (16, 12)
    assert np.abs(small.astype(np.float64) - expected).max() <= 0.5
