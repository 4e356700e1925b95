"""The pixel size from the image itself: a line over a bar of known length, and the scale bar
burned into an SEM image's info band (found by its shape, measured to 1 %, its label read when
Tesseract is installed); no bar is made up in a micrograph that has none."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from matlab_gui.errors import UserError
from matlab_gui.imaging import read_image, scale_label
from matlab_gui.imaging.scale_from_image import (
    find_scale_bar,
    pixel_size_from_length,
    pixel_size_from_line,
)
from matlab_gui.imaging.scale_label import parse_scale_label

needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None,
                                     reason="Tesseract OCR is not installed")


# -- a line of known length ---------------------------------------------------------------


@pytest.mark.parametrize(("length", "unit", "metres"), [
    (10, "µm", 1e-7), (10, "um", 1e-7), (10, "μm", 1e-7), (500, "nm", 5e-9), (1, "mm", 1e-5),
])
def test_a_line_of_100_px_over_a_known_length_gives_the_pixel_size(length, unit, metres):
    assert pixel_size_from_line((50, 20), (50, 120), length, unit) == pytest.approx(metres)


def test_a_slanted_line_counts_its_true_length():
    """3-4-5: a line 30 px down and 40 px across is 50 px long, whichever end comes first."""
    assert pixel_size_from_line((0, 0), (30, 40), 5, "µm") == pytest.approx(1e-7)
    assert pixel_size_from_line((30, 40), (0, 0), 5, "µm") == pytest.approx(1e-7)


@pytest.mark.parametrize(("p1", "length", "unit", "message"), [
    ((10, 10), 5, "µm", "0 px long"),
    ((10, 60), 5, "parsec", "unknown length unit"),
    ((10, 60), 0, "µm", "positive"),
    ((10, 60), -3, "nm", "positive"),
    ((10, 60), 500, "m", "not a plausible pixel size"),
])
def test_bad_lines_and_lengths_are_user_errors(p1, length, unit, message):
    with pytest.raises(UserError, match=message):
        pixel_size_from_line((10, 10), p1, length, unit)


# -- the label's text ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value", "unit", "metres"), [
    ("10 µm", 10, "µm", 1e-5), ("500nm", 500, "nm", 5e-7), ("2 um", 2, "µm", 2e-6),
    ("1 mm", 1, "mm", 1e-3), ("0,5 mm", 0.5, "mm", 5e-4), ("20 μm", 20, "µm", 2e-5),
    ("  100 nm\n", 100, "nm", 1e-7),
])
def test_scale_labels_parse_to_a_length(text, value, unit, metres):
    label = parse_scale_label(text)
    assert (label.value, label.unit) == (value, unit)
    assert label.metres == pytest.approx(metres)
    assert str(label) == f"{value:g} {unit}"


@pytest.mark.parametrize("text", [None, "", "um", "mag 5000x", "0 nm", "10 parsec"])
def test_text_without_a_length_is_no_label(text):
    assert parse_scale_label(text) is None


# -- the burned-in bar ----------------------------------------------------------------------


@pytest.mark.parametrize(("height", "width", "bar_px", "bar_height", "bright", "dtype", "ticks"), [
    (512, 512, 200, 8, True, np.uint8, False),
    (768, 1024, 150, 8, False, np.uint8, False),
    (1024, 1024, 333, 12, True, np.uint16, False),
    (600, 800, 97, 5, False, np.uint16, False),
    (480, 640, 120, 3, True, np.uint8, True),
    (960, 1280, 250, 2, False, np.uint8, True),
    (1536, 2048, 400, 14, True, np.uint16, False),
])
def test_a_rendered_scale_bar_is_found_and_measured_within_1_percent(
        scale_bar_image, height, width, bar_px, bar_height, bright, dtype, ticks):
    image, (y, x0) = scale_bar_image(height, width, bar_px, bar_height, bright, dtype, ticks)
    bar = find_scale_bar(image, read_label=False)
    assert bar is not None
    assert bar.length_px == pytest.approx(bar_px, rel=0.01)
    assert y <= bar.row <= y + bar_height
    assert bar.polarity == ("bright" if bright else "dark")
    label_y0, label_x0, label_y1, label_x1 = bar.label_box  # the label is above the bar
    assert label_y1 <= y + 1 and label_x0 >= x0 - 5 and label_x1 <= x0 + bar_px + 5
    truth = 10e-6 / bar_px
    assert pixel_size_from_length(bar.length_px, 10, "um") == pytest.approx(truth, rel=0.01)


def test_rgb_and_jpeg_bars_are_measured_too(scale_bar_image):
    image, _ = scale_bar_image(600, 800, 180, 6)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 75])
    jpeg = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    for version in (np.dstack([image] * 3), jpeg):
        assert find_scale_bar(version, read_label=False).length_px == pytest.approx(180, rel=0.01)


def test_a_resampled_bar_is_measured_to_a_fraction_of_a_pixel(scale_bar_image):
    """Shrunk by 0.73 the bar is 146 px long and its ends are grey: found to 1 %, not to the
    whole pixel that thresholding alone would give."""
    image, _ = scale_bar_image(1000, 1200, 200, 10)
    small = cv2.resize(image, None, fx=0.73, fy=0.73, interpolation=cv2.INTER_AREA)
    bar = find_scale_bar(small, read_label=False)
    assert bar.length_px == pytest.approx(200 * 0.73, abs=0.5)


def test_a_bar_whose_ends_cover_part_of_a_pixel_is_measured_to_a_fraction_of_it(
        scale_bar_image):
    """Ends 60 % inside their pixels: 150 + 2 x 0.6 = 151.2 px, where a threshold says 152."""
    image, (y, x0) = scale_bar_image(512, 640, 150, 6, label="")
    image[y : y + 6, [x0 - 1, x0 + 150]] = int(0.6 * 255)
    bar = find_scale_bar(image, read_label=False)
    assert bar.length_px == pytest.approx(151.2, abs=0.25)


@pytest.mark.parametrize("inset", [0, 8])
def test_a_frame_line_across_the_image_is_not_the_bar(scale_bar_image, inset):
    """The line SEM software draws above its info band, edge to edge or nearly."""
    image, (y, _) = scale_bar_image(512, 640, 150, 6)
    band_top = 512 - 51
    image[band_top : band_top + 3, inset : 640 - inset] = 255
    bar = find_scale_bar(image, read_label=False)
    assert bar.length_px == pytest.approx(150, rel=0.01) and y <= bar.row <= y + 6
    image[band_top + 3 :, 300:] = 0  # the bar and its label gone: the frame alone is no bar
    assert find_scale_bar(image, read_label=False) is None


def test_a_slanted_streak_is_not_a_scale_bar(scale_bar_image):
    """Straight across but with slanted ends (a parallelogram): no bar's shape."""
    image, (y, x0) = scale_bar_image(512, 640, 150, 6, label="")
    image[y - 5 : y + 10, x0 - 5 : x0 + 160] = 0
    for row in range(10):
        image[y + row - 2, x0 + row : x0 + row + 140] = 255
    assert find_scale_bar(image, read_label=False) is None


