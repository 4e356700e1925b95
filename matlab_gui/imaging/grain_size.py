"""ASTM E112 grain size number G from a segmentation: planimetric (Jeffries) and lineal intercept.

Metallographers report grain size as E112's G, which is defined in millimetres at 1x; so G is
given only when the pixel size is known, and lengths stay in pixels otherwise (no made-up scale).

Grains are the 4-connected regions of the non-boundary pixels. Painted or predicted boundaries
are bands several pixels wide, while E112 treats boundaries as lines: for counting, each boundary
pixel is given to its nearest grain (a partition of the field into grains), so that which grains
touch the field's edge, grain areas and what a test line passes through near a triple junction
do not depend on how thick the boundaries were drawn.

Section numbers refer to ASTM E112-13 (docs/measuring.md says what is simplified).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from skimage import measure as skm
from skimage.segmentation import expand_labels

from matlab_gui.errors import UserError
from matlab_gui.imaging.measure import Particles
from matlab_gui.imaging.particles import particle_table

# E112-13: G from grains per mm² at 1x (planimetric) and from the mean lineal intercept in mm.
PLANIMETRIC_SLOPE, PLANIMETRIC_OFFSET = 3.321928, -2.954
INTERCEPT_SLOPE, INTERCEPT_OFFSET = -6.643856, -3.288
CORNER_WEIGHT = 0.25  # sec. 11, rectangular field: each of the four corner grains counts 1/4
EDGE_WEIGHT = 0.5  # a grain cut by the field's edge counts 1/2
LINE_END_ON_BOUNDARY = 0.5  # sec. 13: a test line ending exactly on a boundary scores 1/2
E112_MIN_COUNT = 50  # E112 asks for at least about 50 grains / intersections per field

DEFAULT_ANGLES = (0.0, 45.0, 90.0, 135.0)
DEFAULT_LINES_PER_ANGLE = 50
SAMPLE_STEP_PX = 0.5  # along a test line; fine enough not to step over a 1-pixel boundary

NO_SCALE_NOTE = ("no pixel size: lengths and areas are in pixels and G is not given, since "
                 "ASTM E112 defines G in millimetres at 1x")
LEFT_OUT_REASON = "touch the image edge, so their full size is unknown"


@dataclass
class Planimetric:
    """Jeffries count over the whole image as a rectangular test field (E112-13 sec. 11)."""

    n_inside: int
    n_intercepted: int  # cut by the field's edge, the corner grains not included
    n_corner_grains: int  # distinct grains holding the four corners (weighed 1/4 per corner)
    n_equivalent: float  # N = N_inside + 0.5 N_intercepted + 1
    field_area: float
    mean_grain_area: float  # field area / N
    grains_per_mm2: float | None  # N_A at 1x
    G: float | None

    def to_dict(self) -> dict:
        return {"n_inside": self.n_inside, "n_intercepted": self.n_intercepted,
                "n_corner_grains": self.n_corner_grains, "n_equivalent": self.n_equivalent,
                "field_area": self.field_area, "mean_grain_area": self.mean_grain_area,
                "grains_per_mm2": self.grains_per_mm2, "G": self.G}


@dataclass
class InterceptCount:
    """Intersections P of test lines of total length L with the grain boundaries."""

    lines: int
    line_length: float
    intersections: float  # halves from lines ending on a boundary
    junction_crossings: int  # boundary crossings at a triple junction, resolved into 1 or 2
    intersections_per_length: float  # P_L
    mean_intercept: float | None  # l = 1 / P_L; None when no line met a boundary
    G: float | None

    def to_dict(self) -> dict:
        return {"lines": self.lines, "line_length": self.line_length,
                "intersections": self.intersections, "junction_crossings": self.junction_crossings,
                "intersections_per_length": self.intersections_per_length,
                "mean_intercept": self.mean_intercept, "G": self.G}


@dataclass
class LinealIntercept:
    """Heyn-style lineal intercept (E112-13 sec. 13) over test lines at several orientations."""

    total: InterceptCount
    per_angle: dict[float, InterceptCount]
    anisotropy_ratio: float | None  # longest / shortest mean intercept over the orientations

    def to_dict(self) -> dict:
        return {**self.total.to_dict(), "anisotropy_ratio": self.anisotropy_ratio,
                "per_angle": [{"angle_deg": a, **c.to_dict()} for a, c in self.per_angle.items()]}


@dataclass
class GrainSizeDistribution:
    """Sizes of the grains that lie wholly inside the image."""

    grains: Particles
    left_out: int
    left_out_reason: str = LEFT_OUT_REASON

    def to_dict(self, bins: int = 10) -> dict:
        return {**self.grains.summary(bins), "left_out": self.left_out,
                "left_out_reason": self.left_out_reason,
                "area": self.grains.area.tolist(),
                "equivalent_diameter": self.grains.equivalent_diameter.tolist()}


@dataclass
class GrainSize:
    height: int
    width: int
    pixel_size_m: float | None
    planimetric: Planimetric
    intercept: LinealIntercept
    distribution: GrainSizeDistribution
    notes: list[str] = field(default_factory=list)
    bins: int = 10

    @property
    def length_unit(self) -> str:
        return "µm" if self.pixel_size_m else "px"

    def to_dict(self) -> dict:
        return {"standard": "ASTM E112-13", "height": self.height, "width": self.width,
                "pixel_size_m": self.pixel_size_m, "length_unit": self.length_unit,
                "area_unit": f"{self.length_unit}²",
                "intersections_per_length_unit": f"1/{self.length_unit}",
                "planimetric": self.planimetric.to_dict(), "intercept": self.intercept.to_dict(),
                "distribution": self.distribution.to_dict(self.bins), "notes": list(self.notes)}


def planimetric_G(grains_per_mm2: float) -> float:
    """E112 G from the number of grains per mm² at 1x."""
    return PLANIMETRIC_SLOPE * math.log10(grains_per_mm2) + PLANIMETRIC_OFFSET


def intercept_G(mean_intercept_mm: float) -> float:
    """E112 G from the mean lineal intercept in mm at 1x."""
    return INTERCEPT_SLOPE * math.log10(mean_intercept_mm) + INTERCEPT_OFFSET


def grains_from_boundaries(boundary: np.ndarray) -> np.ndarray:
    """Grains numbered 1..n: the 4-connected regions of the pixels that are not boundary; 0 on
    the boundaries. 4-connected, so a one-pixel diagonal boundary line still separates grains."""
    return skm.label(~np.asarray(boundary, dtype=bool), connectivity=1)


def boundary_pixels(mask: np.ndarray, boundary_values: int | Iterable[int]) -> np.ndarray:
    """Where a class-index mask holds one of the boundary classes; UserError for a value the
    mask does not hold (a boundary class nobody painted gives no grains to measure)."""
    mask = _integer_image(mask, "a class-index mask")
    values = [boundary_values] if isinstance(boundary_values, int | np.integer) else list(boundary_values)
    if not values:
        raise UserError("name the mask value(s) that mark grain boundaries")
    present = set(np.unique(mask).tolist())
    absent = [int(v) for v in values if int(v) not in present]
    if absent:
        raise UserError(f"boundary value(s) {absent} do not occur in the mask (it holds "
                        f"{sorted(present)[:20]}); paint or predict the boundary class first")
    return np.isin(mask, values)


def grain_size(mask: np.ndarray, boundary_values: int | Iterable[int], pixel_size_m: float | None,
               angles: Sequence[float] = DEFAULT_ANGLES,
               lines_per_angle: int = DEFAULT_LINES_PER_ANGLE, bins: int = 10,
               min_grain_px: int = 1) -> GrainSize:
    """E112 grain size of a class-index mask whose `boundary_values` classes are the grain
    boundaries; `min_grain_px` drops specks smaller than that (noise of a predicted mask)."""
    labels = grains_from_boundaries(boundary_pixels(mask, boundary_values))
    return grain_size_from_labels(labels, pixel_size_m, angles, lines_per_angle, bins, min_grain_px)


def grain_size_from_labels(labels: np.ndarray, pixel_size_m: float | None,
                           angles: Sequence[float] = DEFAULT_ANGLES,
                           lines_per_angle: int = DEFAULT_LINES_PER_ANGLE, bins: int = 10,
                           min_grain_px: int = 1) -> GrainSize:
    """E112 grain size of a grain label image: each grain its own id, 0 on boundaries (grains
    may also touch without a boundary pixel between them)."""
    labels = _integer_image(labels, "a grain label image")
    if labels.min() < 0:
        raise UserError("a grain label image holds ids >= 0 (0 = boundary), not negative values")
    _check_options(pixel_size_m, angles, lines_per_angle, bins)
    labels = _without_specks(labels, min_grain_px)
    if not labels.any():
        raise UserError("the mask holds no grains: every pixel is boundary"
                        + (f" or in a grain under {min_grain_px} px" if min_grain_px > 1 else ""))
    partition = expand_labels(labels, distance=sum(labels.shape))  # every pixel to its nearest grain
    mm_per_px = pixel_size_m * 1e3 if pixel_size_m else None
    planimetric = _planimetric(partition, mm_per_px)
    intercept = _lineal_intercept(labels, partition, angles, lines_per_angle, mm_per_px)
    edge = _edge_ids(partition)
    inside = np.where(np.isin(partition, edge), 0, partition)
    scale = pixel_size_m * 1e6 if pixel_size_m else 1.0  # µm (or px) per px
    grains = Particles(particle_table(inside), scale, first_id=1, exclude_edge=False)
    distribution = GrainSizeDistribution(grains, int(edge.size))
    notes = [] if pixel_size_m else [NO_SCALE_NOTE]
    if planimetric.n_equivalent < E112_MIN_COUNT:
        notes.append(f"only {planimetric.n_equivalent:g} grains in the field: E112 asks for at "
                     f"least {E112_MIN_COUNT} (use a lower magnification or more fields)")
    if intercept.total.intersections < E112_MIN_COUNT:
        notes.append(f"only {intercept.total.intersections:g} intersections: E112 asks for at "
                     f"least {E112_MIN_COUNT} per field (use more test lines or more fields)")
    return GrainSize(int(labels.shape[0]), int(labels.shape[1]), pixel_size_m, planimetric,
                     intercept, distribution, notes, bins)


def _integer_image(array: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.integer) or 0 in array.shape:
        raise UserError(f"{what} is a non-empty 2-D integer array, not {array.dtype} {array.shape}")
    return array


def _check_options(pixel_size_m, angles, lines_per_angle, bins) -> None:
    if pixel_size_m is not None and not (np.isfinite(pixel_size_m) and 0 < pixel_size_m < 1):
        raise UserError(f"pixel size {pixel_size_m!r} m is not a plausible pixel size")
    if not len(angles) or not all(np.isfinite(a) for a in angles):
        raise UserError(f"test line angles {list(angles)!r}: give at least one angle in degrees")
    if int(lines_per_angle) < 1 or int(bins) < 1:
        raise UserError(f"need at least one test line per angle and one histogram bin, not "
                        f"{lines_per_angle} lines and {bins} bins")


def _without_specks(labels: np.ndarray, min_grain_px: int) -> np.ndarray:
    if min_grain_px <= 1:
        return labels
    small = np.bincount(labels.ravel()) < min_grain_px
    small[0] = False
    return np.where(small[labels], 0, labels)


def _edge_ids(partition: np.ndarray) -> np.ndarray:
    return np.unique(np.concatenate([partition[0], partition[-1], partition[:, 0], partition[:, -1]]))


def _planimetric(partition: np.ndarray, mm_per_px: float | None) -> Planimetric:
    """Sec. 11 for a rectangle: grains inside count 1, grains cut by the edge 1/2, and the four
    corner grains 1/4 each, i.e. N = N_inside + 0.5 N_intercepted + 1."""
    n_grains = np.unique(partition).size  # the partition has no 0 left
    edge = _edge_ids(partition)
    corners = np.unique(partition[[0, 0, -1, -1], [0, -1, 0, -1]])
    n_inside, n_intercepted = n_grains - edge.size, edge.size - corners.size
    n = n_inside + EDGE_WEIGHT * n_intercepted + CORNER_WEIGHT * 4
    area_px = float(partition.size)
    unit_per_px = mm_per_px * 1e3 if mm_per_px else 1.0  # µm or px
    per_mm2 = n / (area_px * mm_per_px**2) if mm_per_px else None
    return Planimetric(int(n_inside), int(n_intercepted), int(corners.size), float(n),
                       area_px * unit_per_px**2, area_px / n * unit_per_px**2, per_mm2,
                       planimetric_G(per_mm2) if per_mm2 else None)


def intercept_lines(shape: tuple[int, int], angle_deg: float, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """`count` parallel lines at `angle_deg` (counter-clockwise from the image's rows, as seen on
    screen), evenly spaced across the field and clipped to it: (start, end) as (x, y) pixels."""
    height, width = shape
    a = math.radians(angle_deg)
    direction = np.array([math.cos(a), -math.sin(a)])  # y grows downwards in an image
    normal = np.array([math.sin(a), math.cos(a)])
    corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], float)
    low, high = (corners @ normal).min(), (corners @ normal).max()
    size = np.array([width, height], float)
    lines = []
    for k in range(count):
        centre = (low + (k + 0.5) * (high - low) / count) * normal
        t0, t1 = -np.inf, np.inf
        for axis in range(2):
            if abs(direction[axis]) > 1e-12:
                ends = sorted(((0 - centre[axis]) / direction[axis], (size[axis] - centre[axis]) / direction[axis]))
                t0, t1 = max(t0, ends[0]), min(t1, ends[1])
        if t1 > t0:
            lines.append((centre + t0 * direction, centre + t1 * direction))
    return lines


def _line_pixels(start: np.ndarray, end: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    length = float(np.hypot(*(end - start)))
    n = max(1, math.ceil(length / SAMPLE_STEP_PX))
    t = (np.arange(n) + 0.5) / n
    xy = start + t[:, None] * (end - start)
    rows = np.clip(np.floor(xy[:, 1]).astype(np.intp), 0, shape[0] - 1)
    cols = np.clip(np.floor(xy[:, 0]).astype(np.intp), 0, shape[1] - 1)
    return rows, cols


def _count_intersections(grains: np.ndarray, nearest: np.ndarray) -> tuple[float, int]:
    """Boundary intersections along one line, from the grain ids under it (0 = boundary) and the
    nearest grain of each of its pixels. Sec. 13: a run of boundary crossed counts 1 however wide,
    a line ending on a boundary 1/2, one ending in a grain nothing, a tangent hit 1. A triple
    junction (E112: 1 1/2) is resolved from the nearest grains: 2 when the line cut through the
    third grain's tip, 1 when it passed beside it."""
    starts = np.flatnonzero(np.r_[True, grains[1:] != grains[:-1]])
    runs = grains[starts]
    ends = np.r_[starts[1:], grains.size]
    total, junctions = 0.0, 0
    for i in np.flatnonzero(runs == 0):
        if i == 0 or i == runs.size - 1:
            total += LINE_END_ON_BOUNDARY
            continue
        seen = {int(runs[i - 1]), int(runs[i + 1])} | set(np.unique(nearest[starts[i]:ends[i]]).tolist())
        total += max(1, len(seen) - 1)
        junctions += len(seen) > 2
    touching = (runs[:-1] != 0) & (runs[1:] != 0)  # grains meeting without a boundary pixel
    return total + float(np.count_nonzero(touching)), junctions


