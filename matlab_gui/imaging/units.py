"""Pixel sizes typed by a user ("5nm", "0.5 um", "2.3µm", "1e-9") as metres, and back to µm.

Measurements are reported in µm and µm², the unit materials scientists read in papers; a bare
number is taken as metres, the unit the rest of the app stores.
"""

from __future__ import annotations

import re

import numpy as np

from matlab_gui.errors import UserError
from matlab_gui.imaging.calibration import unit_to_metres

_PIXEL_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([^\s0-9.].*?)?\s*(?:/\s*px)?\s*$")


def parse_pixel_size(text: str | float) -> float:
    """Metres per pixel from a number (metres) or a number with a unit; UserError otherwise."""
    if isinstance(text, int | float):
        value, unit = float(text), None
    else:
        match = _PIXEL_SIZE.match(str(text))
        if not match:
            raise UserError(f"pixel size {text!r} is not a number with a unit such as '5nm' or '0.5 um'")
        value, unit = float(match.group(1)), match.group(2)
    scale = 1.0 if not unit else unit_to_metres(unit)
    if scale is None:
        raise UserError(f"pixel size {text!r}: unknown unit {unit!r} (use nm, µm/um, mm or m)")
    metres = value * scale
    if not 0 < metres < 1:
        raise UserError(f"pixel size {text!r} is {metres:g} m: not a plausible pixel size")
    return metres


def format_pixel_size(metres: float) -> str:
    """A short readable pixel size ("5 nm", "0.25 µm")."""
    return f"{metres * 1e9:.4g} nm" if metres < 1e-7 else f"{metres * 1e6:.4g} µm"


_AREA = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([^\s0-9.^²]*)\s*(?:\^?2|²)?\s*$")


def parse_area_px(text: str, pixel_size_m: float | None) -> int:
    """A particle area typed as pixels ("20", "20 px") or in a unit squared ("0.5 µm2",
    "0.5um^2", "400 nm²") as whole pixels of this image; a physical area needs its pixel size."""
    match = _AREA.match(str(text))
    if not match:
        raise UserError(f"area {text!r} is not a number of pixels or a number with a unit such as '0.5 µm2'")
    value, unit = float(match.group(1)), match.group(2).lower()
    if unit in ("", "px", "pixel", "pixels"):
        return _whole(value)
    scale = unit_to_metres(unit)
    if scale is None:
        raise UserError(f"area {text!r}: unknown unit {unit!r} (use px, nm², µm² or mm²)")
    if not pixel_size_m:
        raise UserError(f"area {text!r} is physical, but the image has no pixel size: give it "
                        "in px or set the pixel size")
    return _whole(value * scale**2 / pixel_size_m**2)


def _whole(pixels: float) -> int:
    """Pixels needed to reach an area (no float noise: 50.0000001 px is 50)."""
    return int(np.ceil(round(pixels, 6)))
