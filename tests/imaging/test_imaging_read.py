"""Reading every kind of micrograph a lab produces, with its pixel size, into its native dtype."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest
import tifffile

from matlab_gui.imaging import read_image, read_mask

RNG = np.random.default_rng(7)


def _grey(dtype, shape=(40, 50)):
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    if info is None:
        return RNG.random(shape).astype(dtype)
    return RNG.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"bigtiff": True},
        {"tile": (16, 16)},
        {"compression": "zlib"},
        {"compression": "lzw"},
        {"compression": "zstd"},
        {"predictor": True, "compression": "zlib"},
    ],
    ids=["plain", "bigtiff", "tiled", "zlib", "lzw", "zstd", "predictor"],
)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_tiff_variants_keep_values_and_dtype(tmp_path, kwargs, dtype):
    data = _grey(dtype)
    path = tmp_path / "img.tif"
    tifffile.imwrite(path, data, **kwargs)
    image = read_image(path)
    assert image.data.dtype == dtype
    np.testing.assert_array_equal(image.data, data)
    assert (image.meta.width, image.meta.height, image.meta.channels) == (50, 40, 1)
    assert image.meta.format == "tiff"


def test_rgb_and_rgba_tiff(tmp_path):
    rgb = _grey(np.uint8, (30, 20, 3))
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.tif").data, rgb)
    rgba = _grey(np.uint16, (30, 20, 4))
    tifffile.imwrite(tmp_path / "rgba.tif", rgba, photometric="rgb", extrasamples=["unassalpha"])
    image = read_image(tmp_path / "rgba.tif")
    np.testing.assert_array_equal(image.data, rgba[..., :3])
    assert "alpha channel dropped" in image.meta.notes


def test_planar_rgb_tiff_comes_back_interleaved(tmp_path):
    rgb = _grey(np.uint8, (3, 30, 20))
    tifffile.imwrite(tmp_path / "planar.tif", rgb, photometric="rgb", planarconfig="separate")
    np.testing.assert_array_equal(read_image(tmp_path / "planar.tif").data, np.moveaxis(rgb, 0, -1))


def test_multipage_tiff_reads_first_page_with_a_note(tmp_path):
    stack = _grey(np.uint16, (3, 20, 20))
    with tifffile.TiffWriter(tmp_path / "stack.tif") as tw:
        for page in stack:
            tw.write(page)
    image = read_image(tmp_path / "stack.tif")
    np.testing.assert_array_equal(image.data, stack[0])
    assert image.meta.pages == 3
    assert any("3 pages" in n for n in image.meta.notes)


def test_grey_stored_as_three_identical_channels_is_grey(tmp_path):
    grey = _grey(np.uint8, (25, 35))
    tifffile.imwrite(tmp_path / "g3.tif", np.dstack([grey] * 3), photometric="rgb")
    image = read_image(tmp_path / "g3.tif")
    assert image.data.ndim == 2 and image.meta.channels == 1
    np.testing.assert_array_equal(image.data, grey)
    almost = np.dstack([grey] * 3)
    almost[-1, -1, 2] ^= 1  # one pixel differs: really colour
    tifffile.imwrite(tmp_path / "c3.tif", almost, photometric="rgb")
    assert read_image(tmp_path / "c3.tif").meta.channels == 3


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".jpg"])
def test_opencv_formats_come_back_as_rgb(tmp_path, suffix):
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[..., 0] = 200  # pure red: checks BGR is turned into RGB
    cv2.imwrite(str(tmp_path / f"red{suffix}"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    image = read_image(tmp_path / f"red{suffix}")
    assert image.data.shape == (20, 30, 3)
    assert abs(int(image.data[10, 10, 0]) - 200) <= 2 and image.data[10, 10, 2] <= 2


def test_16bit_png(tmp_path):
    data = _grey(np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), data)
    image = read_image(tmp_path / "deep.png")
    assert image.data.dtype == np.uint16
    np.testing.assert_array_equal(image.data, data)


def test_png_named_tif_opens_with_a_note(tmp_path):
    cv2.imwrite(str(tmp_path / "x.png"), _grey(np.uint8))
    (tmp_path / "x.png").rename(tmp_path / "x.tif")
    image = read_image(tmp_path / "x.tif")
    assert image.meta.format == "png"
    assert any("PNG" in n for n in image.meta.notes)


def test_masks_read_as_class_indices(tmp_path):
    mask = RNG.integers(0, 4, (30, 30)).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "m.png"), mask)
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), mask)


# -- real micrographs -------------------------------------------------------------------------


def _rows(folder):
    with (folder / "files.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_shared_segmentation_image_matches_its_files_csv(shared_data):
    for name in ("nasa_super", "uhcs", "nasa_ebc", "nasa_meltpool"):
        folder = shared_data / name
        for row in _rows(folder):
            image = read_image(folder / row["image"])
            mask = read_mask(folder / row["mask"])
            assert mask.shape == image.data.shape[:2], row["image"]
            if "image_dtype" in row:
                assert image.meta.dtype == row["image_dtype"], row["image"]
                h, w, _c = (int(v) for v in row["image_shape"].split("x"))
                assert (image.meta.height, image.meta.width) == (h, w)
            if "size" in row:
                w, h = (int(v) for v in row["size"].split("x"))
                assert (image.meta.width, image.meta.height) == (w, h), row["image"]


def test_superalloy_16bit_tiffs_stay_16bit(shared_data):
    rows = [r for r in _rows(shared_data / "nasa_super") if r["image_dtype"] == "uint16"]
    assert len(rows) == 2
    for row in rows:
        image = read_image(shared_data / "nasa_super" / row["image"])
        assert image.data.dtype == np.uint16
        assert image.data.max() > 255


@pytest.mark.parametrize("name", ["neu_det_cls", "corrosion"])
def test_every_shared_classification_image_reads(shared_data, name):
    folder = shared_data / name
    for row in _rows(folder):
        image = read_image(folder / row["file"])
        assert image.data.dtype == np.uint8
        if "w" in row:
            assert (image.meta.width, image.meta.height) == (int(row["w"]), int(row["h"]))


@pytest.fixture
def map_above_100_pixels(monkeypatch):
    from matlab_gui.imaging import read

    monkeypatch.setattr(read, "MEMMAP_PIXELS", 100)
    return read.MEMMAP_NOTE


@pytest.mark.parametrize("shape, kwargs", [
    ((40, 50), {}),
    ((40, 50), {"bigtiff": True}),
    ((40, 50, 3), {"photometric": "rgb"}),
    ((3, 40, 50), {"photometric": "rgb", "planarconfig": "separate"}),
], ids=["plain", "bigtiff", "rgb", "planar-rgb"])
def test_a_large_uncompressed_tiff_is_mapped_read_only_not_read(tmp_path, map_above_100_pixels,
                                                                shape, kwargs):
    data = _grey(np.uint16, shape)
    path = tmp_path / "montage.tif"
    tifffile.imwrite(path, data, **kwargs)
    before = path.read_bytes()
    image = read_image(path)
    expected = np.moveaxis(data, 0, -1) if "planarconfig" in kwargs else data
    np.testing.assert_array_equal(image.data, expected)
    assert isinstance(image.data, np.memmap) and map_above_100_pixels in image.meta.notes
    with pytest.raises(ValueError, match="read-only"):
        image.data[0, 0] = 1  # the instrument's values cannot be changed through the image
    assert path.read_bytes() == before


@pytest.mark.parametrize("kwargs", [
    {"compression": "zlib"}, {"tile": (16, 16)}, {"byteorder": ">"}, {"shape_": (8, 8)},
], ids=["compressed", "tiled", "byte-swapped", "small"])
def test_tiffs_that_cannot_or_need_not_be_mapped_are_read_whole(tmp_path, map_above_100_pixels,
                                                                kwargs):
    data = _grey(np.uint16, kwargs.pop("shape_", (40, 50)))
    path = tmp_path / "montage.tif"
    tifffile.imwrite(path, data, **kwargs)
    image = read_image(path)
    np.testing.assert_array_equal(image.data, data)
    assert not isinstance(image.data, np.memmap) and map_above_100_pixels not in image.meta.notes
    image.data[0, 0] = 1  # an ordinary array of its own