def _intercept_count(lines: int, length_px: float, p: float, junctions: int,
                     mm_per_px: float | None) -> InterceptCount:
    unit_per_px = mm_per_px * 1e3 if mm_per_px else 1.0
    length = length_px * unit_per_px
    mean = length / p if p else None
    g = intercept_G(mean / 1e3) if (mean and mm_per_px) else None
    return InterceptCount(lines, length, p, junctions, p / length if length else 0.0, mean, g)


def _lineal_intercept(labels, partition, angles, lines_per_angle, mm_per_px) -> LinealIntercept:
    per_angle, sums = {}, np.zeros(4)
    for angle in angles:
        lines = intercept_lines(labels.shape, float(angle), int(lines_per_angle))
        counts = np.zeros(4)  # lines, length in px, intersections, junction crossings
        for start, end in lines:
            rows, cols = _line_pixels(start, end, labels.shape)
            found, at_junctions = _count_intersections(labels[rows, cols], partition[rows, cols])
            counts += (1, np.hypot(*(end - start)), found, at_junctions)
        per_angle[float(angle)] = _intercept_count(int(counts[0]), counts[1], counts[2],
                                                   int(counts[3]), mm_per_px)
        sums += counts
    total = _intercept_count(int(sums[0]), sums[1], sums[2], int(sums[3]), mm_per_px)
    means = [c.mean_intercept for c in per_angle.values()]
    ratio = max(means) / min(means) if len(means) > 1 and all(means) else None
    return LinealIntercept(total, per_angle, ratio)
