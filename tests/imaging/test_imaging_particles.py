"""Particles as a metallographer counts them: touching ones split, the edge and specks handled
as stated, and each particle's size and shape exact on shapes with known answers."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from matlab_gui.imaging.measure import MeasureOptions, measure_mask
from matlab_gui.imaging.particles import ParticleOptions, label_particles, particle_table
from matlab_gui.jobs.measure import overlay_of, particle_rows


def touching_disks(seed: int = 0) -> tuple[np.ndarray, int]:
    """Clusters of 2-4 overlapping disks of radius 9-16 px (centres 1.5-1.8 radii apart, so
    each pair shares a neck), well inside a 400 x 400 field; returns the mask and disk count."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((400, 400), np.uint8)
    count = 0
    for cy in (70, 200, 330):
        for cx in (70, 200, 330):
            r = int(rng.integers(9, 17))
            y, x = float(cy), float(cx)
            angle = rng.uniform(0, 2 * np.pi)
            for _ in range(int(rng.integers(2, 5))):
                cv2.circle(mask, (int(round(x)), int(round(y))), r, 1, -1)
                count += 1
                step = r * rng.uniform(1.5, 1.8)
                angle += rng.uniform(-0.6, 0.6)
                x, y = x + step * np.cos(angle), y + step * np.sin(angle)
    return mask, count


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_touching_disks_are_counted_exactly_when_split(seed):
    mask, disks = touching_disks(seed)
    merged = label_particles(mask == 1).labels.max()
    split = label_particles(mask == 1, ParticleOptions(split=True)).labels.max()
    assert merged == 9  # one region per cluster: what a semantic mask alone gives
    assert split == disks


def test_split_applies_to_the_chosen_class_only():
    mask, disks = touching_disks(0)
    right = np.broadcast_to(np.arange(400)[None, :] > 200, mask.shape)
    mask[mask == 1] = 1 + right[mask == 1]
    both = measure_mask(mask, ["m", "a", "b"], options=MeasureOptions(split=frozenset({1})))
    a, b = both.classes[1].particles, both.classes[2].particles
    plain = measure_mask(mask, ["m", "a", "b"])
    assert len(a.table) > len(plain.classes[1].particles.table)
    assert len(b.table) == len(plain.classes[2].particles.table) > 0


def two_disks(r1: int, r2: int, gap: int) -> np.ndarray:
    """Disks of radius r1 and r2 with centres `gap` apart."""
    mask = np.zeros((100, 160), bool)
    yy, xx = np.mgrid[:100, :160]
    for r, cx in ((r1, 60), (r2, 60 + gap)):
        mask |= (yy - 50) ** 2 + (xx - cx) ** 2 <= r * r
    return mask


def test_prominence_decides_which_necks_are_split():
    mask = two_disks(20, 17, 28)  # the neck is 13 px from the background, 4 px below the small centre
    count = lambda p: label_particles(mask, ParticleOptions(split=True, prominence=p)).labels.max()  # noqa: E731
    assert (count(1.0), count(3.5), count(5.0)) == (2, 2, 1)


def test_a_shallow_neck_of_a_big_particle_is_a_lobe_not_two_particles():
    mask = two_disks(40, 38, 40)  # the neck dips 3.4 px: above 1 px, but 9 % of the smaller centre
    count = lambda d: label_particles(mask, ParticleOptions(split=True, depth=d)).labels.max()  # noqa: E731
    assert (count(0.2), count(0.05)) == (1, 2)
    mask = two_disks(20, 17, 28)
    assert (count(0.2), count(0.3)) == (2, 1)  # 4 px below 17 px: 24 %


def test_a_single_elongated_or_thin_particle_is_not_cut():
    mask = np.zeros((80, 120), bool)
    mask[20:40, 10:90] = True  # a 20 x 80 bar: one ridge, no neck
    mask[60, 10:100] = True  # one pixel thin: too thin to hold a centre at this prominence
    for prominence in (1.0, 2.0):
        labels = label_particles(mask, ParticleOptions(split=True, prominence=prominence)).labels
        assert labels.max() == 2 and (labels[60, 10:100] > 0).all()


def test_feret_ellipse_and_orientation_of_a_rectangle():
    mask = np.zeros((60, 80), bool)
    mask[10:30, 20:30] = True  # 20 rows x 10 columns: upright
    t = particle_table(label_particles(mask).labels)
    assert t.feret_max[0] == pytest.approx(math.hypot(20, 10))
    assert t.feret_min[0] == pytest.approx(10.0)
    assert t.aspect_ratio[0] == pytest.approx(2.0)
    assert t.orientation_deg[0] == pytest.approx(90.0)
    assert (t.centroid_x[0], t.centroid_y[0]) == (24.5, 19.5)
    lying = particle_table(label_particles(mask.T).labels)
    assert lying.orientation_deg[0] == pytest.approx(0.0)


