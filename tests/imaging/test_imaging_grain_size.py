"""ASTM E112 grain size on microstructures whose answer is known: a square grid (exact counts)
and Poisson-Voronoi tessellations (known grains per area and known mean intercept)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from matlab_gui.errors import UserError
from matlab_gui.imaging.grain_size import (
    grain_size,
    grain_size_from_labels,
    grains_from_boundaries,
    intercept_G,
    planimetric_G,
)

GRAIN, BOUNDARY = 1, 2
PIXEL = 0.5e-6  # 0.5 µm: the Voronoi fields below land at G 7 and 9


def boundary_of(labels: np.ndarray, thickness: int = 2) -> np.ndarray:
    """Pixels with a 4-neighbour in another grain: both sides (2 px), one side (1 px), or the
    2-px band widened to `thickness`."""
    band = np.zeros(labels.shape, bool)
    across_x, across_y = labels[:, 1:] != labels[:, :-1], labels[1:] != labels[:-1]
    band[:, 1:] |= across_x
    band[1:] |= across_y
    if thickness >= 2:
        band[:, :-1] |= across_x
        band[:-1] |= across_y
    if thickness > 2:
        band = ndi.binary_dilation(band, iterations=(thickness - 1) // 2)
    return band


def class_mask(labels: np.ndarray, thickness: int = 2) -> np.ndarray:
    return np.where(boundary_of(labels, thickness), BOUNDARY, GRAIN).astype(np.uint8)


def voronoi(shape, mean_area_px: float, seed: int, stretch_x: float = 1.0):
    """Poisson-Voronoi grains (nearest seed of each pixel centre), seeds also in a margin so the
    field is a window on a larger structure; `stretch_x` elongates the grains along x.
    Returns the labels and the seed density in the field (seeds inside / field area)."""
    rng = np.random.default_rng(seed)
    height, width = shape
    margin = 4 * math.sqrt(mean_area_px) * stretch_x
    low, high = np.array([-margin, -margin]), np.array([width + margin, height + margin])
    seeds = rng.uniform(low, high, (rng.poisson(np.prod(high - low) / mean_area_px), 2))
    yy, xx = np.mgrid[0:height, 0:width]
    centres = np.column_stack([(xx.ravel() + 0.5) / stretch_x, yy.ravel() + 0.5])
    _, nearest = cKDTree(seeds / [stretch_x, 1.0]).query(centres)
    inside = np.count_nonzero((seeds >= 0).all(1) & (seeds[:, 0] < width) & (seeds[:, 1] < height))
    return nearest.reshape(shape).astype(np.int32) + 1, inside / (height * width)


def expected_G(density_per_px: float) -> tuple[float, float]:
    """G from the known grains per area, and from the Poisson-Voronoi mean intercept:
    L_A = 2 sqrt(lambda), P_L = 2 L_A / pi, so l = pi / (4 sqrt(lambda))."""
    mm_per_px = PIXEL * 1e3
    intercept_px = math.pi / (4 * math.sqrt(density_per_px))
    return planimetric_G(density_per_px / mm_per_px**2), intercept_G(intercept_px * mm_per_px)


@pytest.fixture(scope="module")
def coarse():
    return voronoi((1500, 1500), 3750.0, seed=1)  # ~600 grains, G ~7.1


@pytest.fixture(scope="module")
def fine():
    return voronoi((1000, 1000), 3750.0 / 4, seed=3)  # 4x the density: G ~2 higher


def shifted_grid(cell: int = 20, size: int = 100) -> np.ndarray:
    """Square grains of `cell` px, shifted by half a cell so the image edge halves the edge
    grains and quarters the corner grains: 16 inside, 16 halves, 4 quarters = 25 = area / cell²."""
    y, x = np.mgrid[0:size, 0:size]
    cells = size // cell + 1
    return ((y + cell // 2) // cell * cells + (x + cell // 2) // cell + 1).astype(np.int32)


def test_grid_counts_follow_the_rectangle_rule_exactly():
    result = grain_size(class_mask(shifted_grid()), [BOUNDARY], PIXEL, angles=(0, 90), lines_per_angle=4)
    p = result.planimetric
    assert (p.n_inside, p.n_intercepted, p.n_corner_grains) == (16, 16, 4)
    assert p.n_equivalent == 25.0  # 16 + 0.5 * 16 + 1
    assert p.mean_grain_area == pytest.approx(100.0)  # 20 px = 10 µm squares
    assert p.grains_per_mm2 == pytest.approx(1e4)
    assert p.G == pytest.approx(3.321928 * 4 - 2.954)
    # every row/column test line crosses 5 boundaries in 100 px: l = 20 px = 10 µm
    total = result.intercept.total
    assert total.intersections == 4 * 2 * 5
    assert total.mean_intercept == pytest.approx(10.0)
    assert total.G == pytest.approx(-6.643856 * math.log10(0.01) - 3.288)


def test_grid_distribution_leaves_out_the_edge_grains():
    result = grain_size(class_mask(shifted_grid()), [BOUNDARY], PIXEL)
    d = result.distribution
    assert d.left_out == 20 and "edge" in d.left_out_reason
    assert d.grains.area.size == 16
    # boundary pixels go to their nearest grain, so each grain is its full 20 x 20 px square
    np.testing.assert_allclose(d.grains.area, 100.0)
    np.testing.assert_allclose(d.grains.equivalent_diameter, math.sqrt(4 * 100.0 / math.pi))
    summary = result.to_dict()["distribution"]
    assert summary["count"] == 16 and summary["left_out"] == 20
    assert sum(summary["size_distribution"]["counts"]) == 16


def test_a_line_ending_on_a_boundary_counts_half():
    labels = np.zeros((10, 40), np.int32)  # boundary columns at x = 0 and x = 20
    labels[:, 1:20], labels[:, 21:] = 1, 2
    total = grain_size_from_labels(labels, None, angles=(0,), lines_per_angle=2).intercept.total
    assert total.intersections == 2 * (0.5 + 1)
    assert total.line_length == pytest.approx(80.0)


@pytest.mark.parametrize("thickness", [1, 2, 4])
def test_voronoi_G_matches_the_known_grain_size(coarse, thickness):
    labels, density = coarse
    want_planimetric, want_intercept = expected_G(density)
    assert 6.5 < want_planimetric < 8  # a typical range
    result = grain_size(class_mask(labels, thickness), [BOUNDARY], PIXEL, lines_per_angle=100)
    assert result.planimetric.G == pytest.approx(want_planimetric, abs=0.1)
    assert result.intercept.total.G == pytest.approx(want_intercept, abs=0.1)
    assert result.intercept.anisotropy_ratio < 1.1  # isotropic


def test_voronoi_G_follows_a_second_grain_size(coarse, fine):
    """Four times the grain density is 2 G units finer: a constant offset would show here."""
    labels, density = fine
    want_planimetric, want_intercept = expected_G(density)
    assert want_planimetric - expected_G(coarse[1])[0] == pytest.approx(2.0, abs=0.15)
    result = grain_size(class_mask(labels), [BOUNDARY], PIXEL, lines_per_angle=100)
    assert result.planimetric.G == pytest.approx(want_planimetric, abs=0.1)
    assert result.intercept.total.G == pytest.approx(want_intercept, abs=0.1)


def test_a_grain_label_image_gives_the_same_answer(fine):
    """Grains that touch with no boundary pixel between them (a label image) are measured too."""
    labels, density = fine
    result = grain_size_from_labels(labels, PIXEL, lines_per_angle=100)
    want_planimetric, want_intercept = expected_G(density)
    assert result.planimetric.G == pytest.approx(want_planimetric, abs=0.1)
    assert result.intercept.total.G == pytest.approx(want_intercept, abs=0.1)


def test_elongated_grains_show_in_the_per_orientation_intercepts():
    labels, _ = voronoi((1000, 1000), 2000.0, seed=5, stretch_x=2.0)
    result = grain_size(class_mask(labels), [BOUNDARY], PIXEL)
    per_angle = result.intercept.per_angle
    along, across = per_angle[0.0].mean_intercept, per_angle[90.0].mean_intercept
    assert along / across == pytest.approx(2.0, rel=0.15)
    assert result.intercept.anisotropy_ratio == pytest.approx(along / across)


def test_without_a_pixel_size_there_is_no_G_and_lengths_are_pixels():
    result = grain_size(class_mask(shifted_grid()), [BOUNDARY], None, angles=(0, 90), lines_per_angle=4)
    assert result.planimetric.G is None and result.intercept.total.G is None
    assert result.planimetric.grains_per_mm2 is None
    assert all(c.G is None for c in result.intercept.per_angle.values())
    assert any("no pixel size" in n and "G" in n for n in result.notes)
    assert result.intercept.total.mean_intercept == pytest.approx(20.0)  # px
    assert result.planimetric.mean_grain_area == pytest.approx(400.0)  # px²
    out = json.loads(json.dumps(result.to_dict()))
    assert (out["length_unit"], out["area_unit"]) == ("px", "px²")
    assert out["planimetric"]["G"] is None


def test_calibrated_results_are_in_micrometres():
    out = grain_size(class_mask(shifted_grid()), [BOUNDARY], PIXEL).to_dict()
    assert (out["length_unit"], out["area_unit"]) == ("µm", "µm²")
    assert out["notes"] == ["only 25 grains in the field: E112 asks for at least 50 (use a lower "
                            "magnification or more fields)"]
    assert {d["angle_deg"] for d in out["intercept"]["per_angle"]} == {0.0, 45.0, 90.0, 135.0}


def test_specks_below_the_minimum_size_are_not_grains():
    labels = shifted_grid()
    mask = class_mask(labels, thickness=4)
    mask[30, 45] = mask[50, 30] = GRAIN  # one-pixel holes in the boundary band
    assert grain_size(mask, [BOUNDARY], PIXEL).planimetric.n_inside == 18
    assert grain_size(mask, [BOUNDARY], PIXEL, min_grain_px=5).planimetric.n_inside == 16


def test_grains_are_4_connected():
    boundary = np.eye(5, dtype=bool)  # a diagonal line, one pixel thin
    assert grains_from_boundaries(boundary).max() == 2


@pytest.mark.parametrize(("mask", "values", "message"), [
    (np.ones((20, 20), np.uint8), [2], "do not occur"),
    (np.ones((20, 20), np.float32), [1], "2-D integer"),
    (np.ones((2, 20, 20), np.uint8), [1], "2-D integer"),
    (np.full((20, 20), 2, np.uint8), [2], "no grains"),
    (np.ones((20, 20), np.uint8), [], "boundar"),
])
def test_bad_input_is_a_user_error(mask, values, message):
    with pytest.raises(UserError, match=message):
        grain_size(mask, values, PIXEL)


def test_bad_options_are_user_errors():
    mask = class_mask(shifted_grid())
    with pytest.raises(UserError, match="pixel size"):
        grain_size(mask, [BOUNDARY], 0.0)
    with pytest.raises(UserError, match="angle"):
        grain_size(mask, [BOUNDARY], PIXEL, angles=())
    with pytest.raises(UserError, match="negative"):
        grain_size_from_labels(np.full((5, 5), -1), PIXEL)
