"""Measuring a mask as a job: phase fractions and particle statistics per class, one row per
particle, and the picture that labels the particles. The CLI's `measure`, batch `segment` and the
Measurements dock run this."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from matlab_gui.errors import UserError
from matlab_gui.imaging.grain_size import GrainSize, grain_size
from matlab_gui.imaging.measure import Measurement, MeasureOptions, measure_mask
from matlab_gui.imaging.overlays import PALETTE, particle_overlay
from matlab_gui.imaging.particles import (
    DEFAULT_DEPTH,
    DEFAULT_PROMINENCE,
    ParticleOptions,
    outlines,
)
from matlab_gui.imaging.scale_from_image import pixel_size_from_bar
from matlab_gui.imaging.units import parse_area_px


@dataclass
class MeasureRequest:
    mask: np.ndarray
    names: list[str] | None  # by mask value; 0 = unlabelled
    pixel_size_m: float | None
    options: MeasureOptions = MeasureOptions()
    grain_boundaries: frozenset[int] = frozenset()  # classes drawn on grain boundaries, if any


@dataclass(frozen=True)
class MeasureSpec:
    """Particle and grain options as a user gives them (classes by name or value, an area with
    its unit), made into one image's request once its class names and pixel size are known:
    the same words mean the same thing in `measure` and in batch `segment`."""

    split: tuple[str, ...] = ()
    min_area: str = "0"
    fill_holes: bool = False
    exclude_edge: bool = True
    prominence: float = DEFAULT_PROMINENCE
    depth: float = DEFAULT_DEPTH
    grain_boundary: tuple[str, ...] = ()
    scale_bar: str | None = None  # "auto" (read its label) or its length: pixel size from the bar

    def pixel_size(self, image: np.ndarray | None, known: float | None) -> tuple[float | None, str]:
        """The pixel size to measure with, and a note when it came from the scale bar."""
        if self.scale_bar is None:
            return known, ""
        if image is None:
            raise UserError("the pixel size from a scale bar needs the micrograph (--image)")
        length = None if self.scale_bar == "auto" else self.scale_bar
        metres, note = pixel_size_from_bar(image, length)
        if known and abs(metres / known - 1) > 0.01:
            note += f" (the file says {known * 1e9:.4g} nm; the bar is used)"
        return metres, note

    def check(self, names: list[str]) -> None:
        """UserError now, before any image, for a class the model does not have."""
        empty = np.zeros((0, 0), np.uint8)
        class_values(self.split, names, empty, "split")
        class_values(self.grain_boundary, names, empty, "grain boundary")

    def request(self, mask: np.ndarray, names: list[str] | None,
                pixel_size_m: float | None) -> MeasureRequest:
        particles = ParticleOptions(prominence=self.prominence, depth=self.depth,
                                    fill_holes=self.fill_holes,
                                    min_area_px=parse_area_px(self.min_area, pixel_size_m),
                                    exclude_edge=self.exclude_edge)
        split = class_values(self.split, names, mask, "split")
        boundaries = class_values(self.grain_boundary, names, mask, "grain boundary")
        return MeasureRequest(mask, names, pixel_size_m, MeasureOptions(particles, frozenset(split)),
                              frozenset(boundaries))


def class_values(wanted: Sequence[str], names: list[str] | None, mask: np.ndarray,
                 what: str) -> list[int]:
    """Mask values of classes given by name, or by value (one the mask holds or names)."""
    present = set(np.unique(mask).tolist()) if wanted else set()
    values = []
    for item in wanted:
        if names and item in names:
            values.append(names.index(item))
        elif item.isdigit() and (int(item) in present or (names and int(item) < len(names))):
            values.append(int(item))
        else:
            known = ", ".join(names) if names else ", ".join(map(str, sorted(present)))
            raise UserError(f"{what} class {item!r} is not a class of this mask ({known})")
    return values


def run_measure(request: MeasureRequest, progress=None, cancel=None) -> Measurement:
    """Label the particles of every class (seconds on a large mask: run it off the GUI thread)."""
    return measure_mask(request.mask, request.names, request.pixel_size_m, request.options)


def run_grain_size(request: MeasureRequest) -> GrainSize | None:
    """ASTM E112 grain size of the grains between the request's boundary classes (None when it
    names none)."""
    if not request.grain_boundaries:
        return None
    return grain_size(request.mask, sorted(request.grain_boundaries), request.pixel_size_m)


def table_of(measurement: Measurement, first: int = 1) -> tuple[list[str], list[list]]:
    """Header and one row per class from value `first` on (the window leaves out unlabelled),
    in the measurement's units; `measured` is how many particles the size columns use."""
    length, area = measurement.length_unit, f"{measurement.length_unit}²"
    header = ["class", "area fraction", f"area ({area})", "particles", "measured",
              f"mean diameter ({length})", f"median diameter ({length})",
              f"mean Feret max ({length})", f"mean Feret min ({length})", "mean aspect ratio"]
    rows = []
    for c in measurement.classes[first:]:
        s = c.particles.summary()
        rows.append([c.name, c.area_fraction, c.area, s["count"], s.get("measured", 0),
                     s.get("mean_equivalent_diameter"), s.get("median_equivalent_diameter"),
                     s.get("mean_feret_max"), s.get("mean_feret_min"), s.get("mean_aspect_ratio")])
    return header, rows


