"""Phase quantification from a class-index mask: area fractions and particle statistics.

Particles are the 8-connected regions of one class (scikit-image `regionprops`). Sizes are in
µm / µm² when the pixel size is known, in pixels otherwise, so a number is never reported in a
unit it was not measured in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from skimage import measure as skm

from matlab_gui.errors import UserError

MAX_UNNAMED_CLASSES = 64  # more distinct values than this, unnamed, is a picture, not a labelling


@dataclass
class Particles:
    """Per-particle values of one class, already in the report's units."""

    area: np.ndarray
    equivalent_diameter: np.ndarray
    aspect_ratio: np.ndarray  # major / minor axis; NaN for one-pixel-thin particles

    def summary(self, bins: int = 10) -> dict:
        n = int(self.area.size)
        if not n:
            return {"count": 0}
        counts, edges = np.histogram(self.equivalent_diameter, bins=bins)
        aspect = self.aspect_ratio[np.isfinite(self.aspect_ratio)]
        return {
            "count": n,
            "mean_area": float(self.area.mean()),
            "median_area": float(np.median(self.area)),
            "mean_equivalent_diameter": float(self.equivalent_diameter.mean()),
            "median_equivalent_diameter": float(np.median(self.equivalent_diameter)),
            "mean_aspect_ratio": float(aspect.mean()) if aspect.size else None,
            "size_distribution": {"edges": edges.tolist(), "counts": counts.tolist()},
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


@dataclass
class Measurement:
    height: int
    width: int
    pixel_size_m: float | None
    classes: list[ClassMeasurement] = field(default_factory=list)

    @property
    def length_unit(self) -> str:
        return "µm" if self.pixel_size_m else "px"

    def to_dict(self, bins: int = 10) -> dict:
        return {"height": self.height, "width": self.width, "pixel_size_m": self.pixel_size_m,
                "length_unit": self.length_unit, "area_unit": f"{self.length_unit}²",
                "classes": [c.to_dict(bins) for c in self.classes]}


def pixel_counts(mask: np.ndarray, values: Sequence[int]) -> np.ndarray:
    """Pixels holding each of `values` (bincount: one pass over the mask)."""
    counts = np.bincount(np.asarray(mask).ravel(), minlength=max(values, default=0) + 1)
    return counts[list(values)]


def phase_fractions(mask: np.ndarray, values: Sequence[int]) -> np.ndarray:
    """Fraction of the image's pixels holding each of `values`."""
    return pixel_counts(mask, values) / max(np.asarray(mask).size, 1)


def particles(binary: np.ndarray, pixel_size_m: float | None = None) -> Particles:
    """Connected regions of a boolean image with their area, diameter and elongation."""
    return region_sizes(skm.label(binary, connectivity=2), pixel_size_m)


def region_sizes(labels: np.ndarray, pixel_size_m: float | None = None) -> Particles:
    """Area, diameter and elongation of every region of a label image (0 = none), so touching
    regions such as grains are measured one by one."""
    props = skm.regionprops_table(labels, properties=("area", "axis_major_length", "axis_minor_length"))
    scale = pixel_size_m * 1e6 if pixel_size_m else 1.0  # µm per pixel
    area = props["area"].astype(np.float64)
    major, minor = props["axis_major_length"], props["axis_minor_length"]
    aspect = np.full(area.shape, np.nan)
    np.divide(major, minor, out=aspect, where=minor > 0)
    return Particles(area * scale**2, np.sqrt(4.0 * area / np.pi) * scale, aspect)


def measure_mask(mask: np.ndarray, class_names: Sequence[str] | None = None,
                 pixel_size_m: float | None = None) -> Measurement:
    """Every class of `mask`: value v is `class_names[v]` when names are given (all of them are
    reported, present or not), else each value present in the mask is reported by number."""
    mask = np.asarray(mask)
    if mask.ndim != 2 or not np.issubdtype(mask.dtype, np.integer):
        raise UserError(f"a class-index mask is a 2-D integer array, not {mask.dtype} {mask.shape}")
    values = list(range(len(class_names))) if class_names else np.unique(mask).tolist()
    if not class_names and len(values) > MAX_UNNAMED_CLASSES:
        raise UserError(f"holds {len(values)} different values: a class-index mask holds a few "
                        f"(at most {MAX_UNNAMED_CLASSES} without class names); is this a "
                        "micrograph rather than its mask?")
    counts = pixel_counts(mask, values)
    pixel_area = (pixel_size_m * 1e6) ** 2 if pixel_size_m else 1.0
    result = Measurement(int(mask.shape[0]), int(mask.shape[1]), pixel_size_m)
    for value, pixels in zip(values, counts.tolist(), strict=True):
        name = class_names[value] if class_names else str(value)
        result.classes.append(ClassMeasurement(int(value), name, pixels, pixels / mask.size,
                                               pixels * pixel_area, particles(mask == value, pixel_size_m)))
    return result
