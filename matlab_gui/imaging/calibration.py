"""Physical pixel size (metres) from what a TIFF or PNG file carries.

Precedence: the SEM vendors' own tags (FEI/Thermo Fisher, Zeiss SmartSEM, TESCAN), then ImageJ
metadata, then the TIFF resolution tags. Resolution tags of 72/96/150/300/600 dots per inch are
what image software writes by default, not a calibration, so they are ignored with a note.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

import tifffile

_UNIT_METRES = {
    "m": 1.0, "mm": 1e-3, "cm": 1e-2, "um": 1e-6, "µm": 1e-6, "μm": 1e-6, "micron": 1e-6,
    "microns": 1e-6, "micrometer": 1e-6, "micrometre": 1e-6, "\\u00b5m": 1e-6, "nm": 1e-9,
    "nanometer": 1e-9, "nanometre": 1e-9, "pm": 1e-12, "a": 1e-10, "å": 1e-10, "angstrom": 1e-10,
    "inch": 0.0254,
}
_DEFAULT_DPI = {72.0, 96.0, 150.0, 300.0, 600.0}
_RESUNIT_METRES = {2: 0.0254, 3: 0.01, 4: 0.001, 5: 1e-6}  # inch, cm, mm, µm
_TESCAN_TAG = 50431
_TESCAN_PIXEL = re.compile(r"PixelSizeX\s*=\s*([0-9.eE+-]+)")


@dataclass(frozen=True)
class Calibration:
    pixel_size_m: float | None
    source: str | None
    note: str | None = None


NONE = Calibration(None, None)


def unit_to_metres(unit: str) -> float | None:
    """Metres in one `unit` ('nm', 'µm', 'micron', ...), or None for an unknown unit."""
    return _UNIT_METRES.get(unit.strip().lower())


def _valid(value: float | None) -> bool:
    return value is not None and 0 < value < 1  # a pixel is never a metre wide


def _fei(tif: tifffile.TiffFile) -> float | None:
    meta = tif.fei_metadata or {}
    for section in ("Scan", "EScan"):
        value = meta.get(section, {}).get("PixelWidth")
        if isinstance(value, int | float):
            return float(value)
    return None


def _zeiss(tif: tifffile.TiffFile) -> float | None:
    entry = (tif.sem_metadata or {}).get("ap_pixel_size")
    if not entry or len(entry) < 2 or not isinstance(entry[1], int | float):
        return None
    scale = unit_to_metres(entry[2]) if len(entry) > 2 else 1e-9
    return float(entry[1]) * scale if scale else None


def _tescan(tif: tifffile.TiffFile) -> float | None:
    tag = tif.pages.first.tags.get(_TESCAN_TAG)
    if tag is None:
        return None
    value = tag.value
    text = value.decode("latin-1", "replace") if isinstance(value, bytes | bytearray) else str(value)
    match = _TESCAN_PIXEL.search(text)
    return float(match.group(1)) if match else None


def _imagej(tif: tifffile.TiffFile) -> float | None:
    """ImageJ's unit applies to resolution tags without one; tags in centimetres or inches
    are read as such (ImageJ converts cm tags itself when its unit is um)."""
    meta = tif.imagej_metadata
    if not meta or "unit" not in meta:
        return None
    page = tif.pages.first
    if 296 in page.tags and int(page.tags.valueof(296)) in _RESUNIT_METRES:
        return _resolution_tags(page).pixel_size_m
    scale = unit_to_metres(str(meta["unit"]))
    x_per_unit = page.get_resolution()[0]
    if not scale or not x_per_unit:
        return None
    return scale / x_per_unit


def _resolution_tags(page: tifffile.TiffPage) -> Calibration:
    tags = page.tags
    if 282 not in tags or 296 not in tags:
        return NONE
    unit = int(tags.valueof(296))
    metres = _RESUNIT_METRES.get(unit)
    if metres is None:
        return NONE  # unit "none": only an aspect ratio
    per_unit = page.get_resolution()[0]
    if not per_unit:
        return NONE
    if unit == 2 and round(per_unit, 3) in _DEFAULT_DPI:
        return Calibration(None, None, f"resolution tag of {per_unit:g} dpi looks like a software default; ignored")
    return Calibration(metres / per_unit, "tiff-resolution")


def tiff_calibration(tif: tifffile.TiffFile) -> Calibration:
    """The pixel size a TIFF file carries, from the most specific source that has one."""
    for source, reader in (("fei", _fei), ("zeiss", _zeiss), ("tescan", _tescan), ("imagej", _imagej)):
        try:
            value = reader(tif)
        except (KeyError, TypeError, ValueError, AttributeError):
            value = None
        if _valid(value):
            return Calibration(value, source)
    found = _resolution_tags(tif.pages.first)
    return found if found.pixel_size_m is None or _valid(found.pixel_size_m) else NONE


def png_calibration(raw: bytes) -> Calibration:
    """Pixel size from a PNG's pHYs chunk when its unit is the metre."""
    at = raw.find(b"pHYs", 8)
    if at < 0 or len(raw) < at + 13:
        return NONE
    x_per_m, _y, unit = struct.unpack(">IIB", raw[at + 4 : at + 13])
    if unit != 1 or not x_per_m:
        return NONE
    dpi = round(x_per_m * 0.0254)
    if dpi in _DEFAULT_DPI:
        return Calibration(None, None, f"pHYs of {dpi} dpi looks like a software default; ignored")
    return Calibration(1.0 / x_per_m, "png-phys")