def particle_rows(measurement: Measurement, first: int = 1) -> tuple[list[str], list[list]]:
    """One row per particle of the classes from value `first` on: its id in the measurement's
    label image, lengths and centroid in the measurement's unit, angle in degrees."""
    length, area = measurement.length_unit, f"{measurement.length_unit}²"
    header = ["id", "class", f"area ({area})", f"equivalent diameter ({length})",
              f"Feret max ({length})", f"Feret min ({length})", "aspect ratio",
              "orientation (deg)", f"centroid x ({length})", f"centroid y ({length})",
              "touches edge", "measured"]
    rows = []
    for c in measurement.classes[first:]:
        p, t = c.particles, c.particles.table
        columns = zip(p.area, p.equivalent_diameter, t.feret_max * p.scale, t.feret_min * p.scale,
                      t.aspect_ratio, t.orientation_deg, t.centroid_x * p.scale,
                      t.centroid_y * p.scale, t.touches_edge, p.measured, strict=True)
        for i, values in enumerate(columns):
            *numbers, edge, used = values
            rows.append([p.first_id + i, c.name, *(float(v) for v in numbers), bool(edge), bool(used)])
    return header, rows


@dataclass
class ParticleMarks:
    """What a picture of the particles needs: their label image (classes before `first` left
    out), and each drawn particle's id, centroid (x, y) in px and narrowest width in px."""

    labels: np.ndarray
    ids: list[int]
    centroids: list[tuple[float, float]]
    widths: list[float]


def particle_marks(measurement: Measurement, first: int = 1) -> ParticleMarks:
    """The particles of classes from value `first` on, with the ids `particle_rows` gives them."""
    keep = [c for c in measurement.classes[first:] if len(c.particles.table)]
    labels = measurement.labels.copy()
    below = sum(len(c.particles.table) for c in measurement.classes[:first])
    if below:
        labels[labels <= below] = 0
    ids = [c.particles.first_id + i for c in keep for i in range(len(c.particles.table))]
    centroids = [(float(x), float(y)) for c in keep for x, y in
                 zip(c.particles.table.centroid_x, c.particles.table.centroid_y, strict=True)]
    widths = [float(w) for c in keep for w in c.particles.table.feret_min]
    return ParticleMarks(labels, ids, centroids, widths)


def overlay_of(measurement: Measurement, image: np.ndarray | None, first: int = 1) -> np.ndarray:
    """RGB picture of the particles of classes from value `first` on, outlined and numbered as
    in `particle_rows`, over `image` (its display view) or black."""
    marks = particle_marks(measurement, first)
    return particle_overlay(image, marks.labels, marks.ids, marks.centroids, marks.widths)


@dataclass
class MeasuredView:
    """A measurement with its particle outlines ready to draw over the image in the window:
    the outline pixels (flat indices), each one's colour code (1 + id % colours) and class."""

    measurement: Measurement
    outline_at: np.ndarray
    outline_code: np.ndarray
    outline_class: np.ndarray
    grains: GrainSize | None = None

    def outline_codes(self, value: int) -> np.ndarray:
        """uint8 image of the outlines of class `value`'s particles (0 elsewhere)."""
        m = self.measurement
        codes = np.zeros(m.height * m.width, np.uint8)
        pick = self.outline_class == value
        codes[self.outline_at[pick]] = self.outline_code[pick]
        return codes.reshape(m.height, m.width)


