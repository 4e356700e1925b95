"""Phase quantification from a class-index mask: area fractions and particle statistics.

Particles are the 8-connected regions of one class, optionally cleaned and with touching ones
split (`imaging.particles`). Sizes are in µm / µm² when the pixel size is known, in pixels
otherwise, so a number is never reported in a unit it was not measured in; every summary says
how many particles it used and why any were left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from matlab_gui.errors import UserError
from matlab_gui.imaging.particle_options import ParticleOptions

if TYPE_CHECKING:
    from matlab_gui.imaging.particles import ParticleTable

MAX_UNNAMED_CLASSES = 64  # more distinct values than this, unnamed, is a picture, not a labelling


def _particles(n: int) -> str:
    return f"{n} particle" if n == 1 else f"{n} particles"


@dataclass
class Particles:
    """One class's particles in the report's units (µm when calibrated, else px), with what
    cleanup removed and which ones the size statistics leave out."""

    table: ParticleTable  # in px
    scale: float  # report length unit per px
    first_id: int  # id of the first particle in the measurement's label image
    removed_small: int = 0
    exclude_edge: bool = True

    @property
    def area(self) -> np.ndarray:
        return self.table.area * self.scale**2

    @property
    def equivalent_diameter(self) -> np.ndarray:
        return self.table.equivalent_diameter * self.scale

    @property
    def aspect_ratio(self) -> np.ndarray:
        return self.table.aspect_ratio

    @property
    def measured(self) -> np.ndarray:
        """Which particles the size statistics use."""
        return ~self.table.touches_edge if self.exclude_edge else np.ones(len(self.table), bool)

    def notes(self) -> list[str]:
        out = []
        if self.removed_small:
            out.append(f"{_particles(self.removed_small)} below the minimum area removed")
        edge = int((~self.measured).sum())
        if edge:
            out.append(f"{_particles(edge)} cut by the image edge left out of the size statistics")
        return out

    def summary(self, bins: int = 10) -> dict:
        n = len(self.table)
        head = {"count": n}
        if self.removed_small:
            head["removed_below_min_area"] = self.removed_small
        if not n:
            return head
        used = self.measured
        area, diameter = self.area[used], self.equivalent_diameter[used]
        feret_max, feret_min = self.table.feret_max[used] * self.scale, self.table.feret_min[used] * self.scale
        counts, edges = np.histogram(diameter, bins=bins) if used.any() else (np.zeros(0), np.zeros(0))

        def mean(values):
            return float(values.mean()) if values.size else None

        def median(values):
            return float(np.median(values)) if values.size else None

        return {
            **head,
            "measured": int(used.sum()),
            "left_out_touching_edge": int((~used).sum()),
            "mean_area": mean(area),
            "median_area": median(area),
            "mean_equivalent_diameter": mean(diameter),
            "median_equivalent_diameter": median(diameter),
            "mean_feret_max": mean(feret_max),
            "mean_feret_min": mean(feret_min),
            "mean_aspect_ratio": mean(self.aspect_ratio[used]),
            "size_distribution": {"edges": edges.tolist(), "counts": counts.astype(int).tolist()},
            "notes": self.notes(),
        }


@dataclass
class ClassMeasurement:
    value: int
    name: str
    pixels: int
    area_fraction: float
    area: float
    particles: Particles

    def to_dict(self, bins: int = 10) -> dict:
        return {"value": self.value, "name": self.name, "pixels": self.pixels,
                "area_fraction": self.area_fraction, "area": self.area,
                "particles": self.particles.summary(bins)}


@dataclass(frozen=True)
class MeasureOptions:
    """Cleanup for every class, and the class values whose touching particles are separated."""

    particles: ParticleOptions = ParticleOptions()
    split: frozenset[int] = frozenset()

    def for_class(self, value: int) -> ParticleOptions:
        return replace(self.particles, split=value in self.split)

    def to_dict(self) -> dict:
        return {**self.particles.to_dict(), "split": sorted(self.split)}


@dataclass
class Measurement:
    height: int
    width: int
    pixel_size_m: float | None
    classes: list[ClassMeasurement] = field(default_factory=list)
    options: MeasureOptions = MeasureOptions()
    labels: np.ndarray | None = None  # particle ids over the image (0 = none), unique across classes

    @property
    def length_unit(self) -> str:
        return "µm" if self.pixel_size_m else "px"

    def to_dict(self, bins: int = 10) -> dict:
        return {"height": self.height, "width": self.width, "pixel_size_m": self.pixel_size_m,
                "length_unit": self.length_unit, "area_unit": f"{self.length_unit}²",
                "options": self.options.to_dict(),
                "classes": [c.to_dict(bins) for c in self.classes]}


def pixel_counts(mask: np.ndarray, values: Sequence[int]) -> np.ndarray:
    """Pixels holding each of `values` (bincount: one pass over the mask)."""
    counts = np.bincount(np.asarray(mask).ravel(), minlength=max(values, default=0) + 1)
    return counts[list(values)]


def phase_fractions(mask: np.ndarray, values: Sequence[int]) -> np.ndarray:
    """Fraction of the image's pixels holding each of `values`."""
    return pixel_counts(mask, values) / max(np.asarray(mask).size, 1)


def measure_mask(mask: np.ndarray, class_names: Sequence[str] | None = None,
                 pixel_size_m: float | None = None, options: MeasureOptions = MeasureOptions()
                 ) -> Measurement:
    """Every class of `mask`: value v is `class_names[v]` when names are given (all of them are
    reported, present or not), else each value present in the mask is reported by number.
    Area fractions are of the mask as it is; the options' cleanup applies to particles only."""
    from matlab_gui.imaging.particles import label_particles, particle_table  # scikit-image

    mask = np.asarray(mask)
    if mask.ndim != 2 or not np.issubdtype(mask.dtype, np.integer):
        raise UserError(f"a class-index mask is a 2-D integer array, not {mask.dtype} {mask.shape}")
    values = list(range(len(class_names))) if class_names else np.unique(mask).tolist()
    if not class_names and len(values) > MAX_UNNAMED_CLASSES:
        raise UserError(f"holds {len(values)} different values: a class-index mask holds a few "
                        f"(at most {MAX_UNNAMED_CLASSES} without class names); is this a "
                        "micrograph rather than its mask?")
    counts = pixel_counts(mask, values)
    scale = pixel_size_m * 1e6 if pixel_size_m else 1.0  # report unit (µm or px) per pixel
    result = Measurement(int(mask.shape[0]), int(mask.shape[1]), pixel_size_m, options=options,
                         labels=np.zeros(mask.shape, np.int32))
    for value, pixels in zip(values, counts.tolist(), strict=True):
        name = class_names[value] if class_names else str(value)
        found = label_particles(mask == value, options.for_class(value))
        first = int(result.labels.max()) + 1
        inside = found.labels > 0
        result.labels[inside] = found.labels[inside] + (first - 1)
        particles = Particles(particle_table(found.labels), scale, first, found.removed_small,
                              options.particles.exclude_edge)
        result.classes.append(ClassMeasurement(int(value), name, pixels, pixels / mask.size,
                                               pixels * scale**2, particles))
    return result
