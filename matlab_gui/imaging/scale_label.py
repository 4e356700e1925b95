"""The text of a scale bar's label ("10 µm", "500nm", "1 mm") as a length, read by OCR when the
Tesseract program is installed.

OCR is optional: without `tesseract` on the PATH the label is simply not read and the user types
the length. The binary is run directly (pytesseract would only wrap the same call and needs the
same binary), on a crop that is upscaled and binarised to dark text on white, one line (psm 7),
with only digits and the letters of length units allowed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from matlab_gui.imaging.calibration import unit_to_metres

OCR_TIMEOUT_S = 15
TEXT_HEIGHT_PX = 48  # Tesseract reads best with capitals of ~30-50 px
_WHITELIST = "0123456789.,µμunm"
# a number, then a unit; OCR's "u" for µ and a decimal comma are both common
_LABEL = re.compile(r"(\d+(?:[.,]\d+)?)\s*(nm|[uµμ]m|mm|m)(?![a-z])", re.IGNORECASE)
_UNIT_NAMES = {"nm": "nm", "um": "µm", "µm": "µm", "μm": "µm", "mm": "mm", "m": "m"}


@dataclass(frozen=True)
class ScaleLabel:
    """A scale bar's length as its label states it."""

    value: float
    unit: str  # "nm", "µm", "mm" or "m"
    metres: float

    def __str__(self) -> str:
        return f"{self.value:g} {self.unit}"


def parse_scale_label(text: str | None) -> ScaleLabel | None:
    """The first "number unit" in `text` ("10 µm", "500nm", "2 um", "0,5 mm"), else None."""
    match = _LABEL.search(text or "")
    if not match:
        return None
    value = float(match.group(1).replace(",", "."))
    unit = _UNIT_NAMES[match.group(2).lower()]
    if value <= 0:
        return None
    return ScaleLabel(value, unit, value * unit_to_metres(unit))


def ocr_available() -> bool:
    """Whether the Tesseract program is installed (then labels are read)."""
    return shutil.which("tesseract") is not None


def prepare_for_ocr(grey: np.ndarray, text_height: float, bright_text: bool) -> np.ndarray:
    """A uint8 crop as Tesseract likes it: dark text on white, capitals ~48 px, binarised, with
    a white margin. `grey` is the crop in [0, 1]."""
    crop = (1.0 - grey) if bright_text else grey
    scale = float(np.clip(TEXT_HEIGHT_PX / max(text_height, 1.0), 1.0, 8.0))
    big = cv2.resize((crop * 255).astype(np.uint8), None, fx=scale, fy=scale,
                     interpolation=cv2.INTER_CUBIC)
    _, binary = cv2.threshold(big, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return cv2.copyMakeBorder(binary, 24, 24, 24, 24, cv2.BORDER_CONSTANT, value=255)


def read_text(prepared: np.ndarray) -> str | None:
    """The one line of text Tesseract reads in a prepared crop; None without Tesseract or when
    it fails (a label that cannot be read is typed by the user, never an error)."""
    exe = shutil.which("tesseract")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory(prefix="matlab_gui-ocr-") as folder:
        path = Path(folder) / "label.png"
        cv2.imwrite(str(path), prepared)
        try:
            run = subprocess.run(
                [exe, str(path), "stdout", "--psm", "7", "-c",
                 f"tessedit_char_whitelist={_WHITELIST}"],
                capture_output=True, timeout=OCR_TIMEOUT_S,
                env={**os.environ, "OMP_THREAD_LIMIT": "1"},
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
    if run.returncode != 0:
        return None
    text = run.stdout.decode("utf-8", "replace").strip()
    return text or None
