"""Written masks and images read back bit for bit (property tests), and display never edits data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from matlab_gui.imaging import read_image, read_mask, write_image, write_mask
from matlab_gui.imaging.display import auto_levels, clahe, equalised_view, window

SHAPES = st.tuples(st.integers(1, 40), st.integers(1, 40))
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(mask=st.one_of(arrays(np.uint8, SHAPES), arrays(np.uint16, SHAPES)), suffix=st.sampled_from([".png", ".tif"]))
def test_mask_round_trip(tmp_path, mask, suffix):
    path = tmp_path / f"mask{suffix}"
    write_mask(path, mask)
    back = read_mask(path)
    assert back.dtype == mask.dtype
    np.testing.assert_array_equal(back, mask)


@SETTINGS
@given(
    data=st.one_of(
        arrays(np.uint16, st.tuples(st.integers(2, 30), st.integers(2, 30), st.just(3))),
        arrays(np.float32, SHAPES, elements=st.floats(-1e6, 1e6, width=32)),
    )
)
def test_tiff_image_round_trip(tmp_path, data):
    path = tmp_path / "img.tif"
    write_image(path, data)
    back = read_image(path).data
    if data.ndim == 3 and all(np.array_equal(data[..., 0], data[..., c]) for c in (1, 2)):
        data = data[..., 0]  # identical channels come back as greyscale, by design
    np.testing.assert_array_equal(back, data)


def test_display_views_never_change_the_data():
    rng = np.random.default_rng(0)
    for data in (rng.integers(0, 4096, (64, 64)).astype(np.uint16), rng.random((64, 64), np.float32)):
        before = data.copy()
        lo, hi = auto_levels(data)
        for view in (window(data, lo, hi, gamma=0.5), equalised_view(data), clahe(data)):
            assert view.dtype == np.uint8 and view.shape == data.shape
        np.testing.assert_array_equal(data, before)


def test_auto_levels_stretch_a_12_bit_image_to_the_full_display_range():
    rng = np.random.default_rng(1)
    data = rng.integers(1000, 3000, (128, 128)).astype(np.uint16)
    lo, hi = auto_levels(data, 0.5, 99.5)
    view = window(data, lo, hi)
    assert 1000 <= lo < hi <= 3000
    assert view.min() == 0 and view.max() == 255


def test_gamma_brightens_mid_tones():
    data = np.array([[0, 128, 255]], np.uint8)
    assert window(data, 0, 255, gamma=2.0)[0, 1] > window(data, 0, 255)[0, 1]


@pytest.mark.skipif(not hasattr(__import__("os"), "getuid"), reason="POSIX permissions")
def test_written_masks_are_readable_by_others(tmp_path):
    """Written through a private temporary file, the result still gets normal file permissions."""
    path = tmp_path / "mask.png"
    write_mask(path, np.zeros((4, 4), np.uint8))
    assert path.stat().st_mode & 0o777 == 0o644


@SETTINGS
@given(
    data=st.one_of(arrays(np.uint8, SHAPES), arrays(np.uint16, SHAPES),
                   arrays(np.uint8, st.tuples(st.integers(1, 20), st.integers(1, 20), st.just(3)))),
    suffix=st.sampled_from([".png", ".tif"]),
    pixel_size_m=st.floats(3e-10, 1e-5),
)
def test_written_images_keep_their_pixel_size(tmp_path, data, suffix, pixel_size_m):
    """Masks, overlays and images come back with the pixel size they were written with (PNG
    stores whole pixels per metre, so at most 2**32 of them: pixels of 0.3 nm and up, within
    1e-4 relative; TIFF tags hold pixels per cm)."""
    path = tmp_path / f"img{suffix}"
    write_image(path, data, pixel_size_m)
    assert read_image(path).meta.pixel_size_m == pytest.approx(pixel_size_m, rel=1e-4)
    if data.ndim == 2:
        write_mask(path, data, pixel_size_m)
        assert read_image(path).meta.pixel_size_m == pytest.approx(pixel_size_m, rel=1e-4)
        np.testing.assert_array_equal(read_mask(path), data)


@pytest.mark.parametrize("shape", [(5, 6, 4), (7, 1), (7, 1, 3)])
def test_rgba_and_one_pixel_wide_tiffs_keep_pixels_and_pixel_size(tmp_path, shape):
    """Odd layouts through the ImageJ-mode writer: every value and the pixel size come back."""
    data = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)
    write_image(tmp_path / "x.tif", data, 5e-9)
    back = read_image(tmp_path / "x.tif")
    assert back.meta.pixel_size_m == pytest.approx(5e-9)
    assert back.data.shape[:2] == shape[:2]
    import tifffile

    np.testing.assert_array_equal(tifffile.imread(tmp_path / "x.tif"), data)
