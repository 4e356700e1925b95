"""Measuring a mask as a job: phase fractions and particle statistics per class, and the
table the window shows and exports. The CLI's `measure` and the Measurements dock run this."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

from matlab_gui.imaging.measure import measure_mask


@dataclass
class MeasureRequest:
    mask: np.ndarray
    names: list[str] | None  # by mask value; 0 = unlabelled
    pixel_size_m: float | None


def run_measure(request: MeasureRequest, progress=None, cancel=None):
    """Label the particles of every class (seconds on a large mask: run it off the GUI thread)."""
    return measure_mask(request.mask, request.names, request.pixel_size_m)


def table_of(measurement) -> tuple[list[str], list[list]]:
    """Header and one row per class (unlabelled left out), in the measurement's units."""
    length, area = measurement.length_unit, f"{measurement.length_unit}²"
    header = ["class", "area fraction", f"area ({area})", "particles",
              f"mean diameter ({length})", f"median diameter ({length})", "mean aspect ratio"]
    rows = []
    for c in measurement.classes[1:]:
        s = c.particles.summary()
        rows.append([c.name, c.area_fraction, c.area, s["count"],
                     s.get("mean_equivalent_diameter"), s.get("median_equivalent_diameter"),
                     s.get("mean_aspect_ratio")])
    return header, rows


def table_csv(header: list[str], rows: list[list]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in r] for r in rows])
    return buffer.getvalue()
