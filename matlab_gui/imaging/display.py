"""Display views of micrograph data: windowing, gamma, equalisation, CLAHE.

Every function returns a new uint8 array for the screen and never touches its input, so the
measured values stay what the instrument recorded. 8/16-bit data goes through a lookup table,
which keeps an 8k x 8k 16-bit image interactive.
"""

from __future__ import annotations

import numpy as np

_SAMPLE_PIXELS = 1 << 20


def _sample(data: np.ndarray) -> np.ndarray:
    """A strided subsample of about a million pixels: percentiles of huge images stay fast."""
    step = max(1, int(np.sqrt(data.shape[0] * data.shape[1] / _SAMPLE_PIXELS)))
    return data[::step, ::step]


def auto_levels(data: np.ndarray, low_pct: float = 0.5, high_pct: float = 99.5) -> tuple[float, float]:
    """Display limits at the given percentiles (all channels together); never an empty range."""
    sample = _sample(data)
    finite = sample[np.isfinite(sample)] if sample.dtype.kind == "f" else sample
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(finite, [low_pct, high_pct]))
    if hi <= lo:
        lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi


def _lut(lo: float, hi: float, gamma: float, size: int, offset: int = 0) -> np.ndarray:
    values = np.arange(size, dtype=np.float64) + offset
    scaled = np.clip((values - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    if gamma != 1.0:
        scaled = scaled ** (1.0 / gamma)
    return np.round(scaled * 255.0).astype(np.uint8)


def window(data: np.ndarray, lo: float, hi: float, gamma: float = 1.0) -> np.ndarray:
    """Map [lo, hi] to 0..255 with a gamma curve (gamma > 1 brightens mid-tones)."""
    if data.dtype in (np.uint8, np.uint16):
        return _lut(lo, hi, gamma, 256 if data.dtype == np.uint8 else 65536)[data]
    if data.dtype in (np.int8, np.int16):
        info = np.iinfo(data.dtype)
        lut = _lut(lo, hi, gamma, int(info.max) - int(info.min) + 1, int(info.min))
        return lut[data.astype(np.int32) - int(info.min)]
    scaled = np.clip((data.astype(np.float32) - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    if gamma != 1.0:
        scaled **= 1.0 / gamma
    return np.nan_to_num(scaled * 255.0 + 0.5).astype(np.uint8)


def equalise_histogram(image: np.ndarray) -> np.ndarray:
    """Per-channel histogram equalisation keeping an integer image's dtype (floats: 0..1). The
    training preprocessing of paper 001 and the Equalised display view are this one function."""
    out = np.empty_like(image)
    channels = image[..., None] if image.ndim == 2 else image
    target = out[..., None] if image.ndim == 2 else out
    top = np.iinfo(image.dtype).max if np.issubdtype(image.dtype, np.integer) else 1.0
    for c in range(channels.shape[-1]):
        values, inverse, counts = np.unique(channels[..., c], return_inverse=True, return_counts=True)
        cdf = np.cumsum(counts) / counts.sum()
        target[..., c] = (cdf[inverse] * top).reshape(channels.shape[:-1]).astype(image.dtype)
    return out


def equalised_view(data: np.ndarray) -> np.ndarray:
    """The image after global histogram equalisation, as uint8 for display."""
    eq = equalise_histogram(data)
    return window(eq, 0.0, float(np.iinfo(eq.dtype).max) if np.issubdtype(eq.dtype, np.integer)
                  else 1.0)


CONTRAST_VIEWS = ("linear", "equalised", "clahe")


def contrast_view(data: np.ndarray, mode: str) -> np.ndarray:
    """The uint8 display view of a contrast mode other than "linear" (levels and gamma)."""
    if mode == "equalised":
        return equalised_view(data)
    if mode == "clahe":
        return clahe(data)
    raise ValueError(f"unknown contrast view {mode!r} (use {', '.join(CONTRAST_VIEWS[1:])})")


def clahe(data: np.ndarray, clip_limit: float = 0.01, tile: int = 8) -> np.ndarray:
    """Contrast-limited adaptive equalisation on a `tile` x `tile` grid of regions."""
    lo, hi = (float(data.min()), float(data.max())) if data.size else (0.0, 1.0)
    unit = window(data, lo, hi).astype(np.float32) / 255.0
    kernel = (max(1, data.shape[0] // tile), max(1, data.shape[1] // tile))
    from skimage import exposure  # a third of a second to import: only when asked for

    out = exposure.equalize_adapthist(unit, kernel_size=kernel, clip_limit=clip_limit)
    return np.round(out * 255).astype(np.uint8)