def test_a_rectangle_flush_with_the_image_edge_is_not_a_scale_bar(scale_bar_image):
    """Cut square by the edge (a cropped streak, a field of a data bar): its end is the edge's."""
    image, (y, x0) = scale_bar_image(512, 640, 150, 6, label="")
    image[y - 5 : y + 10, x0 - 5 :] = 0
    image[y : y + 8, :160] = 255
    assert find_scale_bar(image, read_label=False) is None


def test_a_bar_on_a_real_micrograph_info_band(shared_data, scale_bar_image):
    texture = read_image(shared_data / "uhcs" / "images" / "uhcs0006.tif").data
    height, width = texture.shape
    image, _ = scale_bar_image(height, width, 130, 6, texture=texture)
    assert find_scale_bar(image, read_label=False).length_px == pytest.approx(130, rel=0.01)


def test_a_plain_texture_has_no_scale_bar():
    rng = np.random.default_rng(3)
    plain = cv2.GaussianBlur(rng.normal(size=(600, 800)).astype(np.float32), (0, 0), 4)
    assert find_scale_bar(plain, read_label=False) is None
    assert find_scale_bar(np.full((300, 300), 7, np.uint16), read_label=False) is None


@pytest.mark.parametrize(("folder", "step"), [
    ("nasa_super", 1), ("uhcs", 1), ("nasa_ebc", 3), ("nasa_meltpool", 3),
])
def test_real_micrographs_without_an_info_band_have_no_scale_bar(shared_data, folder, step):
    """Lamellae, cracks, coating interfaces and melt-pool edges are straight and bright or dark
    too; none of these public SEM and optical images has a burned-in bar."""
    paths = sorted((shared_data / folder / "images").iterdir())[::step]
    found = {p.name: find_scale_bar(read_image(p).data, read_label=False) for p in paths}
    assert paths and not {name: bar.box for name, bar in found.items() if bar is not None}


def test_an_image_that_cannot_hold_a_bar_is_a_user_error():
    with pytest.raises(UserError, match="cannot hold a scale bar"):
        find_scale_bar(np.zeros((4, 4, 4, 4), np.uint8))


# -- reading the label ---------------------------------------------------------------------


def test_without_tesseract_the_bar_is_found_and_its_label_left_to_the_user(
        monkeypatch, scale_bar_image):
    monkeypatch.setattr(scale_label.shutil, "which", lambda _name: None)
    assert not scale_label.ocr_available()
    bar = find_scale_bar(scale_bar_image(512, 512, 200)[0])
    assert bar.length_px == pytest.approx(200, rel=0.01)
    assert bar.label_text is None and bar.label is None and bar.pixel_size_m is None


@needs_tesseract
@pytest.mark.parametrize(("label", "bright", "metres"), [
    ("10 um", True, 10e-6), ("500 nm", False, 500e-9), ("2 mm", True, 2e-3), ("50um", False, 50e-6),
])
def test_tesseract_reads_the_rendered_label(scale_bar_image, label, bright, metres):
    image, _ = scale_bar_image(768, 1024, 200, 8, bright, label=label)
    bar = find_scale_bar(image)
    assert bar.label is not None, bar.label_text
    assert bar.label.metres == pytest.approx(metres)
    assert bar.pixel_size_m == pytest.approx(metres / 200, rel=0.01)