def test_orientation_reads_counter_clockwise_like_a_plot():
    mask = np.zeros((200, 200), np.uint8)
    cv2.ellipse(mask, (100, 100), (60, 12), -30, 0, 360, 1, -1)  # cv2 angles turn clockwise on screen
    t = particle_table(label_particles(mask == 1).labels)
    assert t.orientation_deg[0] == pytest.approx(30.0, abs=1.0)
    assert t.aspect_ratio[0] == pytest.approx(5.0, rel=0.05)


def test_one_pixel_thin_particles_have_a_shape_and_are_measured():
    mask = np.zeros((20, 20), np.uint8)
    mask[5, 3:15] = 1
    p = measure_mask(mask, ["bg", "line"]).to_dict()["classes"][1]["particles"]
    assert p["count"] == p["measured"] == 1
    assert p["mean_aspect_ratio"] == pytest.approx(12 / 1.0, rel=0.01)
    assert p["mean_feret_min"] == pytest.approx(1.0)


def test_particles_cut_by_the_edge_are_left_out_and_said_so():
    mask = np.zeros((50, 50), np.uint8)
    mask[0:10, 20:30] = 1  # on the top edge
    mask[30:34, 30:34] = 1
    mask[45:50, 5:7] = 1  # on the bottom edge
    mask[20:22, 47:50] = 1  # on the right edge
    p = measure_mask(mask, ["bg", "p"]).to_dict()["classes"][1]["particles"]
    assert (p["count"], p["measured"], p["left_out_touching_edge"]) == (4, 1, 3)
    assert p["mean_area"] == 16.0
    assert any("3 particles cut by the image edge" in n for n in p["notes"])
    kept = measure_mask(mask, ["bg", "p"], options=MeasureOptions(ParticleOptions(exclude_edge=False)))
    summary = kept.to_dict()["classes"][1]["particles"]
    assert summary["measured"] == 4 and summary["mean_area"] == (100 + 16 + 10 + 6) / 4 and not summary["notes"]


def test_minimum_area_and_hole_filling_before_measuring():
    mask = np.zeros((60, 60), np.uint8)
    cv2.circle(mask, (30, 30), 15, 1, -1)
    cv2.circle(mask, (30, 30), 5, 0, -1)  # a hole
    mask[2:4, 50:52] = 1  # a speck of 4 px
    area_with_hole = int((mask[10:50, 10:50] == 1).sum())
    plain = measure_mask(mask, ["bg", "p"]).classes[1].particles
    assert len(plain.table) == 2
    options = MeasureOptions(ParticleOptions(fill_holes=True, min_area_px=5))
    cleaned = measure_mask(mask, ["bg", "p"], options=options)
    p = cleaned.classes[1].particles
    assert len(p.table) == 1 and p.removed_small == 1
    assert p.table.area[0] == area_with_hole + int((mask[25:36, 25:36] == 0).sum())
    assert cleaned.classes[1].pixels == int((mask == 1).sum())  # area fractions: the mask as it is
    assert "1 particle below the minimum area removed" in p.notes()
    at_the_limit = measure_mask(mask, ["bg", "p"], options=MeasureOptions(ParticleOptions(min_area_px=4)))
    assert len(at_the_limit.classes[1].particles.table) == 2  # 4 px is not below 4 px


def test_rows_ids_point_at_their_particles_in_the_label_image():
    mask, _ = touching_disks(1)
    mask[350:390, 10:20] = 2
    measurement = measure_mask(mask, ["bg", "a", "b"], 0.5e-6,
                               MeasureOptions(split=frozenset({1})))
    header, rows = particle_rows(measurement)
    cx, cy = header.index("centroid x (µm)"), header.index("centroid y (µm)")
    area = header.index("area (µm²)")
    for row in rows:
        pid, x, y = row[0], row[cx] / 0.5, row[cy] / 0.5
        region = measurement.labels == pid
        assert region.sum() * 0.25 == pytest.approx(row[area])
        assert abs(np.argwhere(region).mean(0) - (y, x)).max() < 1e-6
    assert rows[-1][1] == "b"


def test_overlay_outlines_split_particles_in_different_colours():
    mask = np.zeros((100, 160), np.uint8)
    cv2.circle(mask, (55, 50), 25, 1, -1)
    cv2.circle(mask, (100, 50), 25, 1, -1)
    measurement = measure_mask(mask, ["bg", "p"], options=MeasureOptions(split=frozenset({1})))
    picture = overlay_of(measurement, None)
    left, right = picture[50, 30], picture[50, 125]  # the outer outline of each disk
    assert left.any() and right.any() and not np.array_equal(left, right)
    assert not picture[5, 5].any()  # background is not outlined