def measure_for_view(request: MeasureRequest, progress=None, cancel=None,
                     colours: int = len(PALETTE)) -> MeasuredView:
    """`run_measure` plus every particle's outline (a second pass over the image: off the GUI
    thread too), kept sparse so showing one class's outlines is cheap."""
    m = run_measure(request)
    class_of = np.zeros(int(m.labels.max()) + 1, np.int32)
    for c in m.classes:
        class_of[c.particles.first_id:c.particles.first_id + len(c.particles.table)] = c.value
    at = np.flatnonzero(outlines(m.labels))
    ids = m.labels.ravel()[at]
    return MeasuredView(m, at, (1 + ids % colours).astype(np.uint8), class_of[ids],
                        run_grain_size(request))


def grain_lines(grains: GrainSize) -> list[str]:
    """The grain size in a few readable lines, G by both methods when the scale is known."""
    p, i = grains.planimetric, grains.intercept.total
    unit = grains.length_unit
    lines = []
    if p.G is not None:
        lines.append(f"ASTM E112 grain size G = {p.G:.2f} (planimetric), "
                     f"{i.G:.2f} (intercept)" if i.G is not None else
                     f"ASTM E112 grain size G = {p.G:.2f} (planimetric)")
    lines.append(f"{p.n_equivalent:g} grains (Jeffries count), mean area {p.mean_grain_area:.4g} {unit}²")
    if i.mean_intercept is not None:
        lines.append(f"mean lineal intercept {i.mean_intercept:.4g} {unit} over "
                     f"{i.intersections:g} intersections")
    return lines + list(grains.notes)


_IMAGE_COLUMNS = ["path", "class", "pixel size (nm)", "pixel size from", "area fraction",
                  "particles", "measured", "removed small", "length unit",
                  "mean area", "median area", "mean diameter", "median diameter",
                  "mean Feret max", "mean Feret min", "mean aspect ratio"]
_GRAIN_COLUMNS = ["grain size G (planimetric)", "grain size G (intercept)", "mean intercept"]


def image_header(grains: bool) -> list[str]:
    """Columns of batch segment's measurements.csv: one row per image and class, areas in the
    square of the row's length unit (µm where the image has a pixel size, else px); `measured`
    particles are those the size columns use (the others touch the edge), `removed small` those
    below the minimum area."""
    return [*_IMAGE_COLUMNS, *(_GRAIN_COLUMNS if grains else []), "error"]


def measure_image(spec: MeasureSpec, labels: np.ndarray, names: list[str], image: np.ndarray,
                  file_pixel_size_m: float | None, path) -> tuple[list[list], tuple[list[str], list[list]]]:
    """One segmented image measured as `spec` says: its rows of measurements.csv, and its
    per-particle table (header, rows). Every class of the model is measured (value 0 is one).
    The pixel size is the file's, or the scale bar's when the spec asks for it (the row says
    which)."""
    pixel_size_m, bar_note = spec.pixel_size(image, file_pixel_size_m)
    source = bar_note or ("file" if pixel_size_m else "none")
    request = spec.request(labels, names, pixel_size_m)
    measurement = run_measure(request)
    grains = run_grain_size(request)
    rows = []
    for c in measurement.classes:
        s = c.particles.summary()
        row = [str(path), c.name, pixel_size_m * 1e9 if pixel_size_m else None, source,
               c.area_fraction, s["count"], s.get("measured", 0),
               c.particles.removed_small, measurement.length_unit, *(s.get(k) for k in (
                   "mean_area", "median_area", "mean_equivalent_diameter",
                   "median_equivalent_diameter", "mean_feret_max", "mean_feret_min",
                   "mean_aspect_ratio"))]
        if spec.grain_boundary:
            row += [grains.planimetric.G, grains.intercept.total.G, grains.intercept.total.mean_intercept]
        rows.append(["" if v is None else v for v in row] + [""])
    return rows, particle_rows(measurement, first=0)
