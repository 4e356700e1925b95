"""Broken files give one clear UserError naming the file, never a library traceback."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from matlab_gui.errors import ImageReadError, ImageWriteError, UnsupportedImageError
from matlab_gui.imaging import list_images, read_image, read_mask, write_image, write_mask


def _good_tiff(path, shape=(256, 256)):
    tifffile.imwrite(path, np.random.default_rng(1).integers(0, 65535, shape, dtype=np.uint16))
    return path


def _put(path, data):
    """Write `data` (bytes or text) to `path` and return the path."""
    (path.write_text if isinstance(data, str) else path.write_bytes)(data)
    return path


def _png(tmp_path):
    import cv2

    path = tmp_path / "good.png"
    cv2.imwrite(str(path), np.full((64, 64), 9, np.uint8))
    return path


CASES = {
    "missing": (lambda d: d / "nope.tif", "no such file"),
    "directory": (lambda d: (d / "folder.tif").mkdir() or d / "folder.tif", "folder"),
    "zero-byte": (lambda d: _put(d / "empty.tif", b""), "empty"),
    "random-bytes": (
        lambda d: _put(d / "noise.tif", np.random.default_rng(2).bytes(5000)),
        "not a tiff",
    ),
    "text-as-png": (lambda d: _put(d / "notes.png", "hello"), "not a png"),
    "truncated-tiff": (
        lambda d: _put(p := _good_tiff(d / "cut.tif"), p.read_bytes()[:40_000]),
        "truncated",
    ),
    "wrong-header": (
        lambda d: _put(p := _good_tiff(d / "hdr.tif"), b"II*\x00\xff\xff\xff\x7f" + p.read_bytes()[8:]),
        "tiff",
    ),
    "truncated-png": (
        lambda d: _put(p := _png(d), p.read_bytes()[:-20]),
        "truncated png",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_corrupt_inputs_raise_user_errors_naming_the_file(tmp_path, case):
    make, problem = CASES[case]
    path = make(tmp_path)
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    message = str(info.value)
    assert path.name in message
    assert problem in message.lower()
    assert "\n" not in message


def test_unsupported_pixel_type(tmp_path):
    tifffile.imwrite(tmp_path / "c.tif", np.ones((8, 8), np.complex64))
    with pytest.raises(UnsupportedImageError, match="unsupported pixel type"):
        read_image(tmp_path / "c.tif")


def test_colour_image_is_not_a_mask(tmp_path):
    tifffile.imwrite(tmp_path / "rgb.tif", np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8), photometric="rgb")
    with pytest.raises(UnsupportedImageError, match="not a class-index mask"):
        read_mask(tmp_path / "rgb.tif")


def test_bad_writes(tmp_path):
    with pytest.raises(ImageWriteError, match="lossless"):
        write_image(tmp_path / "x.jpg", np.zeros((4, 4), np.uint8))
    with pytest.raises(ImageWriteError, match="does not exist"):
        write_mask(tmp_path / "missing" / "m.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(ImageWriteError, match=".tif"):
        write_image(tmp_path / "f.png", np.zeros((4, 4), np.float32))
    with pytest.raises(ImageWriteError, match="2-D"):
        write_mask(tmp_path / "m.png", np.zeros((4, 4, 3), np.uint8))


def test_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "m.png"
    write_mask(path, np.ones((4, 4), np.uint8))
    with pytest.raises(ImageWriteError):
        write_mask(path, np.full((4, 4), -1, np.int32))
    np.testing.assert_array_equal(read_mask(path), np.ones((4, 4), np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == ["m.png"]


def test_list_images(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("b.tif", "a.PNG", "sub/c.jpg", "notes.txt", ".hidden.png"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["a.PNG", "b.tif"]
    assert [p.name for p in list_images(tmp_path, recursive=True)] == ["a.PNG", "b.tif", "c.jpg"]
    with pytest.raises(ImageReadError, match="no such folder"):
        list_images(tmp_path / "missing")
