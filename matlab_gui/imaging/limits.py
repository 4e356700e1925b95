"""The largest image the app decodes: a pixel budget checked from a file's header.

A header can claim any size (a decompression bomb claims billions of pixels in a few bytes), so
the readers compare the claim with this budget before decoding anything. The default takes a
30k x 30k 16-bit montage; a user with larger montages and the memory for them raises it, in the
window (Image > Largest image to open…) or for the commands with `MATLAB_GUI_MAX_PIXELS`.
"""

from __future__ import annotations

import os

from matlab_gui.errors import UserError

DEFAULT_MAX_PIXELS = 1 << 30  # 1.07 gigapixels: 32k x 32k
ENV_VAR = "MATLAB_GUI_MAX_PIXELS"
_chosen: int | None = None


def parse_pixels(text: str) -> int:
    """A pixel count as people write it: 2000000000, 2e9 or 2G (gigapixels), 500M."""
    raw = str(text).strip().upper().removesuffix("PX").removesuffix("PIXELS").strip()
    scale = {"K": 1e3, "M": 1e6, "G": 1e9}.get(raw[-1:], 1)
    try:
        value = float(raw[:-1] if scale != 1 else raw) * scale
    except ValueError:
        raise UserError(f"'{text}' is not a pixel count (e.g. 2e9 or 2G)") from None
    if not 1e6 <= value <= 1e13:
        raise UserError(f"a pixel budget of {text} is outside 1M..10000G")
    return int(value)


def max_pixels() -> int:
    """The budget now: what the window set, else the environment's, else the default."""
    if _chosen is not None:
        return _chosen
    raw = os.environ.get(ENV_VAR, "").strip()
    if raw:
        try:
            return parse_pixels(raw)
        except UserError as exc:
            raise UserError(f"{ENV_VAR}: {exc}") from None
    return DEFAULT_MAX_PIXELS


def set_max_pixels(pixels: int | None) -> None:
    """The window's choice (None: back to the environment's or the default)."""
    global _chosen
    _chosen = None if pixels is None else int(pixels)
