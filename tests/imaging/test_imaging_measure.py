"""Phase fractions, particle statistics and pixel-size parsing on masks with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from matlab_gui.errors import UserError
from matlab_gui.imaging.measure import measure_mask, phase_fractions
from matlab_gui.imaging.units import format_pixel_size, parse_pixel_size


@pytest.mark.parametrize(("text", "metres"), [
    ("5nm", 5e-9), ("0.5 um", 0.5e-6), ("2.3µm", 2.3e-6), ("2.3μm", 2.3e-6), ("1e-9", 1e-9),
    ("10 nm/px", 10e-9), (" 3 mm ", 3e-3), (2e-7, 2e-7), ("0.25 micron", 0.25e-6),
])
def test_pixel_sizes_parse_to_metres(text, metres):
    assert parse_pixel_size(text) == pytest.approx(metres, rel=1e-12)


@pytest.mark.parametrize("text", ["abc", "5 parsec", "0", "2 m", "-5nm", ""])
def test_bad_pixel_sizes_are_user_errors(text):
    with pytest.raises(UserError, match="pixel size"):
        parse_pixel_size(text)


def test_format_pixel_size():
    assert format_pixel_size(5e-9) == "5 nm"
    assert format_pixel_size(2.5e-6) == "2.5 µm"


def _two_squares() -> np.ndarray:
    """100 x 100: a 10 x 10 and a 20 x 10 particle of class 1, one 5 x 5 of class 2."""
    mask = np.zeros((100, 100), np.uint8)
    mask[10:20, 10:20] = 1
    mask[50:70, 40:50] = 1
    mask[80:85, 80:85] = 2
    return mask


def test_phase_fractions_are_exact():
    fractions = phase_fractions(_two_squares(), [0, 1, 2, 3])
    assert fractions.tolist() == [(10000 - 300 - 25) / 10000, 0.03, 0.0025, 0.0]


def test_units_are_exact_with_a_known_pixel_size():
    px = 0.5e-6  # 0.5 µm: one pixel is 0.25 µm²
    result = measure_mask(_two_squares(), ["matrix", "pore", "inclusion"], px).to_dict()
    assert (result["length_unit"], result["area_unit"]) == ("µm", "µm²")
    pore = result["classes"][1]
    assert pore["name"] == "pore" and pore["pixels"] == 300
    assert pore["area"] == pytest.approx(75.0)
    p = pore["particles"]
    assert p["count"] == 2
    assert p["mean_area"] == pytest.approx((25.0 + 50.0) / 2)
    expected = [math.sqrt(4 * a / math.pi) for a in (25.0, 50.0)]
    assert p["mean_equivalent_diameter"] == pytest.approx(np.mean(expected))
    assert sum(p["size_distribution"]["counts"]) == 2
    inclusion = result["classes"][2]["particles"]
    assert inclusion["count"] == 1 and inclusion["mean_area"] == pytest.approx(6.25)
    assert inclusion["mean_aspect_ratio"] == pytest.approx(1.0)


def test_pixels_when_the_size_is_unknown():
    result = measure_mask(_two_squares()).to_dict(bins=4)
    assert (result["length_unit"], result["area_unit"]) == ("px", "px²")
    assert [c["value"] for c in result["classes"]] == [0, 1, 2]
    pore = result["classes"][1]["particles"]
    assert pore["mean_area"] == 150.0 and len(pore["size_distribution"]["counts"]) == 4
    assert pore["mean_aspect_ratio"] == pytest.approx((1.0 + 2.0) / 2, rel=0.02)


def test_named_classes_absent_from_the_mask_are_reported_empty():
    result = measure_mask(np.zeros((8, 8), np.uint8), ["a", "b"]).to_dict()
    assert result["classes"][1] == {"value": 1, "name": "b", "pixels": 0, "area_fraction": 0.0,
                                    "area": 0.0, "particles": {"count": 0}}


def test_diagonal_neighbours_are_one_particle():
    mask = np.pad(np.eye(6, dtype=np.uint8), 2)
    p = measure_mask(mask, ["bg", "line"]).to_dict()["classes"][1]["particles"]
    assert p["count"] == p["measured"] == 1 and p["mean_aspect_ratio"] > 4  # one pixel thin
